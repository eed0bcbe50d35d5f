//! NF1, the NUL-free msgpack encoding of a record (the filter's msgpack
//! mode).
//!
//! Fluent Bit's wasm filter reads a msgpack-mode result with `strlen`, so a
//! 0x00 byte anywhere cuts the record. Plain msgpack is full of them: the
//! integer 0, most multi-byte integers and floats, the length headers of
//! strings whose length is a multiple of 256, of every string of 64 KiB or
//! more, of every array or map of 16 to 255 elements, and NUL bytes in text.
//! NF1 is msgpack that only uses the forms without a zero byte, and is
//! lossless for JSON values: the filter writes it, Fluent Bit stores it as
//! JSON (its s3 output renders msgpack as JSON), and the reader turns that
//! JSON back into exactly the record the JSON mode stores ([`decode`]).
//!
//! Escape byte E = 0x01. Within every string (keys too):
//! - byte 0x00 → `E '0'`, byte 0x01 → `E '1'`;
//! - `E '.'` means nothing: it pads a string whose 16-bit length header
//!   would end in 0x00 (length a multiple of 256) by two bytes.
//!
//! Values:
//! - `null`, `true`, `false`: `c0`, `c3`, `c2`;
//! - a number: the string `E 'n'` + its JSON text (`E n-12`, `E n1.5e300`);
//! - a string: fixstr (≤ 31 bytes), str8 (≤ 255), str16 (≤ 65535, padded
//!   as above); longer: the array `["E s", part, …]` of parts ≤ 65000 bytes
//!   cut at character boundaries, concatenated when decoded;
//! - an array of ≤ 15 elements: fixarray; longer: the fixarray
//!   `["E a", part, …]` of ≤ 14 parts, each an (NF1) array, concatenated;
//! - an object of ≤ 15 members: fixmap; larger: the fixmap
//!   `{"E m": [group, …]}`, groups of ≤ 15 members in order, merged;
//! - a record (the top-level object) carries the member `"E nf": E n1`, by
//!   which a reader knows to decode it.
//!
//! A genuine string can never start with `E n`, nor equal `E a`, `E m` or
//! `E s`: its own 0x01 bytes are written `E '1'`. The forms used all have
//! headers without a zero byte (fixstr a0–bf, str8 d9 + a length ≥ 32,
//! str16 da + a length ≥ 256 whose low byte is not 0, fixarray 90–9f,
//! fixmap 80–8f), and no other bytes than the escaped string contents.

use serde_json::{Map, Number, Value};
use thiserror::Error;

/// The escape byte.
pub const ESC: u8 = 0x01;
/// The member a record in NF1 carries, with the value `E n1`.
pub const MARKER_KEY: &str = "\u{1}nf";
const NUMBER: &str = "\u{1}n";
const SEQ_ARRAY: &str = "\u{1}a";
const SEQ_STRING: &str = "\u{1}s";
/// How a string cut into parts starts in a stored (JSON) line: readers that
/// look for text in the stored bytes must know a string may be cut.
pub const SPLIT_STRING_JSON: &[u8] = br#"["\u0001s","#;
const SEQ_MAP: &str = "\u{1}m";
/// Largest part of a split string (bytes, escaped).
const PART: usize = 65_000;
/// Members of a fixarray or fixmap.
const FIX: usize = 15;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum NfError {
    #[error("a key of {0} bytes: keys are limited to 65535 bytes")]
    KeyTooLong(usize),
    #[error("bad escape at byte {at} of {text:?}")]
    BadEscape { at: usize, text: String },
    #[error("bad number {0:?}")]
    BadNumber(String),
    #[error("a {what} part that is not one: {part}")]
    BadPart { what: &'static str, part: String },
}

// ---------------------------------------------------------------- encoding

/// Appends `v` in NF1. A record gets [`MARKER_KEY`] first: use
/// [`encode_record`] for that.
pub fn encode(v: &Value, out: &mut Vec<u8>) -> Result<(), NfError> {
    match v {
        Value::Null => out.push(0xc0),
        Value::Bool(true) => out.push(0xc3),
        Value::Bool(false) => out.push(0xc2),
        Value::Number(n) => write_number(out, &n.to_string()),
        Value::String(s) => encode_str(s, out),
        Value::Array(items) => encode_seq(SEQ_ARRAY, items, out, &mut |v, out| encode(v, out))?,
        Value::Object(m) => {
            let members: Vec<(&String, &Value)> = m.iter().collect();
            encode_members(&members, out)?;
        }
    }
    Ok(())
}

/// Appends a string in NF1 (escaped, padded or split as needed). For
/// writers that stream a record instead of building a [`Value`].
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    write_utf8(out, s.as_bytes());
}

