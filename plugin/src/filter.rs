//! The filter's core: one input record in, one verdict out. No I/O.
//!
//! The hot path scans the record once, recognises the `kubernetes` map of a
//! container it has seen before by comparing bytes (so the map is neither
//! parsed nor labelled again), copies every untouched member as it is, and
//! appends the `ts` and the pre-rendered `afterlog` object. All buffers are
//! reused across calls.

use crate::config::{Budget, Config, ConfigError};
use crate::json::{self, JsonError, Member};
use crate::k8s_event;
use crate::labels::{self, Labeller, Labels, PodMeta};
use crate::quota::{Decision, Dropped, Quotas};
use crate::routing::{Route, Router};
use afterlog_contract::k8s_event::Event;
use afterlog_contract::record::{self as field, event, k8s_event::input, label};
use afterlog_contract::routing::DEFAULT_CLASS;
use afterlog_contract::time;
use std::rc::Rc;

/// How many containers' labels are remembered.
const CACHE_ENTRIES: usize = 64;
/// Larger `kubernetes` maps are labelled on every record instead of cached.
const CACHE_MAX_MAP: usize = 64 * 1024;
/// Buffers that grew past this for one huge record are given back.
const KEEP_BUFFER: usize = 1 << 20;

/// The verdict on one record.
#[derive(Debug, PartialEq, Eq)]
pub enum Output<'a> {
    /// A new record: JSON object text followed by a NUL byte.
    Record(&'a [u8]),
    /// Pass the input on exactly as it came.
    Unchanged,
    /// Drop the record (the quota is spent).
    Drop,
}

/// What the labelling of one container gives, kept in the cache.
pub struct Derived {
    pub tool: Rc<str>,
    /// The container's records are not collected (a routing rule).
    pub drop: bool,
    /// Whose budget the records use: the tool, per routing class
    /// (`<tool>@<class>` outside the default class).
    pub quota_key: Rc<str>,
    pub budget: Budget,
    /// The class's line limit.
    pub line_limit: usize,
    /// `"afterlog":{"tool":…,"route":"…"` — the object without its closing brace.
    pub fragment: Vec<u8>,
}

struct CacheEntry {
    /// The tag's container id when the entry was made (empty: none).
    cid: Box<[u8]>,
    map: Box<[u8]>,
    derived: Option<Rc<Derived>>,
}

/// Roles of top-level members.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Copy,
    Skip,
    Log,
}

pub struct Filter {
    cfg: Config,
    labeller: Labeller,
    router: Router,
    quotas: Quotas,
    cache: Vec<CacheEntry>,
    members: Vec<Member>,
    roles: Vec<Role>,
    inner: Vec<Member>,
    nested: Vec<Member>,
    out: Vec<u8>,
    scratch: String,
    lossy: Vec<u8>,
    last_charged: Option<Rc<str>>,
    /// The container id of the current record's tag (empty: none).
    tag_cid: Vec<u8>,
}

/// [`Output`] without the borrow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Out,
    Unchanged,
    Drop,
}

impl Filter {
    pub fn new(cfg: Config) -> Result<Filter, ConfigError> {
        Ok(Filter {
            labeller: Labeller::new(&cfg.labels)?,
            router: Router::new(&cfg)?,
            quotas: Quotas::new(cfg.quota.max_tools),
            cfg,
            cache: Vec::with_capacity(CACHE_ENTRIES),
            members: Vec::with_capacity(16),
            roles: Vec::with_capacity(16),
            inner: Vec::with_capacity(16),
            nested: Vec::with_capacity(16),
            out: Vec::with_capacity(4096),
            scratch: String::new(),
            lossy: Vec::new(),
            last_charged: None,
            tag_cid: Vec::with_capacity(64),
        })
    }

