//! A job's log as one value: read whole, or its tail, which reads the
//! newest objects first and widens only while it needs more.

use super::head::FirstTimes;
use super::plan::Planned;
use super::reader::JobReader;
use super::snapshot::JobIndex;
use super::stats::ReadStats;
use super::stores::Stores;
use crate::record::LogRecord;
use crate::selection::{Limit, Selection};
use crate::store::StoreError;
use std::collections::VecDeque;

/// A job's log, with what went wrong on the way.
#[derive(Debug, Clone, Default)]
pub struct JobLog {
    pub records: Vec<LogRecord>,
    pub warnings: Vec<String>,
    pub stats: ReadStats,
}

/// The last `n` selected records. Reads the newest objects first and goes
/// further back only while they hold fewer than `n` records, so a tail of a
/// large job costs about what it costs on a small one.
pub async fn read_tail(
    stores: impl Into<Stores>,
    index: &JobIndex,
    selection: Selection,
    n: usize,
) -> Result<JobLog, StoreError> {
    let stores = stores.into();
    let base = Selection {
        limit: Limit::All,
        ..selection
    };
    let objects = index.plan_members(&base).objects;
    let mut take = first_window(&objects, n);
    // Records found so far: everything from `upper` on. Each widening
    // reads only the window before it, so objects already read are fetched
    // again only where they straddle the boundary.
    let mut found: VecDeque<LogRecord> = VecDeque::new();
    let mut upper: Option<u64> = None;
    let mut log = JobLog::default();
    loop {
        // Everything at or after `cut` is in the objects that reach it.
        let from = objects.len().saturating_sub(take);
        let cut = if from == 0 {
            None
        } else {
            Some(objects[from].lower)
        };
        let f = Selection {
            since: match (base.since, cut) {
                (Some(s), Some(c)) => Some(s.max(c)),
                (s, c) => s.or(c),
            },
            until: match (base.until, upper) {
                (Some(u), Some(c)) => Some(u.min(c)),
                (u, c) => u.or(c),
            },
            ..base.clone()
        };
        let want = n - found.len().min(n);
        let mut ring = VecDeque::with_capacity(want.min(4096));
        if f.since.is_none_or(|s| f.until.is_none_or(|u| s < u)) {
            let mut rd = JobReader::new(stores.clone(), index, f);
            while let Some(r) = rd.next().await? {
                if ring.len() == want {
                    ring.pop_front();
                }
                if want > 0 {
                    ring.push_back(r);
                }
            }
            for w in rd.warnings {
                if !log.warnings.contains(&w) {
                    log.warnings.push(w);
                }
            }
            // What the index skipped is the same in every window: once.
            let once = |s: &ReadStats| (s.consumed_skipped, s.foreign_keys, s.unreadable);
            let (skipped, foreign, unreadable) = once(&log.stats);
            log.stats.add(&rd.stats);
            log.stats.consumed_skipped = skipped.max(rd.stats.consumed_skipped);
            log.stats.foreign_keys = foreign.max(rd.stats.foreign_keys);
            log.stats.unreadable = unreadable.max(rd.stats.unreadable);
        }
        while let Some(r) = ring.pop_back() {
            found.push_front(r);
        }
        if found.len() >= n || cut.is_none() {
            log.records = found.into();
            return Ok(log);
        }
        upper = cut;
        take = take.saturating_mul(4);
    }
}

/// How many of the newest `objects` a tail of `n` reads first: enough
/// indexed members to hold `n` records (the selection may select fewer, and
/// the window widens), and at most [`TAIL_UNKNOWN`] objects whose count the
/// index does not know (raw uploads).
fn first_window(objects: &[Planned], n: usize) -> usize {
    let (mut lines, mut unknown, mut take) = (0u64, 0usize, 0usize);
    for p in objects.iter().rev() {
        if lines >= n as u64 || unknown >= TAIL_UNKNOWN {
            break;
        }
        take += 1;
        match p.lines {
            Some(l) => lines += l,
            None => unknown += 1,
        }
    }
    take.max(1)
}

/// Raw objects a tail's first window may take: enough for a tail of a
/// job that logs little, few enough not to read a busy job's last hour.
const TAIL_UNKNOWN: usize = 4;

/// Reads a job's log whole: every pod and container, ordered and
/// deduplicated, selected by `selection`. Damaged objects and lines are skipped
/// and reported in [`JobLog::warnings`]; only failures of the store itself
/// are errors. For large jobs, stream with [`JobReader`] instead. A job
/// whose objects are in several stores (one per routing class) is read from
/// all of them as one log.
pub async fn read_job(
    stores: impl Into<Stores>,
    tool: &str,
    job: &str,
    selection: Selection,
) -> Result<JobLog, StoreError> {
    let stores = stores.into();
    let index = JobIndex::load_all(&stores, tool, job, &FirstTimes::default()).await?;
    if let Limit::Tail(n) = selection.limit {
        return read_tail(stores, &index, selection, n).await;
    }
    let mut rd = JobReader::new(stores, &index, selection);
    let mut records = Vec::new();
    while let Some(r) = rd.next().await? {
        records.push(r);
    }
    Ok(JobLog {
        records,
        warnings: rd.warnings,
        stats: rd.stats,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(lines: Option<u64>) -> Planned {
        Planned {
            key: "k".into(),
            raw: lines.is_none(),
            lower: 0,
            upper: None,
            size: 1,
            store: 0,
            range: None,
            lines,
        }
    }

    #[test]
    fn a_tail_first_reads_the_members_that_hold_it() {
        let members = |v: &[u64]| v.iter().map(|&l| planned(Some(l))).collect::<Vec<_>>();
        // One 1 MiB member holds a tail of 100.
        assert_eq!(first_window(&members(&[1600, 1600, 1600]), 100), 1);
        assert_eq!(first_window(&members(&[1600, 1600, 1600]), 2000), 2);
        assert_eq!(first_window(&members(&[10, 10]), 100), 2);
        // Raw uploads' counts are unknown: at most four of them at first.
        let mut objects = members(&[1600]);
        objects.extend((0..6).map(|_| planned(None)));
        assert_eq!(first_window(&objects, 100), TAIL_UNKNOWN);
        assert_eq!(first_window(&[], 100), 1);
    }
}
