//! `GET /v1/tool/{tool}/jobs/{job}/logs`: a job's log, ordered and
//! deduplicated, as a JSON page, or streamed as NDJSON or text — and then,
//! with `follow=true`, kept open for what arrives.
//!
//! [`request`] checks and plans a request, [`read`] reads it (a page, or a
//! stream through a [`sink::Sink`]; [`context`] with lines around matches),
//! [`follow`] goes on with what arrives.

pub mod context;
pub mod follow;
pub mod read;
pub mod request;
pub mod sink;

use crate::api::extract::{ApiQuery, JobAccess};
use crate::api::load::job_index;
use crate::api::state::{App, AppState};
use crate::clock::now_ns;
use crate::reply::ApiError;
use crate::wire::{ErrorBody, LogsResponse};
use afterlog_contract::query::Format;
use afterlog_reader::index::Scope;
use afterlog_reader::job::JobIndex;
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use request::{LogsQuery, LogsRequest, Run, has_run, latest_run};
use sink::Sink;
use tokio::sync::{OwnedSemaphorePermit, mpsc};

/// When a refused follow is told to try again.
const FOLLOW_RETRY_SECS: u64 = 5;

/// A job's log.
#[utoipa::path(get, path = "/v1/tool/{tool}/jobs/{job}/logs", tag = "logs",
    params(("tool" = String, Path, description = "Tool name"), ("job" = String, Path, description = "Job name"), LogsQuery),
    responses(
        (status = 200, description = "format=json: a page of records", body = LogsResponse),
        (status = 200, description = "format=ndjson: the stored records, one per line; a final {\"messages\":…} line if anything was skipped", content_type = "application/x-ndjson"),
        (status = 200, description = "format=text: one line per record", content_type = "text/plain"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 429, description = "too many follows open, the caller at its limit of heavy requests, or the memory budget in use; retry after `Retry-After` seconds", body = ErrorBody)))]
pub async fn get_logs(
    State(app): State<App>,
    JobAccess { who, tool, job }: JobAccess,
    ApiQuery(q): ApiQuery<LogsQuery>,
) -> Result<Response, ApiError> {
    let mut req = q.check(now_ns())?;
    // Admitted before anything is loaded: a refused request costs nothing.
    let ticket = match req.work() {
        Some(work) => Some(
            app.admission
                .admit(Some(&who.name), work)
                .await
                .map_err(|e| ApiError::too_many(e.to_string(), e.retry_after()))?,
        ),
        None => None,
    };
    let before = app.classes.counters().snapshot();
    let index = select_run(&app, &tool, &job, &mut req).await?;
    if req.format == Format::Json {
        let page = read::json_page(&app, index, req, before).await?;
        return Ok(Json(page).into_response());
    }
    let permit = if req.follow {
        Some(follow_permit(&app)?)
    } else {
        None
    };
    let ctype = match req.format {
        Format::Text => "text/plain; charset=utf-8",
        _ => "application/x-ndjson",
    };
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let out = Sink::new(tx, req.format);
    crate::runtime::reads().spawn(async move {
        let follow = permit.inspect(|_| {
            app.metrics.follows_active.inc();
        });
        let mut ticket = ticket;
        read::stream_logs(&app, index, req, out, before, ticket.as_mut()).await;
        if follow.is_some() {
            app.metrics.follows_active.dec();
        }
        drop(ticket);
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    Ok(([(header::CONTENT_TYPE, ctype)], body).into_response())
}

/// A place among the follows open at once, or 429.
fn follow_permit(app: &AppState) -> Result<OwnedSemaphorePermit, ApiError> {
    app.follows.clone().try_acquire_owned().map_err(|_| {
        app.metrics.follows_refused.inc();
        ApiError::too_many(
            format!(
                "too many clients are following logs ({}); try again later",
                app.settings.follow_max
            ),
            FOLLOW_RETRY_SECS,
        )
    })
}

/// Loads the job's index for `req`, and narrows `req` to its run (404 if
/// the job has no such run).
async fn select_run(
    app: &AppState,
    tool: &str,
    job: &str,
    req: &mut LogsRequest,
) -> Result<JobIndex, ApiError> {
    let mut index = job_index(app, tool, job, req.scope()).await?;
    let pod = match &req.run {
        None => return Ok(index),
        Some(Run::Latest) => {
            let latest = latest_run(&index)
                .ok_or_else(|| ApiError::not_found(format!("job {job:?} has no runs")))?;
            let first = latest.summary.first_ns.unwrap_or(0);
            // The run may have begun before the part of the index loaded.
            if index.loaded_from().is_some_and(|t| t > first) {
                let scope = Scope {
                    since: Some(first),
                    newest_runs: None,
                    ..req.scope()
                };
                index = job_index(app, tool, job, scope).await?;
            }
            latest.pod
        }
        Some(Run::Pod(run)) if has_run(&index, run) => run.clone(),
        Some(Run::Pod(run)) => {
            return Err(ApiError::not_found(format!(
                "job {job:?} has no run {run:?}"
            )));
        }
    };
    req.filter.pods = vec![pod];
    Ok(index)
}
