//! A minimal HTTP/1.1 client over `TcpStream`: one GET, body streamed and
//! counted (never held), chunked transfer-encoding decoded; or a small body
//! fetched whole, such as the service's store counters in `/v1/metrics`.

use anyhow::{Context, Result, bail, ensure};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// What came back, counted as it streamed by: the status; the body's
/// `bytes` (after de-chunking); its `lines` that are records (not the final
/// `{"messages":…}`), and of those the ones `out_of_order` (a `ts` below
/// the previous record's); the final `messages` line, if any (cut at
/// 64 KiB).
#[derive(Debug, Default)]
pub struct Reply {
    pub status: u16,
    /// The start of the body, whole if it is small (errors, health).
    start: Vec<u8>,
    pub bytes: u64,
    pub lines: u64,
    pub out_of_order: u64,
    pub messages: Option<String>,
}

impl Reply {
    /// The start of the body as text: an error's message.
    pub fn start_text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.start)
    }
}

const MESSAGES: &[u8] = br#"{"messages":"#;
const TS: &[u8] = br#"{"ts":"#;

/// Counts lines of an ndjson body as it arrives.
#[derive(Default)]
pub struct LineCounter {
    /// The start of the current line (enough for the checks).
    head: Vec<u8>,
    /// The current line, kept whole while it may be the messages line.
    messages: Option<Vec<u8>>,
    last_ts: u64,
    reply: Reply,
}

impl LineCounter {
    pub fn feed(&mut self, mut data: &[u8]) {
        self.reply.bytes += data.len() as u64;
        if self.reply.start.len() < 4096 {
            let n = data.len().min(4096 - self.reply.start.len());
            self.reply.start.extend_from_slice(&data[..n]);
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

    pub fn finish(mut self) -> Reply {
        if !self.head.is_empty() || self.messages.is_some() {
            self.end_line();
        }
        self.reply
    }
}

/// Sends `GET path` to `addr` (one request, then the server closes).
pub fn send_get(addr: &str, path: &str) -> Result<TcpStream> {
    send_get_as(addr, path, None)
}

/// [`send_get`] with `Authorization: Bearer <token>` if there is one.
pub fn send_get_as(addr: &str, path: &str, token: Option<&str>) -> Result<TcpStream> {
    let mut s = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
    s.set_read_timeout(Some(Duration::from_secs(600)))?;
    s.set_nodelay(true)?;
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"
    )?;
    Ok(s)
}

/// A reply's status line and headers.
pub struct Head {
    pub status: u16,
    /// Lower-case names, trimmed values.
    headers: Vec<(String, String)>,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads the status line and the headers.
pub fn read_head(rd: &mut impl BufRead) -> Result<Head> {
    let mut line = String::new();
    rd.read_line(&mut line)?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("bad status line {line:?}"))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        ensure!(rd.read_line(&mut line)? > 0, "connection closed in headers");
        let h = line.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    Ok(Head { status, headers })
}

/// Passes the body that follows `head` to `sink` piece by piece as it
/// arrives, de-chunked.
pub fn read_body(rd: &mut impl BufRead, head: &Head, mut sink: impl FnMut(&[u8])) -> Result<()> {
    let chunked = head
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    if !chunked {
        let mut left = head
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(u64::MAX);
        while left > 0 {
            let buf = rd.fill_buf()?;
            if buf.is_empty() {
                break;
            }
            let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            sink(&buf[..n]);
            rd.consume(n);
            left -= n as u64;
        }
        return Ok(());
    }
    let mut line = String::new();
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
            return Ok(()); // trailers and the final CRLF do not matter here
        }
        while left > 0 {
            let buf = rd.fill_buf()?;
            if buf.is_empty() {
                bail!("connection closed inside a chunk");
            }
            let n = buf.len().min(left as usize);
            sink(&buf[..n]);
            rd.consume(n);
            left -= n as u64;
        }
        let mut crlf = [0u8; 2];
        rd.read_exact(&mut crlf)?;
    }
}

