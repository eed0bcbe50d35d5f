//! The data set `afterlog demo` serves: what a small Toolforge-like cluster
//! leaves in the bucket after a few hours.
//!
//! Nothing here imitates the filter. Sample CRI lines become the records
//! Fluent Bit 5.1.1 hands the wasm filter (DESIGN §2), the filter's own core
//! runs on them natively, and its output is grouped and gzipped the way
//! Fluent Bit's `s3` output uploads it (DESIGN §3). So the demo stores exactly
//! what a deployment would, and follows the filter when its output changes.
//! On top of that come the faults of at-least-once delivery (a retried
//! upload, an upload PUT late) and what the compactor makes of one pod (§5).

use afterlog_contract::layout::{Origin, meta_key};
use afterlog_contract::time::civil_from_days;
use afterlog_filter::{Config, Filter, Output};
use afterlog_reader::merge::sort_records;
use afterlog_reader::meta::{ConsumedRaw, META_VERSION, MergedObject, PodInfo, PodMeta};
use afterlog_reader::record::LogRecord;
use anyhow::{Context, Result, bail, ensure};
use flate2::Compression;
use flate2::write::GzEncoder;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

/// What the demo data set contains, for printing URLs to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoSummary {
    pub jobs: Vec<DemoJob>,
    /// Objects written under `raw/`, `data/` and `meta/`.
    pub objects: usize,
    /// Distinct records stored: what the filter emitted for the bucket.
    pub records: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoJob {
    pub tool: String,
    pub job: String,
    pub kind: String,
    /// One line: what to look at.
    pub note: String,
}

const S: u64 = 1_000_000_000;
const MINUTE: u64 = 60 * S;
const HOUR: u64 = 60 * MINUTE;
/// containerd cuts longer lines into `P` parts of this size.
const CRI_PART: usize = 16 * 1024;
/// The drop-in's `upload_timeout`: a buffer is uploaded this long after it was started.
const UPLOAD_TIMEOUT: u64 = 5 * MINUTE;
/// The tool whose small quota the demo spends.
const NOISY: &str = "chatterbox";
const NOISY_BYTES: u64 = 8000;
const NOISY_WINDOW_SECS: u64 = 600;
const OUT: &str = "stdout";
const ERR: &str = "stderr";
/// Kubernetes' generated-name alphabet (pod name suffixes, template hashes).
const GEN: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
/// What Fluent Bit's `$UUID` is made of: eight random alphanumerics.
const ALNUM: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// Writes the data set under `dir` (a local directory used as object store
/// root). Deterministic given `now_ns`: records are placed in the hours
/// before it. Replaces `dir/raw`, `dir/data` and `dir/meta`.
pub fn build(dir: &Path, now_ns: u64) -> Result<DemoSummary> {
    ensure!(
        (12 * HOUR..u64::from(u32::MAX) * S).contains(&now_ns),
        "now ({now_ns} ns) is outside the times Fluent Bit can pass the filter"
    );
    let mut c = Cluster::new();
    let mut jobs = vec![one_off(&mut c, now_ns - 5 * HOUR - 10 * MINUTE)];
    let (cron_job, cron_pods) = cron(&mut c, now_ns);
    jobs.push(cron_job);
    let (web_job, web_late) = web(&mut c, now_ns);
    jobs.push(web_job);
    jobs.push(image_build(&mut c, now_ns - 3 * HOUR - 25 * MINUTE));
    jobs.push(noisy(&mut c, now_ns));
    not_a_tool(&mut c, now_ns);
    jobs.sort_by(|a, b| (&a.tool, &a.job).cmp(&(&b.tool, &b.job)));

    let routes = run_filter(c)?;
    let records = routes.values().map(|r| r.records.len()).sum();
    let mut ids = Rng(0x00af_7e71_06de_0001);
    let mut uploads: Vec<Upload> = routes.values().flat_map(|r| r.uploads(&mut ids)).collect();

    // An upload PUT late: its first PUT failed and the retry came after the
    // next upload had gone through.
    let late: Vec<usize> = positions(&uploads, &web_late);
    ensure!(late.len() >= 3, "{web_late} has too few uploads to reorder");
    uploads[late[1]].put_ns = uploads[late[2]].put_ns + 40 * S;

    // A retried upload: the first PUT succeeded but its answer was lost, so
    // Fluent Bit sent the same records again under a new key.
    let retried = positions(&uploads, &cron_pods[2]);
    let mut again = uploads[retried[0]].clone();
    again.put_ns += 30 * S;
    again.key = again
        .origin
        .raw_key(again.first_secs(), &ids.word(ALNUM, 8));
    uploads.push(again);

    let mut objects = Vec::new();
    let compacted = positions(&uploads, &cron_pods[0]);
    ensure!(compacted.len() >= 2, "{} has too few uploads", cron_pods[0]);
    let consumed: Vec<Upload> = compacted.iter().rev().map(|&i| uploads.remove(i)).collect();
    let route = routes
        .values()
        .find(|r| r.origin.pod == cron_pods[0])
        .context("the compacted pod has no records")?;
    objects.extend(compact(route, &consumed)?);

    for u in &uploads {
        let body = gzip(u.lines.iter().map(Vec::as_slice))?;
        objects.push((u.put_ns, u.key.clone(), body));
    }
    // Written in upload order, with the upload time as modification time,
    // which is what an object store lists as `last_modified`.
    objects.sort();
    ensure!(
        objects.iter().all(|o| o.0 <= now_ns),
        "the demo would have uploads from the future"
    );
    for sub in ["raw", "data", "meta"] {
        match std::fs::remove_dir_all(dir.join(sub)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing {}", dir.join(sub).display()));
            }
            _ => {}
        }
    }
    for (put_ns, key, body) in &objects {
        put(dir, key, body, *put_ns)?;
    }
    Ok(DemoSummary {
        jobs,
        objects: objects.len(),
        records,
    })
}

