//! The msgpack mode's direct path: the record Fluent Bit's `tail` and
//! `kubernetes` stages make — members `time`, `stream`, `_p`, `log`, `off`
//! and `kubernetes`, each once — is read as msgpack and written as NF1 in
//! one pass, without the JSON text in between.
//!
//! It exists for speed: the general path ([`crate::msgpack`]) converts each
//! record to JSON, runs the core and converts its answer to NF1, several
//! passes over the record's bytes. Here the `kubernetes` map is recognised
//! by its bytes (one comparison per record, as the core does with JSON),
//! its labels come from a per-container cache as ready NF1, and the quota
//! is charged with the size the JSON mode would store, computed rather than
//! written.
//!
//! Anything else — another member, a duplicate, a non-string `log`, a line
//! over the limit, invalid UTF-8, a first record of a tool, a quota marker
//! or drop summary due — is declined before any state changes, and takes the
//! general path. Both paths give the same bytes (tested property).

use crate::filter::{Derived, Filter};
use crate::json;
use crate::msgpack;
use afterlog_contract::nf;
use afterlog_contract::record as field;
use afterlog_contract::time;
use std::rc::Rc;

/// How many containers are remembered (as the core's cache).
const CACHE_ENTRIES: usize = 64;
/// Larger `kubernetes` maps are not cached (and so take the general path).
const CACHE_MAX_MAP: usize = 64 * 1024;

struct Entry {
    /// The tag's container id when the entry was made (empty: none).
    cid: Box<[u8]>,
    /// The `kubernetes` value's msgpack bytes.
    map: Box<[u8]>,
    /// `None`: not a tool's container (the general path passes it on).
    derived: Option<Rc<Derived>>,
    /// `"afterlog"` and its value in NF1, ready to append.
    nf_labels: Box<[u8]>,
}

/// The direct path's state: its cache and a buffer.
#[derive(Default)]
pub struct Direct {
    cache: Vec<Entry>,
    scratch: Vec<u8>,
}

/// What the direct path made of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The output record (NF1 and a NUL) is in `out`; the quota is charged.
    Record,
    /// Not collected (a routing rule): drop it.
    Drop,
    /// Not for the direct path; nothing changed.
    Declined,
}

/// What a record of the direct path's shape holds.
#[derive(Clone, Copy)]
struct Members<'a> {
    /// The `time` member's text, if any.
    time: Option<&'a [u8]>,
    /// The members the output copies, in input order.
    copied: [Option<Copied<'a>>; 3],
    n_copied: usize,
    /// The index of the `kubernetes` map's cache entry.
    entry: usize,
}

