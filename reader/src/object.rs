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

use crate::line_match::LineMatch;
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

impl BadLine {
    /// Counts what was skipped, a damaged object in `objects` or a line
    /// that is not a record in `lines`, and keeps its warning: how every
    /// reader of stored objects (the service's, the adapter's) tallies it.
    pub fn tally(self, objects: &mut u64, lines: &mut u64, warnings: &mut Vec<String>) {
        if matches!(self.error, ParseError::Damaged(_)) {
            *objects += 1;
        } else {
            *lines += 1;
        }
        warnings.push(self.to_string());
    }
}

impl fmt::Display for BadLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} line {}: {}", self.key, self.line, self.error)
    }
}

/// Which stored lines are parsed at all: with a line filter, only those
/// its byte test cannot rule out ([`LineMatch::candidate`]); the others
/// are skipped as if absent, which the filter would make them anyway.
pub type Gate = Option<LineMatch>;

fn passes(gate: &Gate, line: &[u8]) -> bool {
    gate.as_ref().is_none_or(|m| m.candidate(line))
}

/// `text` with the lines the gate rules out emptied (their breaks stay,
/// so line numbers in warnings stay right): done where the text is
/// decompressed, on a thread of its own, so that the merge's thread parses
/// candidates only.
fn gated(text: Vec<u8>, gate: &Gate) -> Vec<u8> {
    let Some(m) = gate else {
        return text;
    };
    let mut out = Vec::with_capacity(text.len() / 8);
    let mut start = 0;
    while start < text.len() {
        let end = memchr::memchr(b'\n', &text[start..]).map_or(text.len(), |i| start + i);
        let line = &text[start..end];
        if m.candidate(line) {
            out.extend_from_slice(line);
        }
        if end < text.len() {
            out.push(b'\n');
        }
        start = end + 1;
    }
    out
}

/// One merge source: the lines of one object, parsed as they are pulled.
pub type Source = Box<dyn Iterator<Item = Result<LogRecord, BadLine>> + Send>;

/// Splits a decompressed object into lines and parses them lazily. Empty
/// lines (such as the one after a final line break) are not records.
pub fn lines(
    key: String,
    body: Vec<u8>,
    gate: Gate,
) -> impl Iterator<Item = Result<LogRecord, BadLine>> + Send {
    let mut at = Cursor::new(gate);
    std::iter::from_fn(move || at.next_line(&body).map(|(n, line)| parsed(&key, n, line)))
}

/// Where a split into lines is: the next line's start, and lines so far.
#[derive(Debug, Default)]
struct Cursor {
    start: usize,
    n: usize,
    gate: Gate,
}

impl Cursor {
    fn new(gate: Gate) -> Cursor {
        Cursor {
            gate,
            ..Cursor::default()
        }
    }

