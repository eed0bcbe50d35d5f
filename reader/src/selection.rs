//! What a read selects: pods, container, stream, Kubernetes events, a time
//! window, a cursor, a line filter and a head or tail limit.

use crate::deletion::Tombstones;
use crate::line_match::LineMatch;
use crate::record::LogRecord;
pub use afterlog_contract::query::Events;
use std::cmp::Ordering;

/// Which part of the selected records to return.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Limit {
    #[default]
    All,
    /// The first N.
    Head(usize),
    /// The last N.
    Tail(usize),
}

/// What to select. Empty / `None` fields select everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Pod names (each pod of a cron job is one run).
    pub pods: Vec<String>,
    pub container: Option<String>,
    pub stream: Option<String>,
    /// Kubernetes events (docs/design.md §13): with the container lines
    /// (the default), alone, or left out.
    pub events: Events,
    /// `since <= ts < until`, ns: half-open so that adjacent windows neither
    /// overlap nor leave gaps.
    pub since: Option<u64>,
    pub until: Option<u64>,
    /// Only records strictly after this position (a page's cursor).
    pub after: Option<Position>,
    /// Only records strictly before this position (a cursor read
    /// backwards).
    pub before: Option<Position>,
    /// Only records whose `log` text this matches.
    pub lines: Option<LineMatch>,
    /// Lines of deletion requests: never selected, whatever else matches.
    pub hidden: Tombstones,
    pub limit: Limit,
}

/// A place in a job's merged output: a record's order key, owned. Cursors of
/// paginated reads are positions, so a page resumes exactly after the last
/// record it returned, whatever arrived in between.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    pub ts: u64,
    pub container_id: String,
    pub off: Option<u64>,
    pub stream: String,
}

impl Position {
    pub fn of(r: &LogRecord) -> Position {
        Position {
            ts: r.ts,
            container_id: r.container_id.clone(),
            off: r.off,
            stream: r.stream.clone(),
        }
    }

    /// Moves to `r`, reusing the buffers: no allocation per record.
    pub fn set(&mut self, r: &LogRecord) {
        self.ts = r.ts;
        self.container_id.clone_from(&r.container_id);
        self.off = r.off;
        self.stream.clone_from(&r.stream);
    }

    pub fn cmp_to(&self, r: &LogRecord) -> Ordering {
        (
            self.ts,
            self.container_id.as_str(),
            self.off,
            self.stream.as_str(),
        )
            .cmp(&r.order_key())
    }
}

impl Selection {
    /// Whether `r` is selected, ignoring the limit.
    pub fn accepts(&self, r: &LogRecord) -> bool {
        (self.pods.is_empty() || self.pods.contains(&r.pod))
            && self.container.as_ref().is_none_or(|c| *c == r.container)
            && self.stream.as_ref().is_none_or(|s| *s == r.stream)
            && self.takes_container(&r.container)
            && self.since.is_none_or(|s| r.ts >= s)
            && self.until.is_none_or(|u| r.ts < u)
            && self.after.as_ref().is_none_or(|a| a.cmp_to(r).is_lt())
            && self.before.as_ref().is_none_or(|b| b.cmp_to(r).is_gt())
            && self.lines.as_ref().is_none_or(|m| m.is_match(&r.log()))
            && !self.hidden.hides(r)
    }

    /// Whether records of container `name` (an object key's or a
    /// record's) can be selected, as far as [`Selection::events`] tells: an
    /// object under the events' pseudo-container holds events only, any
    /// other none.
    pub fn takes_container(&self, name: &str) -> bool {
        self.events.takes(name)
    }

    /// The earliest event time a selected record can have.
    pub fn lower_ts(&self) -> Option<u64> {
        match (self.since, self.after.as_ref().map(|a| a.ts)) {
            (Some(s), Some(a)) => Some(s.max(a)),
            (s, a) => s.or(a),
        }
    }
}
