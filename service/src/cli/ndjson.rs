//! A streamed NDJSON answer read line by line, and the stdout it goes to,
//! which a reader that went away (`| head`) ends quietly.

use super::voice::Voice;
use crate::client::{ClientError, error_chain};
use crate::wire::ErrorBody;
use futures::StreamExt;
use std::io::Write;

/// How reading an answer ended.
pub enum Flow {
    /// The server ended the stream.
    Done,
    /// The reader wanted no more: stdout is closed, or it had enough.
    Stopped,
}

/// What an answer's lines go to.
pub trait Lines {
    /// One line, without its line break. `Ok(false)`: stop reading.
    fn line(&mut self, line: &[u8]) -> std::io::Result<bool>;
    /// A chunk's lines are in: let them out. An error stops the reading.
    fn flush(&mut self) -> std::io::Result<()>;
}

/// Feeds `resp`'s body to `sink` line by line, as chunks arrive.
pub async fn read_lines(
    resp: reqwest::Response,
    url: &reqwest::Url,
    sink: &mut impl Lines,
) -> Result<Flow, ClientError> {
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
            match sink.line(line) {
                Ok(true) => {}
                Ok(false) => return Ok(Flow::Stopped),
                Err(e) => return Err(broken(&e)),
            }
        }
        pending.drain(..start);
        if sink.flush().is_err() {
            return Ok(Flow::Stopped);
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

/// Whether a line carries no data: the server's keep-alive.
pub fn is_heartbeat(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

/// Whether a line is the stream's own, not data: a heartbeat, or a
/// `{"messages": …}` line, which is told through `voice`.
pub fn is_envelope(line: &[u8], voice: &Voice) -> bool {
    if is_heartbeat(line) {
        return true;
    }
    if line.starts_with(b"{\"messages\"")
        && let Ok(t) = serde_json::from_slice::<ErrorBody>(line)
    {
        voice.messages(&t.messages);
        return true;
    }
    false
}

/// Buffered stdout.
pub struct Stdout {
    w: std::io::BufWriter<std::io::StdoutLock<'static>>,
}

impl Stdout {
    pub fn lock() -> Stdout {
        Stdout {
            w: std::io::BufWriter::new(std::io::stdout().lock()),
        }
    }

    /// Writes `parts`; `Ok(false)`: whoever read stdout went away.
    pub fn write(&mut self, parts: &[&[u8]]) -> std::io::Result<bool> {
        for p in parts {
            match self.w.write_all(p) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(false),
                r => r?,
            }
        }
        Ok(true)
    }

    /// A closed pipe is no error here: there is nobody left to tell.
    pub fn flush(&mut self) -> std::io::Result<()> {
        match self.w.flush() {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            r => r,
        }
    }
}