    /// The next line of `text` that is not blank and passes the gate, with
    /// its number (1-based, every line counted); `None` at the end of `text`.
    fn next_line<'a>(&mut self, text: &'a [u8]) -> Option<(usize, &'a [u8])> {
        while self.start < text.len() {
            let end =
                memchr::memchr(b'\n', &text[self.start..]).map_or(text.len(), |i| self.start + i);
            let line = &text[self.start..end];
            self.start = end + 1;
            self.n += 1;
            if !line.iter().all(u8::is_ascii_whitespace) && passes(&self.gate, line) {
                return Some((self.n, line));
            }
        }
        None
    }
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
    gate: Gate,
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
                    if line.iter().all(u8::is_ascii_whitespace) || !passes(&gate, &line) {
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

/// What [`decode_blocks`] hands to [`block_lines`].
#[derive(Debug)]
pub enum Block {
    /// Whole lines of text.
    Text(Vec<u8>),
    /// The stream broke here: what follows is lost.
    Damaged(String),
    /// The stream's end. A decoder gone without saying so (it panicked,
    /// or never ran) is damage, not an end: a read never takes a cut
    /// object for a whole one.
    End,
}

/// About this much text per block: a merged object's gzip member.
const BLOCK_BYTES: usize = 1 << 20;

/// Gunzips `gz` (a merged object, or part of one) into blocks of whole
/// lines sent to `tx`, so that decompression runs on a thread of its own
/// while the merge parses what came before. Ends early when the receiver
/// is gone (the read was given up). A damaged stream sends the whole lines
/// before the damage, then the error.
pub fn decode_blocks(gz: impl AsRef<[u8]>, tx: std::sync::mpsc::SyncSender<Block>, gate: Gate) {
    let mut dec = MultiGzDecoder::new(gz.as_ref());
    // Decompressed in large reads, cut after the last line break; the
    // partial line goes on into the next block.
    let mut carry: Vec<u8> = Vec::new();
    loop {
        let mut block = Vec::with_capacity(BLOCK_BYTES + 64 * 1024);
        block.append(&mut carry);
        let mut failed = None;
        let mut ended = false;
        // A line longer than a block makes a longer block.
        let mut whole_line = memchr::memchr(b'\n', &block).is_some();
        while block.len() < BLOCK_BYTES || !whole_line {
            let at = block.len();
            block.resize(at + 64 * 1024, 0);
            match dec.read(&mut block[at..]) {
                Ok(0) => {
                    block.truncate(at);
                    ended = true;
                    break;
                }
                Ok(n) => {
                    block.truncate(at + n);
                    whole_line = whole_line || memchr::memchr(b'\n', &block[at..]).is_some();
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => block.truncate(at),
                Err(e) => {
                    block.truncate(at);
                    failed = Some(e.to_string());
                    break;
                }
            }
        }
        if !ended {
            // A partial line is never sent: whole lines only (at the end of
            // the stream, the last line may lack its break).
            let keep = memchr::memrchr(b'\n', &block).map_or(0, |i| i + 1);
            carry = block.split_off(keep);
            if failed.is_some() {
                carry.clear();
            }
        }
        if !block.is_empty() && tx.send(Block::Text(gated(block, &gate))).is_err() {
            return;
        }
        if let Some(e) = failed {
            let _ = tx.send(Block::Damaged(e));
            return;
        }
        if ended {
            let _ = tx.send(Block::End);
            return;
        }
    }
}

/// The lines of the blocks [`decode_blocks`] sends, parsed as the merge
/// pulls them; a damaged stream ends the source with an error.
pub fn block_lines(
    key: String,
    rx: std::sync::mpsc::Receiver<Block>,
    gate: Gate,
) -> impl Iterator<Item = Result<LogRecord, BadLine>> + Send {
    let mut block: Vec<u8> = Vec::new();
    let mut at = Cursor::new(gate);
    let mut done = false;
    std::iter::from_fn(move || {
        loop {
            if let Some((n, line)) = at.next_line(&block) {
                return Some(parsed(&key, n, line));
            }
            if done {
                return None;
            }
            // The decoder runs ahead on a thread of its own (the caller
            // starts it before handing this source to a merge): a wait here
            // is for CPU work under way.
            let damaged = |e: String| BadLine {
                key: key.clone(),
                line: at.n + 1,
                error: ParseError::Damaged(e),
            };
            match rx.recv() {
                Ok(Block::Text(b)) => (block, at.start) = (b, 0),
                Ok(Block::End) => done = true,
                Ok(Block::Damaged(e)) => {
                    done = true;
                    return Some(Err(damaged(e)));
                }
                Err(_) => {
                    done = true;
                    return Some(Err(damaged("the decompression stopped".into())));
                }
            }
        }
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
pub fn open_raw(key: String, gz: &[u8], gate: Gate) -> (Source, Option<String>, u64) {
    let (text, err) = gunzip(gz);
    let warn = err.map(|e| {
        format!(
            "{key}: damaged gzip ({e}); served the {} bytes before the damage",
            text.len()
        )
    });
    let n = text.len() as u64;
    // Gated here, off the merge's thread; the lines left are candidates.
    (open_text(key, gated(text, &gate), None), warn, n)
}

/// Decompressed JSON lines (a raw object's text) made a merge source: kept
/// as text and parsed as pulled when already in merge order, else parsed
/// and sorted whole.
pub fn open_text(key: String, text: Vec<u8>, gate: Gate) -> Source {
    if in_merge_order(&text) {
        Box::new(lines(key, text, gate))
    } else {
        let records: Vec<_> = sorted(lines(key, text, gate)).collect();
        Box::new(records.into_iter())
    }
}

/// Just the order key of a stored line, borrowed: enough to tell whether
/// an object is sorted without building its records.
#[derive(serde::Deserialize)]
struct KeyWire<'a> {
    ts: Option<KeyNumber<'a>>,
    off: Option<KeyNumber<'a>>,
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

/// A number as stored: JSON, or NF1's string form `"\u0001n<digits>"`
/// (docs/design.md §10), which the msgpack mode's raw objects hold.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum KeyNumber<'a> {
    Json(u64),
    #[serde(borrow)]
    Nf(std::borrow::Cow<'a, str>),
}

impl KeyNumber<'_> {
    fn value(&self) -> Option<u64> {
        match self {
            KeyNumber::Json(n) => Some(*n),
            KeyNumber::Nf(s) => s.strip_prefix("\u{1}n")?.parse().ok(),
        }
    }
}

/// Whether the lines of `text` come in merge order. Lines that are not
/// records are left out (the merge reports them wherever they are); a
/// record whose order key cannot be read here without decoding it whole
/// (an NF1 escape in its strings) makes the object be sorted.
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
        let Some(ts) = ts.value() else {
            return false;
        };
        let off = match w.off.map(|o| o.value()) {
            Some(None) => return false,
            Some(Some(o)) => Some(o),
            None => None,
        };
        if [&cid, &stream].iter().any(|s| s.contains('\u{1}')) {
            return false;
        }
        let k = (ts, cid, off, stream);
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

    /// The msgpack mode's raw objects hold NF1 numbers (`"\u0001n5"`): their
    /// order is read too, not taken for granted. (Kubernetes events of one
    /// upload share times and differ in container id, in list order.)
    #[test]
    fn tells_sorted_nf1_objects() {
        let l = |ts: u64, cid: &str, off: u64| {
            format!(
                r#"{{"\u0001nf":"\u0001n1","ts":"\u0001n{ts}","off":"\u0001n{off}","stream":"event","log":"x","afterlog":{{"container_id":"{cid}"}}}}"#
            )
        };
        let text = |ls: &[String]| ls.join("\n").into_bytes();
        assert!(in_merge_order(&text(&[
            l(1, "a", 0),
            l(1, "b", 0),
            l(2, "a", 0)
        ])));
        assert!(!in_merge_order(&text(&[l(1, "b", 1), l(1, "a", 1)])));
        assert!(!in_merge_order(&text(&[l(2, "a", 0), l(1, "a", 0)])));
        // A number NF1 does not write: sorted rather than trusted.
        let odd = r#"{"ts":"\u0001nx","stream":"event","log":"x","afterlog":{"container_id":"a"}}"#;
        assert!(!in_merge_order(odd.as_bytes()));
    }

    fn blocks(gz: Vec<u8>) -> Vec<Result<String, String>> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let t = std::thread::spawn(move || decode_blocks(gz, tx, None));
        let out = block_lines("k".into(), rx, None)
            .map(|r| match r {
                Ok(r) => Ok(r.log().into_owned()),
                Err(e) => Err(e.to_string()),
            })
            .collect();
        t.join().unwrap();
        out
    }

    #[test]
    fn blocks_decoded_ahead_read_as_streamed_lines() {
        let line = |i: usize| {
            format!(
                r#"{{"ts":{i},"stream":"stdout","log":"line {i} {}","afterlog":{{"container_id":"c","pod":"p","container":"x"}}}}"#,
                "y".repeat(i % 700)
            )
        };
        // More than two blocks, in two gzip members, the last line unbroken.
        let text: Vec<String> = (0..6000).map(line).collect();
        let mut gz = Vec::new();
        for half in text.chunks(3500) {
            let mut e = GzEncoder::new(Vec::new(), Compression::fast());
            e.write_all(half.join("\n").as_bytes()).unwrap();
            e.write_all(b"\n\n").unwrap();
            gz.extend(e.finish().unwrap());
        }
        gz.truncate(gz.len() - 1 - 8); // the second member's trailer cut short
        let got = blocks(gz.clone());
        let streamed: Vec<Result<String, String>> = streamed_lines("k".into(), gz.clone(), None)
            .map(|r| match r {
                Ok(r) => Ok(r.log().into_owned()),
                Err(e) => Err(e.to_string()),
            })
            .collect();
        assert_eq!(got.len(), streamed.len());
        assert_eq!(
            got.iter().filter(|r| r.is_ok()).collect::<Vec<_>>(),
            streamed.iter().filter(|r| r.is_ok()).collect::<Vec<_>>()
        );
        assert!(got.len() > 3500, "the first member whole");
        assert!(
            got.last()
                .unwrap()
                .as_ref()
                .unwrap_err()
                .contains("damaged gzip")
        );
        // Whole: every line, nothing else.
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(text.join("\n").as_bytes()).unwrap();
        let got = blocks(e.finish().unwrap());
        assert_eq!(got.len(), 6000);
        assert_eq!(
            got[5999].as_deref(),
            Ok(format!("line 5999 {}", "y".repeat(5999 % 700)).as_str())
        );
        // Lines longer than a block.
        let long: Vec<String> = (0..3)
            .map(|i| line(i).replace("\"line ", &format!("\"{}", "z".repeat(3 << 20))))
            .collect();
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(long.join("\n").as_bytes()).unwrap();
        let got = blocks(e.finish().unwrap());
        assert_eq!(got.len(), 3);
        assert!(
            got.iter()
                .all(|r| r.as_ref().is_ok_and(|l| l.len() > 3 << 20))
        );
        // A decoder gone without saying the stream ended is damage.
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let line0 = line(0);
        tx.send(Block::Text(format!("{line0}\n").into_bytes()))
            .unwrap();
        drop(tx);
        let got: Vec<_> = block_lines("k".into(), rx, None).collect();
        assert!(got[0].is_ok());
        assert!(matches!(
            &got[1],
            Err(BadLine {
                error: ParseError::Damaged(_),
                line: 2,
                ..
            })
        ));
        assert_eq!(got.len(), 2);
        // A reader that gives up stops the decoder.
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let gz = gz.clone();
        let t = std::thread::spawn(move || decode_blocks(gz, tx, None));
        let first = block_lines("k".into(), rx, None).next();
        assert!(matches!(first, Some(Ok(_))));
        t.join().unwrap();
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

    #[test]
    fn a_gate_empties_ruled_out_lines_and_keeps_their_numbers() {
        let m = crate::line_match::LineMatch::new(&crate::line_match::LineFilter {
            grep: vec!["needle".into()],
            ..Default::default()
        })
        .unwrap();
        let text =
            b"{\"log\":\"hay\"}\n{\"log\":\"needle\"}\nnot json needle\n{\"log\":\"hay\"}".to_vec();
        let out = gated(text, &Some(m));
        assert_eq!(out, b"\n{\"log\":\"needle\"}\nnot json needle\n".to_vec());
        // The line that is not a record is still reported, by its number.
        let bad: Vec<_> = lines("k".into(), out, None)
            .filter_map(Result::err)
            .map(|b| b.line)
            .collect();
        assert_eq!(bad, vec![2, 3]);
    }
}
