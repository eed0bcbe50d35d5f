//! How far a raw object's records may reach in event time: the bounds
//! that let `since`, cursors and tails skip raw objects unread.

use super::listing::Listed;
use crate::index::Scope;

/// A raw object uploaded before `scope` begins holds none of its records
/// (see [`uploaded_bound`]): not even its first record is read.
pub(super) fn before_scope(l: &Listed, scope: &Scope) -> bool {
    l.is_raw()
        && !l.parsed.origin.pod.starts_with('@')
        && scope.since.is_some_and(|s| uploaded_bound(l) < s)
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
