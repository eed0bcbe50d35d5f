//! `GET …/deletions`: a job's, a tool's or (admins) every tool's deletion
//! requests, newest first, and one request by id.

use super::view::{newest_first, view};
use super::{DeletionId, DeletionPath, load_copies};
use crate::api::extract::{Caller, JobAccess, JobPath, ToolAccess, ToolPath};
use crate::api::openapi::{AdminErrors, Missing, ToolErrors};
use crate::api::state::App;
use crate::reply::ApiError;
use crate::wire::{DeletionResponse, DeletionsResponse, Messages};
use afterlog_reader::deletion::fold_copies;
use afterlog_reader::job::DeletionScope;
use axum::Json;
use axum::extract::State;

async fn listing(app: &App, scope: DeletionScope<'_>) -> Result<DeletionsResponse, ApiError> {
    let (copies, warnings) = load_copies(app, scope).await?;
    Ok(DeletionsResponse {
        messages: Messages::warnings(warnings),
        deletions: newest_first(copies.iter().map(|c| &c.status)),
    })
}

/// A job's deletion requests.
#[utoipa::path(get, path = "/v1/tool/{tool}/jobs/{job}/deletions", tag = "deletions",
    params(JobPath),
    responses((status = 200, description = "The job's requests, newest first (none: an empty list)", body = DeletionsResponse),
        ToolErrors))]
pub async fn job_deletions(
    State(app): State<App>,
    JobAccess { tool, job, .. }: JobAccess,
) -> Result<Json<DeletionsResponse>, ApiError> {
    Ok(Json(listing(&app, DeletionScope::Job(&tool, &job)).await?))
}

/// The deletion requests of all a tool's jobs.
#[utoipa::path(get, path = "/v1/tool/{tool}/deletions", tag = "deletions",
    params(ToolPath),
    responses((status = 200, description = "The tool's requests, newest first (none: an empty list)", body = DeletionsResponse),
        ToolErrors))]
pub async fn tool_deletions(
    State(app): State<App>,
    ToolAccess { tool, .. }: ToolAccess,
) -> Result<Json<DeletionsResponse>, ApiError> {
    Ok(Json(listing(&app, DeletionScope::Tool(&tool)).await?))
}

/// Every tool's deletion requests (admins only).
#[utoipa::path(get, path = "/v1/deletions", tag = "deletions",
    responses((status = 200, description = "Every request, newest first", body = DeletionsResponse),
        AdminErrors))]
pub async fn all_deletions(
    State(app): State<App>,
    Caller(who): Caller,
) -> Result<Json<DeletionsResponse>, ApiError> {
    if !who.admin {
        return Err(ApiError::forbidden(format!(
            "{} is no admin: list a tool's requests with GET /v1/tool/{{tool}}/deletions",
            who.name
        )));
    }
    Ok(Json(listing(&app, DeletionScope::All).await?))
}

/// One deletion request.
#[utoipa::path(get, path = "/v1/tool/{tool}/jobs/{job}/deletions/{id}", tag = "deletions",
    params(DeletionPath),
    responses((status = 200, description = "The request and how far it has gone", body = DeletionResponse),
        ToolErrors, Missing))]
pub async fn get_deletion(
    State(app): State<App>,
    JobAccess { tool, job, .. }: JobAccess,
    DeletionId(id): DeletionId,
) -> Result<Json<DeletionResponse>, ApiError> {
    let (copies, warnings) = load_copies(&app, DeletionScope::Job(&tool, &job)).await?;
    let folded = fold_copies(
        copies
            .iter()
            .map(|c| &c.status)
            .filter(|s| s.request.id == id),
    );
    let Some(status) = folded.first() else {
        return Err(unknown(&id, &tool, &job));
    };
    Ok(Json(DeletionResponse {
        messages: Messages::warnings(warnings),
        deletion: view(status),
    }))
}

pub(super) fn unknown(id: &str, tool: &str, job: &str) -> ApiError {
    ApiError::not_found(format!(
        "no deletion request {id} for job {job:?} of tool {tool:?}"
    ))
}
