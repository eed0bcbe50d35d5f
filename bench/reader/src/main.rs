//! `bench-reader`: how fast the afterlog reader reassembles a large job,
//! against `zcat` of the same objects, and at what memory cost.
//!
//! ```sh
//! cargo build --profile ci -p afterlog
//! cargo run --profile ci -p afterlog-bench-reader -- [--size-mib 1024] [--dir target/bench-reader] [--runs 3] [--no-compacted]
//! ```
//!
//! Then the same reads on a compacted copy of the store (`<dir>-compacted`,
//! compacted by `afterlog compact` and reused like the data).
//!
//! It prints figures and ratios; it fails only where an answer has the
//! wrong number of lines or the copy did not compact. See docs/benchmarks.md.

mod dataset;
mod gz;
mod http;
mod server;
mod store;
mod synth;

use afterlog_reader::job::RAW_SLACK_NS;
use afterlog_reader::{JobIndex, JobReader, LogRecord, Selection, StoreConfig, sort_records};
use anyhow::{Context, Result, bail, ensure};
use dataset::{Data, describe};
use server::{Server, cpu_secs, memory, mib, store_url};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;
use synth::{BIG_JOB, SMALL_JOB, TOOL};

const MIB: f64 = 1024.0 * 1024.0;

struct Args {
    size_mib: u64,
    dir: PathBuf,
    runs: usize,
    compacted: bool,
}

