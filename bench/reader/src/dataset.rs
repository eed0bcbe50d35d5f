//! The reader benches' data: the two generated jobs (written once, reused
//! while the parameters match) and a compacted copy of their store. Shared
//! by `bench-reader` and `bench-load`, so that both read the same store.

use crate::server::{afterlog_bin, store_url};
use crate::store;
use crate::synth::{self, BIG_JOB, JobStats, SMALL_JOB, TOOL};
use afterlog_reader::index::INDEX_VERSION;
use afterlog_reader::{JobIndex, StoreConfig};
use anyhow::{Context, Result, ensure};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const MIB: f64 = 1024.0 * 1024.0;
/// Bump when the generated data changes, so old sets are not reused.
const DATA_VERSION: u64 = 2;
const SEED: u64 = 20_261_125;
const MARKER: &str = "bench-reader.json";
/// Bump when the compacted copy is made differently, so old copies are
/// not reused.
const COMPACTED_VERSION: u64 = 1;
const COMPACTED_MARKER: &str = "bench-reader-compacted.json";
/// What `<dir>-compacted` is named after.
const COMPACTED_SUFFIX: &str = "-compacted";
/// Fluent Bit's s3 output uploads a file at most `upload_timeout` (5 min
/// in the drop-in) after its first record.
const UPLOAD_AFTER_SECS: i64 = 300;
/// Compaction passes before giving up on raw objects left unconsumed.
const MAX_PASSES: usize = 4;

pub struct Data {
    pub big: JobStats,
    pub small: JobStats,
    /// `None` where the set was reused.
    pub generated_secs: Option<f64>,
}

fn read_marker(path: &Path) -> Option<serde_json::Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// The generated jobs in `dir` if they are there at `size_mib`.
pub fn reuse_data(dir: &Path, size_mib: u64) -> Option<Data> {
    let v = read_marker(&dir.join(MARKER))?;
    if v["version"] != DATA_VERSION || v["size_mib"] != size_mib || v["seed"] != SEED {
        return None;
    }
    Some(Data {
        big: JobStats::from_json(&v["big"])?,
        small: JobStats::from_json(&v["small"])?,
        generated_secs: None,
    })
}

/// The size the generated jobs in `dir` were made at, read from its
/// marker or, for a compacted copy, from the copy's.
pub fn marked_size_mib(dir: &Path) -> Option<u64> {
    read_marker(&dir.join(MARKER))
        .and_then(|v| v["size_mib"].as_u64())
        .or_else(|| read_marker(&dir.join(COMPACTED_MARKER))?["params"]["size_mib"].as_u64())
}

/// The generated jobs in `dir` at `size_mib`, written unless a set with the
/// same parameters is there.
pub fn data(dir: &Path, size_mib: u64) -> Result<Data> {
    let marker = dir.join(MARKER);
    if let Some(d) = reuse_data(dir, size_mib) {
        println!("data: reusing {} (delete it to regenerate)", dir.display());
        return Ok(d);
    }
    // The marker goes first and comes back last: a set cut short is redone.
    let _ = std::fs::remove_file(&marker);
    for top in ["raw", "data", "meta"] {
        let p = dir.join(top).join(TOOL);
        if p.exists() {
            std::fs::remove_dir_all(&p).with_context(|| format!("removing {}", p.display()))?;
        }
    }
    std::fs::create_dir_all(dir)?;
    println!(
        "data: generating {} MiB + 1 MiB in {} ...",
        size_mib,
        dir.display()
    );
    let t = Instant::now();
    let big = synth::write_job(dir, &synth::big_job(size_mib, SEED))?;
    let small = synth::write_job(dir, &synth::small_job(SEED))?;
    let secs = t.elapsed().as_secs_f64();
    let v = serde_json::json!({
        "version": DATA_VERSION, "size_mib": size_mib, "seed": SEED,
        "big": big.to_json(), "small": small.to_json(),
    });
    std::fs::write(&marker, serde_json::to_string_pretty(&v)?)?;
    Ok(Data {
        big,
        small,
        generated_secs: Some(secs),
    })
}

pub fn describe(name: &str, s: &JobStats) {
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

/// The compacted copy of the store.
pub struct Compacted {
    pub dir: PathBuf,
    /// Objects by top-level prefix after the last pass.
    pub objects: BTreeMap<String, u64>,
    /// Each pass's time and report, the cleanup pass last.
    pub passes: Vec<(f64, String)>,
}

/// `<dir>-compacted`, beside the data.
pub fn compacted_dir(dir: &Path) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(COMPACTED_SUFFIX);
    dir.with_file_name(name)
}

