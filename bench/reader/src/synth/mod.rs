//! The benchmark's data: jobs stored exactly as Fluent Bit's s3 output
//! writes them (`raw/<tool>/<job>/<pod>/<container>/<stamp>-<uuid>.gz`, gzip
//! JSON lines shaped like the filter's output), generated deterministically
//! and written object by object.

use afterlog_contract::layout::Origin;
use afterlog_sim::Rng;
use anyhow::{Context, Result};
use flate2::Compression;
use flate2::write::GzEncoder;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use text::TextGen;

mod text;

/// Uniform in `[0, 1)`: spreads of upload sizes and gaps between lines.
fn unit(rng: &mut Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// Fluent Bit's s3 output: a file is uploaded when it reaches
/// `total_file_size` or `upload_timeout` after it was started
/// (`fluent-bit/afterlog.yaml`: 5 minutes).
const UPLOAD_TIMEOUT_NS: u64 = 300 * 1_000_000_000;
/// Uploads are cut at about this size (uncompressed) for a busy container.
const UPLOAD_BYTES: f64 = 4.0 * 1024.0 * 1024.0;
/// The busiest container fills an upload in about this long.
const BUSY_UPLOAD_SECS: f64 = 240.0;
/// kubelet's default `containerLogMaxSize`: `off` restarts after rotation.
const ROTATE_BYTES: u64 = 10 * 1024 * 1024;
/// 2026-11-25T15:00:00Z.
const START_SECS: u64 = 1_795_618_800;

pub const TOOL: &str = "benchtool";
pub const BIG_JOB: &str = "webapp";
pub const SMALL_JOB: &str = "report";

/// One container of a job and its share of the job's bytes.
struct Container {
    pod: &'static str,
    container: &'static str,
    share: f64,
}

/// What was generated for one job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobStats {
    pub records: u64,
    /// Uncompressed bytes (JSON lines with their line breaks).
    pub bytes: u64,
    pub gz_bytes: u64,
    pub objects: u64,
    /// Records per stream: stdout, stderr.
    pub stderr: u64,
}

impl JobStats {
    fn add(&mut self, o: &JobStats) {
        self.records += o.records;
        self.bytes += o.bytes;
        self.gz_bytes += o.gz_bytes;
        self.objects += o.objects;
        self.stderr += o.stderr;
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "records": self.records, "bytes": self.bytes, "gz_bytes": self.gz_bytes,
            "objects": self.objects, "stderr": self.stderr,
        })
    }

    pub fn from_json(v: &serde_json::Value) -> Option<JobStats> {
        let f = |k: &str| v.get(k).and_then(serde_json::Value::as_u64);
        Some(JobStats {
            records: f("records")?,
            bytes: f("bytes")?,
            gz_bytes: f("gz_bytes")?,
            objects: f("objects")?,
            stderr: f("stderr")?,
        })
    }
}

/// A job to generate.
pub struct JobSpec {
    tool: &'static str,
    job: &'static str,
    kind: &'static str,
    containers: Vec<Container>,
    bytes: u64,
    /// How long the job logs for, ns.
    duration_ns: u64,
    start_ns: u64,
    seed: u64,
}

/// The big job: a web service with two replicas of one container and a third
/// pod with a sidecar, all logging at once for as long as it takes the
/// busiest container to write its share in ~4 MiB uploads.
pub fn big_job(size_mib: u64, seed: u64) -> JobSpec {
    let containers = vec![
        Container {
            pod: "webapp-7d4b9c8f6-x2k9p",
            container: "webservice",
            share: 0.30,
        },
        Container {
            pod: "webapp-7d4b9c8f6-m4r7t",
            container: "webservice",
            share: 0.30,
        },
        Container {
            pod: "webapp-7d4b9c8f6-q8z3n",
            container: "webservice",
            share: 0.25,
        },
        Container {
            pod: "webapp-7d4b9c8f6-q8z3n",
            container: "log-tailer",
            share: 0.15,
        },
    ];
    let bytes = size_mib * 1024 * 1024;
    let busiest = bytes as f64 * 0.30;
    let duration_ns = (busiest / UPLOAD_BYTES * BUSY_UPLOAD_SECS * 1e9) as u64;
    JobSpec {
        tool: TOOL,
        job: BIG_JOB,
        kind: "webservice",
        containers,
        bytes,
        duration_ns: duration_ns.max(60_000_000_000),
        start_ns: START_SECS * 1_000_000_000,
        seed,
    }
}

/// The small job: one cron run of one container writing 1 MiB in 2 minutes,
/// after the big job's logs start.
pub fn small_job(seed: u64) -> JobSpec {
    JobSpec {
        tool: TOOL,
        job: SMALL_JOB,
        kind: "cronjob",
        containers: vec![Container {
            pod: "report-29929920-h5k2q",
            container: "job",
            share: 1.0,
        }],
        bytes: 1024 * 1024,
        duration_ns: 120_000_000_000,
        start_ns: (START_SECS + 3600) * 1_000_000_000,
        seed: seed ^ 0x5a5a_5a5a,
    }
}

