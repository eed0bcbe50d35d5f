//! Full reads of the big job through `JobReader` in this process: the
//! reader without HTTP.

use super::Args;
use crate::dataset::Data;
use crate::figures::{MIB, fmt_runs, mbs, median};
use crate::server::{memory, mib, reset_peak, self_cpu, store_url};
use crate::synth::{BIG_JOB, TOOL};
use afterlog_reader::{JobIndex, JobReader, Selection, StoreConfig};
use anyhow::Result;
use std::path::Path;
use std::time::Instant;

struct InProcess {
    secs: f64,
    cpu: f64,
    records: u64,
    bytes: u64,
    objects: u64,
    warnings: usize,
    peak_kib: Option<u64>,
}

fn in_process(rt: &tokio::runtime::Runtime, dir: &Path) -> Result<InProcess> {
    let store = afterlog_reader::open(&StoreConfig::new(store_url(dir)))?;
    let me = std::process::id();
    let reset = reset_peak(me);
    let (t, cpu) = (Instant::now(), self_cpu());
    let (records, bytes, stats, warnings) = rt.block_on(async {
        let index = JobIndex::load(store.as_ref(), TOOL, BIG_JOB).await?;
        let mut rd = JobReader::new(store.clone(), &index, Selection::default());
        let (mut records, mut bytes) = (0u64, 0u64);
        while let Some(r) = rd.next().await? {
            records += 1;
            bytes += r.line.len() as u64 + 1;
        }
        anyhow::Ok((records, bytes, rd.stats, rd.warnings))
    })?;
    let secs = t.elapsed().as_secs_f64();
    let cpu = self_cpu() - cpu;
    for w in warnings.iter().take(5) {
        println!("    warning: {w}");
    }
    Ok(InProcess {
        secs,
        cpu,
        records,
        bytes,
        objects: stats.objects_read,
        warnings: warnings.len(),
        peak_kib: reset.then(|| memory(me).map(|m| m.0).ok()).flatten(),
    })
}

/// Full reads of the big job through `JobReader` in this process.
pub struct InProcessRuns {
    pub secs: Vec<f64>,
    pub cpu: Vec<f64>,
    /// This process's peak during the first read.
    pub peak_kib: Option<u64>,
    pub mismatch: bool,
}

impl InProcessRuns {
    pub fn secs(&self) -> f64 {
        median(&self.secs)
    }
}

/// `tag` marks what is printed for a store other than the raw one.
pub fn runs(a: &Args, dir: &Path, tag: &str, d: &Data, zcat_s: f64) -> Result<InProcessRuns> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut out = InProcessRuns {
        secs: Vec::new(),
        cpu: Vec::new(),
        peak_kib: None,
        mismatch: false,
    };
    for i in 0..a.runs {
        let r = in_process(&rt, dir)?;
        println!(
            "  in-process read {}: {:.2} s, {} records, {:.1} MiB, {} objects, CPU {:.2} s ({:.2} cores), {} warnings",
            i + 1,
            r.secs,
            r.records,
            r.bytes as f64 / MIB,
            r.objects,
            r.cpu,
            r.cpu / r.secs,
            r.warnings
        );
        if r.records != d.big.records || r.bytes != d.big.bytes {
            out.mismatch = true;
            println!(
                "  !!!!! MISMATCH: read {} records / {} bytes, generated {} / {} !!!!!",
                r.records, r.bytes, d.big.records, d.big.bytes
            );
        }
        out.secs.push(r.secs);
        out.cpu.push(r.cpu);
        if i == 0 {
            // Later runs start from the heap the first one left behind.
            out.peak_kib = r.peak_kib;
        }
    }
    let secs = out.secs();
    println!(
        "in-process JobReader{tag}: {:.2} s median ({} s) → {:.0} MiB/s, {:.2}× zcat{}",
        secs,
        fmt_runs(&out.secs),
        mbs(d.big.bytes, secs),
        zcat_s / secs,
        out.peak_kib
            .map(|k| format!(", bench VmHWM {:.1} MiB", mib(k)))
            .unwrap_or_default()
    );
    Ok(out)
}
