//! `logs`: a job's log on stdout, and with `--follow` what arrives, across
//! reconnects (the server ends a follow after a while, or restarts).

use super::listing::only_job;
use super::progress::Progress;
use super::voice::{Level, Told, Voice};
use crate::args::client::LogsArgs;
use crate::client::{Client, ClientError, error_chain};
use crate::wire::ErrorBody;
use afterlog_contract::query::Format;
use afterlog_reader::{LogRecord, Position, TextStyle};
use anyhow::anyhow;
use futures::StreamExt;
use std::io::Write;
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
    let mut out = Output {
        json: a.json,
        style,
        stdout: std::io::BufWriter::new(std::io::stdout().lock()),
        text: String::new(),
        progress: Progress::detect(!a.follow),
        seen: None,
    };
    let mut backoff = Duration::from_secs(1);
    let mut refusals = 0;
    loop {
        let url = c.url(&["jobs", &job, "logs"], &q);
        match stream_once(&c, url, &mut out, voice).await {
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
            Ok(Flow::Closed) => return Ok(()),
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

enum Flow {
    /// The server ended the stream.
    Done,
    /// Whoever reads stdout went away (`| head`): stop quietly.
    Closed,
}

struct Output<'a> {
    json: bool,
    style: TextStyle,
    stdout: std::io::BufWriter<std::io::StdoutLock<'a>>,
    text: String,
    progress: Progress<std::io::Stderr>,
    /// Where a followed log got to: the next attempt starts there.
    seen: Option<Position>,
}

impl Output<'_> {
    fn flush(&mut self) -> std::io::Result<()> {
        match self.stdout.flush() {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            r => r,
        }
    }

    /// One line of the ndjson body. `Ok(false)`: stdout is closed.
    fn line(&mut self, line: &[u8], voice: Voice) -> std::io::Result<bool> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(true); // a heartbeat
        }
        if line.starts_with(b"{\"messages\"")
            && let Ok(t) = serde_json::from_slice::<ErrorBody>(line)
        {
            voice.messages(&t.messages);
            return Ok(true);
        }
        let r = match LogRecord::parse(line.to_vec()) {
            Ok(r) => r,
            Err(e) => {
                voice.say(
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
            self.stdout
                .write_all(line)
                .and_then(|()| self.stdout.write_all(b"\n"))
        } else {
            self.text.clear();
            r.write_text(&mut self.text, self.style);
            self.stdout.write_all(self.text.as_bytes())
        };
        self.seen = Some(here);
        match written {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
            r => r.map(|()| true),
        }
    }
}

async fn stream_once(
    c: &Client,
    url: reqwest::Url,
    out: &mut Output<'_>,
    voice: Voice,
) -> Result<Flow, ClientError> {
    let resp = c.send(reqwest::Method::GET, url.clone(), None).await?;
    let mut body = resp.bytes_stream();
    let mut pending: Vec<u8> = Vec::new();
    let broken = |e: &dyn std::error::Error| ClientError::Response {
        url: url.to_string(),
        reason: format!("the stream broke: {}", error_chain(e)),
    };
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| broken(&e))?;
        pending.extend_from_slice(&chunk);
        let mut start = 0;
        while let Some(nl) = pending[start..].iter().position(|&b| b == b'\n') {
            let line = &pending[start..start + nl];
            start += nl + 1;
            match out.line(line, voice) {
                Ok(true) => {}
                Ok(false) => return Ok(Flow::Closed),
                Err(e) => return Err(broken(&e)),
            }
        }
        pending.drain(..start);
        if out.flush().is_err() {
            return Ok(Flow::Closed);
        }
    }
    if !pending.iter().all(u8::is_ascii_whitespace) {
        return Err(ClientError::Response {
            url: url.to_string(),
            reason: "the stream ended inside a line".into(),
        });
    }
    Ok(Flow::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

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
