//! The scanner: checks a record once and records its members' spans.

use super::span::{Member, Str};
use super::unescape::hex4;
use thiserror::Error;

/// Deepest nesting accepted; `serde_json` refuses the 128th level too, and
/// the reference tests compare against it.
pub const MAX_DEPTH: u32 = 127;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum JsonError {
    #[error("invalid JSON at byte {0}")]
    Syntax(usize),
    #[error("JSON nested deeper than {MAX_DEPTH} levels at byte {0}")]
    Depth(usize),
    #[error("invalid UTF-8 at byte {0}")]
    Utf8(usize),
    #[error("record is not a JSON object")]
    NotObject,
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Bytes that end the fast path inside a string: `"`, `\`, controls, non-ASCII.
#[inline(always)]
fn special(w: u64) -> bool {
    let quote = w ^ (LO * b'"' as u64);
    let bslash = w ^ (LO * b'\\' as u64);
    let zero = |v: u64| v.wrapping_sub(LO) & !v & HI;
    let ctl = w.wrapping_sub(LO * 0x20) & !w & HI;
    (zero(quote) | zero(bslash) | ctl | (w & HI)) != 0
}

/// Length of the valid UTF-8 sequence starting at `b[0]` (non-ASCII lead), or None.
fn utf8_seq(b: &[u8]) -> Option<usize> {
    let cont = |i: usize| b.get(i).is_some_and(|c| c & 0xC0 == 0x80);
    let b1 = *b.get(1)?;
    match b[0] {
        0xC2..=0xDF if cont(1) => Some(2),
        0xE0 if (0xA0..=0xBF).contains(&b1) && cont(2) => Some(3),
        0xE1..=0xEC | 0xEE..=0xEF if cont(1) && cont(2) => Some(3),
        0xED if (0x80..=0x9F).contains(&b1) && cont(2) => Some(3),
        0xF0 if (0x90..=0xBF).contains(&b1) && cont(2) && cont(3) => Some(4),
        0xF1..=0xF3 if cont(1) && cont(2) && cont(3) => Some(4),
        0xF4 if (0x80..=0x8F).contains(&b1) && cont(2) && cont(3) => Some(4),
        _ => None,
    }
}

/// A cursor over one buffer.
pub struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Scanner { b, i: 0 }
    }

    fn err(&self) -> JsonError {
        JsonError::Syntax(self.i)
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            if matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// Scans a string whose opening quote is at the cursor.
    fn string(&mut self) -> Result<Str, JsonError> {
        let b = self.b;
        let start = self.i + 1;
        let mut i = start;
        let mut escaped = false;
        loop {
            while let Some(chunk) = b.get(i..i + 8) {
                let w = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
                if special(w) {
                    break;
                }
                i += 8;
            }
            let Some(&c) = b.get(i) else {
                self.i = i;
                return Err(self.err());
            };
            match c {
                b'"' => {
                    self.i = i + 1;
                    return Ok(Str {
                        start: start as u32,
                        end: i as u32,
                        escaped,
                    });
                }
                b'\\' => {
                    escaped = true;
                    i += 1;
                    match b.get(i) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 1,
                        Some(b'u') => {
                            let Some(u) = hex4(&b[i + 1..]) else {
                                self.i = i;
                                return Err(self.err());
                            };
                            i += 5;
                            match u {
                                0xD800..=0xDBFF => {
                                    let low = if b.get(i..i + 2) == Some(b"\\u") {
                                        hex4(&b[i + 2..])
                                    } else {
                                        None
                                    };
                                    if !matches!(low, Some(0xDC00..=0xDFFF)) {
                                        self.i = i;
                                        return Err(self.err());
                                    }
                                    i += 6;
                                }
                                0xDC00..=0xDFFF => {
                                    self.i = i;
                                    return Err(self.err());
                                }
                                _ => {}
                            }
                        }
                        _ => {
                            self.i = i;
                            return Err(self.err());
                        }
                    }
                }
                0..=0x1F => {
                    self.i = i;
                    return Err(self.err());
                }
                0x80.. => match utf8_seq(&b[i..]) {
                    Some(n) => i += n,
                    None => return Err(JsonError::Utf8(i)),
                },
                _ => i += 1,
            }
        }
    }

    fn digits(&mut self) -> usize {
        let s = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        self.i - s
    }

    fn number(&mut self) -> Result<(), JsonError> {
        let start = self.i;
        self.number_syntax()?;
        // Like serde_json, refuse numbers beyond f64's range.
        let span = &self.b[start..self.i];
        if span.len() > 300 || span.iter().any(|&c| c == b'e' || c == b'E') {
            let finite = std::str::from_utf8(span)
                .ok()
                .and_then(|t| t.parse::<f64>().ok())
                .is_some_and(f64::is_finite);
            if !finite {
                return Err(JsonError::Syntax(start));
            }
        }
        Ok(())
    }

    fn number_syntax(&mut self) -> Result<(), JsonError> {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.err()),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(self.err());
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(self.err());
            }
        }
        Ok(())
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), JsonError> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(self.err())
        }
    }

    /// Skips one value of any kind starting at the cursor, at nesting `depth`
    /// (the number of containers already open around it). Iterative, so deep
    /// input cannot overflow the stack.
    fn value(&mut self, depth: u32) -> Result<(), JsonError> {
        // One bit per open container: 1 = object, 0 = array.
        let mut stack: u128 = 0;
        let mut open = 0u32;
        loop {
            self.ws();
            // A value.
            match self.peek() {
                Some(b'"') => {
                    self.string()?;
                }
                Some(b'{' | b'[') => {
                    let is_obj = self.peek() == Some(b'{');
                    if depth + open + 1 > MAX_DEPTH {
                        return Err(JsonError::Depth(self.i));
                    }
                    self.i += 1;
                    stack = stack << 1 | is_obj as u128;
                    open += 1;
                    self.ws();
                    let close = if is_obj { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.i += 1;
                        stack >>= 1;
                        open -= 1;
                    } else {
                        if is_obj {
                            self.key()?;
                        }
                        continue;
                    }
                }
                Some(b't') => self.literal(b"true")?,
                Some(b'f') => self.literal(b"false")?,
                Some(b'n') => self.literal(b"null")?,
                Some(b'-' | b'0'..=b'9') => self.number()?,
                _ => return Err(self.err()),
            }
            // After a value: close containers or move to the next element.
            loop {
                if open == 0 {
                    return Ok(());
                }
                self.ws();
                let is_obj = stack & 1 == 1;
                match self.peek() {
                    Some(b',') => {
                        self.i += 1;
                        if is_obj {
                            self.ws();
                            self.key()?;
                        }
                        break;
                    }
                    Some(b'}') if is_obj => {}
                    Some(b']') if !is_obj => {}
                    _ => return Err(self.err()),
                }
                self.i += 1;
                stack >>= 1;
                open -= 1;
            }
        }
    }

    /// `"key"` then `:`, leaving the cursor before the value.
    fn key(&mut self) -> Result<Str, JsonError> {
        if self.peek() != Some(b'"') {
            return Err(self.err());
        }
        let k = self.string()?;
        self.ws();
        if self.peek() != Some(b':') {
            return Err(self.err());
        }
        self.i += 1;
        Ok(k)
    }

    /// Scans the object at the cursor (at nesting `depth`), pushing its
    /// members to `out`, and leaves the cursor after the closing brace.
    /// `skip` may claim a member's value by returning its end: it sees the
    /// buffer and the value's start, and is used to recognise a value already
    /// seen without scanning it again.
    pub fn object(
        &mut self,
        depth: u32,
        out: &mut Vec<Member>,
        mut skip: impl FnMut(&Str, usize) -> Option<usize>,
    ) -> Result<(), JsonError> {
        self.ws();
        if self.peek() != Some(b'{') {
            return Err(JsonError::NotObject);
        }
        if depth + 1 > MAX_DEPTH {
            return Err(JsonError::Depth(self.i));
        }
        self.i += 1;
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.ws();
            let key = self.key()?;
            self.ws();
            let start = self.i;
            let mut escaped = false;
            match skip(&key, start) {
                Some(end) => self.i = end,
                None if self.peek() == Some(b'"') => escaped = self.string()?.escaped,
                None => self.value(depth + 1)?,
            }
            out.push(Member {
                key,
                start: start as u32,
                end: self.i as u32,
                escaped,
            });
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(self.err()),
            }
        }
    }

    /// Requires only whitespace after the cursor.
    pub fn end(&mut self) -> Result<(), JsonError> {
        self.ws();
        if self.i == self.b.len() {
            Ok(())
        } else {
            Err(self.err())
        }
    }
}

/// Scans a whole buffer that must be one JSON object; its members go to `out`.
pub fn top_object(
    buf: &[u8],
    out: &mut Vec<Member>,
    skip: impl FnMut(&Str, usize) -> Option<usize>,
) -> Result<(), JsonError> {
    out.clear();
    if buf.len() >= u32::MAX as usize {
        return Err(JsonError::Syntax(0));
    }
    let mut s = Scanner::new(buf);
    s.object(0, out, skip)?;
    s.end()
}

/// Scans a nested object value (`buf` is exactly its span) at `depth`.
pub fn nested_object(buf: &[u8], depth: u32, out: &mut Vec<Member>) -> Result<(), JsonError> {
    out.clear();
    let mut s = Scanner::new(buf);
    s.object(depth, out, |_, _| None)?;
    s.end()
}

/// Whether `buf` is exactly one valid JSON value (used by tests and checks).
pub fn is_valid(buf: &[u8]) -> bool {
    let mut s = Scanner::new(buf);
    s.value(0).is_ok() && s.end().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(s: &str) -> Result<Vec<(String, String)>, JsonError> {
        let mut out = Vec::new();
        top_object(s.as_bytes(), &mut out, |_, _| None)?;
        let mut scratch = String::new();
        Ok(out
            .iter()
            .map(|m| {
                let k = m.key.text(s.as_bytes(), &mut scratch).to_string();
                (
                    k,
                    String::from_utf8(m.value(s.as_bytes()).to_vec()).unwrap(),
                )
            })
            .collect())
    }

    #[test]
    fn spans() {
        let m = members(r#" { "a" : 1 , "b\u0062":{"x":[1,2,{"y":null}]}, "c":"s\"t" } "#).unwrap();
        assert_eq!(
            m,
            vec![
                ("a".into(), "1".into()),
                ("bb".into(), r#"{"x":[1,2,{"y":null}]}"#.into()),
                ("c".into(), r#""s\"t""#.into()),
            ]
        );
    }

    #[test]
    fn agrees_with_serde_json_on_validity() {
        let cases = [
            r#"{}"#,
            r#"{"a":1}"#,
            r#"{"a":-0.5e+10}"#,
            r#"{"a":1e400}"#,
            r#"{"a":-1e308}"#,
            r#"{"a":1e-400}"#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":.5}"#,
            r#"{"a":"\ud83d\ude00"}"#,
            r#"{"a":"\ud83d"}"#,
            r#"{"a":"\ude00"}"#,
            r#"{"a":"\x"}"#,
            "{\"a\":\"\t\"}",
            r#"{"a":[1,]}"#,
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            r#"{"a":tru}"#,
            r#"{"a":true}x"#,
            r#"[1]"#,
            r#"{"a":[[[]]],"b":{}}"#,
            r#"{"a":"é€😀"}"#,
            "{\"a\":1}\0",
            "",
            "{",
        ];
        for c in cases {
            let ours = members(c).is_ok();
            let theirs =
                serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(c).is_ok();
            assert_eq!(ours, theirs, "{c:?}");
        }
    }

    #[test]
    fn depth_limit_matches_serde_json() {
        for d in [120, 126, 127, 128, 200, 100_000] {
            let s = format!("{{\"a\":{}1{}}}", "[".repeat(d), "]".repeat(d));
            let theirs = serde_json::from_str::<serde_json::Value>(&s).is_ok();
            assert_eq!(members(&s).is_ok(), theirs, "depth {d}");
        }
    }

    #[test]
    fn invalid_utf8_is_reported() {
        let mut out = Vec::new();
        let r = top_object(b"{\"a\":\"\xff\"}", &mut out, |_, _| None);
        assert_eq!(r, Err(JsonError::Utf8(6)));
        let r = top_object(b"{\"a\":\"\xed\xa0\x80\"}", &mut out, |_, _| None);
        assert!(matches!(r, Err(JsonError::Utf8(_))));
    }

    #[test]
    fn swar_special_detection() {
        for b in 0u8..=255 {
            let mut w = [b'a'; 8];
            w[5] = b;
            let expect = b == b'"' || b == b'\\' || !(0x20..0x80).contains(&b);
            assert_eq!(special(u64::from_le_bytes(w)), expect, "byte {b:#x}");
        }
    }
}
