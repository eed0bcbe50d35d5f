//! `POST …/jobs/{job}/deletions`: a deletion request counted against the
//! job as stored now, then (unless a dry run) written into every class
//! store, from which moment every read hides its lines.

use super::body::{Checked, MAX_BODY, parse};
use super::view::{counts, selection, view};
use crate::admission::Work;
use crate::api::extract::{JobAccess, JobPath};
use crate::api::load::job_index;
use crate::api::logs::request::{Run, has_run, latest_run};
use crate::api::openapi::{Busy, Missing, ToolErrors};
use crate::api::state::App;
use crate::clock::now_ns;
use crate::reply::ApiError;
use crate::wire::{DeletionBody, DeletionPreview, DeletionResponse, ErrorBody, Messages};
use afterlog_compactor::config::deletion_due_ns;
use afterlog_contract::layout::{DeletionPart, deletion_id};
use afterlog_reader::deletion::{DELETION_VERSION, DeletionRequest, DeletionStatus};
use afterlog_reader::index::Scope;
use afterlog_reader::job::{count_affected, create_deletion_doc};
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Ask for lines of a job to be removed.
#[utoipa::path(post, path = "/v1/tool/{tool}/jobs/{job}/deletions", tag = "deletions",
    params(JobPath),
    request_body(description = "Which lines: every field given must hold; {} selects the whole job up to now",
        content((DeletionBody = "application/json"))),
    responses(
        (status = 200, description = "dry_run: what the request would select now; nothing stored", body = DeletionPreview),
        (status = 201, description = "Stored: its lines are hidden from every read from now on, and removed from the store once due", body = DeletionResponse, links(
            ("deletion" = (operation_id = "get_deletion", description = "The request",
                parameters(("tool" = "$request.path.tool"), ("job" = "$request.path.job"), ("id" = "$response.body#/deletion/id")))),
            ("cancel" = (operation_id = "cancel_deletion", description = "Cancel it while it is pending",
                parameters(("tool" = "$request.path.tool"), ("job" = "$request.path.job"), ("id" = "$response.body#/deletion/id")))))),
        (status = 413, description = "A body over 64 KiB", body = ErrorBody),
        ToolErrors, Missing, Busy))]
pub async fn create_deletion(
    State(app): State<App>,
    JobAccess { who, tool, job }: JobAccess,
    body: Body,
) -> Result<Response, ApiError> {
    who.check_delete(&tool, app.settings.delete_by)
        .inspect_err(|_| app.metrics.deletion("refused"))?;
    let bytes = axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body over {MAX_BODY} bytes"),
        )
    })?;
    let now = now_ns();
    let Checked {
        mut selected,
        run,
        dry_run,
    } = parse(&bytes)?.check(now)?;
    // Counting reads every selected line: a read's share of the budget.
    let _ticket = app
        .admission
        .admit(Some(&who.name), Work::Read)
        .await
        .map_err(|e| ApiError::too_many(e.to_string(), e.retry_after()))?;
    let probe = selected
        .selection()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let scope = match run {
        Some(Run::Latest) => Scope::ALL,
        _ => Scope::of_selection(&probe),
    };
    let index = job_index(&app, &tool, &job, scope).await?;
    match &run {
        Some(Run::Latest) => {
            let latest = latest_run(&index)
                .ok_or_else(|| ApiError::not_found(format!("job {job:?} has no runs")))?;
            selected.run = Some(latest.pod);
        }
        Some(Run::Pod(p)) if !has_run(&index, p) => {
            return Err(ApiError::not_found(format!("job {job:?} has no run {p:?}")));
        }
        _ => {}
    }
    let mut read = selected
        .selection()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    // Lines other requests hide already are theirs: not counted again.
    read.hidden = index.hidden.clone();
    let affected = count_affected(app.classes.stores().clone(), &index, read)
        .await
        .map_err(ApiError::store)?;
    let due = deletion_due_ns(now, app.settings.delete_after_hours);
    let mut warnings = index.warnings.clone();
    if affected.lines == 0 {
        warnings.push(
            "the request selects no line now (lines other requests hide are not counted)"
                .to_string(),
        );
    }
    if dry_run {
        let preview = DeletionPreview {
            messages: Messages::warnings(warnings),
            selection: selection(&selected),
            affected: counts(affected),
            due_at: afterlog_contract::time::rfc3339_nanos(due),
        };
        return Ok(Json(preview).into_response());
    }
    let random = uuid::Uuid::new_v4().as_u64_pair().0;
    let request = DeletionRequest {
        version: DELETION_VERSION,
        id: deletion_id(now, random),
        tool: tool.clone(),
        job: job.clone(),
        selected,
        requested_by: who.name.clone(),
        requested_ns: now,
        due_ns: due,
        affected,
    };
    let id = request.id.as_str();
    // A copy in every class store: each store's compactor applies its own.
    for (class, store) in app.classes.iter() {
        let created =
            create_deletion_doc(store.as_ref(), &tool, &job, id, DeletionPart::Request, &request)
                .await
                .map_err(|e| {
                    tracing::error!(user = %who.name, tool, job, id, class, "deletion request stored in part of the class stores: list and cancel it, or ask again");
                    ApiError::store(e)
                })?;
        if !created {
            // Two requests of one nanosecond drew the same random part.
            return Err(ApiError::store(format_args!(
                "deletion id {id} of {tool}/{job} taken in class {class}"
            )));
        }
    }
    app.metrics.deletion("created");
    app.metrics
        .deletion_requested(affected.lines, affected.bytes);
    tracing::info!(
        user = %who.name, tool, job, id,
        lines = affected.lines, bytes = affected.bytes, objects = affected.objects,
        due = %afterlog_contract::time::rfc3339_nanos(due),
        "deletion requested"
    );
    let status = DeletionStatus {
        request,
        decision: None,
        rewritten: None,
        applied: None,
    };
    Ok((
        StatusCode::CREATED,
        Json(DeletionResponse {
            messages: Messages::warnings(warnings),
            deletion: view(&status),
        }),
    )
        .into_response())
}