fn args() -> Result<Args> {
    let mut a = Args {
        size_mib: 1024,
        dir: PathBuf::from("target/bench-reader"),
        runs: 3,
        compacted: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--size-mib" => a.size_mib = value()?.parse().context("--size-mib")?,
            "--dir" => a.dir = PathBuf::from(value()?),
            "--runs" => a.runs = value()?.parse().context("--runs")?,
            "--no-compacted" => a.compacted = false,
            "-h" | "--help" => {
                println!(
                    "bench-reader [--size-mib 1024] [--dir target/bench-reader] [--runs 3] [--no-compacted]\n\
                     Reassembles a generated job through `afterlog serve` and compares with zcat,\n\
                     then does the same on a compacted copy of the store (<dir>-compacted)\n\
                     unless --no-compacted."
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

/// Resets a process's peak RSS to its current RSS (Linux ≥ 4.0).
fn reset_peak(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
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

fn logs_path(job: &str, query: &str) -> String {
    format!("/v1/tool/{TOOL}/jobs/{job}/logs?format=ndjson{query}")
}

// ---------------------------------------------------------------- serving

/// What the store served per request, over a group of requests (`None`
/// where the service does not count it).
#[derive(Default)]
struct StoreCost {
    requests: Option<f64>,
    by_op: BTreeMap<String, f64>,
    kib: Option<f64>,
}

impl StoreCost {
    fn per_request(d: &http::Delta, n: usize) -> StoreCost {
        let n = n.max(1) as f64;
        let (requests, by_op) = match &d.requests {
            Some((total, by_op)) => (
                Some(total / n),
                by_op.iter().map(|(op, v)| (op.clone(), v / n)).collect(),
            ),
            None => (None, BTreeMap::new()),
        };
        StoreCost {
            requests,
            by_op,
            kib: d.bytes.map(|b| b / 1024.0 / n),
        }
    }

    /// `12 req, 310.2 KiB`.
    fn short(&self) -> String {
        let Some(r) = self.requests else {
            return "n/a".into();
        };
        let mut s = format!("{} req", fmt_count(r));
        if let Some(k) = self.kib {
            s.push_str(&format!(", {k:.1} KiB"));
        }
        s
    }

    /// [`StoreCost::short`] and the requests by op.
    fn long(&self) -> String {
        if self.by_op.is_empty() {
            return self.short();
        }
        let ops: Vec<String> = self
            .by_op
            .iter()
            .map(|(op, v)| format!("{op} {}", fmt_count(*v)))
            .collect();
        format!("{} ({})", self.short(), ops.join(", "))
    }
}

/// Whole numbers without decimals: most groups cost the same per request.
fn fmt_count(v: f64) -> String {
    if (v - v.round()).abs() < 0.005 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Runs `n` requests through `f` and reads the server's store counters
/// before and after them (outside the timed requests).
fn counted<T>(addr: &str, n: usize, f: impl FnOnce() -> Result<T>) -> Result<(T, StoreCost)> {
    let before = http::store_counters(addr).ok();
    let out = f()?;
    let after = http::store_counters(addr).ok();
    let cost = match (before, after) {
        (Some(b), Some(a)) => StoreCost::per_request(&http::delta(&b, &a), n),
        _ => StoreCost::default(),
    };
    Ok((out, cost))
}

/// What `afterlog serve` gave on one store: full reads of the big job on
/// one server, then tails of both jobs on a fresh one.
struct Served {
    start_hwm: u64,
    full: Vec<f64>,
    full_cpu: Vec<f64>,
    /// Lines of the first full read.
    lines: u64,
    full_hwm: u64,
    full_cost: StoreCost,
    /// ms, after a warm-up.
    tail_big: Vec<f64>,
    tail_small: Vec<f64>,
    tail_hwm: u64,
    tail_big_cost: StoreCost,
    tail_small_cost: StoreCost,
    mismatch: bool,
}

impl Served {
    fn full_s(&self) -> f64 {
        median(&self.full)
    }
}

/// The service's figures on the store in `dir`. Every full read must give
/// `expect` lines (`whence` says where that number comes from); `tag`
/// marks what is printed for a store other than the raw one.
fn serve(
    a: &Args,
    dir: &Path,
    tag: &str,
    (bytes, zcat_s): (u64, f64),
    (expect, whence): (u64, &str),
) -> Result<Served> {
    let server = Server::start(dir, &["--insecure-no-auth"], "afterlog-serve.log")?;
    let pid = server.pid();
    let (start_hwm, start_rss) = memory(pid)?;
    println!(
        "\nafterlog serve{tag} (pid {pid}, {}): VmHWM {:.1} MiB, VmRSS {:.1} MiB after start",
        server.addr,
        mib(start_hwm),
        mib(start_rss)
    );
    let mut full = Vec::new();
    let mut full_cpu = Vec::new();
    let mut lines = Vec::new();
    let mut mismatch = false;
    let ((), full_cost) = counted(&server.addr, a.runs, || {
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
            if r.lines != expect {
                mismatch = true;
                println!(
                    "  !!!!! MISMATCH: received {} lines, expected {expect} ({whence}) !!!!!",
                    r.lines
                );
            }
            full.push(secs);
            full_cpu.push(cpu);
            lines.push(r.lines);
        }
        Ok(())
    })?;
    let full_s = median(&full);
    let (full_hwm, full_rss) = memory(pid)?;
    println!(
        "full job over HTTP{tag}: {:.2} s median ({} s) → {:.0} MiB/s, {:.2}× zcat; server VmHWM {:.1} MiB (VmRSS {:.1} MiB); store per read: {}",
        full_s,
        fmt_runs(&full),
        mbs(bytes, full_s),
        zcat_s / full_s,
        mib(full_hwm),
        mib(full_rss),
        full_cost.long()
    );

    // Tails, on a fresh server so that its peak is the tails' own.
    drop(server);
    let server = Server::start(dir, &["--insecure-no-auth"], "afterlog-serve.log")?;
    let pid = server.pid();
    let tail = |job: &str| -> Result<f64> {
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
        Ok(secs * 1000.0)
    };
    let tails = |job: &str| -> Result<(Vec<f64>, StoreCost)> {
        // The warm-up is left out of the figures.
        tail(job)?;
        counted(&server.addr, 11, || (0..11).map(|_| tail(job)).collect())
    };
    let (tail_big, tail_big_cost) = tails(BIG_JOB)?;
    let (tail_small, tail_small_cost) = tails(SMALL_JOB)?;
    let tail_hwm = memory(pid)?.0;
    let (big_ms, small_ms) = (median(&tail_big), median(&tail_small));
    println!(
        "\ntail=100{tag}: big job {big_ms:.1} ms, small job {small_ms:.1} ms (median of 11) → {:.1}×",
        big_ms / small_ms
    );
    println!(
        "  big:   {} ms; store per tail: {}",
        fmt_runs(&tail_big),
        tail_big_cost.long()
    );
    println!(
        "  small: {} ms; store per tail: {}",
        fmt_runs(&tail_small),
        tail_small_cost.long()
    );
    println!(
        "  VmHWM of a fresh server after the 24 tails: {:.1} MiB",
        mib(tail_hwm)
    );
    Ok(Served {
        start_hwm,
        full,
        full_cpu,
        lines: lines.first().copied().unwrap_or(0),
        full_hwm,
        full_cost,
        tail_big,
        tail_small,
        tail_hwm,
        tail_big_cost,
        tail_small_cost,
        mismatch,
    })
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
    let store = afterlog_reader::open(&StoreConfig::new(store_url(dir)))?;
    let me = std::process::id();
    let reset = reset_peak(me);
    let (t, cpu) = (Instant::now(), self_cpu());
    let (records, bytes, stats, warnings) = rt.block_on(async {
        let index = JobIndex::load(store.as_ref(), TOOL, BIG_JOB).await?;
        let mut rd = JobReader::new(store.clone(), &index, Selection::default());
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

/// Full reads of the big job through `JobReader` in this process.
struct InProcessRuns {
    secs: Vec<f64>,
    cpu: Vec<f64>,
    /// This process's peak during the first read.
    peak_kib: Option<u64>,
    mismatch: bool,
}

impl InProcessRuns {
    fn secs(&self) -> f64 {
        median(&self.secs)
    }
}

/// `tag` marks what is printed for a store other than the raw one.
fn in_process_runs(
    a: &Args,
    dir: &Path,
    tag: &str,
    d: &Data,
    zcat_s: f64,
) -> Result<InProcessRuns> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut out = InProcessRuns {
        secs: Vec::new(),
        cpu: Vec::new(),
        peak_kib: None,
        mismatch: false,
    };
    for i in 0..a.runs {
        let r = in_process(&rt, dir)?;
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
        if r.records != d.big.records || r.bytes != d.big.bytes {
            out.mismatch = true;
            println!(
                "  !!!!! MISMATCH: read {} records / {} bytes, generated {} / {} !!!!!",
                r.records, r.bytes, d.big.records, d.big.bytes
            );
        }
        out.secs.push(r.secs);
        out.cpu.push(r.cpu);
        if i == 0 {
            // Later runs start from the heap the first one left behind.
            out.peak_kib = r.peak_kib;
        }
    }
    let secs = out.secs();
    println!(
        "in-process JobReader{tag}: {:.2} s median ({} s) → {:.0} MiB/s, {:.2}× zcat{}",
        secs,
        fmt_runs(&out.secs),
        mbs(d.big.bytes, secs),
        zcat_s / secs,
        out.peak_kib
            .map(|k| format!(", bench VmHWM {:.1} MiB", mib(k)))
            .unwrap_or_default()
    );
    Ok(out)
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
    let store = afterlog_reader::open(&StoreConfig::new(store_url(dir)))?;
    let index = rt.block_on(JobIndex::load(store.as_ref(), TOOL, job))?;
    let all = index.plan(&Selection::default()).objects;
    let from = all.len().saturating_sub(4);
    let since = (from > 0).then(|| all[from].lower);
    let read = index
        .plan(&Selection {
            since,
            ..Selection::default()
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
    let d = dataset::data(&a.dir, a.size_mib)?;
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
    let served = serve(
        &a,
        &a.dir,
        "",
        (bytes, zcat_s),
        (d.big.records, "generated"),
    )?;
    let mut mismatch = served.mismatch;
    let full_s = served.full_s();

    // In process.
    let inproc = in_process_runs(&a, &a.dir, "", &d, zcat_s)?;
    mismatch |= inproc.mismatch;
    let inproc_s = inproc.secs();
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

    // The same reads once the store is compacted.
    let compacted = if a.compacted {
        let c = dataset::compacted_store(&a.dir, a.size_mib)?;
        let served = serve(
            &a,
            &c.dir,
            " (compacted)",
            (bytes, zcat_s),
            (served.lines, "the raw store's"),
        )?;
        let inproc = in_process_runs(&a, &c.dir, " (compacted)", &d, zcat_s)?;
        mismatch |= served.mismatch || inproc.mismatch;
        Some((c, served, inproc))
    } else {
        None
    };

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
    served_rows(&served, &inproc, &d);
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

    if let Some((c, served, inproc)) = &compacted {
        let passes: Vec<String> = c.passes.iter().map(|p| format!("{:.1} s", p.0)).collect();
        println!(
            "\nCompacted copy ({}): {} objects after {} `afterlog compact` passes ({}; settle {} min, grace {} min, the rest default).\n",
            c.dir.display(),
            store::describe_objects(&c.objects),
            c.passes.len(),
            passes.join(" + "),
            store::SETTLE_MINUTES,
            store::GRACE_MINUTES
        );
        let (full_s, inproc_s) = (served.full_s(), inproc.secs());
        println!("| what, compacted | median | throughput | vs zcat (raw) | goal |");
        println!("|---|---:|---:|---:|---|");
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
        println!();
        println!("| what, compacted | figure | goal |");
        println!("|---|---:|---|");
        served_rows(served, inproc, &d);
    }
    if mismatch {
        bail!("record counts did not match (see MISMATCH above)");
    }
    Ok(())
}

/// The figures of the service and the in-process reads on one store.
fn served_rows(s: &Served, inproc: &InProcessRuns, d: &Data) {
    let (full_s, inproc_s) = (s.full_s(), inproc.secs());
    let (tail_big, tail_small) = (median(&s.tail_big), median(&s.tail_small));
    println!(
        "| server CPU per full read (median) | {:.2} s ({:.2} cores) | |",
        median(&s.full_cpu),
        median(&s.full_cpu) / full_s
    );
    println!(
        "| in-process CPU per full read (median) | {:.2} s ({:.2} cores) | |",
        median(&inproc.cpu),
        median(&inproc.cpu) / inproc_s
    );
    println!(
        "| server VmHWM after start | {:.1} MiB | |",
        mib(s.start_hwm)
    );
    println!(
        "| server VmHWM after the full reads | **{:.1} MiB** | ≤ 64 MiB |",
        mib(s.full_hwm)
    );
    println!(
        "| VmHWM of a fresh server after 24 tails | {:.1} MiB | |",
        mib(s.tail_hwm)
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
    println!("| store per full read | {} | |", s.full_cost.short());
    println!(
        "| store per `tail=100`, big / small job | {} / {} | |",
        s.tail_big_cost.short(),
        s.tail_small_cost.short()
    );
}
