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

mod admission;
mod callers;
mod digest;
mod follows;
mod reads;
mod report;
mod samples;
mod small;

use crate::dataset::{self, describe};
use crate::figures::MIB;
use crate::http;
use crate::server::{self, Server, cpu_secs, memory, mib};
use crate::store;
use crate::synth::{BIG_JOB, SMALL_JOB, TOOL};
use admission::Outcome;
use anyhow::{Result, bail, ensure};
use callers::Cast;
use clap::Parser;
use digest::{Reference, reference};
use follows::{Follows, FollowsSummary, follow};
use reads::{Read, Reads, full_read};
use samples::{Sampler, metric, metrics, rss_now};
use small::{Latency, Small, fmt_ms, small_load};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Where the data is made when neither `--size-mib` nor a marker says.
const DEFAULT_SIZE_MIB: u64 = 1024;
/// Enough to read a streamed body in few system calls, small enough for
/// a hundred connections at once.
const BUF: usize = 128 * 1024;
/// How long the reads wait for the follows to be answered.
const FOLLOWS_WAIT: Duration = Duration::from_secs(30);
const SAMPLE_EVERY: Duration = Duration::from_millis(100);
const METRICS_EVERY: Duration = Duration::from_millis(500);
const SERVE_LOG: &str = "bench-load-serve.log";

/// Starts `afterlog serve` on the reader bench's store (made as
/// bench-reader makes it if missing: --size-mib, else the size its marker
/// says, else 1024) with a memory budget, and loads it with concurrent full
/// reads of the big job, follows held meanwhile and a steady rate of small
/// requests. Prints the server's RSS, whether every read gave the same
/// bytes as a read alone, the refusals and retries, and the small
/// requests' latency against an idle server.
#[derive(Parser, Debug)]
#[command(name = "bench-load")]
pub struct Args {
    /// The store: bench-reader's data directory or its compacted copy.
    #[arg(long, default_value = "target/bench-reader-compacted")]
    dir: PathBuf,
    /// Size of the data to make if it is missing, MiB.
    #[arg(long)]
    size_mib: Option<u64>,
    /// Full reads of the big job at once.
    #[arg(long, default_value_t = 64)]
    readers: usize,
    /// Follows of the big job held while the reads run.
    #[arg(long, default_value_t = 64)]
    follows: usize,
    /// Small requests per second, all along.
    #[arg(long, default_value_t = 20.0)]
    small_rps: f64,
    /// The server's `--memory-budget-mib`.
    #[arg(long, default_value_t = 512)]
    budget_mib: u64,
    /// The server's `--caller-max`, and the reads per reading caller.
    #[arg(long, default_value_t = 4)]
    caller_max: usize,
    /// How long after the load the RSS is read again.
    #[arg(long, default_value_t = 60)]
    settle_secs: u64,
    /// How long the small requests' idle latency is measured.
    #[arg(long, default_value_t = 15)]
    idle_secs: u64,
    /// 429s a read or follow retries after.
    #[arg(long, default_value_t = 100)]
    retries: usize,
    /// Follows start from the last N lines, not the whole log.
    #[arg(long, value_name = "N")]
    follow_tail: Option<u64>,
}

/// Where follows start: `tail=N` or the whole log.
fn follow_from(a: &Args) -> String {
    match a.follow_tail {
        Some(n) => format!("tail={n}"),
        None => "the whole log".into(),
    }
}

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

/// What the load phase gave.
struct Load {
    reads: Vec<Read>,
    follows: Vec<Outcome>,
    small: Vec<Small>,
    start: Instant,
    reads_start: Instant,
    reads_end: Instant,
    end: Instant,
}