/// The data directory `copy` is the compacted copy of, if it is named as
/// one.
pub fn data_dir_of(copy: &Path) -> Option<PathBuf> {
    let name = copy.file_name()?.to_str()?;
    let stem = name.strip_suffix(COMPACTED_SUFFIX)?;
    (!stem.is_empty()).then(|| copy.with_file_name(stem))
}

/// The store's objects by top-level prefix; files directly in the
/// directory are the bench's (markers, logs, the compactor's config).
fn store_objects(dir: &Path) -> Result<BTreeMap<String, u64>> {
    let mut c = store::count_objects(dir)?;
    c.remove("(top)");
    Ok(c)
}

/// Copies every directory of the store in `from` (its objects) to `to`.
fn copy_store(from: &Path, to: &Path) -> Result<u64> {
    let mut files = 0;
    let mut stack: Vec<PathBuf> = Vec::new();
    for e in std::fs::read_dir(from).with_context(|| format!("listing {}", from.display()))? {
        let e = e?;
        if e.file_type()?.is_dir() {
            stack.push(e.path());
        }
    }
    while let Some(d) = stack.pop() {
        let target = to.join(d.strip_prefix(from)?);
        std::fs::create_dir_all(&target)
            .with_context(|| format!("creating {}", target.display()))?;
        for e in std::fs::read_dir(&d).with_context(|| format!("listing {}", d.display()))? {
            let e = e?;
            if e.file_type()?.is_dir() {
                stack.push(e.path());
            } else {
                let dest = target.join(e.file_name());
                std::fs::copy(e.path(), &dest)
                    .with_context(|| format!("copying {}", e.path().display()))?;
                files += 1;
            }
        }
    }
    Ok(files)
}

/// Gives each raw object of the copy the time Fluent Bit would have
/// uploaded it: the generator wrote them all just now, and the compactor
/// leaves a raw object alone until `settle_minutes` after the store
/// received it (a local store's `last_modified` is the file's mtime).
/// Records newer than that (a clock behind the data) are put just past the
/// settle time instead. Returns (objects, how many were put back so).
fn backdate_uploads(raw: &Path) -> Result<(u64, u64)> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() as i64;
    let latest = now - (store::SETTLE_MINUTES as i64 + 1) * 60;
    let (mut n, mut clamped) = (0, 0);
    for f in synth::object_files(raw)? {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let key_secs = name
            .get(..16)
            .and_then(afterlog_contract::time::parse_compact_utc)
            .with_context(|| format!("no key time in {}", f.display()))?;
        let uploaded = key_secs + UPLOAD_AFTER_SECS;
        if uploaded > latest {
            clamped += 1;
        }
        let t = UNIX_EPOCH + Duration::from_secs(uploaded.min(latest).max(0) as u64);
        std::fs::File::options()
            .write(true)
            .open(&f)?
            .set_modified(t)
            .with_context(|| format!("setting the time of {}", f.display()))?;
        n += 1;
    }
    Ok((n, clamped))
}

/// Raw objects of each job that no job index has consumed.
fn unconsumed(rt: &tokio::runtime::Runtime, dir: &Path) -> Result<Vec<(&'static str, usize)>> {
    let store = afterlog_reader::open(&StoreConfig::new(store_url(dir)))?;
    [BIG_JOB, SMALL_JOB]
        .into_iter()
        .map(|job| {
            let index = rt.block_on(JobIndex::load(store.as_ref(), TOOL, job))?;
            Ok((job, index.objects.iter().filter(|l| l.is_raw()).count()))
        })
        .collect()
}

fn compacted_params(size_mib: u64) -> serde_json::Value {
    serde_json::json!({
        "version": COMPACTED_VERSION, "data_version": DATA_VERSION,
        "size_mib": size_mib, "seed": SEED, "index_version": INDEX_VERSION,
        "settle_minutes": store::SETTLE_MINUTES, "grace_minutes": store::GRACE_MINUTES,
    })
}

