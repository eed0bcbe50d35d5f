//! The afterlog storage adapter for JavaScript: the reader's pure core
//! compiled to `wasm32-unknown-unknown` and exposed with `wasm-bindgen`, so
//! that web pages and Node services can read afterlog objects (from
//! presigned S3 URLs, a bucket listing or the service's NDJSON) exactly as
//! the service reads them — the same key codec, record decoding (JSON and
//! NF1 lines), gzip handling and ordered, deduplicating merge, not a port.
//!
//! This file is only the JavaScript boundary: argument checks and
//! conversions. The logic is in the pure modules ([`merger`], [`stream`],
//! [`keys`]), which the native unit tests exercise; every fallible call
//! returns a typed [`AdapterError`] that becomes a thrown JavaScript `Error`
//! with its message. Nothing panics on any input (a panic in wasm aborts
//! the instance, so no `console_error_panic_hook`: there is nothing to hook).
//!
//! Build: `scripts/build-adapter`; docs: `docs/js-adapter.md`.

pub mod error;
pub mod keys;
pub mod merger;
mod options;
pub mod stream;

pub use error::AdapterError;

use afterlog_contract::keys as codec;
use afterlog_contract::layout::{self, ObjectKind, Origin};
use afterlog_contract::time::rfc3339_nanos;
use afterlog_reader::{LogRecord, TextStyle, object};
use js_sys::{Array, Object, Reflect};
use keys::AnyKey;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** Event times: a bigint of nanoseconds since the Unix epoch, or an RFC 3339
 * string ("2026-11-25T15:00:00.5Z"). */
export type Time = bigint | string;

/** What a Merger selects: the service's `logs` query parameters. */
export interface MergeOptions {
  /** Only these pods (each run of a cron job is one pod). */
  pods?: string[];
  /** Only this container. */
  container?: string;
  /** Container lines of one stream (no Kubernetes events). */
  stream?: "stdout" | "stderr";
  /** The job's Kubernetes events (container `@events`): with the container
   * lines (the default), alone, or left out. */
  events?: "include" | "only" | "none";
  /** Records at or after this time. */
  since?: Time;
  /** Records before this time. */
  until?: Time;
  /** The first N selected records (excludes tail). */
  head?: number;
  /** The last N selected records, returned at the end (excludes head). */
  tail?: number;
  /** Skip damaged objects and lines that are not records, as the service
   * does, reporting them in takeWarnings(), instead of throwing. */
  lenient?: boolean;
  /** The job's deletion requests: every document listed under
   * `jobPrefix("deletions", tool, job)`, its JSON text by its key. The lines
   * they select are hidden, as the service hides them (a cancelled request
   * hides nothing). */
  deletions?: Record<string, string>;
}

/** One stored record. */
export interface LogRecord {
  /** Event time, ns since the epoch. */
  ts: bigint;
  /** The same, RFC 3339 with nanoseconds. */
  time: string;
  /** Byte offset in the container's log file, when tail recorded it. */
  off?: bigint;
  stream: string;
  /** The line. */
  log: string;
  pod: string;
  container: string;
  containerId: string;
  /** "quota_exceeded" or "quota_dropped" for the filter's quota events. */
  event?: string;
  /** The event in words. */
  eventText?: string;
  /** The stored JSON line (NF1 decoded): what the service's NDJSON holds. */
  line: string;
}

/** A parsed object key. */
export interface ObjectKey {
  kind: "raw" | "data" | "meta";
  tool: string;
  job: string;
  pod: string;
  /** raw and data keys. */
  container?: string;
  /** raw: the upload's key time, seconds since the epoch; the first
   * record is at or before it (not a lower bound of the records). */
  keySeconds?: number;
  /** data: the first and last event time of the merged object (ns). */
  firstTs?: bigint;
  lastTs?: bigint;
  /** raw: the upload's id; data: the merged object's id. */
  id?: string;
}

/** What a pod's meta says about its objects. */
export interface PodMeta {
  /** Merged (data/) objects the compactor wrote for the pod. */
  merged: string[];
  /** Raw keys whose records a merged object holds: a reader skips them. */
  consumed: string[];
}

/** A Merger's counters. */
export interface MergeStats {
  objects: number;
  /** Bytes pushed, as stored (compressed). */
  storedBytes: number;
  /** Lines returned. */
  lines: number;
  badLines: number;
  badObjects: number;
  /** Times the output went backwards (an unsorted stream, a broken promise). */
  outOfOrder: number;
}
"#;

type JsResult<T> = Result<T, JsError>;

fn set(o: &Object, k: &str, v: impl Into<JsValue>) {
    // Setting a property of a fresh plain object cannot fail.
    let _ = Reflect::set(o, &JsValue::from_str(k), &v.into());
}

