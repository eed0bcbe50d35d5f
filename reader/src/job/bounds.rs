//! How far a raw object's records may reach in event time: the bounds
//! that let `since`, cursors and tails skip raw objects unread.

use super::listing::Listed;
use crate::index::Scope;
use afterlog_contract::record::k8s_event;

/// What a raw object holds, as its key tells, for placing it in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Holds {
    /// A container's lines, in file order.
    Container,
    /// Pushed lines (pods `@custom`, `@platform`): client times in any
    /// order, sent at any time — no bound either way but the first record.
    Pushed,
    /// Kubernetes events (container `@events`), in list and watch order
    /// (docs/design.md §13).
    Events,
}

impl Holds {
    pub(super) fn of(l: &Listed) -> Holds {
        let o = &l.parsed.origin;
        if o.container == k8s_event::CONTAINER {
            Holds::Events
        } else if o.pod.starts_with('@') {
            Holds::Pushed
        } else {
            Holds::Container
        }
    }
}

/// A raw object uploaded before `scope` begins holds none of its records
/// (see [`uploaded_bound`]): not even its first record is read.
pub(super) fn before_scope(l: &Listed, scope: &Scope) -> bool {
    l.is_raw()
        && Holds::of(l) != Holds::Pushed
        && scope.since.is_some_and(|s| uploaded_bound(l) < s)
}

/// How far an object of Kubernetes events may reach before its first
/// record when its head read did not hold it whole: the API keeps an event
/// an hour after its last occurrence, and a re-list uploads what it keeps
/// in any order (docs/design.md §13).
pub const EVENTS_BACK_NS: u64 = 2 * 3600 * 1_000_000_000;

/// The earliest time a record of raw object `l` can have, from its head
/// (`None`: its head is unreadable, it cannot be placed).
pub(super) fn raw_lower(l: &Listed) -> Option<u64> {
    let first = l.first_ts?;
    Some(match Holds::of(l) {
        Holds::Events => l
            .lowest_ts
            .unwrap_or_else(|| first.saturating_sub(EVENTS_BACK_NS)),
        Holds::Container | Holds::Pushed => first.saturating_sub(RAW_SLACK_NS),
    })
}

/// How far a raw object's records may reach before its first record's time
/// (read from its head) or past the first record of the next upload under
/// the same pod and container name. Fluent Bit uploads a container's records
/// in file order and a restarted container starts after the old one ended,
/// so these bounds hold unless a node's clock steps back by more than the
/// slack (NTP slews; steps of seconds are rare). (Key times are no help: an
/// upload sent at shutdown or after a restart is named after a later time
/// than its records'.) A full
/// read never depends on them (a late record costs order, counted, not the
/// line); `since`, cursors and tails skip objects by them.
pub const RAW_SLACK_NS: u64 = 10 * 1_000_000_000;

/// The latest event time a raw object's records can have: its upload
/// (the store's modification time) — Fluent Bit uploads what was logged
/// before — give or take the slack for the node's and the store's clocks.
pub(super) fn uploaded_bound(l: &Listed) -> u64 {
    (l.modified_secs.max(0) as u64 + 1)
        .saturating_mul(1_000_000_000)
        .saturating_add(RAW_SLACK_NS)
}
