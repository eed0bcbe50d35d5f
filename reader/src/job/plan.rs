//! Planning a read (pure): which objects a selection needs and the order
//! they are opened in, with the event-time range each holds.

use super::bounds::{Holds, RAW_SLACK_NS, raw_lower, uploaded_bound};
use super::listing::Listed;
use super::snapshot::JobIndex;
use crate::index::{self, ChunkPart};
use crate::selection::Selection;
use afterlog_contract::layout::{self, ObjectKey, ObjectKind};
use std::collections::{BTreeMap, HashSet};

impl JobIndex {
    /// The objects `selection` needs, in the order they are to be opened.
    /// Each store's metas speak for that store's keys only.
    pub fn plan(&self, selection: &Selection) -> Plan {
        self.plan_with(selection, index::chunk_parts)
    }

    /// [`JobIndex::plan`] with each gzip member of a chunk on its own:
    /// where a tail finds the newest members that hold enough lines.
    pub fn plan_members(&self, selection: &Selection) -> Plan {
        self.plan_with(selection, index::member_parts)
    }

    fn plan_with(
        &self,
        selection: &Selection,
        parts: fn(&index::Chunk, &Selection) -> Vec<ChunkPart>,
    ) -> Plan {
        let consumed: HashSet<(usize, &str)> = self
            .metas
            .iter()
            .enumerate()
            .flat_map(|(i, ms)| {
                ms.values()
                    .flat_map(move |m| m.consumed.iter().map(move |c| (i, c.key.as_str())))
            })
            .collect();
        let listed: HashSet<(usize, &str)> = self
            .objects
            .iter()
            .map(|l| (l.store, l.key.as_str()))
            .collect();
        let missing = self
            .metas
            .iter()
            .enumerate()
            .flat_map(|(i, ms)| {
                ms.values()
                    .flat_map(move |m| m.merged.iter().map(move |o| (i, o)))
            })
            .filter(|(i, m)| !listed.contains(&(*i, m.key.as_str())))
            .map(|(_, m)| m)
            .filter(|m| {
                layout::parse_object_key(&m.key).is_ok_and(|k| selects(selection, &k))
                    && selection.lower_ts().is_none_or(|t| m.last_ts >= t)
                    && selection.until.is_none_or(|u| m.first_ts < u)
            })
            .map(|m| m.key.clone())
            .collect();
        let mut out = plan(&self.objects, &consumed, selection, missing);
        for c in &self.chunks {
            for part in parts(&c.chunk, selection) {
                out.objects.push(Planned::chunk(part, c.store));
            }
        }
        out.objects.sort_by(|a, b| {
            (a.lower, &a.key, a.range, a.store).cmp(&(b.lower, &b.key, b.range, b.store))
        });
        out
    }
}

/// Whether an object under key `k` may hold selected records: its pod and
/// container are in the key, so events (and container lines) are skipped
/// by it unread.
fn selects(selection: &Selection, k: &ObjectKey) -> bool {
    (selection.pods.is_empty() || selection.pods.contains(&k.origin.pod))
        && selection
            .container
            .as_ref()
            .is_none_or(|c| *c == k.origin.container)
        && selection.takes_container(&k.origin.container)
}

/// An object to read, with the event-time range its records lie in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub key: String,
    pub raw: bool,
    /// No record is earlier (raw objects: up to [`RAW_SLACK_NS`] before the
    /// first record; Kubernetes events: see [`EVENTS_BACK_NS`](super::bounds::EVENTS_BACK_NS)).
    pub lower: u64,
    /// No record is later; `None` if unknown (the newest raw object).
    pub upper: Option<u64>,
    pub size: u64,
    /// Which of the read's [`Stores`](super::Stores) holds it.
    pub store: usize,
    /// Only these bytes (gzip members of a chunk); `None`: the whole object.
    pub range: Option<(u64, u64)>,
    /// Records in it, if the index says (raw objects: not known).
    pub lines: Option<u64>,
}

impl Planned {
    /// A part of a chunk in store number `store`.
    pub fn chunk(p: ChunkPart, store: usize) -> Planned {
        Planned {
            key: p.key,
            raw: false,
            lower: p.lower,
            upper: Some(p.upper),
            size: p.size,
            store,
            range: p.range,
            lines: Some(p.lines),
        }
    }
}

/// The objects of one read, sorted by `lower`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub objects: Vec<Planned>,
    pub consumed_skipped: u64,
    /// Merged objects meta lists that the listing does not have.
    pub missing: Vec<String>,
}

/// Chooses and orders the objects a read needs (pure). Raw keys `consumed`
/// lists (with their store) are skipped; objects outside the selection's pods,
/// container and time window are left out.
pub fn plan(
    listed: &[Listed],
    consumed: &HashSet<(usize, &str)>,
    selection: &Selection,
    missing: Vec<String>,
) -> Plan {
    // A raw object's records end where the next upload of its pod and
    // container begins (file order), give or take the slack. Only uploads
    // to the same store count: each class has its own Fluent Bit output,
    // and two outputs keep no order between them.
    let mut next_start: BTreeMap<(usize, &str, &str), Vec<u64>> = BTreeMap::new();
    for l in listed {
        if let (true, Holds::Container, Some(t)) = (l.is_raw(), Holds::of(l), l.first_ts) {
            next_start
                .entry((l.store, &l.parsed.origin.pod, &l.parsed.origin.container))
                .or_default()
                .push(t);
        }
    }
    for v in next_start.values_mut() {
        v.sort_unstable();
    }
    let mut out = Plan {
        missing,
        ..Plan::default()
    };
    for l in listed {
        if !selects(selection, &l.parsed) {
            continue;
        }
        let (raw, lower, upper) = match l.parsed.kind {
            ObjectKind::Raw { .. } => {
                if consumed.contains(&(l.store, l.key.as_str())) {
                    out.consumed_skipped += 1;
                    continue;
                }
                match (l.first_ts, raw_lower(l)) {
                    // Unreadable heads are opened first: they cannot be placed.
                    (None, _) | (_, None) => (true, 0, None),
                    (Some(t), Some(lower)) => {
                        let upper = match Holds::of(l) {
                            // Client times in any order.
                            Holds::Pushed => None,
                            // Each upload lists and watches anew: the
                            // next one bounds nothing.
                            Holds::Events => Some(uploaded_bound(l)),
                            Holds::Container => {
                                let starts = &next_start[&(
                                    l.store,
                                    l.parsed.origin.pod.as_str(),
                                    l.parsed.origin.container.as_str(),
                                )];
                                let after = starts.partition_point(|&s| s <= t);
                                starts
                                    .get(after)
                                    .map(|&n| n.saturating_add(RAW_SLACK_NS))
                                    .into_iter()
                                    .chain(Some(uploaded_bound(l)))
                                    .min()
                            }
                        };
                        (true, lower, upper)
                    }
                }
            }
            ObjectKind::Data {
                first_ts, last_ts, ..
            } => (false, first_ts, Some(last_ts)),
        };
        if selection
            .lower_ts()
            .is_some_and(|t| upper.is_some_and(|u| u < t))
            || selection.until.is_some_and(|u| lower >= u)
        {
            continue;
        }
        out.objects.push(Planned {
            key: l.key.clone(),
            raw,
            lower,
            upper,
            size: l.size,
            store: l.store,
            range: None,
            lines: None,
        });
    }
    out.objects
        .sort_by(|a, b| (a.lower, &a.key, a.store).cmp(&(b.lower, &b.key, b.store)));
    out
}
