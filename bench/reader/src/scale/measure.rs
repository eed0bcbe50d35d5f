//! The requests `bench-scale` times, each on a fresh server: what came
//! back, what it cost the store, and what it should have been.

use super::data::{Generated, LINES_PER_RUN};
use super::stores::{self, Store};
use super::{Args, JobKind, TOOL, now_ns};
use crate::figures::median;
use crate::http;
use anyhow::Result;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

/// Runs on the first page of `GET …/jobs/{job}` where the service pages
/// them (`next_cursor`).
const JOB_PAGE: u64 = 100;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Req {
    Jobs,
    Job,
    Latest,
    Tail,
    Since,
    Full,
}

pub const REQS: [Req; 6] = [
    Req::Jobs,
    Req::Job,
    Req::Latest,
    Req::Tail,
    Req::Since,
    Req::Full,
];

impl Req {
    pub fn label(self) -> &'static str {
        match self {
            Req::Jobs => "jobs",
            Req::Job => "job",
            Req::Latest => "run=latest",
            Req::Tail => "tail=100",
            Req::Since => "since=1h",
            Req::Full => "full",
        }
    }

    fn path(self, job: &str) -> String {
        let logs = format!("/v1/tool/{TOOL}/jobs/{job}/logs?format=ndjson");
        match self {
            Req::Jobs => format!("/v1/tool/{TOOL}/jobs"),
            Req::Job => format!("/v1/tool/{TOOL}/jobs/{job}"),
            Req::Latest => format!("{logs}&run=latest"),
            Req::Tail => format!("{logs}&tail=100"),
            Req::Since => format!("{logs}&since=1h"),
            Req::Full => logs,
        }
    }
}

/// One answer: time, what came back, what it cost the store.
#[derive(Clone, Default)]
pub struct Answer {
    pub ms: f64,
    pub status: u16,
    /// Records (logs) or runs of the job (`jobs`, `job`).
    pub count: Option<u64>,
    pub body_bytes: u64,
    /// `job` answered one page of runs (`next_cursor` set).
    pub paged: bool,
    /// Warnings the answer carried, cut short.
    pub messages: Option<String>,
    pub delta: http::Delta,
}

/// One request, the cold answer and the warm median.
pub struct Measured {
    pub cold: Answer,
    pub warm: Vec<Answer>,
    /// Lines or runs expected, and whether it must be exact.
    pub expect: Option<(u64, bool)>,
}

impl Measured {
    pub fn warm_ms(&self) -> f64 {
        median(&self.warm.iter().map(|a| a.ms).collect::<Vec<_>>())
    }

    pub fn warm_requests(&self) -> Option<f64> {
        let v: Option<Vec<f64>> = self
            .warm
            .iter()
            .map(|a| a.delta.requests.as_ref().map(|r| r.0))
            .collect();
        v.map(|v| median(&v))
    }

    pub fn bad(&self) -> Option<String> {
        let all = std::iter::once(&self.cold).chain(&self.warm);
        for a in all {
            if a.status != 200 {
                return Some(format!("HTTP {}", a.status));
            }
            if let (Some((want, true)), Some(got)) = (self.expect, a.count)
                && want != got
                && !(a.paged && got == want.min(JOB_PAGE))
            {
                return Some(format!("{got} instead of {want}"));
            }
        }
        None
    }
}

