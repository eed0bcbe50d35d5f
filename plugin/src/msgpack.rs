//! The msgpack mode's edge (`event_format: msgpack`): a record
//! arrives as a msgpack map, goes through the same JSON core, and leaves
//! in NF1 (`afterlog_contract::nf`), msgpack without a zero byte, because
//! Fluent Bit reads the result with `strlen`.
//!
//! Incoming msgpack becomes the JSON text Fluent Bit itself would have made
//! of it in the JSON mode, so both modes store the same records.

use crate::json;
use afterlog_contract::nf;
use thiserror::Error;

/// Deeper nesting is refused rather than risking the guest's stack.
const MAX_DEPTH: usize = 64;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum MsgpackError {
    #[error("msgpack ends early at byte {0}")]
    Truncated(usize),
    #[error("msgpack byte 0x{byte:02x} at {at} is not a value (reserved)")]
    Reserved { byte: u8, at: usize },
    #[error("msgpack nested deeper than {MAX_DEPTH}")]
    TooDeep,
    #[error("{0} bytes after the record")]
    Trailing(usize),
}

/// Appends the JSON text of the one msgpack value in `input`.
pub fn to_json(input: &[u8], out: &mut Vec<u8>) -> Result<(), MsgpackError> {
    to_json_cached(input, out, &mut Caches::default())
}

/// [`to_json`], reusing what `caches` remember of earlier records.
pub fn to_json_cached(
    input: &[u8],
    out: &mut Vec<u8>,
    caches: &mut Caches,
) -> Result<(), MsgpackError> {
    let mut r = Reader {
        b: input,
        at: 0,
        cache: &mut caches.kubernetes,
    };
    r.value(out, 0)?;
    match input.len() - r.at {
        0 => Ok(()),
        n => Err(MsgpackError::Trailing(n)),
    }
}

/// Appends the JSON text of the msgpack value `input` starts with, and
/// says how many bytes it took.
pub fn value_to_json(input: &[u8], out: &mut Vec<u8>) -> Result<usize, MsgpackError> {
    let mut lru = Lru::default();
    let mut r = Reader {
        b: input,
        at: 0,
        cache: &mut lru,
    };
    r.value(out, 1)?;
    Ok(r.at)
}

/// Appends the NF1 form of one JSON value (valid, compact text as the
/// core writes it); `None` if it needs NF1's general path (a map or array
/// of more than 15 members).
pub fn value_to_nf(json_text: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let mut lru = Lru::default();
    let mut t = Transcoder {
        j: json_text,
        i: 0,
        labels: &mut lru,
    };
    t.value(out, &mut String::new())?;
    t.ws();
    (t.i == json_text.len()).then_some(())
}

/// What stays the same from record to record of a container: its
/// `kubernetes` map in, its `afterlog` labels out. Converting them once
/// per container, not per record, is most of the msgpack mode's saving.
#[derive(Default)]
pub struct Caches {
    /// msgpack bytes of a `kubernetes` value → its JSON text.
    kubernetes: Lru,
    /// JSON text of an `afterlog` value → its NF1 bytes.
    afterlog: Lru,
}

/// A few entries, most recent first; keys compared byte for byte.
#[derive(Default)]
struct Lru(Vec<(Vec<u8>, Vec<u8>)>);

impl Lru {
    const ENTRIES: usize = 64;

    /// The entry whose key `input` starts with, moved to the front.
    fn find_prefix(&mut self, input: &[u8]) -> Option<(usize, &[u8])> {
        let i = self.0.iter().position(|(k, _)| input.starts_with(k))?;
        self.0[..=i].rotate_right(1);
        let (k, v) = &self.0[0];
        Some((k.len(), v))
    }

    fn insert(&mut self, key: &[u8], value: &[u8]) {
        if self.0.len() == Self::ENTRIES {
            self.0.pop();
        }
        self.0.insert(0, (key.to_vec(), value.to_vec()));
    }
}

struct Reader<'a, 'c> {
    b: &'a [u8],
    at: usize,
    cache: &'c mut Lru,
}

