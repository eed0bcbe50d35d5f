//! A read with `context`: every line of the selection is read (the lines
//! around a match are lines the filter does not select), and
//! [`Context`] picks the matches and the lines around them. A head counts
//! matches; a tail finds its first match from the end, then reads on from
//! the lines just before it.

use super::request::LogsRequest;
use crate::api::state::AppState;
use afterlog_reader::job::JobIndex;
use afterlog_reader::{
    Context, JobReader, Limit, LineMatch, LogRecord, ReadStats, Selection, Shown, StoreError,
    read_tail,
};
use std::collections::VecDeque;

/// A read with context lines, pulled one shown line at a time.
pub struct ContextRead {
    rd: JobReader,
    lines: LineMatch,
    ctx: Context<LogRecord>,
    /// Lines before the reader's first, shown if a match follows them.
    prelude: VecDeque<LogRecord>,
    ready: VecDeque<Shown<LogRecord>>,
    max_matches: Option<usize>,
    /// A tail's first match: lines before it (at its time too) are context.
    first: Option<afterlog_reader::Position>,
    pub warnings: Vec<String>,
    pub stats: ReadStats,
}

impl ContextRead {
    /// Starts the read of `req` (which has a line filter and `context`).
    pub async fn open(
        app: &AppState,
        index: &JobIndex,
        req: &LogsRequest,
    ) -> Result<Option<ContextRead>, StoreError> {
        let Some(lines) = req.filter.lines.clone() else {
            return Ok(None);
        };
        let stores = app.classes.stores().clone();
        let every = Selection {
            lines: None,
            limit: Limit::All,
            ..req.filter.clone()
        };
        let mut warnings = Vec::new();
        let mut stats = ReadStats::default();
        let mut first_match = None;
        let (start, prelude, max_matches) = match req.filter.limit {
            Limit::Tail(n) => {
                let found = read_tail(stores.clone(), index, req.filter.clone(), n).await?;
                warnings.extend(found.warnings);
                stats.add(&found.stats);
                let Some(first) = found.records.first() else {
                    return Ok(Some(ContextRead::empty(stores, index, lines, warnings)));
                };
                first_match = Some(afterlog_reader::Position::of(first));
                let before = Selection {
                    until: Some(first.ts),
                    ..every.clone()
                };
                let prelude = read_tail(stores.clone(), index, before, req.context).await?;
                stats.add(&prelude.stats);
                (Some(first.ts), prelude.records.into(), Some(n))
            }
            Limit::Head(n) => (None, VecDeque::new(), Some(n)),
            Limit::All => (None, VecDeque::new(), None),
        };
        let from = Selection {
            since: start.max(every.since),
            ..every
        };
        Ok(Some(ContextRead {
            rd: JobReader::new(stores, index, from),
            lines,
            ctx: Context::new(req.context),
            prelude,
            ready: VecDeque::new(),
            max_matches,
            first: first_match,
            warnings,
            stats,
        }))
    }

    fn empty(
        stores: afterlog_reader::job::Stores,
        index: &JobIndex,
        lines: LineMatch,
        warnings: Vec<String>,
    ) -> ContextRead {
        let nothing = Selection {
            limit: Limit::Head(0),
            ..Selection::default()
        };
        ContextRead {
            rd: JobReader::new(stores, index, nothing),
            lines,
            ctx: Context::new(0),
            prelude: VecDeque::new(),
            ready: VecDeque::new(),
            max_matches: Some(0),
            first: None,
            warnings,
            stats: ReadStats::default(),
        }
    }

    /// Whether the last match shown has all its lines after it: a page may
    /// end here without cutting a group.
    pub fn settled(&self) -> bool {
        self.ready.is_empty() && self.ctx.settled()
    }

    /// Whether the matches asked for are all shown, with their context.
    fn done(&self) -> bool {
        self.max_matches
            .is_some_and(|n| self.ctx.matches() >= n && self.ctx.settled())
    }

    /// The next line shown, `None` at the end.
    pub async fn next(&mut self) -> Result<Option<Shown<LogRecord>>, StoreError> {
        let mut out = Vec::new();
        while self.ready.is_empty() {
            if self.done() {
                return Ok(None);
            }
            let (r, from_prelude) = match self.prelude.pop_front() {
                Some(r) => (r, true),
                None => match self.rd.next().await? {
                    Some(r) => (r, false),
                    None => break,
                },
            };
            // Beyond the matches asked for, lines are only context.
            let more = self.max_matches.is_none_or(|n| self.ctx.matches() < n);
            let counted = self.first.as_ref().is_none_or(|p| p.cmp_to(&r).is_le());
            let is_match = !from_prelude && more && counted && self.lines.is_match(&r.log());
            self.ctx.push(r, is_match, &mut out);
            self.ready.extend(out.drain(..));
        }
        Ok(self.ready.pop_front())
    }

    /// What the read skipped and what it cost, once it is over.
    pub fn finish(mut self) -> (Vec<String>, ReadStats) {
        self.warnings.append(&mut self.rd.warnings);
        self.stats.add(&self.rd.stats);
        (self.warnings, self.stats)
    }
}
