//! `GET /v1/tool/{tool}/jobs` and `…/usage`: what a tool has stored, job
//! by job; `GET …/jobs/{job}`, a job's runs, is [`runs`], and
//! `…/jobs/{job}/volume` is [`volume`].

pub mod runs;
pub mod volume;

use super::extract::ToolAccess;
use super::load::{ObjectAt, peek, tool_jobs};
use super::state::App;
use crate::classes::StoreId;
use crate::clock::rfc3339 as time_of;
use crate::reply::ApiError;
use crate::wire::{ErrorBody, JobInfo, JobUsage, JobsResponse, Messages, UsageResponse};
use afterlog_reader::job::JobSummary;
use axum::Json;
use axum::extract::State;
use futures::StreamExt;
use std::collections::BTreeMap;

/// A job's kind, if its listing knows it, else the object to peek at for it.
fn kind_or_sample(j: &JobSummary) -> Result<String, Option<ObjectAt>> {
    let s = &j.summary;
    match &s.kind {
        Some(kind) => Ok(kind.clone()),
        None => Err(s.sample.clone().map(|(key, size)| ObjectAt {
            store: StoreId(s.sample_store),
            key,
            size,
        })),
    }
}

/// The jobs of a tool that have logs stored.
#[utoipa::path(get, path = "/v1/tool/{tool}/jobs", tag = "jobs",
    params(("tool" = String, Path, description = "Tool name")),
    responses((status = 200, body = JobsResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn jobs(
    State(app): State<App>,
    ToolAccess { tool, .. }: ToolAccess,
) -> Result<Json<JobsResponse>, ApiError> {
    let listed = tool_jobs(&app, &tool).await?;
    // The kind rides on every record: one peek per job, at the object the
    // listing already found. A job's index records it: no peek.
    let kinds: Vec<Option<String>> = futures::stream::iter(listed.iter().map(kind_or_sample))
        .map(|known| {
            let app = app.clone();
            async move {
                match known {
                    Ok(kind) => Some(kind),
                    Err(sample) => peek(&app, &sample?, None).await?.kind,
                }
            }
        })
        .buffered(8)
        .collect()
        .await;
    let jobs = listed
        .iter()
        .zip(kinds)
        .map(|(j, kind)| JobInfo {
            job: j.job.clone(),
            kind,
            status: app.status(j.summary.last_upload_secs),
            first_time: time_of(j.summary.first_ns),
            last_time: time_of(j.summary.last_ns),
            runs: j.summary.runs() as usize,
            stored_bytes: j.summary.bytes,
            objects: j.summary.objects,
        })
        .collect();
    Ok(Json(JobsResponse {
        messages: Messages::default(),
        jobs,
    }))
}

/// Stored bytes per job and in total (compressed, as the store bills them),
/// also by routing class (each class may be billed or kept differently).
#[utoipa::path(get, path = "/v1/tool/{tool}/usage", tag = "jobs",
    params(("tool" = String, Path, description = "Tool name")),
    responses((status = 200, body = UsageResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn usage(
    State(app): State<App>,
    ToolAccess { tool, .. }: ToolAccess,
) -> Result<Json<UsageResponse>, ApiError> {
    let listed = tool_jobs(&app, &tool).await?;
    let mut classes: BTreeMap<String, u64> = BTreeMap::new();
    let jobs: Vec<JobUsage> = listed
        .into_iter()
        .map(|j| {
            let by_class: BTreeMap<String, u64> = j
                .summary
                .store_bytes
                .iter()
                .map(|(&i, &n)| (app.classes.name(StoreId(i)).to_string(), n))
                .collect();
            for (c, n) in &by_class {
                *classes.entry(c.clone()).or_default() += n;
            }
            JobUsage {
                job: j.job,
                stored_bytes: j.summary.bytes,
                objects: j.summary.objects,
                classes: by_class,
            }
        })
        .collect();
    Ok(Json(UsageResponse {
        messages: Messages::default(),
        total_bytes: jobs.iter().map(|j| j.stored_bytes).sum(),
        jobs,
        classes,
    }))
}
