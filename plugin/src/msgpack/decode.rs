//! msgpack to JSON text: the record Fluent Bit hands over, as the text the
//! JSON mode would have had.

use super::cache::{Caches, Lru};
use crate::json;
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
