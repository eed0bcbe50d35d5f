//! `bench-scale`: how the service's answers scale with a job's history.
//!
//! A cron job of N one-upload runs (one pod, one container `job`, one raw
//! object of 20 lines per run, runs one minute apart, the newest ending about
//! now), and a continuous job of the same lines (one pod uploading every
//! 5 minutes), each in a store of its own: a local directory (`file`) and
//! `s3s-fs` on 127.0.0.1 (`s3`). Each object's modification time is its
//! upload time (5 minutes after its first record, Fluent Bit's
//! `upload_timeout`, or now). The latency and the store requests of `jobs`,
//! `job`, `run=latest`, `tail=100`, `since=1h` and a full read, through
//! `afterlog serve` over HTTP, in three phases: `raw`; `merged`, after a
//! first `afterlog compact` with the shortest times its config accepts
//! (`settle_minutes` 6, `grace_minutes` 1: the newest runs stay raw, the
//! consumed raw objects are still stored); `compacted`, after a second pass
//! once the grace minute is over (the consumed raw objects deleted).
//!
//! ```sh
//! cargo build --release -p afterlog -p afterlog-bench-reader --bin afterlog --bin bench-scale
//! target/release/bench-scale [--runs 100,1000,10000] [--stores file,s3] [--jobs cron,continuous] \
//!     [--afterlog target/release/afterlog] [--s3s-fs PATH] [--dir target/bench-scale] [--reps 3] [--out FILE]
//! ```
//!
//! Each request is timed on a fresh server: its first answer is the cold
//! figure (and the warm-up), then the median of `--reps` more is the warm
//! one. Store requests are the change of `afterlog_store_requests_total`
//! (summed over `op`) in `/v1/metrics` around each request; `n/a` where the
//! service does not export it. `s3` needs `s3s-fs`
//! (`cargo install s3s-fs --version 0.14.1 --features binary`). Everything
//! listens on 127.0.0.1 only. It prints figures; it asserts nothing, but
//! flags answers with the wrong number of lines.

#[path = "../http.rs"]
mod http;
#[path = "../store.rs"]
mod store;
#[path = "../words.rs"]
mod words;

use afterlog_contract::layout::Origin;
use anyhow::{Context, Result, bail, ensure};
use flate2::Compression;
use flate2::write::GzEncoder;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const TOOL: &str = "scale";
const CRON_JOB: &str = "sched";
const CONTINUOUS_JOB: &str = "stream";
const LINES_PER_RUN: u64 = 20;
/// The continuous job uploads every 5 minutes: 5 runs' worth of lines.
const LINES_PER_UPLOAD: u64 = 100;
const MINUTE_NS: u64 = 60_000_000_000;
/// Fluent Bit's s3 output uploads a file `upload_timeout` (5 min in the
/// drop-in) after it was started: an object's modification time.
const UPLOAD_AFTER_NS: u64 = 5 * MINUTE_NS;
/// Runs on the first page of `GET …/jobs/{job}` where the service pages
/// them (`next_cursor`).
const JOB_PAGE: u64 = 100;
const BUCKET: &str = "bench";
const S3_KEY: &str = "AKIDTEST";
const S3_SECRET: &str = "secret-test-key";
const S3_REGION: &str = "us-east-1";

// ---------------------------------------------------------------- arguments

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum StoreKind {
    File,
    S3,
}

impl StoreKind {
    fn name(self) -> &'static str {
        match self {
            StoreKind::File => "file",
            StoreKind::S3 => "s3",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum JobKind {
    Cron,
    Continuous,
}

impl JobKind {
    fn name(self) -> &'static str {
        match self {
            JobKind::Cron => "cron",
            JobKind::Continuous => "continuous",
        }
    }

    fn job(self) -> &'static str {
        match self {
            JobKind::Cron => CRON_JOB,
            JobKind::Continuous => CONTINUOUS_JOB,
        }
    }
}

struct Args {
    runs: Vec<u64>,
    stores: Vec<StoreKind>,
    jobs: Vec<JobKind>,
    afterlog: PathBuf,
    s3s_fs: PathBuf,
    dir: PathBuf,
    reps: usize,
    out: Option<PathBuf>,
}

