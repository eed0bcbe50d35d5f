//! `GET /v1/tool/{tool}/jobs/{job}/logs`: a job's log, ordered and
//! deduplicated, as a JSON page, or streamed as NDJSON or text — and then,
//! with `follow=true`, kept open for what arrives.

use crate::admission::{Ticket, Work};
use crate::api::{App, AppState, Caller, JobPath, check_name, load_job_scoped, now_ns};
use crate::reply::{ApiError, ErrorBody, Messages};
use afterlog_contract::time::{parse_rfc3339_nanos, rfc3339_nanos};
use afterlog_reader::counting::RequestCounts;
use afterlog_reader::index::Scope;
use afterlog_reader::job::{JobIndex, list_raw};
use afterlog_reader::{
    JobReader, Limit, LogRecord, Position, QuotaEvent, Selection, TextStyle, read_tail,
};
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::time::Instant;
use tokio::sync::mpsc;
use utoipa::{IntoParams, ToSchema};

/// Most records one JSON page or one tail returns.
pub const MAX_PAGE: usize = 10_000;
pub const DEFAULT_PAGE: usize = 1_000;
/// Largest `tail`: the tail is held in memory before it is sent.
pub const MAX_TAIL: usize = 100_000;
/// Streamed output is sent in chunks of about this size.
const CHUNK: usize = 64 * 1024;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LogsQuery {
    /// One run: a pod name, or `latest` for the run that started last.
    pub run: Option<String>,
    /// One container of the pod(s).
    pub container: Option<String>,
    /// `stdout` or `stderr`.
    pub stream: Option<String>,
    /// Records at or after: RFC 3339 (`2026-11-25T15:00:00Z`), ns since the
    /// epoch, or an age such as `90s`, `15m`, `2h`, `7d`.
    pub since: Option<String>,
    /// Records before (same forms as `since`).
    pub until: Option<String>,
    /// The first N records.
    pub head: Option<usize>,
    /// The last N records (at most 100000).
    pub tail: Option<usize>,
    /// `json` (default: a page), `ndjson` (stored records, streamed) or
    /// `text` (one readable line per record, streamed).
    pub format: Option<String>,
    /// JSON page size (default 1000, at most 10000).
    pub limit: Option<usize>,
    /// JSON: the `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// `ndjson`/`text`: keep streaming records as they arrive. Empty lines
    /// are heartbeats.
    pub follow: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Ndjson,
    Text,
}

/// A checked request.
#[derive(Debug, Clone)]
pub struct LogsRequest {
    pub filter: Selection,
    pub run: Option<String>,
    pub format: Format,
    pub page: usize,
    pub follow: bool,
}

/// Parses `since`/`until`: a time, ns since the epoch, or an age.
pub fn parse_time(what: &str, v: &str, now_ns: u64) -> Result<u64, ApiError> {
    let v = v.trim();
    let bad = || {
        ApiError::bad_request(format!(
            "{what}={v:?}: expected RFC 3339 (2026-11-25T15:00:00Z), nanoseconds since the epoch, or an age such as 15m, 2h, 7d"
        ))
    };
    if let Some(t) = parse_rfc3339_nanos(v.as_bytes()) {
        return Ok(t);
    }
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return v.parse().map_err(|_| bad());
    }
    let (num, unit) = v.split_at(v.len().saturating_sub(1));
    let n: u64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    let ago = n
        .checked_mul(secs)
        .and_then(|s| s.checked_mul(1_000_000_000))
        .ok_or_else(bad)?;
    Ok(now_ns.saturating_sub(ago))
}

/// The opaque cursor of a JSON page: the position of its last record.
pub fn encode_cursor(p: &Position) -> String {
    let v = serde_json::json!([p.ts, p.container_id, p.off, p.stream]);
    URL_SAFE_NO_PAD.encode(v.to_string())
}

pub fn decode_cursor(c: &str) -> Result<Position, ApiError> {
    let bad =
        || ApiError::bad_request("invalid cursor: pass next_cursor of the previous page unchanged");
    let raw = URL_SAFE_NO_PAD.decode(c.as_bytes()).map_err(|_| bad())?;
    let (ts, container_id, off, stream): (u64, String, Option<u64>, String) =
        serde_json::from_slice(&raw).map_err(|_| bad())?;
    Ok(Position {
        ts,
        container_id,
        off,
        stream,
    })
}

