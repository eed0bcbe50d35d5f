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

mod in_process;
mod served;
mod stages;
mod tables;

use crate::dataset::{self, describe};
use crate::figures::{MIB, fmt_runs, mbs, median};
use crate::gz::zcat;
use crate::synth::{self, BIG_JOB, SMALL_JOB, TOOL};
use afterlog_reader::job::RAW_SLACK_NS;
use anyhow::{Result, bail, ensure};
use clap::Parser;
use std::path::PathBuf;
use std::time::Instant;

/// Reassembles a generated job through `afterlog serve` and compares with
/// zcat, then does the same on a compacted copy of the store
/// (<dir>-compacted) unless --no-compacted.
#[derive(Parser, Debug)]
#[command(name = "bench-reader")]
pub struct Args {
    /// Size of the big job, MiB of JSON lines (at least 4).
    #[arg(long, default_value_t = 1024)]
    size_mib: u64,
    /// Where the generated store is (reused while the parameters match).
    #[arg(long, default_value = "target/bench-reader")]
    dir: PathBuf,
    /// Runs of each timed read (at least 1).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Only the raw store: no compacted copy.
    #[arg(long = "no-compacted", action = clap::ArgAction::SetFalse)]
    compacted: bool,
}

pub fn run(mut a: Args) -> Result<()> {
    ensure!(a.size_mib >= 4, "--size-mib must be at least 4");
    ensure!(a.runs >= 1, "--runs must be at least 1");
    a.dir = std::path::absolute(&a.dir)?;
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

    let zc = (0..a.runs)
        .map(|_| zcat(&files))
        .collect::<Result<Vec<_>>>()?;
    let zcat_s = median(&zc);
    println!(
        "\nzcat of the big job's {} objects: {:.2} s median ({} s) → {:.0} MiB/s",
        files.len(),
        zcat_s,
        fmt_runs(&zc),
        mbs(bytes, zcat_s)
    );

    let served = served::serve(
        &a,
        &a.dir,
        "",
        (bytes, zcat_s),
        (d.big.records, "generated"),
    )?;
    let inproc = in_process::runs(&a, &a.dir, "", &d, zcat_s)?;
    let st = stages::stages(&files)?;
    let (unzip, parse, sort) = (st.unzip, st.parse, st.sort);
    println!(
        "  one thread, object by object: gunzip {unzip:.2} s ({:.0} MiB/s), parse {parse:.2} s ({:.0} MiB/s, {:.2} µs/record), sort {sort:.2} s; sum {:.2} s",
        mbs(bytes, unzip),
        mbs(bytes, parse),
        parse * 1e6 / st.records.max(1) as f64,
        unzip + parse + sort
    );
    let (open_n, open_bytes) = stages::overlap(&st.spans);
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
    let (tp_all, tp_read, tp_gz) = stages::tail_plan(&rt, &a.dir, BIG_JOB)?;
    let (_, tp_small, tp_small_gz) = stages::tail_plan(&rt, &a.dir, SMALL_JOB)?;
    drop(rt);
    println!(
        "  tail=100 of the big job reads {tp_read} of its {tp_all} objects ({:.1} MiB gzipped, ~{:.0} MiB of text); of the small job {tp_small} ({:.2} MiB gzipped)",
        tp_gz as f64 / MIB,
        tp_gz as f64 * d.big.bytes as f64 / d.big.gz_bytes.max(1) as f64 / MIB,
        tp_small_gz as f64 / MIB
    );

    let (fl, mz) = stages::backends(&files, a.runs, bytes)?;
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
        let served = served::serve(
            &a,
            &c.dir,
            " (compacted)",
            (bytes, zcat_s),
            (served.full.lines(), "the raw store's"),
        )?;
        let inproc = in_process::runs(&a, &c.dir, " (compacted)", &d, zcat_s)?;
        Some((c, tables::Store { served, inproc }))
    } else {
        None
    };
    let raw = tables::Store { served, inproc };
    let mismatch = raw.mismatch() || compacted.as_ref().is_some_and(|(_, s)| s.mismatch());

    println!(
        "\ntotal bench time {:.0} s{}\n",
        total.elapsed().as_secs_f64(),
        if mismatch { " — WITH MISMATCHES" } else { "" }
    );
    tables::print(&tables::Figures {
        d: &d,
        runs: a.runs,
        zcat_s,
        gunzip_s: (fl_s, mz_s),
        stages: &st,
        overlap: (open_n, open_bytes),
        tail_plan: (tp_read, tp_all),
        raw: &raw,
        compacted: compacted.as_ref().map(|(c, s)| (c, s)),
    });
    if mismatch {
        bail!("record counts did not match (see MISMATCH above)");
    }
    Ok(())
}