    /// Takes a new config, keeping the quota state; on error nothing changes.
    pub fn reconfigure(&mut self, cfg: Config) -> Result<(), ConfigError> {
        let labeller = Labeller::new(&cfg.labels)?;
        let router = Router::new(&cfg)?;
        self.labeller = labeller;
        self.router = router;
        self.cfg = cfg;
        self.cache.clear();
        Ok(())
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn quotas(&self) -> &Quotas {
        &self.quotas
    }

    pub fn quotas_mut(&mut self) -> &mut Quotas {
        &mut self.quotas
    }

    /// The tool whose quota state the last call changed, if any.
    pub fn last_charged(&self) -> Option<&str> {
        self.last_charged.as_deref()
    }

    /// The tag of the records that follow. A kubelet log file's container
    /// id in it overrides the `kubernetes` map's `docker_id`, which is stale
    /// after a container restart ([`labels::tag_container_id`]).
    pub fn set_tag(&mut self, tag: &[u8]) {
        self.tag_cid.clear();
        if let Some(id) = labels::tag_container_id(tag) {
            self.tag_cid.extend_from_slice(id);
        }
    }

    /// The labels of the container whose `kubernetes` map is `k8s` (JSON
    /// text) and whose id is the current tag's; `None`: not a tool's. For
    /// codecs that recognise records themselves (the msgpack mode's direct
    /// path) and keep their own cache.
    pub fn derive_kubernetes(&mut self, k8s: &[u8]) -> Result<Option<Rc<Derived>>, JsonError> {
        if k8s.first() != Some(&b'{') {
            return Ok(None);
        }
        let meta = self.pod_meta(k8s)?;
        let Some(labels) = self.labeller.derive(&meta) else {
            return Ok(None);
        };
        Ok(Some(Rc::new(self.derived(&meta, &labels))))
    }

    /// What the routing rules and quotas make of a container's labels.
    fn derived(&self, meta: &PodMeta, labels: &Labels) -> Derived {
        let tool: Rc<str> = labels.tool.as_str().into();
        let q = &self.cfg.quota;
        match self.router.route(meta, labels) {
            Route::Drop => Derived {
                drop: true,
                quota_key: tool.clone(),
                tool,
                budget: q.budget(&labels.tool),
                line_limit: self.cfg.line_limit_bytes,
                fragment: Vec::new(),
            },
            Route::Class(c) => Derived {
                drop: false,
                quota_key: if c.name == DEFAULT_CLASS {
                    tool.clone()
                } else {
                    format!("{tool}@{}", c.name).into()
                },
                tool,
                // A tool's own budget is the most specific.
                budget: match (q.tools.get(&labels.tool).copied(), c.quota) {
                    (Some(b), _) | (None, Some(b)) => b,
                    (None, None) => q.budget(&labels.tool),
                },
                line_limit: c.line_limit_bytes.unwrap_or(self.cfg.line_limit_bytes),
                fragment: fragment(labels, &c.name),
            },
        }
    }

    /// The current tag's container id (empty: none).
    pub fn tag_container_id(&self) -> &[u8] {
        &self.tag_cid
    }

    /// Charges a record of `size` bytes (its length as the JSON mode
    /// stores it, plus 2) to `d`'s tool, but only when that admits it with
    /// nothing else to say (no marker, no drop summary): then `true`.
    /// Otherwise nothing changes, and the record must go through
    /// [`Filter::judge`], which handles every case.
    pub fn charge_plain(&mut self, d: &Derived, ts: u64, size: u64) -> bool {
        self.last_charged = None;
        if !self.quotas.charge_plain(&d.quota_key, d.budget, ts, size) {
            return false;
        }
        self.last_charged = Some(d.quota_key.clone());
        true
    }

    /// Filters one record. `sec`/`nsec` are the event time Fluent Bit passes.
    pub fn process(&mut self, sec: u32, nsec: u32, record: &[u8]) -> Output<'_> {
        match self.judge(sec, nsec, record) {
            Verdict::Out => Output::Record(&self.out),
            Verdict::Unchanged => Output::Unchanged,
            Verdict::Drop => Output::Drop,
        }
    }

    /// [`Filter::process`] without holding a borrow: the new record, if
    /// any, is then [`Filter::output`].
    pub fn judge(&mut self, sec: u32, nsec: u32, record: &[u8]) -> Verdict {
        self.last_charged = None;
        if self.out.capacity() > KEEP_BUFFER && record.len() < KEEP_BUFFER / 4 {
            self.out = Vec::with_capacity(4096);
            self.lossy = Vec::new();
            self.scratch = String::new();
        }
        let fallback_ns = sec as u64 * 1_000_000_000 + nsec.min(999_999_999) as u64;
        match self.labelled(record, fallback_ns) {
            Ok(v) => v,
            Err(JsonError::Utf8(_)) => {
                // Invalid UTF-8 is replaced (U+FFFD) and the record processed
                // again, so the output is always valid JSON text.
                let mut lossy = std::mem::take(&mut self.lossy);
                lossy.clear();
                lossy.extend_from_slice(String::from_utf8_lossy(record).as_bytes());
                let v = match self.labelled(&lossy, fallback_ns) {
                    Ok(Verdict::Unchanged) => {
                        self.out.clear();
                        self.out.extend_from_slice(&lossy);
                        self.out.push(0);
                        Verdict::Out
                    }
                    Ok(v) => v,
                    Err(e) => self.error_record(record, &e),
                };
                self.lossy = lossy;
                v
            }
            Err(e) => self.error_record(record, &e),
        }
    }