fn positions(uploads: &[Upload], pod: &str) -> Vec<usize> {
    (0..uploads.len())
        .filter(|&i| uploads[i].origin.pod == pod)
        .collect()
}

// ------------------------------------------------------------- the cluster

/// SplitMix64: a fixed seed makes every build of the demo the same.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn word(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n)
            .map(|_| alphabet[self.below(alphabet.len() as u64) as usize] as char)
            .collect()
    }
}

/// 64 hex digits derived from `seed` (FNV-1a, four rounds): stable ids.
fn hex_id(seed: &str) -> String {
    let mut out = String::with_capacity(64);
    for round in 0u64..4 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ round;
        for b in seed.bytes().chain(round.to_le_bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        let _ = write!(out, "{h:016x}");
    }
    out
}

fn uid(seed: &str) -> String {
    let h = hex_id(seed);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A pod as the `kubernetes` filter describes it.
struct Pod {
    namespace: String,
    name: String,
    node: String,
    labels: Vec<(String, String)>,
}

impl Pod {
    fn new(namespace: &str, name: &str, node: &str, labels: &[(&str, &str)]) -> Pod {
        let mut labels: Vec<_> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        // The API server returns labels sorted by key, and the filter keeps that order.
        labels.sort();
        Pod {
            namespace: namespace.into(),
            name: name.into(),
            node: node.into(),
            labels,
        }
    }
}

/// One container's log file on the node.
struct ContainerLog {
    /// The `kubernetes` map Fluent Bit adds to each of the file's records.
    k8s: String,
    /// Bytes in the file so far: where the next CRI line starts.
    written: u64,
    last_ts: u64,
    /// `(tool, job, kind)` the default rules must give, `None`: not a tool.
    expect: Option<[String; 3]>,
}

/// A record as the wasm filter receives it.
struct Input {
    ts: u64,
    container: usize,
    record: Vec<u8>,
}

struct Cluster {
    rng: Rng,
    containers: Vec<ContainerLog>,
    inputs: Vec<Input>,
}

impl Cluster {
    fn new() -> Cluster {
        Cluster {
            rng: Rng(0x00af_7e71_06de_0000),
            containers: Vec::new(),
            inputs: Vec::new(),
        }
    }

    /// Starts a container (`restart` > 0: the same container restarted,
    /// which gets a new id and log file).
    fn container(
        &mut self,
        pod: &Pod,
        name: &str,
        image: &str,
        restart: u32,
        expect: Option<[&str; 3]>,
    ) -> usize {
        let mut m = String::from("{\"pod_name\":");
        json_str(&mut m, &pod.name);
        m.push_str(",\"namespace_name\":");
        json_str(&mut m, &pod.namespace);
        m.push_str(",\"pod_id\":");
        json_str(&mut m, &uid(&format!("{}/{}", pod.namespace, pod.name)));
        if !pod.labels.is_empty() {
            m.push_str(",\"labels\":{");
            for (i, (k, v)) in pod.labels.iter().enumerate() {
                if i > 0 {
                    m.push(',');
                }
                json_str(&mut m, k);
                m.push(':');
                json_str(&mut m, v);
            }
            m.push('}');
        }
        let id = hex_id(&format!("{}/{}/{name}/{restart}", pod.namespace, pod.name));
        let repo = image.split(':').next().unwrap_or(image);
        let hash = format!("{repo}@sha256:{}", hex_id(image));
        for (k, v) in [
            ("host", pod.node.as_str()),
            ("container_name", name),
            ("docker_id", id.as_str()),
            ("container_hash", hash.as_str()),
            ("container_image", image),
        ] {
            let _ = write!(m, ",\"{k}\":");
            json_str(&mut m, v);
        }
        m.push('}');
        self.containers.push(ContainerLog {
            k8s: m,
            written: 0,
            last_ts: 0,
            expect: expect.map(|e| e.map(String::from)),
        });
        self.containers.len() - 1
    }

    /// Advances `t` by `lo_ms..=hi_ms` (plus a random fraction) and returns it.
    fn after(&mut self, t: &mut u64, lo_ms: u64, hi_ms: u64) -> u64 {
        *t += lo_ms * 1_000_000 + self.rng.below((hi_ms - lo_ms) * 1_000_000 + 1);
        *t
    }

    /// The container writes `texts`, one every `lo_ms..=hi_ms` after `t`.
    fn script(
        &mut self,
        c: usize,
        t: &mut u64,
        (lo_ms, hi_ms): (u64, u64),
        stream: &str,
        texts: &[&str],
    ) {
        for text in texts {
            let ts = self.after(t, lo_ms, hi_ms);
            self.log(c, ts, stream, text);
        }
    }

    /// The container writes `text` at `ts`: the CRI lines go to its file (a
    /// long line as containerd cuts it) and tail makes one record of them.
    fn log(&mut self, c: usize, ts: u64, stream: &str, text: &str) {
        let cl = &mut self.containers[c];
        // A file is in time order.
        let ts = ts.max(cl.last_ts + 1_000);
        cl.last_ts = ts;
        let time = cri_time(ts);
        // `<time> <stream> <F|P> <text>\n`
        let framing = (time.len() + stream.len() + 5) as u64;
        let mut rest = text;
        let mut partial = false;
        while rest.len() > CRI_PART {
            let cut = (0..=CRI_PART)
                .rev()
                .find(|&i| rest.is_char_boundary(i))
                .unwrap_or(0);
            cl.written += framing + cut as u64;
            rest = &rest[cut..];
            partial = true;
        }
        // `off` is where the record's last physical line starts.
        let off = cl.written;
        cl.written += framing + rest.len() as u64;
        let mut r = String::with_capacity(text.len() + cl.k8s.len() + 128);
        r.push_str("{\"time\":");
        json_str(&mut r, &time);
        r.push_str(",\"stream\":");
        json_str(&mut r, stream);
        r.push_str(if partial {
            ",\"_p\":\"P\""
        } else {
            ",\"_p\":\"F\""
        });
        r.push_str(",\"log\":");
        json_str(&mut r, text);
        let _ = write!(r, ",\"off\":{off},\"kubernetes\":{}}}", cl.k8s);
        self.inputs.push(Input {
            ts,
            container: c,
            record: r.into_bytes(),
        });
    }
}

/// A JSON string as Fluent Bit writes it (`json.escape_unicode` on): `/`
/// stays, every non-ASCII character becomes `\uXXXX`.
fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            ch if (ch as u32) < 0x20 || ch as u32 >= 0x7f => {
                let mut buf = [0u16; 2];
                for u in ch.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{u:04x}");
                }
            }
            ch => out.push(ch),
        }
    }
    out.push('"');
}

