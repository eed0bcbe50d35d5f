//! The user-facing subcommands of `afterlog`: `jobs`, `logs`, `push`,
//! `usage`. They only talk to the HTTP API (users never touch the store).
//!
//! Output: data on stdout; the API's `messages`, progress and errors on
//! stderr, coloured by level when stderr is a terminal and `NO_COLOR` is
//! unset.

use crate::client::{Client, ClientError, Given, Target, error_chain};
use crate::reply::Messages;
use afterlog_reader::record::human_bytes;
use afterlog_reader::{LogRecord, TextStyle};
use anyhow::{Context, anyhow, bail};
use clap::{Args, ValueEnum};
use futures::StreamExt;
use serde::Deserialize;
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Where the API is and who asks (flags beat environment beat config file).
#[derive(Args, Debug, Clone)]
pub struct ClientArgs {
    /// The afterlog server [default: http://127.0.0.1:8080].
    #[arg(long, env = "AFTERLOG_SERVER")]
    pub server: Option<String>,
    /// The tool whose logs to read.
    #[arg(long, short = 't', env = "AFTERLOG_TOOL")]
    pub tool: Option<String>,
    /// API token (sent as `Authorization: Bearer`).
    #[arg(long, env = "AFTERLOG_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Config file [default: ~/.config/afterlog/config.toml] with `server`,
    /// `tool`, `token` or `token_file`.
    #[arg(long, env = "AFTERLOG_CONFIG")]
    pub config: Option<PathBuf>,
}

impl ClientArgs {
    fn client(&self) -> anyhow::Result<Client> {
        let target = Target::resolve(&Given {
            server: self.server.clone(),
            tool: self.tool.clone(),
            token: self.token.clone(),
            config: self.config.clone(),
        })?;
        Ok(Client::new(target))
    }
}

#[derive(Args, Debug)]
pub struct JobsArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum StreamArg {
    Stdout,
    Stderr,
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// The job (may be left out when the tool has only one).
    pub job: Option<String>,
    /// Keep printing lines as they arrive (survives server restarts).
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Only the last N lines.
    #[arg(long, conflicts_with = "head")]
    pub tail: Option<usize>,
    /// Only the first N lines.
    #[arg(long)]
    pub head: Option<usize>,
    /// Lines at or after: an age (`10m`, `2h`, `7d`) or RFC 3339.
    #[arg(long)]
    pub since: Option<String>,
    /// Lines before: an age or RFC 3339.
    #[arg(long)]
    pub until: Option<String>,
    /// One run: `latest` or a pod name.
    #[arg(long)]
    pub run: Option<String>,
    /// One container of the pod(s).
    #[arg(long)]
    pub container: Option<String>,
    #[arg(long, value_enum)]
    pub stream: Option<StreamArg>,
    /// The stored records, one JSON object per line.
    #[arg(long)]
    pub json: bool,
    /// Lead each line with its time (RFC 3339, ns).
    #[arg(long)]
    pub timestamps: bool,
    /// Lead each line with `[pod/container]`.
    #[arg(long)]
    pub prefix: bool,
}

#[derive(Args, Debug)]
pub struct PushArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// The job the lines belong to.
    pub job: String,
    /// Read lines from this file [default: stdin].
    pub file: Option<PathBuf>,
    /// The stream the lines are stored under.
    #[arg(long, value_enum, default_value = "stdout")]
    pub stream: StreamArg,
    /// The input is NDJSON records (`{"log": …, "stream"?, "ts"?}`), not text.
    #[arg(long)]
    pub json: bool,
    /// Store as platform events (deploys, builds; admins only).
    #[arg(long)]
    pub platform: bool,
}

#[derive(Args, Debug)]
pub struct UsageArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[arg(long)]
    pub json: bool,
}

// ------------------------------------------------------------------ stderr

/// Messages and progress for the person at the terminal.
#[derive(Debug, Clone, Copy)]
pub struct Voice {
    color: bool,
}

impl Voice {
    pub fn detect() -> Voice {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Voice {
            color: !no_color && std::io::stderr().is_terminal(),
        }
    }

    fn paint(&self, level: &str, code: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{level}\x1b[0m")
        } else {
            level.to_string()
        }
    }

    pub fn say(&self, level: Level, text: &str) {
        let (name, code) = match level {
            Level::Info => ("info", "36"),
            Level::Warning => ("warning", "33"),
            Level::Error => ("error", "1;31"),
        };
        eprintln!("{}: {text}", self.paint(name, code));
    }