    /// The record the last [`Filter::judge`] made: JSON text and a NUL.
    pub fn output(&self) -> &[u8] {
        &self.out
    }

    /// A record the filter cannot read is kept, as text, with the reason.
    fn error_record(&mut self, record: &[u8], e: &dyn std::fmt::Display) -> Verdict {
        let out = &mut self.out;
        out.clear();
        out.extend_from_slice(b"{\"log\":");
        json::write_str(out, &String::from_utf8_lossy(record));
        out.extend_from_slice(b",\"afterlog\":{\"error\":");
        json::write_str(out, &e.to_string());
        out.extend_from_slice(b"}}\0");
        Verdict::Out
    }

    fn labelled(&mut self, record: &[u8], fallback_ns: u64) -> Result<Verdict, JsonError> {
        let Filter {
            cache,
            members,
            tag_cid,
            ..
        } = self;
        let mut hit = None;
        json::top_object(record, members, |key, start| {
            if !key.eq_str(record, field::IN_KUBERNETES) {
                return None;
            }
            // Only the last `kubernetes` member counts.
            hit = None;
            let rest = &record[start..];
            for (i, e) in cache.iter().enumerate() {
                if json::bytes_eq(&e.cid, tag_cid)
                    && rest.len() >= e.map.len()
                    && json::bytes_eq(&rest[..e.map.len()], &e.map)
                {
                    hit = Some(i);
                    return Some(start + e.map.len());
                }
            }
            None
        })?;

        // Classify members; the last of duplicate keys wins, as in JSON readers.
        let (mut k8s, mut time, mut log, mut stream, mut off) = (None, None, None, None, None);
        self.roles.clear();
        for (i, m) in self.members.iter().enumerate() {
            let (slot, role) = match key_name(record, m) {
                Some(field::IN_KUBERNETES) if self.cfg.keep_kubernetes => {
                    (Some(&mut k8s), Role::Copy)
                }
                Some(field::IN_KUBERNETES) => (Some(&mut k8s), Role::Skip),
                Some(field::IN_TIME) => (Some(&mut time), Role::Skip),
                Some(field::LOG) => (Some(&mut log), Role::Log),
                Some(field::STREAM) => (Some(&mut stream), Role::Copy),
                Some(field::OFF) => (Some(&mut off), Role::Copy),
                Some(field::IN_PARTIAL | field::TS | field::AFTERLOG) => (None, Role::Skip),
                _ => (None, Role::Copy),
            };
            if let Some(slot) = slot {
                *slot = Some(i);
            }
            self.roles.push(role);
        }
        let Some(k8s) = k8s else {
            // The last of duplicate keys, as a JSON reader takes it.
            let event = self
                .members
                .iter()
                .rev()
                .find(|m| m.key.eq_str(record, input::INVOLVED_OBJECT));
            if event.is_some_and(|m| m.value(record).first() == Some(&b'{')) {
                return Ok(self.event(record, fallback_ns));
            }
            return Ok(Verdict::Unchanged);
        };

        let derived = match hit {
            Some(i) => {
                self.cache[..=i].rotate_right(1);
                self.cache[0].derived.clone()
            }
            None => self.derive(record, self.members[k8s])?,
        };
        let Some(d) = derived else {
            return Ok(Verdict::Unchanged);
        };
        if d.drop {
            return Ok(Verdict::Drop);
        }

        let ts = time
            .and_then(|i| self.members[i].as_str(record))
            .and_then(|s| time::parse_rfc3339_nanos(s.text(record, &mut self.scratch).as_bytes()))
            .unwrap_or(fallback_ns);

        // The output record, as it will be stored.
        let out = &mut self.out;
        out.clear();
        out.push(b'{');
        for (i, (m, role)) in self.members.iter().zip(&self.roles).enumerate() {
            match role {
                Role::Skip => continue,
                Role::Log if Some(i) != log => continue,
                Role::Log => write_log(out, record, m, d.line_limit, &mut self.scratch),
                Role::Copy => out.extend_from_slice(m.whole(record)),
            }
            out.push(b',');
        }
        out.extend_from_slice(b"\"ts\":");
        json::write_u64(out, ts);
        out.push(b',');
        out.extend_from_slice(&d.fragment);
        let (members, stream, off) = (&self.members, stream, off);
        self.last_charged = Some(d.quota_key.clone());
        Ok(finish(&mut self.quotas, &mut self.out, &d, ts, |out| {
            for i in [stream, off].into_iter().flatten() {
                out.extend_from_slice(members[i].whole(record));
                out.push(b',');
            }
        }))
    }

