//! The body of a streamed read: records in the requested format, notices
//! and warnings between them, sent in chunks through a channel to the
//! response.

use crate::metrics::Metrics;
use crate::wire::{ErrorBody, Messages};
use afterlog_contract::query::Format;
use afterlog_reader::{LogRecord, Position, TextStyle};
use bytes::Bytes;
use std::collections::HashMap;
use tokio::sync::mpsc;

/// Streamed output is sent in chunks of about this size.
const CHUNK: usize = 64 * 1024;

/// What the response body is fed from.
pub type Chunks = mpsc::Sender<Result<Bytes, std::io::Error>>;

/// The client went away: stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gone;

/// A streamed body being written: buffered, and counting the records it
/// was given.
pub struct Sink {
    tx: Chunks,
    buf: Vec<u8>,
    pub format: Format,
    /// Records and their log bytes written since [`Sink::count_served`].
    lines: u64,
    bytes: u64,
}

impl Sink {
    pub fn new(tx: Chunks, format: Format) -> Sink {
        Sink {
            tx,
            buf: Vec::with_capacity(CHUNK + 1024),
            format,
            lines: 0,
            bytes: 0,
        }
    }

    /// Appends one record in the requested format.
    pub fn record(&mut self, r: &LogRecord) {
        match self.format {
            Format::Ndjson | Format::Json => {
                self.buf.extend_from_slice(&r.line);
                self.buf.push(b'\n');
            }
            Format::Text => {
                let mut s = String::with_capacity(r.log_len + 64);
                let style = TextStyle {
                    timestamps: true,
                    source: true,
                };
                r.write_text(&mut s, style);
                self.buf.extend_from_slice(s.as_bytes());
            }
        }
        self.lines += 1;
        self.bytes += r.log_len as u64;
    }

    /// Marks lines left out between two groups of a read with context:
    /// `--` in text, as `grep -C` does.
    pub fn context_break(&mut self) {
        match self.format {
            Format::Text => self.buf.extend_from_slice(b"--\n"),
            _ => self.buf.extend_from_slice(b"{\"context_break\":true}\n"),
        }
    }

    /// Something for the reader besides the records: in text, lines led by
    /// `[afterlog]` (`lead` before each); else one `{"messages": …}` line.
    fn messages(&mut self, m: Messages, lead: &str) {
        match self.format {
            Format::Text => {
                for t in m.info.iter().chain(&m.warning) {
                    self.buf
                        .extend_from_slice(format!("[afterlog] {lead}{t}\n").as_bytes());
                }
            }
            _ => {
                // Through a JSON value, as every such line has been written.
                let line = serde_json::to_value(ErrorBody { messages: m })
                    .map_or_else(|_| "{}".into(), |v| v.to_string());
                self.buf.extend_from_slice(line.as_bytes());
                self.buf.push(b'\n');
            }
        }
    }

    /// Something for the reader that is neither data nor a problem.
    pub fn notice(&mut self, notice: &str) {
        self.messages(Messages::info(vec![notice.to_string()]), "");
    }

    /// What is left to say about what was read.
    pub fn warnings(&mut self, warnings: &[String]) {
        if !warnings.is_empty() {
            self.messages(Messages::warnings(warnings.to_vec()), "warning: ");
        }
    }

    /// Raw bytes, as they are (a heartbeat, a text-only line).
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Counts what was written since the last call as served.
    pub fn count_served(&mut self, metrics: &Metrics) -> u64 {
        let lines = std::mem::take(&mut self.lines);
        metrics.served(lines, std::mem::take(&mut self.bytes));
        lines
    }

    /// Sends the buffer if it is full (or `force`).
    pub async fn flush(&mut self, force: bool) -> Result<(), Gone> {
        if self.buf.is_empty() || (!force && self.buf.len() < CHUNK) {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(CHUNK + 1024),
        ));
        self.tx.send(Ok(chunk)).await.map_err(|_| Gone)
    }

    /// Ends the body as broken: what was sent stays, the client sees the
    /// stream fail rather than end.
    pub async fn fail(mut self, why: &str) {
        let _ = self.flush(true).await;
        let _ = self
            .tx
            .send(Err(std::io::Error::other(why.to_string())))
            .await;
    }

    /// Resolves when the client has gone away.
    pub async fn closed(&self) {
        self.tx.closed().await;
    }
}

/// Per container instance, the last record sent: a follow sends only what
/// is newer, so retried uploads are not sent twice.
#[derive(Debug, Default)]
pub struct Sent(HashMap<String, Position>);

impl Sent {
    pub fn note(&mut self, r: &LogRecord) {
        self.0.insert(r.container_id.clone(), Position::of(r));
    }

    /// Whether `r` comes after what its container instance already sent.
    pub fn is_new(&self, r: &LogRecord) -> bool {
        self.0
            .get(&r.container_id)
            .is_none_or(|p| p.cmp_to(r).is_lt())
    }
}
