//! Applying a job's deletion requests (docs/design.md §12), under the
//! lease, in three steps a pass takes as far as they go:
//!
//! 1. **Decide**: a pending request that is due gets the decision `apply`
//!    (a create-only PUT: if a cancel was created first, the cancel wins
//!    and nothing happens).
//! 2. **Rewrite**: every merge drops the lines of the requests taken
//!    ([`DeletionStatus::removes`]); while one has no `rewritten` document,
//!    the job's merge also takes the chunks its index names and the raw
//!    objects not consumed that hold one of its lines, so that one
//!    conditional manifest PUT replaces them all. Then `rewritten` is
//!    written.
//! 3. **Applied**: once cleanup has deleted everything the manifest listed
//!    as consumed up to the rewrite (and no chunk a crashed pass left
//!    holds one of its lines), `applied` is written.
//!
//! Each document is written once; a crash between two steps leaves the
//! next pass to redo the step, which finds less (or nothing) to do.

use crate::{CompactError, Compactor, Lease, Report};
use afterlog_contract::layout::{self, DeletionPart};
use afterlog_reader::deletion::{
    Affected, DELETION_VERSION, Decision, DeletionState, DeletionStatus, Outcome, Tombstone,
    Tombstones, Verdict,
};
use afterlog_reader::job::{
    DeletionScope, JobIndex, JobReader, count_affected, create_deletion_doc, gunzip, load_deletions,
};
use afterlog_reader::meta::ConsumedRaw;
use afterlog_reader::{LogRecord, Selection};
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use std::collections::{BTreeSet, HashSet};

/// The pending requests due at `now`: the compactor takes them.
pub fn due(statuses: &[DeletionStatus], now: u64) -> Vec<&DeletionStatus> {
    statuses
        .iter()
        .filter(|s| s.state() == DeletionState::Pending && s.request.due_ns <= now)
        .collect()
}

/// The lines no merge keeps: those of every request taken, applied ones
/// included (a late raw upload may bring their lines back). Compiled
/// strictly: where readers hide a whole range rather than miss a line, the
/// compactor would delete lines nobody selected; a request this compactor
/// cannot compile is left alone (still hidden by readers).
pub fn removed_lines(statuses: &[DeletionStatus]) -> Tombstones {
    Tombstones::new(
        statuses
            .iter()
            .filter(|s| s.removes())
            .filter_map(tombstone)
            .collect(),
    )
}

/// The requests taken whose rewrite is not done yet.
pub fn to_rewrite(statuses: &[DeletionStatus]) -> Vec<&DeletionStatus> {
    statuses
        .iter()
        .filter(|s| s.removes() && s.rewritten.is_none())
        .collect()
}

/// The rewritten requests not marked applied whose replaced objects are
/// all deleted: the manifest lists nothing consumed at or before the
/// rewrite (what the rewrite replaced, and raw copies of the lines merged
/// before it).
pub fn to_mark_applied<'a>(
    statuses: &'a [DeletionStatus],
    consumed: &[ConsumedRaw],
) -> Vec<&'a DeletionStatus> {
    statuses
        .iter()
        .filter(|s| s.removes() && s.applied.is_none())
        .filter(|s| {
            s.rewritten
                .as_ref()
                .is_some_and(|r| !consumed.iter().any(|c| c.since_ns <= r.at_ns))
        })
        .collect()
}

/// One request's compiled selection; `None` (warned) for a line filter this
/// compactor cannot compile: it neither takes nor removes that request.
fn tombstone(s: &DeletionStatus) -> Option<Tombstone> {
    match Tombstone::new(&s.request) {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::warn!(
                tool = %s.request.tool,
                job = %s.request.job,
                id = %s.request.id,
                error = %e,
                "deletion request left alone: its line filter does not compile here"
            );
            None
        }
    }
}

/// What a job's merge does about its requests.
#[derive(Debug, Default)]
pub struct Rewrite {
    /// The requests of the job (this store's copies), as decided this pass.
    pub statuses: Vec<DeletionStatus>,
    /// Lines the merge drops.
    pub hidden: Tombstones,
    /// Chunks the index names that the merge replaces.
    pub chunks: BTreeSet<String>,
    /// Raw objects (not consumed) the merge takes, settled or not.
    pub raw: BTreeSet<String>,
    /// The requests being rewritten: id, what they hold now, objects replaced.
    pub requests: Vec<(String, Affected, u64)>,
}

