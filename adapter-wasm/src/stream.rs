//! A stored object fed in chunks as they arrive (a `fetch` body read piece
//! by piece), turned into records line by line: the push-driven twin of
//! `afterlog_reader::object::streamed_lines`, which pulls from bytes it
//! already has. Lines are handled exactly as there: counted from 1, blank
//! ones skipped, a final line without its break parsed as it is, and on a
//! damaged gzip stream what precedes the last whole line is kept.

use crate::error::AdapterError;
use afterlog_reader::{BadLine, LogRecord};
use flate2::write::MultiGzDecoder;
use std::io::Write;

/// The two bytes every gzip member starts with.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Whether `bytes` start like a gzip stream (else they are taken as text).
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&GZIP_MAGIC)
}

/// The text of a whole gzip stream (one or more members); a damaged one is
/// an error naming `what` and how much of it decoded.
pub fn gunzip_whole(what: &str, bytes: &[u8]) -> Result<Vec<u8>, AdapterError> {
    let (text, err) = afterlog_reader::gunzip(bytes);
    match err {
        None => Ok(text),
        Some(e) => Err(AdapterError::Damaged {
            what: what.to_string(),
            error: e.to_string(),
            decoded: text.len() as u64,
        }),
    }
}

enum Inflate {
    /// Fewer than two bytes seen: gzip or text is not known yet.
    Sniff(Vec<u8>),
    Text,
    Gzip(Box<MultiGzDecoder<Vec<u8>>>),
    /// Finished or broken: nothing more is accepted.
    Closed,
}

/// Splits a pushed byte stream (gzip, possibly of several members, or
/// plain JSON lines) into parsed lines.
pub struct LineDecoder {
    key: String,
    inflate: Inflate,
    /// Decompressed bytes after the last line break.
    partial: Vec<u8>,
    /// How much of `partial` is known to hold no line break: tiny chunks
    /// of a long line are not rescanned from its start each time.
    scanned: usize,
    /// Lines seen so far (blank ones included), for messages.
    line: usize,
}

pub type Item = Result<LogRecord, BadLine>;

impl LineDecoder {
    pub fn new(key: String) -> LineDecoder {
        LineDecoder {
            key,
            inflate: Inflate::Sniff(Vec::new()),
            partial: Vec::new(),
            scanned: 0,
            line: 0,
        }
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// Decompressed bytes decoded so far that did not make a whole line yet.
    pub fn pending(&self) -> usize {
        self.partial.len()
    }

    /// Feeds the next bytes; the lines they complete go to `out`. An error
    /// means the gzip stream is damaged: the lines before the damage are in
    /// `out`, the rest is lost and the decoder takes nothing more.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<Item>) -> Result<(), std::io::Error> {
        match &mut self.inflate {
            Inflate::Sniff(head) => {
                head.extend_from_slice(bytes);
                if head.len() < GZIP_MAGIC.len() {
                    return Ok(());
                }
                let head = std::mem::take(head);
                self.inflate = if is_gzip(&head) {
                    Inflate::Gzip(Box::new(MultiGzDecoder::new(Vec::new())))
                } else {
                    Inflate::Text
                };
                self.push(&head, out)
            }
            Inflate::Text => {
                self.partial.extend_from_slice(bytes);
                self.split(out);
                Ok(())
            }
            Inflate::Gzip(dec) => {
                // `flush` hands over everything decoded so far, so lines
                // come out as soon as their bytes are in.
                let r = dec.write_all(bytes).and_then(|()| dec.flush());
                let text = std::mem::take(dec.get_mut());
                self.partial.extend_from_slice(&text);
                self.split(out);
                if r.is_err() {
                    self.inflate = Inflate::Closed;
                    self.partial.clear();
                    self.scanned = 0;
                }
                r
            }
            Inflate::Closed => Err(std::io::Error::other("the stream was already ended")),
        }
    }

    /// The end of the stream: the last line (which may lack its break)
    /// goes to `out`. An error means the gzip stream ended early or its
    /// trailer is wrong; the lines before are in `out`.
    pub fn finish(&mut self, out: &mut Vec<Item>) -> Result<(), std::io::Error> {
        let r = match std::mem::replace(&mut self.inflate, Inflate::Closed) {
            Inflate::Sniff(head) => {
                // Under two bytes: text (one character, or nothing).
                self.partial.extend_from_slice(&head);
                Ok(())
            }
            Inflate::Text => Ok(()),
            Inflate::Gzip(mut dec) => {
                let r = dec.try_finish();
                let text = std::mem::take(dec.get_mut());
                self.partial.extend_from_slice(&text);
                r
            }
            Inflate::Closed => return Err(std::io::Error::other("the stream was already ended")),
        };
        self.split(out);
        match r {
            Ok(()) => {
                let last = std::mem::take(&mut self.partial);
                if !last.iter().all(u8::is_ascii_whitespace) {
                    self.line += 1;
                    out.push(self.parse(last));
                }
                Ok(())
            }
            Err(e) => {
                // A cut stream may have cut its last line: only whole lines count.
                self.partial.clear();
                self.scanned = 0;
                Err(e)
            }
        }
    }

