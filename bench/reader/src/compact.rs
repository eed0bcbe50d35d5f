//! Benchmark of compaction: a job of 2 000 small raw objects (a container
//! logging slowly uploads one small object per interval), merged by one
//! compaction pass; its speed against `zcat` of the same objects, and a full
//! read of the job before and after.
//!
//! ```sh
//! cargo run --profile ci -p afterlog-bench-reader --bin bench-compact [-- --objects 2000 --runs 3]
//! ```

use crate::figures::median;
use crate::gz::zcat;
use crate::synth::object_files;
use crate::words;
use afterlog_compactor::{Compactor, Config};
use afterlog_contract::layout::Origin;
use afterlog_reader::{JobIndex, JobReader, Selection, Store, StoreConfig, open};
use afterlog_sim::Rng;
use anyhow::{Context, Result, ensure};
use clap::Parser;
use flate2::Compression;
use flate2::write::GzEncoder;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

const TOOL: &str = "benchtool";
const JOB: &str = "worker";
const LINES_PER_OBJECT: u64 = 200;
const START_SECS: u64 = 1_795_618_800;

/// A compactor for a bench's data written just now: its clock three hours
/// ahead, so every upload is settled and every consumed object past its
/// grace period, and no lease to wait for.
pub fn settled_compactor(store: Store) -> Compactor {
    Compactor {
        holder: "bench".into(),
        clock: || afterlog_compactor::system_clock() + 3 * 3_600_000_000_000,
        ..Compactor::new(
            store,
            Config {
                lease_settle_ms: 0,
                ..Config::default()
            },
        )
    }
}

/// Writes a job of many small raw objects, reads it, compacts it with one
/// pass and reads it again.
#[derive(Parser, Debug)]
#[command(name = "bench-compact")]
pub struct Args {
    /// Raw objects of the job.
    #[arg(long, default_value_t = 2000)]
    objects: u64,
    /// Runs of each timed read.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Where the store is made (emptied first).
    #[arg(long, default_value = "target/bench-compact")]
    dir: PathBuf,
}

/// Writes the job: 2 pods × 2 containers, `objects` uploads in all.
fn generate(dir: &Path, objects: u64) -> Result<(u64, u64, u64)> {
    let mut r = Rng::new(0x9e37_79b9_7f4a_7c15);
    let (mut records, mut bytes, mut gz_bytes) = (0, 0, 0);
    let containers = [
        ("worker-0", "main"),
        ("worker-0", "sidecar"),
        ("worker-1", "main"),
        ("worker-1", "sidecar"),
    ];
    let per = objects / containers.len() as u64;
    for (ci, (pod, container)) in containers.iter().enumerate() {
        let o = Origin {
            tool: TOOL.into(),
            job: JOB.into(),
            pod: pod.to_string(),
            container: container.to_string(),
        };
        let cid = format!("{:064x}", 0xabcdef_u64 + ci as u64);
        let mut ts = START_SECS * 1_000_000_000 + ci as u64 * 1_000_000;
        let mut off = 0u64;
        for u in 0..per {
            let mut gz = GzEncoder::new(Vec::new(), Compression::default());
            let first = ts;
            for _ in 0..LINES_PER_OBJECT {
                ts += 100_000_000 + r.below(2_000_000_000);
                let log = words::line(&mut r, 8..=47);
                let line = serde_json::json!({
                    "ts": ts, "off": off, "stream": if r.chance(10) { "stderr" } else { "stdout" }, "log": log,
                    "afterlog": {"tool": TOOL, "job": JOB, "kind": "continuous", "namespace": "tool-benchtool",
                        "pod": pod, "container": container, "container_id": cid, "node": "node-3", "route": o.route()}
                })
                .to_string();
                off += log.len() as u64 + 40;
                gz.write_all(line.as_bytes())?;
                gz.write_all(b"\n")?;
                bytes += line.len() as u64 + 1;
                records += 1;
            }
            let body = gz.finish()?;
            gz_bytes += body.len() as u64;
            let key = o.raw_key((first / 1_000_000_000) as i64, &format!("{ci}{u:07}"));
            let path = dir.join(&key);
            std::fs::create_dir_all(path.parent().context("key without parent")?)?;
            std::fs::write(&path, body)?;
        }
    }
    Ok((records, bytes, gz_bytes))
}

async fn full_read(store: &Store) -> Result<(f64, u64, u64)> {
    let t = Instant::now();
    let ix = JobIndex::load(store.as_ref(), TOOL, JOB).await?;
    let listed = t.elapsed().as_secs_f64();
    let objects = ix.objects.len() as u64;
    let mut rd = JobReader::new(store.clone(), &ix, Selection::default());
    let mut n = 0;
    while rd.next().await?.is_some() {
        n += 1;
    }
    ensure!(rd.warnings.is_empty(), "warnings: {:?}", rd.warnings);
    println!("    (listing, metas and first times: {listed:.2} s)");
    Ok((t.elapsed().as_secs_f64(), n, objects))
}

