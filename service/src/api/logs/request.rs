//! A logs request checked and planned, without I/O: its parameters against
//! each other, what part of the job's index it needs, and whether it is
//! heavy enough to wait for a share of the memory budget.

use crate::admission::Work;
use crate::api::extract::check_name;
use crate::api::openapi;
use crate::reply::ApiError;
use afterlog_contract::query::{Events, Format, Stream};
use afterlog_contract::time::parse_rfc3339_clamped;
use afterlog_reader::index::Scope;
use afterlog_reader::job::{JobIndex, RunSummary};
use afterlog_reader::{Limit, LineFilter, LineMatch, Position, Selection};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use utoipa::IntoParams;

/// Most records one JSON page or one tail returns.
pub const MAX_PAGE: usize = 10_000;
pub const DEFAULT_PAGE: usize = 1_000;
/// Largest `tail`: the tail is held in memory before it is sent.
pub const MAX_TAIL: usize = 100_000;
/// Tails and heads up to this many lines are cheap: never queued.
pub const SMALL_READ: usize = 1000;
/// Most lines of `context` around each match.
pub const MAX_CONTEXT: usize = 100;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LogsQuery {
    /// One run: a pod name, or `latest` for the run that started last.
    #[param(schema_with = openapi::run)]
    pub run: Option<String>,
    /// One container of the pod(s).
    #[param(schema_with = openapi::name)]
    pub container: Option<String>,
    /// `stdout` or `stderr` (container lines only: no Kubernetes events).
    #[param(schema_with = openapi::stream)]
    pub stream: Option<String>,
    /// The job's Kubernetes events (container `@events`): `include`
    /// (default: inline with the container lines), `only` or `none`.
    #[param(schema_with = openapi::events)]
    pub events: Option<String>,
    /// Records at or after: RFC 3339 (`2026-11-25T15:00:00Z`), ns since the
    /// epoch, or an age such as `90s`, `15m`, `2h`, `7d`.
    #[param(schema_with = openapi::time)]
    pub since: Option<String>,
    /// Records before (same forms as `since`); after `since`.
    #[param(schema_with = openapi::time)]
    pub until: Option<String>,
    /// The first N records (not with `tail`, `follow` or `cursor`; with
    /// `format=json` at most 10000).
    #[param(schema_with = openapi::head)]
    pub head: Option<usize>,
    /// The last N records (at most 100000; not with `head` or `cursor`;
    /// with `format=json` at most 10000).
    #[param(schema_with = openapi::tail)]
    pub tail: Option<usize>,
    /// `json` (default: a page), `ndjson` (stored records, streamed) or
    /// `text` (one readable line per record, streamed).
    #[param(schema_with = openapi::format)]
    pub format: Option<String>,
    /// JSON page size (default 1000, at most 10000); `format=json` only.
    #[param(schema_with = openapi::page)]
    pub limit: Option<usize>,
    /// JSON: the `next_cursor` of the previous page (not with `head` or `tail`).
    #[param(schema_with = openapi::cursor)]
    pub cursor: Option<String>,
    /// `ndjson`/`text`: keep streaming records as they arrive (not with
    /// `until` or `head`). Empty lines are heartbeats.
    #[param(schema_with = openapi::boolean)]
    pub follow: Option<bool>,
    /// Lines whose text contains this; repeatable, all must occur.
    #[serde(default)]
    #[param(schema_with = openapi::grep)]
    pub grep: Vec<String>,
    /// Lines whose text matches this regular expression (Rust `regex`
    /// syntax).
    #[param(schema_with = openapi::regex)]
    pub regex: Option<String>,
    /// `grep` and `regex` ignore case.
    #[param(schema_with = openapi::boolean)]
    pub ignore_case: Option<bool>,
    /// Lines that do not match `grep` and `regex`.
    #[param(schema_with = openapi::boolean)]
    pub invert: Option<bool>,
    /// Lines before and after each match (at most 100), as `grep -C`.
    #[param(schema_with = openapi::context)]
    pub context: Option<usize>,
}

/// Which run a request reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Run {
    /// The run that started last.
    Latest,
    /// A pod by name.
    Pod(String),
}