const USAGE: &str =
    "bench-scale [--runs 100,1000,10000] [--stores file,s3] [--jobs cron,continuous]
            [--afterlog PATH] [--s3s-fs PATH] [--dir target/bench-scale] [--reps 3] [--out FILE]

A cron job of N one-upload runs and a continuous job of the same lines, on a
local directory and on s3s-fs, before and after compaction: latency and store
requests of jobs, job, run=latest, tail=100, since=1h and a full read through
`afterlog serve` (default: the `afterlog` next to this binary).";

fn list<T>(v: &str, what: &str, f: impl Fn(&str) -> Option<T>) -> Result<Vec<T>> {
    v.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| f(s.trim()).with_context(|| format!("{what}: unknown value {s:?} (see --help)")))
        .collect()
}

fn default_s3s_fs() -> PathBuf {
    std::env::var_os("HOME")
        .map(|h| Path::new(&h).join(".cargo/bin/s3s-fs"))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| "s3s-fs".into())
}

fn args() -> Result<Args> {
    let exe = std::env::current_exe()?;
    let mut a = Args {
        runs: vec![100, 1000, 10_000],
        stores: vec![StoreKind::File, StoreKind::S3],
        jobs: vec![JobKind::Cron, JobKind::Continuous],
        afterlog: exe
            .parent()
            .context("the bench has no directory")?
            .join("afterlog"),
        s3s_fs: default_s3s_fs(),
        dir: PathBuf::from("target/bench-scale"),
        reps: 3,
        out: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--runs" => {
                a.runs = list(&value()?, "--runs", |s| {
                    s.replace('_', "").parse().ok().filter(|&n: &u64| n > 0)
                })?
            }
            "--stores" => {
                a.stores = list(&value()?, "--stores", |s| match s {
                    "file" => Some(StoreKind::File),
                    "s3" => Some(StoreKind::S3),
                    _ => None,
                })?
            }
            "--jobs" => {
                a.jobs = list(&value()?, "--jobs", |s| match s {
                    "cron" => Some(JobKind::Cron),
                    "continuous" => Some(JobKind::Continuous),
                    _ => None,
                })?
            }
            "--afterlog" => a.afterlog = PathBuf::from(value()?),
            "--s3s-fs" => a.s3s_fs = PathBuf::from(value()?),
            "--dir" => a.dir = PathBuf::from(value()?),
            "--reps" => a.reps = value()?.parse().context("--reps")?,
            "--out" => a.out = Some(PathBuf::from(value()?)),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (see --help)"),
        }
    }
    ensure!(a.reps >= 1, "--reps must be at least 1");
    ensure!(
        !a.runs.is_empty() && !a.stores.is_empty() && !a.jobs.is_empty(),
        "nothing to do"
    );
    ensure!(
        a.afterlog.is_file(),
        "{} is missing: build it with `cargo build --release -p afterlog`, or pass --afterlog",
        a.afterlog.display()
    );
    a.afterlog = std::path::absolute(&a.afterlog)?;
    a.dir = std::path::absolute(&a.dir)?;
    Ok(a)
}

// ---------------------------------------------------------------- data

use words::{Rng, WORDS};

fn text(r: &mut Rng) -> String {
    let n = 6 + r.below(24);
    let mut s =
        String::from(["[INFO]", "[INFO]", "[INFO]", "[DEBUG]", "[WARN]"][r.below(5) as usize]);
    for _ in 0..n {
        s.push(' ');
        if r.below(6) == 0 {
            let _ = write!(s, "{}", r.below(100_000));
        } else {
            s.push_str(WORDS[r.below(WORDS.len() as u64) as usize]);
        }
    }
    s
}

fn token(r: &mut Rng, n: usize) -> String {
    const ALNUM: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..n)
        .map(|_| char::from(ALNUM[r.below(ALNUM.len() as u64) as usize]))
        .collect()
}

