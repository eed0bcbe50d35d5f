//! A validating, allocation-free JSON scanner and a few writers.
//!
//! The filter runs interpreted inside Fluent Bit, where building a JSON tree
//! per record costs ten times the rest of the pipeline. Instead the scanner
//! checks the record once (RFC 8259, strict UTF-8, the same nesting limit as
//! `serde_json`) and hands out byte spans, so untouched values are copied to
//! the output as they are.

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

/// A string's contents (between the quotes) in the scanned buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Str {
    pub start: u32,
    pub end: u32,
    /// Whether the raw bytes contain a backslash escape.
    pub escaped: bool,
}

impl Str {
    pub fn raw<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        &buf[self.start as usize..self.end as usize]
    }
    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
    /// The decoded text; borrowed when there is nothing to unescape.
    pub fn text<'a>(&self, buf: &'a [u8], scratch: &'a mut String) -> &'a str {
        let raw = self.raw(buf);
        if !self.escaped {
            // Validated by the scanner.
            return std::str::from_utf8(raw).unwrap_or("");
        }
        scratch.clear();
        unescape_into(raw, scratch);
        scratch
    }
    /// Whether the decoded text equals `s`, without allocating.
    pub fn eq_str(&self, buf: &[u8], s: &str) -> bool {
        let raw = self.raw(buf);
        if !self.escaped {
            return raw == s.as_bytes();
        }
        let mut rest = s.as_bytes();
        let mut ok = true;
        for_each_unescaped(raw, |piece| {
            if ok {
                match rest.strip_prefix(piece) {
                    Some(r) => rest = r,
                    None => ok = false,
                }
            }
        });
        ok && rest.is_empty()
    }
}

/// One `"key": value` of an object: the key, and the value's raw span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Member {
    pub key: Str,
    pub start: u32,
    pub end: u32,
    /// For a string value: whether it contains escapes.
    pub escaped: bool,
}

impl Member {
    pub fn value<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        &buf[self.start as usize..self.end as usize]
    }
    /// The value as a string, if it is one.
    pub fn as_str(&self, buf: &[u8]) -> Option<Str> {
        let v = self.value(buf);
        if v.len() >= 2 && v[0] == b'"' {
            Some(Str {
                start: self.start + 1,
                end: self.end - 1,
                escaped: self.escaped,
            })
        } else {
            None
        }
    }
    /// The whole `"key":value` span, for copying a member unchanged.
    pub fn whole<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        &buf[self.key.start as usize - 1..self.end as usize]
    }
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

fn hex4(b: &[u8]) -> Option<u16> {
    if b.len() < 4 {
        return None;
    }
    let mut v = 0u16;
    for &c in &b[..4] {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return None,
        };
        v = v << 4 | d as u16;
    }
    Some(v)
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

/// Calls `f` with the decoded pieces of a validated raw string body.
pub fn for_each_unescaped(raw: &[u8], mut f: impl FnMut(&[u8])) {
    let mut i = 0;
    let mut run = 0;
    while i < raw.len() {
        if raw[i] != b'\\' {
            i += 1;
            continue;
        }
        f(&raw[run..i]);
        let c = raw.get(i + 1).copied().unwrap_or(b'\\');
        i += 2;
        let single = match c {
            b'b' => 8,
            b'f' => 12,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let hi = hex4(raw.get(i..).unwrap_or(&[])).unwrap_or(0xFFFD) as u32;
                i += 4;
                let cp = if (0xD800..0xDC00).contains(&hi) {
                    let lo = hex4(raw.get(i + 2..).unwrap_or(&[])).unwrap_or(0xDC00) as u32;
                    i += 6;
                    0x10000 + ((hi - 0xD800) << 10) + (lo.wrapping_sub(0xDC00) & 0x3FF)
                } else {
                    hi
                };
                let ch = char::from_u32(cp).unwrap_or('\u{FFFD}');
                let mut tmp = [0u8; 4];
                f(ch.encode_utf8(&mut tmp).as_bytes());
                run = i;
                continue;
            }
            other => other,
        };
        f(&[single]);
        run = i;
    }
    f(&raw[run.min(raw.len())..]);
}

/// Appends the decoded text of a validated raw string body.
pub fn unescape_into(raw: &[u8], out: &mut String) {
    let mut bytes = std::mem::take(out).into_bytes();
    for_each_unescaped(raw, |p| bytes.extend_from_slice(p));
    *out = String::from_utf8(bytes)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
}

/// Appends `s` as a JSON string literal, quotes included.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    write_str_body(out, s);
    out.push(b'"');
}

/// Appends the escaped body of a JSON string (no quotes).
pub fn write_str_body(out: &mut Vec<u8>, s: &str) {
    const HEXD: &[u8; 16] = b"0123456789abcdef";
    let b = s.as_bytes();
    let mut run = 0;
    for (i, &c) in b.iter().enumerate() {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1F => b"",
            _ => continue,
        };
        out.extend_from_slice(&b[run..i]);
        if esc.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEXD[(c >> 4) as usize]);
            out.push(HEXD[(c & 15) as usize]);
        } else {
            out.extend_from_slice(esc);
        }
        run = i + 1;
    }
    out.extend_from_slice(&b[run..]);
}

/// Appends the decimal form of `v`.
pub fn write_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(u64_digits(v, &mut [0u8; 20]));
}

/// The decimal digits of `v`, formatted in `buf` (on the caller's stack:
/// this runs for every record's numbers, and wasm has no fast allocator).
pub fn u64_digits(mut v: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &buf[i..]
}

/// Whether two byte strings are equal, eight bytes at a time: `memcmp` in
/// `wasm32` is a byte loop, and this runs on every record.
#[inline]
pub fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    // Whole words, not slices: comparing two 8-byte slices is a `memcmp`
    // call per chunk (natively, and a byte loop in wasm).
    let (wa, ra) = a.as_chunks::<8>();
    let (wb, rb) = b.as_chunks::<8>();
    for (x, y) in wa.iter().zip(wb) {
        if u64::from_ne_bytes(*x) != u64::from_ne_bytes(*y) {
            return false;
        }
    }
    ra.iter().zip(rb).all(|(x, y)| x == y)
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
    fn unescape_and_compare() {
        let raw = br#"a\"b\\c\/d\n\u00e9\ud83d\ude00"#;
        let mut s = String::new();
        unescape_into(raw, &mut s);
        assert_eq!(s, "a\"b\\c/d\né😀");
        let st = Str {
            start: 0,
            end: raw.len() as u32,
            escaped: true,
        };
        assert!(st.eq_str(raw, "a\"b\\c/d\né😀"));
        assert!(!st.eq_str(raw, "a\"b\\c/d\né"));
        assert!(!st.eq_str(raw, "a\"b\\c/d\né😀x"));
    }

    #[test]
    fn writes_valid_strings() {
        let s = "q\"b\\n\n\t\r\u{1}\u{1f}é😀";
        let mut out = Vec::new();
        write_str(&mut out, s);
        let back: String = serde_json::from_slice(&out).unwrap();
        assert_eq!(back, s);
        let mut n = Vec::new();
        write_u64(&mut n, 0);
        n.push(b' ');
        write_u64(&mut n, u64::MAX);
        assert_eq!(n, b"0 18446744073709551615");
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
