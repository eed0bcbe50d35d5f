//! One `bench-scale` case: a job of N runs generated into a store of its
//! own, measured raw, after a first compaction pass (merged) and after the
//! second (compacted).

use super::measure::{Measured, measure_all};
use super::stores::{self, S3, Store};
use super::{Args, JobKind, StoreKind, data, loadavg, now_ns};
use crate::store;
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::time::Instant;

pub struct Phase {
    pub name: &'static str,
    pub objects: BTreeMap<String, u64>,
    pub results: Vec<Measured>,
}

pub struct Case {
    pub n: u64,
    pub kind: JobKind,
    pub store: StoreKind,
    pub gen_secs: f64,
    pub records: u64,
    pub bytes: u64,
    pub gz_bytes: u64,
    pub phases: Vec<Phase>,
    /// Seconds and report of each compaction pass.
    pub passes: Vec<(f64, String)>,
    pub error: Option<String>,
}

pub fn run(a: &Args, n: u64, kind: JobKind, sk: StoreKind) -> Result<Case> {
    let dir = a.dir.join(format!("{}-{}-{n}", sk.name(), kind.name()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir)?;
    let objects = match sk {
        StoreKind::File => dir.join("store"),
        StoreKind::S3 => dir.join("s3root").join(stores::BUCKET),
    };
    std::fs::create_dir_all(&objects)?;
    println!(
        "\n== N={n} {} job on {} ({}), load average {}",
        kind.name(),
        sk.name(),
        dir.display(),
        loadavg()
    );
    let t = Instant::now();
    let now = now_ns();
    let mut g = match kind {
        JobKind::Cron => data::write_cron(&objects, n, now)?,
        JobKind::Continuous => data::write_continuous(&objects, n, now)?,
    };
    g.secs = t.elapsed().as_secs_f64();
    println!(
        "  generated {} records, {:.1} MiB ({:.1} MiB gzipped) in {} raw objects, {} run(s), in {:.1} s",
        g.records,
        g.bytes as f64 / 1048576.0,
        g.gz_bytes as f64 / 1048576.0,
        g.objects,
        g.runs,
        g.secs
    );
    let mut case = Case {
        n,
        kind,
        store: sk,
        gen_secs: g.secs,
        records: g.records,
        bytes: g.bytes,
        gz_bytes: g.gz_bytes,
        phases: Vec::new(),
        passes: Vec::new(),
        error: None,
    };
    let s3 = match sk {
        StoreKind::File => None,
        StoreKind::S3 => Some(S3::start(
            &a.s3s_fs,
            &dir.join("s3root"),
            &dir.join("s3s-fs.log"),
        )?),
    };
    let store = Store {
        objects: objects.clone(),
        s3: s3.as_ref(),
    };
    let log = dir.join("afterlog.log");

    let before = store::count_objects(&objects)?;
    println!("  raw phase: {} objects", store::describe_objects(&before));
    let results = measure_all(a, &store, kind, &g, &log)?;
    case.phases.push(Phase {
        name: "raw",
        objects: before,
        results,
    });

    let config = store::compactor_config(&dir)?;
    let mut first: Option<store::Pass> = None;
    for pass in 1..=2 {
        if let Some(first) = &first {
            // Consumed raw objects go once the grace time has passed since
            // the first pass recorded them.
            store::wait_for_grace(first);
        }
        let p = store::pass(store.command(&a.afterlog, "compact"), &config)?;
        println!("  compaction pass {pass}: {:.2} s: {}", p.secs, p.report);
        case.passes.push((p.secs, p.report.clone()));
        if !p.status.success() {
            println!(
                "  !!!!! afterlog compact failed ({}): {}",
                p.status, p.stderr
            );
            case.error = Some(format!(
                "compaction pass {pass} failed: {}",
                p.stderr.lines().last().unwrap_or("")
            ));
            return Ok(case);
        }
        first.get_or_insert(p);
        let objects_now = store::count_objects(&objects)?;
        let name = if pass == 1 { "merged" } else { "compacted" };
        println!(
            "  {name} phase: {} objects",
            store::describe_objects(&objects_now)
        );
        // After the first pass: merged, the consumed raw objects still
        // stored (measured while the grace time runs).
        let results = measure_all(a, &store, kind, &g, &log)?;
        case.phases.push(Phase {
            name,
            objects: objects_now,
            results,
        });
    }
    Ok(case)
}
