//! The streaming read of one job: planned objects are opened as the
//! merge's output reaches them.

use super::listing::Listed;
use super::plan::{Planned, plan};
use super::prefetch::{AHEAD, AHEAD_BYTES, Inflight, Opened, open_object};
use super::snapshot::JobIndex;
use super::stats::ReadStats;
use super::stores::Stores;
use crate::merge::Merge;
use crate::object::{BadLine, Gate, Source};
use crate::record::LogRecord;
use crate::selection::{Limit, Selection};
use crate::store::StoreError;
use std::collections::{HashSet, VecDeque};

/// A streaming read of one job: [`JobReader::next`] returns the selected
/// records in order, each once, fetching objects as the output reaches them.
pub struct JobReader {
    pending: VecDeque<Planned>,
    stores: Stores,
    /// Objects of `pending` not yet asked for, in the same order.
    to_fetch: VecDeque<Planned>,
    inflight: Inflight,
    merge: Merge<Source>,
    /// The selection's line filter, applied to stored bytes before parsing.
    gate: Gate,
    head: Option<usize>,
    emitted: usize,
    pub warnings: Vec<String>,
    pub stats: ReadStats,
}

impl JobReader {
    /// Starts a read of the objects `index` lists, from the `stores` it was
    /// loaded from (a [`Store`](crate::store::Store) for an index of one).
    /// `selection.limit` may be `All` or `Head`; a tail is
    /// [`read_tail`](super::read_tail)'s.
    pub fn new(stores: impl Into<Stores>, index: &JobIndex, selection: Selection) -> JobReader {
        let selection = Selection {
            hidden: selection.hidden.with(&index.hidden),
            ..selection
        };
        Self::exactly(stores, index, selection)
    }

    /// [`JobReader::new`] hiding only what `selection.hidden` hides, not the
    /// requests of the index: counting what a request selects.
    pub fn exactly(stores: impl Into<Stores>, index: &JobIndex, selection: Selection) -> JobReader {
        let plan = index.plan(&selection);
        let mut warnings = index.warnings.clone();
        warnings.extend(
            plan.missing
                .iter()
                .map(|k| format!("{k}: listed in meta but missing")),
        );
        let stats = ReadStats {
            consumed_skipped: plan.consumed_skipped + index.stats.consumed_skipped,
            foreign_keys: index.stats.foreign_keys,
            unreadable: index.stats.unreadable,
            ..ReadStats::default()
        };
        Self::from_plan(stores.into(), plan.objects, selection, warnings, stats)
    }

    /// A read of exactly `objects` (as listed, raw ones with their first
    /// times), whatever meta says: the compactor's view of what it merges.
    pub fn over(stores: impl Into<Stores>, objects: &[Listed], selection: Selection) -> JobReader {
        let plan = plan(objects, &HashSet::new(), &selection, Vec::new());
        Self::from_plan(
            stores.into(),
            plan.objects,
            selection,
            Vec::new(),
            ReadStats::default(),
        )
    }

    /// A read of exactly `objects`, in the order given (sorted by `lower`):
    /// the compactor's view of what it merges, chunks included.
    pub fn over_planned(
        stores: impl Into<Stores>,
        objects: Vec<Planned>,
        selection: Selection,
    ) -> JobReader {
        Self::from_plan(
            stores.into(),
            objects,
            selection,
            Vec::new(),
            ReadStats::default(),
        )
    }

    fn from_plan(
        stores: Stores,
        objects: Vec<Planned>,
        selection: Selection,
        warnings: Vec<String>,
        stats: ReadStats,
    ) -> JobReader {
        let head = match selection.limit {
            Limit::Head(n) => Some(n),
            _ => None,
        };
        JobReader {
            to_fetch: objects.clone().into(),
            pending: objects.into(),
            stores,
            inflight: Inflight::default(),
            gate: selection.lines.clone(),
            merge: Merge::new(
                Vec::new(),
                Selection {
                    limit: Limit::All,
                    ..selection
                },
            ),
            head,
            emitted: 0,
            warnings,
            stats,
        }
    }

    /// Starts fetching what the merge will want next, within the limits.
    fn top_up(&mut self) {
        while let Some(p) = self.to_fetch.front() {
            let ahead: u64 = self.inflight.0.iter().map(|(n, _)| n).sum();
            if self.inflight.0.len() >= AHEAD
                || (!self.inflight.0.is_empty() && ahead + p.size > AHEAD_BYTES)
            {
                break;
            }
            let Some(p) = self.to_fetch.pop_front() else {
                break;
            };
            let size = p.size;
            self.inflight.0.push_back((
                size,
                tokio::spawn(open_object(self.stores.clone(), p, self.gate.clone())),
            ));
        }
    }

    fn bad(&mut self, bad: BadLine) {
        bad.tally(
            &mut self.stats.bad_objects,
            &mut self.stats.bad_lines,
            &mut self.warnings,
        );
    }

    /// The next record, `None` at the end. Damaged data is skipped and
    /// reported in [`JobReader::warnings`]; only store failures are errors.
    pub async fn next(&mut self) -> Result<Option<LogRecord>, StoreError> {
        if self.head.is_some_and(|n| self.emitted >= n) {
            return Ok(None);
        }
        loop {
            let frontier = match self.merge.peek_ts() {
                Ok(f) => f,
                Err(bad) => {
                    self.bad(bad);
                    continue;
                }
            };
            // Open every object that may hold a record before the frontier.
            if self
                .pending
                .front()
                .is_some_and(|p| frontier.is_none_or(|f| p.lower <= f))
            {
                self.pending.pop_front();
                self.top_up();
                let Some((_, handle)) = self.inflight.0.pop_front() else {
                    continue;
                };
                let got = handle.await.map_err(|e| StoreError::Task(e.to_string()))?;
                self.top_up();
                match got? {
                    (p, Opened::Vanished) => {
                        self.stats.vanished += 1;
                        if !p.raw {
                            self.warnings
                                .push(format!("{}: listed but gone when read", p.key));
                        }
                    }
                    (_, Opened::Source(src, warn, bytes)) => {
                        self.stats.objects_read += 1;
                        self.stats.bytes += bytes;
                        if let Some(w) = warn {
                            self.stats.bad_objects += 1;
                            self.warnings.push(w);
                        }
                        self.merge.add(src);
                    }
                }
                continue;
            }
            self.merge
                .pause_after(self.pending.front().map(|p| p.lower.saturating_sub(1)));
            match self.merge.next() {
                Some(Ok(r)) => {
                    self.emitted += 1;
                    return Ok(Some(r));
                }
                Some(Err(bad)) => self.bad(bad),
                None if self.merge.paused() => continue,
                None => {
                    self.finish();
                    return Ok(None);
                }
            }
        }
    }

    fn finish(&mut self) {
        let n = self.merge.out_of_order();
        if n > self.stats.out_of_order {
            self.stats.out_of_order = n;
            self.warnings.push(format!(
                "{n} records out of order: a stored object is not sorted or a node's clock jumped"
            ));
        }
    }
}