    pub fn messages(&self, m: &Messages) {
        for t in &m.info {
            self.say(Level::Info, t);
        }
        for t in &m.warning {
            self.say(Level::Warning, t);
        }
        for t in &m.error {
            self.say(Level::Error, t);
        }
    }

    /// An error of the client: the server's reason, and what else it said.
    pub fn client_error(&self, e: &ClientError) {
        match e {
            ClientError::Status {
                status, messages, ..
            } if !messages.error.is_empty() => {
                self.messages(&Messages {
                    error: Vec::new(),
                    ..messages.clone()
                });
                for t in &messages.error {
                    self.say(Level::Error, &format!("{t} ({status})"));
                }
            }
            e => self.say(Level::Error, &e.to_string()),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Level {
    Info,
    Warning,
    Error,
}

/// `12,345 lines, 3.4 MiB` on one rewritten stderr line, four times a
/// second at most, when stderr is a terminal and stdout is not (a download
/// into a file or pipe).
pub struct Progress<W: Write> {
    out: Option<W>,
    lines: u64,
    bytes: u64,
    last: Option<Instant>,
    every: Duration,
}

impl Progress<std::io::Stderr> {
    pub fn detect(enabled: bool) -> Self {
        let on = enabled && std::io::stderr().is_terminal() && !std::io::stdout().is_terminal();
        Progress::new(on.then(std::io::stderr), Duration::from_millis(250))
    }
}

impl<W: Write> Progress<W> {
    pub fn new(out: Option<W>, every: Duration) -> Self {
        Progress {
            out,
            lines: 0,
            bytes: 0,
            last: None,
            every,
        }
    }

    pub fn add(&mut self, lines: u64, bytes: u64) {
        self.lines += lines;
        self.bytes += bytes;
        let Some(out) = self.out.as_mut() else {
            return;
        };
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < self.every)
        {
            return;
        }
        self.last = Some(now);
        let _ = write!(
            out,
            "\r\x1b[2K{} lines, {}",
            self.lines,
            human_bytes(self.bytes)
        );
        let _ = out.flush();
    }

    /// Clears the progress line.
    pub fn done(&mut self) {
        if let (Some(out), Some(_)) = (self.out.as_mut(), self.last) {
            let _ = write!(out, "\r\x1b[2K");
            let _ = out.flush();
        }
    }
}

// ---------------------------------------------------------------- commands

#[derive(Debug, Deserialize)]
struct JobsResponse {
    #[serde(default)]
    messages: Messages,
    jobs: Vec<JobRow>,
}

#[derive(Debug, Deserialize)]
struct JobRow {
    job: String,
    kind: Option<String>,
    status: String,
    last_time: Option<String>,
    runs: usize,
    stored_bytes: u64,
}

#[derive(Debug, Deserialize)]
struct UsageResponse {
    #[serde(default)]
    messages: Messages,
    jobs: Vec<UsageRow>,
    total_bytes: u64,
}

#[derive(Debug, Deserialize)]
struct UsageRow {
    job: String,
    stored_bytes: u64,
    objects: u64,
}

/// Runs a client command: `Ok(())` or the error already told to the user
/// (`Err` carries it for the exit code).
pub async fn run_jobs(a: JobsArgs, voice: Voice) -> anyhow::Result<()> {
    let c = a.client.client()?;
    if a.json {
        let v: serde_json::Value = told(voice, c.get_json(&["jobs"]).await)?;
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let r: JobsResponse = told(voice, c.get_json(&["jobs"]).await)?;
    voice.messages(&r.messages);
    let mut rows = vec![[
        "JOB".to_string(),
        "KIND".into(),
        "STATUS".into(),
        "RUNS".into(),
        "LAST LOG".into(),
        "SIZE".into(),
    ]];
    for j in r.jobs {
        rows.push([
            j.job,
            j.kind.unwrap_or_else(|| "-".into()),
            j.status,
            j.runs.to_string(),
            j.last_time.unwrap_or_else(|| "-".into()),
            human_bytes(j.stored_bytes),
        ]);
    }
    print_table(&rows);
    Ok(())
}

pub async fn run_usage(a: UsageArgs, voice: Voice) -> anyhow::Result<()> {
    let c = a.client.client()?;
    if a.json {
        let v: serde_json::Value = told(voice, c.get_json(&["usage"]).await)?;
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let r: UsageResponse = told(voice, c.get_json(&["usage"]).await)?;
    voice.messages(&r.messages);
    let mut rows = vec![["JOB".to_string(), "SIZE".into(), "OBJECTS".into()]];
    for j in r.jobs {
        rows.push([j.job, human_bytes(j.stored_bytes), j.objects.to_string()]);
    }
    rows.push(["total".into(), human_bytes(r.total_bytes), String::new()]);
    print_table(&rows);
    Ok(())
}

fn print_table<const N: usize>(rows: &[[String; N]]) {
    let mut widths = [0; N];
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, (c, w)) in r.iter().zip(widths).enumerate() {
            if i + 1 == N {
                line.push_str(c);
            } else {
                line.push_str(&format!("{c:<w$}  "));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    print!("{out}");
}

/// Reports a client error to the user, keeping it for the exit code.
fn told<T>(voice: Voice, r: Result<T, ClientError>) -> anyhow::Result<T> {
    r.map_err(|e| {
        voice.client_error(&e);
        anyhow!(Told)
    })
}

/// An error already shown on stderr: `main` only sets the exit code.
#[derive(Debug, thiserror::Error)]
#[error("(reported above)")]
pub struct Told;

/// Where a followed log got to: the next attempt starts there.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Seen {
    ts: u64,
    container_id: String,
    off: Option<u64>,
    stream: String,
}

impl Seen {
    fn of(r: &LogRecord) -> Seen {
        Seen {
            ts: r.ts,
            container_id: r.container_id.clone(),
            off: r.off,
            stream: r.stream.clone(),
        }
    }
}

/// The longest wait between two attempts of `logs --follow`.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Times `logs` waits out a 429 (the service busy) before giving up.
const MAX_REFUSALS: u32 = 5;

pub async fn run_logs(a: LogsArgs, voice: Voice) -> anyhow::Result<()> {
    let c = a.client.client()?;
    let job = match &a.job {
        Some(j) => j.clone(),
        None => only_job(&c, voice).await?,
    };
    let mut q: Vec<(&str, String)> = vec![("format", "ndjson".into())];
    for (k, v) in [
        ("since", a.since.clone()),
        ("until", a.until.clone()),
        ("run", a.run.clone()),
        ("container", a.container.clone()),
        ("stream", a.stream.map(|s| stream_name(s).to_string())),
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
fn resume(q: &mut Vec<(&str, String)>, seen: &Option<Seen>) {
    if let Some(s) = seen {
        q.retain(|(k, _)| !matches!(*k, "since" | "tail" | "head"));
        q.push(("since", s.ts.to_string()));
    }
}

fn stream_name(s: StreamArg) -> &'static str {
    match s {
        StreamArg::Stdout => "stdout",
        StreamArg::Stderr => "stderr",
    }
}

async fn only_job(c: &Client, voice: Voice) -> anyhow::Result<String> {
    let r: JobsResponse = told(voice, c.get_json(&["jobs"]).await)?;
    voice.messages(&r.messages);
    let names: Vec<String> = r.jobs.into_iter().map(|j| j.job).collect();
    match names.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!("tool {:?} has no logs stored", c.target.tool),
        many => bail!(
            "which job? tool {:?} has: {}",
            c.target.tool,
            many.join(", ")
        ),
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
    seen: Option<Seen>,
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
        if line.starts_with(b"{\"messages\"") {
            #[derive(Deserialize)]
            struct Tail {
                messages: Messages,
            }
            if let Ok(t) = serde_json::from_slice::<Tail>(line) {
                voice.messages(&t.messages);
                return Ok(true);
            }
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
        let here = Seen::of(&r);
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

/// Largest body of one push; bigger inputs go in several.
const PUSH_BATCH_BYTES: usize = 512 * 1024;

#[derive(Debug, Deserialize)]
struct PushResponse {
    #[serde(default)]
    messages: Messages,
    lines: usize,
}

pub async fn run_push(a: PushArgs, voice: Voice) -> anyhow::Result<()> {
    let c = a.client.client()?;
    let mut input = Vec::new();
    match &a.file {
        Some(p) => {
            input = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
        }
        None => {
            std::io::stdin()
                .read_to_end(&mut input)
                .context("reading stdin")?;
        }
    }
    let records = to_records(&input, a.json, stream_name(a.stream))?;
    if records.is_empty() {
        bail!("nothing to push: the input has no lines");
    }
    let q: Vec<(&str, String)> = if a.platform {
        vec![("source", "platform".into())]
    } else {
        Vec::new()
    };
    let mut stored = 0;
    for batch in batches(&records, PUSH_BATCH_BYTES) {
        let url = c.url(&["jobs", &a.job, "logs"], &q);
        let resp = told(
            voice,
            c.send(reqwest::Method::POST, url.clone(), Some(batch))
                .await,
        )?;
        let r: PushResponse = told(
            voice,
            resp.json().await.map_err(|e| ClientError::Response {
                url: url.to_string(),
                reason: error_chain(&e),
            }),
        )?;
        voice.messages(&r.messages);
        stored += r.lines;
    }
    voice.say(
        Level::Info,
        &format!(
            "{stored} {} pushed to {}/{}",
            if stored == 1 { "line" } else { "lines" },
            c.target.tool,
            a.job
        ),
    );
    Ok(())
}

/// The input as NDJSON records: text lines become `{"log", "stream"}`;
/// `--json` input is checked to be objects and passed on.
fn to_records(input: &[u8], json: bool, stream: &str) -> anyhow::Result<Vec<Vec<u8>>> {
    let text = std::str::from_utf8(input).context("the input is not UTF-8 text")?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if json {
            if line.trim().is_empty() {
                continue;
            }
            let v: serde_json::Value =
                serde_json::from_str(line).with_context(|| format!("line {}: not JSON", i + 1))?;
            if !v.is_object() {
                bail!("line {}: not a JSON object", i + 1);
            }
            out.push(line.as_bytes().to_vec());
        } else {
            let v = serde_json::json!({"log": line, "stream": stream});
            out.push(serde_json::to_vec(&v)?);
        }
    }
    Ok(out)
}

/// NDJSON bodies of at most `max` bytes (a longer single record goes alone;
/// the server then says whether it takes it).
fn batches(records: &[Vec<u8>], max: usize) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut cur: Vec<u8> = Vec::new();
    for r in records {
        if !cur.is_empty() && cur.len() + r.len() + 1 > max {
            out.push(std::mem::take(&mut cur));
        }
        cur.extend_from_slice(r);
        cur.push(b'\n');
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_lines_become_records_and_json_is_checked() {
        let r = to_records(b"one\ntwo \"q\"\n\n", false, "stderr").unwrap();
        let v: Vec<serde_json::Value> = r
            .iter()
            .map(|b| serde_json::from_slice(b).unwrap())
            .collect();
        assert_eq!(
            v,
            [
                serde_json::json!({"log": "one", "stream": "stderr"}),
                serde_json::json!({"log": "two \"q\"", "stream": "stderr"}),
                serde_json::json!({"log": "", "stream": "stderr"}),
            ]
        );
        assert!(
            to_records(b"{\"log\":\"a\"}\n\n", true, "stdout")
                .unwrap()
                .len()
                == 1
        );
        let err = to_records(b"{\"log\":\"a\"}\n[1]\n", true, "stdout").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        assert!(to_records(b"\xff", false, "stdout").is_err());
    }

    #[test]
    fn batches_stay_under_the_limit() {
        let recs: Vec<Vec<u8>> = (0..100).map(|i| format!("{i:09}").into_bytes()).collect();
        let b = batches(&recs, 100);
        assert!(b.iter().all(|x| x.len() <= 100), "{b:?}");
        assert_eq!(b.concat().len(), 100 * 10);
        let big = batches(&[vec![b'x'; 500], vec![b'y'; 5]], 100);
        assert_eq!(big.len(), 2);
    }

    #[test]
    fn progress_writes_only_when_enabled_and_clears() {
        let mut p = Progress::new(Some(Vec::new()), Duration::ZERO);
        p.add(1, 10);
        p.add(2, 2048);
        p.done();
        let text = String::from_utf8(p.out.take().unwrap()).unwrap();
        assert!(text.contains("3 lines, 2.0 KiB"), "{text:?}");
        assert!(text.ends_with("\r\x1b[2K"), "{text:?}");
        let mut off: Progress<Vec<u8>> = Progress::new(None, Duration::ZERO);
        off.add(1, 1);
        off.done();
        assert!(off.out.is_none());
    }

    #[test]
    fn follow_skips_what_it_printed_before_a_reconnect() {
        let a = Seen {
            ts: 5,
            container_id: "b".into(),
            off: Some(7),
            stream: "stdout".into(),
        };
        let same_time_later = Seen {
            off: Some(8),
            ..a.clone()
        };
        let same_time_other_container = Seen {
            container_id: "a".into(),
            ..a.clone()
        };
        assert!(same_time_later > a);
        assert!(same_time_other_container < a, "already printed, in order");
    }
}
