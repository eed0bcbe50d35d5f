//! Reading a job's selected records: a JSON page, or the stored log
//! streamed through a [`Sink`] (then, with `follow`, what arrives).

use super::context::ContextRead;
use super::follow::follow;
use super::request::{LogsRequest, encode_cursor};
use super::sink::{Gone, Sent, Sink};
use crate::admission::{Ticket, Work};
use crate::api::state::AppState;
use crate::reply::ApiError;
use crate::wire::{LogLine, LogsResponse, Messages};
use afterlog_contract::time::rfc3339_nanos;
use afterlog_reader::counting::RequestCounts;
use afterlog_reader::index::Scope;
use afterlog_reader::job::JobIndex;
use afterlog_reader::{
    JobLog, JobReader, Limit, LogRecord, Position, QuotaEvent, Selection, StoreError, read_tail,
};

/// One record as JSON pages show it.
pub fn log_line(r: LogRecord) -> LogLine {
    // A marker replaced a dropped line: its words are the line. A drop
    // summary rides on a real line, which stays; its words go beside it.
    let (log, event, event_text) = match r.event {
        Some(e @ QuotaEvent::Exceeded { .. }) => (e.to_string(), Some(e.name().to_string()), None),
        Some(e @ QuotaEvent::Dropped { .. }) => (
            r.log().into_owned(),
            Some(e.name().to_string()),
            Some(e.to_string()),
        ),
        None => (r.log().into_owned(), None, None),
    };
    let k8s_event = r.is_k8s_event().then(|| k8s_event_of(&r)).flatten();
    LogLine {
        time: rfc3339_nanos(r.ts),
        ts: r.ts,
        pod: r.pod,
        container: r.container,
        stream: r.stream,
        log,
        event,
        event_text,
        k8s_event,
        context: false,
        break_before: false,
    }
}

/// The `k8s_event` member of an event's stored line.
fn k8s_event_of(r: &LogRecord) -> Option<serde_json::Value> {
    #[derive(serde::Deserialize)]
    struct Wire {
        k8s_event: Option<serde_json::Value>,
    }
    serde_json::from_slice::<Wire>(&r.line).ok()?.k8s_event
}

