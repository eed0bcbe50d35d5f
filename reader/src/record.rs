//! One stored log record (docs/design.md §2), as the reader needs it: the fields that
//! order, deduplicate and filter it, plus the line itself for output.

use afterlog_contract::nf;
use afterlog_contract::record::{self as field, event, k8s_event, label};
use afterlog_contract::time::rfc3339_nanos;
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;
use thiserror::Error;

pub use crate::quota::{QuotaEvent, human_bytes};

/// Why a stored line is not a record the reader can place.
#[derive(Debug, Error)]
pub enum ParseError {
    /// Not JSON, not an object, or a field of the wrong type.
    #[error("not a valid record: {0}")]
    Json(#[from] serde_json::Error),
    #[error("record has no {0:?} field")]
    MissingField(&'static str),
    #[error("record has no \"afterlog.{0}\" field")]
    MissingLabel(&'static str),
    #[error("{event} record has no \"afterlog.{field}\" field")]
    MissingEventField {
        event: &'static str,
        field: &'static str,
    },
    /// The object's gzip stream broke here; what follows is lost.
    #[error("damaged gzip stream ({0}); the rest of the object is lost")]
    Damaged(String),
    /// A record of the filter's msgpack mode that does not decode.
    #[error("bad NF1 record: {0}")]
    Nf(#[from] nf::NfError),
}

/// One record. Identity is `(container_id, ts, off, stream)` (docs/design.md §4):
/// copies with the same identity are the same line delivered twice.
///
/// The `log` text is not kept apart from the line: ordering, deduplication,
/// filtering and the JSON formats never look at it, and unescaping and
/// copying it is most of what building a record would cost. Text output
/// asks for it with [`LogRecord::log`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// Event time, ns since the epoch.
    pub ts: u64,
    pub container_id: String,
    /// Byte offset in the container's log file, if tail recorded it.
    pub off: Option<u64>,
    pub stream: String,
    /// Bytes of the `log` text (UTF-8, unescaped): what volumes count.
    pub log_len: usize,
    pub container: String,
    pub pod: String,
    pub event: Option<QuotaEvent>,
    /// The stored JSON line (without its line break), output as it was stored
    /// so that fields the reader does not know survive.
    pub line: Vec<u8>,
}

// serde attributes need literals; `contract_field_names` checks they agree
// with the contract's constants.
#[derive(Deserialize)]
struct Wire<'a> {
    ts: Option<u64>,
    off: Option<u64>,
    #[serde(borrow)]
    stream: Option<Cow<'a, str>>,
    log: Option<TextLen>,
    #[serde(borrow)]
    afterlog: Option<WireLabels<'a>>,
}

#[derive(Deserialize)]
struct WireLabels<'a> {
    #[serde(borrow)]
    container_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    container: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pod: Option<Cow<'a, str>>,
    #[serde(borrow)]
    event: Option<Cow<'a, str>>,
    limit_bytes: Option<u64>,
    window_seconds: Option<u64>,
    resets_at: Option<u64>,
    dropped_records: Option<u64>,
    dropped_bytes: Option<u64>,
    dropped_from: Option<u64>,
    dropped_until: Option<u64>,
}

/// Only the `log` field, for [`LogRecord::log`].
#[derive(Deserialize)]
struct WireLog<'a> {
    #[serde(borrow)]
    log: Option<Cow<'a, str>>,
}

/// A JSON string's length, unescaped, without unescaping it: serde_json
/// hands over the string as it is stored (checked, quotes included), and
/// [`unescaped_len`] counts what its escapes stand for.
struct TextLen(usize);

impl<'de> Deserialize<'de> for TextLen {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <&'de serde_json::value::RawValue>::deserialize(d)?;
        let text = raw.get().as_bytes();
        if text.first() != Some(&b'"') {
            return Err(serde::de::Error::custom("expected a string"));
        }
        unescaped_len(text)
            .map(TextLen)
            .ok_or_else(|| serde::de::Error::custom("a lone surrogate in a string"))
    }
}