/// Go's RFC3339Nano in UTC, as containerd stamps CRI lines (trailing zeros
/// of the fraction dropped).
fn cri_time(ns: u64) -> String {
    let secs = (ns / S) as i64;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    let mut out = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    );
    let frac = ns % S;
    if frac != 0 {
        out.push('.');
        out.push_str(format!("{frac:09}").trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// `HH:MM` UTC, for log texts.
fn clock(ns: u64) -> String {
    let s = ns / S % 86_400;
    format!("{:02}:{:02}", s / 3600, s / 60 % 60)
}

// ---------------------------------------------------------------- workloads

const WORKER_1: &str = "tools-k8s-worker-nfs-11";
const WORKER_2: &str = "tools-k8s-worker-nfs-23";
const PY_IMAGE: &str = "docker-registry.tools.wmflabs.org/toolforge-python311-sssd-base:latest";

/// Labels the Toolforge jobs framework puts on a job's pods.
fn jobs_labels<'a>(tool: &'a str, name: &'a str, component: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("app.kubernetes.io/component", component),
        ("app.kubernetes.io/created-by", tool),
        ("app.kubernetes.io/managed-by", "toolforge-jobs-framework"),
        ("app.kubernetes.io/name", name),
        ("app.kubernetes.io/version", "2"),
        ("toolforge", "tool"),
    ]
}

