//! Which parts of a chunk a read fetches.

use super::schema::{Chunk, Member, RunStats};
use crate::selection::{Events, Selection};

/// A part of a chunk a read fetches: the whole object or a byte range of
/// consecutive members, with the time range its records lie in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkPart {
    pub key: String,
    /// `None`: the whole object.
    pub range: Option<(u64, u64)>,
    pub lower: u64,
    pub upper: u64,
    /// Bytes fetched.
    pub size: u64,
    /// Records in it (all of them, before the selection).
    pub lines: u64,
}

/// The parts of `chunk` a read with `selection` needs (pure): only members
/// whose time range the selection's window overlaps, and with a run or a
/// container selected, only members within the time of a selected run
/// that has that container. Consecutive members are fetched together.
pub fn chunk_parts(chunk: &Chunk, selection: &Selection) -> Vec<ChunkPart> {
    parts_of(chunk, selection, true)
}

/// [`chunk_parts`] one member each: where a tail looks for its start.
pub fn member_parts(chunk: &Chunk, selection: &Selection) -> Vec<ChunkPart> {
    parts_of(chunk, selection, false)
}

fn parts_of(chunk: &Chunk, selection: &Selection, coalesce: bool) -> Vec<ChunkPart> {
    let runs: Vec<&RunStats> = chunk
        .runs
        .iter()
        .filter(|r| {
            (selection.pods.is_empty() || selection.pods.contains(&r.pod))
                && selection
                    .container
                    .as_ref()
                    .is_none_or(|c| r.containers.contains_key(c))
                // A run recorded without its containers may hold anything.
                && (selection.events == Events::Include
                    || r.containers.is_empty()
                    || r.containers.keys().any(|c| selection.takes_container(c)))
        })
        .collect();
    if runs.is_empty() {
        return Vec::new();
    }
    let narrowed = !selection.pods.is_empty()
        || selection.container.is_some()
        || selection.events != Events::Include;
    let wanted = |m: &Member| {
        selection.lower_ts().is_none_or(|t| m.last_ts >= t)
            && selection.until.is_none_or(|u| m.first_ts < u)
            && (!narrowed
                || runs
                    .iter()
                    .any(|r| r.first_ts <= m.last_ts && m.first_ts <= r.last_ts))
    };
    if chunk.members.is_empty() {
        // Nothing to narrow by: the whole object, placed by its range.
        let whole = Member {
            offset: 0,
            len: chunk.bytes,
            first_ts: chunk.first_ts,
            last_ts: chunk.last_ts,
            lines: chunk.lines,
        };
        return if wanted(&whole) {
            vec![ChunkPart {
                key: chunk.key.clone(),
                range: None,
                lower: chunk.first_ts,
                upper: chunk.last_ts,
                size: chunk.bytes,
                lines: chunk.lines,
            }]
        } else {
            Vec::new()
        };
    }
    let mut parts: Vec<ChunkPart> = Vec::new();
    let mut open: Option<(usize, usize)> = None;
    let members = &chunk.members;
    let close = |(a, b): (usize, usize), parts: &mut Vec<ChunkPart>| {
        let (first, last) = (&members[a], &members[b]);
        let start = first.offset;
        let end = last.offset + last.len;
        let whole = a == 0 && b + 1 == members.len();
        parts.push(ChunkPart {
            key: chunk.key.clone(),
            range: (!whole).then_some((start, end)),
            lower: first.first_ts,
            upper: members[a..=b].iter().map(|m| m.last_ts).max().unwrap_or(0),
            size: end - start,
            lines: members[a..=b].iter().map(|m| m.lines).sum(),
        });
    };
    for (i, m) in members.iter().enumerate() {
        if wanted(m) {
            if !coalesce && let Some(run) = open.take() {
                close(run, &mut parts);
            }
            open = Some(open.map_or((i, i), |(a, _)| (a, i)));
        } else if let Some(run) = open.take() {
            close(run, &mut parts);
        }
    }
    if let Some(run) = open {
        close(run, &mut parts);
    }
    parts
}
