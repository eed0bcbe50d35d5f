//! `logs`: a job's log on stdout, and with `--follow` what arrives, across
//! reconnects (the server ends a follow after a while, or restarts).

use super::event_color;
use super::highlight::{Highlighter, paint};
use super::listing::only_job;
use super::ndjson::{Flow, Lines, Stdout, is_envelope, read_lines};
use super::progress::Progress;
use super::voice::{Level, Told, Voice, stdout_color};
use crate::args::client::LogsArgs;
use crate::client::{Client, ClientError};
use afterlog_contract::query::Format;
use afterlog_reader::{LogRecord, Position, QuotaEvent, TextStyle};
use anyhow::anyhow;
use std::time::Duration;

/// The longest wait between two attempts of `logs --follow`.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Times `logs` waits out a 429 (the service busy) before giving up.
const MAX_REFUSALS: u32 = 5;

/// The query of `logs`' requests.
fn query(a: &LogsArgs) -> Vec<(&'static str, String)> {
    let mut q: Vec<(&str, String)> = vec![("format", Format::Ndjson.to_string())];
    for (k, v) in [
        ("since", a.since.clone()),
        ("until", a.until.clone()),
        ("run", a.run.clone()),
        ("container", a.container.clone()),
        ("stream", a.stream.map(|s| s.to_string())),
        ("events", a.events.map(|e| e.to_string())),
        ("tail", a.tail.map(|n| n.to_string())),
        ("head", a.head.map(|n| n.to_string())),
    ] {
        if let Some(v) = v {
            q.push((k, v));
        }
    }
    if a.follow {
        q.push(("follow", "true".into()));
    }
    let filter = a.filter();
    q.extend(filter.query());
    if filter.is_set()
        && let Some(n) = a.context.filter(|&n| n > 0)
    {
        q.push(("context", n.to_string()));
    }
    q
}