fn one_off(c: &mut Cluster, start: u64) -> DemoJob {
    let (tool, job) = ("fourohfour", "rebuild-index");
    let name = format!("{job}-{}", c.rng.word(GEN, 5));
    let job_uid = uid(&name);
    let mut labels = jobs_labels(tool, job, "jobs");
    labels.extend([
        ("batch.kubernetes.io/controller-uid", job_uid.as_str()),
        ("batch.kubernetes.io/job-name", job),
        ("controller-uid", job_uid.as_str()),
        ("job-name", job),
    ]);
    let pod = Pod::new(&format!("tool-{tool}"), &name, WORKER_2, &labels);
    let k = c.container(&pod, job, PY_IMAGE, 0, Some([tool, job, "job"]));
    let mut t = start;
    let start = [
        "Starting rebuild-index (fourohfour 3.2.1, Python 3.11.2)",
        "Connecting to enwiki.analytics.db.svc.wikimedia.cloud:3306",
    ];
    c.script(k, &mut t, (200, 3_000), OUT, &start);
    let lag = ["WARNING: replica lag is 14 s, results may be slightly stale"];
    c.script(k, &mut t, (5, 500), ERR, &lag);
    for i in 1..=13u64 {
        let ts = c.after(&mut t, 35_000, 55_000);
        let done = (i * 524_026).min(6_812_331);
        let text = format!(
            "Processed {done} of 6812331 titles ({}%)",
            done * 100 / 6_812_331
        );
        c.log(k, ts, OUT, &text);
        match i {
            4 => {
                let skipped = "WARNING: skipped a title that is not valid UTF-8 (page_id 48213377)";
                c.script(k, &mut t, (5, 400), ERR, &[skipped]);
            }
            7 => {
                let texts = [
                    "Indexed redirect «Zürich Hauptbahnhof» → «Zürich HB»",
                    "日本語版ウィキペディア: 1,284 broken links ✅",
                ];
                c.script(k, &mut t, (5, 900), OUT, &texts);
            }
            _ => {}
        }
    }
    let mut long = String::from("DEBUG unresolved titles: [");
    for n in 0.. {
        if long.len() > 24_000 {
            break;
        }
        let _ = write!(long, "\"Liste_der_Straßen_in_Köln-{n}\", ");
    }
    long.push_str("\"end\"]");
    let ts = c.after(&mut t, 100, 2_000);
    c.log(k, ts, OUT, &long);
    let ts = c.after(&mut t, 1_000, 3_000);
    let done =
        "Done: 6812331 titles, 48213 broken links written to /data/project/fourohfour/index.json";
    c.log(k, ts, OUT, done);
    DemoJob {
        tool: tool.into(),
        job: job.into(),
        kind: "job".into(),
        note: format!(
            "one-off job (pod {name}): stdout and stderr interleaved, non-ASCII text, and a {} KiB \
             line joined from CRI partials and cut at the filter's 16 KiB line limit",
            long.len() / 1024
        ),
    }
}

/// Four hourly runs, the newest an hour before `now`. Returns the pods, oldest first.
fn cron(c: &mut Cluster, now: u64) -> (DemoJob, Vec<String>) {
    let (tool, job) = ("cronbot", "update-stats");
    let hour = now - now % HOUR;
    let wikis = [
        "enwiki", "dewiki", "frwiki", "jawiki", "eswiki", "ruwiki", "itwiki", "zhwiki", "plwiki",
        "nlwiki",
    ];
    let mut pods = Vec::new();
    for run in 0..4u64 {
        let scheduled = hour - (4 - run) * HOUR + 15 * MINUTE;
        let job_name = format!("{job}-{}", scheduled / MINUTE);
        let name = format!("{job_name}-{}", c.rng.word(GEN, 5));
        let job_uid = uid(&job_name);
        let mut labels = jobs_labels(tool, job, "cronjobs");
        labels.extend([
            ("batch.kubernetes.io/controller-uid", job_uid.as_str()),
            ("batch.kubernetes.io/job-name", job_name.as_str()),
            ("controller-uid", job_uid.as_str()),
            ("job-name", job_name.as_str()),
        ]);
        let pod = Pod::new(&format!("tool-{tool}"), &name, WORKER_1, &labels);
        let k = c.container(&pod, job, PY_IMAGE, 0, Some([tool, job, "cronjob"]));
        let mut t = scheduled + 3 * S;
        let ts = c.after(&mut t, 100, 900);
        let text = format!("Run started (scheduled for {} UTC)", clock(scheduled));
        c.log(k, ts, OUT, &text);
        for (i, wiki) in wikis.iter().enumerate() {
            let ts = c.after(&mut t, 40_000, 80_000);
            let edits = 500 + c.rng.below(40_000);
            let text = format!(
                "{wiki}: {edits} edits, {} new pages in the last hour",
                edits / 37
            );
            c.log(k, ts, OUT, &text);
            if i == run as usize + 2 {
                let ts = c.after(&mut t, 10, 500);
                let lag = 20 + c.rng.below(90);
                c.log(k, ts, ERR, &format!("WARNING: {wiki} replica lag {lag} s"));
            }
        }
        let ts = c.after(&mut t, 1_000, 5_000);
        let text = format!(
            "Wrote /data/project/cronbot/stats/{}.json",
            scheduled / HOUR
        );
        c.log(k, ts, OUT, &text);
        let ts = c.after(&mut t, 10, 300);
        let took = (ts - scheduled) / S;
        c.log(k, ts, OUT, &format!("Run finished in {took} s"));
        pods.push(name);
    }
    let note = format!(
        "cron job, one pod per run ({} runs); the oldest, {}, is compacted into data/ + meta/ \
         with one consumed raw object not yet deleted; {} has a retried upload repeating its records",
        pods.len(),
        pods[0],
        pods[2]
    );
    let job = DemoJob {
        tool: tool.into(),
        job: job.into(),
        kind: "cronjob".into(),
        note,
    };
    (job, pods)
}