/// The follows, then the reads once the follows are answered, and the
/// small requests all along. `follow_bytes` is a follow's stored part.
fn load(
    a: &Args,
    addr: &str,
    cast: &Cast,
    full_path: &str,
    follow_path: &str,
    follow_bytes: u64,
) -> Load {
    let start = Instant::now();
    let follows = Follows::default();
    let small_stop = AtomicBool::new(false);
    let mut out = std::thread::scope(|s| {
        let small = s.spawn(|| small_load(addr, cast.smalls(), a.small_rps, &small_stop, start));
        let (tx, rx) = std::sync::mpsc::channel();
        let follow_threads: Vec<_> = cast
            .followers()
            .iter()
            .map(|c| {
                let (tx, follows) = (tx.clone(), &follows);
                s.spawn(move || {
                    follow(
                        addr,
                        follow_path,
                        &c.token,
                        a.retries,
                        follows,
                        &tx,
                        follow_bytes,
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
            start.elapsed().as_secs_f64()
        );
        let reads_start = Instant::now();
        let read_threads: Vec<_> = (0..a.readers)
            .map(|i| {
                let c = &cast.readers()[i / a.caller_max];
                s.spawn(move || full_read(addr, full_path, &c.token, a.retries))
            })
            .collect();
        let reads = read_threads
            .into_iter()
            .map(|t| t.join().unwrap_or_default())
            .collect();
        let reads_end = Instant::now();
        follows.cut();
        let follows = follow_threads
            .into_iter()
            .map(|t| t.join().unwrap_or_default())
            .collect();
        small_stop.store(true, Ordering::SeqCst);
        Load {
            reads,
            follows,
            small: small.join().unwrap_or_default(),
            start,
            reads_start,
            reads_end,
            end: start,
        }
    });
    out.end = Instant::now();
    out
}

/// The small requests' latency on the idle server, at the load's rate.
fn idle(a: &Args, addr: &str, cast: &Cast) -> Latency {
    let stop = AtomicBool::new(false);
    let start = Instant::now();
    let idle = std::thread::scope(|s| {
        let h = s.spawn(|| small_load(addr, cast.smalls(), a.small_rps, &stop, start));
        std::thread::sleep(Duration::from_secs(a.idle_secs));
        stop.store(true, Ordering::SeqCst);
        h.join().unwrap_or_default()
    });
    let l = Latency::of(&idle);
    println!(
        "\nidle: {} small requests in {} s ({} failed): p50 / p99 / max {}",
        l.n,
        a.idle_secs,
        l.failed,
        fmt_ms(l.p)
    );
    l
}

pub fn run(mut a: Args) -> Result<()> {
    ensure!(a.readers >= 1, "--readers must be at least 1");
    ensure!(a.caller_max >= 1, "--caller-max must be at least 1");
    ensure!(
        a.small_rps > 0.0 && a.small_rps <= 1000.0,
        "--small-rps must be in (0, 1000]"
    );
    ensure!(a.idle_secs >= 1, "--idle-secs must be at least 1");
    ensure!(a.budget_mib >= 1, "--budget-mib must be at least 1");
    a.dir = std::path::absolute(&a.dir)?;
    let total = Instant::now();
    let (dir, data) = store_dir(&a)?;
    if let Some(d) = &data {
        describe(&format!("big job {TOOL}/{BIG_JOB}"), &d.big);
        describe(&format!("small job {TOOL}/{SMALL_JOB}"), &d.small);
    }

    let reader_callers = a.readers.div_ceil(a.caller_max);
    let small_callers = (a.small_rps.ceil() as usize).clamp(1, 8);
    let cast = Cast::new(
        &server::afterlog_bin()?,
        &dir,
        reader_callers,
        a.follows,
        small_callers,
    )?;
    let budget = a.budget_mib.to_string();
    let caller_max = a.caller_max.to_string();
    let server = Server::start(
        &dir,
        &[
            "--auth",
            "token",
            "--tokens",
            &cast.tokens.to_string_lossy(),
            "--memory-budget-mib",
            &budget,
            "--caller-max",
            &caller_max,
        ],
        SERVE_LOG,
    )?;
    let (pid, addr) = (server.pid(), server.addr.clone());
    println!(
        "\nafterlog serve (pid {pid}, {addr}): budget {} MiB, {} per caller; {} callers ({reader_callers} reading, {} following, {small_callers} small, 1 solo)",
        a.budget_mib,
        a.caller_max,
        cast.len(),
        a.follows
    );

    let sampler = Sampler::start(pid, &addr);
    std::thread::sleep(Duration::from_secs(1));
    let start_rss = rss_now(pid);
    println!("  VmRSS after start: {:.1} MiB", mib(start_rss));
    let idle = idle(&a, &addr, &cast);

    // The reference.
    let full_path = format!("/v1/tool/{TOOL}/jobs/{BIG_JOB}/logs?format=ndjson");
    let (refr, solo_reply, solo_secs) = reference(&addr, &full_path, &cast.solo().token)?;
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
    let follow_ref: Reference = match a.follow_tail {
        Some(n) => reference(&addr, &format!("{full_path}&tail={n}"), &cast.solo().token)?.0,
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
    let l = load(&a, &addr, &cast, &full_path, &follow_path, follow_ref.bytes);
    let load_cpu = cpu_secs(pid)? - cpu0;
    // The bench shares the machine with the server: what it took is what
    // the server could not have.
    let my_cpu = cpu_secs(std::process::id())? - me0;
    let (post_hwm, post_rss) = memory(pid)?;
    let store_after = http::store_counters(&addr).ok();
    let after_metrics = metrics(&addr).unwrap_or_default();
    let load_secs = (l.end - l.start).as_secs_f64();
    println!(
        "  reads took {:.1} s, the whole load {load_secs:.1} s; server CPU {load_cpu:.1} s ({:.2} cores), bench CPU {my_cpu:.1} s",
        (l.reads_end - l.reads_start).as_secs_f64(),
        load_cpu / load_secs
    );

    let reads = Reads::of(&l.reads, &refr, &mut bad);
    reads.print(&a);
    let follows = FollowsSummary::of(&l.follows, &follow_ref, &mut bad);
    follows.print(&a);
    let during = Latency::of(l.small.iter().filter(|r| {
        let at = l.start + r.due;
        at >= l.reads_start && at <= l.reads_end
    }));
    println!(
        "  small requests while the reads ran: {} ({} failed): p50 / p99 / max {}; idle {}",
        during.n,
        during.failed,
        fmt_ms(during.p),
        fmt_ms(idle.p)
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
    let samples = sampler.stop();
    let load_peak_rss = samples.max_rss(l.start, l.end);
    let admission_max = samples.max_admission(l.start, l.end);
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
    let (in_use_max, running_max, queued_max) = admission_max;
    println!(
        "  sampled during the load: up to {in_use_max:.0} MiB in use, {running_max:.0} running, {queued_max:.0} queued; {:.0} MiB in use, {:.0} running after settling",
        metric(&settle_metrics, "afterlog_admission_in_use_mib"),
        metric(&settle_metrics, "afterlog_admission_running")
    );
    print_server_log(&dir.join(SERVE_LOG));
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
        follow_from(&a),
        a.small_rps,
        a.budget_mib
    );
    report::print(&report::Figures {
        a: &a,
        refr: &refr,
        rss: report::Rss {
            start: start_rss,
            pre: pre_rss,
            load_peak: load_peak_rss,
            post: post_rss,
            post_hwm,
            settled: settled_rss,
        },
        reads: &reads,
        follows: &follows,
        idle,
        during,
        admission_max,
        after_metrics: &after_metrics,
    });
    if !bad.is_empty() {
        println!();
        for b in bad.iter().take(20) {
            println!("!!!!! {b}");
        }
        bail!("{} answers were wrong (see !!!!! above)", bad.len());
    }
    Ok(())
}

/// The server's warnings and errors, the first few.
fn print_server_log(path: &std::path::Path) {
    let log = std::fs::read_to_string(path).unwrap_or_default();
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
}
