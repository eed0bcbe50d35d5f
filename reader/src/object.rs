//! One stored object as the merge reads it, without I/O: gunzip (keeping
//! what precedes damage), splitting into lines parsed as the merge pulls
//! them, and opening a raw object as a merge source (kept as text when it
//! is already in merge order, else parsed and sorted). The service (through
//! [`crate::job`]) and the JavaScript adapter (`adapter-wasm/`) both read
//! objects with these functions, so they serve the same lines.
//!
//! The gzip decoder is flate2 on zlib-rs, the workspace's backend, on
//! every target — the `.wasm` too, so that the adapter decodes (and stops
//! at damage) exactly as the service does. Both zlib-rs and miniz_oxide are
//! pure Rust and build for wasm32-unknown-unknown; measured in Node on the
//! same 64 MiB of raw objects (docs/benchmarks.md, "The JavaScript
//! adapter"), zlib-rs gunzips 1.75× faster (696 vs 397 MiB/s), makes the
//! whole merge 1.19× faster, and the `.wasm` is the same size (+4 KiB raw,
//! −5 KiB gzip'd). Natively the two are even (docs/benchmarks.md, "The
//! reader").

use crate::merge::sorted;
use crate::record::{LogRecord, ParseError};
use flate2::read::MultiGzDecoder;
use std::fmt;
use std::io::{BufRead, BufReader, Read};

/// A line of an object that is not a record.
#[derive(Debug)]
pub struct BadLine {
    pub key: String,
    /// 1-based.
    pub line: usize,
    pub error: ParseError,
}

impl fmt::Display for BadLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} line {}: {}", self.key, self.line, self.error)
    }
}

/// One merge source: the lines of one object, parsed as they are pulled.
pub type Source = Box<dyn Iterator<Item = Result<LogRecord, BadLine>> + Send>;

/// Splits a decompressed object into lines and parses them lazily. Empty
/// lines (such as the one after a final line break) are not records.
pub fn lines(
    key: String,
    body: Vec<u8>,
) -> impl Iterator<Item = Result<LogRecord, BadLine>> + Send {
    let mut start = 0;
    let mut n = 0;
    std::iter::from_fn(move || {
        loop {
            if start >= body.len() {
                return None;
            }
            let end = body[start..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(body.len(), |i| start + i);
            let line = &body[start..end];
            start = end + 1;
            n += 1;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Some(parsed(&key, n, line));
        }
    })
}

/// Line `line` of object `key` as a record, or why it is none.
fn parsed(key: &str, line: usize, bytes: impl Into<Vec<u8>>) -> Result<LogRecord, BadLine> {
    LogRecord::parse(bytes).map_err(|error| BadLine {
        key: key.to_string(),
        line,
        error,
    })
}

/// The lines of a merged object, decompressed as they are pulled: a merged
/// object is already sorted, so it never needs to be whole in memory. A
/// damaged stream ends the source after the last whole line, with an error.
pub fn streamed_lines<B: AsRef<[u8]> + Send>(
    key: String,
    gz: B,
) -> impl Iterator<Item = Result<LogRecord, BadLine>> + Send {
    let mut rd = BufReader::with_capacity(64 * 1024, MultiGzDecoder::new(std::io::Cursor::new(gz)));
    let mut n = 0;
    let mut done = false;
    std::iter::from_fn(move || {
        while !done {
            let mut line = Vec::with_capacity(256);
            n += 1;
            match rd.read_until(b'\n', &mut line) {
                Ok(0) => done = true,
                Ok(_) if line.last() != Some(&b'\n') && !line.is_empty() => {
                    // A final line without its break may be cut short by a
                    // truncated upload; it is still whole JSON or it fails.
                    done = true;
                    return Some(parsed(&key, n, line));
                }
                Ok(_) => {
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    return Some(parsed(&key, n, line));
                }
                Err(e) => {
                    done = true;
                    return Some(Err(BadLine {
                        key: key.clone(),
                        line: n,
                        error: ParseError::Damaged(e.to_string()),
                    }));
                }
            }
        }
        None
    })
}

/// Gunzips `data`; on a corrupt or truncated stream, returns what was
/// decoded before the damage (cut back to the last whole line) and the error.
pub fn gunzip(data: &[u8]) -> (Vec<u8>, Option<std::io::Error>) {
    let mut out = Vec::new();
    let mut dec = MultiGzDecoder::new(data);
    match dec.read_to_end(&mut out) {
        Ok(_) => (out, None),
        Err(e) => {
            let keep = out.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            out.truncate(keep);
            (out, Some(e))
        }
    }
}

/// A raw object (gzip as Fluent Bit uploads it) made a merge source, with a
/// warning if its gzip stream is damaged (what precedes the damage is kept)
/// and its decompressed size.
///
/// Fluent Bit uploads a container's lines in file order, which is nearly
/// always merge order already: then the text is kept and parsed as the merge
/// pulls it (memory: the text, not ~2x as parsed records). Otherwise the
/// object is parsed and sorted whole.
pub fn open_raw(key: String, gz: &[u8]) -> (Source, Option<String>, u64) {
    let (text, err) = gunzip(gz);
    let warn = err.map(|e| {
        format!(
            "{key}: damaged gzip ({e}); served the {} bytes before the damage",
            text.len()
        )
    });
    let n = text.len() as u64;
    (open_text(key, text), warn, n)
}

/// Decompressed JSON lines (a raw object's text) made a merge source: kept
/// as text and parsed as pulled when already in merge order, else parsed
/// and sorted whole.
pub fn open_text(key: String, text: Vec<u8>) -> Source {
    if in_merge_order(&text) {
        Box::new(lines(key, text))
    } else {
        let records: Vec<_> = sorted(lines(key, text)).collect();
        Box::new(records.into_iter())
    }
}

/// Just the order key of a stored line, borrowed: enough to tell whether
/// an object is sorted without building its records.
#[derive(serde::Deserialize)]
struct KeyWire<'a> {
    ts: Option<u64>,
    off: Option<u64>,
    #[serde(borrow)]
    stream: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    afterlog: Option<KeyLabels<'a>>,
}