fn line_string(line: Vec<u8>) -> String {
    // A parsed record's line is JSON, so UTF-8; lossy only as a safeguard.
    String::from_utf8(line).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn record_js(r: LogRecord) -> JsValue {
    let o = Object::new();
    let log = r.log().into_owned();
    set(&o, "ts", r.ts);
    set(&o, "time", rfc3339_nanos(r.ts));
    if let Some(off) = r.off {
        set(&o, "off", off);
    }
    if let Some(e) = &r.event {
        set(&o, "event", e.name());
        set(&o, "eventText", e.to_string());
    }
    set(&o, "stream", r.stream);
    set(&o, "log", log);
    set(&o, "pod", r.pod);
    set(&o, "container", r.container);
    set(&o, "containerId", r.container_id);
    set(&o, "line", line_string(r.line));
    o.into()
}

// ------------------------------------------------------------------ keys

/// Encodes one key part (tool, job, pod or container name): `[a-z0-9-]`
/// stay, every other byte becomes `_xx`; the empty string becomes `_`.
#[wasm_bindgen(js_name = encodeKeyPart)]
pub fn encode_key_part(part: &str) -> String {
    codec::encode(part)
}

/// Decodes a key part; throws unless it is exactly what encodeKeyPart makes.
#[wasm_bindgen(js_name = decodeKeyPart)]
pub fn decode_key_part(encoded: &str) -> JsResult<String> {
    Ok(codec::decode(encoded).map_err(AdapterError::from)?)
}

/// Checks a user-given name (not empty, at most 253 bytes, no NUL) and
/// encodes it.
#[wasm_bindgen(js_name = encodeName)]
pub fn encode_name(name: &str) -> JsResult<String> {
    Ok(codec::encode_name(name).map_err(AdapterError::from)?)
}

/// Parses a `raw/…`, `data/…` or `meta/…` key.
#[wasm_bindgen(js_name = parseKey, unchecked_return_type = "ObjectKey")]
pub fn parse_key(key: &str) -> JsResult<JsValue> {
    let o = Object::new();
    match keys::parse_key(key)? {
        AnyKey::Meta { tool, job, pod } => {
            set(&o, "kind", "meta");
            set(&o, "tool", tool);
            set(&o, "job", job);
            set(&o, "pod", pod);
        }
        AnyKey::Object(k) => {
            set(&o, "tool", k.origin.tool);
            set(&o, "job", k.origin.job);
            set(&o, "pod", k.origin.pod);
            set(&o, "container", k.origin.container);
            match k.kind {
                ObjectKind::Raw { first_secs, uuid } => {
                    set(&o, "kind", "raw");
                    // Key times are within ±2^53 s: exact as a number.
                    set(&o, "keySeconds", first_secs as f64);
                    set(&o, "id", uuid);
                }
                ObjectKind::Data {
                    first_ts,
                    last_ts,
                    id,
                } => {
                    set(&o, "kind", "data");
                    set(&o, "firstTs", first_ts);
                    set(&o, "lastTs", last_ts);
                    set(&o, "id", id);
                }
            }
        }
    }
    Ok(o.into())
}

fn origin(tool: &str, job: &str, pod: &str, container: &str) -> Origin {
    Origin {
        tool: tool.into(),
        job: job.into(),
        pod: pod.into(),
        container: container.into(),
    }
}

/// The key Fluent Bit's s3 output gives an upload:
/// `raw/<tool>/<job>/<pod>/<container>/<YYYYMMDDTHHMMSSZ>-<uuid>.gz`.
#[wasm_bindgen(js_name = rawKey)]
pub fn raw_key(
    tool: &str,
    job: &str,
    pod: &str,
    container: &str,
    key_seconds: f64,
    uuid: &str,
) -> JsResult<String> {
    if key_seconds.fract() != 0.0 || !(0.0..=253_402_300_799.0).contains(&key_seconds) {
        return Err(AdapterError::Argument {
            name: "keySeconds",
            problem: format!("{key_seconds}: expected whole seconds from 1970 to 9999"),
        }
        .into());
    }
    Ok(origin(tool, job, pod, container).raw_key(key_seconds as i64, uuid))
}

/// The key of a merged object holding `firstTs..=lastTs` (ns).
#[wasm_bindgen(js_name = dataKey)]
pub fn data_key(
    tool: &str,
    job: &str,
    pod: &str,
    container: &str,
    first_ts: u64,
    last_ts: u64,
    id: &str,
) -> String {
    origin(tool, job, pod, container).data_key(first_ts, last_ts, id)
}

/// `meta/<tool>/<job>/<pod>.json`.
#[wasm_bindgen(js_name = metaKey)]
pub fn meta_key(tool: &str, job: &str, pod: &str) -> String {
    layout::meta_key(tool, job, pod)
}

/// `<top>/<tool>/<job>/`: the prefix to list a job's objects under
/// (`top`: "raw", "data", "meta" or "deletions").
#[wasm_bindgen(js_name = jobPrefix)]
pub fn job_prefix(top: &str, tool: &str, job: &str) -> JsResult<String> {
    Ok(layout::job_prefix(keys::top(top)?, tool, job))
}

/// `<top>/<tool>/`: everything of one tool under `top`.
#[wasm_bindgen(js_name = toolPrefix)]
pub fn tool_prefix(top: &str, tool: &str) -> JsResult<String> {
    Ok(layout::tool_prefix(keys::top(top)?, tool))
}

/// `<tool>.<job>.<pod>.<container>`, each part encoded: the record's
/// `afterlog.route` and the tag `rewrite_tag` gives it.
#[wasm_bindgen]
pub fn route(tool: &str, job: &str, pod: &str, container: &str) -> String {
    origin(tool, job, pod, container).route()
}

/// Parses a pod's `meta/…json`; throws on anything but version 1.
#[wasm_bindgen(js_name = parseMeta, unchecked_return_type = "PodMeta")]
pub fn parse_meta(json: &[u8]) -> JsResult<JsValue> {
    let m = keys::parse_meta(json)?;
    let o = Object::new();
    let merged: Array = m.merged.iter().map(|x| JsValue::from(&x.key)).collect();
    let consumed: Array = m.consumed.iter().map(|x| JsValue::from(&x.key)).collect();
    set(&o, "merged", merged);
    set(&o, "consumed", consumed);
    Ok(o.into())
}

// ------------------------------------------------------- objects, records

/// Decompresses a gzip stream (one or more members, as stored objects
/// are). Throws if it is corrupt or cut short.
#[wasm_bindgen]
pub fn gunzip(bytes: &[u8]) -> JsResult<Vec<u8>> {
    Ok(stream::gunzip_whole("gunzip", bytes)?)
}

/// Decodes one stored line, in any encoding the filter writes (JSON, or
/// NF1 from its msgpack mode). Throws if it is not a record.
#[wasm_bindgen(js_name = decodeRecord, unchecked_return_type = "LogRecord")]
pub fn decode_record(line: &str) -> JsResult<JsValue> {
    let r = LogRecord::parse(line).map_err(AdapterError::from)?;
    Ok(record_js(r))
}

/// decodeRecord of UTF-8 bytes.
#[wasm_bindgen(js_name = decodeRecordBytes, unchecked_return_type = "LogRecord")]
pub fn decode_record_bytes(line: &[u8]) -> JsResult<JsValue> {
    let r = LogRecord::parse(line).map_err(AdapterError::from)?;
    Ok(record_js(r))
}

/// Every record of one object (gzip, or plain JSON lines if it does not
/// start like gzip) in stored order: no sorting, no deduplication (that is
/// the Merger's). Throws on a damaged stream or a line that is not a
/// record, naming `key` and the line.
#[wasm_bindgen(js_name = decodeObject, unchecked_return_type = "LogRecord[]")]
pub fn decode_object(key: &str, bytes: &[u8]) -> JsResult<Array> {
    let text = if stream::is_gzip(bytes) {
        stream::gunzip_whole(key, bytes)?
    } else {
        bytes.to_vec()
    };
    let out = Array::new();
    for r in object::lines(key.to_string(), text, None) {
        out.push(&record_js(r.map_err(AdapterError::from)?));
    }
    Ok(out)
}

/// Merges a job's objects into one ordered, deduplicated log, as the
/// service does: push objects (whole, or streamed in chunks), pull lines.
///
/// Lines come out only once nothing still to come can precede them: after
/// `finish()`, or up to an `expectFrom()` promise; a streamed source holds
/// back its latest time until its next chunk or its end. Strict by default:
/// a damaged object or a line that is not a record throws from the push;
/// with `lenient: true` they are skipped and reported by `takeWarnings()`.
#[wasm_bindgen]
pub struct Merger {
    inner: merger::Merger,
}

#[wasm_bindgen]
impl Merger {
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_optional_param_type = "MergeOptions")] options: Option<JsValue>,
    ) -> JsResult<Merger> {
        let (selection, lenient, warnings) =
            options::parse(&options.unwrap_or(JsValue::UNDEFINED))?;
        let mut inner = merger::Merger::new(selection, lenient);
        for w in warnings {
            inner.warn(w);
        }
        Ok(Merger { inner })
    }

    /// Adds a whole stored object (gzip, or plain JSON lines). A `data/`
    /// key is read as a sorted merged object; anything else as a raw
    /// object (sorted first if it is not in order). `key` also names the
    /// object in messages.
    #[wasm_bindgen(js_name = pushObject)]
    pub fn push_object(&mut self, key: &str, bytes: &[u8]) -> JsResult<()> {
        Ok(self.inner.push_object(key, bytes)?)
    }

    /// Starts a streamed source whose bytes come through pushChunk: a
    /// merged object or the service's NDJSON (its lines must be sorted).
    /// Returns the id to pass to pushChunk and end.
    pub fn begin(&mut self, key: &str) -> JsResult<u32> {
        Ok(self.inner.begin(key)?)
    }

    /// The next bytes of a streamed source (gzip or text, any split).
    #[wasm_bindgen(js_name = pushChunk)]
    pub fn push_chunk(&mut self, source: u32, bytes: &[u8]) -> JsResult<()> {
        Ok(self.inner.push_chunk(source, bytes)?)
    }

    /// The end of a streamed source; throws if its gzip stream is cut short.
    pub fn end(&mut self, source: u32) -> JsResult<()> {
        Ok(self.inner.end(source)?)
    }

    /// Promises that every source begun or pushed from now on holds only
    /// records at or after `ts`, so lines before it can be pulled now (for
    /// merged objects pushed in the order of their key's firstTs).
    #[wasm_bindgen(js_name = expectFrom)]
    pub fn expect_from(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "Time")] ts: JsValue,
    ) -> JsResult<()> {
        let ts = options::time_value("expectFrom", &ts)?;
        Ok(self.inner.expect_from(ts)?)
    }

    /// No more sources will be pushed or begun; streams already begun go on.
    pub fn finish(&mut self) {
        self.inner.finish();
    }

    /// Every line has been returned (finished, all streams ended, merge drained).
    #[wasm_bindgen(getter)]
    pub fn done(&self) -> bool {
        self.inner.is_done()
    }

    /// Up to `max` of the lines that may go out now, as stored JSON lines —
    /// what the service's `format=ndjson` sends. Empty when none may yet.
    pub fn pull(&mut self, max: Option<u32>) -> Vec<String> {
        let mut out = Vec::new();
        self.each(max, |r| out.push(line_string(r.line)));
        out
    }

    /// pull() as one string, each line followed by "\n" (one crossing of
    /// the JavaScript boundary instead of one per line).
    #[wasm_bindgen(js_name = pullNdjson)]
    pub fn pull_ndjson(&mut self, max: Option<u32>) -> String {
        let mut out = Vec::new();
        self.each(max, |r| {
            out.extend_from_slice(&r.line);
            out.push(b'\n');
        });
        line_string(out)
    }

    /// pull() as readable text, like the service's `format=text`: each line
    /// with its RFC 3339 time and `[pod/container]` unless turned off, a
    /// quota event in words.
    #[wasm_bindgen(js_name = pullText)]
    pub fn pull_text(
        &mut self,
        max: Option<u32>,
        timestamps: Option<bool>,
        source: Option<bool>,
    ) -> String {
        let style = TextStyle {
            timestamps: timestamps.unwrap_or(true),
            source: source.unwrap_or(true),
        };
        let mut out = String::new();
        self.each(max, |r| r.write_text(&mut out, style));
        out
    }

    /// pull() as decoded records.
    #[wasm_bindgen(js_name = pullRecords, unchecked_return_type = "LogRecord[]")]
    pub fn pull_records(&mut self, max: Option<u32>) -> Array {
        let out = Array::new();
        self.each(max, |r| {
            out.push(&record_js(r));
        });
        out
    }

    /// What was skipped (lenient) or came out of order, since the last call.
    #[wasm_bindgen(js_name = takeWarnings)]
    pub fn take_warnings(&mut self) -> Vec<String> {
        self.inner.take_warnings()
    }

    #[wasm_bindgen(getter, unchecked_return_type = "MergeStats")]
    pub fn stats(&self) -> JsValue {
        let s = self.inner.stats();
        let o = Object::new();
        // Counters stay far below 2^53: exact as numbers.
        set(&o, "objects", s.objects as f64);
        set(&o, "storedBytes", s.stored_bytes as f64);
        set(&o, "lines", s.lines as f64);
        set(&o, "badLines", s.bad_lines as f64);
        set(&o, "badObjects", s.bad_objects as f64);
        set(&o, "outOfOrder", s.out_of_order as f64);
        o.into()
    }
}

impl Merger {
    fn each(&mut self, max: Option<u32>, mut f: impl FnMut(LogRecord)) {
        let max = max.unwrap_or(u32::MAX);
        for _ in 0..max {
            match self.inner.next_record() {
                Some(r) => f(r),
                None => break,
            }
        }
    }
}

/// The adapter's version (the workspace's).
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
