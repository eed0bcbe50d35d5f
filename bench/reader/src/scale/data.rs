//! The jobs `bench-scale` measures: N runs of a CronJob, or one pod
//! logging the same lines all along, written as Fluent Bit's s3 output
//! uploads them, each object dated to its upload.

use super::{CONTINUOUS_JOB, CRON_JOB, TOOL};
use crate::words;
use afterlog_contract::layout::Origin;
use afterlog_sim::Rng;
use anyhow::{Context, Result};
use flate2::Compression;
use flate2::write::GzEncoder;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

pub const LINES_PER_RUN: u64 = 20;
/// The continuous job uploads every 5 minutes: 5 runs' worth of lines.
const LINES_PER_UPLOAD: u64 = 100;
const MINUTE_NS: u64 = 60_000_000_000;
/// Fluent Bit's s3 output uploads a file `upload_timeout` (5 min in the
/// drop-in) after it was started: an object's modification time.
const UPLOAD_AFTER_NS: u64 = 5 * MINUTE_NS;
/// What pod names and upload ids are made of.
const TOKEN: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// What was written for one job.
#[derive(Default)]
pub struct Generated {
    pub records: u64,
    pub bytes: u64,
    pub gz_bytes: u64,
    pub objects: u64,
    pub runs: u64,
    /// Every record's time, ascending.
    pub times: Vec<u64>,
    pub secs: f64,
}

/// One container's log, uploaded in objects.
struct Writer<'a> {
    root: &'a Path,
    now_ns: u64,
    origin: Origin,
    labels: String,
    off: u64,
    g: &'a mut Generated,
}

impl Writer<'_> {
    #[allow(clippy::too_many_arguments)]
    fn new<'a>(
        root: &'a Path,
        now_ns: u64,
        job: &str,
        kind: &str,
        pod: &str,
        container: &str,
        r: &mut Rng,
        g: &'a mut Generated,
    ) -> Writer<'a> {
        let origin = Origin {
            tool: TOOL.into(),
            job: job.into(),
            pod: pod.into(),
            container: container.into(),
        };
        let cid = format!(
            "{:016x}{:016x}{:016x}{:016x}",
            r.next_u64(),
            r.next_u64(),
            r.next_u64(),
            r.next_u64()
        );
        let labels = format!(
            r#","afterlog":{{"tool":"{TOOL}","job":"{job}","kind":"{kind}","namespace":"tool-{TOOL}","pod":"{pod}","container":"{container}","container_id":"{cid}","node":"node-3","route":"{}"}}}}"#,
            origin.route()
        );
        Writer {
            root,
            now_ns,
            origin,
            labels,
            off: 0,
            g,
        }
    }

    /// One upload of `lines` records from `first_ns`, `step_ns` apart.
    fn upload(&mut self, r: &mut Rng, first_ns: u64, lines: u64, step_ns: u64) -> Result<()> {
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        let mut ts = first_ns;
        for _ in 0..lines {
            let log = words::line(r, 6..=29);
            let stream = if r.chance(10) { "stderr" } else { "stdout" };
            self.off += 36 + log.len() as u64;
            let line = format!(
                r#"{{"ts":{ts},"off":{},"stream":"{stream}","log":"{log}"{}"#,
                self.off, self.labels
            );
            gz.write_all(line.as_bytes())?;
            gz.write_all(b"\n")?;
            self.g.records += 1;
            self.g.bytes += line.len() as u64 + 1;
            self.g.times.push(ts);
            ts += step_ns / 2 + r.below(step_ns);
        }
        let body = gz.finish()?;
        let key = self
            .origin
            .raw_key((first_ns / 1_000_000_000) as i64, &r.word(TOKEN, 8));
        let path = self.root.join(&key);
        std::fs::create_dir_all(path.parent().context("key without a parent")?)?;
        std::fs::write(&path, &body).with_context(|| format!("writing {}", path.display()))?;
        // Uploaded `upload_timeout` after the file was started, or just now.
        let uploaded = (first_ns + UPLOAD_AFTER_NS).min(self.now_ns);
        std::fs::File::options()
            .write(true)
            .open(&path)?
            .set_modified(UNIX_EPOCH + Duration::from_nanos(uploaded))
            .with_context(|| format!("setting the time of {}", path.display()))?;
        self.g.gz_bytes += body.len() as u64;
        self.g.objects += 1;
        Ok(())
    }
}

/// N runs of a CronJob, one minute apart, the last one ending about now:
/// pod `sched-<scheduled minute>-<5 chars>`, container `job`, one upload of
/// 20 lines over ~30 s each.
pub fn write_cron(root: &Path, n: u64, now_ns: u64) -> Result<Generated> {
    let mut g = Generated {
        runs: n,
        ..Generated::default()
    };
    let mut r = Rng::new(n ^ 0xc0);
    let now_min = now_ns / MINUTE_NS;
    for i in 0..n {
        let minute = now_min - (n - i);
        let pod = format!("{CRON_JOB}-{minute}-{}", r.word(TOKEN, 5));
        let start = minute * MINUTE_NS + 1_000_000_000 + r.below(2_000_000_000);
        let mut w = Writer::new(
            root, now_ns, CRON_JOB, "cronjob", &pod, "job", &mut r, &mut g,
        );
        w.upload(&mut r, start, LINES_PER_RUN, 1_500_000_000)?;
    }
    g.times.sort_unstable();
    Ok(g)
}

/// One pod logging the same lines over the same N minutes, uploading every
/// 5 minutes (100 lines, 3 s apart).
pub fn write_continuous(root: &Path, n: u64, now_ns: u64) -> Result<Generated> {
    let mut g = Generated {
        runs: 1,
        ..Generated::default()
    };
    let mut r = Rng::new(n ^ 0xc1);
    let pod = format!("{CONTINUOUS_JOB}-7d4b9c8f6-{}", r.word(TOKEN, 5));
    let total = n * LINES_PER_RUN;
    let start_min = now_ns / MINUTE_NS - n;
    let mut w = Writer::new(
        root,
        now_ns,
        CONTINUOUS_JOB,
        "continuous",
        &pod,
        "main",
        &mut r,
        &mut g,
    );
    let mut done = 0;
    let mut upload = 0;
    while done < total {
        let lines = LINES_PER_UPLOAD.min(total - done);
        let first = (start_min + 5 * upload) * MINUTE_NS + 1_000_000_000 + r.below(1_000_000_000);
        w.upload(&mut r, first, lines, 2_900_000_000)?;
        done += lines;
        upload += 1;
    }
    g.times.sort_unstable();
    Ok(g)
}
