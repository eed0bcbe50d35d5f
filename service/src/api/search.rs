//! `GET /v1/tool/{tool}/search`: the lines of all a tool's jobs (or the
//! named ones) that match a line filter, newest or oldest first.
//!
//! Each job is read on its own, several at once, only within
//! `since`/`until` (its index loads only the days of the window); each
//! gives at most `limit` matches, and the matches of all jobs are ordered
//! by `(time, job, position)` and cut at `limit`. A page's cursor is its
//! last match's place in that order.

use super::extract::{ApiQuery, ToolAccess, ToolPath};
use super::load::{job_index, tool_jobs};
use super::logs::request::{line_match, parse_time};
use super::openapi::{self, Busy, Missing, ToolErrors};
use super::state::App;
use crate::admission::Work;
use crate::clock::now_ns;
use crate::reply::ApiError;
use crate::wire::{ErrorBody, Messages, SearchMatch, SearchResponse};
use afterlog_contract::query::Format;
use afterlog_reader::index::Scope;
use afterlog_reader::job::RAW_SLACK_NS;
use afterlog_reader::{JobReader, Limit, LineMatch, LogRecord, Position, Selection, read_tail};
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::StreamExt;
use serde::Deserialize;
use std::cmp::Ordering;
use utoipa::IntoParams;

/// Most matches one search returns.
pub const MAX_MATCHES: usize = 10_000;
const DEFAULT_MATCHES: usize = 100;
/// Jobs read at once: enough to keep both cores and the store busy.
const JOBS_AT_ONCE: usize = 4;

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
        let time = |what, v: &Option<String>| {
            v.as_deref()
                .map(|v| parse_time(what, v, now_ns))
                .transpose()
        };
        let (since, until) = (time("since", &self.since)?, time("until", &self.until)?);
        if let (Some(s), Some(u)) = (since, until)
            && s >= u
        {
            return Err(ApiError::bad_request("since must be before until"));
        }
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
    let _ticket = app
        .admission
        .admit(Some(&who.name), Work::Read)
        .await
        .map_err(|e| ApiError::too_many(e.to_string(), e.retry_after()))?;
    let listed = tool_jobs(&app, &tool).await?;
    let mut warnings: Vec<String> = s
        .jobs
        .iter()
        .filter(|j| !listed.iter().any(|l| l.job == **j))
        .map(|j| format!("job {j:?}: no logs stored"))
        .collect();
    // A listing's times of raw objects are upload times: a record may be
    // older than its upload, or up to the slack newer. So only a job that
    // ended before `since` is surely outside the window; the job's index
    // narrows the rest.
    let ended_before = |last: Option<u64>| {
        s.since
            .is_some_and(|since| last.is_some_and(|l| l.saturating_add(RAW_SLACK_NS) < since))
    };
    let jobs: Vec<String> = listed
        .iter()
        .filter(|j| s.jobs.is_empty() || s.jobs.contains(&j.job))
        .filter(|j| !ended_before(j.summary.last_ns))
        .map(|j| j.job.clone())
        .collect();
    // One more than asked for tells whether a next page exists.
    let want = s.limit + 1;
    let per_job: Vec<Result<JobMatches, ApiError>> = futures::stream::iter(jobs)
        .map(|job| {
            let (app, tool, s) = (&app, &tool, &s);
            async move {
                let (records, w) = job_matches(app, tool, &job, s, want).await?;
                Ok((job, records, w))
            }
        })
        .buffer_unordered(JOBS_AT_ONCE)
        .collect()
        .await;
    let mut found: Vec<(Place, LogRecord)> = Vec::new();
    for r in per_job {
        let (job, records, w) = r?;
        warnings.extend(w);
        found.extend(
            records
                .into_iter()
                .map(|r| (Place::of(&job, &r), r))
                .filter(|(p, _)| s.past_cursor(p)),
        );
    }
    if s.newest {
        found.sort_by(|a, b| b.0.cmp(&a.0));
    } else {
        found.sort_by(|a, b| a.0.cmp(&b.0));
    }
    let more = found.len() > s.limit;
    found.truncate(s.limit);
    let next_cursor = more
        .then(|| found.last().map(|(p, _)| p.encode()))
        .flatten();
    let bytes: u64 = found.iter().map(|(_, r)| r.log_len as u64).sum();
    app.metrics.served(found.len() as u64, bytes);
    let matches: Vec<SearchMatch> = found
        .into_iter()
        .map(|(p, r)| search_match(p.job, r))
        .collect();
    Ok(match s.format {
        Format::Json => Json(SearchResponse {
            messages: Messages::warnings(warnings),
            matches,
            next_cursor,
        })
        .into_response(),
        Format::Ndjson => {
            let mut body = String::new();
            for m in &matches {
                body.push_str(&serde_json::to_string(m).unwrap_or_default());
                body.push('\n');
            }
            if !warnings.is_empty() {
                let end = ErrorBody {
                    messages: Messages::warnings(warnings),
                };
                body.push_str(&serde_json::to_string(&end).unwrap_or_default());
                body.push('\n');
            }
            ([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response()
        }
        Format::Text => {
            let mut body = String::new();
            for m in &matches {
                body.push_str(&format!(
                    "{} {}/{}/{}: {}\n",
                    m.time, m.job, m.run, m.container, m.log
                ));
            }
            for w in &warnings {
                body.push_str(&format!("[afterlog] warning: {w}\n"));
            }
            ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
        }
    })
}

/// A job, its matches, and what its read skipped.
type JobMatches = (String, Vec<LogRecord>, Vec<String>);

/// Up to `n` matches of one job in the search's order, oldest first
/// (the caller orders all jobs' together), with what the read skipped.
async fn job_matches(
    app: &App,
    tool: &str,
    job: &str,
    s: &Search,
    n: usize,
) -> Result<(Vec<LogRecord>, Vec<String>), ApiError> {
    let selection = s.selection();
    let index = match job_index(app, tool, job, Scope::of_selection(&selection)).await {
        Ok(ix) => ix,
        // Gone since the listing (retention, deletion): nothing to find.
        Err(e) if e.status == axum::http::StatusCode::NOT_FOUND => {
            return Ok((Vec::new(), Vec::new()));
        }
        Err(e) => return Err(e),
    };
    let stores = app.classes.stores().clone();
    if s.newest {
        let log = read_tail(stores, &index, selection, n)
            .await
            .map_err(ApiError::store)?;
        app.metrics.read(&log.stats);
        return Ok((log.records, log.warnings));
    }
    let mut rd = JobReader::new(
        stores,
        &index,
        Selection {
            limit: Limit::Head(n),
            ..selection
        },
    );
    let mut records = Vec::new();
    while let Some(r) = rd.next().await.map_err(ApiError::store)? {
        records.push(r);
    }
    app.metrics.read(&rd.stats);
    Ok((records, rd.warnings))
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
