//! End to end, all real: CRI log files → the real Fluent Bit 5.1.1 with the
//! drop-in `fluent-bit/afterlog.yaml` (its own `tail`, `kubernetes` filter fed
//! from `kube_meta_preload_cache_dir`, the afterlog wasm filter with the
//! sample `afterlog-filter.json`, `rewrite_tag`, `s3` output) → `s3s-fs` on
//! 127.0.0.1 → the `afterlog serve` binary, asked over HTTP for every job.
//!
//! The drop-in is used as shipped but for what points it at this test: the
//! log path (and so the tag prefix), the kubernetes filter's metadata source,
//! and `upload_timeout` (5m → a few seconds, in both s3 outputs), each
//! replaced exactly where expected in a copy. The filter config is the sample with a small quota for the noisy
//! tool and its state file in the run's state directory.
//!
//! The scenario:
//! 1. lines of a two-container job, a cron run, a web service, a tool that
//!    writes past its quota, partial (`P`) lines, a `kube-system` pod and a
//!    tool's pod opted out by its label; the service must serve each job,
//!    every line once and in order, and nothing of the two others;
//!    the cron job's next run is labelled into the `long-retention` class:
//!    the drop-in's second output stores it under `long-retention/`, and
//!    the service (`--class long-retention=…`) serves the job's two runs,
//!    from two classes, as one log;
//! 2. the web service's container restarts (a new container id, a new file),
//!    the next cron run writes its last line and its log file is deleted at
//!    once; then Fluent Bit is killed (SIGKILL) as soon as the first of these
//!    uploads lands, while the others wait in its buffers;
//! 3. Fluent Bit starts again on the same state (tail positions, filesystem
//!    chunks, the s3 output's buffer, quota state); more lines; the service
//!    must again serve every line exactly once, in order — nothing lost by
//!    the kill, nothing duplicated by the re-sent buffers;
//! 4. lines buffered at a graceful stop (SIGTERM) are uploaded on the way out;
//! 5. the compactor merges everything; the service serves the same.
//!
//! Needs the filter (`scripts/build-filter`), `s3s-fs`
//! (`cargo install s3s-fs --version 0.14.1 --features binary`) and
//! `../shared/bin/fluent-bit` (or `FLUENT_BIT`). `AFTERLOG_KEEP_TMP=1` keeps
//! the run's directory.

use afterlog_compactor::{Compactor, Config as CompactorConfig};
use afterlog_contract::layout::{self, ObjectKind};
use afterlog_contract::record::{self as field, event, label};
use afterlog_contract::{keys, nf};
use afterlog_reader::{Store, StoreConfig};
use afterlog_testkit::{KEY, Proxy, REGION, S3Server, SECRET};
use afterlog_wasm_tests::fluent_bit::{
    Pod, Stream, fluent_bit_path, hex_id, require_filter_wasm, workspace_root,
};
use flate2::read::MultiGzDecoder;
use object_store::ObjectStore;
use object_store::path::Path as StorePath;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const BUCKET: &str = "afterlog";
/// The drop-in's `upload_timeout` for this run.
const UPLOAD_TIMEOUT_SECS: u64 = 6;
/// The longest the service may take to show a phase's lines.
const SERVE_DEADLINE: Duration = Duration::from_secs(90);
/// The longest lines may take to reach the s3 output's buffer.
const BUFFER_DEADLINE: Duration = Duration::from_secs(20);
/// The longest Fluent Bit may take to upload and exit after SIGTERM.
const STOP_DEADLINE: Duration = Duration::from_secs(30);
/// The noisy tool's budget (bytes of output records per window).
const NOISY_QUOTA: u64 = 4096;
const KEEP_ENV: &str = "AFTERLOG_KEEP_TMP";
const NS: u64 = 1_000_000_000;
/// Nothing listens there; with the pods preloaded the filter never asks.
const KUBE_URL: &str = "https://127.0.0.1:9";
const UPLOADED: &str = "Successfully uploaded object ";
const TOKEN: &str = "e2e-secret-token";

fn in_three_hours() -> u64 {
    (now_secs() + 3 * 3600) * NS
}