fn ask(addr: &str, req: Req, job: &str) -> Result<Answer> {
    let path = req.path(job);
    let before = http::store_counters(addr)?;
    let t = Instant::now();
    let mut a = match req {
        Req::Jobs | Req::Job => {
            let (status, body) = http::fetch(addr, &path)?;
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let count = if req == Req::Jobs {
                v["jobs"].as_array().and_then(|js| {
                    js.iter()
                        .find(|j| j["job"] == job)
                        .and_then(|j| j["runs"].as_u64())
                })
            } else {
                v["job"]["runs"].as_array().map(|r| r.len() as u64)
            };
            let paged = v.get("next_cursor").is_some_and(|c| !c.is_null());
            let messages = v["messages"]
                .as_object()
                .filter(|m| {
                    m.values()
                        .any(|l| l.as_array().is_none_or(|l| !l.is_empty()))
                })
                .map(|m| serde_json::Value::Object(m.clone()).to_string());
            Answer {
                ms,
                status,
                count,
                body_bytes: body.len() as u64,
                paged,
                messages,
                ..Answer::default()
            }
        }
        _ => {
            let r = http::get(addr, &path)?;
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            Answer {
                ms,
                status: r.status,
                count: (r.status == 200).then_some(r.lines),
                body_bytes: r.bytes,
                messages: r.messages,
                ..Answer::default()
            }
        }
    };
    let after = http::store_counters(addr)?;
    a.delta = http::delta(&before, &after);
    if let Some(m) = &mut a.messages {
        m.truncate(300);
    }
    Ok(a)
}

pub fn expected(req: Req, kind: JobKind, g: &Generated) -> Option<(u64, bool)> {
    match req {
        Req::Jobs | Req::Job => Some((g.runs, true)),
        Req::Latest => Some(match kind {
            JobKind::Cron => (LINES_PER_RUN, true),
            JobKind::Continuous => (g.records, true),
        }),
        Req::Tail => Some((g.records.min(100), true)),
        Req::Since => {
            let from = now_ns() - 3600 * 1_000_000_000;
            let n = g.times.len() - g.times.partition_point(|&t| t < from);
            Some((n as u64, false))
        }
        Req::Full => Some((g.records, true)),
    }
}

/// Every request of the list, each on a fresh server.
pub fn measure_all(
    a: &Args,
    store: &Store,
    kind: JobKind,
    g: &Generated,
    log: &Path,
) -> Result<Vec<Measured>> {
    let mut out = Vec::new();
    for req in REQS {
        let server = stores::serve(&a.afterlog, store, log)?;
        // Before the request: `since=1h` counts from the server's now.
        let expect = expected(req, kind, g);
        let cold = ask(&server.addr, req, kind.job())?;
        let mut warm = Vec::new();
        for _ in 0..a.reps {
            warm.push(ask(&server.addr, req, kind.job())?);
        }
        let m = Measured { cold, warm, expect };
        println!(
            "    {:<10} cold {:>9.1} ms {:>7} req | warm {:>9.1} ms {:>7} req | {} {}, {:.1} KiB{}{}",
            req.label(),
            m.cold.ms,
            fmt_req(m.cold.delta.requests.as_ref().map(|r| r.0)),
            m.warm_ms(),
            fmt_req(m.warm_requests()),
            m.cold.count.map_or("?".into(), |c| c.to_string()),
            if matches!(req, Req::Jobs | Req::Job) {
                "runs"
            } else {
                "lines"
            },
            m.cold.body_bytes as f64 / 1024.0,
            m.bad()
                .map(|b| format!("  !!!!! WRONG: {b} !!!!!"))
                .unwrap_or_default(),
            m.cold
                .messages
                .as_ref()
                .map(|s| format!("\n      messages: {s}"))
                .unwrap_or_default(),
        );
        out.push(m);
    }
    Ok(out)
}

pub fn fmt_req(r: Option<f64>) -> String {
    r.map_or("n/a".into(), |v| format!("{v:.0}"))
}

pub fn fmt_ms(ms: f64) -> String {
    if ms >= 100.0 {
        format!("{ms:.0}")
    } else {
        format!("{ms:.1}")
    }
}

pub fn fmt_ops(d: &http::Delta) -> String {
    let mut s = match &d.requests {
        None => "n/a".to_string(),
        Some((_, by_op)) if by_op.is_empty() => "0".to_string(),
        Some((_, by_op)) => by_op
            .iter()
            .map(|(op, v)| format!("{op} {v:.0}"))
            .collect::<Vec<_>>()
            .join(", "),
    };
    if let Some(b) = d.bytes {
        let _ = write!(s, "; {:.1} KiB", b / 1024.0);
    }
    s
}