    /// A Kubernetes event (docs/design.md §13): labelled like a container
    /// of the pod or object it is about, stored as its own record.
    fn event(&mut self, record: &[u8], fallback_ns: u64) -> Verdict {
        // Events are few (one per occurrence in a cluster): a value tree is
        // cheap enough, and the scanner has already checked the text.
        let map = match serde_json::from_slice::<serde_json::Value>(record) {
            Ok(serde_json::Value::Object(m)) => m,
            Ok(_) => return Verdict::Unchanged,
            Err(e) => return self.error_record(record, &e),
        };
        let e = Event::from_json(&map);
        let Some((meta, labels)) = k8s_event::labels(&self.labeller, &e) else {
            return Verdict::Unchanged;
        };
        if let Some(why) = e.problem() {
            return self.error_record(record, &why);
        }
        let d = self.derived(&meta, &labels);
        if d.drop {
            return Verdict::Drop;
        }
        let ts = e.ts.unwrap_or(fallback_ns);
        self.out.clear();
        k8s_event::write_record(&mut self.out, &e, ts, d.line_limit);
        self.out.extend_from_slice(&d.fragment);
        self.last_charged = Some(d.quota_key.clone());
        finish(
            &mut self.quotas,
            &mut self.out,
            &d,
            ts,
            k8s_event::write_head,
        )
    }

    /// Labels a container seen for the first time and remembers the result.
    fn derive(&mut self, record: &[u8], k8s: Member) -> Result<Option<Rc<Derived>>, JsonError> {
        let span = k8s.value(record);
        let derived = self.derive_kubernetes(span)?;
        // Only objects: they end at their closing brace, so a byte-equal
        // prefix of the input is the whole value (a number would not be).
        if span.first() == Some(&b'{') && span.len() <= CACHE_MAX_MAP {
            if self.cache.len() == CACHE_ENTRIES {
                self.cache.pop();
            }
            self.cache.insert(
                0,
                CacheEntry {
                    cid: self.tag_cid.as_slice().into(),
                    map: span.into(),
                    derived: derived.clone(),
                },
            );
        }
        Ok(derived)
    }

    fn pod_meta(&mut self, span: &[u8]) -> Result<PodMeta, JsonError> {
        json::nested_object(span, 1, &mut self.inner)?;
        let mut meta = PodMeta::default();
        let scratch = &mut self.scratch;
        let text = |m: &Member, scratch: &mut String| -> Option<String> {
            m.as_str(span).map(|s| s.text(span, scratch).to_string())
        };
        for m in &self.inner {
            let key = m.key.text(span, scratch).to_string();
            let slot = match key.as_str() {
                "namespace_name" => &mut meta.namespace,
                "pod_name" => &mut meta.pod,
                "container_name" => &mut meta.container,
                "docker_id" => &mut meta.container_id,
                "host" => &mut meta.node,
                "labels" | "annotations" => {
                    let pairs = if key == "labels" {
                        &mut meta.labels
                    } else {
                        &mut meta.annotations
                    };
                    pairs.clear();
                    if m.value(span).first() == Some(&b'{') {
                        json::nested_object(m.value(span), 2, &mut self.nested)?;
                        let sub = m.value(span);
                        for n in &self.nested {
                            // A value that is not a string counts as present but empty.
                            let v = n.as_str(sub).map(|v| v.text(sub, scratch).to_string());
                            let k = n.key.text(sub, scratch).to_string();
                            pairs.push((k, v.unwrap_or_default()));
                        }
                    }
                    continue;
                }
                _ => continue,
            };
            // The last of duplicate keys wins, and a non-string means unknown.
            *slot = text(m, scratch).unwrap_or_default();
        }
        if !self.tag_cid.is_empty() {
            meta.container_id = String::from_utf8_lossy(&self.tag_cid).into_owned();
        }
        Ok(meta)
    }
}