impl<'a> Reader<'a, '_> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], MsgpackError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or(MsgpackError::Truncated(self.at))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn uint(&mut self, n: usize) -> Result<u64, MsgpackError> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |v, &b| (v << 8) | u64::from(b)))
    }

    fn value(&mut self, out: &mut Vec<u8>, depth: usize) -> Result<(), MsgpackError> {
        if depth > MAX_DEPTH {
            return Err(MsgpackError::TooDeep);
        }
        let at = self.at;
        let t = self.take(1)?[0];
        match t {
            0x00..=0x7f => json::write_u64(out, u64::from(t)),
            0x80..=0x8f => self.map(out, usize::from(t & 0x0f), depth)?,
            0x90..=0x9f => self.array(out, usize::from(t & 0x0f), depth)?,
            0xa0..=0xbf => self.str(out, usize::from(t & 0x1f))?,
            0xc0 => out.extend_from_slice(b"null"),
            0xc2 => out.extend_from_slice(b"false"),
            0xc3 => out.extend_from_slice(b"true"),
            0xc4..=0xc6 => {
                // bin: as text, like a string.
                let n = self.uint(1 << (t - 0xc4))? as usize;
                self.str(out, n)?;
            }
            0xc7..=0xc9 => {
                // ext: its bytes mean nothing here.
                let n = self.uint(1 << (t - 0xc7))? as usize;
                self.take(1 + n)?;
                out.extend_from_slice(b"null");
            }
            0xca => {
                let f = f32::from_bits(self.uint(4)? as u32);
                float(out, f64::from(f));
            }
            0xcb => float(out, f64::from_bits(self.uint(8)?)),
            0xcc..=0xcf => json::write_u64(out, self.uint(1 << (t - 0xcc))?),
            0xd0..=0xd3 => {
                let n = 1usize << (t - 0xd0);
                let raw = self.uint(n)?;
                let shift = 64 - 8 * n as u32;
                int(out, ((raw << shift) as i64) >> shift);
            }
            0xd4..=0xd8 => {
                self.take(1 + (1usize << (t - 0xd4)))?;
                out.extend_from_slice(b"null");
            }
            0xd9..=0xdb => {
                let n = self.uint(1 << (t - 0xd9))? as usize;
                self.str(out, n)?;
            }
            0xdc | 0xdd => {
                let n = self.uint(if t == 0xdc { 2 } else { 4 })? as usize;
                self.array(out, n, depth)?;
            }
            0xde | 0xdf => {
                let n = self.uint(if t == 0xde { 2 } else { 4 })? as usize;
                self.map(out, n, depth)?;
            }
            0xe0..=0xff => int(out, i64::from(t as i8)),
            0xc1 => return Err(MsgpackError::Reserved { byte: t, at }),
        }
        Ok(())
    }

    fn str(&mut self, out: &mut Vec<u8>, n: usize) -> Result<(), MsgpackError> {
        let bytes = self.take(n)?;
        // Invalid UTF-8 is replaced, as the JSON mode does.
        json::write_str(out, &String::from_utf8_lossy(bytes));
        Ok(())
    }

    fn array(&mut self, out: &mut Vec<u8>, n: usize, depth: usize) -> Result<(), MsgpackError> {
        out.push(b'[');
        for i in 0..n {
            if i > 0 {
                out.push(b',');
            }
            self.value(out, depth + 1)?;
        }
        out.push(b']');
        Ok(())
    }

    fn map(&mut self, out: &mut Vec<u8>, n: usize, depth: usize) -> Result<(), MsgpackError> {
        out.push(b'{');
        let mut key = Vec::new();
        for i in 0..n {
            if i > 0 {
                out.push(b',');
            }
            key.clear();
            self.value(&mut key, depth + 1)?;
            if key.first() == Some(&b'"') {
                out.extend_from_slice(&key);
            } else {
                // A non-string key: its JSON text, as a string.
                json::write_str(out, &String::from_utf8_lossy(&key));
            }
            out.push(b':');
            if depth == 0 && key == b"\"kubernetes\"" {
                self.kubernetes(out, depth)?;
            } else {
                self.value(out, depth + 1)?;
            }
        }
        out.push(b'}');
        Ok(())
    }

    /// A record's `kubernetes` value: converted once per distinct map (a
    /// map's msgpack ends where it ends, so a cached map that the input
    /// starts with is this very map).
    fn kubernetes(&mut self, out: &mut Vec<u8>, depth: usize) -> Result<(), MsgpackError> {
        let rest = &self.b[self.at..];
        let is_map = rest
            .first()
            .is_some_and(|&t| matches!(t, 0x80..=0x8f | 0xde | 0xdf));
        if is_map && let Some((len, json)) = self.cache.find_prefix(rest) {
            out.extend_from_slice(json);
            self.at += len;
            return Ok(());
        }
        let (start, from) = (self.at, out.len());
        self.value(out, depth + 1)?;
        if is_map {
            self.cache.insert(&self.b[start..self.at], &out[from..]);
        }
        Ok(())
    }
}

