//! `GET /v1/tool/{tool}/search`: the lines of all a tool's jobs (or the
//! named ones) that match a line filter, newest or oldest first.
//!
//! The window `since`/`until` is searched in time windows from the end the
//! order starts at ([`slices`]), each wider than the one before; in each,
//! the jobs that may hold lines there are read several at once (each job's
//! index loaded once, for the days of the whole window), and their matches
//! ordered by `(time, job, position)` ([`run`]). Streamed formats send each
//! window's matches as soon as it is read and stop at `limit` or when the
//! client leaves. A page's cursor is its last match's place in that order.

mod run;
mod slices;

use super::extract::{ApiQuery, ToolAccess, ToolPath};
use super::load::tool_jobs;
use super::logs::request::{line_match, window, word};
use super::logs::sink::Sink;
use super::openapi::{self, Busy, Missing, ToolErrors};
use super::state::App;
use crate::admission::Work;
use crate::clock::now_ns;
use crate::reply::ApiError;
use crate::wire::{Messages, SearchMatch, SearchResponse};
use afterlog_contract::query::{Events, Format};
use afterlog_reader::{LineMatch, LogRecord, Position, Selection};
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use run::{Found, JobAt, SearchRun};
use serde::Deserialize;
use std::cmp::Ordering;
use tokio::sync::mpsc;
use utoipa::IntoParams;

/// Most matches one search returns.
pub const MAX_MATCHES: usize = 10_000;
const DEFAULT_MATCHES: usize = 100;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Lines whose text contains this; repeatable, all must occur.
    #[serde(default)]
    #[param(schema_with = openapi::grep)]
    pub grep: Vec<String>,
    /// Lines whose text matches this regular expression (Rust `regex` syntax).
    #[param(schema_with = openapi::regex)]
    pub regex: Option<String>,
    /// `grep` and `regex` ignore case.
    #[param(schema_with = openapi::boolean)]
    pub ignore_case: Option<bool>,
    /// Lines at or after (same forms as the logs' `since`).
    #[param(schema_with = openapi::time)]
    pub since: Option<String>,
    /// Lines before.
    #[param(schema_with = openapi::time)]
    pub until: Option<String>,
    /// The jobs' Kubernetes events: `include` (default), `only` or `none`.
    #[param(schema_with = openapi::events)]
    pub events: Option<String>,
    /// Only these jobs; repeatable. Default: all the tool's jobs.
    #[serde(default)]
    #[param(schema_with = openapi::names)]
    pub job: Vec<String>,
    /// `newest` (default) or `oldest` first.
    #[param(schema_with = openapi::order)]
    pub order: Option<String>,
    /// Most matches (default 100, at most 10000).
    #[param(schema_with = openapi::matches)]
    pub limit: Option<usize>,
    /// `json` (default: a page), `ndjson` or `text`.
    #[param(schema_with = openapi::format)]
    pub format: Option<String>,
    /// JSON: the `next_cursor` of the previous page.
    #[param(schema_with = openapi::cursor)]
    pub cursor: Option<String>,
}

/// A checked search.
struct Search {
    lines: LineMatch,
    events: Events,
    since: Option<u64>,
    until: Option<u64>,
    jobs: Vec<String>,
    newest: bool,
    limit: usize,
    format: Format,
    after: Option<Place>,
}

/// A match's place in a search's order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Place {
    ts: u64,
    job: String,
    pos: Position,
}

impl Place {
    fn of(job: &str, r: &LogRecord) -> Place {
        Place {
            ts: r.ts,
            job: job.to_string(),
            pos: Position::of(r),
        }
    }

    fn encode(&self) -> String {
        let p = &self.pos;
        let v = serde_json::json!([self.ts, self.job, p.container_id, p.off, p.stream]);
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    fn decode(c: &str) -> Result<Place, ApiError> {
        let bad = || {
            ApiError::bad_request("invalid cursor: pass next_cursor of the previous page unchanged")
        };
        let raw = URL_SAFE_NO_PAD.decode(c.as_bytes()).map_err(|_| bad())?;
        let (ts, job, container_id, off, stream): (u64, String, String, Option<u64>, String) =
            serde_json::from_slice(&raw).map_err(|_| bad())?;
        Ok(Place {
            ts,
            job,
            pos: Position {
                ts,
                container_id,
                off,
                stream,
            },
        })
    }
}

impl SearchQuery {
    fn check(self, now_ns: u64) -> Result<Search, ApiError> {
        let lines = line_match(&self.grep, self.regex.as_deref(), self.ignore_case, None)?
            .ok_or_else(|| ApiError::bad_request("search needs grep or regex"))?;
        let (since, until) = window(self.since.as_deref(), self.until.as_deref(), now_ns)?;
        let events: Events = word(self.events.as_deref())?.unwrap_or_default();
        for j in &self.job {
            super::extract::check_name("job", j)?;
        }
        let newest = match self.order.as_deref() {
            None | Some("newest") => true,
            Some("oldest") => false,
            Some(o) => {
                return Err(ApiError::bad_request(format!(
                    "order={o:?}: expected newest or oldest"
                )));
            }
        };
        let limit = match self.limit {
            None => DEFAULT_MATCHES,
            Some(n) if (1..=MAX_MATCHES).contains(&n) => n,
            Some(n) => {
                return Err(ApiError::bad_request(format!(
                    "limit={n}: expected 1 to {MAX_MATCHES}"
                )));
            }
        };
        let format = self
            .format
            .as_deref()
            .map(str::parse::<Format>)
            .transpose()
            .map_err(|e| ApiError::bad_request(e.to_string()))?
            .unwrap_or_default();
        let after = match &self.cursor {
            Some(_) if format != Format::Json => {
                return Err(ApiError::bad_request("cursor applies to format=json only"));
            }
            Some(c) => Some(Place::decode(c)?),
            None => None,
        };
        Ok(Search {
            lines,
            events,
            since,
            until,
            jobs: self.job,
            newest,
            limit,
            format,
            after,
        })
    }
}

impl Search {
    /// Whether a match at `p` comes after the cursor, in the search's order.
    fn past_cursor(&self, p: &Place) -> bool {
        self.after.as_ref().is_none_or(|a| {
            let o = p.cmp(a);
            if self.newest {
                o == Ordering::Less
            } else {
                o == Ordering::Greater
            }
        })
    }