/// Steps 1 and the choice of step 2: decides the due requests of the job
/// `index` holds (updating its statuses), then finds what the merge must
/// rewrite.
pub async fn prepare(
    c: &Compactor,
    lease: &mut Lease,
    index: &mut JobIndex,
    report: &mut Report,
) -> Result<Rewrite, CompactError> {
    let (tool, job) = (index.tool.clone(), index.job.clone());
    let store = c.store.as_ref();
    let now = c.now();
    let statuses = index.deletion_statuses();
    for s in due(&statuses, now) {
        let id = s.request.id.as_str();
        let current = index.deletion_statuses();
        let Some(t) = tombstone(s) else { continue };
        // What it selects now, without the lines other requests already
        // remove: the audit's count of what this one takes.
        let others: Vec<DeletionStatus> = current
            .iter()
            .filter(|o| o.request.id != id)
            .cloned()
            .collect();
        let selection = Selection {
            hidden: removed_lines(&others),
            ..t.selection.clone()
        };
        let affected = count_affected(c.store.clone(), index, selection).await?;
        lease.keep(store, c.now()).await?;
        let decision = Decision {
            version: DELETION_VERSION,
            id: id.to_string(),
            verdict: Verdict::Apply,
            by: c.holder.clone(),
            at_ns: now,
            affected: Some(affected),
        };
        let created =
            create_deletion_doc(store, &tool, &job, id, DeletionPart::Decision, &decision).await?;
        let decision = if created {
            report.deletions_decided += 1;
            tracing::info!(
                tool,
                job,
                id,
                by = %c.holder,
                lines = affected.lines,
                bytes = affected.bytes,
                objects = affected.objects,
                "deletion request due: taken for deletion, no longer cancellable"
            );
            Some(decision)
        } else {
            // Someone created the decision first: a cancel, most likely.
            let (mut warnings, mut stats) = (Vec::new(), Default::default());
            let again = load_deletions(
                store,
                0,
                DeletionScope::Job(&tool, &job),
                &mut warnings,
                &mut stats,
            )
            .await?;
            let d = again
                .into_iter()
                .find(|d| d.status.request.id == id)
                .and_then(|d| d.status.decision);
            match &d {
                Some(d) => tracing::info!(
                    tool,
                    job,
                    id,
                    verdict = ?d.verdict,
                    by = %d.by,
                    "deletion request due, but already decided: left as decided"
                ),
                // Its decision exists but cannot be read: stuck until an
                // operator looks.
                None => {
                    report.unreadable += 1;
                    tracing::error!(
                        tool,
                        job,
                        id,
                        "deletion request due, but its decision document cannot be read: not applied"
                    );
                }
            }
            d
        };
        for d in index
            .deletions
            .iter_mut()
            .filter(|d| d.status.request.id == id)
        {
            d.status.decision.clone_from(&decision);
        }
    }

    let statuses = index.deletion_statuses();
    let mut rewrite = Rewrite {
        hidden: removed_lines(&statuses),
        ..Rewrite::default()
    };
    for s in to_rewrite(&statuses) {
        let Some(t) = tombstone(s) else { continue };
        let (affected, chunks, raw) = holding(c, index, &t.selection).await?;
        tracing::info!(
            tool,
            job,
            id = %s.request.id,
            lines = affected.lines,
            bytes = affected.bytes,
            chunks = chunks.len(),
            raw = raw.len(),
            "deletion request: rewriting the objects that hold its lines"
        );
        let replaced = (chunks.len() + raw.len()) as u64;
        rewrite.chunks.extend(chunks);
        rewrite.raw.extend(raw);
        rewrite
            .requests
            .push((s.request.id.clone(), affected, replaced));
    }
    rewrite.statuses = statuses;
    Ok(rewrite)
}

/// What `selection` selects of the job (lines each once), and the chunks
/// and raw objects that hold one. Only chunks and members that may hold
/// one (by time, pod and container) are read.
async fn holding(
    c: &Compactor,
    index: &JobIndex,
    selection: &Selection,
) -> Result<(Affected, BTreeSet<String>, BTreeSet<String>), CompactError> {
    let mut affected = Affected::default();
    let mut all = JobReader::exactly(c.store.clone(), index, selection.clone());
    while let Some(r) = all.next().await? {
        affected.lines += 1;
        affected.bytes += r.log_len as u64;
    }
    let (mut chunks, mut raw) = (BTreeSet::new(), BTreeSet::new());
    if affected.lines == 0 {
        return Ok((affected, chunks, raw));
    }
    for p in index.plan(selection).objects {
        let (key, is_raw) = (p.key.clone(), p.raw);
        if chunks.contains(&key) {
            continue;
        }
        let mut one = JobReader::over_planned(c.store.clone(), vec![p], selection.clone());
        if one.next().await?.is_some() {
            if is_raw {
                raw.insert(key);
            } else if key.starts_with(&format!("{}/", layout::CHUNKS)) {
                chunks.insert(key);
            }
            // A per-pod `data/` object: every first merge takes them all.
        }
    }
    affected.objects = (chunks.len() + raw.len()) as u64;
    Ok((affected, chunks, raw))
}