fn int(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    json::write_u64(out, v.unsigned_abs());
}

fn float(out: &mut Vec<u8>, f: f64) {
    match serde_json::Number::from_f64(f) {
        Some(n) => out.extend_from_slice(n.to_string().as_bytes()),
        // JSON has no NaN or infinity.
        None => out.extend_from_slice(b"null"),
    }
}

/// Appends the NF1 form of a JSON object text (the core's output, without
/// its NUL), then a NUL. A record that cannot be put in NF1 (a key over
/// 64 KiB) is replaced by one saying so, with its text as `log`.
pub fn to_nf(json_text: &[u8], out: &mut Vec<u8>) {
    to_nf_cached(json_text, out, &mut Caches::default());
}

/// [`to_nf`], reusing what `caches` remember of earlier records.
pub fn to_nf_cached(json_text: &[u8], out: &mut Vec<u8>, caches: &mut Caches) {
    let start = out.len();
    // The common case streams; a member count over 15 (NF1 then splits the
    // map) or anything unexpected takes the general path.
    let mut text = String::new();
    if Transcoder::record(json_text, out, &mut text, &mut caches.afterlog).is_some() {
        out.push(0);
        return;
    }
    out.truncate(start);
    let result = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(json_text)
        .map_err(|e| e.to_string())
        .and_then(|obj| nf::encode_record(&obj, out).map_err(|e| e.to_string()));
    if let Err(why) = result {
        out.truncate(start);
        let mut obj = serde_json::Map::new();
        obj.insert(
            "log".into(),
            String::from_utf8_lossy(json_text).into_owned().into(),
        );
        obj.insert(
            "afterlog".into(),
            serde_json::json!({ "error": format!("msgpack mode: {why}") }),
        );
        nf::encode_record(&obj, out).expect("short keys");
    }
    out.push(0);
}

/// JSON text (as the core writes it: valid, compact) to NF1 without a
/// value tree: each map's and array's header is written as a placeholder
/// and filled in once its members are counted.
struct Transcoder<'a, 'c> {
    j: &'a [u8],
    i: usize,
    /// JSON of `afterlog` labels → NF1 (the labels are per container).
    labels: &'c mut Lru,
}