    /// `sel` of job `job` narrowed to what comes after the cursor in the
    /// search's order, `None` if nothing does: the cursor is exact, so a
    /// job's read never spends its share on what a page already sent.
    fn past_cursor_of(&self, job: &str, mut sel: Selection) -> Option<Selection> {
        let Some(a) = &self.after else {
            return Some(sel);
        };
        // Matches are ordered by (time, job, position).
        let at_or_after = |t: u64, sel: &mut Selection| sel.since = sel.since.max(Some(t));
        let before = |t: u64, sel: &mut Selection| {
            sel.until = Some(sel.until.map_or(t, |u| u.min(t)));
        };
        match (self.newest, job.cmp(a.job.as_str())) {
            (false, Ordering::Less) => at_or_after(a.ts.saturating_add(1), &mut sel),
            (false, Ordering::Equal) => {
                at_or_after(a.ts, &mut sel);
                sel.after = Some(a.pos.clone());
            }
            (false, Ordering::Greater) => at_or_after(a.ts, &mut sel),
            (true, Ordering::Less) => before(a.ts.saturating_add(1), &mut sel),
            (true, Ordering::Equal) => {
                before(a.ts.saturating_add(1), &mut sel);
                sel.before = Some(a.pos.clone());
            }
            (true, Ordering::Greater) => before(a.ts, &mut sel),
        }
        let empty = matches!((sel.since, sel.until), (Some(s), Some(u)) if s >= u);
        (!empty).then_some(sel)
    }

    /// What is read of one job: the window, narrowed to the cursor's side.
    fn selection(&self) -> Selection {
        let (mut since, mut until) = (self.since, self.until);
        if let Some(a) = &self.after {
            if self.newest {
                until = Some(until.map_or(a.ts + 1, |u| u.min(a.ts + 1)));
            } else {
                since = Some(since.map_or(a.ts, |s| s.max(a.ts)));
            }
        }
        Selection {
            since,
            until,
            events: self.events,
            lines: Some(self.lines.clone()),
            ..Selection::default()
        }
    }
}

/// Searches a tool's logs for lines that match.
#[utoipa::path(get, path = "/v1/tool/{tool}/search", tag = "logs",
    params(ToolPath, SearchQuery),
    responses(
        (status = 200, description = "format=json: a page of matches; format=ndjson: one match per line, and a final {\"messages\":…} line if anything was skipped; format=text: `<time> <job>/<run>/<container>: <line>`",
            content(
                (SearchResponse = "application/json"),
                ("application/x-ndjson"),
                ("text/plain"))),
        ToolErrors, Missing, Busy))]
