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

mod case;
pub(crate) mod data;
mod measure;
mod report;
mod stores;

use anyhow::{Context, Result, bail, ensure};
use clap::{Parser, ValueEnum};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub(crate) const TOOL: &str = "scale";
const CRON_JOB: &str = "sched";
pub(crate) const CONTINUOUS_JOB: &str = "stream";

#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
pub enum StoreKind {
    File,
    S3,
}

impl StoreKind {
    pub fn name(self) -> &'static str {
        match self {
            StoreKind::File => "file",
            StoreKind::S3 => "s3",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
pub enum JobKind {
    Cron,
    Continuous,
}

impl JobKind {
    pub fn name(self) -> &'static str {
        match self {
            JobKind::Cron => "cron",
            JobKind::Continuous => "continuous",
        }
    }

    pub fn job(self) -> &'static str {
        match self {
            JobKind::Cron => CRON_JOB,
            JobKind::Continuous => CONTINUOUS_JOB,
        }
    }
}

/// A cron job of N one-upload runs and a continuous job of the same lines,
/// on a local directory and on s3s-fs, before and after compaction: latency
/// and store requests of jobs, job, run=latest, tail=100, since=1h and a
/// full read through `afterlog serve`.
#[derive(Parser, Debug)]
#[command(name = "bench-scale")]
pub struct Args {
    /// Runs of the cron job (minutes of the continuous one), each a case.
    #[arg(long, value_delimiter = ',', value_parser = parse_runs, default_values_t = [100, 1000, 10_000])]
    runs: Vec<u64>,
    /// Stores to run each case on.
    #[arg(long, value_delimiter = ',', default_values = ["file", "s3"])]
    stores: Vec<StoreKind>,
    /// Kinds of job to run each case with.
    #[arg(long, value_delimiter = ',', default_values = ["cron", "continuous"])]
    jobs: Vec<JobKind>,
    /// The `afterlog` binary: by default the one next to this bench.
    #[arg(long, default_value_os_t = default_afterlog())]
    afterlog: PathBuf,
    /// The `s3s-fs` binary: by default cargo's, else from `PATH`.
    #[arg(long = "s3s-fs", default_value_os_t = default_s3s_fs())]
    s3s_fs: PathBuf,
    /// Where each case's store is made (emptied first).
    #[arg(long, default_value = "target/bench-scale")]
    dir: PathBuf,
    /// Warm requests after the cold one, of which the median is printed.
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Where to write the report too.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// A positive count, `_` allowed between digits (`10_000`).
fn parse_runs(s: &str) -> Result<u64, String> {
    match s.trim().replace('_', "").parse() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{s:?} is not a positive number of runs")),
    }
}

fn default_afterlog() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("afterlog")))
        .unwrap_or_else(|| "afterlog".into())
}

fn default_s3s_fs() -> PathBuf {
    std::env::var_os("HOME")
        .map(|h| Path::new(&h).join(".cargo/bin/s3s-fs"))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| "s3s-fs".into())
}

/// The 1, 5 and 15 minute load averages: other work on the machine.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

pub fn run(mut a: Args) -> Result<()> {
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
                match case::run(&a, n, kind, sk) {
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
    let mut text = report::report(&a, &cases);
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
