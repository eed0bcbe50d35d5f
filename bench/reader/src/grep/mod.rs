//! `bench-grep`: the logs' line filters (`grep=`, `regex=`) over the big
//! job, served by `afterlog serve`, against `zcat … | grep` of the same
//! objects; then a tool-wide search (`GET /v1/tool/{tool}/search`) over
//! many small jobs.
//!
//! ```sh
//! cargo build --profile ci -p afterlog -p afterlog-bench-reader --bin afterlog --bin bench-grep
//! target/ci/bench-grep [--size-mib 1024] [--dir target/bench-reader] [--runs 3] [--no-compacted] \
//!     [--term '…'] [--regex '…'] [--jobs 100] [--search-runs 5] [--search-only]
//! ```
//!
//! The big job is `bench-reader`'s (reused as it left it, or generated
//! here as it generates it), and so is its compacted copy
//! (`<dir>-compacted`). It prints figures and ratios; it fails only where
//! afterlog and grep find a different number of lines, or a search finds
//! other than it should. See docs/benchmarks.md.

mod search;

use crate::dataset::{self, describe};
use crate::figures::{fmt_runs, mbs, median, ratio};
use crate::http;
use crate::server::{Server, cpu_secs};
use crate::synth::{self, BIG_JOB, JobStats, TOOL};
use anyhow::{Context, Result, bail, ensure};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Greps the big job through `afterlog serve` and with `zcat | grep`, then
/// searches a tool of many small jobs.
#[derive(clap::Parser, Debug)]
#[command(name = "bench-grep")]
pub struct Args {
    /// Size of the big job, MiB of JSON lines (at least 4).
    #[arg(long, default_value_t = 1024)]
    size_mib: u64,
    /// Where bench-reader's store is (reused while its size matches).
    #[arg(long, default_value = "target/bench-reader")]
    dir: PathBuf,
    /// Runs of each timed read of the big job (median printed).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Only the raw store: not its compacted copy.
    #[arg(long = "no-compacted", action = clap::ArgAction::SetFalse)]
    compacted: bool,
    /// The rare substring looked for (`grep=` / `grep -F`): a critical
    /// error of one module followed by one word, about 1 line in 100 000.
    #[arg(long, default_value = "CRITICAL celery.worker: timeout")]
    term: String,
    /// The regular expression (`regex=` / `grep -E`): a literal part and
    /// digits, in a syntax both read alike.
    #[arg(long, default_value = "timeout=[0-9]+ retry=[0-9]+")]
    regex: String,
    /// Jobs of the searched tool.
    #[arg(long, default_value_t = 100)]
    jobs: usize,
    /// Timed searches of each kind (median printed; after one cold one).
    #[arg(long, default_value_t = 5)]
    search_runs: usize,
    /// Only the tool-wide search: not the big job.
    #[arg(long)]
    search_only: bool,
}

const MARKER: &str = "bench-reader.json";
const COMPACTED_MARKER: &str = "bench-reader-compacted.json";

pub fn run(mut a: Args) -> Result<()> {
    ensure!(a.size_mib >= 4, "--size-mib must be at least 4");
    ensure!(a.runs >= 1 && a.search_runs >= 1, "runs must be at least 1");
    a.dir = std::path::absolute(&a.dir)?;
    let total = Instant::now();
    if !a.search_only {
        big_job(&a)?;
    }
    search::run(&a)?;
    println!("\ntotal bench time {:.0} s", total.elapsed().as_secs_f64());
    Ok(())
}

fn read_marker(path: &Path) -> Option<serde_json::Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// The big job's stats and the stores to read it from: bench-reader's set
/// at `--size-mib` as it is (whatever generator version wrote it: a grep
/// is checked against grep of the same objects, not against the
/// generator), else a new set; its compacted copy if it was made of that
/// set, or can be made with today's parameters.
fn stores(a: &Args) -> Result<(JobStats, Vec<(&'static str, PathBuf)>)> {
    let marker = read_marker(&a.dir.join(MARKER));
    let reused = marker
        .as_ref()
        .filter(|v| v["size_mib"] == a.size_mib)
        .and_then(|v| JobStats::from_json(&v["big"]));
    let version = marker.as_ref().map(|v| v["version"].clone());
    let big = match reused {
        Some(big) => {
            println!(
                "data: reusing {} (bench-reader's data version {})",
                a.dir.display(),
                version.clone().unwrap_or_default()
            );
            big
        }
        None => {
            let d = dataset::data(&a.dir, a.size_mib)?;
            if let Some(s) = d.generated_secs {
                println!("  generated in {s:.1} s");
            }
            d.big
        }
    };
    let mut out = vec![("raw", a.dir.clone())];
    if a.compacted {
        let copy = dataset::compacted_dir(&a.dir);
        let made_of_this = read_marker(&copy.join(COMPACTED_MARKER)).is_some_and(|v| {
            v["params"]["size_mib"] == a.size_mib
                && Some(&v["params"]["data_version"]) == version.as_ref()
        });
        if made_of_this {
            println!("compacted copy: reusing {}", copy.display());
            out.push(("compacted", copy));
        } else if dataset::reuse_data(&a.dir, a.size_mib).is_some() {
            out.push((
                "compacted",
                dataset::compacted_store(&a.dir, a.size_mib)?.dir,
            ));
        } else {
            println!(
                "compacted copy: none of this data set (run bench-reader to make it); raw store only"
            );
        }
    }
    Ok((big, out))
}

/// `s` percent-encoded for a query string.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A filter as afterlog and grep are given it.
struct Filter<'a> {
    name: &'static str,
    /// The query parameter (`grep`, `regex`).
    param: &'static str,
    /// grep's option (`-F`, `-E`).
    grep_opt: &'static str,
    pattern: &'a str,
}