/// A checked request.
#[derive(Debug, Clone)]
pub struct LogsRequest {
    pub filter: Selection,
    pub run: Option<Run>,
    pub format: Format,
    pub page: usize,
    pub follow: bool,
    /// Lines shown around each match of `filter.lines`.
    pub context: usize,
}

/// Parses `since`/`until`: a time, ns since the epoch, or an age (the
/// forms of [`openapi::time`]). Bounds beyond what ns since the epoch hold
/// are the start or the end of time, not mistakes.
pub fn parse_time(what: &str, v: &str, now_ns: u64) -> Result<u64, ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "{what}={v:?}: expected RFC 3339 (2026-11-25T15:00:00Z), nanoseconds since the epoch, or an age such as 15m, 2h, 7d"
        ))
    };
    if let Some(t) = parse_rfc3339_clamped(v.as_bytes()) {
        return Ok(t);
    }
    let count = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().unwrap_or(u64::MAX))
    };
    if let Some(ns) = count(v) {
        return Ok(ns);
    }
    let Some(unit) = v.chars().last() else {
        return Err(bad());
    };
    let n = count(&v[..v.len() - unit.len_utf8()]).ok_or_else(bad)?;
    let secs = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return Err(bad()),
    };
    let ago = n.saturating_mul(secs).saturating_mul(1_000_000_000);
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