/// Charges the record in `out` (its members, `ts` and the `afterlog`
/// fragment, unclosed) to `d`'s quota and closes it; replaces it by the
/// quota marker, whose first members `head` writes (`stream`, `off`), or
/// says to drop it.
fn finish(
    quotas: &mut Quotas,
    out: &mut Vec<u8>,
    d: &Derived,
    ts: u64,
    head: impl FnOnce(&mut Vec<u8>),
) -> Verdict {
    let size = out.len() as u64 + 2;
    match quotas.charge(&d.quota_key, d.budget, ts, size) {
        Decision::Admit(None) => {}
        Decision::Admit(Some(dropped)) => write_summary(out, &dropped),
        Decision::Marker {
            budget,
            resets_at_ns,
        } => {
            out.clear();
            out.push(b'{');
            head(out);
            out.extend_from_slice(b"\"log\":");
            let text = format!(
                "[afterlog] tool {} reached its log quota of {} bytes per {} s; lines are dropped until {}",
                d.tool,
                budget.bytes,
                budget.window_seconds,
                time::rfc3339_nanos(resets_at_ns)
            );
            json::write_str(out, &text);
            out.extend_from_slice(b",\"ts\":");
            json::write_u64(out, ts);
            out.push(b',');
            out.extend_from_slice(&d.fragment);
            write_event(out, event::QUOTA_EXCEEDED);
            for (k, v) in [
                (event::LIMIT_BYTES, budget.bytes),
                (event::WINDOW_SECONDS, budget.window_seconds),
                (event::RESETS_AT, resets_at_ns),
            ] {
                write_num_field(out, k, v);
            }
        }
        Decision::Drop => return Verdict::Drop,
    }
    out.extend_from_slice(b"}}\0");
    Verdict::Out
}

/// The name of a member's key if it is one the filter knows.
#[inline]
fn key_name(buf: &[u8], m: &Member) -> Option<&'static str> {
    const KNOWN: [&str; 8] = [
        field::LOG,
        field::STREAM,
        field::IN_TIME,
        field::IN_KUBERNETES,
        field::OFF,
        field::IN_PARTIAL,
        field::TS,
        field::AFTERLOG,
    ];
    let raw = m.key.raw(buf);
    if !m.key.escaped {
        return KNOWN.iter().copied().find(|k| k.as_bytes() == raw);
    }
    KNOWN.iter().copied().find(|k| m.key.eq_str(buf, k))
}

fn write_log(out: &mut Vec<u8>, record: &[u8], m: &Member, limit: usize, scratch: &mut String) {
    let Some(s) = m.as_str(record) else {
        out.extend_from_slice(m.whole(record));
        return;
    };
    // Escapes only lengthen text, so a short raw value is short enough.
    if s.len() <= limit {
        out.extend_from_slice(m.whole(record));
        return;
    }
    let text = s.text(record, scratch);
    if text.len() <= limit {
        out.extend_from_slice(m.whole(record));
        return;
    }
    out.extend_from_slice(b"\"log\":");
    write_str_cut(out, text, limit);
}

/// Appends `text` as a JSON string, cut at a UTF-8 boundary at or below
/// `limit` bytes with the truncation marker when longer.
pub(crate) fn write_str_cut(out: &mut Vec<u8>, text: &str, limit: usize) {
    if text.len() <= limit {
        json::write_str(out, text);
        return;
    }
    let mut cut = limit;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    out.push(b'"');
    json::write_str_body(out, &text[..cut]);
    json::write_str_body(out, &field::truncation_marker(text.len() - cut));
    out.push(b'"');
}

fn write_event(out: &mut Vec<u8>, name: &str) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(label::EVENT.as_bytes());
    out.extend_from_slice(b"\":");
    json::write_str(out, name);
}

fn write_num_field(out: &mut Vec<u8>, key: &str, v: u64) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
    json::write_u64(out, v);
}

fn write_summary(out: &mut Vec<u8>, d: &Dropped) {
    write_event(out, event::QUOTA_DROPPED);
    for (k, v) in [
        (event::DROPPED_RECORDS, d.records),
        (event::DROPPED_BYTES, d.bytes),
        (event::DROPPED_FROM, d.from_ns),
        (event::DROPPED_UNTIL, d.until_ns),
    ] {
        write_num_field(out, k, v);
    }
}

/// `"afterlog":{"tool":…,"route":"…","class":"…"` for one container.
fn fragment(l: &Labels, class: &str) -> Vec<u8> {
    let route = l.origin().class_route(class);
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"\"afterlog\":{");
    // Keys and values in the same order: the order records are stored in.
    let keys = [
        label::TOOL,
        label::JOB,
        label::KIND,
        label::NAMESPACE,
        label::POD,
        label::CONTAINER,
        label::CONTAINER_ID,
        label::NODE,
        label::ROUTE,
        label::CLASS,
    ];
    let values = [
        l.tool.as_str(),
        &l.job,
        &l.kind,
        &l.namespace,
        &l.pod,
        &l.container,
        &l.container_id,
        &l.node,
        &route,
        class,
    ];
    for (i, (k, v)) in keys.into_iter().zip(values).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json::write_str(&mut out, k);
        out.push(b':');
        json::write_str(&mut out, v);
    }
    out
}