#[derive(serde::Deserialize)]
struct KeyLabels<'a> {
    #[serde(borrow)]
    container_id: Option<std::borrow::Cow<'a, str>>,
}

/// Whether the lines of `text` come in merge order. Lines that are not
/// records are left out (the merge reports them wherever they are).
fn in_merge_order(text: &[u8]) -> bool {
    type Key<'a> = (
        u64,
        std::borrow::Cow<'a, str>,
        Option<u64>,
        std::borrow::Cow<'a, str>,
    );
    let mut prev: Option<Key> = None;
    for line in text.split(|&b| b == b'\n') {
        let Ok(w) = serde_json::from_slice::<KeyWire>(line) else {
            continue;
        };
        let (Some(ts), Some(stream), Some(cid)) =
            (w.ts, w.stream, w.afterlog.and_then(|a| a.container_id))
        else {
            continue;
        };
        let k = (ts, cid, w.off, stream);
        if prev.as_ref().is_some_and(|p| *p > k) {
            return false;
        }
        prev = Some(k);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    #[test]
    fn tells_sorted_objects() {
        let l = |ts: u64, cid: &str, off: u64| {
            format!(
                r#"{{"ts":{ts},"off":{off},"stream":"stdout","log":"x","afterlog":{{"container_id":"{cid}"}}}}"#
            )
        };
        let text = |ls: &[String]| ls.join("\n").into_bytes();
        assert!(in_merge_order(&text(&[
            l(1, "a", 0),
            l(1, "a", 5),
            l(2, "a", 1),
            l(2, "b", 0)
        ])));
        assert!(in_merge_order(&text(&[
            l(1, "a", 0),
            "garbage".into(),
            l(1, "a", 0)
        ])));
        assert!(!in_merge_order(&text(&[l(2, "a", 0), l(1, "a", 5)])));
        assert!(!in_merge_order(&text(&[l(1, "b", 0), l(1, "a", 5)])));
        assert!(!in_merge_order(&text(&[l(1, "a", 9), l(1, "a", 5)])));
    }

    #[test]
    fn gunzip_keeps_whole_lines_before_damage() {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(b"one\ntwo\nthree").unwrap();
        let gz = e.finish().unwrap();
        let (text, err) = gunzip(&gz);
        assert_eq!(
            (text.as_slice(), err.is_none()),
            (&b"one\ntwo\nthree"[..], true)
        );
        let (text, err) = gunzip(&gz[..gz.len() - 6]);
        assert!(err.is_some());
        assert!(b"one\ntwo\n".starts_with(&text), "{text:?}");
    }
}
