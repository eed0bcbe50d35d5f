//! `POST …/deletions/{id}/cancel`: withdraws a pending request, in every
//! class store that holds it. The decision is created only if absent, so
//! a cancel that the compactor beat in some store says so (409) and the
//! lines stay hidden: they are removed there.

use super::list::unknown;
use super::view::view;
use super::{DeletionId, DeletionPath, load_copies};
use crate::api::extract::JobAccess;
use crate::api::openapi::{Missing, ToolErrors};
use crate::api::state::App;
use crate::clock::now_ns;
use crate::reply::ApiError;
use crate::wire::{DeletionResponse, ErrorBody, Messages};
use afterlog_contract::layout::DeletionPart;
use afterlog_contract::time::rfc3339_nanos;
use afterlog_reader::deletion::{
    DELETION_VERSION, Decision, DeletionState, DeletionStatus, Verdict, fold_copies,
};
use afterlog_reader::job::{DeletionScope, create_deletion_doc};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

/// What a cancel finds: pure, from the request's folded status.
#[derive(Debug, PartialEq, Eq)]
pub enum Cancelling {
    /// Cancel the copies still pending.
    Cancel,
    /// Nothing to do: 200, saying so.
    Already(String),
    /// Too late: 409, saying since when.
    TooLate(String),
}

/// `now_ns`: a pending request past its due time is no longer cancelled —
/// the compactors of its stores may be taking it, each on its own, and a
/// cancel must never win in one store while an apply wins in another.
pub fn judge(s: &DeletionStatus, now_ns: u64) -> Cancelling {
    let decided = |what: &str| match &s.decision {
        Some(d) => format!("{what} by {} at {}", d.by, rfc3339_nanos(d.at_ns)),
        None => what.to_string(),
    };
    match s.state() {
        DeletionState::Pending if now_ns < s.request.due_ns => Cancelling::Cancel,
        DeletionState::Pending => Cancelling::TooLate(format!(
            "deletion {} can no longer be cancelled: it was due at {}; its lines stay hidden and are being removed",
            s.request.id,
            rfc3339_nanos(s.request.due_ns)
        )),
        DeletionState::Cancelled => Cancelling::Already(format!(
            "deletion {} was already {}",
            s.request.id,
            decided("cancelled")
        )),
        DeletionState::Applying => Cancelling::TooLate(format!(
            "deletion {} can no longer be cancelled: {}; its lines stay hidden and are being removed",
            s.request.id,
            decided("the compactor started removing its lines")
        )),
        DeletionState::Applied => Cancelling::TooLate(format!(
            "deletion {} can no longer be cancelled: its lines were removed ({}{})",
            s.request.id,
            decided("started"),
            s.applied
                .as_ref()
                .map(|o| format!(", gone from the store at {}", rfc3339_nanos(o.at_ns)))
                .unwrap_or_default()
        )),
    }
}

/// Cancel a pending deletion request: its lines show again.
#[utoipa::path(post, path = "/v1/tool/{tool}/jobs/{job}/deletions/{id}/cancel", tag = "deletions",
    params(DeletionPath),
    responses(
        (status = 200, description = "Cancelled (or it already was: an info message says so); its lines show again", body = DeletionResponse),
        (status = 409, description = "Too late: the compactor has started removing its lines (the message says since when)", body = ErrorBody),
        ToolErrors, Missing))]
