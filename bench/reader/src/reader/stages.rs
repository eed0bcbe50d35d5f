//! The reader's work taken apart on one thread: gunzip by backend, parse
//! and sort, timed; and models of what it holds at once and what a tail
//! reads.

use crate::gz;
use crate::server::store_url;
use crate::synth::TOOL;
use afterlog_reader::job::RAW_SLACK_NS;
use afterlog_reader::{JobIndex, LogRecord, Selection, StoreConfig, sort_records};
use anyhow::{Context, Result, ensure};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The reader's per-object work done one object after another on one
/// thread, timed by stage, with what the objects hold.
pub struct Stages {
    pub unzip: f64,
    pub parse: f64,
    pub sort: f64,
    pub records: u64,
    /// Heap the parsed records take, estimated, over their text's size.
    pub heap_factor: f64,
    /// Per object: the earliest time the reader may need it (key time minus
    /// the raw slack), its last record's time, its text's size.
    pub spans: Vec<(u64, u64, u64)>,
}

pub fn stages(files: &[PathBuf]) -> Result<Stages> {
    let mut s = Stages {
        unzip: 0.0,
        parse: 0.0,
        sort: 0.0,
        records: 0,
        heap_factor: 0.0,
        spans: Vec::new(),
    };
    let (mut heap, mut text_bytes) = (0u64, 0u64);
    let mut text = Vec::new();
    for f in files {
        let gz = std::fs::read(f)?;
        let t = Instant::now();
        gz::flate2(&gz, &mut text)?;
        let t1 = Instant::now();
        let mut recs: Vec<LogRecord> = text
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(LogRecord::parse)
            .collect::<Result<_, _>>()
            .with_context(|| format!("parsing {}", f.display()))?;
        let t2 = Instant::now();
        sort_records(&mut recs);
        let t3 = Instant::now();
        s.records += recs.len() as u64;
        s.unzip += (t1 - t).as_secs_f64();
        s.parse += (t2 - t1).as_secs_f64();
        s.sort += (t3 - t2).as_secs_f64();
        heap += recs
            .iter()
            .map(|r| {
                (std::mem::size_of::<LogRecord>()
                    + r.line.capacity()
                    + r.container_id.capacity()
                    + r.container.capacity()
                    + r.pod.capacity()
                    + r.stream.capacity()) as u64
            })
            .sum::<u64>();
        text_bytes += text.len() as u64;
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let key_secs = name
            .get(..16)
            .and_then(afterlog_contract::time::parse_compact_utc)
            .with_context(|| format!("no key time in {name}"))?;
        let lower = (key_secs as u64 * 1_000_000_000).saturating_sub(RAW_SLACK_NS);
        let last = recs.last().map_or(0, |r| r.ts);
        s.spans.push((lower, last, text.len() as u64));
    }
    s.heap_factor = heap as f64 / text_bytes.max(1) as f64;
    Ok(s)
}

/// The most objects (and their text bytes) open at once if each is opened
/// when the merge reaches its lower bound and dropped when it is drained:
/// the reader's policy, as a model.
pub fn overlap(spans: &[(u64, u64, u64)]) -> (usize, u64) {
    let mut ev: Vec<(u64, i8, u64)> = Vec::new();
    for &(lo, hi, b) in spans {
        ev.push((lo, 1, b));
        ev.push((hi.max(lo), -1, b));
    }
    // Opens before closes at the same time.
    ev.sort_by_key(|&(t, d, _)| (t, -d));
    let (mut n, mut bytes, mut max_n, mut max_b) = (0usize, 0u64, 0usize, 0u64);
    for (_, d, b) in ev {
        if d > 0 {
            n += 1;
            bytes += b;
        } else {
            n -= 1;
            bytes -= b;
        }
        if n > max_n {
            (max_n, max_b) = (n, bytes);
        }
    }
    (max_n, max_b)
}

/// The objects `read_tail` reads in its first pass (it starts from the
/// newest 4 objects' earliest bound): (planned in all, read by the tail,
/// their gzipped bytes).
pub fn tail_plan(
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    job: &str,
) -> Result<(usize, usize, u64)> {
    let store = afterlog_reader::open(&StoreConfig::new(store_url(dir)))?;
    let index = rt.block_on(JobIndex::load(store.as_ref(), TOOL, job))?;
    let all = index.plan(&Selection::default()).objects;
    let from = all.len().saturating_sub(4);
    let since = (from > 0).then(|| all[from].lower);
    let read = index
        .plan(&Selection {
            since,
            ..Selection::default()
        })
        .objects;
    Ok((all.len(), read.len(), read.iter().map(|p| p.size).sum()))
}

pub fn backends(files: &[PathBuf], runs: usize, expect: u64) -> Result<(Vec<f64>, Vec<f64>)> {
    let (mut fl, mut mz) = (Vec::new(), Vec::new());
    let mut out = Vec::new();
    for _ in 0..runs {
        let (mut a, mut b, mut na, mut nb) = (0.0, 0.0, 0u64, 0u64);
        for f in files {
            let mut gzb = Vec::new();
            std::fs::File::open(f)?.read_to_end(&mut gzb)?;
            let t = Instant::now();
            gz::flate2(&gzb, &mut out)?;
            a += t.elapsed().as_secs_f64();
            na += out.len() as u64;
            let t = Instant::now();
            let v = gz::miniz(&gzb).with_context(|| format!("{}", f.display()))?;
            b += t.elapsed().as_secs_f64();
            nb += v.len() as u64;
        }
        ensure!(
            na == expect && nb == expect,
            "decompressed {na} / {nb} bytes, expected {expect}"
        );
        fl.push(a);
        mz.push(b);
    }
    Ok((fl, mz))
}
