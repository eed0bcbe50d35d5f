//! `POST /v1/tool/{tool}/jobs/{job}/logs`: lines a tool (or, for `platform`
//! events, an admin) pushes. They are stored as a raw object in the layout
//! Fluent Bit writes (DESIGN §3), so they merge into the job's log like any
//! container's lines.

use crate::api::{App, Caller, JobPath, now_ns};
use crate::reply::{ApiError, ErrorBody, Messages};
use afterlog_contract::layout::Origin;
use afterlog_contract::record::{kind, truncation_marker};
use afterlog_contract::time::parse_rfc3339_nanos;
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Longest pushed line kept whole, as the filter's default line limit.
pub const LINE_LIMIT: usize = 16 * 1024;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PushQuery {
    /// `custom` (default) or `platform` (deploy and build events; admins only).
    pub source: Option<String>,
}

/// One pushed line.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushedLine {
    pub log: String,
    /// `stdout` (default) or `stderr`.
    pub stream: Option<String>,
    /// RFC 3339 or ns since the epoch; default: when it was received.
    #[schema(value_type = Option<String>)]
    pub ts: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PushResponse {
    pub messages: Messages,
    /// Lines stored.
    pub lines: usize,
    /// The raw object they are in.
    pub key: String,
}

/// Parses a body: a JSON array of lines, or one JSON object per line.
pub fn parse_body(body: &[u8]) -> Result<Vec<PushedLine>, ApiError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    let lines: Vec<PushedLine> = match first {
        None => {
            return Err(ApiError::bad_request(
                "empty body: send a JSON array or NDJSON of {\"log\": …}",
            ));
        }
        Some(b'[') => {
            serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("body: {e}")))?
        }
        Some(_) => {
            let mut v = Vec::new();
            for (i, line) in body.split(|&b| b == b'\n').enumerate() {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                v.push(
                    serde_json::from_slice(line)
                        .map_err(|e| ApiError::bad_request(format!("line {}: {e}", i + 1)))?,
                );
            }
            v
        }
    };
    if lines.is_empty() {
        return Err(ApiError::bad_request("no lines in the body"));
    }
    Ok(lines)
}

fn line_ts(i: usize, v: &Option<serde_json::Value>, now: u64) -> Result<u64, ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "line {}: ts must be RFC 3339 or nanoseconds since the epoch",
            i + 1
        ))
    };
    match v {
        None | Some(serde_json::Value::Null) => Ok(now),
        Some(serde_json::Value::Number(n)) => n.as_u64().ok_or_else(bad),
        Some(serde_json::Value::String(s)) => parse_rfc3339_nanos(s.as_bytes()).ok_or_else(bad),
        Some(_) => Err(bad()),
    }
}

/// Cuts `s` to the line limit at a character boundary, with the marker.
fn cut(mut s: String) -> String {
    if s.len() <= LINE_LIMIT {
        return s;
    }
    let mut at = LINE_LIMIT;
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    let n = s.len() - at;
    s.truncate(at);
    s.push_str(&truncation_marker(n));
    s
}

/// Builds the stored records (sorted, as one upload) and their object key.
pub fn build_object(
    tool: &str,
    job: &str,
    source: &str,
    lines: Vec<PushedLine>,
    now: u64,
    id: &str,
) -> Result<(String, Vec<u8>, usize), ApiError> {
    let pod = format!("@{source}");
    let origin = Origin {
        tool: tool.to_string(),
        job: job.to_string(),
        pod: pod.clone(),
        container: source.to_string(),
    };
    // Stored in the default class's store (see `push_logs`), and labelled so.
    let class = afterlog_contract::routing::DEFAULT_CLASS;
    let route = origin.class_route(class);
    let mut recs = Vec::with_capacity(lines.len());
    for (i, l) in lines.into_iter().enumerate() {
        let stream = l.stream.as_deref().unwrap_or("stdout");
        if stream != "stdout" && stream != "stderr" {
            return Err(ApiError::bad_request(format!(
                "line {}: stream must be stdout or stderr",
                i + 1
            )));
        }
        let ts = line_ts(i, &l.ts, now)?;
        recs.push((ts, i, stream.to_string(), cut(l.log)));
    }
    recs.sort();
    let first_secs = (recs[0].0 / 1_000_000_000) as i64;
    // Each push is its own container instance: identities never collide
    // with another push, and `off` keeps a push's own order.
    let container_id = format!("{source}-{id}");
    let mut body = Vec::new();
    for (ts, i, stream, log) in &recs {
        let v = serde_json::json!({
            "ts": ts, "off": i, "stream": stream, "log": log,
            "afterlog": {
                "tool": tool, "job": job, "kind": source, "namespace": "",
                "pod": pod, "container": source, "container_id": container_id,
                "node": "", "route": route, "class": class,
            }
        });
        serde_json::to_writer(&mut body, &v).map_err(|e| ApiError::bad_request(e.to_string()))?;
        body.push(b'\n');
    }
    Ok((origin.raw_key(first_secs, id), body, recs.len()))
}

/// Push lines into a job's log.
#[utoipa::path(post, path = "/v1/tool/{tool}/jobs/{job}/logs", tag = "logs",
    params(("tool" = String, Path, description = "Tool name"), ("job" = String, Path, description = "Job name"), PushQuery),
    request_body(content = Vec<PushedLine>, description = "A JSON array of lines, or NDJSON (one object per line)"),
    responses((status = 201, body = PushResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn push_logs(
    State(app): State<App>,
    Caller(who): Caller,
    JobPath { tool, job }: JobPath,
    q: Result<Query<PushQuery>, QueryRejection>,
    body: Body,
) -> Result<Response, ApiError> {
    who.check_tool(&tool)?;
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let source = match q.source.as_deref().unwrap_or(kind::CUSTOM) {
        kind::CUSTOM => kind::CUSTOM,
        kind::PLATFORM if who.admin => kind::PLATFORM,
        kind::PLATFORM => {
            return Err(ApiError::forbidden("only admins push platform events"));
        }
        s => {
            return Err(ApiError::bad_request(format!(
                "source={s:?}: expected custom or platform"
            )));
        }
    };
    let limit = app.settings.push_max_bytes;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body over {limit} bytes: push in smaller batches"),
        )
    })?;
    let lines = parse_body(&bytes)?;
    let id = uuid::Uuid::new_v4().to_string();
    let (key, body, n) = build_object(&tool, &job, source, lines, now_ns(), &id)?;
    let gz = gzip(&body).map_err(ApiError::store)?;
    // Pushed lines are no container's: no routing rule gives them a class,
    // so they go to the `default` class's store (reads merge every class).
    app.classes
        .default_store()
        .put(
            &object_store::path::Path::from(key.as_str()),
            PutPayload::from(gz),
        )
        .await
        .map_err(ApiError::store)?;
    app.metrics.lines_pushed.inc_by(n as u64);
    tracing::info!(user = %who.name, tool, job, lines = n, key, "pushed");
    Ok((
        StatusCode::CREATED,
        Json(PushResponse {
            messages: Messages::default(),
            lines: n,
            key,
        }),
    )
        .into_response())
}

fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data)?;
    e.finish()
}
