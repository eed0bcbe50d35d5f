//! `bench-reader`: how fast the afterlog reader reassembles a large job,
//! against `zcat` of the same objects, and at what memory cost.
//!
//! ```sh
//! cargo build --profile ci -p afterlog
//! cargo run --profile ci -p afterlog-bench-reader -- [--size-mib 1024] [--dir target/bench-reader] [--runs 3]
//! ```
//!
//! It prints figures and ratios; it asserts nothing. See docs/benchmarks.md.

mod gz;
mod http;
mod synth;

use afterlog_reader::job::RAW_SLACK_NS;
use afterlog_reader::{Filter, JobIndex, JobReader, LogRecord, StoreConfig, sort_records};
use anyhow::{Context, Result, bail, ensure};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use synth::{BIG_JOB, JobStats, SMALL_JOB, TOOL};

const MIB: f64 = 1024.0 * 1024.0;
/// Bump when the generated data changes, so old sets are not reused.
const DATA_VERSION: u64 = 1;
const SEED: u64 = 20_261_125;
const MARKER: &str = "bench-reader.json";

struct Args {
    size_mib: u64,
    dir: PathBuf,
    runs: usize,
}

fn args() -> Result<Args> {
    let mut a = Args {
        size_mib: 1024,
        dir: PathBuf::from("target/bench-reader"),
        runs: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--size-mib" => a.size_mib = value()?.parse().context("--size-mib")?,
            "--dir" => a.dir = PathBuf::from(value()?),
            "--runs" => a.runs = value()?.parse().context("--runs")?,
            "-h" | "--help" => {
                println!(
                    "bench-reader [--size-mib 1024] [--dir target/bench-reader] [--runs 3]\n\
                     Reassembles a generated job through `afterlog serve` and compares with zcat."
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (see --help)"),
        }
    }
    ensure!(a.size_mib >= 4, "--size-mib must be at least 4");
    ensure!(a.runs >= 1, "--runs must be at least 1");
    a.dir = std::path::absolute(&a.dir)?;
    Ok(a)
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

fn fmt_runs(v: &[f64]) -> String {
    v.iter()
        .map(|x| format!("{x:.2}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn mbs(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / MIB / secs
}

/// `VmHWM` and `VmRSS` of a process, KiB.
fn memory(pid: u32) -> Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("no {name} in /proc/{pid}/status"))
    };
    Ok((field("VmHWM:")?, field("VmRSS:")?))
}

/// Resets a process's peak RSS to its current RSS (Linux ≥ 4.0).
fn reset_peak(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// User + system CPU seconds a process has used.
fn cpu_secs(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start at 3.
    let rest = &stat[stat.rfind(')').context("bad /proc stat")? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f[11].parse::<u64>()? + f[12].parse::<u64>()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Ok(ticks as f64 / hz.max(1) as f64)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

// ---------------------------------------------------------------- data

struct Data {
    big: JobStats,
    small: JobStats,
    generated_secs: Option<f64>,
}

fn data(a: &Args) -> Result<Data> {
    let marker = a.dir.join(MARKER);
    if let Ok(text) = std::fs::read_to_string(&marker)
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
        && v["version"] == DATA_VERSION
        && v["size_mib"] == a.size_mib
        && v["seed"] == SEED
        && let (Some(big), Some(small)) = (
            JobStats::from_json(&v["big"]),
            JobStats::from_json(&v["small"]),
        )
    {
        println!(
            "data: reusing {} (delete it to regenerate)",
            a.dir.display()
        );
        return Ok(Data {
            big,
            small,
            generated_secs: None,
        });
    }
    // The marker goes first and comes back last: a set cut short is redone.
    let _ = std::fs::remove_file(&marker);
    for top in ["raw", "data", "meta"] {
        let p = a.dir.join(top).join(TOOL);
        if p.exists() {
            std::fs::remove_dir_all(&p).with_context(|| format!("removing {}", p.display()))?;
        }
    }
    std::fs::create_dir_all(&a.dir)?;
    println!(
        "data: generating {} MiB + 1 MiB in {} ...",
        a.size_mib,
        a.dir.display()
    );
    let t = Instant::now();
    let big = synth::write_job(&a.dir, &synth::big_job(a.size_mib, SEED))?;
    let small = synth::write_job(&a.dir, &synth::small_job(SEED))?;
    let secs = t.elapsed().as_secs_f64();
    let v = serde_json::json!({
        "version": DATA_VERSION, "size_mib": a.size_mib, "seed": SEED,
        "big": big.to_json(), "small": small.to_json(),
    });
    std::fs::write(&marker, serde_json::to_string_pretty(&v)?)?;
    Ok(Data {
        big,
        small,
        generated_secs: Some(secs),
    })
}

fn describe(name: &str, s: &JobStats) {
    println!(
        "  {name}: {} records ({} on stderr), {:.1} MiB in {} objects, {:.1} MiB gzipped (ratio {:.1}x), {:.0} bytes/record",
        s.records,
        s.stderr,
        s.bytes as f64 / MIB,
        s.objects,
        s.gz_bytes as f64 / MIB,
        s.bytes as f64 / s.gz_bytes.max(1) as f64,
        s.bytes as f64 / s.records.max(1) as f64
    );
}

// ---------------------------------------------------------------- zcat

fn zcat(files: &[PathBuf]) -> Result<f64> {
    let t = Instant::now();
    let status = Command::new("zcat")
        .args(files)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .context("running zcat")?;
    let secs = t.elapsed().as_secs_f64();
    ensure!(status.success(), "zcat failed: {status}");
    Ok(secs)
}

// ---------------------------------------------------------------- server

struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(dir: &Path) -> Result<Server> {
        let exe = std::env::current_exe()?;
        let bin = exe
            .parent()
            .context("the bench has no directory")?
            .join("afterlog");
        if !bin.exists() {
            bail!(
                "{} is missing: build the service first with `cargo build --profile ci -p afterlog`",
                bin.display()
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr = format!("127.0.0.1:{port}");
        let log = std::fs::File::create(dir.join("afterlog-serve.log"))?;
        let child = Command::new(&bin)
            .args(["serve", "--store"])
            .arg(format!("file://{}", dir.display()))
            .args(["--insecure-no-auth", "--listen", &addr])
            // Reading is measured here, not compaction (bench-compact).
            .args(["--compact-every-minutes", "0"])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut s = Server { child, addr };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = s.child.try_wait()? {
                let log =
                    std::fs::read_to_string(dir.join("afterlog-serve.log")).unwrap_or_default();
                bail!("afterlog serve exited ({status}):\n{log}");
            }
            if let Ok(r) = http::get(&s.addr, "/v1/healthz")
                && r.status == 200
            {
                return Ok(s);
            }
            if Instant::now() > deadline {
                bail!("afterlog serve did not answer /v1/healthz within 30 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: signalling our own child by its pid.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn logs_path(job: &str, query: &str) -> String {
    format!("/v1/tool/{TOOL}/jobs/{job}/logs?format=ndjson{query}")
}

// ---------------------------------------------------------------- in-process

struct InProcess {
    secs: f64,
    cpu: f64,
    records: u64,
    bytes: u64,
    objects: u64,
    warnings: usize,
    peak_kib: Option<u64>,
}

fn self_cpu() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn in_process(rt: &tokio::runtime::Runtime, dir: &Path) -> Result<InProcess> {
    let store = afterlog_reader::open(&StoreConfig::new(format!("file://{}", dir.display())))?;
    let me = std::process::id();
    let reset = reset_peak(me);
    let (t, cpu) = (Instant::now(), self_cpu());
    let (records, bytes, stats, warnings) = rt.block_on(async {
        let index = JobIndex::load(store.as_ref(), TOOL, BIG_JOB).await?;
        let mut rd = JobReader::new(store.clone(), &index, Filter::default());
        let (mut records, mut bytes) = (0u64, 0u64);
        while let Some(r) = rd.next().await? {
            records += 1;
            bytes += r.line.len() as u64 + 1;
        }
        anyhow::Ok((records, bytes, rd.stats, rd.warnings))
    })?;
    let secs = t.elapsed().as_secs_f64();
    let cpu = self_cpu() - cpu;
    for w in warnings.iter().take(5) {
        println!("    warning: {w}");
    }
    Ok(InProcess {
        secs,
        cpu,
        records,
        bytes,
        objects: stats.objects_read,
        warnings: warnings.len(),
        peak_kib: reset.then(|| memory(me).map(|m| m.0).ok()).flatten(),
    })
}

/// The reader's per-object work done one object after another on one
/// thread, timed by stage, with what the objects hold.
struct Stages {
    unzip: f64,
    parse: f64,
    sort: f64,
    records: u64,
    /// Heap the parsed records take, estimated, over their text's size.
    heap_factor: f64,
    /// Per object: the earliest time the reader may need it (key time minus
    /// the raw slack), its last record's time, its text's size.
    spans: Vec<(u64, u64, u64)>,
}

fn stages(files: &[PathBuf]) -> Result<Stages> {
    let mut s = Stages {
        unzip: 0.0,
        parse: 0.0,
        sort: 0.0,
        records: 0,
        heap_factor: 0.0,
        spans: Vec::new(),
    };
    let (mut heap, mut text_bytes) = (0u64, 0u64);
    let mut text = Vec::new();
    for f in files {
        let gz = std::fs::read(f)?;
        let t = Instant::now();
        gz::flate2(&gz, &mut text)?;
        let t1 = Instant::now();
        let mut recs: Vec<LogRecord> = text
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(LogRecord::parse)
            .collect::<Result<_, _>>()
            .with_context(|| format!("parsing {}", f.display()))?;
        let t2 = Instant::now();
        sort_records(&mut recs);
        let t3 = Instant::now();
        s.records += recs.len() as u64;
        s.unzip += (t1 - t).as_secs_f64();
        s.parse += (t2 - t1).as_secs_f64();
        s.sort += (t3 - t2).as_secs_f64();
        heap += recs
            .iter()
            .map(|r| {
                (std::mem::size_of::<LogRecord>()
                    + r.line.capacity()
                    + r.log.capacity()
                    + r.container_id.capacity()
                    + r.container.capacity()
                    + r.pod.capacity()
                    + r.stream.capacity()) as u64
            })
            .sum::<u64>();
        text_bytes += text.len() as u64;
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let key_secs = name
            .get(..16)
            .and_then(afterlog_contract::time::parse_compact_utc)
            .with_context(|| format!("no key time in {name}"))?;
        let lower = (key_secs as u64 * 1_000_000_000).saturating_sub(RAW_SLACK_NS);
        let last = recs.last().map_or(0, |r| r.ts);
        s.spans.push((lower, last, text.len() as u64));
    }
    s.heap_factor = heap as f64 / text_bytes.max(1) as f64;
    Ok(s)
}

/// The most objects (and their text bytes) open at once if each is opened
/// when the merge reaches its lower bound and dropped when it is drained:
/// the reader's policy, as a model.
fn overlap(spans: &[(u64, u64, u64)]) -> (usize, u64) {
    let mut ev: Vec<(u64, i8, u64)> = Vec::new();
    for &(lo, hi, b) in spans {
        ev.push((lo, 1, b));
        ev.push((hi.max(lo), -1, b));
    }
    // Opens before closes at the same time.
    ev.sort_by_key(|&(t, d, _)| (t, -d));
    let (mut n, mut bytes, mut max_n, mut max_b) = (0usize, 0u64, 0usize, 0u64);
    for (_, d, b) in ev {
        if d > 0 {
            n += 1;
            bytes += b;
        } else {
            n -= 1;
            bytes -= b;
        }
        if n > max_n {
            (max_n, max_b) = (n, bytes);
        }
    }
    (max_n, max_b)
}

/// The objects `read_tail` reads in its first pass (it starts from the
/// newest 4 objects' earliest bound): (planned in all, read by the tail,
/// their gzipped bytes).
fn tail_plan(rt: &tokio::runtime::Runtime, dir: &Path, job: &str) -> Result<(usize, usize, u64)> {
    let store = afterlog_reader::open(&StoreConfig::new(format!("file://{}", dir.display())))?;
    let index = rt.block_on(JobIndex::load(store.as_ref(), TOOL, job))?;
    let all = index.plan(&Filter::default()).objects;
    let from = all.len().saturating_sub(4);
    let since = (from > 0).then(|| all[from].lower);
    let read = index
        .plan(&Filter {
            since,
            ..Filter::default()
        })
        .objects;
    Ok((all.len(), read.len(), read.iter().map(|p| p.size).sum()))
}

// ---------------------------------------------------------------- gzip

fn backends(files: &[PathBuf], runs: usize, expect: u64) -> Result<(Vec<f64>, Vec<f64>)> {
    let (mut fl, mut mz) = (Vec::new(), Vec::new());
    let mut out = Vec::new();
    for _ in 0..runs {
        let (mut a, mut b, mut na, mut nb) = (0.0, 0.0, 0u64, 0u64);
        for f in files {
            let mut gzb = Vec::new();
            std::fs::File::open(f)?.read_to_end(&mut gzb)?;
            let t = Instant::now();
            gz::flate2(&gzb, &mut out)?;
            a += t.elapsed().as_secs_f64();
            na += out.len() as u64;
            let t = Instant::now();
            let v = gz::miniz(&gzb).with_context(|| format!("{}", f.display()))?;
            b += t.elapsed().as_secs_f64();
            nb += v.len() as u64;
        }
        ensure!(
            na == expect && nb == expect,
            "decompressed {na} / {nb} bytes, expected {expect}"
        );
        fl.push(a);
        mz.push(b);
    }
    Ok((fl, mz))
}

// ---------------------------------------------------------------- main

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-reader: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let a = args()?;
    let total = Instant::now();
    let d = data(&a)?;
    if let Some(s) = d.generated_secs {
        println!("  generated in {s:.1} s");
    }
    describe(&format!("big job {TOOL}/{BIG_JOB}"), &d.big);
    describe(&format!("small job {TOOL}/{SMALL_JOB}"), &d.small);
    let files = synth::object_files(&synth::job_dir(&a.dir, BIG_JOB))?;
    ensure!(
        files.len() as u64 == d.big.objects,
        "{} holds {} objects of the big job, the marker says {}: delete it and run again",
        a.dir.display(),
        files.len(),
        d.big.objects
    );
    let bytes = d.big.bytes;

    // zcat.
    let mut zc = Vec::new();
    for _ in 0..a.runs {
        zc.push(zcat(&files)?);
    }
    let zcat_s = median(&zc);
    println!(
        "\nzcat of the big job's {} objects: {:.2} s median ({} s) → {:.0} MiB/s",
        files.len(),
        zcat_s,
        fmt_runs(&zc),
        mbs(bytes, zcat_s)
    );

    // The service.
    let server = Server::start(&a.dir)?;
    let pid = server.pid();
    let (start_hwm, start_rss) = memory(pid)?;
    println!(
        "\nafterlog serve (pid {pid}, {}): VmHWM {:.1} MiB, VmRSS {:.1} MiB after start",
        server.addr,
        mib(start_hwm),
        mib(start_rss)
    );
    let mut full = Vec::new();
    let mut full_cpu = Vec::new();
    let mut mismatch = false;
    for i in 0..a.runs {
        let (cpu0, me0) = (cpu_secs(pid)?, self_cpu());
        let t = Instant::now();
        let r = http::get(&server.addr, &logs_path(BIG_JOB, ""))?;
        let secs = t.elapsed().as_secs_f64();
        let (cpu, me) = (cpu_secs(pid)? - cpu0, self_cpu() - me0);
        ensure!(
            r.status == 200,
            "full read: HTTP {}: {}",
            r.status,
            String::from_utf8_lossy(&r.small_body)
        );
        println!(
            "  full read {}: {:.2} s, {} lines, {:.1} MiB of body, server CPU {:.2} s ({:.2} cores), client CPU {:.2} s, {} out of order",
            i + 1,
            secs,
            r.lines,
            r.bytes as f64 / MIB,
            cpu,
            cpu / secs,
            me,
            r.out_of_order
        );
        if let Some(m) = &r.messages {
            println!("    messages line: {}", &m[..m.len().min(400)]);
        }
        if r.lines != d.big.records {
            mismatch = true;
            println!(
                "  !!!!! MISMATCH: received {} lines, generated {} records !!!!!",
                r.lines, d.big.records
            );
        }
        full.push(secs);
        full_cpu.push(cpu);
    }
    let full_s = median(&full);
    let (full_hwm, full_rss) = memory(pid)?;
    println!(
        "full job over HTTP: {:.2} s median ({} s) → {:.0} MiB/s, {:.2}× zcat; server VmHWM {:.1} MiB (VmRSS {:.1} MiB)",
        full_s,
        fmt_runs(&full),
        mbs(bytes, full_s),
        zcat_s / full_s,
        mib(full_hwm),
        mib(full_rss)
    );

    // Tails, on a fresh server so that its peak is the tails' own.
    drop(server);
    let server = Server::start(&a.dir)?;
    let pid = server.pid();
    let mut tails = [(BIG_JOB, Vec::new()), (SMALL_JOB, Vec::new())];
    for (job, times) in &mut tails {
        for i in 0..12 {
            let t = Instant::now();
            let r = http::get(&server.addr, &logs_path(job, "&tail=100"))?;
            let secs = t.elapsed().as_secs_f64();
            ensure!(
                r.status == 200,
                "tail of {job}: HTTP {}: {}",
                r.status,
                String::from_utf8_lossy(&r.small_body)
            );
            if r.lines != 100 {
                println!("  !!!!! tail of {job}: {} lines, not 100 !!!!!", r.lines);
            }
            if i > 0 {
                times.push(secs * 1000.0);
            }
        }
    }
    let tail_big = median(&tails[0].1);
    let tail_small = median(&tails[1].1);
    let tail_hwm = memory(pid)?.0;
    println!(
        "\ntail=100: big job {tail_big:.1} ms, small job {tail_small:.1} ms (median of 11) → {:.1}×",
        tail_big / tail_small
    );
    println!("  big:   {} ms", fmt_runs(&tails[0].1));
    println!("  small: {} ms", fmt_runs(&tails[1].1));
    println!(
        "  VmHWM of a fresh server after the 24 tails: {:.1} MiB",
        mib(tail_hwm)
    );
    drop(server);

    // In process.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut inproc = Vec::new();
    let mut inproc_cpu = Vec::new();
    let mut inproc_peak = None;
    for i in 0..a.runs {
        let r = in_process(&rt, &a.dir)?;
        println!(
            "  in-process read {}: {:.2} s, {} records, {:.1} MiB, {} objects, CPU {:.2} s ({:.2} cores), {} warnings",
            i + 1,
            r.secs,
            r.records,
            r.bytes as f64 / MIB,
            r.objects,
            r.cpu,
            r.cpu / r.secs,
            r.warnings
        );
        if r.records != d.big.records || r.bytes != bytes {
            mismatch = true;
            println!(
                "  !!!!! MISMATCH: read {} records / {} bytes, generated {} / {} !!!!!",
                r.records, r.bytes, d.big.records, bytes
            );
        }
        inproc.push(r.secs);
        inproc_cpu.push(r.cpu);
        if i == 0 {
            // Later runs start from the heap the first one left behind.
            inproc_peak = r.peak_kib;
        }
    }
    drop(rt);
    let inproc_s = median(&inproc);
    println!(
        "in-process JobReader: {:.2} s median ({} s) → {:.0} MiB/s, {:.2}× zcat{}",
        inproc_s,
        fmt_runs(&inproc),
        mbs(bytes, inproc_s),
        zcat_s / inproc_s,
        inproc_peak
            .map(|k| format!(", bench VmHWM {:.1} MiB", mib(k)))
            .unwrap_or_default()
    );
    let st = stages(&files)?;
    let (unzip, parse, sort) = (st.unzip, st.parse, st.sort);
    println!(
        "  one thread, object by object: gunzip {unzip:.2} s ({:.0} MiB/s), parse {parse:.2} s ({:.0} MiB/s, {:.2} µs/record), sort {sort:.2} s; sum {:.2} s",
        mbs(bytes, unzip),
        mbs(bytes, parse),
        parse * 1e6 / st.records.max(1) as f64,
        unzip + parse + sort
    );
    let (open_n, open_bytes) = overlap(&st.spans);
    println!(
        "  parsed records take {:.2}× their text on the heap; at most {open_n} objects ({:.1} MiB of text, ~{:.0} MiB parsed) overlap the reader's window of key time − {} s .. last record",
        st.heap_factor,
        open_bytes as f64 / MIB,
        open_bytes as f64 * st.heap_factor / MIB,
        RAW_SLACK_NS / 1_000_000_000
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (tp_all, tp_read, tp_gz) = tail_plan(&rt, &a.dir, BIG_JOB)?;
    let (_, tp_small, tp_small_gz) = tail_plan(&rt, &a.dir, SMALL_JOB)?;
    drop(rt);
    println!(
        "  tail=100 of the big job reads {tp_read} of its {tp_all} objects ({:.1} MiB gzipped, ~{:.0} MiB of text); of the small job {tp_small} ({:.2} MiB gzipped)",
        tp_gz as f64 / MIB,
        tp_gz as f64 * d.big.bytes as f64 / d.big.gz_bytes.max(1) as f64 / MIB,
        tp_small_gz as f64 / MIB
    );

    // gzip backends.
    let (fl, mz) = backends(&files, a.runs, bytes)?;
    let (fl_s, mz_s) = (median(&fl), median(&mz));
    println!(
        "\ngzip backends, whole big job: flate2/zlib-rs {:.2} s ({} s) → {:.0} MiB/s; miniz_oxide {:.2} s ({} s) → {:.0} MiB/s; zlib-rs is {:.2}× miniz_oxide",
        fl_s,
        fmt_runs(&fl),
        mbs(bytes, fl_s),
        mz_s,
        fmt_runs(&mz),
        mbs(bytes, mz_s),
        mz_s / fl_s
    );

    println!(
        "\ntotal bench time {:.0} s{}\n",
        total.elapsed().as_secs_f64(),
        if mismatch { " — WITH MISMATCHES" } else { "" }
    );
    println!(
        "Big job: {:.0} MiB in {} objects ({:.0} MiB gzipped), {} records; runs: {}.\n",
        bytes as f64 / MIB,
        d.big.objects,
        d.big.gz_bytes as f64 / MIB,
        d.big.records,
        a.runs
    );
    println!("| what | median | throughput | vs zcat | goal |");
    println!("|---|---:|---:|---:|---|");
    println!(
        "| `zcat` of all objects | {zcat_s:.2} s | {:.0} MiB/s | 1.00 | |",
        mbs(bytes, zcat_s)
    );
    println!(
        "| full job, `GET …/logs?format=ndjson` | {full_s:.2} s | {:.0} MiB/s | **{:.2}** | ≥ 0.8 |",
        mbs(bytes, full_s),
        zcat_s / full_s
    );
    println!(
        "| full job, `JobReader` in process | {inproc_s:.2} s | {:.0} MiB/s | {:.2} | |",
        mbs(bytes, inproc_s),
        zcat_s / inproc_s
    );
    println!(
        "| gunzip, flate2 (zlib-rs), one thread | {fl_s:.2} s | {:.0} MiB/s | {:.2} | |",
        mbs(bytes, fl_s),
        zcat_s / fl_s
    );
    println!(
        "| gunzip, miniz_oxide, one thread | {mz_s:.2} s | {:.0} MiB/s | {:.2} | |",
        mbs(bytes, mz_s),
        zcat_s / mz_s
    );
    println!(
        "| parse records (`LogRecord::parse`), one thread | {parse:.2} s | {:.0} MiB/s | {:.2} | |",
        mbs(bytes, parse),
        zcat_s / parse
    );
    println!("| sort each object, one thread | {sort:.2} s | | | |");
    println!();
    println!("| what | figure | goal |");
    println!("|---|---:|---|");
    println!(
        "| server CPU per full read (median) | {:.2} s ({:.2} cores) | |",
        median(&full_cpu),
        median(&full_cpu) / full_s
    );
    println!(
        "| in-process CPU per full read (median) | {:.2} s ({:.2} cores) | |",
        median(&inproc_cpu),
        median(&inproc_cpu) / inproc_s
    );
    println!("| server VmHWM after start | {:.1} MiB | |", mib(start_hwm));
    println!(
        "| server VmHWM after the full reads | **{:.1} MiB** | ≤ 64 MiB |",
        mib(full_hwm)
    );
    println!(
        "| VmHWM of a fresh server after 24 tails | {:.1} MiB | |",
        mib(tail_hwm)
    );
    println!("| `tail=100`, big job | {tail_big:.1} ms | |");
    println!(
        "| `tail=100`, small job ({:.0} MiB, {} object) | {tail_small:.1} ms | |",
        d.small.bytes as f64 / MIB,
        d.small.objects
    );
    println!(
        "| tail big / small | **{:.1}×** | ≤ 2× |",
        tail_big / tail_small
    );
    println!(
        "| gunzip zlib-rs / miniz_oxide speed | **{:.2}×** | |",
        mz_s / fl_s
    );
    println!(
        "| objects overlapping the merge window (model) | {open_n} ({:.0} MiB text, ~{:.0} MiB parsed) | |",
        open_bytes as f64 / MIB,
        open_bytes as f64 * st.heap_factor / MIB
    );
    println!("| objects a big-job `tail=100` reads | {tp_read} of {tp_all} | |");
    if mismatch {
        bail!("record counts did not match (see MISMATCH above)");
    }
    Ok(())
}
