//! Deletion requests as the API shows them, without I/O: a folded status
//! made a [`DeletionView`], newest first.

use crate::wire::{DeletionCounts, DeletionSelection, DeletionView};
use afterlog_contract::time::rfc3339_nanos;
use afterlog_reader::deletion::{Affected, DeletionState, DeletionStatus, Selected, fold_copies};

pub fn state_name(s: DeletionState) -> &'static str {
    match s {
        DeletionState::Pending => "pending",
        DeletionState::Cancelled => "cancelled",
        DeletionState::Applying => "applying",
        DeletionState::Applied => "applied",
    }
}

pub fn counts(a: Affected) -> DeletionCounts {
    DeletionCounts {
        lines: a.lines,
        bytes: a.bytes,
        objects: a.objects,
    }
}

/// A selection as the API shows it; a stored request always has `until`
/// (one without shows the end of time).
pub fn selection(s: &Selected) -> DeletionSelection {
    DeletionSelection {
        run: s.run.clone(),
        container: s.container.clone(),
        stream: s.stream.clone(),
        since: s.since.map(rfc3339_nanos),
        until: rfc3339_nanos(s.until.unwrap_or(u64::MAX)),
        grep: s.grep.clone(),
        regex: s.regex.clone(),
        ignore_case: s.ignore_case,
    }
}

pub fn view(s: &DeletionStatus) -> DeletionView {
    let r = &s.request;
    DeletionView {
        id: r.id.clone(),
        tool: r.tool.clone(),
        job: r.job.clone(),
        state: state_name(s.state()).to_string(),
        selection: selection(&r.selected),
        requested_by: r.requested_by.clone(),
        requested_at: rfc3339_nanos(r.requested_ns),
        due_at: rfc3339_nanos(r.due_ns),
        affected: counts(r.affected),
        decided_by: s.decision.as_ref().map(|d| d.by.clone()),
        decided_at: s.decision.as_ref().map(|d| rfc3339_nanos(d.at_ns)),
        rewritten_at: s.rewritten.as_ref().map(|o| rfc3339_nanos(o.at_ns)),
        applied_at: s.applied.as_ref().map(|o| rfc3339_nanos(o.at_ns)),
        removed: s
            .applied
            .as_ref()
            .or(s.rewritten.as_ref())
            .map(|o| counts(o.removed)),
    }
}

/// Each store's copies folded into one view per request, newest first
/// (ids begin with the request's time).
pub fn newest_first<'a>(copies: impl IntoIterator<Item = &'a DeletionStatus>) -> Vec<DeletionView> {
    let mut folded = fold_copies(copies);
    folded.sort_by(|a, b| {
        (b.request.requested_ns, &b.request.id).cmp(&(a.request.requested_ns, &a.request.id))
    });
    folded.iter().map(view).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use afterlog_reader::deletion::{
        DELETION_VERSION, Decision, DeletionRequest, Outcome, Verdict,
    };

    fn status(id: &str, ns: u64, verdict: Option<Verdict>, applied: bool) -> DeletionStatus {
        let outcome = Outcome {
            version: DELETION_VERSION,
            id: id.into(),
            at_ns: ns + 3,
            removed: Affected {
                lines: 2,
                bytes: 20,
                objects: 1,
            },
            replaced: 1,
        };
        DeletionStatus {
            request: DeletionRequest {
                version: DELETION_VERSION,
                id: id.into(),
                tool: "t".into(),
                job: "j".into(),
                selected: Selected {
                    until: Some(ns),
                    grep: vec!["key=".into()],
                    ..Selected::default()
                },
                requested_by: "alice".into(),
                requested_ns: ns,
                due_ns: ns + 1,
                affected: Affected {
                    lines: 3,
                    bytes: 30,
                    objects: 2,
                },
            },
            decision: verdict.map(|verdict| Decision {
                version: DELETION_VERSION,
                id: id.into(),
                verdict,
                by: "compactor-1".into(),
                at_ns: ns + 2,
                affected: None,
            }),
            rewritten: applied.then(|| outcome.clone()),
            applied: applied.then_some(outcome),
        }
    }

    #[test]
    fn views_show_every_step_taken() {
        let v = view(&status("a", 1_000_000_000, None, false));
        assert_eq!(v.state, "pending");
        assert_eq!(v.requested_at, "1970-01-01T00:00:01.000000000Z");
        assert_eq!(v.selection.until, v.requested_at);
        assert_eq!(
            (v.selection.since.as_deref(), v.selection.grep.len()),
            (None, 1)
        );
        assert_eq!(v.affected.lines, 3);
        assert!(v.decided_by.is_none() && v.removed.is_none() && v.applied_at.is_none());
        let v = view(&status("a", 0, Some(Verdict::Apply), true));
        assert_eq!(v.state, "applied");
        assert_eq!(v.decided_by.as_deref(), Some("compactor-1"));
        assert_eq!(
            v.applied_at.as_deref(),
            Some("1970-01-01T00:00:00.000000003Z")
        );
        assert_eq!(v.removed.map(|r| r.lines), Some(2));
        let v = serde_json::to_value(view(&status("a", 0, None, false))).unwrap();
        assert!(
            v.get("removed").is_none() && v["selection"].get("regex").is_none(),
            "{v}"
        );
    }

    #[test]
    fn listings_fold_copies_and_put_the_newest_first() {
        let old = status("1", 10, None, false);
        let new = status("2", 20, Some(Verdict::Cancel), false);
        let new_elsewhere = status("2", 20, Some(Verdict::Apply), false);
        let v = newest_first([&old, &new, &new_elsewhere]);
        let got: Vec<(&str, &str)> = v
            .iter()
            .map(|v| (v.id.as_str(), v.state.as_str()))
            .collect();
        assert_eq!(got, [("2", "applying"), ("1", "pending")]);
    }
}