/// Two replicas serving for the last three hours; the second one's container
/// is killed and restarted. Returns the pod with the late upload.
fn web(c: &mut Cluster, now: u64) -> (DemoJob, String) {
    let tool = "wiki-stats";
    let image = "harbor.toolforge.org/tool-wiki-stats/tool-wiki-stats:latest";
    let hash = c.rng.word(GEN, 10);
    let labels = [
        ("app.kubernetes.io/component", "web"),
        ("app.kubernetes.io/managed-by", "webservice"),
        ("app.kubernetes.io/name", tool),
        ("name", tool),
        ("pod-template-hash", hash.as_str()),
        ("toolforge", "tool"),
    ];
    let expect = Some([tool, tool, "webservice"]);
    let names: Vec<String> = (0..2)
        .map(|_| format!("{tool}-{hash}-{}", c.rng.word(GEN, 5)))
        .collect();
    let crash_at = now - 100 * MINUTE;
    let paths = [
        "/",
        "/stats/enwiki",
        "/stats/dewiki",
        "/api/v1/top?wiki=frwiki&limit=50",
        "/static/style.css",
        "/stats/elwiki",
        "/favicon.ico",
    ];
    for (replica, (name, node)) in names.iter().zip([WORKER_1, WORKER_2]).enumerate() {
        let pod = Pod::new(&format!("tool-{tool}"), name, node, &labels);
        let mut k = c.container(&pod, "webservice", image, 0, expect);
        let mut t = now - 3 * HOUR + replica as u64 * 7 * S;
        let mut restarted = replica == 0;
        let mut boot = true;
        while t < now - 8 * MINUTE {
            if boot {
                boot = false;
                let texts = [
                    "[INFO] Starting gunicorn 22.0.0",
                    "[INFO] Listening at: http://0.0.0.0:8000 (1)",
                    "[INFO] Using worker: sync",
                    "[INFO] Booting worker with pid: 7",
                ];
                c.script(k, &mut t, (5, 300), ERR, &texts);
            }
            let ts = c.after(&mut t, 10_000, 50_000);
            let path = paths[c.rng.below(paths.len() as u64) as usize];
            let status = if path == "/favicon.ico" { 404 } else { 200 };
            let text = format!(
                "10.0.{}.{} - - \"GET {path} HTTP/1.1\" {status} {} \"-\" \"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0\"",
                c.rng.below(8),
                2 + c.rng.below(250),
                180 + c.rng.below(20_000)
            );
            c.log(k, ts, OUT, &text);
            if path == "/stats/elwiki" {
                let ts = c.after(&mut t, 1, 40);
                c.log(
                    k,
                    ts,
                    ERR,
                    "[INFO] Rendered stats for «Ελληνικά» (elwiki) in 41 ms",
                );
            }
            if !restarted && t > crash_at {
                restarted = true;
                let texts = [
                    "[ERROR] Exception in worker process",
                    "Traceback (most recent call last):",
                    "  File \"/workspace/app.py\", line 88, in top_pages",
                    "    rows = cursor.fetchall()",
                    "MemoryError",
                    "[INFO] Worker exiting (pid: 7)",
                    "[INFO] Shutting down: Master",
                ];
                c.script(k, &mut t, (1, 20), ERR, &texts);
                k = c.container(&pod, "webservice", image, 1, expect);
                c.after(&mut t, 8_000, 12_000);
                boot = true;
            }
        }
    }
    let note = format!(
        "web service with two replicas ({} and {}); the second one's container crashed and \
         restarted (new container id, offsets from 0); one upload of the first was PUT after \
         the next one",
        names[0], names[1]
    );
    let job = DemoJob {
        tool: tool.into(),
        job: tool.into(),
        kind: "webservice".into(),
        note,
    };
    (job, names[0].clone())
}