/// The UTF-8 length of the text a JSON string literal (`"…"`, as
/// serde_json checked it) stands for: `\\uXXXX` is 1 to 3 bytes, a
/// surrogate pair 4. `None` for a lone surrogate, which is no text (what
/// serde_json refuses when it decodes a string).
pub fn unescaped_len(quoted: &[u8]) -> Option<usize> {
    let s = &quoted[1..quoted.len().saturating_sub(1).max(1)];
    let hex = |at: usize| -> Option<u32> {
        let h = std::str::from_utf8(s.get(at..at + 4)?).ok()?;
        u32::from_str_radix(h, 16).ok()
    };
    let mut len = s.len();
    let mut i = 0;
    while let Some(j) = memchr::memchr(b'\\', &s[i..]) {
        let at = i + j;
        if s.get(at + 1) != Some(&b'u') {
            len -= 1;
            i = at + 2;
            continue;
        }
        let cp = hex(at + 2).unwrap_or(0);
        let pair = (0xD800..0xDC00).contains(&cp)
            && s.get(at + 6..at + 8) == Some(b"\\u")
            && hex(at + 8).is_some_and(|lo| (0xDC00..0xE000).contains(&lo));
        if pair {
            len -= 12 - 4;
            i = at + 12;
        } else if (0xD800..0xE000).contains(&cp) {
            return None;
        } else {
            len -= 6 - char_len(cp);
            i = at + 6;
        }
    }
    Some(len)
}

fn char_len(cp: u32) -> usize {
    match cp {
        0..0x80 => 1,
        0x80..0x800 => 2,
        _ => 3,
    }
}

fn owned(v: Option<Cow<'_, str>>, missing: ParseError) -> Result<String, ParseError> {
    v.map(Cow::into_owned).ok_or(missing)
}

impl LogRecord {
    /// Parses one JSON line (a trailing line break is dropped). Takes the
    /// line by value so that a freshly read `Vec<u8>` is kept without a copy.
    pub fn parse(line: impl Into<Vec<u8>>) -> Result<Self, ParseError> {
        let mut line = line.into();
        while let Some(b'\n' | b'\r') = line.last() {
            line.pop();
        }
        if nf::is_nf_line(&line) {
            // The filter's msgpack mode: back to the record the JSON mode
            // stores, which is what readers see and serve.
            let v = nf::decode_record(serde_json::from_slice(&line)?)?;
            line = serde_json::to_vec(&v)?;
        }
        let w: Wire = serde_json::from_slice(&line)?;
        let a = w
            .afterlog
            .ok_or(ParseError::MissingField(field::AFTERLOG))?;
        let event = a.event()?;
        let (ts, off) = (w.ts, w.off);
        let log_len = w.log.ok_or(ParseError::MissingField(field::LOG))?.0;
        let stream = owned(w.stream, ParseError::MissingField(field::STREAM))?;
        let container_id = owned(
            a.container_id,
            ParseError::MissingLabel(label::CONTAINER_ID),
        )?;
        let container = owned(a.container, ParseError::MissingLabel(label::CONTAINER))?;
        let pod = owned(a.pod, ParseError::MissingLabel(label::POD))?;
        Ok(LogRecord {
            ts: ts.ok_or(ParseError::MissingField(field::TS))?,
            container_id,
            off,
            stream,
            log_len,
            container,
            pod,
            event,
            line,
        })
    }

    /// The `log` text, read from the line again: only text output needs it.
    pub fn log(&self) -> Cow<'_, str> {
        // The line parsed once, so it parses again; an empty text is the
        // answer that cannot mislead if that ever failed.
        serde_json::from_slice::<WireLog>(&self.line)
            .ok()
            .and_then(|w| w.log)
            .unwrap_or_default()
    }

    /// Whether the record is a Kubernetes event (docs/design.md §13): it is
    /// stored under the events' pseudo-container.
    pub fn is_k8s_event(&self) -> bool {
        self.container == k8s_event::CONTAINER
    }

    /// The merge order: `(ts, container_id, off, stream)`. It holds the same
    /// fields as the identity, so equal keys mean duplicates — which is what
    /// lets the merge deduplicate by looking at the previous record only.
    pub fn order_key(&self) -> (u64, &str, Option<u64>, &str) {
        (self.ts, &self.container_id, self.off, &self.stream)
    }

    /// `(container_id, ts, off, stream)`, the identity of docs/design.md §4.
    pub fn identity(&self) -> (&str, u64, Option<u64>, &str) {
        (&self.container_id, self.ts, self.off, &self.stream)
    }

    /// Appends the record as text for people: one line per line of output,
    /// each optionally led by its time and by `[pod/container]` (with
    /// ` stderr` for that stream). A quota marker shows as what happened; a
    /// drop summary as what happened, then the line it rides on.
    pub fn write_text(&self, out: &mut String, style: TextStyle) {
        let line = |out: &mut String, text: &dyn fmt::Display| {
            use fmt::Write;
            if style.timestamps {
                out.push_str(&rfc3339_nanos(self.ts));
                out.push(' ');
            }
            if style.source {
                let _ = write!(out, "[{}/{}", self.pod, self.container);
                if self.stream == "stderr" {
                    out.push_str(" stderr");
                }
                out.push_str("] ");
            }
            let _ = writeln!(out, "{text}");
        };
        match &self.event {
            Some(e @ QuotaEvent::Exceeded { .. }) => line(out, e),
            Some(e @ QuotaEvent::Dropped { .. }) => {
                line(out, e);
                line(out, &self.log());
            }
            None => line(out, &self.log()),
        }
    }
}

