//! `bench-load`: `afterlog serve` under load, against one server it starts.
//!
//! ```sh
//! cargo build --profile ci -p afterlog -p afterlog-bench-reader
//! target/ci/bench-load [--dir target/bench-reader-compacted] [--readers 64] [--follows 64] [--small-rps 20] \
//!     [--budget-mib 512] [--caller-max 4] [--settle-secs 60] [--idle-secs 15] [--retries 100] [--follow-tail N] [--size-mib N]
//! ```
//!
//! The store is `bench-reader`'s (`<dir>-compacted` is its compacted copy;
//! both are made here as `bench-reader` makes them if they are missing). The
//! server runs with token auth, one token per simulated user, so that each
//! is a caller of its own. In order: the idle server's RSS, the latency of
//! the small requests on the idle server, one full read of the big job
//! alone (the reference: its lines, their `ts` order, a CRC-32 of the
//! body), then the load: `--follows` follows of the big job, each its own
//! caller, held until the reads end; `--readers` full reads of the big
//! job at once, `--caller-max` of them per caller (so that no caller goes
//! over its cap: a refusal for the caller's cap means a slot was not given
//! back), each retried after its `Retry-After` when refused; and all along,
//! `--small-rps` small requests (the job list, `tail=100`) from callers of
//! their own. Then the RSS once the load is over and `--settle-secs` later.
//!
//! A follow without `--follow-tail` first sends the whole stored log, as
//! `afterlog logs -f` does: a full read under a follow's share of the
//! budget.
//!
//! It prints figures against goals; it fails only where an admitted read
//! did not give the reference's bytes.

#[path = "../dataset.rs"]
mod dataset;
#[path = "../http.rs"]
mod http;
#[path = "../server.rs"]
mod server;
#[path = "../store.rs"]
mod store;
#[path = "../synth.rs"]
#[allow(dead_code)] // bench-reader's other uses of the generator
mod synth;

use anyhow::{Context, Result, bail, ensure};
use server::{Server, cpu_secs, memory, mib};
use std::io::{BufReader, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use synth::{BIG_JOB, SMALL_JOB, TOOL};

const MIB: f64 = 1024.0 * 1024.0;
/// Where the data is made when neither `--size-mib` nor a marker says.
const DEFAULT_SIZE_MIB: u64 = 1024;
/// Enough to read a streamed body in few system calls, small enough for
/// a hundred connections at once.
const BUF: usize = 128 * 1024;
/// How long the reads wait for the follows to be answered.
const FOLLOWS_WAIT: Duration = Duration::from_secs(30);
const SAMPLE_EVERY: Duration = Duration::from_millis(100);
const METRICS_EVERY: Duration = Duration::from_millis(500);

struct Args {
    dir: PathBuf,
    size_mib: Option<u64>,
    readers: usize,
    follows: usize,
    small_rps: f64,
    budget_mib: u64,
    caller_max: usize,
    settle_secs: u64,
    idle_secs: u64,
    retries: usize,
    follow_tail: Option<u64>,
}

const USAGE: &str = "bench-load [--dir target/bench-reader-compacted] [--readers 64] [--follows 64] [--small-rps 20]
           [--budget-mib 512] [--caller-max 4] [--settle-secs 60] [--idle-secs 15] [--retries 100]
           [--follow-tail N] [--size-mib N]

Starts `afterlog serve` on the reader bench's store (made as bench-reader makes
it if missing: --size-mib, else the size its marker says, else 1024) with a
memory budget, and loads it with concurrent full reads of the big job, follows
held meanwhile and a steady rate of small requests. Prints the server's RSS,
whether every read gave the same bytes as a read alone, the refusals and
retries, and the small requests' latency against an idle server.
--follow-tail N: follows start from the last N lines, not the whole log.";

fn args() -> Result<Args> {
    let mut a = Args {
        dir: PathBuf::from("target/bench-reader-compacted"),
        size_mib: None,
        readers: 64,
        follows: 64,
        small_rps: 20.0,
        budget_mib: 512,
        caller_max: 4,
        settle_secs: 60,
        idle_secs: 15,
        retries: 100,
        follow_tail: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--dir" => a.dir = PathBuf::from(value()?),
            "--size-mib" => a.size_mib = Some(value()?.parse().context("--size-mib")?),
            "--readers" => a.readers = value()?.parse().context("--readers")?,
            "--follows" => a.follows = value()?.parse().context("--follows")?,
            "--small-rps" => a.small_rps = value()?.parse().context("--small-rps")?,
            "--budget-mib" => a.budget_mib = value()?.parse().context("--budget-mib")?,
            "--caller-max" => a.caller_max = value()?.parse().context("--caller-max")?,
            "--settle-secs" => a.settle_secs = value()?.parse().context("--settle-secs")?,
            "--idle-secs" => a.idle_secs = value()?.parse().context("--idle-secs")?,
            "--retries" => a.retries = value()?.parse().context("--retries")?,
            "--follow-tail" => a.follow_tail = Some(value()?.parse().context("--follow-tail")?),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (see --help)"),
        }
    }
    ensure!(a.readers >= 1, "--readers must be at least 1");
    ensure!(a.caller_max >= 1, "--caller-max must be at least 1");
    ensure!(
        a.small_rps > 0.0 && a.small_rps <= 1000.0,
        "--small-rps must be in (0, 1000]"
    );
    ensure!(a.idle_secs >= 1, "--idle-secs must be at least 1");
    ensure!(a.budget_mib >= 1, "--budget-mib must be at least 1");
    a.dir = std::path::absolute(&a.dir)?;
    Ok(a)
}