/// `zcat files | grep <opt> -e pattern | wc -l` through `sh -c`: seconds
/// and the lines counted.
fn zcat_grep(files: &[PathBuf], f: &Filter) -> Result<(f64, u64)> {
    let script = format!(r#"zcat -- "$@" | grep {} -e "$0" | wc -l"#, f.grep_opt);
    let t = Instant::now();
    let out = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .arg(f.pattern)
        .args(files)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("running sh -c zcat | grep")?;
    let secs = t.elapsed().as_secs_f64();
    ensure!(out.status.success(), "{script}: {}", out.status);
    let n = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .context("wc -l printed no count")?;
    Ok((secs, n))
}

/// Timed `GET path` runs: seconds, the lines of the last, the server's CPU
/// seconds per request.
fn served(s: &Server, path: &str, runs: usize) -> Result<(Vec<f64>, u64, f64)> {
    let mut secs = Vec::with_capacity(runs);
    let mut lines = 0;
    let cpu = cpu_secs(s.pid())?;
    for _ in 0..runs {
        let t = Instant::now();
        let r = http::get(&s.addr, path)?;
        secs.push(t.elapsed().as_secs_f64());
        ensure!(
            r.status == 200,
            "{path}: HTTP {} {}",
            r.status,
            r.start_text()
        );
        if let Some(m) = &r.messages {
            println!("    messages: {m}");
        }
        lines = r.lines;
    }
    let cpu = (cpu_secs(s.pid())? - cpu) / runs as f64;
    Ok((secs, lines, cpu))
}

fn big_job(a: &Args) -> Result<()> {
    let (big, stores) = stores(a)?;
    describe(&format!("big job {TOOL}/{BIG_JOB}"), &big);
    let files = synth::object_files(&synth::job_dir(&a.dir, BIG_JOB))?;
    ensure!(
        files.len() as u64 == big.objects,
        "{} holds {} objects of the big job, its marker says {}",
        a.dir.display(),
        files.len(),
        big.objects
    );
    let filters = [
        Filter {
            name: "substring",
            param: "grep",
            grep_opt: "-F",
            pattern: &a.term,
        },
        Filter {
            name: "regex",
            param: "regex",
            grep_opt: "-E",
            pattern: &a.regex,
        },
    ];
    let mut mismatch = false;
    let zc = (0..a.runs)
        .map(|_| crate::gz::zcat(&files))
        .collect::<Result<Vec<_>>>()?;
    println!(
        "\nzcat {} objects alone (to nowhere): {:.2} s median ({} s) → {:.0} MiB/s",
        files.len(),
        median(&zc),
        fmt_runs(&zc),
        mbs(big.bytes, median(&zc))
    );
    let mut zcat_runs = Vec::new();
    for f in &filters {
        let runs = (0..a.runs)
            .map(|_| zcat_grep(&files, f))
            .collect::<Result<Vec<_>>>()?;
        let secs: Vec<f64> = runs.iter().map(|r| r.0).collect();
        let n = runs[0].1;
        ensure!(runs.iter().all(|r| r.1 == n), "grep counted differently");
        println!(
            "zcat {} objects | grep {} {:?}: {n} lines, {:.2} s median ({} s) → {:.0} MiB/s",
            files.len(),
            f.grep_opt,
            f.pattern,
            median(&secs),
            fmt_runs(&secs),
            mbs(big.bytes, median(&secs))
        );
        zcat_runs.push((median(&secs), n));
    }
    for (name, dir) in &stores {
        let s = Server::start(dir, &["--insecure-no-auth"], "bench-grep-serve.log")?;
        println!("\nafterlog serve on the {name} store ({})", dir.display());
        let full = format!("/v1/tool/{TOOL}/jobs/{BIG_JOB}/logs?format=ndjson");
        // One read unmeasured: the job's index loaded, the files cached.
        let (warm, all, _) = served(&s, &full, 1)?;
        println!(
            "  unfiltered read (warm-up): {all} lines in {:.2} s → {:.0} MiB/s",
            warm[0],
            mbs(big.bytes, warm[0])
        );
        for (f, (zg, want)) in filters.iter().zip(&zcat_runs) {
            let path = format!("{full}&{}={}", f.param, encode(f.pattern));
            let (secs, n, cpu) = served(&s, &path, a.runs)?;
            let m = median(&secs);
            let same = n == *want;
            mismatch |= !same;
            println!(
                "  {} {}={:?}: {n} lines{}, {m:.2} s median ({} s) → {:.0} MiB/s; server CPU {cpu:.2} s ({:.2} cores); zcat | grep {} / afterlog = {:.2}× (goal ≥ 2×)",
                f.name,
                f.param,
                f.pattern,
                if same {
                    " (= grep)".to_string()
                } else {
                    format!(" — MISMATCH: grep found {want}")
                },
                fmt_runs(&secs),
                mbs(big.bytes, m),
                cpu / m,
                f.grep_opt,
                ratio(*zg, m),
            );
        }
    }
    if mismatch {
        bail!("afterlog and grep found different lines (see MISMATCH above)");
    }
    Ok(())
}