/// The compacted copy of the data in `raw` if it was made at `size_mib`
/// with today's parameters. Needs no data in `raw`.
pub fn reuse_compacted(raw: &Path, size_mib: u64) -> Result<Option<Compacted>> {
    let dir = compacted_dir(raw);
    let Some(v) = read_marker(&dir.join(COMPACTED_MARKER)) else {
        return Ok(None);
    };
    let Some(passes) = v["passes"]
        .as_array()
        .filter(|_| v["params"] == compacted_params(size_mib))
    else {
        return Ok(None);
    };
    let passes = passes
        .iter()
        .map(|p| {
            let secs = p["secs"].as_f64().unwrap_or(f64::NAN);
            (secs, p["report"].as_str().unwrap_or("").to_string())
        })
        .collect();
    Ok(Some(Compacted {
        objects: store_objects(&dir)?,
        dir,
        passes,
    }))
}

/// Copies the store and compacts the copy with `afterlog compact` until no
/// raw object is left, or reuses the copy while the parameters match (its
/// marker is written last).
pub fn compacted_store(raw: &Path, size_mib: u64) -> Result<Compacted> {
    if let Some(c) = reuse_compacted(raw, size_mib)? {
        println!(
            "\ncompacted copy: reusing {} (delete it to compact again)",
            c.dir.display()
        );
        return Ok(c);
    }
    let dir = compacted_dir(raw);
    let marker = dir.join(COMPACTED_MARKER);
    let want = compacted_params(size_mib);
    let _ = std::fs::remove_file(&marker);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir)?;
    let t = Instant::now();
    let files = copy_store(raw, &dir)?;
    let (backdated, clamped) = backdate_uploads(&dir.join(afterlog_contract::layout::RAW))?;
    println!(
        "\ncompacted copy: copied {files} objects to {} in {:.1} s; {backdated} raw objects dated to their upload (key time + {} s){}",
        dir.display(),
        t.elapsed().as_secs_f64(),
        UPLOAD_AFTER_SECS,
        if clamped > 0 {
            format!(
                ", {clamped} of them to {} min ago (their records are newer)",
                store::SETTLE_MINUTES + 1
            )
        } else {
            String::new()
        }
    );
    println!(
        "  before: {} objects",
        store::describe_objects(&store_objects(&dir)?)
    );
    let config = store::compactor_config(&dir)?;
    let bin = afterlog_bin()?;
    let run_pass = |passes: &mut Vec<store::Pass>| -> Result<()> {
        let mut cmd = store::afterlog_command(&bin, "compact");
        cmd.arg("--store").arg(store_url(&dir));
        let p = store::pass(cmd, &config)?;
        println!(
            "  compaction pass {}: {:.2} s: {}",
            passes.len() + 1,
            p.secs,
            p.report
        );
        ensure!(
            p.status.success(),
            "afterlog compact failed ({}): {}",
            p.status,
            p.stderr
        );
        passes.push(p);
        Ok(())
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut passes = Vec::new();
    loop {
        run_pass(&mut passes)?;
        let left = unconsumed(&rt, &dir)?;
        if left.iter().all(|&(_, n)| n == 0) {
            break;
        }
        let left: Vec<String> = left.iter().map(|(j, n)| format!("{j} {n}")).collect();
        println!("  raw objects not consumed yet: {}", left.join(", "));
        ensure!(
            passes.len() < MAX_PASSES,
            "{MAX_PASSES} compaction passes left raw objects unconsumed ({}): see {}",
            left.join(", "),
            dir.display()
        );
    }
    println!(
        "  merged: {} objects (what is consumed stays for the grace time)",
        store::describe_objects(&store_objects(&dir)?)
    );
    if let Some(last) = passes.last() {
        store::wait_for_grace(last);
    }
    run_pass(&mut passes)?;
    let objects = store_objects(&dir)?;
    println!("  compacted: {} objects", store::describe_objects(&objects));
    let raw_left = objects
        .get(afterlog_contract::layout::RAW)
        .copied()
        .unwrap_or(0);
    ensure!(
        raw_left == 0,
        "{raw_left} raw objects are left after the cleanup pass: see {}",
        dir.display()
    );
    let passes: Vec<(f64, String)> = passes.into_iter().map(|p| (p.secs, p.report)).collect();
    let v = serde_json::json!({
        "params": want,
        "passes": passes
            .iter()
            .map(|(secs, report)| serde_json::json!({"secs": secs, "report": report}))
            .collect::<Vec<_>>(),
    });
    std::fs::write(&marker, serde_json::to_string_pretty(&v)?)?;
    Ok(Compacted {
        dir,
        objects,
        passes,
    })
}