/// The image build that preceded the web service: one pod, two step containers.
fn image_build(c: &mut Cluster, start: u64) -> DemoJob {
    let tool = "wiki-stats";
    let run = format!("{tool}-buildpacks-pipelinerun-{}", c.rng.word(GEN, 5));
    let labels = [
        ("app.kubernetes.io/managed-by", "tekton-pipelines"),
        ("tekton.dev/pipeline", "buildpacks"),
        ("tekton.dev/pipelineRun", run.as_str()),
        ("tekton.dev/task", "buildpacks"),
    ];
    let pod = Pod::new(
        "image-build",
        &format!("{run}-build-pod"),
        WORKER_2,
        &labels,
    );
    let expect = Some([tool, "build", "build"]);
    let image = "docker-registry.tools.wmflabs.org/toolforge-buildpacks-builder:v3";
    let prepare = c.container(&pod, "step-prepare", image, 0, expect);
    let build = c.container(&pod, "step-build", image, 0, expect);
    let mut t = start;
    let texts = [
        "Cloning https://gitlab.wikimedia.org/toolforge-repos/wiki-stats (ref main)",
        "Checked out 3f9c2e1 \"Show the top pages per wiki\"",
    ];
    c.script(prepare, &mut t, (300, 2_000), OUT, &texts);
    let texts = [
        "===> ANALYZING",
        "===> DETECTING",
        "heroku/python 0.12.0",
        "===> BUILDING",
        "-----> Installing python-3.11.9",
        "-----> Installing requirements with pip",
        "       Collecting flask==3.0.3",
        "       Collecting gunicorn==22.0.0",
        "       Collecting pymysql==1.1.1",
        "       Successfully installed flask-3.0.3 gunicorn-22.0.0 pymysql-1.1.1",
        "===> EXPORTING",
        "Adding layer 'heroku/python:python'",
        "Saving harbor.toolforge.org/tool-wiki-stats/tool-wiki-stats:latest...",
        "*** Images (sha256:5be1c0de): harbor.toolforge.org/tool-wiki-stats/tool-wiki-stats:latest",
    ];
    c.script(build, &mut t, (500, 25_000), OUT, &texts);
    DemoJob {
        tool: tool.into(),
        job: "build".into(),
        kind: "build".into(),
        note: format!("image build (pod {}): two step containers", pod.name),
    }
}

/// A continuous job whose burst spends its tool's quota. Windows are
/// aligned in event time, so the phases are placed on window boundaries.
fn noisy(c: &mut Cluster, now: u64) -> DemoJob {
    let (tool, job) = (NOISY, "firehose");
    let hash = c.rng.word(GEN, 10);
    let mut labels = jobs_labels(tool, job, "deployments");
    labels.push(("pod-template-hash", hash.as_str()));
    let name = format!("{job}-{hash}-{}", c.rng.word(GEN, 5));
    let pod = Pod::new(&format!("tool-{tool}"), &name, WORKER_1, &labels);
    let k = c.container(&pod, job, PY_IMAGE, 0, Some([tool, job, "continuous"]));
    let window = NOISY_WINDOW_SECS * S;
    let w0 = (now - 2 * HOUR) / window * window;
    let heartbeats = |c: &mut Cluster, from: u64| {
        let mut t = from;
        while t < from + window - 90 * S {
            let ts = c.after(&mut t, 50_000, 70_000);
            let text = format!(
                "heartbeat: queue depth {}, {} events/min",
                c.rng.below(20),
                30 + c.rng.below(40)
            );
            c.log(k, ts, OUT, &text);
        }
    };
    heartbeats(c, w0);
    let mut t = w0 + window;
    let mut event = 90_211_000 + c.rng.below(1000);
    while t < w0 + window + 400 * S {
        let ts = c.after(&mut t, 800, 2_200);
        event += 1 + c.rng.below(30);
        let text = format!(
            "DEBUG event {event}: {{\"type\":\"edit\",\"wiki\":\"wikidatawiki\",\"rev\":{}}}",
            2_300_000_000 + event
        );
        c.log(k, ts, OUT, &text);
    }
    heartbeats(c, w0 + 2 * window);
    DemoJob {
        tool: tool.into(),
        job: job.into(),
        kind: "continuous".into(),
        note: format!(
            "continuous job whose burst hits the tool's quota ({NOISY_BYTES} bytes per {} min): \
             a quota_exceeded marker, then a quota_dropped summary on the next window's first line",
            NOISY_WINDOW_SECS / 60
        ),
    }
}