impl LogsQuery {
    /// Checks the parameters against each other; `now_ns` anchors ages.
    pub fn check(self, now_ns: u64) -> Result<LogsRequest, ApiError> {
        let format = match self.format.as_deref().unwrap_or("json") {
            "json" => Format::Json,
            "ndjson" => Format::Ndjson,
            "text" => Format::Text,
            f => {
                return Err(ApiError::bad_request(format!(
                    "format={f:?}: expected json, ndjson or text"
                )));
            }
        };
        if let Some(s) = &self.stream
            && s != "stdout"
            && s != "stderr"
        {
            return Err(ApiError::bad_request(format!(
                "stream={s:?}: expected stdout or stderr"
            )));
        }
        if let Some(r) = &self.run {
            check_name("run", r)?;
        }
        if let Some(c) = &self.container {
            check_name("container", c)?;
        }
        let since = self
            .since
            .as_deref()
            .map(|v| parse_time("since", v, now_ns))
            .transpose()?;
        let until = self
            .until
            .as_deref()
            .map(|v| parse_time("until", v, now_ns))
            .transpose()?;
        if let (Some(s), Some(u)) = (since, until)
            && s >= u
        {
            return Err(ApiError::bad_request("since must be before until"));
        }
        let limit = match (self.head, self.tail) {
            (Some(_), Some(_)) => {
                return Err(ApiError::bad_request("head and tail exclude each other"));
            }
            (Some(n), None) => Limit::Head(n),
            (None, Some(n)) if n > MAX_TAIL => {
                return Err(ApiError::bad_request(format!(
                    "tail={n}: at most {MAX_TAIL}"
                )));
            }
            (None, Some(n)) => Limit::Tail(n),
            (None, None) => Limit::All,
        };
        let follow = self.follow.unwrap_or(false);
        if follow {
            if format == Format::Json {
                return Err(ApiError::bad_request(
                    "follow needs format=ndjson or format=text",
                ));
            }
            if until.is_some() || matches!(limit, Limit::Head(_)) {
                return Err(ApiError::bad_request(
                    "follow cannot be combined with until or head",
                ));
            }
        }
        let page = match self.limit {
            Some(n) if n == 0 || n > MAX_PAGE => {
                return Err(ApiError::bad_request(format!(
                    "limit={n}: expected 1 to {MAX_PAGE}"
                )));
            }
            Some(_) if format != Format::Json => {
                return Err(ApiError::bad_request("limit applies to format=json only"));
            }
            Some(n) => n,
            None => DEFAULT_PAGE,
        };
        let after = match &self.cursor {
            Some(_) if format != Format::Json => {
                return Err(ApiError::bad_request("cursor applies to format=json only"));
            }
            Some(_) if !matches!(limit, Limit::All) => {
                return Err(ApiError::bad_request(
                    "cursor cannot be combined with head or tail",
                ));
            }
            Some(c) => Some(decode_cursor(c)?),
            None => None,
        };
        if format == Format::Json {
            match limit {
                Limit::Head(n) | Limit::Tail(n) if n > MAX_PAGE => {
                    return Err(ApiError::bad_request(format!(
                        "format=json returns at most {MAX_PAGE} records; page with cursor, or stream with format=ndjson"
                    )));
                }
                _ => {}
            }
        }
        Ok(LogsRequest {
            filter: Selection {
                pods: Vec::new(),
                container: self.container,
                stream: self.stream,
                since,
                until,
                after,
                limit,
            },
            run: self.run,
            format,
            page,
            follow,
        })
    }
}

/// One record as JSON pages show it.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogLine {
    /// RFC 3339 with nanoseconds.
    pub time: String,
    /// ns since the epoch.
    pub ts: u64,
    pub pod: String,
    pub container: String,
    pub stream: String,
    /// The line; for a quota event, what happened, in words.
    pub log: String,
    /// `quota_exceeded` or `quota_dropped` for the filter's quota events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// `quota_dropped`: what was dropped before this line, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_text: Option<String>,
}