// ---------------------------------------------------------------- data

/// The store to serve, and the generated jobs' figures where its data
/// directory has them.
fn store_dir(a: &Args) -> Result<(PathBuf, Option<dataset::Data>)> {
    let Some(raw) = dataset::data_dir_of(&a.dir) else {
        // Not a compacted copy: the generated raw objects themselves.
        let size = a
            .size_mib
            .or_else(|| dataset::marked_size_mib(&a.dir))
            .unwrap_or(DEFAULT_SIZE_MIB);
        let d = dataset::data(&a.dir, size)?;
        return Ok((a.dir.clone(), Some(d)));
    };
    let size = a
        .size_mib
        .or_else(|| dataset::marked_size_mib(&a.dir))
        .or_else(|| dataset::marked_size_mib(&raw))
        .unwrap_or(DEFAULT_SIZE_MIB);
    let (c, d) = match dataset::reuse_compacted(&raw, size)? {
        Some(c) => {
            println!(
                "data: reusing the compacted copy {} ({size} MiB; delete it to compact again)",
                c.dir.display()
            );
            (c, dataset::reuse_data(&raw, size))
        }
        None => {
            let d = dataset::data(&raw, size)?;
            if let Some(s) = d.generated_secs {
                println!("  generated in {s:.1} s");
            }
            (dataset::compacted_store(&raw, size)?, Some(d))
        }
    };
    println!(
        "  {} objects, compacted in {} passes",
        store::describe_objects(&c.objects),
        c.passes.len()
    );
    Ok((c.dir, d))
}

// ---------------------------------------------------------------- callers

/// One simulated user: a token of its own, so a caller of its own.
struct Caller {
    token: String,
}

/// `names` as callers: their tokens and `tokens.json` (written to `path`)
/// granting each the bench's tool, hashed by `afterlog hash-token`.
fn callers(afterlog: &Path, names: &[String], path: &Path) -> Result<Vec<Caller>> {
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos();
    let mut out = Vec::new();
    let mut entries = Vec::new();
    for name in names {
        let token = format!("bench-load-{nonce:x}-{name}");
        let mut child = store::afterlog_command(afterlog, "hash-token")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("running afterlog hash-token")?;
        child
            .stdin
            .take()
            .context("no stdin")?
            .write_all(token.as_bytes())?;
        let o = child.wait_with_output()?;
        ensure!(
            o.status.success(),
            "afterlog hash-token: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let sha256 = String::from_utf8(o.stdout)?.trim().to_string();
        entries.push(serde_json::json!({"name": name, "sha256": sha256, "tools": [TOOL]}));
        out.push(Caller { token });
    }
    std::fs::write(
        path,
        serde_json::to_string_pretty(&serde_json::json!({ "tokens": entries }))?,
    )
    .with_context(|| format!("writing {}", path.display()))?;
    Ok(out)
}

// ---------------------------------------------------------------- bodies

fn newlines(b: &[u8]) -> u64 {
    // Vectorised by the compiler: no per-line work.
    b.iter().filter(|&&c| c == b'\n').count() as u64
}

/// The lines and CRC-32 of a body's first `limit` bytes, and how many
/// bytes came after them (a follow's new lines and heartbeats).
struct Digest {
    limit: u64,
    bytes: u64,
    lines: u64,
    crc: flate2::Crc,
    extra: u64,
}

impl Digest {
    fn new(limit: u64) -> Digest {
        Digest {
            limit,
            bytes: 0,
            lines: 0,
            crc: flate2::Crc::new(),
            extra: 0,
        }
    }

    fn feed(&mut self, piece: &[u8]) {
        let take = (self.limit - self.bytes).min(piece.len() as u64) as usize;
        let (head, tail) = piece.split_at(take);
        self.lines += newlines(head);
        self.crc.update(head);
        self.bytes += take as u64;
        self.extra += tail.len() as u64;
    }

    fn sum(&self) -> (u64, u64, u32) {
        (self.bytes, self.lines, self.crc.sum())
    }
}

/// What the reference read gave.
#[derive(Clone, Copy)]
struct Reference {
    bytes: u64,
    lines: u64,
    crc: u32,
}

impl Reference {
    fn matches(&self, d: &Digest) -> bool {
        d.sum() == (self.bytes, self.lines, self.crc)
    }
}

/// One request alone, its `ts` order checked line by line: the reference
/// the loaded answers are compared with.
fn reference(addr: &str, path: &str, token: &str) -> Result<(Reference, http::Reply, f64)> {
    let t = Instant::now();
    let s = http::send_get_as(addr, path, Some(token))?;
    let mut rd = BufReader::with_capacity(BUF, s);
    let head = http::read_head(&mut rd)?;
    let mut lc = http::LineCounter::default();
    let mut d = Digest::new(u64::MAX);
    http::read_body(&mut rd, &head, |p| {
        lc.feed(p);
        d.feed(p);
    })?;
    let mut r = lc.finish();
    r.status = head.status;
    ensure!(
        r.status == 200,
        "{path}: HTTP {}: {}",
        r.status,
        String::from_utf8_lossy(&r.small_body)
    );
    let (bytes, lines, crc) = d.sum();
    Ok((
        Reference { bytes, lines, crc },
        r,
        t.elapsed().as_secs_f64(),
    ))
}

/// Why a 429 came, from its message.
fn reason(body: &[u8]) -> &'static str {
    let b = String::from_utf8_lossy(body);
    if b.contains("memory budget") {
        "budget"
    } else if b.contains("large reads or follows running") {
        "caller"
    } else if b.contains("following logs") {
        "follow-max"
    } else {
        "other"
    }
}

