//! The key-part codec: any Kubernetes name becomes a string that is safe in
//! a Fluent Bit tag, an S3 key and a URL path segment.
//!
//! `[a-z0-9-]` stay as they are; every other byte becomes `_xx` (lower-case
//! hex). The empty string encodes to a lone `_`, which no other input
//! produces, so a key never contains an empty path segment. Decoding accepts
//! only the canonical form, so two different keys never name the same thing
//! (`_61` for `a` is rejected) — this is what keeps `..`, `/` and prefix
//! tricks from reaching another tool's keys.

use thiserror::Error;

/// The longest decoded key part accepted (Kubernetes names are at most 253 bytes).
pub const MAX_PART_LEN: usize = 253;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum KeyError {
    #[error("empty key part")]
    Empty,
    #[error("key part longer than {MAX_PART_LEN} bytes")]
    TooLong,
    #[error("invalid byte {0:#04x} at {1} in key part")]
    InvalidByte(u8, usize),
    #[error("bad escape at {0} in key part")]
    BadEscape(usize),
    #[error("escape at {0} encodes a byte that must stay literal")]
    NonCanonical(usize),
    #[error("key part does not decode to UTF-8")]
    NotUtf8,
}

#[inline]
fn is_safe(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends the encoding of `part` to `out`.
pub fn encode_into(part: &str, out: &mut String) {
    if part.is_empty() {
        out.push('_');
        return;
    }
    for &b in part.as_bytes() {
        if is_safe(b) {
            out.push(b as char);
        } else {
            out.push('_');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
}

/// The encoding of `part`.
pub fn encode(part: &str) -> String {
    let mut out = String::with_capacity(part.len() + 8);
    encode_into(part, &mut out);
    out
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// Decodes a key part, accepting only what [`encode`] produces.
pub fn decode(key: &str) -> Result<String, KeyError> {
    let bytes = key.as_bytes();
    if bytes.is_empty() {
        return Err(KeyError::Empty);
    }
    if bytes == b"_" {
        return Ok(String::new());
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if is_safe(b) {
            out.push(b);
            i += 1;
        } else if b == b'_' {
            let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex_val),
                bytes.get(i + 2).copied().and_then(hex_val),
            ) else {
                return Err(KeyError::BadEscape(i));
            };
            let v = hi << 4 | lo;
            if is_safe(v) {
                return Err(KeyError::NonCanonical(i));
            }
            out.push(v);
            i += 3;
        } else {
            return Err(KeyError::InvalidByte(b, i));
        }
        if out.len() > MAX_PART_LEN {
            return Err(KeyError::TooLong);
        }
    }
    String::from_utf8(out).map_err(|_| KeyError::NotUtf8)
}

/// Checks a name given by a user (a tool or job in a URL) and returns its
/// encoding, so that it can be used as a key part.
pub fn encode_name(name: &str) -> Result<String, KeyError> {
    if name.is_empty() {
        return Err(KeyError::Empty);
    }
    if name.len() > MAX_PART_LEN {
        return Err(KeyError::TooLong);
    }
    if let Some(i) = name.bytes().position(|b| b == 0) {
        return Err(KeyError::InvalidByte(0, i));
    }
    Ok(encode(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples() {
        assert_eq!(encode("tool-foo"), "tool-foo");
        assert_eq!(encode("My_Job"), "_4dy_5f_4aob");
        assert_eq!(encode("a.b/c"), "a_2eb_2fc");
        assert_eq!(encode(""), "_");
        assert_eq!(encode("é"), "_c3_a9");
        assert_eq!(decode("a_2eb_2fc").unwrap(), "a.b/c");
        assert_eq!(decode("_").unwrap(), "");
    }

    #[test]
    fn rejects_non_canonical_and_junk() {
        assert_eq!(decode("_61"), Err(KeyError::NonCanonical(0)));
        assert_eq!(decode("a_2"), Err(KeyError::BadEscape(1)));
        assert_eq!(decode("a_2E"), Err(KeyError::BadEscape(1)));
        assert_eq!(decode("A"), Err(KeyError::InvalidByte(b'A', 0)));
        assert_eq!(decode("a/b"), Err(KeyError::InvalidByte(b'/', 1)));
        assert_eq!(decode(""), Err(KeyError::Empty));
        assert_eq!(decode("_ff"), Err(KeyError::NotUtf8));
        assert_eq!(decode(&"a".repeat(254)), Err(KeyError::TooLong));
    }

    #[test]
    fn names_from_users() {
        assert_eq!(encode_name("..").unwrap(), "_2e_2e");
        assert_eq!(encode_name("a/b").unwrap(), "a_2fb");
        assert!(encode_name("").is_err());
        assert!(encode_name("a\0b").is_err());
        assert!(encode_name(&"x".repeat(300)).is_err());
    }

    proptest! {
        #[test]
        fn roundtrip(s in "\\PC{0,60}") {
            let e = encode(&s);
            prop_assert!(e.bytes().all(|b| is_safe(b) || b == b'_'));
            prop_assert!(!e.is_empty());
            prop_assert_eq!(decode(&e).unwrap(), s);
        }

        #[test]
        fn decode_is_injective(k in "[a-z0-9_-]{1,30}") {
            if let Ok(d) = decode(&k) {
                prop_assert_eq!(encode(&d), k);
            }
        }
    }
}