/// Step 2's end, after the merge committed (or had nothing to replace):
/// `rewritten` for each request the merge rewrote.
pub async fn write_rewritten(
    c: &Compactor,
    lease: &mut Lease,
    tool: &str,
    job: &str,
    rewrite: &mut Rewrite,
    report: &mut Report,
) -> Result<(), CompactError> {
    let store = c.store.as_ref();
    for (id, removed, replaced) in std::mem::take(&mut rewrite.requests) {
        lease.keep(store, c.now()).await?;
        // Nothing found: an earlier pass committed the rewrite and crashed
        // before this document. What it removed is what was counted when
        // the request was taken.
        let taken = rewrite
            .statuses
            .iter()
            .filter(|s| s.request.id == id)
            .find_map(|s| s.decision.as_ref().and_then(|d| d.affected));
        let removed = match taken {
            Some(t) if removed.lines == 0 => t,
            _ => removed,
        };
        let outcome = Outcome {
            version: DELETION_VERSION,
            id: id.clone(),
            at_ns: c.now(),
            removed,
            replaced,
        };
        if create_deletion_doc(store, tool, job, &id, DeletionPart::Rewritten, &outcome).await? {
            report.deletions_rewritten += 1;
            report.deletion_lines_removed += removed.lines;
            report.deletion_bytes_removed += removed.bytes;
            tracing::info!(
                tool,
                job,
                id,
                lines = removed.lines,
                bytes = removed.bytes,
                objects = removed.objects,
                replaced,
                "deletion request rewritten: no object the job's index names holds its lines"
            );
        }
        for s in rewrite.statuses.iter_mut().filter(|s| s.request.id == id) {
            s.rewritten.get_or_insert_with(|| outcome.clone());
        }
    }
    Ok(())
}

/// Step 3, after cleanup: `applied` for each rewritten request whose
/// replaced objects are all gone.
pub async fn mark_applied(
    c: &Compactor,
    lease: &mut Lease,
    tool: &str,
    job: &str,
    statuses: &[DeletionStatus],
    report: &mut Report,
) -> Result<(), CompactError> {
    let store = c.store.as_ref();
    if !statuses
        .iter()
        .any(|s| s.removes() && s.applied.is_none() && s.rewritten.is_some())
    {
        return Ok(());
    }
    let v = crate::versioned::read(store, &layout::manifest_key(tool, job)).await?;
    let ready = to_mark_applied(statuses, &v.manifest.consumed);
    if ready.is_empty() {
        return Ok(());
    }
    let orphans = orphan_chunks(c, tool, job, &v.manifest).await?;
    for s in ready {
        let id = s.request.id.as_str();
        let Some(rewritten) = &s.rewritten else {
            continue;
        };
        if let Some(t) = tombstone(s)
            && let Some(key) = orphan_holding(c, &orphans, &t).await?
        {
            // Left by a pass that crashed before the rewrite; cleanup
            // deletes it once `orphan_hours` old.
            tracing::info!(
                tool,
                job,
                id,
                key,
                "deletion request: a chunk no index names still holds its lines; applied later"
            );
            continue;
        }
        lease.keep(store, c.now()).await?;
        let outcome = Outcome {
            version: DELETION_VERSION,
            id: id.to_string(),
            at_ns: c.now(),
            removed: rewritten.removed,
            replaced: rewritten.replaced,
        };
        if create_deletion_doc(store, tool, job, id, DeletionPart::Applied, &outcome).await? {
            report.deletions_applied += 1;
            tracing::info!(
                tool,
                job,
                id,
                lines = rewritten.removed.lines,
                bytes = rewritten.removed.bytes,
                objects = rewritten.removed.objects,
                "deletion request applied: every object that held its lines is deleted"
            );
        }
    }
    Ok(())
}