/// What was written for one job.
#[derive(Default)]
struct Generated {
    records: u64,
    bytes: u64,
    gz_bytes: u64,
    objects: u64,
    runs: u64,
    /// Every record's time, ascending.
    times: Vec<u64>,
    secs: f64,
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
            r.next(),
            r.next(),
            r.next(),
            r.next()
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
            let log = text(r);
            let stream = if r.below(10) == 0 { "stderr" } else { "stdout" };
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
            .raw_key((first_ns / 1_000_000_000) as i64, &token(r, 8));
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
fn write_cron(root: &Path, n: u64, now_ns: u64) -> Result<Generated> {
    let mut g = Generated {
        runs: n,
        ..Generated::default()
    };
    let mut r = Rng::new(n ^ 0xc0);
    let now_min = now_ns / MINUTE_NS;
    for i in 0..n {
        let minute = now_min - (n - i);
        let pod = format!("{CRON_JOB}-{minute}-{}", token(&mut r, 5));
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
fn write_continuous(root: &Path, n: u64, now_ns: u64) -> Result<Generated> {
    let mut g = Generated {
        runs: 1,
        ..Generated::default()
    };
    let mut r = Rng::new(n ^ 0xc1);
    let pod = format!("{CONTINUOUS_JOB}-7d4b9c8f6-{}", token(&mut r, 5));
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

// ---------------------------------------------------------------- processes

/// A child process, stopped with SIGTERM (then SIGKILL) on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        // SAFETY: signalling our own child by its pid.
        unsafe {
            libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `s3s-fs` serving `root` (whose subdirectory `bench` is the bucket).
struct S3 {
    _proc: Proc,
    endpoint: String,
}

impl S3 {
    fn start(bin: &Path, root: &Path, log: &Path) -> Result<S3> {
        let port = free_port()?;
        let child = Command::new(bin)
            .arg(root)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", S3_KEY, "--secret-key", S3_SECRET])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log)?)
            .spawn()
            .with_context(|| {
                format!(
                    "running {}: install it with `cargo install s3s-fs --version 0.14.1 --features binary` or pass --s3s-fs",
                    bin.display()
                )
            })?;
        let mut p = Proc(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(st) = p.0.try_wait()? {
                bail!("s3s-fs exited: {st}");
            }
            ensure!(
                Instant::now() < deadline,
                "s3s-fs did not answer on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(S3 {
            _proc: p,
            endpoint: format!("http://127.0.0.1:{port}"),
        })
    }
}

/// Where one case's store is, and how `afterlog` reaches it.
struct Store<'a> {
    /// The directory holding the store's objects (for s3: the bucket's).
    objects: PathBuf,
    s3: Option<&'a S3>,
}

impl Store<'_> {
    fn command(&self, afterlog: &Path, sub: &str) -> Command {
        let mut cmd = store::afterlog_command(afterlog, sub);
        match self.s3 {
            None => {
                cmd.arg("--store")
                    .arg(format!("file://{}", self.objects.display()));
            }
            Some(s3) => {
                cmd.args(["--store", &format!("s3://{BUCKET}")])
                    .args(["--s3-endpoint", &s3.endpoint, "--s3-region", S3_REGION])
                    .env("AWS_ACCESS_KEY_ID", S3_KEY)
                    .env("AWS_SECRET_ACCESS_KEY", S3_SECRET);
            }
        }
        cmd
    }
}

/// `afterlog serve` without authentication on a free loopback port.
struct Server {
    _proc: Proc,
    addr: String,
}

impl Server {
    fn start(afterlog: &Path, store: &Store, log: &Path) -> Result<Server> {
        let addr = format!("127.0.0.1:{}", free_port()?);
        let child = store
            .command(afterlog, "serve")
            .args(["--insecure-no-auth", "--listen", &addr])
            .args(["--compact-every-minutes", "0"])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(log)?,
            )
            .spawn()
            .with_context(|| format!("starting {}", afterlog.display()))?;
        let mut p = Proc(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(st) = p.0.try_wait()? {
                let log = std::fs::read_to_string(log).unwrap_or_default();
                bail!("afterlog serve exited ({st}):\n{log}");
            }
            if let Ok((200, _)) = http::fetch(&addr, "/v1/healthz") {
                return Ok(Server { _proc: p, addr });
            }
            ensure!(
                Instant::now() < deadline,
                "afterlog serve did not answer /v1/healthz within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

// ---------------------------------------------------------------- measuring

#[derive(Clone, Copy, PartialEq, Eq)]
enum Req {
    Jobs,
    Job,
    Latest,
    Tail,
    Since,
    Full,
}

const REQS: [Req; 6] = [
    Req::Jobs,
    Req::Job,
    Req::Latest,
    Req::Tail,
    Req::Since,
    Req::Full,
];

impl Req {
    fn label(self) -> &'static str {
        match self {
            Req::Jobs => "jobs",
            Req::Job => "job",
            Req::Latest => "run=latest",
            Req::Tail => "tail=100",
            Req::Since => "since=1h",
            Req::Full => "full",
        }
    }

    fn path(self, job: &str) -> String {
        let logs = format!("/v1/tool/{TOOL}/jobs/{job}/logs?format=ndjson");
        match self {
            Req::Jobs => format!("/v1/tool/{TOOL}/jobs"),
            Req::Job => format!("/v1/tool/{TOOL}/jobs/{job}"),
            Req::Latest => format!("{logs}&run=latest"),
            Req::Tail => format!("{logs}&tail=100"),
            Req::Since => format!("{logs}&since=1h"),
            Req::Full => logs,
        }
    }
}

/// One answer: time, what came back, what it cost the store.
#[derive(Clone, Default)]
struct Answer {
    ms: f64,
    status: u16,
    /// Records (logs) or runs of the job (`jobs`, `job`).
    count: Option<u64>,
    body_bytes: u64,
    /// `job` answered one page of runs (`next_cursor` set).
    paged: bool,
    /// Warnings the answer carried, cut short.
    messages: Option<String>,
    delta: http::Delta,
}

/// One request, the cold answer and the warm median.
struct Measured {
    cold: Answer,
    warm: Vec<Answer>,
    /// Lines or runs expected, and whether it must be exact.
    expect: Option<(u64, bool)>,
}

impl Measured {
    fn warm_ms(&self) -> f64 {
        median(self.warm.iter().map(|a| a.ms).collect())
    }

    fn warm_requests(&self) -> Option<f64> {
        let v: Option<Vec<f64>> = self
            .warm
            .iter()
            .map(|a| a.delta.requests.as_ref().map(|r| r.0))
            .collect();
        v.map(median)
    }

    fn bad(&self) -> Option<String> {
        let all = std::iter::once(&self.cold).chain(&self.warm);
        for a in all {
            if a.status != 200 {
                return Some(format!("HTTP {}", a.status));
            }
            if let (Some((want, true)), Some(got)) = (self.expect, a.count)
                && want != got
                && !(a.paged && got == want.min(JOB_PAGE))
            {
                return Some(format!("{got} instead of {want}"));
            }
        }
        None
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn ask(addr: &str, req: Req, job: &str) -> Result<Answer> {
    let path = req.path(job);
    let before = http::store_counters(addr)?;
    let t = Instant::now();
    let mut a = match req {
        Req::Jobs | Req::Job => {
            let (status, body) = http::fetch(addr, &path)?;
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let count = if req == Req::Jobs {
                v["jobs"].as_array().and_then(|js| {
                    js.iter()
                        .find(|j| j["job"] == job)
                        .and_then(|j| j["runs"].as_u64())
                })
            } else {
                v["job"]["runs"].as_array().map(|r| r.len() as u64)
            };
            let paged = v.get("next_cursor").is_some_and(|c| !c.is_null());
            let messages = v["messages"]
                .as_object()
                .filter(|m| {
                    m.values()
                        .any(|l| l.as_array().is_none_or(|l| !l.is_empty()))
                })
                .map(|m| serde_json::Value::Object(m.clone()).to_string());
            Answer {
                ms,
                status,
                count,
                body_bytes: body.len() as u64,
                paged,
                messages,
                ..Answer::default()
            }
        }
        _ => {
            let r = http::get(addr, &path)?;
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            Answer {
                ms,
                status: r.status,
                count: (r.status == 200).then_some(r.lines),
                body_bytes: r.bytes,
                messages: r.messages,
                ..Answer::default()
            }
        }
    };
    let after = http::store_counters(addr)?;
    a.delta = http::delta(&before, &after);
    if let Some(m) = &mut a.messages {
        m.truncate(300);
    }
    Ok(a)
}

fn expected(req: Req, kind: JobKind, g: &Generated) -> Option<(u64, bool)> {
    match req {
        Req::Jobs | Req::Job => Some((g.runs, true)),
        Req::Latest => Some(match kind {
            JobKind::Cron => (LINES_PER_RUN, true),
            JobKind::Continuous => (g.records, true),
        }),
        Req::Tail => Some((g.records.min(100), true)),
        Req::Since => {
            let from = now_ns() - 3600 * 1_000_000_000;
            let n = g.times.len() - g.times.partition_point(|&t| t < from);
            Some((n as u64, false))
        }
        Req::Full => Some((g.records, true)),
    }
}

/// The 1, 5 and 15 minute load averages: other work on the machine.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Every request of the list, each on a fresh server.
fn measure_all(
    a: &Args,
    store: &Store,
    kind: JobKind,
    g: &Generated,
    log: &Path,
) -> Result<Vec<Measured>> {
    let mut out = Vec::new();
    for req in REQS {
        let server = Server::start(&a.afterlog, store, log)?;
        // Before the request: `since=1h` counts from the server's now.
        let expect = expected(req, kind, g);
        let cold = ask(&server.addr, req, kind.job())?;
        let mut warm = Vec::new();
        for _ in 0..a.reps {
            warm.push(ask(&server.addr, req, kind.job())?);
        }
        let m = Measured { cold, warm, expect };
        println!(
            "    {:<10} cold {:>9.1} ms {:>7} req | warm {:>9.1} ms {:>7} req | {} {}, {:.1} KiB{}{}",
            req.label(),
            m.cold.ms,
            fmt_req(m.cold.delta.requests.as_ref().map(|r| r.0)),
            m.warm_ms(),
            fmt_req(m.warm_requests()),
            m.cold.count.map_or("?".into(), |c| c.to_string()),
            if matches!(req, Req::Jobs | Req::Job) {
                "runs"
            } else {
                "lines"
            },
            m.cold.body_bytes as f64 / 1024.0,
            m.bad()
                .map(|b| format!("  !!!!! WRONG: {b} !!!!!"))
                .unwrap_or_default(),
            m.cold
                .messages
                .as_ref()
                .map(|s| format!("\n      messages: {s}"))
                .unwrap_or_default(),
        );
        out.push(m);
    }
    Ok(out)
}

fn fmt_req(r: Option<f64>) -> String {
    r.map_or("n/a".into(), |v| format!("{v:.0}"))
}

fn fmt_ms(ms: f64) -> String {
    if ms >= 100.0 {
        format!("{ms:.0}")
    } else {
        format!("{ms:.1}")
    }
}

fn fmt_ops(d: &http::Delta) -> String {
    let mut s = match &d.requests {
        None => "n/a".to_string(),
        Some((_, by_op)) if by_op.is_empty() => "0".to_string(),
        Some((_, by_op)) => by_op
            .iter()
            .map(|(op, v)| format!("{op} {v:.0}"))
            .collect::<Vec<_>>()
            .join(", "),
    };
    if let Some(b) = d.bytes {
        let _ = write!(s, "; {:.1} KiB", b / 1024.0);
    }
    s
}

// ---------------------------------------------------------------- cases

struct Phase {
    name: &'static str,
    objects: BTreeMap<String, u64>,
    results: Vec<Measured>,
}

struct Case {
    n: u64,
    kind: JobKind,
    store: StoreKind,
    gen_secs: f64,
    records: u64,
    bytes: u64,
    gz_bytes: u64,
    phases: Vec<Phase>,
    /// Seconds and report of each compaction pass.
    passes: Vec<(f64, String)>,
    error: Option<String>,
}

fn run_case(a: &Args, n: u64, kind: JobKind, sk: StoreKind) -> Result<Case> {
    let dir = a.dir.join(format!("{}-{}-{n}", sk.name(), kind.name()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir)?;
    let objects = match sk {
        StoreKind::File => dir.join("store"),
        StoreKind::S3 => dir.join("s3root").join(BUCKET),
    };
    std::fs::create_dir_all(&objects)?;
    println!(
        "\n== N={n} {} job on {} ({}), load average {}",
        kind.name(),
        sk.name(),
        dir.display(),
        loadavg()
    );
    let t = Instant::now();
    let now = now_ns();
    let mut g = match kind {
        JobKind::Cron => write_cron(&objects, n, now)?,
        JobKind::Continuous => write_continuous(&objects, n, now)?,
    };
    g.secs = t.elapsed().as_secs_f64();
    println!(
        "  generated {} records, {:.1} MiB ({:.1} MiB gzipped) in {} raw objects, {} run(s), in {:.1} s",
        g.records,
        g.bytes as f64 / 1048576.0,
        g.gz_bytes as f64 / 1048576.0,
        g.objects,
        g.runs,
        g.secs
    );
    let mut case = Case {
        n,
        kind,
        store: sk,
        gen_secs: g.secs,
        records: g.records,
        bytes: g.bytes,
        gz_bytes: g.gz_bytes,
        phases: Vec::new(),
        passes: Vec::new(),
        error: None,
    };
    let s3 = match sk {
        StoreKind::File => None,
        StoreKind::S3 => Some(S3::start(
            &a.s3s_fs,
            &dir.join("s3root"),
            &dir.join("s3s-fs.log"),
        )?),
    };
    let store = Store {
        objects: objects.clone(),
        s3: s3.as_ref(),
    };
    let log = dir.join("afterlog.log");

    let before = store::count_objects(&objects)?;
    println!("  raw phase: {} objects", store::describe_objects(&before));
    let results = measure_all(a, &store, kind, &g, &log)?;
    case.phases.push(Phase {
        name: "raw",
        objects: before,
        results,
    });

    let config = store::compactor_config(&dir)?;
    let mut first: Option<store::Pass> = None;
    for pass in 1..=2 {
        if let Some(first) = &first {
            // Consumed raw objects go once the grace time has passed since
            // the first pass recorded them.
            store::wait_for_grace(first);
        }
        let p = store::pass(store.command(&a.afterlog, "compact"), &config)?;
        println!("  compaction pass {pass}: {:.2} s: {}", p.secs, p.report);
        case.passes.push((p.secs, p.report.clone()));
        if !p.status.success() {
            println!(
                "  !!!!! afterlog compact failed ({}): {}",
                p.status, p.stderr
            );
            case.error = Some(format!(
                "compaction pass {pass} failed: {}",
                p.stderr.lines().last().unwrap_or("")
            ));
            return Ok(case);
        }
        first.get_or_insert(p);
        let objects_now = store::count_objects(&objects)?;
        let name = if pass == 1 { "merged" } else { "compacted" };
        println!(
            "  {name} phase: {} objects",
            store::describe_objects(&objects_now)
        );
        // After the first pass: merged, the consumed raw objects still
        // stored (measured while the grace time runs).
        let results = measure_all(a, &store, kind, &g, &log)?;
        case.phases.push(Phase {
            name,
            objects: objects_now,
            results,
        });
    }
    Ok(case)
}

// ---------------------------------------------------------------- report

fn report(a: &Args, cases: &[Case]) -> String {
    let mut s = String::new();
    let header = |s: &mut String, first: &str| {
        let _ = write!(s, "| N | job | store | phase | {first} |");
        for r in REQS {
            let _ = write!(s, " {} |", r.label());
        }
        s.push_str("\n|---:|---|---|---|---:|");
        for _ in REQS {
            s.push_str("---:|");
        }
        s.push('\n');
    };
    let rows =
        |s: &mut String, cell: &dyn Fn(&Measured) -> String, first: &dyn Fn(&Phase) -> String| {
            for c in cases {
                for p in &c.phases {
                    let _ = write!(
                        s,
                        "| {} | {} | {} | {} | {} |",
                        c.n,
                        c.kind.name(),
                        c.store.name(),
                        p.name,
                        first(p)
                    );
                    for m in &p.results {
                        let bad = m
                            .bad()
                            .map(|b| format!(" **WRONG: {b}**"))
                            .unwrap_or_default();
                        let _ = write!(s, " {}{bad} |", cell(m));
                    }
                    s.push('\n');
                }
            }
        };
    let objects = |p: &Phase| p.objects.values().sum::<u64>().to_string();

    let _ = writeln!(
        s,
        "\n### Warm: median of {} after a warm-up (ms, store requests)\n",
        a.reps
    );
    header(&mut s, "objects");
    rows(
        &mut s,
        &|m| {
            format!(
                "{} ms, {} req",
                fmt_ms(m.warm_ms()),
                fmt_req(m.warm_requests())
            )
        },
        &objects,
    );

    let _ = writeln!(
        s,
        "\n### Cold: the first request on a fresh server (ms, store requests)\n"
    );
    header(&mut s, "objects");
    rows(
        &mut s,
        &|m| {
            format!(
                "{} ms, {} req",
                fmt_ms(m.cold.ms),
                fmt_req(m.cold.delta.requests.as_ref().map(|r| r.0))
            )
        },
        &objects,
    );

    let _ = writeln!(s, "\n### Answers (runs or lines, cold; expected)\n");
    header(&mut s, "objects");
    rows(
        &mut s,
        &|m| {
            let mut got = m.cold.count.map_or("?".into(), |c| c.to_string());
            if m.cold.paged {
                got.push_str(" (page)");
            }
            match m.expect {
                Some((want, true)) if m.bad().is_none() => {
                    if m.cold.paged {
                        format!("{got} of {want}")
                    } else {
                        got
                    }
                }
                Some((want, exact)) => {
                    format!("{got} ({}{want})", if exact { "want " } else { "~" })
                }
                None => got,
            }
        },
        &objects,
    );

    let _ = writeln!(s, "\n### Store requests by op, cold (and KiB fetched)\n");
    header(&mut s, "objects");
    rows(&mut s, &|m| fmt_ops(&m.cold.delta), &objects);

    let _ = writeln!(s, "\n### Data and compaction\n");
    s.push_str("| N | job | store | records | MiB (gz) | generated | objects raw | compaction passes | objects compacted |\n");
    s.push_str("|---:|---|---|---:|---:|---:|---|---|---|\n");
    for c in cases {
        let passes: Vec<String> = c.passes.iter().map(|(t, _)| format!("{t:.2} s")).collect();
        let total: f64 = c.passes.iter().map(|p| p.0).sum();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {:.1} ({:.1}) | {:.1} s | {} | {} = {total:.2} s{} | {} |",
            c.n,
            c.kind.name(),
            c.store.name(),
            c.records,
            c.bytes as f64 / 1048576.0,
            c.gz_bytes as f64 / 1048576.0,
            c.gen_secs,
            c.phases
                .first()
                .map_or(String::new(), |p| store::describe_objects(&p.objects)),
            passes.join(" + "),
            c.error
                .as_ref()
                .map(|e| format!(" **{e}**"))
                .unwrap_or_default(),
            c.phases
                .last()
                .filter(|p| p.name == "compacted")
                .map_or("-".into(), |p| store::describe_objects(&p.objects)),
        );
    }
    let _ = writeln!(s, "\nCompaction reports:\n");
    for c in cases {
        for (i, (_, r)) in c.passes.iter().enumerate() {
            let _ = writeln!(
                s,
                "- N={} {} {} pass {}: {}",
                c.n,
                c.kind.name(),
                c.store.name(),
                i + 1,
                r.replace('\n', " / ")
            );
        }
    }
    s
}

// ---------------------------------------------------------------- main

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-scale: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let a = args()?;
    std::fs::create_dir_all(&a.dir)?;
    let total = Instant::now();
    println!(
        "bench-scale: afterlog {}, N = {:?}, stores {:?}, jobs {:?}, data in {}",
        a.afterlog.display(),
        a.runs,
        a.stores.iter().map(|s| s.name()).collect::<Vec<_>>(),
        a.jobs.iter().map(|j| j.name()).collect::<Vec<_>>(),
        a.dir.display()
    );
    let mut cases = Vec::new();
    let mut failed = false;
    for &n in &a.runs {
        for &kind in &a.jobs {
            for &sk in &a.stores {
                match run_case(&a, n, kind, sk) {
                    Ok(c) => cases.push(c),
                    Err(e) => {
                        failed = true;
                        println!(
                            "  !!!!! N={n} {} on {} failed: {e:#}",
                            kind.name(),
                            sk.name()
                        );
                    }
                }
            }
        }
    }
    let mut text = report(&a, &cases);
    let _ = writeln!(
        text,
        "\nLoad average at the end: {} ({} CPUs).",
        loadavg(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let _ = writeln!(
        text,
        "\nTotal bench time {:.0} s.",
        total.elapsed().as_secs_f64()
    );
    println!("{text}");
    if let Some(out) = &a.out {
        std::fs::write(out, &text).with_context(|| format!("writing {}", out.display()))?;
        println!("(written to {})", out.display());
    }
    if failed {
        bail!("some cases failed (see above)");
    }
    Ok(())
}
