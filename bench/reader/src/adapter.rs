//! The native side of the JavaScript adapter's benchmark: how fast the
//! reader's pure core gunzips, decodes and merges a job's raw objects on one
//! thread, natively — the same objects `bench/reader/adapter-bench.mjs`
//! merges through the `.wasm` in Node. Both print the output's line count
//! and FNV-1a hash, which must agree.
//!
//! ```sh
//! cargo run --profile ci -p afterlog-bench-reader --bin bench-adapter [-- --size-mib 64 --dir target/bench-adapter --runs 3]
//! scripts/build-adapter
//! node bench/reader/adapter-bench.mjs --dir target/bench-adapter --runs 3
//! ```
//!
//! It generates the job (bench/reader's big job: 4 containers of a web
//! service, ~4 MiB uploads, Fluent Bit's layout) unless the marker says the
//! directory already holds it. Objects are read into memory first: only
//! decoding and merging are timed. See docs/benchmarks.md.

use crate::figures::{MIB, median};
use crate::synth;
use afterlog_adapter_wasm::merger::Merger;
use afterlog_reader::{Merge, Selection, gunzip, open_raw};
use anyhow::{Result, ensure};
use clap::Parser;
use std::path::PathBuf;
use std::time::Instant;

const SEED: u64 = 20_261_125;
/// Bump when the generated data changes.
const DATA_VERSION: u64 = 2;
const MARKER: &str = "bench-adapter.json";

/// Gunzips, decodes and merges a generated job's raw objects on one thread,
/// natively: the reader's core and the adapter's `Merger`.
#[derive(Parser, Debug)]
#[command(name = "bench-adapter")]
pub struct Args {
    /// Size of the job, MiB of JSON lines (at least 4).
    #[arg(long, default_value_t = 64)]
    size_mib: u64,
    /// Where the job is generated (reused while the parameters match).
    #[arg(long, default_value = "target/bench-adapter")]
    dir: PathBuf,
    /// Runs of each timed merge (at least 1).
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

/// FNV-1a, 32 bits: cheap to compute the same way in JavaScript.
fn fnv1a(h: &mut u32, bytes: &[u8]) {
    for &b in bytes {
        *h ^= u32::from(b);
        *h = h.wrapping_mul(0x0100_0193);
    }
}

/// NDJSON output, counted and hashed as it is written.
struct Output {
    lines: u64,
    hash: u32,
    /// Lines are hashed a MiB at a time, not one by one.
    buf: Vec<u8>,
}

impl Output {
    fn new() -> Output {
        Output {
            lines: 0,
            hash: 0x811c_9dc5,
            buf: Vec::with_capacity(1 << 20),
        }
    }

    fn push(&mut self, line: &[u8]) {
        self.buf.extend_from_slice(line);
        self.buf.push(b'\n');
        self.lines += 1;
        if self.buf.len() >= 1 << 20 {
            fnv1a(&mut self.hash, &self.buf);
            self.buf.clear();
        }
    }

    /// Lines and FNV-1a hash.
    fn finish(mut self) -> (u64, u32) {
        fnv1a(&mut self.hash, &self.buf);
        (self.lines, self.hash)
    }
}

/// `f` run `runs` times: each run's seconds and the last run's result.
fn timed<T>(runs: usize, mut f: impl FnMut() -> Result<T>) -> Result<(Vec<f64>, T)> {
    let mut times = Vec::new();
    let mut out = None;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        let v = f()?;
        times.push(t.elapsed().as_secs_f64());
        out = Some(v);
    }
    Ok((times, out.expect("at least one run")))
}

/// The job's objects as (key, bytes), generated first if need be.
fn objects(a: &Args) -> Result<Vec<(String, Vec<u8>)>> {
    let marker = a.dir.join(MARKER);
    let want = serde_json::json!({"version": DATA_VERSION, "size_mib": a.size_mib, "seed": SEED});
    let have: Option<serde_json::Value> = std::fs::read(&marker)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    if have.as_ref() != Some(&want) {
        let _ = std::fs::remove_file(&marker);
        let raw = a.dir.join("raw");
        if raw.exists() {
            std::fs::remove_dir_all(&raw)?;
        }
        std::fs::create_dir_all(&a.dir)?;
        println!("generating {} MiB in {} ...", a.size_mib, a.dir.display());
        synth::write_job(&a.dir, &synth::big_job(a.size_mib, SEED))?;
        std::fs::write(&marker, want.to_string())?;
    }
    let files = synth::object_files(&synth::job_dir(&a.dir, synth::BIG_JOB))?;
    files
        .iter()
        .map(|f| {
            let key = f.strip_prefix(&a.dir)?.to_string_lossy().replace('\\', "/");
            Ok((key, std::fs::read(f)?))
        })
        .collect()
}

pub fn run(a: Args) -> Result<()> {
    ensure!(a.size_mib >= 4 && a.runs >= 1, "--size-mib ≥ 4, --runs ≥ 1");
    let objects = objects(&a)?;
    let stored: usize = objects.iter().map(|(_, b)| b.len()).sum();
    let text: usize = objects.iter().map(|(_, b)| gunzip(b).0.len()).sum();
    println!(
        "{} objects: {:.1} MiB stored, {:.1} MiB of JSON lines",
        objects.len(),
        stored as f64 / MIB,
        text as f64 / MIB
    );
    let report = |what: &str, times: &[f64]| {
        let s = median(times);
        println!(
            "{what}: median {s:.3} s of {} runs → {:.0} MiB/s of JSON lines",
            times.len(),
            text as f64 / MIB / s
        );
    };

    let (t_gunzip, ()) = timed(a.runs, || {
        let n: usize = objects.iter().map(|(_, b)| gunzip(b).0.len()).sum();
        ensure!(n == text);
        Ok(())
    })?;
    report("gunzip only (flate2/zlib-rs, one thread)", &t_gunzip);

    // What the service does per object and in its merge, minus I/O and
    // threads: open_raw (gunzip, order check, lazy lines) and the Merge.
    let (t_reader, reader_out) = timed(a.runs, || {
        let sources: Vec<_> = objects
            .iter()
            .map(|(k, b)| open_raw(k.clone(), b, None).0)
            .collect();
        let mut out = Output::new();
        for r in Merge::new(sources, Selection::default()) {
            out.push(&r.map_err(|e| anyhow::anyhow!("{e}"))?.line);
        }
        Ok(out.finish())
    })?;
    report(
        "native reader core: open_raw + Merge → NDJSON, one thread",
        &t_reader,
    );

    // The adapter's Merger, compiled natively: the code the .wasm runs.
    // Lenient reads as the service does (lines parsed as the merge pulls
    // them); strict parses each object whole at push, to fail it there.
    for (lenient, what) in [
        (true, "adapter Merger, native, lenient"),
        (false, "adapter Merger, native, strict"),
    ] {
        let (t_adapter, adapter_out) = timed(a.runs, || {
            let mut m = Merger::new(Selection::default(), lenient);
            for (k, b) in &objects {
                m.push_object(k, b)?;
            }
            m.finish();
            let mut out = Output::new();
            while let Some(r) = m.next_record() {
                out.push(&r.line);
            }
            Ok(out.finish())
        })?;
        report(what, &t_adapter);
        ensure!(
            reader_out == adapter_out,
            "{reader_out:?} != {adapter_out:?}"
        );
    }
    println!(
        "output: {} lines, FNV-1a {:08x}",
        reader_out.0, reader_out.1
    );
    Ok(())
}
