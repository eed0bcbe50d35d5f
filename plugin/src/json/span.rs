//! The spans the scanner hands out: positions in the scanned buffer, read
//! without copying.

use super::unescape::{for_each_unescaped, unescape_into};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