    /// Moves the whole lines of `partial` to `out`.
    fn split(&mut self, out: &mut Vec<Item>) {
        let mut start = 0;
        let mut from = self.scanned.min(self.partial.len());
        while let Some(i) = self.partial[from..].iter().position(|&b| b == b'\n') {
            let end = from + i;
            let line = &self.partial[start..end];
            self.line += 1;
            if !line.iter().all(u8::is_ascii_whitespace) {
                let item = self.parse(line.to_vec());
                out.push(item);
            }
            start = end + 1;
            from = start;
        }
        self.partial.drain(..start);
        self.scanned = self.partial.len();
    }

    fn parse(&self, line: Vec<u8>) -> Item {
        LogRecord::parse(line).map_err(|error| BadLine {
            key: self.key.clone(),
            line: self.line,
            error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use proptest::prelude::*;

    fn rec(ts: u64, log: &str) -> String {
        format!(
            r#"{{"ts":{ts},"off":{ts},"stream":"stdout","log":"{log}","afterlog":{{"pod":"p","container":"c","container_id":"cid"}}}}"#
        )
    }

    fn gz(text: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(text).unwrap();
        e.finish().unwrap()
    }

    /// Feeds `bytes` in chunks of `size`; the logs, the bad line numbers
    /// and whether it failed.
    fn feed(bytes: &[u8], size: usize) -> (Vec<String>, Vec<usize>, bool) {
        let mut d = LineDecoder::new("k".into());
        let mut out = Vec::new();
        let mut failed = false;
        for c in bytes.chunks(size.max(1)) {
            if d.push(c, &mut out).is_err() {
                failed = true;
                break;
            }
        }
        if !failed {
            failed = d.finish(&mut out).is_err();
        }
        let (mut logs, mut bad) = (Vec::new(), Vec::new());
        for item in out {
            match item {
                Ok(r) => logs.push(r.log().into_owned()),
                Err(b) => bad.push(b.line),
            }
        }
        (logs, bad, failed)
    }

    #[test]
    fn text_and_gzip_in_any_chunks() {
        let text = format!("{}\n\n{}\n{}", rec(1, "a"), rec(2, "b"), rec(3, "c"));
        let mut two_members = gz(text.as_bytes());
        two_members.extend(gz(format!("\n{}\n", rec(4, "d")).as_bytes()));
        for size in [1, 2, 3, 7, 64, 100_000] {
            assert_eq!(
                feed(text.as_bytes(), size),
                (vec!["a".into(), "b".into(), "c".into()], vec![], false)
            );
            assert_eq!(
                feed(&two_members, size),
                (
                    vec!["a".into(), "b".into(), "c".into(), "d".into()],
                    vec![],
                    false
                ),
                "chunks of {size}"
            );
        }
    }

    #[test]
    fn bad_lines_are_numbered_like_the_reader() {
        let text = format!("{}\n\njunk\n{}\n", rec(1, "a"), rec(2, "b"));
        assert_eq!(
            feed(&gz(text.as_bytes()), 5),
            (vec!["a".into(), "b".into()], vec![3], false)
        );
    }

    #[test]
    fn a_cut_stream_keeps_whole_lines_and_fails() {
        let text = (0..200).map(|i| rec(i, "x") + "\n").collect::<String>();
        let full = gz(text.as_bytes());
        // (A single byte cannot be told from text: it is taken as text.)
        for cut in [2, 5, 11, full.len() / 2, full.len() - 4, full.len() - 1] {
            let (logs, bad, failed) = feed(&full[..cut], 13);
            assert!(failed, "cut at {cut}");
            // Whole lines only (a cut in the trailer leaves them all).
            assert!(bad.is_empty() && logs.len() <= 200, "cut at {cut}");
        }
        // Junk after a member is a damaged stream too.
        let mut tail = full.clone();
        tail.extend_from_slice(b"\x1f\x8bjunk");
        assert!(feed(&tail, 4096).2);
    }

    #[test]
    fn nothing_is_no_lines() {
        assert_eq!(feed(b"", 1), (vec![], vec![], false));
        assert_eq!(feed(b"\n", 1).0, Vec::<String>::new());
        // One byte that is not a record, without a break.
        assert_eq!(feed(b"x", 1).1, vec![1]);
    }

    proptest! {
        /// Whatever arrives, in whatever chunks: no panic, and lines only
        /// from what was decodable.
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600), size in 1usize..50, gzip in any::<bool>()) {
            let input = if gzip {
                let mut g = gz(&bytes);
                let cut = bytes.len() % (g.len() + 1);
                g.truncate(g.len() - cut.min(g.len()));
                g
            } else {
                bytes
            };
            let _ = feed(&input, size);
        }

        /// Corrupting one byte of a gzip stream never panics, only the
        /// written records come out, and the damage is noticed: as a
        /// damaged stream (by the CRC check at the latest) or, when the
        /// magic bytes are hit, as text that is not records.
        #[test]
        fn corrupt_gzip(at in any::<prop::sample::Index>(), flip in 1u8..=255, size in 1usize..64) {
            let text = (0..50).map(|i| rec(i, "y") + "\n").collect::<String>();
            let mut g = gz(text.as_bytes());
            let i = at.index(g.len());
            g[i] ^= flip;
            let (logs, bad, failed) = feed(&g, size);
            prop_assert!(logs.iter().all(|l| l == "y"));
            // A flipped header flag or time leaves the data intact.
            prop_assert!(failed || !bad.is_empty() || logs.len() == 50);
        }
    }
}