/// A system pod: the filter passes its records through unlabelled, so they
/// never reach the bucket.
fn not_a_tool(c: &mut Cluster, now: u64) {
    let hash = c.rng.word(GEN, 10);
    let name = format!("coredns-{hash}-{}", c.rng.word(GEN, 5));
    let labels = [
        ("k8s-app", "kube-dns"),
        ("pod-template-hash", hash.as_str()),
    ];
    let pod = Pod::new("kube-system", &name, WORKER_1, &labels);
    let image = "registry.k8s.io/coredns/coredns:v1.11.1";
    let k = c.container(&pod, "coredns", image, 0, None);
    let mut t = now - 4 * HOUR;
    for _ in 0..4 {
        let ts = c.after(&mut t, 600_000, 1_800_000);
        c.log(
            k,
            ts,
            OUT,
            "[INFO] plugin/reload: Running configuration SHA512 = 8a1f...",
        );
    }
}

// ------------------------------------------------------ filter and uploads

/// What the reader needs of a filter output record to place it.
#[derive(Deserialize)]
struct Stored {
    ts: u64,
    afterlog: Labels,
}

#[derive(Deserialize)]
struct Labels {
    tool: String,
    job: String,
    kind: String,
    pod: String,
    container: String,
    container_id: String,
    node: String,
    route: String,
    /// The routing class; absent in records of filters before classes.
    #[serde(default)]
    class: Option<String>,
}

/// The records of one `rewrite_tag` route, in the order the filter emitted them.
struct Route {
    origin: Origin,
    kind: String,
    node: String,
    /// The newest container id (a restart changes it).
    container_id: String,
    records: Vec<(u64, Vec<u8>)>,
}

/// One PUT of the `s3` output.
#[derive(Clone)]
struct Upload {
    origin: Origin,
    first_ts: u64,
    key: String,
    lines: Vec<Vec<u8>>,
    put_ns: u64,
}

impl Upload {
    fn first_secs(&self) -> i64 {
        (self.first_ts / S) as i64
    }
}

impl Route {
    /// Cuts the route's records into uploads as the `s3` output does: one
    /// per `upload_timeout` of buffering, keyed by its first record's time.
    fn uploads(&self, ids: &mut Rng) -> Vec<Upload> {
        let mut out: Vec<Upload> = Vec::new();
        for (ts, line) in &self.records {
            match out.last_mut() {
                Some(u) if *ts < u.first_ts + UPLOAD_TIMEOUT => u.lines.push(line.clone()),
                _ => {
                    let first_secs = (*ts / S) as i64;
                    out.push(Upload {
                        origin: self.origin.clone(),
                        first_ts: *ts,
                        key: self.origin.raw_key(first_secs, &ids.word(ALNUM, 8)),
                        lines: vec![line.clone()],
                        put_ns: ts + UPLOAD_TIMEOUT + ids.below(20 * S),
                    })
                }
            }
        }
        out
    }
}

/// Runs every record through the filter in event-time order (as tail reads
/// the files while they are written) and groups its output by route.
fn run_filter(cluster: Cluster) -> Result<BTreeMap<String, Route>> {
    let cfg = serde_json::json!({"quota": {"tools": {NOISY: {
        "bytes": NOISY_BYTES, "window_seconds": NOISY_WINDOW_SECS}}}});
    let cfg = Config::parse(&serde_json::to_vec(&cfg)?).context("demo filter config")?;
    let mut filter = Filter::new(cfg).context("demo filter config")?;
    let Cluster {
        containers,
        mut inputs,
        ..
    } = cluster;
    inputs.sort_by_key(|i| i.ts);
    let mut routes = BTreeMap::new();
    for input in &inputs {
        let (sec, nsec) = ((input.ts / S) as u32, (input.ts % S) as u32);
        let expect = &containers[input.container].expect;
        let out = match filter.process(sec, nsec, &input.record) {
            Output::Record(b) => b.strip_suffix(b"\0").unwrap_or(b).to_vec(),
            Output::Unchanged if expect.is_none() => continue,
            Output::Drop if expect.as_ref().is_some_and(|e| e[0] == NOISY) => continue,
            v => bail!(
                "the filter answered {v:?} to {}",
                String::from_utf8_lossy(&input.record)
            ),
        };
        let s: Stored = serde_json::from_slice(&out).with_context(|| {
            format!("unexpected filter output {}", String::from_utf8_lossy(&out))
        })?;
        let a = s.afterlog;
        let got = [a.tool.as_str(), a.job.as_str(), a.kind.as_str()];
        if expect.as_ref().is_none_or(|e| e != &got) {
            bail!(
                "the default label rules gave {got:?} for pod {}, not {expect:?}",
                a.pod
            );
        }
        let origin = Origin {
            tool: a.tool,
            job: a.job,
            pod: a.pod,
            container: a.container,
        };
        // The demo's filter has no routing rules: every record is in the
        // default class, stored in the one store the demo serves.
        let class = a
            .class
            .as_deref()
            .unwrap_or(afterlog_contract::routing::DEFAULT_CLASS);
        ensure!(
            origin.class_route(class) == a.route,
            "route {} of {origin:?} in class {class}",
            a.route
        );
        let r = routes.entry(a.route).or_insert_with(|| Route {
            origin,
            kind: a.kind,
            node: a.node,
            container_id: String::new(),
            records: Vec::new(),
        });
        r.container_id = a.container_id;
        r.records.push((s.ts, out));
    }
    Ok(routes)
}