/// Writes `spec`'s objects under `dir` (one thread per container).
pub fn write_job(dir: &Path, spec: &JobSpec) -> Result<JobStats> {
    let results: Vec<Result<JobStats>> = std::thread::scope(|s| {
        let handles: Vec<_> = spec
            .containers
            .iter()
            .enumerate()
            .map(|(i, c)| s.spawn(move || write_container(dir, spec, i, c)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("generator thread panicked"))
            .collect()
    });
    let mut total = JobStats::default();
    for r in results {
        total.add(&r?);
    }
    Ok(total)
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn write_container(dir: &Path, spec: &JobSpec, index: usize, c: &Container) -> Result<JobStats> {
    let mut rng = Rng::new(spec.seed.wrapping_mul(1000).wrapping_add(index as u64));
    let origin = Origin {
        tool: spec.tool.into(),
        job: spec.job.into(),
        pod: c.pod.into(),
        container: c.container.into(),
    };
    let container_id = rng.word(b"0123456789abcdef", 64);
    let labels = format!(
        r#","afterlog":{{"tool":"{}","job":"{}","kind":"{}","namespace":"tool-{}","pod":"{}","container":"{}","container_id":"{}","node":"node-3","route":"{}"}}}}"#,
        spec.tool,
        spec.job,
        spec.kind,
        spec.tool,
        c.pod,
        c.container,
        container_id,
        origin.route()
    );
    let budget = (spec.bytes as f64 * c.share) as u64;
    // ns per byte written, so that the container's share spans the duration.
    let ns_per_byte = spec.duration_ns as f64 / budget.max(1) as f64;
    let mut ts = spec.start_ns + rng.below(30_000_000_000);
    let mut off = 0u64;
    let mut stats = JobStats::default();
    let mut text = TextGen::new(&mut rng);
    let mut buf: Vec<u8> = Vec::with_capacity((UPLOAD_BYTES * 1.2) as usize);
    let mut first_ts = 0u64;
    let mut cut = 0usize;
    let mut line = Vec::with_capacity(1024);
    while stats.bytes < budget {
        let stderr = text.rng.chance(10);
        let log = text.line(ts, stderr);
        line.clear();
        write!(
            line,
            r#"{{"ts":{ts},"off":{off},"stream":"{}","log":""#,
            if stderr { "stderr" } else { "stdout" }
        )?;
        json_escape(&log, &mut line);
        line.push(b'"');
        line.extend_from_slice(labels.as_bytes());
        line.push(b'\n');
        if !buf.is_empty() && (buf.len() + line.len() > cut || ts - first_ts >= UPLOAD_TIMEOUT_NS) {
            stats.gz_bytes += upload(dir, &origin, first_ts, &buf, text.rng)?;
            stats.objects += 1;
            buf.clear();
        }
        if buf.is_empty() {
            first_ts = ts;
            cut = (UPLOAD_BYTES * (0.85 + 0.3 * unit(text.rng))) as usize;
        }
        buf.extend_from_slice(&line);
        stats.records += 1;
        stats.bytes += line.len() as u64;
        stats.stderr += u64::from(stderr);
        // The CRI line: timestamp, stream, tag, text.
        off += 36 + log.len() as u64;
        if off >= ROTATE_BYTES {
            off = 0;
        }
        let gap = line.len() as f64 * ns_per_byte * (0.2 + 1.6 * unit(text.rng));
        ts += (gap as u64).max(1);
    }
    if !buf.is_empty() {
        stats.gz_bytes += upload(dir, &origin, first_ts, &buf, text.rng)?;
        stats.objects += 1;
    }
    Ok(stats)
}

/// gzips one upload to its raw key; returns the compressed size.
fn upload(dir: &Path, origin: &Origin, first_ts: u64, body: &[u8], rng: &mut Rng) -> Result<u64> {
    let uuid = rng.word(ALNUM, 8);
    let key = origin.raw_key((first_ts / 1_000_000_000) as i64, &uuid);
    let path = dir.join(&key);
    std::fs::create_dir_all(path.parent().expect("key has a parent"))
        .with_context(|| format!("creating the directory of {}", path.display()))?;
    let file =
        std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let mut gz = GzEncoder::new(
        BufWriter::with_capacity(256 * 1024, file),
        Compression::default(),
    );
    gz.write_all(body)?;
    let mut w = gz.finish()?;
    w.flush()?;
    Ok(w.get_ref().metadata()?.len())
}

fn json_escape(s: &str, out: &mut Vec<u8>) {
    for b in s.bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => out.push(b),
        }
    }
}

/// Where a job's raw objects are.
pub fn job_dir(dir: &Path, job: &str) -> PathBuf {
    dir.join(afterlog_contract::layout::job_prefix(
        afterlog_contract::layout::RAW,
        TOOL,
        job,
    ))
}

/// Every object file under `dir`, sorted.
pub fn object_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("listing {}", d.display()))? {
            let e = e?;
            if e.file_type()?.is_dir() {
                stack.push(e.path());
            } else if e.path().extension().is_some_and(|x| x == "gz") {
                out.push(e.path());
            }
        }
    }
    out.sort();
    Ok(out)
}