/// A query value of a closed set, or 400 saying which values it takes.
pub fn word<T: std::str::FromStr<Err = afterlog_contract::query::BadValue>>(
    v: Option<&str>,
) -> Result<Option<T>, ApiError> {
    v.map(|s| s.parse::<T>())
        .transpose()
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

/// `since`/`until` of a request, each checked, and one before the other.
pub fn window(
    since: Option<&str>,
    until: Option<&str>,
    now_ns: u64,
) -> Result<(Option<u64>, Option<u64>), ApiError> {
    let time = |what, v: Option<&str>| v.map(|v| parse_time(what, v, now_ns)).transpose();
    let (since, until) = (time("since", since)?, time("until", until)?);
    if let (Some(s), Some(u)) = (since, until)
        && s >= u
    {
        return Err(ApiError::bad_request("since must be before until"));
    }
    Ok((since, until))
}

/// The line filter of a query's `grep`, `regex`, `ignore_case` and
/// `invert`, compiled; `None` if it names none.
pub fn line_match(
    grep: &[String],
    regex: Option<&str>,
    ignore_case: Option<bool>,
    invert: Option<bool>,
) -> Result<Option<LineMatch>, ApiError> {
    let spec = LineFilter {
        grep: grep.to_vec(),
        regex: regex.map(str::to_string),
        ignore_case: ignore_case.unwrap_or(false),
        invert: invert.unwrap_or(false),
    };
    if spec.is_empty() {
        if spec.ignore_case || spec.invert {
            return Err(ApiError::bad_request(
                "ignore_case and invert apply to grep or regex; give one",
            ));
        }
        return Ok(None);
    }
    LineMatch::new(&spec)
        .map(Some)
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

/// `head`/`tail` of a query.
fn limit_of(head: Option<usize>, tail: Option<usize>) -> Result<Limit, ApiError> {
    match (head, tail) {
        (Some(_), Some(_)) => Err(ApiError::bad_request("head and tail exclude each other")),
        (Some(n), None) => Ok(Limit::Head(n)),
        (None, Some(n)) if n > MAX_TAIL => Err(ApiError::bad_request(format!(
            "tail={n}: at most {MAX_TAIL}"
        ))),
        (None, Some(n)) => Ok(Limit::Tail(n)),
        (None, None) => Ok(Limit::All),
    }
}

impl LogsQuery {
    /// Checks the parameters against each other; `now_ns` anchors ages.
    pub fn check(self, now_ns: u64) -> Result<LogsRequest, ApiError> {
        let format: Format = word(self.format.as_deref())?.unwrap_or_default();
        let stream: Option<Stream> = word(self.stream.as_deref())?;
        let events: Events = word(self.events.as_deref())?.unwrap_or_default();
        if let Some(r) = &self.run {
            check_name("run", r)?;
        }
        if let Some(c) = &self.container {
            check_name("container", c)?;
        }
        let (since, until) = window(self.since.as_deref(), self.until.as_deref(), now_ns)?;
        let limit = limit_of(self.head, self.tail)?;
        let json = format == Format::Json;
        let follow = self.follow.unwrap_or(false);
        if follow && json {
            return Err(ApiError::bad_request(
                "follow needs format=ndjson or format=text",
            ));
        }
        if follow && (until.is_some() || matches!(limit, Limit::Head(_))) {
            return Err(ApiError::bad_request(
                "follow cannot be combined with until or head",
            ));
        }
        let page = match self.limit {
            Some(n) if n == 0 || n > MAX_PAGE => {
                return Err(ApiError::bad_request(format!(
                    "limit={n}: expected 1 to {MAX_PAGE}"
                )));
            }
            Some(_) if !json => {
                return Err(ApiError::bad_request("limit applies to format=json only"));
            }
            Some(n) => n,
            None => DEFAULT_PAGE,
        };
        let after = match &self.cursor {
            Some(_) if !json => {
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
        if json && matches!(limit, Limit::Head(n) | Limit::Tail(n) if n > MAX_PAGE) {
            return Err(ApiError::bad_request(format!(
                "format=json returns at most {MAX_PAGE} records; page with cursor, or stream with format=ndjson"
            )));
        }
        let lines = line_match(
            &self.grep,
            self.regex.as_deref(),
            self.ignore_case,
            self.invert,
        )?;
        let context = self.context.unwrap_or(0);
        if context > MAX_CONTEXT {
            return Err(ApiError::bad_request(format!(
                "context={context}: at most {MAX_CONTEXT}"
            )));
        }
        if context > 0 && lines.is_none() {
            return Err(ApiError::bad_request(
                "context shows lines around matches: give grep or regex",
            ));
        }
        if context > 0 && follow {
            return Err(ApiError::bad_request(
                "context cannot be combined with follow; follow the matches alone",
            ));
        }
        Ok(LogsRequest {
            filter: Selection {
                pods: Vec::new(),
                container: self.container,
                stream: stream.map(|s| s.to_string()),
                events,
                since,
                until,
                after,
                before: None,
                lines,
                hidden: Default::default(),
                limit,
            },
            context,
            run: self.run.map(|r| match r.as_str() {
                "latest" => Run::Latest,
                _ => Run::Pod(r),
            }),
            format,
            page,
            follow,
        })
    }
}

impl LogsRequest {
    /// The share of the memory budget the request needs, if it is heavy:
    /// follows, and streamed reads beyond a small head or tail. JSON pages
    /// hold at most [`MAX_PAGE`] records and the index, like job lists and
    /// health checks. A follow that first sends more than a small tail
    /// takes a read's share, and keeps a follow's once the stored log is
    /// sent.
    pub fn work(&self) -> Option<Work> {
        // A stream is not known before the lines are read: a tail of stderr
        // may read the whole job to find its few lines.
        let narrow = self.filter.stream.is_none()
            && self.filter.events == Events::Include
            && self.filter.lines.is_none();
        let small = narrow
            && matches!(self.filter.limit, Limit::Head(n) | Limit::Tail(n) if n <= SMALL_READ);
        match (self.format, self.follow) {
            (_, true) if small => Some(Work::Follow),
            // The stored log first: a read's share until it is sent.
            (_, true) => Some(Work::Read),
            (Format::Json, _) if narrow => None,
            _ if small => None,
            _ => Some(Work::Read),
        }
    }

    /// The part of a job's index the request needs: its time window; for a
    /// tail, the newest days that hold enough lines; for the latest run,
    /// the newest day's runs; a named run can be on any day.
    pub fn scope(&self) -> Scope {
        let window = Scope::of_selection(&self.filter);
        match (&self.run, self.filter.limit) {
            (Some(Run::Pod(_)), _) => window,
            (Some(Run::Latest), _) => Scope {
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
}

/// The run that started last, leaving out pushed logs (their "pods" are
/// sources, not runs).
pub fn latest_run(index: &JobIndex) -> Option<RunSummary> {
    index
        .runs()
        .into_iter()
        .rev()
        .find(|r| !r.pod.starts_with('@'))
}

/// Whether `index` holds run (pod) `pod`.
pub fn has_run(index: &JobIndex, pod: &str) -> bool {
    index.objects.iter().any(|l| l.parsed.origin.pod == pod) || index.pod_info(pod).is_some()
}