/// [`write_str`] of UTF-8 bytes. The common case — no 0x00 or 0x01, under
/// 64 KiB — is written straight through, without a copy of the text.
pub fn write_utf8(out: &mut Vec<u8>, s: &[u8]) {
    if s.len() <= u16::MAX as usize - 2 && !s.iter().any(|&b| b <= ESC) {
        put_str(out, s);
        return;
    }
    encode_str(&String::from_utf8_lossy(s), out);
}

/// Appends a number, given as its JSON text, in NF1.
pub fn write_number(out: &mut Vec<u8>, json_text: &str) {
    // Numbers are short: the typed string is built on the stack, not the
    // heap (this runs for every record's `ts` and `off`).
    let mut buf = [0u8; 64];
    let n = NUMBER.len() + json_text.len();
    if n <= buf.len() {
        buf[..NUMBER.len()].copy_from_slice(NUMBER.as_bytes());
        buf[NUMBER.len()..n].copy_from_slice(json_text.as_bytes());
        put_str(out, &buf[..n]);
    } else {
        put_str(out, format!("{NUMBER}{json_text}").as_bytes());
    }
}

/// Appends the record marker member (key and value): the first member of
/// a record's map, counted in its header.
pub fn write_marker(out: &mut Vec<u8>) {
    put_str(out, MARKER_KEY.as_bytes());
    write_number(out, "1");
}

/// A record: `obj` with [`MARKER_KEY`] as its first member (a larger
/// record: the marker beside `E m`).
pub fn encode_record(obj: &Map<String, Value>, out: &mut Vec<u8>) -> Result<(), NfError> {
    let members: Vec<(&String, &Value)> = obj.iter().collect();
    let marker = write_marker;
    if members.len() < FIX {
        out.push(0x80 | (members.len() + 1) as u8);
        marker(out);
        for (k, v) in &members {
            put_key(out, k)?;
            encode(v, out)?;
        }
        return Ok(());
    }
    out.push(0x82);
    marker(out);
    put_groups(&members, out)
}

fn put_key(out: &mut Vec<u8>, k: &str) -> Result<(), NfError> {
    let key = escape(k);
    if key.len() > u16::MAX as usize - 2 {
        return Err(NfError::KeyTooLong(k.len()));
    }
    put_str(out, &key);
    Ok(())
}

/// `"E m": [group, …]`: the members in fixmaps of ≤ 15.
fn put_groups(members: &[(&String, &Value)], out: &mut Vec<u8>) -> Result<(), NfError> {
    put_str(out, SEQ_MAP.as_bytes());
    let groups: Vec<&[(&String, &Value)]> = members.chunks(FIX).collect();
    encode_seq(SEQ_ARRAY, &groups, out, &mut |g, out| {
        encode_members(g, out)
    })
}

fn encode_members(members: &[(&String, &Value)], out: &mut Vec<u8>) -> Result<(), NfError> {
    if members.len() <= FIX {
        out.push(0x80 | members.len() as u8);
        for (k, v) in members {
            put_key(out, k)?;
            encode(v, out)?;
        }
        return Ok(());
    }
    out.push(0x81);
    put_groups(members, out)
}

/// Writes one element of a sequence.
type ItemWriter<'f, T> = dyn FnMut(&T, &mut Vec<u8>) -> Result<(), NfError> + 'f;

