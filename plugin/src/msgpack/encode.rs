//! The core's JSON text to NF1, streamed where it can be and through
//! `serde_json` values where it cannot.

use super::cache::{Caches, Lru};
use crate::json;
use afterlog_contract::nf;

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
        self.container(0x80, b'}', record, out, text, |t, out, text| {
            if t.peek()? != b'"' {
                return None;
            }
            t.string(text)?;
            if text.len() > 60_000 {
                return None; // a key NF1 may refuse: the general path says so
            }
            nf::write_str(out, text);
            t.ws();
            if t.peek()? != b':' {
                return None;
            }
            t.i += 1;
            if record && text == "afterlog" {
                t.labels(out, text)
            } else {
                t.value(out, text)
            }
        })
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
        self.container(0x90, b']', false, out, text, Self::value)
    }

    /// The object or array at the cursor, as a fixmap or fixarray (`fix`
    /// is its header) of the elements `element` writes, after the record
    /// marker if `marker`. More than 15 elements: `None`, for NF1's general
    /// path.
    fn container(
        &mut self,
        fix: u8,
        close: u8,
        marker: bool,
        out: &mut Vec<u8>,
        text: &mut String,
        mut element: impl FnMut(&mut Self, &mut Vec<u8>, &mut String) -> Option<()>,
    ) -> Option<()> {
        self.i += 1;
        let header = out.len();
        out.push(fix);
        let mut n = 0usize;
        if marker {
            nf::write_marker(out);
            n += 1;
        }
        self.ws();
        if self.peek()? == close {
            self.i += 1;
        } else {
            loop {
                self.ws();
                element(self, out, text)?;
                n += 1;
                self.ws();
                match self.peek()? {
                    b',' => self.i += 1,
                    c if c == close => {
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
        out[header] = fix | n as u8;
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msgpack::decode::to_json;

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
}