pub async fn cancel_deletion(
    State(app): State<App>,
    JobAccess { who, tool, job }: JobAccess,
    DeletionId(id): DeletionId,
) -> Result<Json<DeletionResponse>, ApiError> {
    who.check_delete(&tool, app.settings.delete_by)
        .inspect_err(|_| app.metrics.deletion("refused"))?;
    let (copies, warnings) = load_copies(&app, DeletionScope::Job(&tool, &job)).await?;
    let copies: Vec<_> = copies
        .into_iter()
        .filter(|c| c.status.request.id == id)
        .collect();
    let folded = fold_copies(copies.iter().map(|c| &c.status));
    let Some(status) = folded.into_iter().next() else {
        return Err(unknown(&id, &tool, &job));
    };
    let refuse = |why: String| {
        app.metrics.deletion("refused");
        tracing::info!(user = %who.name, tool, job, id, why, "deletion cancel refused");
        ApiError::new(StatusCode::CONFLICT, why)
    };
    match judge(&status, now_ns()) {
        Cancelling::Already(why) => {
            return Ok(Json(DeletionResponse {
                messages: Messages {
                    info: vec![why],
                    warning: warnings,
                    error: Vec::new(),
                },
                deletion: view(&status),
            }));
        }
        Cancelling::TooLate(why) => return Err(refuse(why)),
        Cancelling::Cancel => {}
    }
    let decision = Decision {
        version: DELETION_VERSION,
        id: id.clone(),
        verdict: Verdict::Cancel,
        by: who.name.clone(),
        at_ns: now_ns(),
        affected: None,
    };
    let mut lost = Vec::new();
    for c in copies
        .iter()
        .filter(|c| c.status.state() == DeletionState::Pending)
    {
        let Some(store) = app.classes.stores().get(c.store) else {
            continue;
        };
        let created = create_deletion_doc(
            store.as_ref(),
            &tool,
            &job,
            &id,
            DeletionPart::Decision,
            &decision,
        )
        .await
        .map_err(ApiError::store)?;
        if !created {
            lost.push(c.store);
        }
    }
    if !lost.is_empty() {
        // The compactor of those stores decided first: re-read what it wrote.
        let (again, _) = load_copies(&app, DeletionScope::Job(&tool, &job)).await?;
        let folded = fold_copies(
            again
                .iter()
                .map(|c| &c.status)
                .filter(|s| s.request.id == id),
        );
        let why = match folded.first().map(|s| judge(s, 0)) {
            Some(Cancelling::TooLate(why)) => why,
            _ => format!(
                "deletion {id}: the compactor started removing its lines while it was being cancelled; they stay hidden"
            ),
        };
        return Err(refuse(why));
    }
    app.metrics.deletion("cancelled");
    tracing::info!(user = %who.name, tool, job, id, "deletion cancelled");
    let cancelled = DeletionStatus {
        decision: Some(decision),
        ..status
    };
    Ok(Json(DeletionResponse {
        messages: Messages {
            info: vec![format!("deletion {id} cancelled: its lines show again")],
            warning: warnings,
            error: Vec::new(),
        },
        deletion: view(&cancelled),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use afterlog_reader::deletion::{Affected, DeletionRequest, Outcome, Selected};

    fn status(verdict: Option<Verdict>, applied: bool) -> DeletionStatus {
        let outcome = Outcome {
            version: DELETION_VERSION,
            id: "x".into(),
            at_ns: 7_000_000_000,
            removed: Affected::default(),
            replaced: 0,
        };
        DeletionStatus {
            request: DeletionRequest {
                version: DELETION_VERSION,
                id: "x".into(),
                tool: "t".into(),
                job: "j".into(),
                selected: Selected::default(),
                requested_by: "alice".into(),
                requested_ns: 0,
                due_ns: 1,
                affected: Affected::default(),
            },
            decision: verdict.map(|verdict| Decision {
                version: DELETION_VERSION,
                id: "x".into(),
                verdict,
                by: "compactor-a".into(),
                at_ns: 5_000_000_000,
                affected: None,
            }),
            rewritten: applied.then(|| outcome.clone()),
            applied: applied.then_some(outcome),
        }
    }

    #[test]
    fn only_pending_requests_are_cancelled_and_refusals_say_since_when() {
        assert_eq!(judge(&status(None, false), 0), Cancelling::Cancel);
        // Due: the compactors may be taking it; no cancel can race them.
        let Cancelling::TooLate(m) = judge(&status(None, false), 1) else {
            panic!("a due request is not cancelled")
        };
        assert!(m.contains("was due at"), "{m}");
        let Cancelling::Already(m) = judge(&status(Some(Verdict::Cancel), false), 0) else {
            panic!()
        };
        assert!(
            m.contains("already cancelled by compactor-a at 1970-01-01T00:00:05"),
            "{m}"
        );
        let Cancelling::TooLate(m) = judge(&status(Some(Verdict::Apply), false), 0) else {
            panic!()
        };
        assert!(
            m.contains("started removing its lines by compactor-a at 1970-01-01T00:00:05"),
            "{m}"
        );
        let Cancelling::TooLate(m) = judge(&status(Some(Verdict::Apply), true), 0) else {
            panic!()
        };
        assert!(
            m.contains("gone from the store at 1970-01-01T00:00:07"),
            "{m}"
        );
    }
}