/// A sequence as a fixarray, or split under `marker` into ≤ 14 parts.
fn encode_seq<T>(
    marker: &str,
    items: &[T],
    out: &mut Vec<u8>,
    item: &mut ItemWriter<T>,
) -> Result<(), NfError> {
    if items.len() <= FIX {
        out.push(0x90 | items.len() as u8);
        for i in items {
            item(i, out)?;
        }
        return Ok(());
    }
    let parts = items.len().div_ceil(FIX - 1);
    let chunks: Vec<&[T]> = items.chunks(parts).collect();
    out.push(0x90 | (chunks.len() + 1) as u8);
    put_str(out, marker.as_bytes());
    for c in chunks {
        encode_seq(marker, c, out, item)?;
    }
    Ok(())
}

fn encode_str(s: &str, out: &mut Vec<u8>) {
    let escaped = escape(s);
    if escaped.len() <= u16::MAX as usize - 2 {
        put_str(out, &escaped);
        return;
    }
    // Cut the *text* at character boundaries, so each part is valid UTF-8
    // (Fluent Bit renders each as a JSON string), then escape each part.
    let mut parts: Vec<Vec<u8>> = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        // Escaping at most doubles the length.
        let mut at = rest.len().min(PART / 2);
        while !rest.is_char_boundary(at) {
            at -= 1;
        }
        let (head, tail) = rest.split_at(at);
        parts.push(escape(head));
        rest = tail;
    }
    put_string_parts(&parts, out);
}

/// `["E s", part, …]`, with ≤ 14 parts per level (a fixarray holds 15).
fn put_string_parts(parts: &[Vec<u8>], out: &mut Vec<u8>) {
    if parts.len() < FIX {
        out.push(0x90 | (parts.len() + 1) as u8);
        put_str(out, SEQ_STRING.as_bytes());
        for p in parts {
            put_str(out, p);
        }
        return;
    }
    let chunks: Vec<&[Vec<u8>]> = parts.chunks(parts.len().div_ceil(FIX - 1)).collect();
    out.push(0x90 | (chunks.len() + 1) as u8);
    put_str(out, SEQ_STRING.as_bytes());
    for c in chunks {
        put_string_parts(c, out);
    }
}

/// The string's bytes with 0x00 and 0x01 escaped.
fn escape(s: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(s.len() + 2);
    for &b in s.as_bytes() {
        match b {
            0x00 => v.extend_from_slice(&[ESC, b'0']),
            ESC => v.extend_from_slice(&[ESC, b'1']),
            b => v.push(b),
        }
    }
    v
}

/// A string header without a zero byte, then `bytes` (already escaped,
/// at most 65533 long), padded with `E .` where the header needs it.
fn put_str(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut len = bytes.len();
    let pad = len > 255 && len.is_multiple_of(256);
    if pad {
        len += 2;
    }
    match len {
        0..=31 => out.push(0xa0 | len as u8),
        32..=255 => out.extend_from_slice(&[0xd9, len as u8]),
        _ => {
            debug_assert!(len <= u16::MAX as usize);
            out.push(0xda);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
    }
    out.extend_from_slice(bytes);
    if pad {
        out.extend_from_slice(&[ESC, b'.']);
    }
}

// ---------------------------------------------------------------- decoding

/// Whether a stored JSON line is an NF1 record (cheap: a byte search for
/// the marker's JSON rendering, `"\u0001nf"`).
pub fn is_nf_line(line: &[u8]) -> bool {
    // Every line a reader parses is searched: one prebuilt memmem finder.
    static FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(br#""\u0001nf""#));
    FINDER.find(line).is_some()
}

/// Turns an NF1 record, as Fluent Bit stored it in JSON, back into the
/// record the JSON mode stores: the marker removed, numbers, strings,
/// arrays and objects restored.
pub fn decode_record(v: Value) -> Result<Value, NfError> {
    match decode(v)? {
        Value::Object(mut m) => {
            m.remove(MARKER_KEY);
            Ok(Value::Object(m))
        }
        other => Ok(other),
    }
}

/// Decodes one NF1 value rendered as JSON.
pub fn decode(v: Value) -> Result<Value, NfError> {
    Ok(match v {
        Value::String(s) => decode_scalar(&s)?,
        Value::Array(items) => match items.first() {
            Some(Value::String(m)) if m == SEQ_ARRAY => Value::Array(concat_arrays(items)?),
            Some(Value::String(m)) if m == SEQ_STRING => Value::String(concat_strings(items)?),
            _ => Value::Array(items.into_iter().map(decode).collect::<Result<_, _>>()?),
        },
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                if k == SEQ_MAP {
                    for g in flatten_seq(v)? {
                        let Value::Object(g) = decode(g)? else {
                            return Err(NfError::BadPart {
                                what: "map",
                                part: "not an object".into(),
                            });
                        };
                        out.extend(g);
                    }
                } else if k == MARKER_KEY {
                    out.insert(k, decode(v)?);
                } else {
                    out.insert(unescape(&k)?, decode(v)?);
                }
            }
            Value::Object(out)
        }
        other => other,
    })
}