impl<'a> Transcoder<'a, '_> {
    fn record(j: &[u8], out: &mut Vec<u8>, text: &mut String, labels: &mut Lru) -> Option<()> {
        let mut t = Transcoder { j, i: 0, labels };
        t.ws();
        if t.peek()? != b'{' {
            return None;
        }
        t.object(out, text, true)?;
        t.ws();
        (t.i == j.len()).then_some(())
    }

    fn peek(&self) -> Option<u8> {
        self.j.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn value(&mut self, out: &mut Vec<u8>, text: &mut String) -> Option<()> {
        self.ws();
        match self.peek()? {
            b'{' => self.object(out, text, false),
            b'[' => self.array(out, text),
            b'"' => {
                // Most strings have no escapes: their JSON body is the text.
                let raw = self.raw_string()?;
                if raw.contains(&b'\\') {
                    text.clear();
                    json::unescape_into(raw, text);
                    nf::write_str(out, text);
                } else {
                    nf::write_utf8(out, raw);
                }
                Some(())
            }
            b't' => self.literal(b"true", 0xc3, out),
            b'f' => self.literal(b"false", 0xc2, out),
            b'n' => self.literal(b"null", 0xc0, out),
            _ => {
                let start = self.i;
                while matches!(
                    self.peek(),
                    Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                ) {
                    self.i += 1;
                }
                let num = std::str::from_utf8(&self.j[start..self.i]).ok()?;
                if num.is_empty() {
                    return None;
                }
                nf::write_number(out, num);
                Some(())
            }
        }
    }

    fn literal(&mut self, word: &[u8], byte: u8, out: &mut Vec<u8>) -> Option<()> {
        self.j
            .get(self.i..self.i + word.len())
            .filter(|w| *w == word)?;
        self.i += word.len();
        out.push(byte);
        Some(())
    }

    /// The body of the string at the cursor, still escaped.
    fn raw_string(&mut self) -> Option<&'a [u8]> {
        self.i += 1; // the quote
        let start = self.i;
        let rest = &self.j[start..];
        let mut k = 0;
        loop {
            match rest.get(k)? {
                b'"' => break,
                b'\\' => k += 2,
                _ => k += 1,
            }
        }
        self.i = start + k + 1;
        Some(&self.j[start..start + k])
    }

    /// The decoded text of the string at the cursor, into `text`.
    fn string(&mut self, text: &mut String) -> Option<()> {
        let raw = self.raw_string()?;
        text.clear();
        json::unescape_into(raw, text);
        Some(())
    }

    fn object(&mut self, out: &mut Vec<u8>, text: &mut String, record: bool) -> Option<()> {
        self.i += 1;
        let header = out.len();
        out.push(0x80);
        let mut n = 0usize;
        if record {
            nf::write_marker(out);
            n += 1;
        }
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
        } else {
            loop {
                self.ws();
                if self.peek()? != b'"' {
                    return None;
                }
                self.string(text)?;
                if text.len() > 60_000 {
                    return None; // a key NF1 may refuse: the general path says so
                }
                nf::write_str(out, text);
                self.ws();
                if self.peek()? != b':' {
                    return None;
                }
                self.i += 1;
                if record && text == "afterlog" {
                    self.labels(out, text)?;
                } else {
                    self.value(out, text)?;
                }
                n += 1;
                self.ws();
                match self.peek()? {
                    b',' => self.i += 1,
                    b'}' => {
                        self.i += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        if n > 15 {
            return None;
        }
        out[header] = 0x80 | n as u8;
        Some(())
    }

    /// The record's `afterlog` value: an object, so a cached one that the
    /// text starts with is this very value.
    fn labels(&mut self, out: &mut Vec<u8>, text: &mut String) -> Option<()> {
        let rest = &self.j[self.i..];
        if rest.first() == Some(&b'{')
            && let Some((len, nf)) = self.labels.find_prefix(rest)
        {
            out.extend_from_slice(nf);
            self.i += len;
            return Some(());
        }
        let (start, from) = (self.i, out.len());
        self.value(out, text)?;
        if self.j[start] == b'{' {
            self.labels.insert(&self.j[start..self.i], &out[from..]);
        }
        Some(())
    }

    fn array(&mut self, out: &mut Vec<u8>, text: &mut String) -> Option<()> {
        self.i += 1;
        let header = out.len();
        out.push(0x90);
        let mut n = 0usize;
        self.ws();
        if self.peek()? == b']' {
            self.i += 1;
        } else {
            loop {
                self.value(out, text)?;
                n += 1;
                self.ws();
                match self.peek()? {
                    b',' => self.i += 1,
                    b']' => {
                        self.i += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        if n > 15 {
            return None;
        }
        out[header] = 0x90 | n as u8;
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn js(bytes: &[u8]) -> String {
        let mut out = Vec::new();
        to_json(bytes, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_kind_of_value_as_json() {
        // {"a": 0, "b": -1, "c": 300, "d": "x", "e": [true, nil], "f": 1.5}
        let mut m = vec![0x86];
        m.extend([0xa1, b'a', 0x00]);
        m.extend([0xa1, b'b', 0xff]);
        m.extend([0xa1, b'c', 0xcd, 0x01, 0x2c]);
        m.extend([0xa1, b'd', 0xa1, b'x']);
        m.extend([0xa1, b'e', 0x92, 0xc3, 0xc0]);
        m.extend([0xa1, b'f', 0xcb]);
        m.extend(1.5f64.to_bits().to_be_bytes());
        assert_eq!(
            js(&m),
            r#"{"a":0,"b":-1,"c":300,"d":"x","e":[true,null],"f":1.5}"#
        );
        // int64 min, uint64 max, int16 negative, a non-string key.
        assert_eq!(js(&[0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0]), i64::MIN.to_string());
        assert_eq!(
            js(&[0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            u64::MAX.to_string()
        );
        assert_eq!(js(&[0xd1, 0xff, 0x38]), "-200");
        assert_eq!(js(&[0x81, 0x05, 0xa1, b'v']), r#"{"5":"v"}"#);
        // Invalid UTF-8 is replaced; control bytes escaped.
        assert_eq!(js(&[0xa3, b'a', 0xff, 0x00]), "\"a\u{fffd}\\u0000\"");
    }

    /// The streaming path writes what the general one does.
    #[test]
    fn streaming_and_general_paths_agree() {
        let cases = [
            r#"{"stream":"stdout","log":"a\u0000b \"q\" \\ é","off":0,"ts":1795618800000000002,"afterlog":{"tool":"foo","n":[1,-2.5e3,true,false,null,{}],"e":[]}}"#,
            r#"{}"#,
            r#"{"k":"x"}"#,
        ];
        for c in cases {
            let mut fast = Vec::new();
            let mut t = String::new();
            Transcoder::record(c.as_bytes(), &mut fast, &mut t, &mut Lru::default())
                .expect("streams");
            let obj: serde_json::Map<String, serde_json::Value> = serde_json::from_str(c).unwrap();
            let mut general = Vec::new();
            nf::encode_record(&obj, &mut general).unwrap();
            // Same value once decoded (member order may differ: the general
            // path's map is sorted).
            let dec = |b: &[u8]| {
                let mut out = Vec::new();
                to_json(b, &mut out).unwrap();
                nf::decode_record(serde_json::from_slice(&out).unwrap()).unwrap()
            };
            assert_eq!(dec(&fast), dec(&general), "{c}");
            assert!(!fast.contains(&0));
        }
        // Over 15 members: the general path.
        let big: String = format!(
            "{{{}}}",
            (0..20)
                .map(|i| format!("\"k{i}\":{i}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        assert!(
            Transcoder::record(
                big.as_bytes(),
                &mut Vec::new(),
                &mut String::new(),
                &mut Lru::default()
            )
            .is_none()
        );
        let mut out = Vec::new();
        to_nf(big.as_bytes(), &mut out);
        assert_eq!(out.pop(), Some(0));
        assert!(!out.contains(&0));
    }

    #[test]
    fn broken_input_is_an_error() {
        assert_eq!(
            to_json(&[0x82, 0xa1], &mut Vec::new()),
            Err(MsgpackError::Truncated(2))
        );
        assert!(matches!(
            to_json(&[0xc1], &mut Vec::new()),
            Err(MsgpackError::Reserved { .. })
        ));
        assert_eq!(
            to_json(&[0xc0, 0xc0], &mut Vec::new()),
            Err(MsgpackError::Trailing(1))
        );
        let deep: Vec<u8> = std::iter::repeat_n(0x91, 100).chain([0xc0]).collect();
        assert_eq!(to_json(&deep, &mut Vec::new()), Err(MsgpackError::TooDeep));
        assert!(to_json(&[0xdb, 0xff, 0xff, 0xff, 0xff], &mut Vec::new()).is_err());
    }
}