/// A tail of `index`; if the scope it was loaded with left out older days
/// and the tail is short (a filter selects few of the newest lines), the
/// whole window is loaded and read again.
async fn tail_of(
    app: &AppState,
    index: &JobIndex,
    req: &LogsRequest,
    n: usize,
) -> Result<JobLog, StoreError> {
    let stores = app.classes.stores().clone();
    let log = read_tail(stores.clone(), index, req.filter.clone(), n).await?;
    if log.records.len() >= n || !index.partial {
        return Ok(log);
    }
    let whole = JobIndex::load_scoped(
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
fn log_cost(app: &AppState, index: &JobIndex, before: &RequestCounts, lines: u64) {
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

/// A JSON page: a head, a tail, or the page after a cursor.
pub async fn json_page(
    app: &AppState,
    index: JobIndex,
    req: LogsRequest,
    before: RequestCounts,
) -> Result<LogsResponse, ApiError> {
    if req.context > 0
        && let Some(page) = context_page(app, &index, &req, &before).await?
    {
        return Ok(page);
    }
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
    log_cost(app, &index, &before, records.len() as u64);
    let bytes: u64 = records.iter().map(|r| r.log_len as u64).sum();
    app.metrics.served(records.len() as u64, bytes);
    Ok(LogsResponse {
        messages: Messages::warnings(warnings),
        logs: records.into_iter().map(log_line).collect(),
        next_cursor: next,
    })
}

/// Most lines of a JSON page with context: a head or tail of matches, or
/// a page's last group finished.
const CONTEXT_PAGE_MAX: usize = 2 * super::request::MAX_PAGE;

/// A JSON page of a read with context: its matches and the lines around
/// them; `limit` counts both, a head or tail the matches.
async fn context_page(
    app: &AppState,
    index: &JobIndex,
    req: &LogsRequest,
    before: &RequestCounts,
) -> Result<Option<LogsResponse>, ApiError> {
    let Some(mut rd) = ContextRead::open(app, index, req)
        .await
        .map_err(ApiError::store)?
    else {
        return Ok(None);
    };
    let page = match req.filter.limit {
        Limit::All => req.page,
        _ => CONTEXT_PAGE_MAX,
    };
    let mut lines = Vec::new();
    let mut last = None;
    let mut bytes = 0;
    // A page ends where a group does: the next one starts afresh.
    while (lines.len() < page || !rd.settled())
        && lines.len() < CONTEXT_PAGE_MAX
        && let Some(s) = rd.next().await.map_err(ApiError::store)?
    {
        bytes += s.line.log_len as u64;
        last = Some(Position::of(&s.line));
        let mut l = log_line(s.line);
        l.context = !s.is_match;
        l.break_before = s.break_before;
        lines.push(l);
    }
    let more = matches!(req.filter.limit, Limit::All)
        && lines.len() >= page
        && rd.next().await.map_err(ApiError::store)?.is_some();
    let cut = !matches!(req.filter.limit, Limit::All) && lines.len() >= CONTEXT_PAGE_MAX;
    let (mut warnings, stats) = rd.finish();
    if cut {
        warnings.push(format!(
            "the page holds at most {CONTEXT_PAGE_MAX} lines, matches and context: ask for fewer with head or tail, or stream with format=ndjson"
        ));
    }
    app.metrics.read(&stats);
    log_cost(app, index, before, lines.len() as u64);
    app.metrics.served(lines.len() as u64, bytes);
    Ok(Some(LogsResponse {
        messages: Messages::warnings(warnings),
        logs: lines,
        next_cursor: if more {
            last.map(|p| encode_cursor(&p))
        } else {
            None
        },
    }))
}

/// Streams a read with context into `out`, `--` between groups.
async fn send_with_context(
    app: &AppState,
    index: &JobIndex,
    req: &LogsRequest,
    out: &mut Sink,
) -> Result<Option<Vec<String>>, Option<Gone>> {
    let failed = |e| broke_off(app, e);
    let Some(mut rd) = ContextRead::open(app, index, req).await.map_err(failed)? else {
        return Ok(None);
    };
    loop {
        match rd.next().await {
            Ok(Some(s)) => {
                if s.break_before {
                    out.context_break();
                }
                out.record(&s.line);
                out.flush(false).await.map_err(Some)?;
            }
            Ok(None) => break,
            Err(e) => return Err(failed(e)),
        }
    }
    let (warnings, stats) = rd.finish();
    app.metrics.read(&stats);
    Ok(Some(warnings))
}

/// A stream the store broke off midway: logged and counted; `None` tells
/// the caller it was the store, not the client.
fn broke_off(app: &AppState, e: StoreError) -> Option<Gone> {
    tracing::error!(error = %e, "read failed mid-stream");
    app.metrics.stream_failures.inc();
    None
}

/// What the body says when the store fails during a read.
const BROKEN: &str = "the log store failed during the read; the output is incomplete";

/// Writes the stored records of the request into `out`: its warnings, or
/// the store's failure (`Err(None)`) or the client gone (`Err(Some)`).
async fn send_stored(
    app: &AppState,
    index: &JobIndex,
    req: &LogsRequest,
    out: &mut Sink,
    sent: &mut Sent,
) -> Result<Vec<String>, Option<Gone>> {
    if req.context > 0
        && let Some(warnings) = send_with_context(app, index, req, out).await?
    {
        return Ok(warnings);
    }
    let failed = |e| broke_off(app, e);
    if let Limit::Tail(n) = req.filter.limit {
        let log = tail_of(app, index, req, n).await.map_err(failed)?;
        app.metrics.read(&log.stats);
        for r in &log.records {
            out.record(r);
            if req.follow {
                sent.note(r);
            }
            out.flush(false).await.map_err(Some)?;
        }
        return Ok(log.warnings);
    }
    let mut rd = JobReader::new(app.classes.stores().clone(), index, req.filter.clone());
    let result = loop {
        match rd.next().await {
            Ok(Some(r)) => {
                out.record(&r);
                if req.follow {
                    sent.note(&r);
                }
                if let Err(gone) = out.flush(false).await {
                    break Err(Some(gone));
                }
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(failed(e)),
        }
    };
    app.metrics.read(&rd.stats);
    result.map(|()| rd.warnings)
}

/// Streams the selected records, then (with `follow`) what arrives later.
pub async fn stream_logs(
    app: &AppState,
    index: JobIndex,
    req: LogsRequest,
    mut out: Sink,
    before: RequestCounts,
    ticket: Option<&mut Ticket>,
) {
    let mut sent = Sent::default();
    let stored = send_stored(app, &index, &req, &mut out, &mut sent).await;
    let lines = out.count_served(&app.metrics);
    let warnings = match stored {
        Ok(w) => w,
        Err(Some(Gone)) => return,
        Err(None) => return out.fail(BROKEN).await,
    };
    out.warnings(&warnings);
    log_cost(app, &index, &before, lines);
    if out.flush(true).await.is_err() || !req.follow {
        return;
    }
    if let Some(t) = ticket {
        t.shrink_to(app.admission.share(Work::Follow));
    }
    follow(app, &index, &req, out, sent).await;
}