/// `runs` full reads of the job, each checked to give `records`; `when`
/// names them in errors. Median seconds and the objects the last listed.
fn reads(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    runs: usize,
    records: u64,
    when: &str,
    each: impl Fn(f64, u64),
) -> Result<(f64, u64)> {
    let mut secs = Vec::new();
    let mut objects = 0;
    for _ in 0..runs {
        let (s, n, o) = rt.block_on(full_read(store))?;
        ensure!(n == records, "read {n} records {when}, wrote {records}");
        each(s, o);
        secs.push(s);
        objects = o;
    }
    Ok((median(&secs), objects))
}

pub fn run(a: Args) -> Result<()> {
    let Args { objects, runs, dir } = a;
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let dir = std::path::absolute(&dir)?;
    let t = Instant::now();
    let (records, bytes, gz_bytes) = generate(&dir, objects)?;
    let raw_files = object_files(&dir.join("raw"))?;
    println!(
        "job {TOOL}/{JOB}: {} raw objects, {records} records, {:.1} MiB ({:.1} MiB gzipped), generated in {:.1} s",
        raw_files.len(),
        bytes as f64 / 1048576.0,
        gz_bytes as f64 / 1048576.0,
        t.elapsed().as_secs_f64()
    );
    let mib = |s: f64| bytes as f64 / 1048576.0 / s;

    let zc: Vec<f64> = (0..runs).map(|_| zcat(&raw_files)).collect::<Result<_>>()?;
    let zcat_s = median(&zc);
    println!(
        "zcat of the raw objects: {zcat_s:.2} s → {:.0} MiB/s",
        mib(zcat_s)
    );

    let rt = tokio::runtime::Runtime::new()?;
    let store = open(&StoreConfig::new(format!("file://{}", dir.display())))?;
    let (before_s, _) = reads(&rt, &store, runs, records, "before compaction", |s, o| {
        println!("  full read before: {s:.2} s, {o} objects")
    })?;

    let config = Config {
        lease_settle_ms: 0,
        ..Config::default()
    };
    let c = Compactor {
        holder: "bench".into(),
        clock: || afterlog_compactor::system_clock() + 3_600_000_000_000,
        ..Compactor::new(store.clone(), config)
    };
    let t = Instant::now();
    let report = rt.block_on(c.pass())?;
    let compact_s = t.elapsed().as_secs_f64();
    println!(
        "compaction pass: {compact_s:.2} s → {:.0} MiB/s; {report}",
        mib(compact_s)
    );
    ensure!(
        report.raw_read == raw_files.len() as u64,
        "the pass read {} of {} raw objects",
        report.raw_read,
        raw_files.len()
    );

    let (after_s, objects_after) = reads(
        &rt,
        &store,
        runs,
        records,
        "after compaction",
        |s, o| {
            println!(
                "  full read after: {s:.2} s, {o} objects (raw ones consumed, still listed until the grace period ends)"
            )
        },
    )?;
    // After the grace period: only merged objects are left to list.
    let c = Compactor {
        clock: || afterlog_compactor::system_clock() + 3 * 3_600_000_000_000,
        ..c
    };
    let cleanup = rt.block_on(c.pass())?;
    let (cleaned_s, objects_clean) = reads(&rt, &store, runs, records, "after cleanup", |_, _| {})?;
    println!("cleanup pass: {cleanup}");

    println!();
    println!("| what | median | throughput | ratio | goal |");
    println!("|---|---:|---:|---:|---|");
    println!(
        "| `zcat` of the {} raw objects | {zcat_s:.2} s | {:.0} MiB/s | 1.00 | |",
        raw_files.len(),
        mib(zcat_s)
    );
    println!(
        "| compaction pass (merge, write, meta) | {compact_s:.2} s | {:.0} MiB/s | **{:.2}** vs `zcat` | ≥ 0.5 |",
        mib(compact_s),
        zcat_s / compact_s
    );
    println!(
        "| full read, before ({} raw objects) | {before_s:.2} s | {:.0} MiB/s | 1.00 | |",
        raw_files.len(),
        mib(before_s)
    );
    println!(
        "| full read, after the merge ({objects_after} objects listed) | {after_s:.2} s | {:.0} MiB/s | {:.2}× faster | |",
        mib(after_s),
        before_s / after_s
    );
    println!(
        "| full read, after cleanup ({objects_clean} merged objects) | {cleaned_s:.2} s | {:.0} MiB/s | **{:.2}×** faster | |",
        mib(cleaned_s),
        before_s / cleaned_s
    );
    Ok(())
}