/// A member the output copies, in input order.
#[derive(Clone, Copy)]
enum Copied<'a> {
    Stream(&'a [u8]),
    Log(&'a [u8]),
    Off(u64),
}

impl Direct {
    /// Writes `input`'s NF1 output record (and a NUL) to `out` and charges
    /// its tool's quota, or says to drop it, or declines it.
    pub fn record(
        &mut self,
        filter: &mut Filter,
        sec: u32,
        nsec: u32,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> Outcome {
        let Some(m) = self.members(filter, input) else {
            return Outcome::Declined;
        };
        let fallback_ns = sec as u64 * 1_000_000_000 + nsec.min(999_999_999) as u64;
        m.emit(&self.cache[m.entry], fallback_ns, filter, out)
            .unwrap_or(Outcome::Declined)
    }

    /// Reads the record's members, finding its `kubernetes` map's cache
    /// entry; `None` for a record not of the direct path's shape.
    #[inline(always)]
    fn members<'a>(&mut self, filter: &mut Filter, input: &'a [u8]) -> Option<Members<'a>> {
        if filter.config().keep_kubernetes {
            return None;
        }
        let &head = input.first()?;
        if !(0x80..=0x8f).contains(&head) {
            return None;
        }
        let members = usize::from(head & 0x0f);
        let mut at = 1;
        let mut seen = 0u8;
        let mut copied: [Option<Copied>; 3] = [None; 3];
        let mut n_copied = 0;
        let mut time_text = None;
        let mut entry = None;
        for _ in 0..members {
            let key = fixstr(input, &mut at)?;
            let bit = match key {
                b"time" => 1,
                b"stream" => 2,
                b"_p" => 4,
                b"log" => 8,
                b"off" => 16,
                b"kubernetes" => 32,
                _ => return None,
            };
            if seen & bit != 0 {
                return None;
            }
            seen |= bit;
            match bit {
                1 => match str_at(input, &mut at) {
                    Some(s) => time_text = Some(s),
                    None => return None,
                },
                2 | 8 => {
                    let s = str_at(input, &mut at)?;
                    if std::str::from_utf8(s).is_err() {
                        return None;
                    }
                    copied[n_copied] = Some(if bit == 2 {
                        Copied::Stream(s)
                    } else {
                        Copied::Log(s)
                    });
                    n_copied += 1;
                }
                4 => {
                    str_at(input, &mut at)?;
                }
                16 => match uint_at(input, &mut at) {
                    Some(v) => {
                        copied[n_copied] = Some(Copied::Off(v));
                        n_copied += 1;
                    }
                    None => return None,
                },
                _ => match self.kubernetes(filter, input, &mut at) {
                    Some(i) => entry = Some(i),
                    None => return None,
                },
            }
        }
        if at != input.len() {
            return None;
        }
        Some(Members {
            time: time_text,
            copied,
            n_copied,
            entry: entry?,
        })
    }

    /// The cache entry of the `kubernetes` value at `at` (made if new),
    /// moved to the front: its index, 0. `None`: not a map, or unusable.
    fn kubernetes(&mut self, filter: &mut Filter, input: &[u8], at: &mut usize) -> Option<usize> {
        let rest = &input[*at..];
        if !rest
            .first()
            .is_some_and(|&t| matches!(t, 0x80..=0x8f | 0xde | 0xdf))
        {
            return None;
        }
        let cid = filter.tag_container_id();
        // A map's msgpack ends where it ends, so a cached map the input
        // starts with is this very map.
        if let Some(i) = self.cache.iter().position(|e| {
            json::bytes_eq(&e.cid, cid)
                && rest.len() >= e.map.len()
                && json::bytes_eq(&rest[..e.map.len()], &e.map)
        }) {
            *at += self.cache[i].map.len();
            self.cache[..=i].rotate_right(1);
            return Some(0);
        }
        let cid: Box<[u8]> = cid.into();
        self.scratch.clear();
        let len = msgpack::value_to_json(rest, &mut self.scratch).ok()?;
        if len > CACHE_MAX_MAP {
            return None;
        }
        let derived = filter.derive_kubernetes(&self.scratch).ok()?;
        let mut nf_labels = Vec::new();
        if let Some(d) = derived.as_deref().filter(|d| !d.drop) {
            // `"afterlog":{…` closed, as NF1 (the general path's encoder).
            nf::write_str(&mut nf_labels, field::AFTERLOG);
            let text = d.fragment.get(field::AFTERLOG.len() + 3..)?;
            let mut value = Vec::with_capacity(text.len() + 1);
            value.extend_from_slice(text);
            value.push(b'}');
            msgpack::value_to_nf(&value, &mut nf_labels)?;
        }
        if self.cache.len() == CACHE_ENTRIES {
            self.cache.pop();
        }
        self.cache.insert(
            0,
            Entry {
                cid,
                map: rest[..len].into(),
                derived,
                nf_labels: nf_labels.into(),
            },
        );
        *at += len;
        Some(0)
    }
}

impl Members<'_> {
    /// Writes the output record, stamped with its `time` (else
    /// `fallback_ns`), if its quota admits it; `e` is the record's cache
    /// entry.
    #[inline(always)]
    fn emit(
        &self,
        e: &Entry,
        fallback_ns: u64,
        filter: &mut Filter,
        out: &mut Vec<u8>,
    ) -> Option<Outcome> {
        let (copied, n_copied) = (&self.copied, self.n_copied);
        let d = e.derived.as_deref()?;
        if d.drop {
            return Some(Outcome::Drop);
        }
        let over = |c: &Option<Copied>| matches!(c, Some(Copied::Log(s)) if s.len() > d.line_limit);
        if copied.iter().any(over) {
            return None;
        }
        // Parsed only for a record that is kept.
        let ts = self
            .time
            .and_then(time::parse_rfc3339_nanos)
            .unwrap_or(fallback_ns);

        // The JSON mode's record is `{` member `,` … `"ts":` ts `,`
        // fragment `}}`, and its quota size that length (see the core).
        let mut size = 1 + 5 + digits(ts) + 1 + d.fragment.len() + 2;
        for c in copied[..n_copied].iter().flatten() {
            size += 1 + match *c {
                Copied::Stream(s) => 8 + 1 + json_len(s),
                Copied::Log(s) => 5 + 1 + json_len(s),
                Copied::Off(v) => 5 + 1 + digits(v),
            };
        }
        if !filter.charge_plain(d, ts, size as u64) {
            return None;
        }

        out.clear();
        out.push(0x80 | (1 + n_copied + 2) as u8);
        nf::write_marker(out);
        for c in copied[..n_copied].iter().flatten() {
            match *c {
                Copied::Stream(s) => {
                    nf::write_str(out, field::STREAM);
                    nf::write_utf8(out, s);
                }
                Copied::Log(s) => {
                    nf::write_str(out, field::LOG);
                    nf::write_utf8(out, s);
                }
                Copied::Off(v) => {
                    nf::write_str(out, field::OFF);
                    write_num(out, v);
                }
            }
        }
        nf::write_str(out, field::TS);
        write_num(out, ts);
        out.extend_from_slice(&e.nf_labels);
        out.push(0);
        Some(Outcome::Record)
    }
}