/// Whether records of `pod` and `container` tell their job's kind: pushed
/// lines (pods `@…`) and Kubernetes events (container `@events`) carry a
/// kind guessed from names, which never sets a job's (docs/design.md §11,
/// §13).
pub fn tells_kind(pod: &str, container: &str) -> bool {
    !pod.starts_with('@') && !container.starts_with('@')
}

/// What [`LogRecord::write_text`] puts before each line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TextStyle {
    /// The record's time, RFC 3339 with nanoseconds.
    pub timestamps: bool,
    /// `[pod/container]`, and ` stderr` for that stream.
    pub source: bool,
}

impl WireLabels<'_> {
    fn event(&self) -> Result<Option<QuotaEvent>, ParseError> {
        let need = |v: Option<u64>, event: &'static str, field: &'static str| {
            v.ok_or(ParseError::MissingEventField { event, field })
        };
        Ok(match self.event.as_deref() {
            Some(event::QUOTA_EXCEEDED) => {
                let e = event::QUOTA_EXCEEDED;
                Some(QuotaEvent::Exceeded {
                    limit_bytes: need(self.limit_bytes, e, event::LIMIT_BYTES)?,
                    window_seconds: need(self.window_seconds, e, event::WINDOW_SECONDS)?,
                    resets_at: need(self.resets_at, e, event::RESETS_AT)?,
                })
            }
            Some(event::QUOTA_DROPPED) => {
                let e = event::QUOTA_DROPPED;
                Some(QuotaEvent::Dropped {
                    records: need(self.dropped_records, e, event::DROPPED_RECORDS)?,
                    bytes: need(self.dropped_bytes, e, event::DROPPED_BYTES)?,
                    from: need(self.dropped_from, e, event::DROPPED_FROM)?,
                    until: need(self.dropped_until, e, event::DROPPED_UNTIL)?,
                })
            }
            // Events a newer filter may add must not cost the line they ride on.
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, Value, json};

    const EXAMPLE: &str = r#"{"stream":"stderr","log":"part A","off":97,"ts":1795618800000000002,"afterlog":{"tool":"foo","job":"myjob","kind":"cronjob","namespace":"tool-foo","pod":"myjob-28889999-abcde","container":"job","container_id":"0123abcd","node":"node-1","route":"foo.myjob.myjob-28889999-abcde.job"}}"#;

    /// EXAMPLE as the filter's msgpack mode has Fluent Bit store it (NF1,
    /// `afterlog_contract::nf`): numbers as typed strings, a NUL escaped.
    const EXAMPLE_NF: &str = r#"{"\u0001nf":"\u0001n1","stream":"stderr","log":"part\u00010A","off":"\u0001n97","ts":"\u0001n1795618800000000002","afterlog":{"tool":"foo","job":"myjob","kind":"cronjob","namespace":"tool-foo","pod":"myjob-28889999-abcde","container":"job","container_id":"0123abcd","node":"node-1","route":"foo.myjob.myjob-28889999-abcde.job"}}"#;

    #[test]
    fn reads_the_msgpack_modes_records_as_the_json_modes() {
        let nf = LogRecord::parse(EXAMPLE_NF).unwrap();
        let json = LogRecord::parse(EXAMPLE.replace("part A", "part\\u0000A")).unwrap();
        assert_eq!(nf.log(), "part\0A");
        assert_eq!(
            (nf.ts, nf.off, &nf.container_id, &nf.stream, nf.log()),
            (
                json.ts,
                json.off,
                &json.container_id,
                &json.stream,
                json.log()
            )
        );
        // What it serves is the JSON mode's record, marker gone.
        let served: Value = serde_json::from_slice(&nf.line).unwrap();
        let want: Value = serde_json::from_slice(&json.line).unwrap();
        assert_eq!(served, want);
        // A damaged one is an error, not a panic.
        let bad = EXAMPLE_NF.replace(r#""\u0001n97""#, r#""\u0001nX""#);
        assert!(matches!(LogRecord::parse(bad), Err(ParseError::Nf(_))));
    }

    proptest::proptest! {
        #[test]
        fn unescaped_lengths_are_the_texts(
            text in "\\PC*|[\\x00-\\x1f\"\\\\/\\u{7f}-\\u{10ffff}]{0,40}",
            ascii_only in proptest::bool::ANY,
        ) {
            // As serde_json writes it, and with every non-ASCII character
            // escaped (as Fluent Bit's JSON may have it).
            let plain = serde_json::to_string(&text).unwrap();
            proptest::prop_assert_eq!(unescaped_len(plain.as_bytes()), Some(text.len()));
            if ascii_only {
                let mut esc = String::from("\"");
                for u in text.encode_utf16() {
                    esc.push_str(&format!("\\u{u:04x}"));
                }
                esc.push('"');
                let back: String = serde_json::from_str(&esc).unwrap();
                proptest::prop_assert_eq!(&back, &text);
                proptest::prop_assert_eq!(unescaped_len(esc.as_bytes()), Some(text.len()));
            }
        }
    }

    #[test]
    fn the_log_text_is_read_only_when_asked_for() {
        // Escaped and unescaped text: its length is the unescaped UTF-8's.
        for (stored, text) in [
            (r#"part A"#, "part A"),
            (r#"say \"hi\"\tZ\u00fcrich\n"#, "say \"hi\"\tZürich\n"),
            (r#"\ud83d\ude00"#, "😀"),
        ] {
            let r = LogRecord::parse(EXAMPLE.replace("part A", stored)).unwrap();
            assert_eq!((r.log(), r.log_len), (text.into(), text.len()), "{stored}");
        }
        // A log that is not a string, or no text, is a bad record.
        for bad in ["7", r#""a\ud800b""#, r#""\udc00""#, r#""\ud800\u0041""#] {
            let bad = EXAMPLE.replace(r#""part A""#, bad);
            assert!(
                matches!(LogRecord::parse(&*bad), Err(ParseError::Json(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn parses_filter_output() {
        let r = LogRecord::parse(format!("{EXAMPLE}\r\n")).unwrap();
        assert_eq!(r.ts, 1_795_618_800_000_000_002);
        assert_eq!(r.container_id, "0123abcd");
        assert_eq!(r.off, Some(97));
        assert_eq!((r.stream.as_str(), &*r.log()), ("stderr", "part A"));
        assert_eq!(r.log_len, "part A".len());
        assert_eq!(
            (r.pod.as_str(), r.container.as_str()),
            ("myjob-28889999-abcde", "job")
        );
        assert_eq!(r.event, None);
        assert_eq!(
            r.line,
            EXAMPLE.as_bytes(),
            "kept as stored, line break dropped"
        );
        assert_eq!(
            r.order_key(),
            (1_795_618_800_000_000_002, "0123abcd", Some(97), "stderr")
        );
    }

    /// Builds records from the contract's constants, so a renamed field in
    /// the contract fails here rather than silently in production.
    #[test]
    fn contract_field_names() {
        let mut labels = Map::new();
        for (k, v) in [
            (label::CONTAINER_ID, json!("c1")),
            (label::CONTAINER, json!("main")),
            (label::POD, json!("p")),
            (label::EVENT, json!(event::QUOTA_DROPPED)),
            (event::DROPPED_RECORDS, json!(3)),
            (event::DROPPED_BYTES, json!(4)),
            (event::DROPPED_FROM, json!(5)),
            (event::DROPPED_UNTIL, json!(6)),
        ] {
            labels.insert(k.into(), v);
        }
        let mut rec = Map::new();
        for (k, v) in [
            (field::TS, json!(7)),
            (field::OFF, json!(8)),
            (field::STREAM, json!("stdout")),
            (field::LOG, json!("x")),
            (field::AFTERLOG, Value::Object(labels.clone())),
        ] {
            rec.insert(k.into(), v);
        }
        let r = LogRecord::parse(Value::Object(rec.clone()).to_string()).unwrap();
        assert_eq!((r.ts, r.off, r.container_id.as_str()), (7, Some(8), "c1"));
        assert_eq!(
            r.event,
            Some(QuotaEvent::Dropped {
                records: 3,
                bytes: 4,
                from: 5,
                until: 6
            })
        );

        labels.insert(label::EVENT.into(), json!(event::QUOTA_EXCEEDED));
        for (k, v) in [
            (event::LIMIT_BYTES, 1),
            (event::WINDOW_SECONDS, 2),
            (event::RESETS_AT, 3),
        ] {
            labels.insert(k.into(), json!(v));
        }
        rec.insert(field::AFTERLOG.into(), Value::Object(labels));
        let r = LogRecord::parse(Value::Object(rec).to_string()).unwrap();
        assert_eq!(
            r.event,
            Some(QuotaEvent::Exceeded {
                limit_bytes: 1,
                window_seconds: 2,
                resets_at: 3
            })
        );
    }

    #[test]
    fn renders_events() {
        let dropped = QuotaEvent::Dropped {
            records: 1234,
            bytes: 5_872_026,
            from: 1_795_618_800_000_000_002,
            until: 1_795_618_860_500_000_000,
        };
        assert_eq!(
            dropped.to_string(),
            "[afterlog] 1234 lines (5.6 MiB) dropped by the quota between \
             2026-11-25T15:00:00.000000002Z and 2026-11-25T15:01:00.500000000Z"
        );
        let one = QuotaEvent::Dropped {
            records: 1,
            bytes: 80,
            from: 0,
            until: 0,
        };
        assert!(
            one.to_string()
                .starts_with("[afterlog] 1 line (80 B) dropped")
        );
        let exceeded = QuotaEvent::Exceeded {
            limit_bytes: 100 << 20,
            window_seconds: 3600,
            resets_at: 1_795_618_800_000_000_000,
        };
        assert_eq!(
            exceeded.to_string(),
            "[afterlog] log quota of 100.0 MiB per 3600 s reached; \
             lines are dropped until 2026-11-25T15:00:00.000000000Z"
        );
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1024), "1.0 KiB");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(1024 * 1024 - 1), "1.0 MiB");
        assert_eq!(human_bytes(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn typed_errors() {
        let parse = |s: &str| LogRecord::parse(s).unwrap_err();
        assert!(matches!(parse("not json"), ParseError::Json(_)));
        assert!(matches!(parse("[1]"), ParseError::Json(_)));
        assert!(matches!(parse(""), ParseError::Json(_)));
        assert!(matches!(
            parse(&EXAMPLE.replace(r#""ts":1795618800000000002"#, r#""ts":"1""#)),
            ParseError::Json(_)
        ));
        assert!(matches!(
            parse(&EXAMPLE.replace(r#""ts""#, r#""tz""#)),
            ParseError::MissingField("ts")
        ));
        assert!(matches!(
            parse(&EXAMPLE.replace(r#""stream""#, r#""s""#)),
            ParseError::MissingField("stream")
        ));
        assert!(matches!(
            parse(&EXAMPLE.replace(r#""container_id""#, r#""cid""#)),
            ParseError::MissingLabel("container_id")
        ));
        assert!(matches!(
            parse(r#"{"ts":1,"stream":"stdout","log":"x"}"#),
            ParseError::MissingField("afterlog")
        ));
        let marker = EXAMPLE.replace(
            r#""node":"#,
            r#""event":"quota_exceeded","limit_bytes":1,"resets_at":2,"node":"#,
        );
        let e = parse(&marker);
        assert!(matches!(
            e,
            ParseError::MissingEventField {
                event: "quota_exceeded",
                field: "window_seconds"
            }
        ));
        assert_eq!(
            e.to_string(),
            "quota_exceeded record has no \"afterlog.window_seconds\" field"
        );
    }

    #[test]
    fn tolerates_what_it_does_not_need() {
        let r = LogRecord::parse(EXAMPLE.replace(r#""off":97,"#, r#""extra":{"a":[1]},"#)).unwrap();
        assert_eq!(r.off, None);
        let future = EXAMPLE.replace(r#""node":"#, r#""event":"something_new","node":"#);
        assert_eq!(LogRecord::parse(future).unwrap().event, None);
    }
}
