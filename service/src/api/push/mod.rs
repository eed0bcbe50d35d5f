//! `POST /v1/tool/{tool}/jobs/{job}/logs`: lines a tool (or, for `platform`
//! events, an admin) pushes. They are stored as a raw object in the layout
//! Fluent Bit writes (docs/design.md §3), so they merge into the job's log like any
//! container's lines. [`object`] builds the object; this stores it.

pub mod object;

use crate::api::extract::{ApiQuery, JobAccess, JobPath};
use crate::api::openapi::{self, PushBody, ToolErrors};
use crate::api::state::App;
use crate::auth::Principal;
use crate::clock::now_ns;
use crate::reply::ApiError;
use crate::wire::{ErrorBody, Messages, PushResponse, PushedLine};
use afterlog_contract::query::Source;
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use object::{LINE_LIMIT, Push, parse_body};
use object_store::{ObjectStoreExt, PutPayload};
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PushQuery {
    /// `custom` (default) or `platform` (deploy and build events; admins only).
    #[param(schema_with = openapi::source)]
    pub source: Option<String>,
}

impl PushQuery {
    /// The source the caller may push as: 400 for no source, 403 for
    /// platform events from a non-admin.
    pub fn source(&self, who: &Principal) -> Result<Source, ApiError> {
        let source = match self.source.as_deref() {
            None => Source::default(),
            Some(s) => s.parse().map_err(|e: afterlog_contract::query::BadValue| {
                ApiError::bad_request(e.to_string())
            })?,
        };
        if source == Source::Platform && !who.admin {
            return Err(ApiError::forbidden("only admins push platform events"));
        }
        Ok(source)
    }
}

/// Push lines into a job's log.
#[utoipa::path(post, path = "/v1/tool/{tool}/jobs/{job}/logs", tag = "logs",
    params(JobPath, PushQuery),
    request_body(description = "The lines: a JSON array, or NDJSON (one object a line)",
        content((PushBody = "application/json"), (PushedLine = "application/x-ndjson"))),
    responses(
        (status = 201, description = "Stored", body = PushResponse, links(
            ("logs" = (operation_id = "get_logs", description = "The job's log, the lines pushed included",
                parameters(("tool" = "$request.path.tool"), ("job" = "$request.path.job")))),
            ("jobs" = (operation_id = "jobs", description = "The tool's jobs",
                parameters(("tool" = "$request.path.tool")))))),
        (status = 413, description = "A body over --push-max-bytes: push in smaller batches", body = ErrorBody),
        ToolErrors))]
pub async fn push_logs(
    State(app): State<App>,
    JobAccess { who, tool, job }: JobAccess,
    ApiQuery(q): ApiQuery<PushQuery>,
    body: Body,
) -> Result<(StatusCode, Json<PushResponse>), ApiError> {
    let source = q.source(&who)?;
    let limit = app.settings.push_max_bytes;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body over {limit} bytes: push in smaller batches"),
        )
    })?;
    let id = uuid::Uuid::new_v4().to_string();
    let push = Push {
        tool: &tool,
        job: &job,
        source,
        now: now_ns(),
        id: &id,
    };
    let obj = push.build(parse_body(&bytes)?)?;
    let gz = gzip(&obj.body).map_err(ApiError::store)?;
    // Pushed lines are no container's: no routing rule gives them a class,
    // so they go to the `default` class's store (reads merge every class).
    app.classes
        .default_store()
        .put(
            &object_store::path::Path::from(obj.key.as_str()),
            PutPayload::from(gz),
        )
        .await
        .map_err(ApiError::store)?;
    app.metrics.lines_pushed.inc_by(obj.lines as u64);
    app.metrics.lines_cut.inc_by(obj.cut as u64);
    tracing::info!(user = %who.name, tool, job, lines = obj.lines, key = obj.key, "pushed");
    let mut warnings = Vec::new();
    if obj.cut > 0 {
        warnings.push(format!(
            "{} of the lines were longer than {LINE_LIMIT} bytes and were cut",
            obj.cut
        ));
    }
    Ok((
        StatusCode::CREATED,
        Json(PushResponse {
            messages: Messages::warnings(warnings),
            lines: obj.lines,
            key: obj.key,
        }),
    ))
}

fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data)?;
    e.finish()
}
