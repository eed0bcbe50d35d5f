//! Pushed lines made a raw object, without I/O: the body parsed, each line
//! checked, cut to the line limit and labelled as the filter labels a
//! container's records, in the layout Fluent Bit writes (docs/design.md §3).

use crate::reply::ApiError;
use crate::wire::PushedLine;
use afterlog_contract::layout::Origin;
use afterlog_contract::query::{Source, Stream};
use afterlog_contract::record::truncation_marker;
use afterlog_contract::time::parse_rfc3339_clamped;

/// Longest pushed line kept whole, as the filter's default line limit.
pub const LINE_LIMIT: usize = 16 * 1024;

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
        Some(serde_json::Value::String(s)) => parse_rfc3339_clamped(s.as_bytes()).ok_or_else(bad),
        Some(_) => Err(bad()),
    }
}

/// Cuts `s` to the line limit at a character boundary, with the marker;
/// `true` if it was cut.
fn cut(mut s: String) -> (String, bool) {
    if s.len() <= LINE_LIMIT {
        return (s, false);
    }
    let mut at = LINE_LIMIT;
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    let n = s.len() - at;
    s.truncate(at);
    s.push_str(&truncation_marker(n));
    (s, true)
}

/// One pushed line, checked.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Line {
    ts: u64,
    /// Its place in the push.
    off: usize,
    stream: Stream,
    log: String,
}

/// Who pushed which lines where, and what they become.
#[derive(Debug, Clone)]
pub struct Push<'a> {
    pub tool: &'a str,
    pub job: &'a str,
    pub source: Source,
    /// When the push arrived: the time of lines that give none.
    pub now: u64,
    /// The push's own id: its object's and its container instance's.
    pub id: &'a str,
}

/// A push made an object, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushObject {
    pub key: String,
    /// NDJSON, not compressed yet.
    pub body: Vec<u8>,
    /// Lines stored.
    pub lines: usize,
    /// Lines over [`LINE_LIMIT`], stored cut.
    pub cut: usize,
}

impl Push<'_> {
    /// Builds the stored records (sorted, as one upload) and their object
    /// key; 400 for a line that is not one, or for no lines at all.
    pub fn build(&self, lines: Vec<PushedLine>) -> Result<PushObject, ApiError> {
        let mut recs = Vec::with_capacity(lines.len());
        let mut cuts = 0;
        for (i, l) in lines.into_iter().enumerate() {
            let stream = match l.stream.as_deref() {
                None => Stream::default(),
                Some(s) => s.parse().map_err(|_| {
                    ApiError::bad_request(format!(
                        "line {}: stream must be stdout or stderr",
                        i + 1
                    ))
                })?,
            };
            let (log, was_cut) = cut(l.log);
            cuts += usize::from(was_cut);
            recs.push(Line {
                ts: line_ts(i, &l.ts, self.now)?,
                off: i,
                stream,
                log,
            });
        }
        recs.sort();
        let Some(first) = recs.first() else {
            return Err(ApiError::bad_request("no lines in the body"));
        };
        let first_secs = (first.ts / 1_000_000_000) as i64;
        let source = self.source.as_str();
        let pod = format!("@{source}");
        let origin = Origin {
            tool: self.tool.to_string(),
            job: self.job.to_string(),
            pod: pod.clone(),
            container: source.to_string(),
        };
        // Stored in the default class's store (see `push_logs`), and labelled so.
        let class = afterlog_contract::routing::DEFAULT_CLASS;
        let route = origin.class_route(class);
        // Each push is its own container instance: identities never collide
        // with another push, and `off` keeps a push's own order.
        let container_id = format!("{source}-{}", self.id);
        let mut body = Vec::new();
        for Line {
            ts,
            off,
            stream,
            log,
        } in &recs
        {
            let v = serde_json::json!({
                "ts": ts, "off": off, "stream": stream.as_str(), "log": log,
                "afterlog": {
                    "tool": self.tool, "job": self.job, "kind": source, "namespace": "",
                    "pod": pod, "container": source, "container_id": container_id,
                    "node": "", "route": route, "class": class,
                }
            });
            serde_json::to_writer(&mut body, &v)
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
            body.push(b'\n');
        }
        Ok(PushObject {
            key: origin.raw_key(first_secs, self.id),
            body,
            lines: recs.len(),
            cut: cuts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push() -> Push<'static> {
        Push {
            tool: "t",
            job: "j",
            source: Source::Custom,
            now: 5_000_000_000,
            id: "id",
        }
    }

    fn line(log: &str, stream: Option<&str>) -> PushedLine {
        PushedLine {
            log: log.into(),
            stream: stream.map(String::from),
            ts: None,
        }
    }

    #[test]
    fn long_lines_are_cut_and_counted_and_no_lines_is_refused() {
        let long = "x".repeat(LINE_LIMIT + 10);
        let o = push()
            .build(vec![line("a", None), line(&long, Some("stderr"))])
            .unwrap();
        assert_eq!((o.lines, o.cut), (2, 1));
        assert!(o.key.starts_with("raw/t/j/"), "{}", o.key);
        let e = push().build(Vec::new()).unwrap_err();
        assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST);
        let e = push().build(vec![line("a", Some("out"))]).unwrap_err();
        assert_eq!(e.message, "line 1: stream must be stdout or stderr");
    }
}
