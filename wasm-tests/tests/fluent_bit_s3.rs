//! End to end through the real Fluent Bit 5.1.1 *and* a real S3 server:
//! CRI log files → `tail` (multiline cri) → `kubernetes` (pods preloaded
//! from `.meta` files) → the drop-in `fluent-bit/afterlog.yaml` (wasm filter
//! → `rewrite_tag` → `s3` output) → `s3s-fs` on 127.0.0.1 → read back with
//! the reader library (`afterlog_reader::read_job`).
//!
//! The main config is what `fluent-bit/README.md` asks of a node's config,
//! with the drop-in included at the end; the drop-in is used verbatim except
//! for `upload_timeout` (5m → a few seconds, in a copy in a temp dir).
//!
//! Two phases:
//! 1. lines of two tool pods (a job with two containers, a cron run) and of
//!    a `kube-system` pod; Fluent Bit runs until the upload timer has put
//!    every tool line in the bucket;
//! 2. more lines (and a second cron run), then SIGTERM as soon as they sit
//!    in the s3 output's buffer: Fluent Bit uploads them while shutting down.
//!
//! What the real s3 output does (checked here, and read in
//! `plugins/out_s3/s3.c`):
//! - with `endpoint: http://127.0.0.1:PORT` it speaks plain HTTP to that
//!   host and port and always uses **path-style** URIs: `PUT /<bucket><key>`
//!   (the key from `s3_key_format` keeps its leading `/`), `Host` = the
//!   endpoint host. There is no virtual-hosted mode and no option for it, so
//!   any S3-compatible server that takes path-style requests works (s3s-fs
//!   does without `--domain`). SigV4 with `AWS_ACCESS_KEY_ID` /
//!   `AWS_SECRET_ACCESS_KEY` from the environment and `region`.
//! - `use_put_object: on` + `compression: gzip`: one PutObject per upload,
//!   `Content-Encoding: gzip`, the body one gzip member of JSON lines (each
//!   ends with `\n`), exactly the filter's record: `json_date_key: false`
//!   removes the output's own `date` key. object_store (the reader) gets the
//!   gzip bytes as stored; it does not decode `Content-Encoding`.
//! - key `raw/<tool>/<job>/<pod>/<container>/<YYYYMMDDTHHMMSSZ>-<uuid>.gz`
//!   from `/raw/$TAG[1]/…/%Y%m%dT%H%M%SZ-$UUID.gz`; `$UUID` is 8
//!   alphanumerics (mixed case).
//! - the key's time is **not always the first record's event time**:
//!   uploads made by the upload timer (and by a flush that finds the buffer
//!   due) use the event time of the buffer's first record, but the uploads
//!   `cb_s3_exit` makes at shutdown (`put_all_chunks`, "Sending all locally
//!   buffered data to S3") use the wall-clock time the buffer was *created*
//!   (its first flush): at or after the first record's time, by the
//!   pipeline's lag behind the log. Phase 2 writes lines stamped a minute in
//!   the past and checks that the reader still orders them, which it does
//!   while the lag stays within its `RAW_SLACK_NS`. Worse, buffers left by a
//!   killed Fluent Bit are uploaded at the next start ("Sending locally
//!   buffered data from previous executions") keyed with the *restart* time
//!   (`s3_store.c` sets both times to `time(NULL)` when it reloads them;
//!   seen with 5.1.1: records of 15:00 under a key of 09:55 the next day).
//!   So a raw key's time is an upper bound of its first record's time, exact
//!   only for timer uploads.
//! - the upload timer ticks every `upload_timeout / 6`, at least every 6 s,
//!   and uploads buffers older than `upload_timeout`.
//!
//! Needs the filter (`scripts/build-filter`) and `s3s-fs`
//! (`cargo install s3s-fs --version 0.14.1 --features binary`), then
//! `cargo test -p afterlog-wasm-tests --test fluent_bit_s3`.
//! `AFTERLOG_KEEP_TMP=1` keeps the run's directory (logs, configs, Fluent
//! Bit's output, the bucket).