pub async fn search(
    State(app): State<App>,
    ToolAccess { who, tool }: ToolAccess,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> Result<Response, ApiError> {
    let s = q.check(now_ns())?;
    let ticket = app
        .admission
        .admit(Some(&who.name), Work::Read)
        .await
        .map_err(|e| ApiError::too_many(e.to_string(), e.retry_after()))?;
    let listed = tool_jobs(&app, &tool).await?;
    let warnings: Vec<String> = s
        .jobs
        .iter()
        .filter(|j| !listed.iter().any(|l| l.job == **j))
        .map(|j| format!("job {j:?}: no logs stored"))
        .collect();
    let jobs: Vec<JobAt> = listed
        .iter()
        .filter(|j| s.jobs.is_empty() || s.jobs.contains(&j.job))
        .map(|j| JobAt {
            job: j.job.clone(),
            first_ns: j.summary.first_ns,
            // A raw key names its first record's time: its last record may
            // be as new as its upload.
            last_ns: j.summary.last_ns.max(
                j.summary
                    .last_upload_secs
                    .map(|u| (u.max(0) as u64 + 1).saturating_mul(1_000_000_000)),
            ),
        })
        .collect();
    if s.format == Format::Json {
        let page = json_page(&app, &tool, &s, jobs, warnings).await?;
        return Ok(Json(page).into_response());
    }
    let ctype = match s.format {
        Format::Text => "text/plain; charset=utf-8",
        _ => "application/x-ndjson",
    };
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let out = Sink::new(tx, s.format);
    crate::runtime::reads().spawn(async move {
        stream(&app, &tool, &s, jobs, warnings, out).await;
        drop(ticket);
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    Ok(([(header::CONTENT_TYPE, ctype)], body).into_response())
}

/// A JSON page: the first `limit` matches after the cursor.
async fn json_page(
    app: &App,
    tool: &str,
    s: &Search,
    jobs: Vec<JobAt>,
    mut warnings: Vec<String>,
) -> Result<SearchResponse, ApiError> {
    let mut run = SearchRun::new(app, tool, s, jobs);
    let mut found: Vec<Found> = Vec::new();
    while let Some(batch) = run.next_batch().await? {
        found.extend(batch);
    }
    warnings.append(&mut run.warnings);
    let more = found.len() > s.limit;
    found.truncate(s.limit);
    let next_cursor = more
        .then(|| found.last().map(|(p, _)| p.encode()))
        .flatten();
    let bytes: u64 = found.iter().map(|(_, r)| r.log_len as u64).sum();
    app.metrics.served(found.len() as u64, bytes);
    Ok(SearchResponse {
        messages: Messages::warnings(warnings),
        matches: found
            .into_iter()
            .map(|(p, r)| search_match(p.job, r))
            .collect(),
        next_cursor,
    })
}

/// Streams the matches a window at a time, until the limit, the end of
/// the window or the client leaving.
async fn stream(
    app: &App,
    tool: &str,
    s: &Search,
    jobs: Vec<JobAt>,
    warnings: Vec<String>,
    mut out: Sink,
) {
    let mut run = SearchRun::new(app, tool, s, jobs);
    let mut sent = 0;
    let mut bytes = 0;
    let result = loop {
        let batch = tokio::select! {
            b = run.next_batch() => b,
            () = out.closed() => break Ok(()),
        };
        match batch {
            Ok(Some(batch)) => {
                for (p, r) in batch.into_iter().take(s.limit - sent) {
                    sent += 1;
                    bytes += r.log_len as u64;
                    let m = search_match(p.job, r);
                    match s.format {
                        Format::Text => out.raw(
                            format!(
                                "{} {}/{}/{}: {}\n",
                                m.time, m.job, m.run, m.container, m.log
                            )
                            .as_bytes(),
                        ),
                        _ => {
                            out.raw(serde_json::to_string(&m).unwrap_or_default().as_bytes());
                            out.raw(b"\n");
                        }
                    }
                }
                // Each window's matches as soon as it is read.
                if out.flush(true).await.is_err() || sent >= s.limit {
                    break Ok(());
                }
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    app.metrics.served(sent as u64, bytes);
    let mut all = warnings;
    all.append(&mut run.warnings);
    match result {
        Ok(()) => {
            out.warnings(&all);
            let _ = out.flush(true).await;
        }
        Err(e) => {
            tracing::error!(error = %e.message, "search failed mid-stream");
            app.metrics.stream_failures.inc();
            out.fail(&e.message).await;
        }
    }
}

fn search_match(job: String, r: LogRecord) -> SearchMatch {
    let line = super::logs::read::log_line(r);
    SearchMatch {
        job,
        run: line.pod,
        container: line.container,
        stream: line.stream,
        time: line.time,
        ts: line.ts,
        log: line.log,
        k8s_event: line.k8s_event,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_order_pages() {
        let p = Place {
            ts: 5,
            job: "b".into(),
            pos: Position {
                ts: 5,
                container_id: "c".into(),
                off: Some(3),
                stream: "stdout".into(),
            },
        };
        assert_eq!(Place::decode(&p.encode()).unwrap(), p);
        assert!(Place::decode("nonsense").is_err());
        let q = SearchQuery {
            grep: vec!["x".into()],
            order: Some("oldest".into()),
            cursor: Some(p.encode()),
            ..SearchQuery::default()
        };
        let s = q.check(0).unwrap();
        let later = Place {
            job: "c".into(),
            ..p.clone()
        };
        assert!(s.past_cursor(&later));
        assert!(!s.past_cursor(&p));
        assert_eq!(s.selection().since, Some(5));
    }

    #[test]
    fn bad_searches_are_refused() {
        let check = |q: SearchQuery| q.check(0).err().map(|e| e.message);
        assert!(check(SearchQuery::default()).is_some());
        let grep = || vec!["x".to_string()];
        for q in [
            SearchQuery {
                grep: grep(),
                order: Some("up".into()),
                ..SearchQuery::default()
            },
            SearchQuery {
                grep: grep(),
                limit: Some(0),
                ..SearchQuery::default()
            },
            SearchQuery {
                regex: Some("(".into()),
                ..SearchQuery::default()
            },
            SearchQuery {
                grep: grep(),
                format: Some("ndjson".into()),
                cursor: Some("x".into()),
                ..SearchQuery::default()
            },
        ] {
            assert!(check(q).is_some());
        }
    }
}
