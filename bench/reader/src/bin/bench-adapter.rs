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

#[path = "../synth.rs"]
#[allow(dead_code)] // bench-reader's other uses of the generator
mod synth;

use afterlog_adapter_wasm::merger::Merger;
use afterlog_reader::{Merge, Selection, gunzip, open_raw};
use anyhow::{Context, Result, bail, ensure};
use std::path::PathBuf;
use std::time::Instant;

const MIB: f64 = 1024.0 * 1024.0;
const SEED: u64 = 20_261_125;
/// Bump when the generated data changes.
const DATA_VERSION: u64 = 1;
const MARKER: &str = "bench-adapter.json";

struct Args {
    size_mib: u64,
    dir: PathBuf,
    runs: usize,
}

fn args() -> Result<Args> {
    let mut a = Args {
        size_mib: 64,
        dir: PathBuf::from("target/bench-adapter"),
        runs: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--size-mib" => a.size_mib = value()?.parse().context("--size-mib")?,
            "--dir" => a.dir = PathBuf::from(value()?),
            "--runs" => a.runs = value()?.parse().context("--runs")?,
            other => bail!("unknown argument {other:?}: --size-mib N --dir DIR --runs N"),
        }
    }
    ensure!(a.size_mib >= 4 && a.runs >= 1, "--size-mib ≥ 4, --runs ≥ 1");
    Ok(a)
}

/// FNV-1a, 32 bits: cheap to compute the same way in JavaScript.
fn fnv1a(h: &mut u32, bytes: &[u8]) {
    for &b in bytes {
        *h ^= u32::from(b);
        *h = h.wrapping_mul(0x0100_0193);
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
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

fn main() -> Result<()> {
    let a = args()?;
    let objects = objects(&a)?;
    let stored: usize = objects.iter().map(|(_, b)| b.len()).sum();
    let text: usize = objects.iter().map(|(_, b)| gunzip(b).0.len()).sum();
    println!(
        "{} objects: {:.1} MiB stored, {:.1} MiB of JSON lines",
        objects.len(),
        stored as f64 / MIB,
        text as f64 / MIB
    );
    let report = |what: &str, times: &mut Vec<f64>| {
        let s = median(times);
        println!(
            "{what}: median {s:.3} s of {} runs → {:.0} MiB/s of JSON lines",
            times.len(),
            text as f64 / MIB / s
        );
    };

    let mut t_gunzip = Vec::new();
    for _ in 0..a.runs {
        let t = Instant::now();
        let n: usize = objects.iter().map(|(_, b)| gunzip(b).0.len()).sum();
        t_gunzip.push(t.elapsed().as_secs_f64());
        ensure!(n == text);
    }
    report("gunzip only (flate2/zlib-rs, one thread)", &mut t_gunzip);

    // What the service does per object and in its merge, minus I/O and
    // threads: open_raw (gunzip, order check, lazy lines) and the Merge.
    let mut t_reader = Vec::new();
    let mut reader_out = (0u64, 0x811c_9dc5u32);
    for _ in 0..a.runs {
        let t = Instant::now();
        let sources: Vec<_> = objects
            .iter()
            .map(|(k, b)| open_raw(k.clone(), b).0)
            .collect();
        let (mut lines, mut h) = (0u64, 0x811c_9dc5u32);
        let mut buf = Vec::with_capacity(1 << 20);
        for r in Merge::new(sources, Selection::default()) {
            let r = r.map_err(|e| anyhow::anyhow!("{e}"))?;
            buf.extend_from_slice(&r.line);
            buf.push(b'\n');
            lines += 1;
            if buf.len() >= 1 << 20 {
                fnv1a(&mut h, &buf);
                buf.clear();
            }
        }
        fnv1a(&mut h, &buf);
        t_reader.push(t.elapsed().as_secs_f64());
        reader_out = (lines, h);
    }
    report(
        "native reader core: open_raw + Merge → NDJSON, one thread",
        &mut t_reader,
    );

    // The adapter's Merger, compiled natively: the code the .wasm runs.
    // Lenient reads as the service does (lines parsed as the merge pulls
    // them); strict parses each object whole at push, to fail it there.
    for lenient in [true, false] {
        let mut t_adapter = Vec::new();
        let mut adapter_out = (0u64, 0u32);
        for _ in 0..a.runs {
            let t = Instant::now();
            let mut m = Merger::new(Selection::default(), lenient);
            for (k, b) in &objects {
                m.push_object(k, b)?;
            }
            m.finish();
            let (mut lines, mut h) = (0u64, 0x811c_9dc5u32);
            let mut buf = Vec::with_capacity(1 << 20);
            while let Some(r) = m.next_record() {
                buf.extend_from_slice(&r.line);
                buf.push(b'\n');
                lines += 1;
                if buf.len() >= 1 << 20 {
                    fnv1a(&mut h, &buf);
                    buf.clear();
                }
            }
            fnv1a(&mut h, &buf);
            t_adapter.push(t.elapsed().as_secs_f64());
            adapter_out = (lines, h);
        }
        report(
            if lenient {
                "adapter Merger, native, lenient"
            } else {
                "adapter Merger, native, strict"
            },
            &mut t_adapter,
        );
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
