//! Benchmark of compaction: a job of 2 000 small raw objects (a container
//! logging slowly uploads one small object per interval), merged by one
//! compaction pass; its speed against `zcat` of the same objects, and a full
//! read of the job before and after.
//!
//! ```sh
//! cargo run --profile ci -p afterlog-bench-reader --bin bench-compact [-- --objects 2000 --runs 3]
//! ```

#[path = "../words.rs"]
mod words;

use afterlog_compactor::{Compactor, Config};
use afterlog_contract::layout::Origin;
use afterlog_reader::{JobIndex, JobReader, Selection, Store, StoreConfig, open};
use anyhow::{Context, Result, ensure};
use flate2::Compression;
use flate2::write::GzEncoder;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

const TOOL: &str = "benchtool";
const JOB: &str = "worker";
const LINES_PER_OBJECT: u64 = 200;
const START_SECS: u64 = 1_795_618_800;

use words::{Rng, WORDS};

fn text(r: &mut Rng) -> String {
    let n = 8 + r.below(40);
    let mut s = format!(
        "[{}] ",
        ["INFO", "INFO", "INFO", "DEBUG", "WARN"][r.below(5) as usize]
    );
    for i in 0..n {
        if i > 0 {
            s.push(' ');
        }
        if r.below(6) == 0 {
            s.push_str(&r.below(100_000).to_string());
        } else {
            s.push_str(WORDS[r.below(WORDS.len() as u64) as usize]);
        }
    }
    s
}

/// Writes the job: 2 pods × 2 containers, `objects` uploads in all.
fn generate(dir: &Path, objects: u64) -> Result<(u64, u64, u64)> {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
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
                let log = text(&mut r);
                let line = serde_json::json!({
                    "ts": ts, "off": off, "stream": if r.below(10) == 0 { "stderr" } else { "stdout" }, "log": log,
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

fn files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        if !d.exists() {
            continue;
        }
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            if e.file_type()?.is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out.sort();
    Ok(out)
}

fn zcat(files: &[PathBuf]) -> Result<f64> {
    let t = Instant::now();
    let st = std::process::Command::new("zcat")
        .args(files)
        .stdout(std::process::Stdio::null())
        .status()
        .context("running zcat")?;
    ensure!(st.success(), "zcat failed");
    Ok(t.elapsed().as_secs_f64())
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

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<()> {
    let mut objects = 2000u64;
    let mut runs = 3usize;
    let mut dir = PathBuf::from("target/bench-compact");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--objects" => objects = args.next().context("--objects N")?.parse()?,
            "--runs" => runs = args.next().context("--runs N")?.parse()?,
            "--dir" => dir = args.next().context("--dir DIR")?.into(),
            other => anyhow::bail!("unknown argument {other:?} (--objects N, --runs N, --dir DIR)"),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let dir = std::path::absolute(&dir)?;
    let t = Instant::now();
    let (records, bytes, gz_bytes) = generate(&dir, objects)?;
    let raw_files = files(&dir.join("raw"))?;
    println!(
        "job {TOOL}/{JOB}: {} raw objects, {records} records, {:.1} MiB ({:.1} MiB gzipped), generated in {:.1} s",
        raw_files.len(),
        bytes as f64 / 1048576.0,
        gz_bytes as f64 / 1048576.0,
        t.elapsed().as_secs_f64()
    );
    let mib = |s: f64| bytes as f64 / 1048576.0 / s;

    let mut zc: Vec<f64> = (0..runs).map(|_| zcat(&raw_files)).collect::<Result<_>>()?;
    let zcat_s = median(&mut zc);
    println!(
        "zcat of the raw objects: {zcat_s:.2} s → {:.0} MiB/s",
        mib(zcat_s)
    );

    let rt = tokio::runtime::Runtime::new()?;
    let store = open(&StoreConfig::new(format!("file://{}", dir.display())))?;
    let mut before = Vec::new();
    for _ in 0..runs {
        let (s, n, o) = rt.block_on(full_read(&store))?;
        ensure!(
            n == records,
            "read {n} records before compaction, wrote {records}"
        );
        println!("  full read before: {s:.2} s, {o} objects");
        before.push(s);
    }
    let before_s = median(&mut before);

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

    let mut after = Vec::new();
    let mut objects_after = 0;
    for _ in 0..runs {
        let (s, n, o) = rt.block_on(full_read(&store))?;
        ensure!(
            n == records,
            "read {n} records after compaction, wrote {records}"
        );
        println!(
            "  full read after: {s:.2} s, {o} objects (raw ones consumed, still listed until the grace period ends)"
        );
        after.push(s);
        objects_after = o;
    }
    let after_s = median(&mut after);
    // After the grace period: only merged objects are left to list.
    let c = Compactor {
        clock: || afterlog_compactor::system_clock() + 3 * 3_600_000_000_000,
        ..c
    };
    let cleanup = rt.block_on(c.pass())?;
    let mut cleaned = Vec::new();
    let mut objects_clean = 0;
    for _ in 0..runs {
        let (s, n, o) = rt.block_on(full_read(&store))?;
        ensure!(
            n == records,
            "read {n} records after cleanup, wrote {records}"
        );
        cleaned.push(s);
        objects_clean = o;
    }
    let cleaned_s = median(&mut cleaned);
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