/// A fixstr's bytes (keys are short).
#[inline]
fn fixstr<'a>(b: &'a [u8], at: &mut usize) -> Option<&'a [u8]> {
    let t = *b.get(*at)?;
    if !(0xa0..=0xbf).contains(&t) {
        return None;
    }
    let n = usize::from(t & 0x1f);
    let s = b.get(*at + 1..*at + 1 + n)?;
    *at += 1 + n;
    Some(s)
}

/// A string's bytes, any length class.
#[inline]
fn str_at<'a>(b: &'a [u8], at: &mut usize) -> Option<&'a [u8]> {
    let t = *b.get(*at)?;
    let (head, n) = match t {
        0xa0..=0xbf => (1, usize::from(t & 0x1f)),
        0xd9 => (2, usize::from(*b.get(*at + 1)?)),
        0xda => (
            3,
            usize::from(u16::from_be_bytes(
                b.get(*at + 1..*at + 3)?.try_into().ok()?,
            )),
        ),
        0xdb => (
            5,
            u32::from_be_bytes(b.get(*at + 1..*at + 5)?.try_into().ok()?) as usize,
        ),
        _ => return None,
    };
    let start = *at + head;
    let s = b.get(start..start.checked_add(n)?)?;
    *at = start + n;
    Some(s)
}

/// A non-negative integer.
#[inline]
fn uint_at(b: &[u8], at: &mut usize) -> Option<u64> {
    let t = *b.get(*at)?;
    let n = match t {
        0x00..=0x7f => {
            *at += 1;
            return Some(u64::from(t));
        }
        0xcc..=0xcf => 1usize << (t - 0xcc),
        _ => return None,
    };
    let bytes = b.get(*at + 1..*at + 1 + n)?;
    *at += 1 + n;
    Some(bytes.iter().fold(0u64, |v, &x| (v << 8) | u64::from(x)))
}

/// Decimal digits of `v`.
#[inline]
fn digits(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 10 {
        v /= 10;
        n += 1;
    }
    n
}

/// The length of `s` as a JSON string literal written by
/// [`json::write_str`], quotes included.
#[inline]
fn json_len(s: &[u8]) -> usize {
    let mut n = s.len() + 2;
    for &c in s {
        if c < 0x20 {
            n += if matches!(c, b'\n' | b'\r' | b'\t') {
                1
            } else {
                5
            };
        } else if c == b'"' || c == b'\\' {
            n += 1;
        }
    }
    n
}

/// A number in NF1.
fn write_num(out: &mut Vec<u8>, v: u64) {
    let mut buf = [0u8; 20];
    // ASCII digits: always UTF-8.
    let digits = std::str::from_utf8(json::u64_digits(v, &mut buf)).unwrap_or("0");
    nf::write_number(out, digits);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_len_is_what_write_str_writes() {
        for s in [
            "",
            "plain",
            "a\"b\\c",
            "\n\r\t\u{0}\u{1f}",
            "é ü 日本",
            "\u{7f}",
        ] {
            let mut out = Vec::new();
            json::write_str(&mut out, s);
            assert_eq!(json_len(s.as_bytes()), out.len(), "{s:?}");
        }
    }

    #[test]
    fn digits_of_edges() {
        for v in [0, 9, 10, 99, 100, u64::MAX] {
            assert_eq!(digits(v), v.to_string().len());
        }
    }
}
