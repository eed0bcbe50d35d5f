//! A minimal HTTP/1.1 client over `TcpStream`: one GET, body streamed and
//! counted (never held), chunked transfer-encoding decoded.

use anyhow::{Context, Result, bail, ensure};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// What came back, counted as it streamed by.
#[derive(Debug, Default)]
pub struct Reply {
    pub status: u16,
    /// Body bytes (after de-chunking).
    pub bytes: u64,
    /// Lines of the body that are records (not the final `{"messages":…}`).
    pub lines: u64,
    /// Records whose `ts` is below the previous record's.
    pub out_of_order: u64,
    /// The final `{"messages":…}` line, if any (cut at 64 KiB).
    pub messages: Option<String>,
    /// The whole body if it is small (errors, health).
    pub small_body: Vec<u8>,
}

const MESSAGES: &[u8] = br#"{"messages":"#;
const TS: &[u8] = br#"{"ts":"#;

/// Counts lines of an ndjson body as it arrives.
#[derive(Default)]
struct LineCounter {
    /// The start of the current line (enough for the checks).
    head: Vec<u8>,
    /// The current line, kept whole while it may be the messages line.
    messages: Option<Vec<u8>>,
    last_ts: u64,
    reply: Reply,
}

impl LineCounter {
    fn feed(&mut self, mut data: &[u8]) {
        self.reply.bytes += data.len() as u64;
        if self.reply.small_body.len() < 4096 {
            let n = data.len().min(4096 - self.reply.small_body.len());
            self.reply.small_body.extend_from_slice(&data[..n]);
        }
        while !data.is_empty() {
            let (part, end) = match data.iter().position(|&b| b == b'\n') {
                Some(i) => (&data[..i], true),
                None => (data, false),
            };
            let before = self.head.len();
            let n = part.len().min(32usize.saturating_sub(before));
            self.head.extend_from_slice(&part[..n]);
            match &mut self.messages {
                Some(m) => {
                    if m.len() < 65536 {
                        m.extend_from_slice(part);
                    }
                }
                None => {
                    if before < MESSAGES.len() && self.head.starts_with(MESSAGES) {
                        let mut m = self.head.clone();
                        m.extend_from_slice(&part[n..]);
                        self.messages = Some(m);
                    }
                }
            }
            if end {
                self.end_line();
                data = &data[part.len() + 1..];
            } else {
                data = &[];
            }
        }
    }

    fn end_line(&mut self) {
        if let Some(m) = self.messages.take() {
            self.reply.messages = Some(String::from_utf8_lossy(&m).into_owned());
        } else if !self.head.is_empty() {
            self.reply.lines += 1;
            if let Some(rest) = self.head.strip_prefix(TS) {
                let digits = rest.iter().take_while(|b| b.is_ascii_digit());
                let ts = digits.fold(0u64, |a, &b| a * 10 + u64::from(b - b'0'));
                if ts < self.last_ts {
                    self.reply.out_of_order += 1;
                }
                self.last_ts = ts;
            }
        }
        self.head.clear();
    }

    fn finish(mut self) -> Reply {
        if !self.head.is_empty() || self.messages.is_some() {
            self.end_line();
        }
        self.reply
    }
}

/// Sends `GET path` to `addr` (one request, then the server closes).
pub fn send_get(addr: &str, path: &str) -> Result<TcpStream> {
    let mut s = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
    s.set_read_timeout(Some(Duration::from_secs(600)))?;
    s.set_nodelay(true)?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )?;
    Ok(s)
}

/// GETs `path` from `addr` and counts the body.
pub fn get(addr: &str, path: &str) -> Result<Reply> {
    let s = send_get(addr, path)?;
    let mut rd = BufReader::with_capacity(256 * 1024, s);
    let mut line = String::new();
    rd.read_line(&mut line)?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("bad status line {line:?}"))?;
    let (mut chunked, mut length) = (false, None::<u64>);
    loop {
        line.clear();
        ensure!(rd.read_line(&mut line)? > 0, "connection closed in headers");
        let h = line.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            if k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked") {
                chunked = true;
            } else if k == "content-length" {
                length = v.parse().ok();
            }
        }
    }
    let mut c = LineCounter::default();
    if chunked {
        loop {
            line.clear();
            ensure!(
                rd.read_line(&mut line)? > 0,
                "connection closed in a chunk size"
            );
            let size_hex = line.trim_end().split(';').next().unwrap_or("");
            let mut left = u64::from_str_radix(size_hex, 16)
                .with_context(|| format!("bad chunk size {line:?}"))?;
            if left == 0 {
                break; // trailers and the final CRLF do not matter here
            }
            while left > 0 {
                let buf = rd.fill_buf()?;
                if buf.is_empty() {
                    bail!("connection closed inside a chunk");
                }
                let n = buf.len().min(left as usize);
                c.feed(&buf[..n]);
                rd.consume(n);
                left -= n as u64;
            }
            let mut crlf = [0u8; 2];
            rd.read_exact(&mut crlf)?;
        }
    } else {
        let mut left = length.unwrap_or(u64::MAX);
        while left > 0 {
            let buf = rd.fill_buf()?;
            if buf.is_empty() {
                break;
            }
            let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            c.feed(&buf[..n]);
            rd.consume(n);
            left -= n as u64;
        }
    }
    let mut reply = c.finish();
    reply.status = status;
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_lines_across_pieces() {
        let body =
            b"{\"ts\":5,\"x\":1}\n{\"ts\":7}\n{\"ts\":6}\n{\"messages\":{\"warning\":[\"w\"]}}\n";
        for split in 1..body.len() {
            let mut c = LineCounter::default();
            for piece in body.chunks(split) {
                c.feed(piece);
            }
            let r = c.finish();
            assert_eq!(
                (r.lines, r.out_of_order, r.bytes),
                (3, 1, body.len() as u64)
            );
            assert_eq!(
                r.messages.as_deref(),
                Some("{\"messages\":{\"warning\":[\"w\"]}}")
            );
        }
    }
}