/// What the compactor leaves of a pod's settled raw objects (DESIGN §5): the
/// merged `data/` object, the pod's meta listing the raw keys as consumed,
/// and one of those raw objects, as if the compactor had stopped while
/// deleting them, so readers must skip it. Returns the objects to write as
/// `(put_ns, key, body)`.
fn compact(route: &Route, consumed: &[Upload]) -> Result<Vec<(u64, String, Vec<u8>)>> {
    let mut records = Vec::new();
    for u in consumed {
        for line in &u.lines {
            records.push(LogRecord::parse(line.clone()).context("parsing the filter's output")?);
        }
    }
    sort_records(&mut records);
    records.dedup_by(|a, b| a.identity() == b.identity());
    let (Some(first), Some(last)) = (records.first(), records.last()) else {
        bail!("nothing to compact for {}", route.origin.pod);
    };
    let (first_ts, last_ts) = (first.ts, last.ts);
    let body = gzip(records.iter().map(|r| r.line.as_slice()))?;
    let id = &hex_id(&format!("{}/{first_ts}/{last_ts}", route.origin.route()))[..16];
    let data_key = route.origin.data_key(first_ts, last_ts, id);
    let settled = consumed.iter().map(|u| u.put_ns).max().unwrap_or(last_ts);
    let since_ns = settled + 20 * MINUTE;
    let mut keys: Vec<&Upload> = consumed.iter().collect();
    keys.sort_by(|a, b| a.key.cmp(&b.key));
    let meta = PodMeta {
        version: META_VERSION,
        merged: vec![MergedObject {
            key: data_key.clone(),
            first_ts,
            last_ts,
            lines: records.len() as u64,
            bytes: body.len() as u64,
        }],
        consumed: keys
            .iter()
            .map(|u| ConsumedRaw {
                key: u.key.clone(),
                since_ns,
            })
            .collect(),
        pod: Some(PodInfo {
            node: route.node.clone(),
            kind: route.kind.clone(),
            containers: [(
                route.origin.container.clone(),
                vec![route.container_id.clone()],
            )]
            .into(),
            ..PodInfo::default()
        }),
    };
    let o = &route.origin;
    let mut meta_body = serde_json::to_vec_pretty(&meta)?;
    meta_body.push(b'\n');
    // The deletion of the consumed objects was interrupted after all but the newest.
    let kept = keys.last().context("no consumed uploads")?;
    Ok(vec![
        (since_ns - S, data_key, body),
        (since_ns, meta_key(&o.tool, &o.job, &o.pod), meta_body),
        (
            kept.put_ns,
            kept.key.clone(),
            gzip(kept.lines.iter().map(Vec::as_slice))?,
        ),
    ])
}

/// An object body: JSON lines, gzipped as a whole.
fn gzip<'a>(lines: impl IntoIterator<Item = &'a [u8]>) -> Result<Vec<u8>> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    for line in lines {
        e.write_all(line)?;
        e.write_all(b"\n")?;
    }
    Ok(e.finish()?)
}

fn put(dir: &Path, key: &str, body: &[u8], put_ns: u64) -> Result<()> {
    let path = dir.join(key);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(&path, body).with_context(|| format!("writing {}", path.display()))?;
    std::fs::File::options()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_modified(UNIX_EPOCH + Duration::from_nanos(put_ns)))
        .with_context(|| format!("setting the time of {}", path.display()))
}