pub async fn run_logs(a: LogsArgs, voice: Voice) -> anyhow::Result<()> {
    let c = Client::for_args(&a.client)?;
    let job = match &a.job {
        Some(j) => j.clone(),
        None => only_job(&c, voice).await?,
    };
    let mut q = query(&a);
    let style = TextStyle {
        timestamps: a.timestamps,
        source: a.prefix,
    };
    let color = stdout_color(a.client.color) && !a.json;
    let painter = match color && !a.invert {
        // A pattern the client cannot compile is the server's to refuse.
        true => Highlighter::new(&a.filter()).ok().flatten(),
        false => None,
    };
    let mut out = Output {
        json: a.json,
        style,
        paint: painter,
        events_color: color,
        stdout: Stdout::lock(),
        text: String::new(),
        progress: Progress::detect(!a.follow),
        seen: None,
        voice,
    };
    let mut backoff = Duration::from_secs(1);
    let mut refusals = 0;
    loop {
        let url = c.url(&["jobs", &job, "logs"], &q);
        match stream_once(&c, url, &mut out).await {
            // The server ends a follow after a while; clients go on.
            Ok(Flow::Done) if a.follow => {
                out.flush()?;
                resume(&mut q, &out.seen);
            }
            Ok(Flow::Done) => {
                out.progress.done();
                out.flush()?;
                return Ok(());
            }
            Ok(Flow::Stopped) => return Ok(()),
            // Refused for load before anything was sent: wait as told.
            Err(e)
                if out.seen.is_none()
                    && refusals < MAX_REFUSALS
                    && let Some(wait) = e.retry_after() =>
            {
                refusals += 1;
                let wait = wait.clamp(Duration::from_secs(1), MAX_BACKOFF);
                voice.say(
                    Level::Warning,
                    &format!("{e}; trying again in {} s", wait.as_secs()),
                );
                tokio::time::sleep(wait).await;
            }
            Err(e) if a.follow && e.is_transient() => {
                out.flush()?;
                voice.say(
                    Level::Warning,
                    &format!("{e}; trying again in {} s", backoff.as_secs()),
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                resume(&mut q, &out.seen);
            }
            Err(e) => {
                out.progress.done();
                let _ = out.flush();
                voice.client_error(&e);
                return Err(anyhow!(Told));
            }
        }
        // A connection that delivered resets the wait.
        if out.seen.is_some() {
            backoff = backoff.min(Duration::from_secs(2));
        }
    }
}

/// Resume where the output got to: `since` that time (the records at it
/// already printed are skipped as they come again).
fn resume(q: &mut Vec<(&str, String)>, seen: &Option<Position>) {
    if let Some(s) = seen {
        q.retain(|(k, _)| !matches!(*k, "since" | "tail" | "head"));
        q.push(("since", s.ts.to_string()));
    }
}

struct Output {
    json: bool,
    style: TextStyle,
    /// Matches to paint, on a terminal.
    paint: Option<Highlighter>,
    /// Kubernetes events in their colours, on a terminal.
    events_color: bool,
    stdout: Stdout,
    text: String,
    progress: Progress<std::io::Stderr>,
    /// Where a followed log got to: the next attempt starts there.
    seen: Option<Position>,
    voice: Voice,
}

/// The line the server sends between two groups of `--context` lines.
#[derive(serde::Deserialize)]
struct ContextBreak {
    context_break: bool,
}

impl Output {
    /// The text of a record, its matches painted, a Kubernetes event in
    /// its colour.
    fn render(&mut self, r: &LogRecord) {
        self.paint_matches(r);
        if self.events_color && r.is_k8s_event() {
            let color = event_color::color_of(event_color::type_of(&r.line).as_deref());
            self.text = event_color::paint_line(&self.text, color);
        }
    }

    fn paint_matches(&mut self, r: &LogRecord) {
        self.text.clear();
        r.write_text(&mut self.text, self.style);
        // A quota notice alone has no line of the job's to paint.
        if matches!(r.event, Some(QuotaEvent::Exceeded { .. })) {
            return;
        }
        let Some(h) = &self.paint else { return };
        let log = r.log();
        let ranges = h.ranges(&log);
        if ranges.is_empty() {
            return;
        }
        // The line is the text's last (after the time and source asked for).
        let Some(head) = self
            .text
            .strip_suffix('\n')
            .and_then(|t| t.strip_suffix(log.as_ref()))
            .map(str::len)
        else {
            return;
        };
        self.text.truncate(head);
        self.text.push_str(&paint(&log, &ranges));
        self.text.push('\n');
    }
}

impl Lines for Output {
    fn flush(&mut self) -> std::io::Result<()> {
        self.stdout.flush()
    }

    fn line(&mut self, line: &[u8]) -> std::io::Result<bool> {
        if is_envelope(line, &self.voice) {
            return Ok(true);
        }
        let r = match LogRecord::parse(line.to_vec()) {
            Ok(r) => r,
            Err(_)
                if serde_json::from_slice::<ContextBreak>(line).is_ok_and(|b| b.context_break) =>
            {
                // As grep -C separates groups; JSON keeps the server's line.
                return match self.json {
                    true => self.stdout.write(&[line, b"\n"]),
                    false => self.stdout.write(&[b"--\n"]),
                };
            }
            Err(e) => {
                self.voice.say(
                    Level::Warning,
                    &format!("a record the CLI cannot read: {e}"),
                );
                return Ok(true);
            }
        };
        let here = Position::of(&r);
        if self.seen.as_ref().is_some_and(|s| here <= *s) {
            return Ok(true); // printed before a reconnect
        }
        self.progress.add(1, line.len() as u64 + 1);
        let written = if self.json {
            self.stdout.write(&[line, b"\n"])
        } else {
            self.render(&r);
            self.stdout.write(&[self.text.as_bytes()])
        };
        self.seen = Some(here);
        written
    }
}

async fn stream_once(c: &Client, url: reqwest::Url, out: &mut Output) -> Result<Flow, ClientError> {
    let resp = c.send(reqwest::Method::GET, url.clone(), None).await?;
    read_lines(resp, &url, out).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        logs: LogsArgs,
    }

    fn parse(args: &[&str]) -> Result<LogsArgs, clap::Error> {
        Cmd::try_parse_from(["logs"].iter().chain(args)).map(|c| c.logs)
    }

    fn params(args: &[&str]) -> Vec<(&'static str, String)> {
        query(&parse(args).unwrap())
    }

    #[test]
    fn filters_are_sent_as_the_apis_parameters() {
        let got = params(&[
            "j",
            "-e",
            "error",
            "--grep",
            "two words",
            "--regex",
            r"code=\d+",
            "-i",
            "-v",
            "-C",
            "3",
            "--tail",
            "5",
        ]);
        let want: Vec<(&str, String)> = vec![
            ("format", "ndjson".into()),
            ("tail", "5".into()),
            ("grep", "error".into()),
            ("grep", "two words".into()),
            ("regex", r"code=\d+".into()),
            ("ignore_case", "true".into()),
            ("invert", "true".into()),
            ("context", "3".into()),
        ];
        assert_eq!(got, want);
        // As a URL, each value encoded, `grep` repeated.
        let c = Client::new(crate::client::Target {
            server: "http://127.0.0.1:1".parse().unwrap(),
            tool: "t".into(),
            token: None,
        });
        let url = c.url(
            &["jobs", "j", "logs"],
            &params(&["j", "-e", "a&b", "-e", "c"]),
        );
        assert_eq!(
            url.query(),
            Some("format=ndjson&grep=a%26b&grep=c"),
            "{url}"
        );
    }

    #[test]
    fn without_a_filter_the_request_is_unchanged() {
        assert_eq!(params(&["j"]), [("format", "ndjson".to_string())]);
        // Context 0 is no context: left out.
        assert_eq!(params(&["j", "-e", "x", "-C", "0"]).len(), 2);
    }

    #[test]
    fn filter_flags_need_a_pattern_and_context_a_bound() {
        for bad in [
            &["j", "-i"][..],
            &["j", "-v"],
            &["j", "-C", "2"],
            &["j", "-e", "x", "-C", "101"],
            &["j", "-e", "x", "-C", "-1"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert!(parse(&["j", "--regex", "x", "-C", "100", "-i"]).is_ok());
    }

    #[test]
    fn follow_skips_what_it_printed_before_a_reconnect() {
        let a = Position {
            ts: 5,
            container_id: "b".into(),
            off: Some(7),
            stream: "stdout".into(),
        };
        let same_time_later = Position {
            off: Some(8),
            ..a.clone()
        };
        let same_time_other_container = Position {
            container_id: "a".into(),
            ..a.clone()
        };
        assert!(same_time_later > a);
        assert!(same_time_other_container < a, "already printed, in order");
    }
}