use afterlog_contract::keys;
use afterlog_contract::layout::{self, ObjectKind};
use afterlog_contract::record::{self as field, label};
use afterlog_reader::store::Store;
use afterlog_reader::{Filter, StoreConfig, job_runs, list_jobs, read_job};
use afterlog_wasm_tests::fluent_bit::{
    Pipeline, Pod, Stream, fluent_bit_path, require_filter_wasm, workspace_root,
};
use flate2::read::MultiGzDecoder;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const BUCKET: &str = "afterlog";
use afterlog_testkit::{KEY as KEY_ID, S3Server, SECRET};
const REGION: &str = "us-east-1";
/// The drop-in's `upload_timeout` for this run. Long enough that phase 2's
/// buffers cannot time out before the SIGTERM that follows them within a
/// second or two, short enough for a quick test.
const UPLOAD_TIMEOUT_SECS: u64 = 12;
/// The longest phase 1 may take to get every line into the bucket.
const UPLOAD_DEADLINE: Duration = Duration::from_secs(60);
/// The longest phase 2's lines may take to reach the s3 output's buffer.
const BUFFER_DEADLINE: Duration = Duration::from_secs(20);
/// The longest Fluent Bit may take to upload and exit after SIGTERM.
const STOP_DEADLINE: Duration = Duration::from_secs(20);
/// Set to keep the run's directory.
const KEEP_ENV: &str = "AFTERLOG_KEEP_TMP";
const NS: u64 = 1_000_000_000;
/// Where the kubernetes filter "finds" its API server: nothing listens on
/// the discard port, and with the pods preloaded it is never asked.
const KUBE_URL: &str = "https://127.0.0.1:9";
/// What Fluent Bit logs for each successful PutObject, then the key.
const UPLOADED: &str = "Successfully uploaded object ";
/// What Fluent Bit logs before the uploads it makes at shutdown.
const SHUTDOWN_UPLOADS: &str = "Sending all locally buffered data to S3";

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

// ------------------------------------------------------------------ servers

/// A running Fluent Bit, killed on drop if still running.
struct FluentBit {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl FluentBit {
    fn start(config: &Path, work: &Path, env: &[(&str, String)]) -> FluentBit {
        let bin = fluent_bit_path().unwrap();
        let stdout = work.join("fluent-bit.stdout");
        let stderr = work.join("fluent-bit.stderr");
        let mut cmd = Command::new(&bin);
        cmd.arg("-c")
            .arg(config)
            .current_dir(work)
            .stdin(Stdio::null())
            .stdout(File::create(&stdout).unwrap())
            .stderr(File::create(&stderr).unwrap());
        // Only the credentials given here: nothing from the caller's AWS setup.
        for var in [
            "AWS_SESSION_TOKEN",
            "AWS_PROFILE",
            "AWS_ROLE_ARN",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        ] {
            cmd.env_remove(var);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        FluentBit {
            child,
            stdout,
            stderr,
        }
    }

    fn stdout(&self) -> String {
        String::from_utf8_lossy(&fs::read(&self.stdout).unwrap_or_default()).into_owned()
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&fs::read(&self.stderr).unwrap_or_default()).into_owned()
    }

    fn stderr_tail(&self) -> String {
        let text = self.stderr();
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Panics (with Fluent Bit's last words) if it is no longer running.
    fn check_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "fluent-bit exited early ({status})\n--- stderr (tail) ---\n{}",
                self.stderr_tail()
            );
        }
    }