fn in_five_hours() -> u64 {
    (now_secs() + 5 * 3600) * NS
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

// ---------------------------------------------------------------- processes

/// A child process with its output in files, killed on drop.
struct Proc {
    name: &'static str,
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Proc {
    fn spawn(name: &'static str, mut cmd: Command, dir: &Path, run: usize) -> Proc {
        let stdout = dir.join(format!("{name}-{run}.stdout"));
        let stderr = dir.join(format!("{name}-{run}.stderr"));
        cmd.current_dir(dir)
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
            "AWS_ENDPOINT_URL",
        ] {
            cmd.env_remove(var);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        Proc {
            name,
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

    /// Panics (with the process's last words) if it is no longer running.
    fn check_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "{} exited early ({status})\n--- stderr (tail) ---\n{}",
                self.name,
                self.stderr_tail()
            );
        }
    }

    fn signal(&self, sig: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t");
        // SAFETY: kill(2) of our own child, which has not been reaped yet.
        let r = unsafe { libc::kill(pid, sig) };
        assert_eq!(r, 0, "kill: {}", std::io::Error::last_os_error());
    }

    /// SIGTERM, then waits for it to finish its work and exit.
    fn stop(&mut self) -> ExitStatus {
        self.signal(libc::SIGTERM);
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if start.elapsed() > STOP_DEADLINE {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "{} did not exit within {STOP_DEADLINE:?} of SIGTERM\n--- stderr (tail) ---\n{}",
                    self.name,
                    self.stderr_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: no chance to flush anything.
    fn kill(&mut self) {
        self.signal(libc::SIGKILL);
        let status = self.child.wait().unwrap();
        eprintln!("{} killed: {status}", self.name);
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ------------------------------------------------------------------ configs

fn yq(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn yp(p: &Path) -> String {
    yq(&p.to_string_lossy())
}

/// Replaces the one line whose trimmed text starts with `start` by
/// `with` (same indent; `with` may hold several lines).
fn replace_line(text: &str, start: &str, with: &[String]) -> String {
    replace_lines(text, start, with, 1)
}

/// [`replace_line`] for a setting that is on `n` lines (one per output).
fn replace_lines(text: &str, start: &str, with: &[String], n: usize) -> String {
    let mut out = String::with_capacity(text.len() + 256);
    let mut replaced = 0;
    for line in text.lines() {
        let body = line.trim_start();
        if body.starts_with(start) {
            replaced += 1;
            let indent = &line[..line.len() - body.len()];
            for w in with {
                out.push_str(indent);
                out.push_str(w);
                out.push('\n');
            }
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert_eq!(replaced, n, "the drop-in has {n} lines starting {start:?}");
    out
}

/// The filter's event format: the drop-in's `event_format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Json,
    Msgpack,
}

/// `fluent-bit/afterlog.yaml` pointed at this run's files, in `mode`.
fn drop_in(logs: &Path, meta: &Path, mode: Mode) -> String {
    let src = workspace_root().join("fluent-bit").join("afterlog.yaml");
    let text = fs::read_to_string(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    let prefix = format!(
        "afterlog-src.{}.",
        logs.to_string_lossy().trim_matches('/').replace('/', ".")
    );
    let text = replace_line(
        &text,
        "path: /var/log/containers/*.log",
        &[format!("path: {}", yp(&logs.join("*.log")))],
    );
    let text = replace_line(
        &text,
        "kube_tag_prefix:",
        &[
            format!("kube_tag_prefix: {}", yq(&prefix)),
            format!("kube_url: {KUBE_URL}"),
            format!("kube_meta_preload_cache_dir: {}", yp(meta)),
        ],
    );
    let text = replace_line(
        &text,
        "event_format:",
        &[match mode {
            Mode::Json => "event_format: json".to_string(),
            Mode::Msgpack => "event_format: msgpack".to_string(),
        }],
    );
    // Both s3 outputs: the default class's and long-retention's.
    replace_lines(
        &text,
        "upload_timeout:",
        &[format!("upload_timeout: {UPLOAD_TIMEOUT_SECS}s")],
        2,
    )
}

/// The node's main config: what the drop-in requires (`storage.path`), the
/// node's own pipeline (every container line to `stdout`), the include.
fn main_config(logs: &Path, storage: &Path, drop_in: &Path) -> String {
    format!(
        "service:
  flush: 1
  grace: 5
  log_level: info
  storage.path: {storage}
pipeline:
  inputs:
    - name: tail
      path: {path}
      tag: 'kube.*'
      multiline.parser: cri
      offset_key: 'off'
      read_from_head: true
      refresh_interval: 1
  outputs:
    - name: stdout
      match: 'kube.*'
      format: json_lines
includes:
  - {drop_in}
",
        storage = yp(storage),
        path = yp(&logs.join("*.log")),
        drop_in = yp(drop_in),
    )
}

/// The sample filter config with the noisy tool's quota made small and the
/// quota state in `state`.
fn filter_config(state: &Path) -> String {
    let src = workspace_root()
        .join("fluent-bit")
        .join("afterlog-filter.json");
    let text = fs::read_to_string(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    let mut v: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    v["quota"]["tools"] = json!({"noisy-tool": {"bytes": NOISY_QUOTA, "window_seconds": 3600}});
    // One more rule before the sample's: a pod can be put in the
    // long-retention class by a label, so a job's runs span two classes.
    let routes = v["routes"].as_array_mut().expect("the sample has routes");
    routes.insert(
        0,
        json!({"match": {"labels": {"afterlog.io/retain": "long"}}, "action": "class", "class": LONG}),
    );
    v["state_file"] = json!(state.join("afterlog-quota.state"));
    serde_json::to_string_pretty(&v).unwrap()
}

// ----------------------------------------------------------------- fixtures

/// The second routing class of the drop-in (and the sample filter config).
const LONG: &str = "long-retention";

/// What the filter must derive for a tool's pod.
#[derive(Clone, Copy, Debug)]
struct Expect {
    tool: &'static str,
    job: &'static str,
    kind: &'static str,
    /// The routing class.
    class: &'static str,
}

type PodOf = (Pod, Option<Expect>);

/// One logical line written to a container log.
#[derive(Clone, Debug)]
struct Written {
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
    fn order_key(&self) -> (u64, &str, u64) {
        (self.ts, &self.container_id, self.off)
    }

    /// The exact `afterlog` object of the record.
    fn labels(&self) -> Value {
        let e = self.expect.expect("a tool's line");
        let route = [
            e.class,
            e.tool,
            e.job,
            self.pod.as_str(),
            self.container.as_str(),
        ]
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
            label::CLASS: e.class,
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
        pod: &PodOf,
        container: &str,
        ts: u64,
        off: u64,
        s: Stream,
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
            stream: s,
            log,
            phase: self.phase,
        }
    }

    fn line(&mut self, pod: &PodOf, container: &str, ts: u64, stream: Stream, text: &str) {
        let mut log = pod.0.log(&self.dir, container).unwrap();
        let off = log.line(ts, stream, text).unwrap();
        log.flush().unwrap();
        let w = self.written(pod, container, ts, off, stream, text.into());
        self.lines.push(w);
    }

    /// A line the runtime cut into `P` parts (1 ns apart) and a final `F`;
    /// the joined record keeps the first part's time and the last part's offset.
    fn partial(&mut self, pod: &PodOf, container: &str, ts: u64, stream: Stream, parts: &[&str]) {
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

    fn tool_lines(&self, tool: &str, job: &str) -> Vec<&Written> {
        let mut v: Vec<&Written> = self
            .lines
            .iter()
            .filter(|w| w.expect.is_some_and(|e| e.tool == tool && e.job == job))
            .collect();
        v.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
        v
    }
}

/// A time `i` seconds after `base_secs`, with whole, short and full
/// nanosecond fractions mixed.
fn tick(base_secs: u64, i: u64) -> u64 {
    (base_secs + i) * NS + [0, 500_000_000, 123_456_789, 2][(i % 4) as usize]
}

/// The pod after its container `name` restarted: a new id, a new log file.
fn restarted(pod: &Pod, name: &str) -> Pod {
    let mut p = pod.clone();
    let c = p
        .containers
        .iter_mut()
        .find(|c| c.name == name)
        .expect("container");
    c.id = hex_id(&format!("{}/restart", c.id));
    p
}

struct Pods {
    /// A one-off job with two containers; its name needs key encoding.
    job: PodOf,
    /// A cron job's run, and its next run (whose log file is deleted),
    /// labelled into the long-retention class: the job spans two classes.
    cron: PodOf,
    cron2: PodOf,
    /// Another tool's web service, and the same pod after a restart.
    web: PodOf,
    web2: PodOf,
    /// A tool with a tiny quota that writes far past it.
    noisy: PodOf,
    /// Not a tool: must stay out of the bucket.
    system: PodOf,
    /// A tool's pod opted out by its label (a routing rule): not collected.
    opted_out: PodOf,
}

impl Pods {
    fn new() -> Pods {
        let cron = Some(Expect {
            tool: "foo",
            job: "mycron",
            kind: "cronjob",
            class: "default",
        });
        let web = Pod::new("tool-bar", "web-7d9f8b6c5d-x2x4z")
            .label("app.kubernetes.io/name", "web")
            .label("app.kubernetes.io/component", "web")
            .label("pod-template-hash", "7d9f8b6c5d")
            .node("node-3")
            .container("webservice");
        let web_expect = Some(Expect {
            tool: "bar",
            job: "web",
            kind: "webservice",
            class: "default",
        });
        Pods {
            job: (
                Pod::new("tool-foo", "my.job-x7k2p")
                    .label("app.kubernetes.io/managed-by", "toolforge-jobs-framework")
                    .label("app.kubernetes.io/name", "my.job")
                    .label("job-name", "my.job")
                    .container("job")
                    .container("sidecar"),
                Some(Expect {
                    tool: "foo",
                    job: "my.job",
                    kind: "job",
                    class: "default",
                }),
            ),
            cron: (
                Pod::new("tool-foo", "mycron-28889999-k7p2q")
                    .label("batch.kubernetes.io/job-name", "mycron-28889999")
                    .label("job-name", "mycron-28889999")
                    .node("node-2")
                    .container("job"),
                cron,
            ),
            cron2: (
                Pod::new("tool-foo", "mycron-28890000-q9z8x")
                    .label("batch.kubernetes.io/job-name", "mycron-28890000")
                    .label("job-name", "mycron-28890000")
                    .label("afterlog.io/retain", "long")
                    .container("job"),
                cron.map(|e| Expect { class: LONG, ..e }),
            ),
            web2: (restarted(&web, "webservice"), web_expect),
            web: (web, web_expect),
            noisy: (
                Pod::new("tool-noisy-tool", "spam-q7x2z")
                    .label("job-name", "spam")
                    .container("spam"),
                Some(Expect {
                    tool: "noisy-tool",
                    job: "spam",
                    kind: "job",
                    class: "default",
                }),
            ),
            system: (
                Pod::new("kube-system", "coredns-5d78c9869d-q2x8m")
                    .label("k8s-app", "kube-dns")
                    .label("pod-template-hash", "5d78c9869d")
                    .container("coredns"),
                None,
            ),
            opted_out: (
                Pod::new("tool-foo", "private-x7k2p")
                    .label("job-name", "private")
                    .label("afterlog.io/collect", "false")
                    .container("job"),
                None,
            ),
        }
    }

    /// (tool, job) of every tool job in the scenario.
    const JOBS: [(&'static str, &'static str); 4] = [
        ("foo", "my.job"),
        ("foo", "mycron"),
        ("bar", "web"),
        ("noisy-tool", "spam"),
    ];
}

/// Ten minutes ago: containers interleaved, equal times across containers,
/// both streams, a line cut into parts, escapes, a tool over its quota.
fn write_phase1(logs: &mut Logs, p: &Pods, base: u64) {
    use Stream::{Stderr, Stdout};
    let t = |i| tick(base, i);
    logs.line(&p.job, "job", t(1), Stdout, "starting my.job run 1");
    logs.line(&p.job, "sidecar", t(1), Stdout, "sidecar: proxy up");
    logs.line(&p.system, "coredns", t(2), Stdout, "coredns: query a");
    logs.line(&p.opted_out, "job", t(2), Stdout, "private: not collected");
    logs.line(&p.job, "job", t(2), Stderr, "warning: cache cold");
    let parts = ["partial one, ", "partial two, ", "partial three"];
    logs.partial(&p.job, "job", t(3), Stderr, &parts);
    logs.line(&p.job, "sidecar", t(3), Stdout, "sidecar: tick 3");
    let text = "unicode: café ü 日本 😀 \"quoted\" back\\slash\ttab / slash";
    logs.line(&p.job, "job", t(4), Stdout, text);
    logs.line(
        &p.web,
        "webservice",
        t(4),
        Stdout,
        "web: listening on :8000",
    );
    logs.line(&p.job, "sidecar", t(5), Stderr, "sidecar: upstream slow");
    logs.line(&p.job, "job", t(6), Stdout, r#"{"json": "inside", "n": 1}"#);
    for i in 0..5 {
        let stream = if i % 2 == 0 { Stdout } else { Stderr };
        let text = format!("mycron run 28889999 line {i}");
        logs.line(&p.cron, "job", t(7 + i), stream, &text);
    }
    logs.line(&p.web, "webservice", t(8), Stderr, "web: GET / 200");
    // One second, so one quota window whatever the clock says.
    let filler = "x".repeat(150);
    for i in 0..40 {
        let text = format!("spam line {i:02} {filler}");
        logs.line(&p.noisy, "spam", base * NS + i * 1000, Stdout, &text);
    }
    logs.line(&p.system, "coredns", t(9), Stderr, "coredns: query b");
    logs.line(
        &p.opted_out,
        "job",
        t(9),
        Stderr,
        "private: still not collected",
    );
    logs.line(&p.job, "job", t(12), Stdout, "job done");
}

// ---------------------------------------------------------------- the store

/// The raw objects of both classes: `raw/…` (default) and `long-retention/raw/…`.
async fn all_raw_keys(store: &dyn ObjectStore) -> Vec<String> {
    let mut keys = list_keys(store, layout::RAW).await;
    keys.extend(list_keys(store, &format!("{LONG}/{}", layout::RAW)).await);
    keys
}

/// Every key under `prefix`.
async fn list_keys(store: &dyn ObjectStore, prefix: &str) -> Vec<String> {
    use futures::TryStreamExt;
    let mut keys: Vec<String> = store
        .list(Some(&StorePath::from(prefix)))
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("LIST {prefix}: {e}"));
    keys.sort();
    keys
}

async fn get(store: &dyn ObjectStore, key: &str) -> Vec<u8> {
    use object_store::ObjectStoreExt;
    let got = store
        .get(&StorePath::from(key))
        .await
        .unwrap_or_else(|e| panic!("GET {key}: {e}"));
    got.bytes().await.unwrap().to_vec()
}

fn gunzip(body: &[u8]) -> std::io::Result<String> {
    let mut text = String::new();
    MultiGzDecoder::new(body).read_to_string(&mut text)?;
    Ok(text)
}

/// All bytes of the files under `dir`.
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

fn count_files(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            if e.path().is_dir() {
                count_files(&e.path())
            } else {
                1
            }
        })
        .sum()
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Waits until `text` sits in a file under `dir` (Fluent Bit has read it).
fn wait_buffered(fb: &mut Proc, dir: &Path, text: &str) {
    let start = Instant::now();
    loop {
        fb.check_running();
        let mut bytes = Vec::new();
        dir_bytes(dir, &mut bytes);
        if contains(&bytes, text) {
            return;
        }
        assert!(
            start.elapsed() < BUFFER_DEADLINE,
            "{text:?} did not reach {} in {BUFFER_DEADLINE:?}\n--- stderr (tail) ---\n{}",
            dir.display(),
            fb.stderr_tail()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Checks every raw object against what was written: layout, gzip JSON
/// lines, exactly the filter's fields and labels, only tool lines, key time
/// not before the first record. Returns (objects, log records, distinct ones).
async fn check_bucket(store: &dyn ObjectStore, logs: &Logs, mode: Mode) -> (usize, usize, usize) {
    let by_place: BTreeMap<(&str, &str, u64, u64), &Written> = logs
        .lines
        .iter()
        .map(|w| {
            (
                (w.container_id.as_str(), w.container.as_str(), w.ts, w.off),
                w,
            )
        })
        .collect();
    let fields: BTreeSet<&str> = [
        field::TS,
        field::OFF,
        field::STREAM,
        field::LOG,
        field::AFTERLOG,
    ]
    .into();
    let keys = all_raw_keys(store).await;
    let (mut records, mut distinct) = (0, BTreeSet::new());
    for full_key in &keys {
        // Each class's objects under its own prefix (the drop-in's outputs).
        let (class, key) = match full_key.strip_prefix(&format!("{LONG}/")) {
            Some(k) => (LONG, k),
            None => ("default", full_key.as_str()),
        };
        let parsed = layout::parse_object_key(key)
            .unwrap_or_else(|e| panic!("{key} is not in the layout: {e}"));
        let ObjectKind::Raw { first_secs, uuid } = &parsed.kind else {
            panic!("{key} is not a raw key");
        };
        assert_eq!(&parsed.origin.raw_key(*first_secs, uuid), key, "canonical");
        let body = get(store, full_key).await;
        let text = gunzip(&body).unwrap_or_else(|e| panic!("{key}: {e}"));
        assert!(text.ends_with('\n'), "{key}: JSON lines end with a newline");
        let mut first_ts = None;
        for line in text.lines() {
            let rec: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{key}: {e}: {line}"));
            // The msgpack mode's records are NF1: the reader decodes them.
            assert_eq!(
                nf::is_nf_line(line.as_bytes()),
                mode == Mode::Msgpack,
                "{key}: {line}"
            );
            let rec = if mode == Mode::Msgpack {
                nf::decode_record(rec).unwrap_or_else(|e| panic!("{key}: {e}: {line}"))
            } else {
                rec
            };
            let afterlog = &rec[field::AFTERLOG];
            let ts = rec[field::TS].as_u64().expect("ts");
            let off = rec[field::OFF].as_u64().expect("off");
            first_ts.get_or_insert(ts);
            if afterlog.get(label::EVENT).is_some() {
                assert_eq!(afterlog[label::TOOL], "noisy-tool", "{key}: {line}");
                continue;
            }
            let got: BTreeSet<&str> = rec
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(got, fields, "{key}: fields of {line}");
            let cid = afterlog[label::CONTAINER_ID]
                .as_str()
                .expect("container_id");
            let place = (cid, parsed.origin.container.as_str(), ts, off);
            let w = by_place
                .get(&place)
                .unwrap_or_else(|| panic!("{key}: a record nobody wrote: {line}"));
            assert!(w.expect.is_some(), "{key}: a non-tool line was uploaded");
            assert_eq!(rec[field::LOG], w.log.as_str(), "{key}: {line}");
            assert_eq!(rec[field::STREAM], w.stream.as_str(), "{key}: {line}");
            assert_eq!(*afterlog, w.labels(), "{key}: {line}");
            assert_eq!(
                afterlog[label::CLASS],
                class,
                "{full_key}: stored by its class's output"
            );
            records += 1;
            distinct.insert((cid.to_string(), ts, off));
        }
        let first_ts = first_ts.unwrap_or_else(|| panic!("{key} is empty"));
        // Timer uploads are keyed by the first record's time, shutdown and
        // restart uploads later (docs/fluent-bit-facts.md): never earlier.
        assert!(
            u64::try_from(*first_secs).unwrap() >= first_ts / NS,
            "{key}: keyed before its first record ({first_ts})"
        );
    }
    (keys.len(), records, distinct.len())
}

// -------------------------------------------------------------- the service

/// `afterlog serve` over the bucket, token auth, no background compaction.
struct Service {
    _proc: Proc,
    base: String,
    http: reqwest::Client,
}

impl Service {
    fn start(dir: &Path, endpoint: &str, run: usize) -> Service {
        let tokens = dir.join("tokens.json");
        let entry = json!({"tokens": [{"name": "e2e", "sha256": afterlog::auth::hash_token(TOKEN),
            "tools": ["foo", "bar", "noisy-tool"]}]});
        fs::write(&tokens, entry.to_string()).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_afterlog"));
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--auth", "token"])
            .arg("--tokens")
            .arg(&tokens)
            .args([
                "--store",
                &format!("s3://{BUCKET}"),
                "--class",
                &format!("{LONG}=s3://{BUCKET}/{LONG}"),
                "--s3-endpoint",
                endpoint,
            ])
            .args(["--s3-region", REGION, "--compact-every-minutes", "0"])
            .env("AWS_ACCESS_KEY_ID", KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info");
        let mut proc = Proc::spawn("afterlog", cmd, dir, run);
        let start = Instant::now();
        let addr = loop {
            proc.check_running();
            let err = strip_ansi(&proc.stderr());
            if let Some(at) = err.find("addr=") {
                let rest = &err[at + 5..];
                break rest.split_whitespace().next().unwrap().to_string();
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "afterlog serve did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        Service {
            _proc: proc,
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
        }
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = r.status().as_u16();
        (status, r.text().await.unwrap())
    }

    async fn json(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    /// The job's records as the service streams them (ndjson); `Err` with
    /// the reason when it is not a clean 200.
    async fn records(&self, tool: &str, job: &str) -> Result<Vec<Value>, String> {
        // Names in the scenario are URL-safe as they are.
        let path = format!("/v1/tool/{tool}/jobs/{job}/logs?format=ndjson");
        let (status, body) = self.get(&path).await;
        if status != 200 {
            return Err(format!("GET {path}: {status} {body}"));
        }
        let mut out = Vec::new();
        for line in body.lines() {
            let v: Value = serde_json::from_str(line).map_err(|e| format!("{e}: {line}"))?;
            if v.get("messages").is_some() {
                return Err(format!("GET {path}: {line}"));
            }
            out.push(v);
        }
        Ok(out)
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// What the service must return for a job: `Ok` when it does, else why not.
fn compare(tool: &str, job: &str, got: &[Value], logs: &Logs) -> Result<(), String> {
    let want = logs.tool_lines(tool, job);
    if tool == "noisy-tool" {
        return compare_noisy(got, &want);
    }
    let row = |v: &Value| {
        let a = &v[field::AFTERLOG];
        (
            v[field::TS].as_u64().unwrap_or(0),
            a[label::CONTAINER_ID].as_str().unwrap_or("").to_string(),
            v[field::OFF].as_u64().unwrap_or(0),
            v[field::STREAM].as_str().unwrap_or("").to_string(),
            v[field::LOG].as_str().unwrap_or("").to_string(),
        )
    };
    let got_rows: Vec<_> = got.iter().map(row).collect();
    let want_rows: Vec<_> = want
        .iter()
        .map(|w| {
            (
                w.ts,
                w.container_id.clone(),
                w.off,
                w.stream.as_str().to_string(),
                w.log.clone(),
            )
        })
        .collect();
    if got_rows != want_rows {
        let missing: Vec<_> = want_rows.iter().filter(|r| !got_rows.contains(r)).collect();
        let extra: Vec<_> = got_rows.iter().filter(|r| !want_rows.contains(r)).collect();
        return Err(format!(
            "{tool}/{job}: {} records, want {}; missing {missing:?}; unexpected {extra:?}; \
             in order: {}",
            got_rows.len(),
            want_rows.len(),
            got_rows
                .windows(2)
                .all(|w| (w[0].0, &w[0].1, w[0].2) <= (w[1].0, &w[1].1, w[1].2))
        ));
    }
    for (v, w) in got.iter().zip(&want) {
        if v[field::AFTERLOG] != w.labels() {
            return Err(format!("{tool}/{job}: labels of {v} (want {})", w.labels()));
        }
    }
    Ok(())
}

/// A tool over quota: a prefix of its lines, then the marker, nothing more.
fn compare_noisy(got: &[Value], want: &[&Written]) -> Result<(), String> {
    let Some((marker, kept)) = got.split_last() else {
        return Err("noisy-tool/spam: nothing yet".into());
    };
    let a = &marker[field::AFTERLOG];
    if a[label::EVENT] != event::QUOTA_EXCEEDED {
        return Err(format!(
            "noisy-tool/spam: last record is not the marker: {marker}"
        ));
    }
    if a[label::TOOL] != "noisy-tool" || a[label::JOB] != "spam" {
        return Err(format!("noisy-tool/spam: marker labels: {marker}"));
    }
    if kept.is_empty() || kept.len() >= want.len() {
        return Err(format!(
            "noisy-tool/spam: {} lines kept of {}",
            kept.len(),
            want.len()
        ));
    }
    for (v, w) in kept.iter().zip(want) {
        if v[field::LOG] != w.log.as_str() || v[field::AFTERLOG] != w.labels() {
            return Err(format!("noisy-tool/spam: {v} is not {w:?}"));
        }
    }
    Ok(())
}

/// Polls the service until every job is served exactly as written.
async fn wait_served(svc: &Service, logs: &Logs, mut fb: Option<&mut Proc>, what: &str) {
    let start = Instant::now();
    loop {
        if let Some(fb) = fb.as_deref_mut() {
            fb.check_running();
        }
        let mut problems = Vec::new();
        for (tool, job) in Pods::JOBS {
            match svc.records(tool, job).await {
                Ok(got) => {
                    if let Err(e) = compare(tool, job, &got, logs) {
                        problems.push(e);
                    }
                }
                Err(e) => problems.push(e),
            }
        }
        if problems.is_empty() {
            eprintln!("{what}: served as written after {:?}", start.elapsed());
            return;
        }
        assert!(
            start.elapsed() < SERVE_DEADLINE,
            "{what}: after {SERVE_DEADLINE:?} the service still differs:\n{}\n\
             --- fluent-bit stderr (tail) ---\n{}",
            problems.join("\n"),
            fb.as_deref().map(Proc::stderr_tail).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// `[error]` and `[ warn]` lines of Fluent Bit, minus the kubernetes
/// filter's complaints about having no service account.
fn problems(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| {
            l.contains("[error]") || l.contains("[ warn]") || l.contains("[afterlog filter]")
        })
        .filter(|l| {
            // The scenario deletes a log file right after its last line:
            // tail may then fail to stat it (`tail_file.c … errno=2`), after
            // having read it to the end (the test checks the last line).
            let deleted_file = l.contains("in_tail/tail_file.c") && l.contains("errno=2");
            !(deleted_file
                || l.contains("[tls]")
                || l.contains("serviceaccount")
                || l.contains("[filter:kubernetes")
                || l.contains("[imds]")
                || l.contains("service will shutdown"))
        })
        .collect()
}

/// The keys Fluent Bit says it uploaded.
fn logged_uploads(stderr: &str) -> BTreeSet<String> {
    stderr
        .lines()
        .filter_map(|l| l.find(UPLOADED).map(|at| &l[at + UPLOADED.len()..]))
        .map(|k| k.trim().trim_start_matches('/').to_string())
        .collect()
}

// --------------------------------------------------------------------- test

struct Dirs {
    logs: PathBuf,
    meta: PathBuf,
    conf: PathBuf,
    state: PathBuf,
    storage: PathBuf,
    work: PathBuf,
}

impl Dirs {
    fn new(root: PathBuf) -> Dirs {
        let d = Dirs {
            logs: root.join("logs"),
            meta: root.join("meta"),
            conf: root.join("filter-conf"),
            state: root.join("state"),
            storage: root.join("flb-storage"),
            work: root.join("work"),
        };
        for p in [&d.logs, &d.meta, &d.conf, &d.state, &d.storage, &d.work] {
            fs::create_dir_all(p).unwrap();
        }
        d
    }
}

fn start_fluent_bit(d: &Dirs, wasm: &Path, endpoint: &str, run: usize) -> Proc {
    let mut cmd = Command::new(fluent_bit_path().unwrap());
    cmd.arg("-c").arg(d.work.join("fluent-bit.yaml"));
    let path = |p: &Path| p.to_string_lossy().into_owned();
    for (k, v) in [
        ("AFTERLOG_WASM", path(wasm)),
        ("AFTERLOG_CONF_DIR", path(&d.conf)),
        ("AFTERLOG_STATE_DIR", path(&d.state)),
        ("AFTERLOG_BUCKET", BUCKET.to_string()),
        ("AFTERLOG_S3_ENDPOINT", endpoint.to_string()),
        ("AFTERLOG_S3_REGION", REGION.to_string()),
        ("AWS_ACCESS_KEY_ID", KEY.to_string()),
        ("AWS_SECRET_ACCESS_KEY", SECRET.to_string()),
    ] {
        cmd.env(k, v);
    }
    Proc::spawn("fluent-bit", cmd, &d.work, run)
}

#[test]
fn fluent_bit_to_the_service_survives_a_kill() {
    scenario(Mode::Json);
}

/// The same with `event_format: msgpack`: the filter answers in NF1, the
/// s3 output stores that as JSON, and the service serves the very records
/// of the JSON mode (every check below is the same).
#[test]
fn the_msgpack_mode_stores_what_the_json_mode_does() {
    scenario(Mode::Msgpack);
}

fn scenario(mode: Mode) {
    let started = Instant::now();
    let wasm = require_filter_wasm();
    let tmp = tempfile::Builder::new()
        .prefix(&format!("afterlog-e2e-{mode:?}-"))
        .tempdir()
        .unwrap();
    let root = if std::env::var_os(KEEP_ENV).is_some() {
        let kept = tmp.keep();
        eprintln!("keeping {}", kept.display());
        kept
    } else {
        tmp.path().to_path_buf()
    };
    let d = Dirs::new(root);
    let server = S3Server::start(&[BUCKET]);
    let endpoint = server.endpoint();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let open = |url: String| -> Store {
        afterlog_reader::open(&StoreConfig {
            endpoint: Some(endpoint.clone()),
            region: Some(REGION.into()),
            path_style: true,
            allow_http: true,
            access_key_id: Some(KEY.into()),
            secret_access_key: Some(SECRET.into()),
            ..StoreConfig::new(url)
        })
        .unwrap()
    };
    // The bucket, and the long-retention class's store within it.
    let store = open(format!("s3://{BUCKET}"));
    let long_store = open(format!("s3://{BUCKET}/{LONG}"));

    let pods = Pods::new();
    for (p, _) in [
        &pods.job,
        &pods.cron,
        &pods.cron2,
        &pods.web,
        &pods.noisy,
        &pods.system,
        &pods.opted_out,
    ] {
        p.write_meta(&d.meta).unwrap();
    }
    fs::write(d.conf.join("afterlog-filter.json"), filter_config(&d.state)).unwrap();
    let drop_in_path = d.work.join("afterlog.yaml");
    fs::write(&drop_in_path, drop_in(&d.logs, &d.meta, mode)).unwrap();
    fs::write(
        d.work.join("fluent-bit.yaml"),
        main_config(&d.logs, &d.storage, &drop_in_path),
    )
    .unwrap();

    let mut logs = Logs {
        dir: d.logs.clone(),
        lines: Vec::new(),
        phase: 1,
    };
    write_phase1(&mut logs, &pods, now_secs() - 600);

    let svc = Service::start(&d.work, &endpoint, 1);
    let upstream: SocketAddr = endpoint.trim_start_matches("http://").parse().unwrap();
    let proxy = Proxy::start(upstream);
    let mut fb = start_fluent_bit(&d, &wasm, &proxy.endpoint(), 1);

    // ---- phase 1: everything written is served
    rt.block_on(wait_served(&svc, &logs, Some(&mut fb), "phase 1"));
    let jobs = rt.block_on(svc.json("/v1/tool/foo/jobs"));
    let names: Vec<&str> = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["my.job", "mycron"], "{jobs}");
    let (status, body) = rt.block_on(svc.get("/v1/tool/kube-system/jobs"));
    assert_eq!(status, 403, "a tool the token is not for: {body}");
    let node_phase1 = fb.stdout();

    // ---- phase 2: a restart, a deleted file, then SIGKILL at the first upload
    use Stream::{Stderr, Stdout};
    logs.phase = 2;
    let base2 = now_secs() - 60;
    let t = |i| tick(base2, i);
    let raw_before = rt.block_on(all_raw_keys(store.as_ref())).len();
    logs.line(
        &pods.cron2,
        "job",
        t(1),
        Stdout,
        "mycron run 28890000 line 0",
    );
    logs.line(
        &pods.cron2,
        "job",
        t(2),
        Stderr,
        "mycron run 28890000 line 1",
    );
    // Tail has the file open once its lines are in the s3 output's buffer.
    wait_buffered(&mut fb, &d.state, "mycron run 28890000 line 1");
    logs.line(
        &pods.cron2,
        "job",
        t(3),
        Stdout,
        "mycron run 28890000 last line",
    );
    let cron2_file = d.logs.join(pods.cron2.0.log_file_name("job"));
    fs::remove_file(&cron2_file).unwrap();

    logs.line(
        &pods.web2,
        "webservice",
        t(4),
        Stdout,
        "web: restarted, listening",
    );
    logs.line(
        &pods.job,
        "job",
        t(4),
        Stdout,
        "phase 2: my.job keeps going",
    );
    logs.line(
        &pods.job,
        "sidecar",
        t(5),
        Stdout,
        "phase 2: sidecar still up",
    );
    logs.line(
        &pods.system,
        "coredns",
        t(5),
        Stdout,
        "coredns: phase 2 query",
    );
    logs.line(
        &pods.web2,
        "webservice",
        t(6),
        Stderr,
        "web: GET /health 200",
    );
    let phase2: Vec<String> = logs
        .lines
        .iter()
        .filter(|w| w.phase == 2 && w.expect.is_some())
        .map(|w| w.log.clone())
        .collect();
    for text in &phase2 {
        wait_buffered(&mut fb, &d.state, text);
    }
    // All of phase 2 waits in the s3 output's buffer; the next upload is
    // stored but its answer withheld, and Fluent Bit dies waiting for it.
    proxy.withhold_next_response();
    let waiting = Instant::now();
    while proxy.withheld() == 0 {
        fb.check_running();
        assert!(
            waiting.elapsed() < SERVE_DEADLINE,
            "no phase 2 upload in {SERVE_DEADLINE:?}\n{}",
            fb.stderr_tail()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    fb.kill();
    let raw_at_kill = rt.block_on(all_raw_keys(store.as_ref())).len();
    assert!(
        raw_at_kill > raw_before,
        "the withheld upload is in the bucket"
    );
    eprintln!(
        "killed in an upload {:?} into phase 2: {} new objects in the bucket, {} files in the s3 buffer",
        waiting.elapsed(),
        raw_at_kill - raw_before,
        count_files(&d.state.join("s3")),
    );
    let first_run_stderr = fb.stderr();

    // ---- phase 3: the same node state, a new Fluent Bit, more lines
    logs.phase = 3;
    let mut fb = start_fluent_bit(&d, &wasm, &proxy.endpoint(), 2);
    let base3 = now_secs() - 30;
    let t = |i| tick(base3, i);
    logs.line(&pods.job, "job", t(1), Stdout, "phase 3: after the restart");
    logs.line(
        &pods.web2,
        "webservice",
        t(2),
        Stdout,
        "web: GET / 200 again",
    );
    logs.line(&pods.job, "sidecar", t(3), Stderr, "phase 3: sidecar done");
    rt.block_on(wait_served(&svc, &logs, Some(&mut fb), "after the kill"));

    // A graceful stop with lines still in the buffers: Fluent Bit uploads
    // them on its way out.
    logs.phase = 4;
    logs.line(&pods.web2, "webservice", t(4), Stdout, "web: shutting down");
    logs.line(&pods.job, "job", t(5), Stdout, "phase 4: last words");
    for text in ["web: shutting down", "phase 4: last words"] {
        wait_buffered(&mut fb, &d.state, text);
    }
    let status = fb.stop();
    assert!(
        status.success(),
        "fluent-bit: {status}\n{}",
        fb.stderr_tail()
    );
    rt.block_on(wait_served(&svc, &logs, None, "after a graceful stop"));
    let second_run_stderr = fb.stderr();
    for (run, err) in [(1, &first_run_stderr), (2, &second_run_stderr)] {
        let p = problems(err);
        assert!(
            p.is_empty(),
            "Fluent Bit run {run} complained:\n{}",
            p.join("\n")
        );
    }
    // What Fluent Bit logged as uploaded is in the bucket (a PUT that landed
    // just before the kill may have gone unlogged).
    let raw_keys: BTreeSet<String> = rt
        .block_on(all_raw_keys(store.as_ref()))
        .into_iter()
        .collect();
    let logged: BTreeSet<String> = logged_uploads(&first_run_stderr)
        .union(&logged_uploads(&second_run_stderr))
        .cloned()
        .collect();
    assert!(
        logged.is_subset(&raw_keys),
        "logged uploads missing from the bucket: {:?}",
        logged.difference(&raw_keys).collect::<Vec<_>>()
    );
    let (objects, records, distinct) = rt.block_on(check_bucket(store.as_ref(), &logs, mode));
    eprintln!(
        "bucket: {objects} objects, {records} records ({} repeated), read back once each",
        records - distinct
    );
    assert!(
        records > distinct,
        "the upload withheld at the kill is sent again after the restart"
    );

    // The cron job's runs and the restarted container's two ids.
    let cron = rt.block_on(svc.json("/v1/tool/foo/jobs/mycron"));
    let runs: Vec<&str> = cron["job"]["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["pod"].as_str().unwrap())
        .collect();
    assert_eq!(
        runs,
        [pods.cron.0.name.as_str(), pods.cron2.0.name.as_str()],
        "{cron}"
    );
    let web = rt.block_on(svc.json("/v1/tool/bar/jobs/web"));
    let ids = &web["job"]["runs"][0]["containers"][0]["container_ids"];
    let want_ids = json!([
        pods.web.0.container_id("webservice"),
        pods.web2.0.container_id("webservice")
    ]);
    let mut got_ids: Vec<&str> = ids
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    got_ids.sort();
    let mut want_sorted: Vec<&str> = want_ids
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    want_sorted.sort();
    assert_eq!(got_ids, want_sorted, "{web}");

    // The node's own pipeline saw every line of phase 1, none labelled.
    let mut node_logs = BTreeSet::new();
    for line in node_phase1.lines().filter(|l| l.starts_with('{')) {
        let rec: Value = serde_json::from_str(line).unwrap();
        assert!(rec.get(field::AFTERLOG).is_none(), "labelled: {line}");
        node_logs.insert(rec[field::LOG].as_str().unwrap_or_default().to_string());
    }
    for w in logs.lines.iter().filter(|w| w.phase == 1) {
        assert!(
            node_logs.contains(&w.log),
            "the node's own output lacks {:?}",
            w.log
        );
    }

    // ---- phase 4: compaction merges it all; the service serves the same.
    // Three hours on every upload has settled; two hours later the consumed
    // raw objects are past their grace period (the CLI itself is run by
    // tests/compact_demo.rs).
    let before: Vec<Vec<Value>> = Pods::JOBS
        .iter()
        .map(|(t, j)| rt.block_on(svc.records(t, j)).unwrap())
        .collect();
    for (pass, clock) in [in_three_hours as fn() -> u64, in_five_hours]
        .into_iter()
        .enumerate()
    {
        // Each class's store on its own, as `afterlog compact` does.
        for (class, store) in [
            (afterlog_compactor::DEFAULT_CLASS, store.clone()),
            (LONG, long_store.clone()),
        ] {
            let c = Compactor {
                store,
                class: class.into(),
                config: CompactorConfig::default(),
                holder: "e2e".into(),
                clock,
                stop: Default::default(),
            };
            let report = rt.block_on(c.pass()).unwrap();
            eprintln!("compaction pass {pass} of class {class}: {report}");
        }
    }
    let raw_left = rt.block_on(all_raw_keys(store.as_ref()));
    assert!(
        raw_left.is_empty(),
        "raw objects left after compaction: {raw_left:?}"
    );
    for s in [&store, &long_store] {
        assert!(
            !rt.block_on(list_keys(s.as_ref(), layout::CHUNKS))
                .is_empty()
        );
    }
    for ((tool, job), was) in Pods::JOBS.iter().zip(&before) {
        let now = rt.block_on(svc.records(tool, job)).unwrap();
        assert_eq!(&now, was, "{tool}/{job}: the same after compaction");
    }
    drop(svc);
    eprintln!(
        "{} lines written, served exactly once through a kill and a compaction, in {:?}",
        logs.lines.len(),
        started.elapsed()
    );
}