/// GETs `path` from `addr` and counts the body.
pub fn get(addr: &str, path: &str) -> Result<Reply> {
    get_as(addr, path, None)
}

/// [`get`] as the holder of `token`.
pub fn get_as(addr: &str, path: &str, token: Option<&str>) -> Result<Reply> {
    let s = send_get_as(addr, path, token)?;
    let mut rd = BufReader::with_capacity(256 * 1024, s);
    let head = read_head(&mut rd)?;
    let mut c = LineCounter::default();
    read_body(&mut rd, &head, |piece| c.feed(piece))?;
    let mut reply = c.finish();
    reply.status = head.status;
    Ok(reply)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// GETs `path` and returns the status and the whole body (de-chunked).
pub fn fetch(addr: &str, path: &str) -> Result<(u16, Vec<u8>)> {
    let mut s = send_get(addr, path)?;
    let mut all = Vec::new();
    s.read_to_end(&mut all)?;
    let end = find(&all, b"\r\n\r\n").context("no end of headers")?;
    let head = String::from_utf8_lossy(&all[..end]).to_ascii_lowercase();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("bad status line")?;
    let chunked = head
        .lines()
        .any(|l| l.starts_with("transfer-encoding:") && l.contains("chunked"));
    let mut body = &all[end + 4..];
    if !chunked {
        return Ok((status, body.to_vec()));
    }
    let mut out = Vec::new();
    loop {
        let eol = find(body, b"\r\n").context("truncated chunk size")?;
        let hex = String::from_utf8_lossy(&body[..eol]);
        let size = usize::from_str_radix(hex.split(';').next().unwrap_or("").trim(), 16)
            .with_context(|| format!("bad chunk size {hex:?}"))?;
        body = &body[eol + 2..];
        if size == 0 {
            break;
        }
        ensure!(body.len() >= size + 2, "truncated chunk");
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
    Ok((status, out))
}

/// The store counters of `/v1/metrics`: requests by `op` and bytes fetched
/// (None where the service does not export them).
#[derive(Default, Clone)]
pub struct StoreCounters {
    pub requests: Option<BTreeMap<String, f64>>,
    pub bytes: Option<f64>,
}

pub fn store_counters(addr: &str) -> Result<StoreCounters> {
    let (status, body) = fetch(addr, "/v1/metrics")?;
    ensure!(status == 200, "/v1/metrics: HTTP {status}");
    let text = String::from_utf8_lossy(&body);
    let mut c = StoreCounters::default();
    if text.contains("afterlog_store_requests") {
        c.requests = Some(BTreeMap::new());
    }
    if text.contains("afterlog_store_bytes_fetched") {
        c.bytes = Some(0.0);
    }
    for line in text.lines() {
        let Some((name, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(v) = value.parse::<f64>() else {
            continue;
        };
        if let Some(rest) = name.strip_prefix("afterlog_store_requests_total") {
            let op = rest
                .split("op=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or("?")
                .to_string();
            *c.requests.get_or_insert_default().entry(op).or_insert(0.0) += v;
        } else if name.starts_with("afterlog_store_bytes_fetched_total") {
            *c.bytes.get_or_insert(0.0) += v;
        }
    }
    Ok(c)
}

/// Store requests between two readings: the total and by op.
#[derive(Clone, Default)]
pub struct Delta {
    pub requests: Option<(f64, BTreeMap<String, f64>)>,
    pub bytes: Option<f64>,
}

pub fn delta(a: &StoreCounters, b: &StoreCounters) -> Delta {
    let requests = b.requests.as_ref().map(|after| {
        let mut by_op = BTreeMap::new();
        for (op, v) in after {
            let before = a.requests.as_ref().and_then(|m| m.get(op)).unwrap_or(&0.0);
            if v - before != 0.0 {
                by_op.insert(op.clone(), v - before);
            }
        }
        (by_op.values().sum(), by_op)
    });
    let bytes = b.bytes.map(|after| after - a.bytes.unwrap_or(0.0));
    Delta { requests, bytes }
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