    /// SIGTERM, then waits for it to upload what it buffered and exit.
    fn stop(&mut self) -> ExitStatus {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t");
        // SAFETY: kill(2) of our own child, which has not been reaped yet.
        let r = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(r, 0, "kill(SIGTERM): {}", std::io::Error::last_os_error());
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if start.elapsed() > STOP_DEADLINE {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "fluent-bit did not exit within {STOP_DEADLINE:?} of SIGTERM\n\
                     --- stderr (tail) ---\n{}",
                    self.stderr_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for FluentBit {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ------------------------------------------------------------------ configs

/// Quotes a YAML scalar.
fn yq(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn yp(p: &Path) -> String {
    yq(&p.to_string_lossy())
}

/// The node's main config as `fluent-bit/README.md` describes it, plus what
/// a test needs (pods from files, read from the head), with an ordinary
/// `stdout` output for the node's other logs and the drop-in included last.
fn main_config(logs: &Path, meta: &Path, drop_in: &Path) -> String {
    let prefix = Pipeline::new(logs, meta).tag_prefix();
    format!(
        "service:
  flush: 1
  grace: 2
  log_level: info
  http_server: off
pipeline:
  inputs:
    - name: tail
      path: {path}
      tag: 'kube.*'
      multiline.parser: cri
      offset_key: 'off'
      read_from_head: true
      refresh_interval: 1
      skip_long_lines: on
      buffer_max_size: 256k
  filters:
    - name: kubernetes
      match: 'kube.*'
      kube_url: {KUBE_URL}
      kube_tag_prefix: {prefix}
      kube_meta_preload_cache_dir: {meta}
      labels: on
      annotations: off
      merge_log: off
  outputs:
    - name: stdout
      match: 'kube.*'
      format: json_lines
includes:
  - {drop_in}
",
        path = yp(&logs.join("*.log")),
        prefix = yq(&prefix),
        meta = yp(meta),
        drop_in = yp(drop_in),
    )
}

/// `fluent-bit/afterlog.yaml` as shipped, with `upload_timeout` replaced.
fn drop_in(upload_timeout_secs: u64) -> String {
    let src = workspace_root().join("fluent-bit").join("afterlog.yaml");
    let text = fs::read_to_string(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    let mut replaced = 0;
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let body = line.trim_start();
        if body.starts_with("upload_timeout:") {
            replaced += 1;
            let indent = &line[..line.len() - body.len()];
            out.push_str(&format!("{indent}upload_timeout: {upload_timeout_secs}s"));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    assert_eq!(
        replaced,
        1,
        "{} should set upload_timeout exactly once",
        src.display()
    );
    out
}

// ----------------------------------------------------------------- fixtures

/// What the filter must derive for a tool's pod.
#[derive(Clone, Copy, Debug)]
struct Expect {
    tool: &'static str,
    job: &'static str,
    kind: &'static str,
}

/// One logical line written to a container log.
#[derive(Clone, Debug)]
struct Written {
    /// `None`: not a tool's pod, must not reach the bucket.
    expect: Option<Expect>,
    namespace: String,
    pod: String,
    node: String,
    container: String,
    container_id: String,
    ts: u64,
    off: u64,
    stream: Stream,
    log: String,
    phase: u8,
}

impl Written {
    /// The record's place in a job's output (DESIGN §4).
    fn order_key(&self) -> (u64, &str, u64, &str) {
        (self.ts, &self.container_id, self.off, self.stream.as_str())
    }

    /// The exact `afterlog` object of the record.
    fn labels(&self) -> Value {
        let e = self.expect.expect("a tool's line");
        let route = [e.tool, e.job, self.pod.as_str(), self.container.as_str()]
            .map(keys::encode)
            .join(".");
        json!({
            label::TOOL: e.tool,
            label::JOB: e.job,
            label::KIND: e.kind,
            label::NAMESPACE: self.namespace,
            label::POD: self.pod,
            label::CONTAINER: self.container,
            label::CONTAINER_ID: self.container_id,
            label::NODE: self.node,
            label::ROUTE: route,
        })
    }
}

/// Writes CRI lines and remembers what it wrote.
struct Logs {
    dir: PathBuf,
    lines: Vec<Written>,
    phase: u8,
}

impl Logs {
    fn written(
        &self,
        pod: &(Pod, Option<Expect>),
        container: &str,
        ts: u64,
        off: u64,
        stream: Stream,
        log: String,
    ) -> Written {
        let (p, expect) = pod;
        Written {
            expect: *expect,
            namespace: p.namespace.clone(),
            pod: p.name.clone(),
            node: p.node.clone(),
            container: container.into(),
            container_id: p.container_id(container).into(),
            ts,
            off,
            stream,
            log,
            phase: self.phase,
        }
    }

    /// A full line.
    fn line(
        &mut self,
        pod: &(Pod, Option<Expect>),
        container: &str,
        ts: u64,
        stream: Stream,
        text: &str,
    ) {
        let mut log = pod.0.log(&self.dir, container).unwrap();
        let off = log.line(ts, stream, text).unwrap();
        log.flush().unwrap();
        let w = self.written(pod, container, ts, off, stream, text.into());
        self.lines.push(w);
    }

    /// A line the runtime cut into `P` parts (1 ns apart) and a final `F`;
    /// the joined record keeps the first part's time and the last part's offset.
    fn partial(
        &mut self,
        pod: &(Pod, Option<Expect>),
        container: &str,
        ts: u64,
        stream: Stream,
        parts: &[&str],
    ) {
        let (last, init) = parts.split_last().expect("parts");
        let mut log = pod.0.log(&self.dir, container).unwrap();
        let mut t = ts;
        for p in init {
            log.partial(t, stream, p).unwrap();
            t += 1;
        }
        let off = log.line(t, stream, last).unwrap();
        log.flush().unwrap();
        let w = self.written(pod, container, ts, off, stream, parts.concat());
        self.lines.push(w);
    }
}

/// A time `i` seconds after `base_secs`, with whole, short and full
/// nanosecond fractions mixed.
fn tick(base_secs: u64, i: u64) -> u64 {
    (base_secs + i) * NS + [0, 500_000_000, 123_456_789, 2][(i % 4) as usize]
}

// -------------------------------------------------------------------- store

/// Every key under `prefix` (all of them with `None`), through S3
/// `ListObjectsV2` with a delimiter, walked level by level.
async fn list_keys(store: &dyn ObjectStore, prefix: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![prefix.map(StorePath::from)];
    while let Some(p) = todo.pop() {
        let r = store
            .list_with_delimiter(p.as_ref())
            .await
            .unwrap_or_else(|e| panic!("LIST {p:?}: {e}"));
        todo.extend(r.common_prefixes.into_iter().map(Some));
        out.extend(r.objects.into_iter().map(|o| o.location.to_string()));
    }
    out.sort();
    out
}

async fn get(store: &dyn ObjectStore, key: &str) -> Vec<u8> {
    let got = store
        .get(&StorePath::from(key))
        .await
        .unwrap_or_else(|e| panic!("GET {key}: {e}"));
    got.bytes()
        .await
        .unwrap_or_else(|e| panic!("GET {key} body: {e}"))
        .to_vec()
}

fn gunzip(body: &[u8]) -> std::io::Result<String> {
    let mut text = String::new();
    MultiGzDecoder::new(body).read_to_string(&mut text)?;
    Ok(text)
}

/// Records uploaded so far, counting each object once it decodes whole.
async fn uploaded_records(store: &dyn ObjectStore, seen: &mut BTreeMap<String, usize>) -> usize {
    for key in list_keys(store, Some(layout::RAW)).await {
        if seen.contains_key(&key) {
            continue;
        }
        // An object caught mid-write is looked at again on the next round.
        if let Ok(text) = gunzip(&get(store, &key).await) {
            seen.insert(key, text.lines().filter(|l| !l.is_empty()).count());
        }
    }
    seen.values().sum()
}

/// All bytes of the files under `dir` (the s3 output's buffer).
fn dir_bytes(dir: &Path, out: &mut Vec<u8>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            dir_bytes(&p, out);
        } else if let Ok(b) = fs::read(&p) {
            out.extend_from_slice(&b);
        }
    }
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// `[error]` and `[ warn]` lines of Fluent Bit, minus the kubernetes
/// filter's complaints about having no service account and the shutdown notice.
fn problems(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains("[error]") || l.contains("[ warn]"))
        .filter(|l| {
            !(l.contains("[tls]")
                || l.contains("serviceaccount")
                || l.contains("[filter:kubernetes")
                || l.contains("service will shutdown"))
        })
        .collect()
}

/// The keys Fluent Bit says it uploaded, each with whether it was uploaded
/// by the shutdown flush.
fn logged_uploads(stderr: &str) -> BTreeMap<String, bool> {
    let mut out = BTreeMap::new();
    let mut shutting_down = false;
    for l in stderr.lines() {
        if l.contains(SHUTDOWN_UPLOADS) {
            shutting_down = true;
        }
        if let Some(at) = l.find(UPLOADED) {
            let key = l[at + UPLOADED.len()..].trim().trim_start_matches('/');
            assert!(
                out.insert(key.to_string(), shutting_down).is_none(),
                "{key} uploaded twice"
            );
        }
    }
    out
}

// --------------------------------------------------------------------- test

/// The pods of the scenario, each with what the filter must derive.
struct Pods {
    /// A Toolforge one-off job with two containers; its name needs key encoding.
    job: (Pod, Option<Expect>),
    /// A cron job's run, and its next run (phase 2 only).
    cron: (Pod, Option<Expect>),
    cron2: (Pod, Option<Expect>),
    /// Not a tool: must stay out of the bucket.
    system: (Pod, Option<Expect>),
}

impl Pods {
    fn new() -> Pods {
        let cron = Some(Expect {
            tool: "foo",
            job: "mycron",
            kind: "cronjob",
        });
        Pods {
            job: (
                Pod::new("tool-foo", "my.job-x7k2p")
                    .label("app.kubernetes.io/managed-by", "toolforge-jobs-framework")
                    .label("app.kubernetes.io/name", "my.job")
                    .label("app.kubernetes.io/created-by", "foo")
                    .label("job-name", "my.job")
                    .label("toolforge", "tool")
                    .container("job")
                    .container("sidecar"),
                Some(Expect {
                    tool: "foo",
                    job: "my.job",
                    kind: "job",
                }),
            ),
            cron: (
                Pod::new("tool-foo", "mycron-28889999-k7p2q")
                    .label("batch.kubernetes.io/job-name", "mycron-28889999")
                    .label("job-name", "mycron-28889999")
                    .label("toolforge", "tool")
                    .node("node-2")
                    .container("job"),
                cron,
            ),
            cron2: (
                Pod::new("tool-foo", "mycron-28890000-q9z8x")
                    .label("batch.kubernetes.io/job-name", "mycron-28890000")
                    .label("job-name", "mycron-28890000")
                    .label("toolforge", "tool")
                    .container("job"),
                cron,
            ),
            system: (
                Pod::new("kube-system", "coredns-5d78c9869d-q2x8m")
                    .label("k8s-app", "kube-dns")
                    .label("pod-template-hash", "5d78c9869d")
                    .container("coredns"),
                None,
            ),
        }
    }
}

/// Phase 1, ten minutes ago: containers interleaved, equal times across
/// containers, stdout and stderr, a line cut into parts, escapes.
fn write_phase1(logs: &mut Logs, p: &Pods, base_secs: u64) {
    use Stream::{Stderr, Stdout};
    let t = |i| tick(base_secs, i);
    logs.line(&p.job, "job", t(1), Stdout, "starting my.job run 1");
    logs.line(&p.job, "sidecar", t(1), Stdout, "sidecar: proxy up");
    logs.line(&p.system, "coredns", t(2), Stdout, "coredns: query a");
    logs.line(&p.job, "job", t(2), Stderr, "warning: cache cold");
    let parts = ["partial one, ", "partial two, ", "partial three"];
    logs.partial(&p.job, "job", t(3), Stderr, &parts);
    logs.line(&p.job, "sidecar", t(3), Stdout, "sidecar: tick 3");
    let text = "unicode: café ü 日本 😀 \"quoted\" back\\slash\ttab / slash";
    logs.line(&p.job, "job", t(4), Stdout, text);
    logs.line(&p.system, "coredns", t(5), Stderr, "coredns: query b");
    logs.line(&p.job, "sidecar", t(5), Stderr, "sidecar: upstream slow");
    logs.line(&p.job, "job", t(6), Stdout, r#"{"json": "inside", "n": 1}"#);
    for i in 0..5 {
        let stream = if i % 2 == 0 { Stdout } else { Stderr };
        let text = format!("mycron run 28889999 line {i}");
        logs.line(&p.cron, "job", t(7 + i), stream, &text);
    }
    logs.line(&p.system, "coredns", t(8), Stdout, "coredns: query c");
    logs.line(&p.job, "job", t(12), Stdout, "job done");
}

/// Phase 2: lines stamped a minute before `now_secs` (the pipeline lags the
/// log), and the cron job's next run starts.
fn write_phase2(logs: &mut Logs, p: &Pods, now_secs: u64) {
    use Stream::{Stderr, Stdout};
    let t = |i| tick(now_secs - 60, i);
    logs.line(&p.job, "job", t(1), Stdout, "phase 2: my.job keeps going");
    logs.line(&p.job, "sidecar", t(1), Stdout, "phase 2: sidecar still up");
    logs.line(&p.system, "coredns", t(2), Stdout, "coredns: phase 2 query");
    logs.line(
        &p.cron,
        "job",
        t(2),
        Stdout,
        "mycron run 28889999 late line",
    );
    logs.line(&p.cron2, "job", t(3), Stdout, "mycron run 28890000 line 0");
    logs.line(&p.cron2, "job", t(4), Stderr, "mycron run 28890000 line 1");
}

/// Checks every object in the bucket against what was written; returns the keys.
fn check_bucket(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    logs: &Logs,
    stderr: &str,
    (phase2_wall, stop_wall): (u64, u64),
) -> Vec<String> {
    let by_place: BTreeMap<(&str, &str, u64, u64), &Written> = logs
        .lines
        .iter()
        .map(|w| ((w.pod.as_str(), w.container.as_str(), w.ts, w.off), w))
        .collect();
    assert_eq!(
        by_place.len(),
        logs.lines.len(),
        "fixture places are unique"
    );
    let uploads = logged_uploads(stderr);
    let keys = rt.block_on(list_keys(store.as_ref(), None));
    assert_eq!(
        keys.iter().cloned().collect::<BTreeSet<_>>(),
        uploads.keys().cloned().collect::<BTreeSet<_>>(),
        "the bucket holds exactly what Fluent Bit says it uploaded"
    );
    // No `date` of the output's own (json_date_key: false).
    let fields: BTreeSet<&str> = [
        field::TS,
        field::OFF,
        field::STREAM,
        field::LOG,
        field::AFTERLOG,
    ]
    .into();
    let mut seen: BTreeSet<(&str, &str, u64, u64)> = BTreeSet::new();
    let mut origins_by_path: BTreeMap<bool, BTreeSet<(String, String)>> = BTreeMap::new();
    for key in &keys {
        let parsed = layout::parse_object_key(key)
            .unwrap_or_else(|e| panic!("{key} is not in the layout: {e}"));
        let ObjectKind::Raw { first_secs, uuid } = &parsed.kind else {
            panic!("{key} is not a raw key");
        };
        let origin = &parsed.origin;
        assert_eq!(&origin.raw_key(*first_secs, uuid), key, "canonical");
        assert!(
            uuid.len() == 8 && uuid.bytes().all(|b| b.is_ascii_alphanumeric()),
            "$UUID of {key}"
        );
        let body = rt.block_on(get(store.as_ref(), key));
        assert_eq!(body.get(..2), Some(&[0x1f, 0x8b][..]), "{key}: gzip magic");
        let text = gunzip(&body).unwrap_or_else(|e| panic!("{key}: {e}"));
        assert!(text.ends_with('\n'), "{key}: JSON lines end with a newline");
        let mut first_ts = None;
        for line in text.lines() {
            let rec: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{key}: {e}: {line}"));
            let got: BTreeSet<&str> = rec
                .as_object()
                .unwrap_or_else(|| panic!("{key}: not an object: {line}"))
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(got, fields, "{key}: fields of {line}");
            let ts = rec[field::TS].as_u64().expect("ts");
            let off = rec[field::OFF].as_u64().expect("off");
            first_ts.get_or_insert(ts);
            let place = (origin.pod.as_str(), origin.container.as_str(), ts, off);
            let w = by_place
                .get(&place)
                .unwrap_or_else(|| panic!("{key}: a record nobody wrote: {line}"));
            assert!(w.expect.is_some(), "{key}: a non-tool line was uploaded");
            let place = (w.pod.as_str(), w.container.as_str(), w.ts, w.off);
            assert!(seen.insert(place), "{key}: uploaded twice: {line}");
            assert_eq!(rec[field::LOG], w.log.as_str(), "{key}: {line}");
            assert_eq!(rec[field::STREAM], w.stream.as_str(), "{key}: {line}");
            assert_eq!(rec[field::AFTERLOG], w.labels(), "{key}: {line}");
        }
        let first_ts = first_ts.unwrap_or_else(|| panic!("{key} is empty"));
        let first_secs = u64::try_from(*first_secs).expect("after 1970");
        let at_shutdown = uploads[key];
        if at_shutdown {
            // The buffer's creation time: after the lines were written, by
            // the stop, and later than the first record's time.
            assert!(
                (phase2_wall..=stop_wall).contains(&first_secs),
                "{key}: shutdown upload keyed {first_secs}, not in {phase2_wall}..={stop_wall}"
            );
            assert!(
                first_secs > first_ts / NS,
                "{key}: keyed at or before its first record ({first_ts})"
            );
        } else {
            assert_eq!(
                first_secs,
                first_ts / NS,
                "{key}: the key time is the first record's event time"
            );
        }
        origins_by_path
            .entry(at_shutdown)
            .or_default()
            .insert((origin.pod.clone(), origin.container.clone()));
    }
    let tool_written: BTreeSet<(&str, &str, u64, u64)> = by_place
        .iter()
        .filter(|(_, w)| w.expect.is_some())
        .map(|(k, _)| *k)
        .collect();
    assert_eq!(seen, tool_written, "every tool line uploaded exactly once");
    let containers = |phase: u8| -> BTreeSet<(String, String)> {
        logs.lines
            .iter()
            .filter(|w| w.phase == phase && w.expect.is_some())
            .map(|w| (w.pod.clone(), w.container.clone()))
            .collect()
    };
    assert_eq!(
        origins_by_path.get(&false),
        Some(&containers(1)),
        "phase 1 goes up by the upload timer"
    );
    assert_eq!(
        origins_by_path.get(&true),
        Some(&containers(2)),
        "phase 2 goes up at shutdown"
    );
    keys
}

/// The node's other logs went to its own output (`stdout`), once each,
/// unlabelled; nothing of the tools did (`rewrite_tag` keeps no copy).
fn check_node_output(stdout: &str, logs: &Logs) {
    let mut got: Vec<(String, u64)> = Vec::new();
    for line in stdout.lines().filter(|l| l.starts_with('{')) {
        let rec: Value = serde_json::from_str(line).unwrap();
        assert!(rec.get(field::AFTERLOG).is_none(), "labelled: {line}");
        assert_eq!(rec["kubernetes"]["namespace_name"], "kube-system", "{line}");
        got.push((
            rec[field::LOG].as_str().unwrap().to_string(),
            rec[field::OFF].as_u64().unwrap(),
        ));
    }
    got.sort();
    let mut want: Vec<(String, u64)> = logs
        .lines
        .iter()
        .filter(|w| w.expect.is_none())
        .map(|w| (w.log.clone(), w.off))
        .collect();
    want.sort();
    assert_eq!(got, want, "stdout holds the non-tool lines, once each");
}

/// A record as compared: ts, pod, container, off, stream, log, container id.
type Row<'a> = (
    u64,
    &'a str,
    &'a str,
    Option<u64>,
    &'a str,
    &'a str,
    &'a str,
);

/// The reader lists the tool's jobs and runs and reassembles each job.
async fn check_reader(store: &Store, logs: &Logs, keys: &[String], p: &Pods) {
    let jobs = list_jobs(store.as_ref(), "foo").await.unwrap();
    let names: Vec<&str> = jobs.iter().map(|j| j.job.as_str()).collect();
    assert_eq!(names, ["my.job", "mycron"]);
    let runs = job_runs(store.as_ref(), "foo", "mycron").await.unwrap();
    let pods: Vec<&str> = runs.iter().map(|r| r.pod.as_str()).collect();
    assert_eq!(pods, [p.cron.0.name.as_str(), p.cron2.0.name.as_str()]);

    for job in ["my.job", "mycron"] {
        let mut want: Vec<&Written> = logs
            .lines
            .iter()
            .filter(|w| w.expect.is_some_and(|e| e.job == job))
            .collect();
        want.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
        let objects = keys
            .iter()
            .filter(|k| layout::parse_object_key(k).unwrap().origin.job == job)
            .count() as u64;

        let got = read_job(store.clone(), "foo", job, Filter::default())
            .await
            .unwrap();
        assert!(
            got.warnings.is_empty(),
            "{job}: warnings {:#?}",
            got.warnings
        );
        let s = &got.stats;
        assert_eq!(
            (s.objects_read, s.out_of_order, s.bad_lines, s.bad_objects),
            (objects, 0, 0, 0),
            "{job}: {s:?}"
        );
        let got_rows: Vec<Row> = got
            .records
            .iter()
            .map(|r| {
                let (pod, container) = (r.pod.as_str(), r.container.as_str());
                let (stream, log) = (r.stream.as_str(), r.log.as_str());
                (
                    r.ts,
                    pod,
                    container,
                    r.off,
                    stream,
                    log,
                    r.container_id.as_str(),
                )
            })
            .collect();
        let want_rows: Vec<Row> = want
            .iter()
            .map(|w| {
                let (pod, container) = (w.pod.as_str(), w.container.as_str());
                let (stream, log) = (w.stream.as_str(), w.log.as_str());
                (
                    w.ts,
                    pod,
                    container,
                    Some(w.off),
                    stream,
                    log,
                    w.container_id.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got_rows, want_rows,
            "{job}: in order (time, then container), each once, ts = the CRI time"
        );
        // Each record keeps its stored JSON line, labels included.
        for (r, w) in got.records.iter().zip(&want) {
            let v: Value = serde_json::from_slice(&r.line).unwrap();
            assert_eq!(v[field::AFTERLOG], w.labels());
        }
    }
}

#[test]
fn fluent_bit_uploads_what_the_reader_reassembles() {
    let started = Instant::now();
    let wasm = require_filter_wasm();
    let tmp = tempfile::Builder::new()
        .prefix("afterlog-s3-")
        .tempdir()
        .unwrap();
    let root = if std::env::var_os(KEEP_ENV).is_some() {
        let kept = tmp.keep();
        eprintln!("keeping {}", kept.display());
        kept
    } else {
        tmp.path().to_path_buf()
    };
    let logs_dir = root.join("logs");
    let meta = root.join("meta");
    let conf = root.join("filter-conf");
    let work = root.join("work");
    let s3_buffer = root.join("s3-buffer");
    for d in [&logs_dir, &meta, &conf, &work, &s3_buffer] {
        fs::create_dir_all(d).unwrap();
    }
    let server = S3Server::start(&[BUCKET]);

    let pods = Pods::new();
    for (p, _) in [&pods.job, &pods.cron, &pods.cron2, &pods.system] {
        p.write_meta(&meta).unwrap();
    }
    let mut logs = Logs {
        dir: logs_dir.clone(),
        lines: Vec::new(),
        phase: 1,
    };
    write_phase1(&mut logs, &pods, now_secs() - 600);
    let tool_lines = |logs: &Logs, phase: u8| {
        logs.lines
            .iter()
            .filter(|w| w.expect.is_some() && w.phase == phase)
            .count()
    };
    let want1 = tool_lines(&logs, 1);

    // ---- Fluent Bit with the drop-in
    let drop_in_path = work.join("afterlog.yaml");
    fs::write(&drop_in_path, drop_in(UPLOAD_TIMEOUT_SECS)).unwrap();
    let config = work.join("fluent-bit.yaml");
    fs::write(&config, main_config(&logs_dir, &meta, &drop_in_path)).unwrap();
    let path = |p: &Path| p.to_string_lossy().into_owned();
    let env = [
        ("AFTERLOG_WASM", path(&wasm)),
        ("AFTERLOG_CONF_DIR", path(&conf)),
        ("AFTERLOG_BUCKET", BUCKET.to_string()),
        ("AFTERLOG_S3_ENDPOINT", server.endpoint()),
        ("AFTERLOG_S3_REGION", REGION.to_string()),
        ("AFTERLOG_S3_STORE_DIR", path(&s3_buffer)),
        ("AWS_ACCESS_KEY_ID", KEY_ID.to_string()),
        ("AWS_SECRET_ACCESS_KEY", SECRET.to_string()),
    ];
    let mut fb = FluentBit::start(&config, &work, &env);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Path-style, as s3s-fs (without `--domain`) and Fluent Bit use it.
    let store: Store = afterlog_reader::open(&StoreConfig {
        endpoint: Some(server.endpoint()),
        region: Some(REGION.into()),
        path_style: true,
        allow_http: true,
        access_key_id: Some(KEY_ID.into()),
        secret_access_key: Some(SECRET.into()),
        ..StoreConfig::new(format!("s3://{BUCKET}"))
    })
    .unwrap();

    // ---- phase 1 ends when the upload timer has put every tool line in the bucket
    let fb_started = Instant::now();
    let mut counted = BTreeMap::new();
    loop {
        fb.check_running();
        let n = rt.block_on(uploaded_records(store.as_ref(), &mut counted));
        assert!(n <= want1, "{n} records uploaded, only {want1} written");
        if n == want1 {
            break;
        }
        assert!(
            fb_started.elapsed() < UPLOAD_DEADLINE,
            "after {UPLOAD_DEADLINE:?} only {n} of {want1} records uploaded ({counted:?})\n\
             --- stderr (tail) ---\n{}",
            fb.stderr_tail()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    eprintln!(
        "phase 1: {want1} records in {} objects {:?} after start",
        counted.len(),
        fb_started.elapsed()
    );

    // ---- phase 2: stop Fluent Bit as soon as the new lines are buffered
    let phase2_wall = now_secs();
    logs.phase = 2;
    write_phase2(&mut logs, &pods, phase2_wall);
    let waiting = Instant::now();
    loop {
        fb.check_running();
        let mut buffered = Vec::new();
        dir_bytes(&s3_buffer, &mut buffered);
        let out = fb.stdout();
        let arrived = |w: &Written| match w.expect {
            Some(_) => contains(&buffered, &w.log),
            None => out.contains(&w.log),
        };
        if logs.lines.iter().filter(|w| w.phase == 2).all(arrived) {
            break;
        }
        assert!(
            waiting.elapsed() < BUFFER_DEADLINE,
            "phase 2 lines did not reach the outputs in {BUFFER_DEADLINE:?}\n\
             --- stderr (tail) ---\n{}",
            fb.stderr_tail()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let stop_wall = now_secs();
    let status = fb.stop();
    eprintln!(
        "phase 2: buffered after {:?}, stopped: {status}",
        waiting.elapsed()
    );
    let stderr = fb.stderr();
    assert!(
        status.success(),
        "fluent-bit: {status}\n--- stderr (tail) ---\n{}",
        fb.stderr_tail()
    );
    let problems = problems(&stderr);
    assert!(
        problems.is_empty(),
        "Fluent Bit complained:\n{}",
        problems.join("\n")
    );

    // ---- what reached the bucket, the node's own output, and the reader
    let keys = check_bucket(&rt, &store, &logs, &stderr, (phase2_wall, stop_wall));
    check_node_output(&fb.stdout(), &logs);
    rt.block_on(check_reader(&store, &logs, &keys, &pods));

    let want2 = tool_lines(&logs, 2);
    eprintln!(
        "{} tool lines ({want1} + {want2}) in {} objects read back in {:?}",
        want1 + want2,
        keys.len(),
        started.elapsed()
    );
}