impl LogLine {
    fn of(r: LogRecord) -> LogLine {
        // A marker replaced a dropped line: its words are the line. A drop
        // summary rides on a real line, which stays; its words go beside it.
        let (log, event, event_text) = match r.event {
            Some(e @ QuotaEvent::Exceeded { .. }) => {
                (e.to_string(), Some(e.name().to_string()), None)
            }
            Some(e @ QuotaEvent::Dropped { .. }) => (
                r.log().into_owned(),
                Some(e.name().to_string()),
                Some(e.to_string()),
            ),
            None => (r.log().into_owned(), None, None),
        };
        LogLine {
            time: rfc3339_nanos(r.ts),
            ts: r.ts,
            pod: r.pod,
            container: r.container,
            stream: r.stream,
            log,
            event,
            event_text,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LogsResponse {
    pub messages: Messages,
    pub logs: Vec<LogLine>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Appends one record in the requested streaming format.
fn write_record(out: &mut Vec<u8>, r: &LogRecord, format: Format) {
    match format {
        Format::Ndjson | Format::Json => {
            out.extend_from_slice(&r.line);
            out.push(b'\n');
        }
        Format::Text => {
            let mut s = String::with_capacity(r.log_len + 64);
            let style = TextStyle {
                timestamps: true,
                source: true,
            };
            r.write_text(&mut s, style);
            out.extend_from_slice(s.as_bytes());
        }
    }
}

/// The line a follow ends with when the service shuts down; the CLI
/// reconnects (through the Service, to another replica) and goes on.
pub const SHUTTING_DOWN: &str = "the service is shutting down; reconnect to go on";

/// Something for the reader that is neither data nor a problem.
fn write_notice(out: &mut Vec<u8>, notice: &str, format: Format) {
    match format {
        Format::Text => out.extend_from_slice(format!("[afterlog] {notice}\n").as_bytes()),
        _ => {
            let m = Messages {
                info: vec![notice.to_string()],
                ..Messages::default()
            };
            out.extend_from_slice(serde_json::json!({ "messages": m }).to_string().as_bytes());
            out.push(b'\n');
        }
    }
}

/// What is left to say at the end of a stream.
fn write_warnings(out: &mut Vec<u8>, warnings: &[String], format: Format) {
    if warnings.is_empty() {
        return;
    }
    match format {
        Format::Text => {
            for w in warnings {
                out.extend_from_slice(format!("[afterlog] warning: {w}\n").as_bytes());
            }
        }
        _ => {
            let v = serde_json::json!({"messages": Messages::warnings(warnings.to_vec())});
            out.extend_from_slice(v.to_string().as_bytes());
            out.push(b'\n');
        }
    }
}

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
    Caller(who): Caller,
    JobPath { tool, job }: JobPath,
    q: Result<Query<LogsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    who.check_tool(&tool)?;
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let mut req = q.check(now_ns())?;
    // Admitted before anything is loaded: a refused request costs nothing.
    let ticket = match work_of(&req) {
        Some(work) => Some(
            app.admission
                .admit(Some(&who.name), work)
                .await
                .map_err(|e| ApiError::too_many(e.to_string(), e.retry_after()))?,
        ),
        None => None,
    };
    let before = app.classes.counters().snapshot();
    let mut index = load_job_scoped(&app, &tool, &job, scope_of(&req)).await?;
    if let Some(run) = &req.run {
        let pod = if run == "latest" {
            let (pod, first) = latest_run(&index)
                .ok_or_else(|| ApiError::not_found(format!("job {job:?} has no runs")))?;
            // The run may have begun before the part of the index loaded.
            if index.loaded_from().is_some_and(|t| t > first) {
                let scope = Scope {
                    since: Some(first),
                    newest_runs: None,
                    ..scope_of(&req)
                };
                index = load_job_scoped(&app, &tool, &job, scope).await?;
            }
            pod
        } else if index.objects.iter().any(|l| l.parsed.origin.pod == *run)
            || index.pod_info(run).is_some()
        {
            run.clone()
        } else {
            return Err(ApiError::not_found(format!(
                "job {job:?} has no run {run:?}"
            )));
        };
        req.filter.pods = vec![pod];
    }
    if req.format == Format::Json {
        return json_page(&app, index, req, before).await;
    }
    let permit = if req.follow {
        match app.follows.clone().try_acquire_owned() {
            Ok(p) => Some(p),
            Err(_) => {
                app.metrics.follows_refused.inc();
                return Err(ApiError::too_many(
                    format!(
                        "too many clients are following logs ({}); try again later",
                        app.settings.follow_max
                    ),
                    FOLLOW_RETRY_SECS,
                ));
            }
        }
    } else {
        None
    };
    let ctype = match req.format {
        Format::Text => "text/plain; charset=utf-8",
        _ => "application/x-ndjson",
    };
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    crate::serve::reads().spawn(async move {
        let follow = permit.inspect(|_| {
            app.metrics.follows_active.inc();
        });
        let mut ticket = ticket;
        stream_logs(&app, index, req, &tx, before, ticket.as_mut()).await;
        if follow.is_some() {
            app.metrics.follows_active.dec();
        }
        drop(ticket);
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    Ok(([(header::CONTENT_TYPE, ctype)], body).into_response())
}

/// Tails and heads up to this many lines are cheap: never queued.
pub const SMALL_READ: usize = 1000;

/// When a refused follow is told to try again.
const FOLLOW_RETRY_SECS: u64 = 5;

/// The share of the memory budget a request needs, if it is heavy: follows,
/// and streamed reads beyond a small head or tail. JSON pages hold at most
/// [`MAX_PAGE`] records and the index, like job lists and health checks. A
/// follow that first sends more than a small tail takes a read's share,
/// and keeps a follow's once the stored log is sent.
fn work_of(req: &LogsRequest) -> Option<Work> {
    // A stream is not known before the lines are read: a tail of stderr
    // may read the whole job to find its few lines.
    let narrow = req.filter.stream.is_none();
    let small =
        narrow && matches!(req.filter.limit, Limit::Head(n) | Limit::Tail(n) if n <= SMALL_READ);
    match (req.format, req.follow) {
        (_, true) if small => Some(Work::Follow),
        // The stored log first: a read's share until it is sent.
        (_, true) => Some(Work::Read),
        (Format::Json, _) if narrow => None,
        _ if small => None,
        _ => Some(Work::Read),
    }
}

/// The run that started last, and its first time, leaving out pushed logs
/// (their "pods" are sources, not runs).
pub fn latest_run(index: &JobIndex) -> Option<(String, u64)> {
    index
        .runs()
        .into_iter()
        .rev()
        .find(|r| !r.pod.starts_with('@'))
        .map(|r| (r.pod, r.summary.first_ns.unwrap_or(0)))
}

/// The part of a job's index a request needs: its time window; for a tail,
/// the newest days that hold enough lines; for the latest run, the newest
/// day's runs; a named run can be on any day.
fn scope_of(req: &LogsRequest) -> Scope {
    let window = Scope::of_selection(&req.filter);
    match (&req.run, req.filter.limit) {
        (Some(run), _) if run != "latest" => window,
        (Some(_), _) => Scope {
            newest_runs: Some(1),
            ..window
        },
        (None, Limit::Tail(n)) => Scope {
            newest_lines: Some(n as u64),
            ..window
        },
        _ => window,
    }
}

/// A tail of `index`; if the scope it was loaded with left out older days
/// and the tail is short (a filter selects few of the newest lines), the
/// whole window is loaded and read again.
async fn tail_of(
    app: &AppState,
    index: &JobIndex,
    req: &LogsRequest,
    n: usize,
) -> Result<afterlog_reader::JobLog, afterlog_reader::StoreError> {
    let stores = app.classes.stores().clone();
    let log = read_tail(stores.clone(), index, req.filter.clone(), n).await?;
    if log.records.len() >= n || !index.partial {
        return Ok(log);
    }
    let whole = afterlog_reader::JobIndex::load_scoped(
        &stores,
        &index.tool,
        &index.job,
        &app.first_times,
        Scope::of_selection(&req.filter),
    )
    .await?;
    read_tail(stores, &whole, req.filter.clone(), n).await
}

/// Logs at debug level what a read cost the store. The counters are the
/// service's: reads running at the same time are counted in too.
fn log_cost(app: &AppState, index: &JobIndex, before: &RequestCounts, lines: usize) {
    let cost = app.classes.counters().snapshot().since(before);
    tracing::debug!(
        tool = %index.tool,
        job = %index.job,
        requests = cost.total(),
        bytes_fetched = cost.bytes_fetched,
        lines,
        "read: {cost}"
    );
}

async fn json_page(
    app: &AppState,
    index: JobIndex,
    req: LogsRequest,
    before: RequestCounts,
) -> Result<Response, ApiError> {
    let (records, warnings, stats, next) = match req.filter.limit {
        Limit::Tail(n) => {
            let log = tail_of(app, &index, &req, n)
                .await
                .map_err(ApiError::store)?;
            (log.records, log.warnings, log.stats, None)
        }
        limit => {
            let page = match limit {
                Limit::Head(n) => n,
                _ => req.page,
            };
            let mut rd = JobReader::new(
                app.classes.stores().clone(),
                &index,
                Selection {
                    limit: Limit::All,
                    ..req.filter
                },
            );
            let mut records = Vec::new();
            while records.len() < page
                && let Some(r) = rd.next().await.map_err(ApiError::store)?
            {
                records.push(r);
            }
            // A head is one answer; a full page may have more after it.
            let more = matches!(limit, Limit::All)
                && records.len() == page
                && rd.next().await.map_err(ApiError::store)?.is_some();
            let next = more
                .then(|| records.last().map(|r| encode_cursor(&Position::of(r))))
                .flatten();
            (records, rd.warnings, rd.stats, next)
        }
    };
    app.metrics.read(&stats);
    log_cost(app, &index, &before, records.len());
    let bytes: u64 = records.iter().map(|r| r.log_len as u64).sum();
    app.metrics.served(records.len() as u64, bytes);
    Ok(Json(LogsResponse {
        messages: Messages::warnings(warnings),
        logs: records.into_iter().map(LogLine::of).collect(),
        next_cursor: next,
    })
    .into_response())
}

/// Sends `buf` if it is full (or `force`); false once the client is gone.
async fn flush(
    tx: &mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: &mut Vec<u8>,
    force: bool,
) -> bool {
    if buf.is_empty() || (!force && buf.len() < CHUNK) {
        return true;
    }
    let chunk = Bytes::from(std::mem::replace(buf, Vec::with_capacity(CHUNK + 1024)));
    tx.send(Ok(chunk)).await.is_ok()
}

/// Streams the selected records, then (with `follow`) what arrives later.
async fn stream_logs(
    app: &AppState,
    index: JobIndex,
    req: LogsRequest,
    tx: &mpsc::Sender<Result<Bytes, std::io::Error>>,
    before: RequestCounts,
    ticket: Option<&mut Ticket>,
) {
    let mut buf = Vec::with_capacity(CHUNK + 1024);
    let (mut lines, mut bytes) = (0u64, 0u64);
    // Per container instance, the last record sent: a follow sends only
    // what is newer, so retried uploads are not sent twice.
    let mut sent: HashMap<String, Position> = HashMap::new();
    let note = |r: &LogRecord, sent: &mut HashMap<String, Position>| {
        if req.follow {
            sent.insert(r.container_id.clone(), Position::of(r));
        }
    };
    let stores = app.classes.stores().clone();
    let fail = |e: afterlog_reader::StoreError| {
        tracing::error!(error = %e, "read failed mid-stream");
        std::io::Error::other("the log store failed during the read; the output is incomplete")
    };
    let warnings = match req.filter.limit {
        Limit::Tail(n) => match tail_of(app, &index, &req, n).await {
            Ok(log) => {
                app.metrics.read(&log.stats);
                for r in &log.records {
                    write_record(&mut buf, r, req.format);
                    note(r, &mut sent);
                    lines += 1;
                    bytes += r.log_len as u64;
                    if !flush(tx, &mut buf, false).await {
                        return;
                    }
                }
                log.warnings
            }
            Err(e) => {
                let _ = tx.send(Err(fail(e))).await;
                return;
            }
        },
        _ => {
            let mut rd = JobReader::new(stores, &index, req.filter.clone());
            loop {
                match rd.next().await {
                    Ok(Some(r)) => {
                        write_record(&mut buf, &r, req.format);
                        note(&r, &mut sent);
                        lines += 1;
                        bytes += r.log_len as u64;
                        if !flush(tx, &mut buf, false).await {
                            app.metrics.read(&rd.stats);
                            app.metrics.served(lines, bytes);
                            return;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        let _ = flush(tx, &mut buf, true).await;
                        let _ = tx.send(Err(fail(e))).await;
                        return;
                    }
                }
            }
            app.metrics.read(&rd.stats);
            rd.warnings
        }
    };
    write_warnings(&mut buf, &warnings, req.format);
    app.metrics.served(lines, bytes);
    log_cost(app, &index, &before, lines as usize);
    if !flush(tx, &mut buf, true).await || !req.follow {
        return;
    }
    if let Some(t) = ticket {
        t.shrink_to(app.admission.share(Work::Follow));
    }
    follow(app, &index, &req, tx, sent).await;
}

/// After the stored log: polls every class's store for new raw objects and
/// sends their records (newer than what each container instance already
/// sent) until the client goes away or the follow times out.
async fn follow(
    app: &AppState,
    index: &JobIndex,
    req: &LogsRequest,
    tx: &mpsc::Sender<Result<Bytes, std::io::Error>>,
    mut sent: HashMap<String, Position>,
) {
    let s = &app.settings;
    // Raw objects the job's index holds (consumed, not deleted yet) are
    // not new either.
    let mut seen: HashSet<(usize, String)> = index
        .objects
        .iter()
        .map(|l| (l.store, l.key.clone()))
        .chain(index.manifests.iter().enumerate().flat_map(|(i, m)| {
            m.iter()
                .flat_map(move |m| m.consumed.iter().map(move |c| (i, c.key.clone())))
        }))
        .collect();
    let start = Instant::now();
    let mut last_send = Instant::now();
    let mut buf = Vec::new();
    let mut draining = app.draining.subscribe();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(s.follow_poll) => {}
            _ = tx.closed() => return,
            () = crate::serve::until_draining(&mut draining) => {
                write_notice(&mut buf, SHUTTING_DOWN, req.format);
                let _ = flush(tx, &mut buf, true).await;
                return;
            }
        }
        if start.elapsed() >= s.follow_timeout {
            if req.format == Format::Text {
                buf.extend_from_slice(
                    b"[afterlog] follow ended after its time limit; reconnect to go on\n",
                );
            }
            let _ = flush(tx, &mut buf, true).await;
            return;
        }
        // What arrived: new raw objects, read through the reader's merge
        // (ordered, deduplicated, damage counted); only records newer than
        // what each container instance already sent go out.
        let stores = app.classes.stores().clone();
        let listed = match list_raw(&stores, &index.tool, &index.job).await {
            Ok((listed, warnings, stats)) => {
                app.metrics.read(&stats);
                write_warnings(&mut buf, &warnings, req.format);
                listed
            }
            Err(e) => {
                app.metrics.follow_errors.inc();
                tracing::warn!(tool = %index.tool, job = %index.job, error = %e, "follow: listing failed");
                write_warnings(
                    &mut buf,
                    &[format!("listing new objects failed ({e}); trying again")],
                    req.format,
                );
                Vec::new()
            }
        };
        let o = |l: &afterlog_reader::job::Listed| l.parsed.origin.clone();
        let new: Vec<afterlog_reader::job::Listed> = listed
            .into_iter()
            .filter(|l| {
                let key = (l.store, l.key.clone());
                if seen.contains(&key) {
                    return false;
                }
                seen.insert(key);
                let origin = o(l);
                (req.filter.pods.is_empty() || req.filter.pods.contains(&origin.pod))
                    && req
                        .filter
                        .container
                        .as_ref()
                        .is_none_or(|c| *c == origin.container)
            })
            .collect();
        let (mut lines, mut bytes) = (0u64, 0u64);
        if !new.is_empty() {
            let filter = Selection {
                limit: Limit::All,
                after: None,
                ..req.filter.clone()
            };
            let mut rd = JobReader::over(stores, &new, filter);
            loop {
                match rd.next().await {
                    Ok(Some(r)) => {
                        let newer = sent
                            .get(&r.container_id)
                            .is_none_or(|p| p.cmp_to(&r).is_lt());
                        if newer {
                            write_record(&mut buf, &r, req.format);
                            lines += 1;
                            bytes += r.log_len as u64;
                            sent.insert(r.container_id.clone(), Position::of(&r));
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        // Not seen after all: the next poll reads them again
                        // (what was sent is not sent twice).
                        for l in &new {
                            seen.remove(&(l.store, l.key.clone()));
                        }
                        app.metrics.follow_errors.inc();
                        tracing::warn!(tool = %index.tool, job = %index.job, error = %e, "follow: read failed");
                        write_warnings(
                            &mut buf,
                            &[format!("reading new objects failed ({e}); trying again")],
                            req.format,
                        );
                        break;
                    }
                }
            }
            app.metrics.read(&rd.stats);
            write_warnings(&mut buf, &rd.warnings, req.format);
        }
        app.metrics.served(lines, bytes);
        if buf.is_empty() && last_send.elapsed() >= s.follow_heartbeat {
            buf.push(b'\n');
        }
        if !buf.is_empty() {
            last_send = Instant::now();
            if !flush(tx, &mut buf, true).await {
                return;
            }
        }
    }
}