fn decode_scalar(s: &str) -> Result<Value, NfError> {
    if let Some(num) = s.strip_prefix(NUMBER) {
        let bad = || NfError::BadNumber(num.to_string());
        // Rust's float parsing is exact for the shortest form serde_json
        // writes; integers stay integers.
        let n = if num.contains(['.', 'e', 'E']) {
            Number::from_f64(num.parse().map_err(|_| bad())?).ok_or_else(bad)?
        } else if num.starts_with('-') {
            Number::from(num.parse::<i64>().map_err(|_| bad())?)
        } else {
            Number::from(num.parse::<u64>().map_err(|_| bad())?)
        };
        return Ok(Value::Number(n));
    }
    Ok(Value::String(unescape(s)?))
}

/// The elements of a split sequence (`["E a", part, …]`), in order.
fn flatten_seq(v: Value) -> Result<Vec<Value>, NfError> {
    match v {
        Value::Array(items) => match items.first() {
            Some(Value::String(m)) if m == SEQ_ARRAY => {
                let mut out = Vec::new();
                for part in items.into_iter().skip(1) {
                    out.extend(flatten_seq(part)?);
                }
                Ok(out)
            }
            _ => Ok(items),
        },
        other => Err(NfError::BadPart {
            what: "array",
            part: other.to_string(),
        }),
    }
}

fn concat_arrays(items: Vec<Value>) -> Result<Vec<Value>, NfError> {
    flatten_seq(Value::Array(items))?
        .into_iter()
        .map(decode)
        .collect()
}

fn concat_strings(items: Vec<Value>) -> Result<String, NfError> {
    let mut out = String::new();
    string_parts(Value::Array(items), &mut out)?;
    Ok(out)
}

/// Appends the parts of a split string: strings, and arrays of parts (with
/// or without the leading marker, as [`encode_seq`] nests them).
fn string_parts(v: Value, out: &mut String) -> Result<(), NfError> {
    match v {
        Value::String(s) => out.push_str(&unescape(&s)?),
        Value::Array(items) => {
            let skip = matches!(items.first(), Some(Value::String(m)) if m == SEQ_STRING);
            for part in items.into_iter().skip(usize::from(skip)) {
                string_parts(part, out)?;
            }
        }
        other => {
            return Err(NfError::BadPart {
                what: "string",
                part: other.to_string(),
            });
        }
    }
    Ok(())
}

fn unescape(s: &str) -> Result<String, NfError> {
    if !s.as_bytes().contains(&ESC) {
        return Ok(s.to_string());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == ESC {
            match b.get(i + 1) {
                Some(b'0') => out.push(0x00),
                Some(b'1') => out.push(ESC),
                Some(b'.') => {}
                _ => {
                    return Err(NfError::BadEscape {
                        at: i,
                        text: s.chars().take(80).collect(),
                    });
                }
            }
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    // Only ASCII bytes were replaced: still UTF-8.
    Ok(String::from_utf8(out).expect("escapes are ASCII"))
}