/// Chunks under the job that its manifest neither names nor lists as
/// consumed: left by a crash between writing and naming them.
async fn orphan_chunks(
    c: &Compactor,
    tool: &str,
    job: &str,
    m: &afterlog_reader::index::JobManifest,
) -> Result<Vec<String>, CompactError> {
    let prefix = layout::job_prefix(layout::CHUNKS, tool, job);
    let listed: Vec<object_store::ObjectMeta> =
        match c.store.list(Some(&Path::from(prefix))).try_collect().await {
            Ok(v) => v,
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
    let known: HashSet<&str> = m
        .periods
        .iter()
        .flat_map(|p| p.chunks.iter().map(String::as_str))
        .chain(m.consumed.iter().map(|c| c.key.as_str()))
        .collect();
    Ok(listed
        .into_iter()
        .map(|o| o.location.to_string())
        .filter(|k| !known.contains(k.as_str()))
        .collect())
}

/// The first of `keys` holding a line `t` selects.
async fn orphan_holding(
    c: &Compactor,
    keys: &[String],
    t: &Tombstone,
) -> Result<Option<String>, CompactError> {
    for key in keys {
        let body = match c.store.get(&Path::from(key.as_str())).await {
            Ok(g) => g.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        // A damaged orphan is read as far as it goes; what cannot be read
        // cannot be served either.
        let (text, _) = gunzip(&body);
        let holds = text
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .filter_map(|l| LogRecord::parse(l.to_vec()).ok())
            .any(|r| t.hides(&r));
        if holds {
            return Ok(Some(key.clone()));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use afterlog_reader::deletion::{DeletionRequest, Selected};

    fn status(id: &str, due_ns: u64, verdict: Option<Verdict>) -> DeletionStatus {
        DeletionStatus {
            request: DeletionRequest {
                version: DELETION_VERSION,
                id: id.into(),
                tool: "t".into(),
                job: "j".into(),
                selected: Selected {
                    grep: vec!["password=".into()],
                    until: Some(1_000),
                    ..Selected::default()
                },
                requested_by: "alice".into(),
                requested_ns: 1,
                due_ns,
                affected: Affected::default(),
            },
            decision: verdict.map(|verdict| Decision {
                version: DELETION_VERSION,
                id: id.into(),
                verdict,
                by: "x".into(),
                at_ns: 5,
                affected: None,
            }),
            rewritten: None,
            applied: None,
        }
    }

    fn outcome(id: &str, at_ns: u64) -> Outcome {
        Outcome {
            version: DELETION_VERSION,
            id: id.into(),
            at_ns,
            removed: Affected {
                lines: 2,
                bytes: 20,
                objects: 1,
            },
            replaced: 1,
        }
    }

    fn ids(v: Vec<&DeletionStatus>) -> Vec<&str> {
        v.into_iter().map(|s| s.request.id.as_str()).collect()
    }

    #[test]
    fn only_pending_requests_that_are_due_are_taken() {
        let all = [
            status("a", 10, None),
            status("b", 11, None),
            status("c", 5, Some(Verdict::Cancel)),
            status("d", 5, Some(Verdict::Apply)),
        ];
        assert_eq!(ids(due(&all, 9)), Vec::<&str>::new());
        assert_eq!(ids(due(&all, 10)), vec!["a"]);
        assert_eq!(ids(due(&all, 11)), vec!["a", "b"]);
        // Due at once (delete_after_hours 0): the request's own time.
        assert_eq!(ids(due(&[status("e", 1, None)], 1)), vec!["e"]);
    }

    #[test]
    fn a_filter_that_does_not_compile_here_removes_nothing() {
        let mut odd = status("f", 5, Some(Verdict::Apply));
        odd.request.selected.regex = Some("(".into());
        assert!(removed_lines(std::slice::from_ref(&odd)).is_empty());
        assert!(tombstone(&odd).is_none());
    }

    #[test]
    fn merges_drop_the_lines_of_requests_taken_only() {
        let mut applied = status("d", 5, Some(Verdict::Apply));
        applied.rewritten = Some(outcome("d", 6));
        applied.applied = Some(outcome("d", 7));
        let all = [
            status("a", 10, None),
            status("c", 5, Some(Verdict::Cancel)),
            status("e", 5, Some(Verdict::Apply)),
            applied,
        ];
        let hidden = removed_lines(&all);
        let removing: Vec<&str> = hidden.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(removing, vec!["d", "e"]);
        assert_eq!(ids(to_rewrite(&all)), vec!["e"]);
    }

    #[test]
    fn applied_waits_for_what_was_consumed_up_to_the_rewrite() {
        let mut s = status("a", 1, Some(Verdict::Apply));
        let c = |since_ns| ConsumedRaw {
            key: "raw/k".into(),
            since_ns,
        };
        // Not rewritten yet: never.
        assert!(to_mark_applied(std::slice::from_ref(&s), &[]).is_empty());
        s.rewritten = Some(outcome("a", 100));
        let one = std::slice::from_ref(&s);
        assert!(to_mark_applied(one, &[c(100)]).is_empty());
        assert!(to_mark_applied(one, &[c(101), c(50)]).is_empty());
        // Consumed after the rewrite (a late upload merged since): not its.
        assert_eq!(ids(to_mark_applied(one, &[c(101)])), vec!["a"]);
        assert_eq!(ids(to_mark_applied(one, &[])), vec!["a"]);
        // Once applied, or if cancelled, nothing more.
        s.applied = Some(outcome("a", 200));
        assert!(to_mark_applied(std::slice::from_ref(&s), &[]).is_empty());
        let mut cancelled = status("b", 1, Some(Verdict::Cancel));
        cancelled.rewritten = Some(outcome("b", 1));
        assert!(to_mark_applied(&[cancelled], &[]).is_empty());
    }
}