/// A heavy request once the service let it in (or did not).
#[derive(Default)]
struct Admission {
    /// The reply's body is next, if it was let in.
    body: Option<(BufReader<TcpStream>, http::Head)>,
    /// The reason of each 429, in order.
    refusals: Vec<&'static str>,
    /// A status other than 200 and 429, or a transport error.
    error: Option<String>,
}

/// What one attempt at a heavy request got.
enum Attempt {
    Admitted(BufReader<TcpStream>, http::Head),
    /// 429: why, and the seconds to wait.
    Refused(&'static str, u64),
}

fn attempt(addr: &str, path: &str, token: &str) -> Result<Attempt> {
    let s = http::send_get_as(addr, path, Some(token))?;
    let mut rd = BufReader::with_capacity(BUF, s);
    let head = http::read_head(&mut rd)?;
    if head.status == 200 {
        return Ok(Attempt::Admitted(rd, head));
    }
    let mut body = Vec::new();
    http::read_body(&mut rd, &head, |p| body.extend_from_slice(p))?;
    ensure!(
        head.status == 429,
        "HTTP {}: {}",
        head.status,
        String::from_utf8_lossy(&body)
    );
    let secs = head
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    Ok(Attempt::Refused(reason(&body), secs))
}

/// Sends `GET path` until it is answered with anything but 429, sleeping
/// each 429's `Retry-After` in between, at most `retries` times, or until
/// `stop`.
fn admitted(addr: &str, path: &str, token: &str, retries: usize, stop: &AtomicBool) -> Admission {
    let mut out = Admission::default();
    for _ in 0..=retries {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        match attempt(addr, path, token) {
            Ok(Attempt::Admitted(rd, head)) => {
                out.body = Some((rd, head));
                break;
            }
            Ok(Attempt::Refused(why, secs)) => {
                out.refusals.push(why);
                std::thread::sleep(Duration::from_secs(secs));
            }
            Err(e) => {
                out.error = Some(format!("{e:#}"));
                break;
            }
        }
    }
    out
}

// ---------------------------------------------------------------- reads

#[derive(Default)]
struct ReadOutcome {
    refusals: Vec<&'static str>,
    error: Option<String>,
    /// From the first attempt to the end of the body.
    total_secs: f64,
    /// From the answer's head to the end of its body.
    body_secs: f64,
    digest: Option<Digest>,
}

fn full_read(addr: &str, path: &str, token: &str, retries: usize) -> ReadOutcome {
    let t = Instant::now();
    let never = AtomicBool::new(false);
    let a = admitted(addr, path, token, retries, &never);
    let mut out = ReadOutcome {
        refusals: a.refusals,
        error: a.error,
        ..ReadOutcome::default()
    };
    if let Some((mut rd, head)) = a.body {
        let tb = Instant::now();
        let mut d = Digest::new(u64::MAX);
        if let Err(e) = http::read_body(&mut rd, &head, |p| d.feed(p)) {
            out.error = Some(format!("mid-body: {e:#}"));
        }
        out.body_secs = tb.elapsed().as_secs_f64();
        out.digest = Some(d);
    }
    out.total_secs = t.elapsed().as_secs_f64();
    out
}

// ---------------------------------------------------------------- follows

/// Open follows, cut when the reads are over.
#[derive(Default)]
struct Follows {
    streams: Mutex<Vec<TcpStream>>,
    stop: AtomicBool,
}

impl Follows {
    /// Keeps `s` to be cut; cuts it at once if the reads are over.
    fn hold(&self, s: &TcpStream) {
        let mut v = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        match s.try_clone() {
            Ok(c) if !self.stop.load(Ordering::SeqCst) => v.push(c),
            _ => {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }

    fn cut(&self) {
        let v = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        self.stop.store(true, Ordering::SeqCst);
        for s in v.iter() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

#[derive(Default)]
struct FollowOutcome {
    refusals: Vec<&'static str>,
    error: Option<String>,
    admitted: bool,
    /// It ended before it was cut.
    ended_early: bool,
    digest: Option<Digest>,
}

fn follow(
    addr: &str,
    path: &str,
    token: &str,
    retries: usize,
    follows: &Follows,
    answered: &std::sync::mpsc::Sender<()>,
    limit: u64,
) -> FollowOutcome {
    let a = admitted(addr, path, token, retries, &follows.stop);
    let _ = answered.send(());
    let mut out = FollowOutcome {
        refusals: a.refusals,
        error: a.error,
        ..FollowOutcome::default()
    };
    if let Some((mut rd, head)) = a.body {
        out.admitted = true;
        follows.hold(rd.get_ref());
        let mut d = Digest::new(limit);
        let r = http::read_body(&mut rd, &head, |p| d.feed(p));
        out.ended_early = !follows.stop.load(Ordering::SeqCst);
        if out.ended_early
            && let Err(e) = r
        {
            out.error = Some(format!("mid-body: {e:#}"));
        }
        out.digest = Some(d);
    }
    out
}

// ---------------------------------------------------------------- small requests

struct Small {
    /// Since the phase began, when it was due.
    due: Duration,
    /// From when it was due (not when it was sent: a worker held up by a
    /// slow answer sends late, and that wait is part of what the user sees).
    ms: f64,
    ok: bool,
}

/// Small requests at `rps` from `callers` (one worker each, taking turns)
/// until `stop`, alternating the job list and `tail=100` of the big job.
fn small_load(
    addr: &str,
    callers: &[Caller],
    rps: f64,
    stop: &AtomicBool,
    start: Instant,
) -> Vec<Small> {
    let n = callers.len();
    let every = Duration::from_secs_f64(n as f64 / rps);
    let jobs = format!("/v1/tool/{TOOL}/jobs");
    let tail = format!("/v1/tool/{TOOL}/jobs/{BIG_JOB}/logs?tail=100&format=ndjson");
    std::thread::scope(|s| {
        let workers: Vec<_> = callers
            .iter()
            .enumerate()
            .map(|(k, c)| {
                let (jobs, tail) = (&jobs, &tail);
                s.spawn(move || {
                    let mut out = Vec::new();
                    for j in 0u32.. {
                        let due = every.mul_f64(k as f64 / n as f64) + every * j;
                        let at = start + due;
                        if let Some(wait) = at.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let is_tail = (j as usize + k) % 2 == 1;
                        let path = if is_tail { tail } else { jobs };
                        let ok = match http::get_as(addr, path, Some(&c.token)) {
                            Ok(r) => r.status == 200 && (!is_tail || r.lines == 100),
                            Err(_) => false,
                        };
                        let ms = at.elapsed().as_secs_f64() * 1000.0;
                        out.push(Small { due, ms, ok });
                    }
                    out
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    })
}

/// (p50, p99, max) in ms, nearest rank.
fn percentiles(ms: &[f64]) -> (f64, f64, f64) {
    let mut v = ms.to_vec();
    if v.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    v.sort_by(f64::total_cmp);
    let at = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    (at(0.50), at(0.99), v[v.len() - 1])
}

fn fmt_ms((p50, p99, max): (f64, f64, f64)) -> String {
    format!("{p50:.1} / {p99:.1} / {max:.1} ms")
}

// ---------------------------------------------------------------- sampling

/// The server's `VmRSS` every 100 ms and its admission gauges every
/// 500 ms, for the whole run.
#[derive(Default)]
struct Samples {
    /// (when, VmRSS KiB).
    rss: Vec<(Instant, u64)>,
    /// (when, in use MiB, running, queued).
    admission: Vec<(Instant, f64, f64, f64)>,
}

impl Samples {
    fn max_rss(&self, from: Instant, to: Instant) -> u64 {
        self.rss
            .iter()
            .filter(|(t, _)| (from..=to).contains(t))
            .map(|&(_, k)| k)
            .max()
            .unwrap_or(0)
    }

    /// The largest in use, running and queued between `from` and `to`.
    fn max_admission(&self, from: Instant, to: Instant) -> (f64, f64, f64) {
        self.admission
            .iter()
            .filter(|(t, ..)| (from..=to).contains(t))
            .fold((0.0, 0.0, 0.0), |m, &(_, u, r, q)| {
                (m.0.max(u), m.1.max(r), m.2.max(q))
            })
    }
}

fn sample(pid: u32, addr: &str, samples: &Mutex<Samples>, stop: &AtomicBool) {
    let mut next_metrics = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        if let Ok((_, rss)) = memory(pid) {
            samples
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .rss
                .push((now, rss));
        }
        if now >= next_metrics {
            next_metrics = now + METRICS_EVERY;
            if let Ok(m) = metrics(addr) {
                let g = |n: &str| metric(&m, n);
                samples
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .admission
                    .push((
                        now,
                        g("afterlog_admission_in_use_mib"),
                        g("afterlog_admission_running"),
                        g("afterlog_admission_queued"),
                    ));
            }
        }
        std::thread::sleep(SAMPLE_EVERY.saturating_sub(now.elapsed()));
    }
}

fn metrics(addr: &str) -> Result<String> {
    let (status, body) = http::fetch(addr, "/v1/metrics")?;
    ensure!(status == 200, "/v1/metrics: HTTP {status}");
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// The sum of a metric's series (`name` or `name{…}`).
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let value = match rest.as_bytes().first() {
                Some(b' ') => rest,
                Some(b'{') => &rest[rest.find('}')? + 1..],
                _ => return None,
            };
            value.split_whitespace().next()?.parse::<f64>().ok()
        })
        .fold(0.0, |a, b| a + b)
}

fn rss_now(pid: u32) -> u64 {
    memory(pid).map_or(0, |m| m.1)
}

// ---------------------------------------------------------------- main

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-load: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let a = args()?;
    let total = Instant::now();
    let (dir, data) = store_dir(&a)?;
    if let Some(d) = &data {
        dataset::describe(&format!("big job {TOOL}/{BIG_JOB}"), &d.big);
        dataset::describe(&format!("small job {TOOL}/{SMALL_JOB}"), &d.small);
    }

    let reader_callers = a.readers.div_ceil(a.caller_max);
    let small_callers = (a.small_rps.ceil() as usize).clamp(1, 8);
    let mut names = vec!["solo".to_string()];
    names.extend((0..reader_callers).map(|i| format!("reader-{i:03}")));
    names.extend((0..a.follows).map(|i| format!("follow-{i:03}")));
    names.extend((0..small_callers).map(|i| format!("small-{i:03}")));
    let tokens_path = dir.join("bench-load-tokens.json");
    let all = callers(&server::afterlog_bin()?, &names, &tokens_path)?;
    let solo = &all[0];
    let readers = &all[1..1 + reader_callers];
    let followers = &all[1 + reader_callers..1 + reader_callers + a.follows];
    let smalls = &all[1 + reader_callers + a.follows..];

    let budget = a.budget_mib.to_string();
    let caller_max = a.caller_max.to_string();
    let server = Server::start(
        &dir,
        &[
            "--auth",
            "token",
            "--tokens",
            &tokens_path.to_string_lossy(),
            "--memory-budget-mib",
            &budget,
            "--caller-max",
            &caller_max,
        ],
        "bench-load-serve.log",
    )?;
    let (pid, addr) = (server.pid(), server.addr.clone());
    println!(
        "\nafterlog serve (pid {pid}, {addr}): budget {} MiB, {} per caller; {} callers ({reader_callers} reading, {} following, {small_callers} small, 1 solo)",
        a.budget_mib,
        a.caller_max,
        all.len(),
        a.follows
    );

    let samples = Arc::new(Mutex::new(Samples::default()));
    let sampling = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (samples, sampling, addr) = (samples.clone(), sampling.clone(), addr.clone());
        std::thread::spawn(move || sample(pid, &addr, &samples, &sampling))
    };
    std::thread::sleep(Duration::from_secs(1));
    let start_rss = rss_now(pid);
    println!("  VmRSS after start: {:.1} MiB", mib(start_rss));

    // Idle latency, with the same requests at the same rate as under load.
    let stop = AtomicBool::new(false);
    let idle_start = Instant::now();
    let idle = std::thread::scope(|s| {
        let h = s.spawn(|| small_load(&addr, smalls, a.small_rps, &stop, idle_start));
        std::thread::sleep(Duration::from_secs(a.idle_secs));
        stop.store(true, Ordering::SeqCst);
        h.join().unwrap_or_default()
    });
    let idle_ms: Vec<f64> = idle.iter().map(|r| r.ms).collect();
    let idle_failed = idle.iter().filter(|r| !r.ok).count();
    let idle_p = percentiles(&idle_ms);
    println!(
        "\nidle: {} small requests in {} s ({idle_failed} failed): p50 / p99 / max {}",
        idle.len(),
        a.idle_secs,
        fmt_ms(idle_p)
    );

    // The reference.
    let full_path = format!("/v1/tool/{TOOL}/jobs/{BIG_JOB}/logs?format=ndjson");
    let (refr, solo_reply, solo_secs) = reference(&addr, &full_path, &solo.token)?;
    println!(
        "solo full read: {solo_secs:.2} s, {} lines, {:.1} MiB, CRC-32 {:08x}, {} out of order",
        refr.lines,
        refr.bytes as f64 / MIB,
        refr.crc,
        solo_reply.out_of_order
    );
    if let Some(m) = &solo_reply.messages {
        println!("  messages line: {}", &m[..m.len().min(400)]);
    }
    let mut bad = Vec::new();
    if solo_reply.out_of_order > 0 {
        bad.push(format!(
            "the solo read has {} lines out of ts order",
            solo_reply.out_of_order
        ));
    }
    if let Some(d) = &data
        && solo_reply.lines != d.big.records
    {
        bad.push(format!(
            "the solo read gave {} lines, {} were generated",
            solo_reply.lines, d.big.records
        ));
    }
    let follow_path = match a.follow_tail {
        Some(n) => format!("{full_path}&tail={n}&follow=true"),
        None => format!("{full_path}&follow=true"),
    };
    // What a follow's stored part must be: the whole log, or its tail.
    let follow_ref = match a.follow_tail {
        Some(n) => {
            let (r, _, _) = reference(&addr, &format!("{full_path}&tail={n}"), &solo.token)?;
            r
        }
        None => refr,
    };
    let (pre_hwm, pre_rss) = memory(pid)?;
    println!(
        "  VmHWM {:.1} MiB, VmRSS {:.1} MiB before the load",
        mib(pre_hwm),
        mib(pre_rss)
    );
    let store_before = http::store_counters(&addr).ok();

    // The load.
    println!(
        "\nload: {} follows, then {} full reads over {reader_callers} callers, {} small requests/s throughout",
        a.follows, a.readers, a.small_rps
    );
    let (cpu0, me0) = (cpu_secs(pid)?, cpu_secs(std::process::id())?);
    let load_start = Instant::now();
    let follows = Follows::default();
    let small_stop = AtomicBool::new(false);
    let (reads, follow_outcomes, loaded, reads_start, reads_end) = std::thread::scope(|s| {
        let small = s.spawn(|| small_load(&addr, smalls, a.small_rps, &small_stop, load_start));
        let (tx, rx) = std::sync::mpsc::channel();
        let follow_threads: Vec<_> = followers
            .iter()
            .map(|c| {
                let (tx, follows, addr, path) = (tx.clone(), &follows, &addr, &follow_path);
                s.spawn(move || {
                    follow(
                        addr,
                        path,
                        &c.token,
                        a.retries,
                        follows,
                        &tx,
                        follow_ref.bytes,
                    )
                })
            })
            .collect();
        drop(tx);
        let deadline = Instant::now() + FOLLOWS_WAIT;
        let mut answered = 0;
        while answered < a.follows {
            let left = deadline.saturating_duration_since(Instant::now());
            if rx.recv_timeout(left).is_err() {
                break;
            }
            answered += 1;
        }
        println!(
            "  {answered} of {} follows answered after {:.1} s",
            a.follows,
            load_start.elapsed().as_secs_f64()
        );
        let reads_start = Instant::now();
        let read_threads: Vec<_> = (0..a.readers)
            .map(|i| {
                let (c, addr, path) = (&readers[i / a.caller_max], &addr, &full_path);
                s.spawn(move || full_read(addr, path, &c.token, a.retries))
            })
            .collect();
        let reads: Vec<ReadOutcome> = read_threads
            .into_iter()
            .map(|t| t.join().unwrap_or_default())
            .collect();
        let reads_end = Instant::now();
        follows.cut();
        let fo: Vec<FollowOutcome> = follow_threads
            .into_iter()
            .map(|t| t.join().unwrap_or_default())
            .collect();
        small_stop.store(true, Ordering::SeqCst);
        let loaded = small.join().unwrap_or_default();
        (reads, fo, loaded, reads_start, reads_end)
    });
    let load_end = Instant::now();
    let load_cpu = cpu_secs(pid)? - cpu0;
    // The bench shares the machine with the server: what it took is what
    // the server could not have.
    let my_cpu = cpu_secs(std::process::id())? - me0;
    let (post_hwm, post_rss) = memory(pid)?;
    let store_after = http::store_counters(&addr).ok();
    let after_metrics = metrics(&addr).unwrap_or_default();
    let load_secs = (load_end - load_start).as_secs_f64();
    let reads_secs = (reads_end - reads_start).as_secs_f64();
    println!(
        "  reads took {reads_secs:.1} s, the whole load {load_secs:.1} s; server CPU {load_cpu:.1} s ({:.2} cores), bench CPU {my_cpu:.1} s",
        load_cpu / load_secs
    );

    // Reads.
    let complete = reads
        .iter()
        .filter(|r| r.error.is_none() && r.digest.as_ref().is_some_and(|d| refr.matches(d)))
        .count();
    let admitted_reads = reads.iter().filter(|r| r.digest.is_some()).count();
    let refused_once = reads.iter().filter(|r| !r.refusals.is_empty()).count();
    let retried_ok = reads
        .iter()
        .filter(|r| !r.refusals.is_empty() && r.digest.is_some() && r.error.is_none())
        .count();
    let gave_up = reads
        .iter()
        .filter(|r| r.digest.is_none() && r.error.is_none())
        .count();
    let count = |v: &[&'static str], what: &str| v.iter().filter(|&&r| r == what).count();
    let all_refusals: Vec<&'static str> = reads.iter().flat_map(|r| r.refusals.clone()).collect();
    let most_refusals = reads.iter().map(|r| r.refusals.len()).max().unwrap_or(0);
    for (i, r) in reads.iter().enumerate() {
        if let Some(e) = &r.error {
            bad.push(format!("read {i}: {e}"));
        } else if let Some(d) = &r.digest
            && !refr.matches(d)
        {
            let (bytes, lines, crc) = d.sum();
            bad.push(format!(
                "read {i}: {lines} lines, {bytes} bytes, CRC-32 {crc:08x}; alone: {} lines, {} bytes, {:08x}",
                refr.lines, refr.bytes, refr.crc
            ));
        }
    }
    let body_s: Vec<f64> = reads
        .iter()
        .filter(|r| r.digest.is_some())
        .map(|r| r.body_secs * 1000.0)
        .collect();
    let total_s: Vec<f64> = reads
        .iter()
        .filter(|r| r.digest.is_some())
        .map(|r| r.total_secs * 1000.0)
        .collect();
    println!(
        "  full reads: {complete} of {} complete and identical to the solo read; {admitted_reads} admitted, {gave_up} gave up after {} retries",
        a.readers, a.retries
    );
    println!(
        "  429s: {} answers to {refused_once} reads (budget {}, caller {}, other {}), at most {most_refusals} for one read; {retried_ok} of those reads then succeeded",
        all_refusals.len(),
        count(&all_refusals, "budget"),
        count(&all_refusals, "caller"),
        all_refusals.len() - count(&all_refusals, "budget") - count(&all_refusals, "caller"),
    );
    println!(
        "  per read, ms: body p50 / p99 / max {}; with the waits {}",
        fmt_ms(percentiles(&body_s)),
        fmt_ms(percentiles(&total_s))
    );

    // Follows.
    let f_admitted = follow_outcomes.iter().filter(|f| f.admitted).count();
    let f_whole = follow_outcomes
        .iter()
        .filter(|f| f.digest.as_ref().is_some_and(|d| follow_ref.matches(d)))
        .count();
    let f_short = follow_outcomes
        .iter()
        .filter(|f| {
            f.digest
                .as_ref()
                .is_some_and(|d| d.bytes < follow_ref.bytes)
        })
        .count();
    let f_early = follow_outcomes.iter().filter(|f| f.ended_early).count();
    let f_refusals: Vec<&'static str> = follow_outcomes
        .iter()
        .flat_map(|f| f.refusals.clone())
        .collect();
    let f_extra: u64 = follow_outcomes
        .iter()
        .filter_map(|f| f.digest.as_ref().map(|d| d.extra))
        .sum();
    for (i, f) in follow_outcomes.iter().enumerate() {
        if let Some(e) = &f.error {
            bad.push(format!("follow {i}: {e}"));
        } else if let Some(d) = &f.digest
            && d.bytes == follow_ref.bytes
            && !follow_ref.matches(d)
        {
            bad.push(format!(
                "follow {i}: its stored part differs from the read alone ({} lines, CRC-32 {:08x})",
                d.lines,
                d.crc.sum()
            ));
        }
    }
    println!(
        "  follows: {f_admitted} of {} admitted ({} 429s: {} budget, {} caller, {} follow-max); {f_whole} had sent their whole stored part ({}) identical to a read alone when cut, {f_short} had not; {f_early} ended before they were cut; {f_extra} bytes after the stored part",
        a.follows,
        f_refusals.len(),
        count(&f_refusals, "budget"),
        count(&f_refusals, "caller"),
        count(&f_refusals, "follow-max"),
        match a.follow_tail {
            Some(n) => format!("tail={n}"),
            None => "the whole log".into(),
        },
    );

    // Small requests.
    let window = |r: &&Small| {
        let at = load_start + r.due;
        at >= reads_start && at <= reads_end
    };
    let during: Vec<&Small> = loaded.iter().filter(window).collect();
    let during_ms: Vec<f64> = during.iter().map(|r| r.ms).collect();
    let during_failed = during.iter().filter(|r| !r.ok).count();
    let during_p = percentiles(&during_ms);
    println!(
        "  small requests while the reads ran: {} ({during_failed} failed): p50 / p99 / max {}; idle {}",
        during.len(),
        fmt_ms(during_p),
        fmt_ms(idle_p)
    );
    if let (Some(b), Some(af)) = (&store_before, &store_after) {
        let d = http::delta(b, af);
        if let (Some((n, by_op)), Some(bytes)) = (&d.requests, d.bytes) {
            let ops: Vec<String> = by_op.iter().map(|(k, v)| format!("{k} {v:.0}")).collect();
            println!(
                "  store during the load: {n:.0} requests ({}), {:.1} MiB fetched",
                ops.join(", "),
                bytes / MIB
            );
        }
    }

    // Settling.
    let settle_from = Instant::now();
    std::thread::sleep(Duration::from_secs(a.settle_secs));
    let settled_rss = rss_now(pid);
    let settle_metrics = metrics(&addr).unwrap_or_default();
    sampling.store(true, Ordering::SeqCst);
    let _ = sampler.join();
    let samples = samples.lock().unwrap_or_else(|e| e.into_inner());
    let load_peak_rss = samples.max_rss(load_start, load_end);
    let (in_use_max, running_max, queued_max) = samples.max_admission(load_start, load_end);
    let settle_min_rss = samples
        .rss
        .iter()
        .filter(|(t, _)| *t >= settle_from)
        .map(|&(_, k)| k)
        .min()
        .unwrap_or(settled_rss);
    println!(
        "\nVmRSS: {:.1} MiB after start, {:.1} MiB before the load, up to {:.1} MiB sampled during it, {:.1} MiB right after, {:.1} MiB {} s later (lowest {:.1}); VmHWM {:.1} MiB",
        mib(start_rss),
        mib(pre_rss),
        mib(load_peak_rss),
        mib(post_rss),
        mib(settled_rss),
        a.settle_secs,
        mib(settle_min_rss),
        mib(post_hwm)
    );
    println!("admission, from /v1/metrics right after the load:");
    for l in after_metrics
        .lines()
        .filter(|l| l.starts_with("afterlog_admission_") || l.starts_with("afterlog_follows"))
    {
        println!("  {l}");
    }
    let after_in_use = metric(&after_metrics, "afterlog_admission_in_use_mib");
    let after_running = metric(&after_metrics, "afterlog_admission_running");
    let settle_in_use = metric(&settle_metrics, "afterlog_admission_in_use_mib");
    let settle_running = metric(&settle_metrics, "afterlog_admission_running");
    println!(
        "  sampled during the load: up to {in_use_max:.0} MiB in use, {running_max:.0} running, {queued_max:.0} queued; {settle_in_use:.0} MiB in use, {settle_running:.0} running after settling"
    );
    let refused_budget = metric(
        &after_metrics,
        "afterlog_admission_refused_total{reason=\"budget\"}",
    );
    let refused_caller = metric(
        &after_metrics,
        "afterlog_admission_refused_total{reason=\"caller\"}",
    );
    let log = std::fs::read_to_string(dir.join("bench-load-serve.log")).unwrap_or_default();
    let noted: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .collect();
    if !noted.is_empty() {
        println!(
            "server log: {} warnings and errors, the first:",
            noted.len()
        );
        for l in noted.iter().take(5) {
            println!("  {}", &l[..l.len().min(300)]);
        }
    }
    drop(server);

    println!(
        "\ntotal bench time {:.0} s{}\n",
        total.elapsed().as_secs_f64(),
        if bad.is_empty() {
            ""
        } else {
            " — WITH MISMATCHES"
        }
    );
    println!(
        "Big job: {:.0} MiB of NDJSON, {} lines; {} full reads over {reader_callers} callers ({} each), {} follows of {} (a caller each), {} small requests/s over {small_callers} callers; budget {} MiB; over {load_secs:.1} s, server CPU {load_cpu:.1} s, bench CPU {my_cpu:.1} s.\n",
        refr.bytes as f64 / MIB,
        refr.lines,
        a.readers,
        a.caller_max,
        a.follows,
        match a.follow_tail {
            Some(n) => format!("tail={n}"),
            None => "the whole log".into(),
        },
        a.small_rps,
        a.budget_mib
    );
    let ratio = |x: f64, y: f64| if y > 0.0 { x / y } else { f64::NAN };
    println!("| what | figure | goal |");
    println!("|---|---:|---|");
    println!(
        "| server peak RSS (`VmHWM`) | **{:.1} MiB** | ≤ {} MiB (budget) |",
        mib(post_hwm),
        a.budget_mib
    );
    println!(
        "| `VmRSS` sampled every 100 ms, highest during the load | {:.1} MiB | |",
        mib(load_peak_rss)
    );
    println!(
        "| `VmRSS` idle: after start / before the load (after the solo read) | {:.1} / {:.1} MiB | |",
        mib(start_rss),
        mib(pre_rss)
    );
    println!(
        "| `VmRSS` right after the load | {:.1} MiB ({:.1}× idle) | |",
        mib(post_rss),
        ratio(post_rss as f64, pre_rss as f64)
    );
    println!(
        "| `VmRSS` {} s after the load | **{:.1} MiB ({:.1}× idle)** | ≤ 2× idle |",
        a.settle_secs,
        mib(settled_rss),
        ratio(settled_rss as f64, pre_rss as f64)
    );
    println!(
        "| full reads complete and identical to one alone ({} lines) | **{complete} of {}** | all |",
        refr.lines, a.readers
    );
    println!(
        "| reads refused (429) at least once / then succeeded / gave up | {refused_once} / {retried_ok} / {gave_up} | |"
    );
    println!(
        "| 429s to reads: budget / caller cap | {} / {} | caller cap: 0 |",
        count(&all_refusals, "budget"),
        count(&all_refusals, "caller")
    );
    println!(
        "| full read, body only / with waits and retries, p50 | {:.1} s / {:.1} s | |",
        percentiles(&body_s).0 / 1000.0,
        percentiles(&total_s).0 / 1000.0
    );
    println!(
        "| follows admitted / whole stored part identical when cut | {f_admitted} / {f_whole} of {} | |",
        a.follows
    );
    println!(
        "| small requests idle, p50 / p99 / max | {} | |",
        fmt_ms(idle_p)
    );
    println!(
        "| small requests while the reads run, p50 / p99 / max | {} | |",
        fmt_ms(during_p)
    );
    println!(
        "| small p99 under load / idle | **{:.1}×** | ≤ 10× |",
        ratio(during_p.1, idle_p.1)
    );
    println!("| small requests failed, idle / under load | {idle_failed} / {during_failed} | 0 |");
    println!(
        "| admission during the load: most MiB in use / running / queued | {in_use_max:.0} / {running_max:.0} / {queued_max:.0} | |"
    );
    println!(
        "| `afterlog_admission_refused_total`, budget / caller | {refused_budget:.0} / {refused_caller:.0} | |"
    );
    println!(
        "| admission right after the load: MiB in use / running | {after_in_use:.0} / {after_running:.0} | 0 / 0 |"
    );
    if !bad.is_empty() {
        println!();
        for b in bad.iter().take(20) {
            println!("!!!!! {b}");
        }
        bail!("{} answers were wrong (see !!!!! above)", bad.len());
    }
    Ok(())
}
