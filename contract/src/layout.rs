//! Object keys (docs/design.md §3). Every part is key-encoded with [`crate::keys`].
//!
//! ```text
//! raw/<tool>/<job>/<pod>/<container>/<YYYYMMDDTHHMMSSZ>-<uuid>.gz
//! data/<tool>/<job>/<pod>/<container>/<first_ts>-<last_ts>-<id>.gz
//! meta/<tool>/<job>/<pod>.json
//! chunks/<tool>/<job>/<first_ts>-<last_ts>-<id>.gz   job-level merged objects
//! index/<tool>/<job>.json                            the job's manifest
//! index/<tool>/<job>/<YYYYMMDD>-<generation>.json.gz one day of the job's index
//! index/<tool>/_tool.json                            the tool's index
//! deletions/<tool>/<job>/<id>[.<part>].json          a deletion request and its state
//! status/compaction.json                             how the latest compaction pass went
//! ```
//!
//! `meta/` and `data/` are the per-pod layout that job-level compaction
//! replaces (see `afterlog_reader::index`): still read, migrated by the
//! compactor. `_tool` cannot be an encoded job name (`_` always starts a
//! hex escape), so the tool's index never collides with a job's manifest.

use crate::keys::{self, KeyError};
use crate::time;
use thiserror::Error;

pub const RAW: &str = "raw";
pub const DATA: &str = "data";
pub const META: &str = "meta";
pub const CHUNKS: &str = "chunks";
pub const INDEX: &str = "index";
pub const DELETIONS: &str = "deletions";
/// Status objects of the store's own upkeep (compaction), not of a tool.
pub const STATUS: &str = "status";

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum LayoutError {
    #[error("key {0:?} is not in the afterlog layout")]
    Shape(String),
    #[error("key {key:?}: {source}")]
    Part { key: String, source: KeyError },
}

/// Where a container's logs live: the four decoded names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Origin {
    pub tool: String,
    pub job: String,
    pub pod: String,
    pub container: String,
}

impl Origin {
    /// `<class>.<tool>.<job>.<pod>.<container>`, the `afterlog.route`
    /// value: the tag's parts after `afterlog.`. (A class name is already
    /// safe in a key: see [`crate::routing::check_class_name`].)
    pub fn class_route(&self, class: &str) -> String {
        let mut s = String::with_capacity(class.len() + 64);
        keys::encode_into(class, &mut s);
        s.push('.');
        s.push_str(&self.route());
        s
    }

    /// `<tool>.<job>.<pod>.<container>`, key-encoded.
    pub fn route(&self) -> String {
        let mut s = String::new();
        for (i, p) in [&self.tool, &self.job, &self.pod, &self.container]
            .into_iter()
            .enumerate()
        {
            if i > 0 {
                s.push('.');
            }
            keys::encode_into(p, &mut s);
        }
        s
    }

    fn prefix(&self, top: &str) -> String {
        let mut s = String::from(top);
        for p in [&self.tool, &self.job, &self.pod, &self.container] {
            s.push('/');
            keys::encode_into(p, &mut s);
        }
        s.push('/');
        s
    }

    /// Key of a raw object for this container, in Fluent Bit's format.
    pub fn raw_key(&self, first_event_secs: i64, uuid: &str) -> String {
        format!(
            "{}{}-{uuid}.gz",
            self.prefix(RAW),
            time::compact_utc(first_event_secs)
        )
    }

    /// Key of a merged object holding `first_ts..=last_ts`.
    pub fn data_key(&self, first_ts: u64, last_ts: u64, id: &str) -> String {
        format!("{}{first_ts:020}-{last_ts:020}-{id}.gz", self.prefix(DATA))
    }
}

/// `<top>/<tool>/` — everything of one tool under `raw`, `data` or `meta`.
pub fn tool_prefix(top: &str, tool: &str) -> String {
    format!("{top}/{}/", keys::encode(tool))
}

/// `<top>/<tool>/<job>/` — everything of one job.
pub fn job_prefix(top: &str, tool: &str, job: &str) -> String {
    format!("{top}/{}/{}/", keys::encode(tool), keys::encode(job))
}

/// `meta/<tool>/<job>/<pod>.json`.
pub fn meta_key(tool: &str, job: &str, pod: &str) -> String {
    format!(
        "{META}/{}/{}/{}.json",
        keys::encode(tool),
        keys::encode(job),
        keys::encode(pod)
    )
}

/// `index/<tool>/<job>.json`: the job's manifest, the one object a reader
/// takes as the snapshot of everything compacted.
pub fn manifest_key(tool: &str, job: &str) -> String {
    format!("{INDEX}/{}/{}.json", keys::encode(tool), keys::encode(job))
}

/// `index/<tool>/<job>/<day>-<generation>.json.gz`: one UTC day of a job's
/// index. Written once under a new generation, never overwritten.
pub fn period_key(tool: &str, job: &str, day: u32, generation: u64) -> String {
    format!(
        "{INDEX}/{}/{}/{day:08}-{generation:012}.json.gz",
        keys::encode(tool),
        keys::encode(job)
    )
}

/// `index/<tool>/_tool.json`: the tool's jobs, summarised.
pub fn tool_index_key(tool: &str) -> String {
    format!("{INDEX}/{}/_tool.json", keys::encode(tool))
}

/// The documents of one deletion request, each written once: the request,
/// then who decided its fate, then what its rewrite removed, then when the
/// last object that held its lines was deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeletionPart {
    Request,
    Decision,
    Rewritten,
    Applied,
}

impl DeletionPart {
    pub const ALL: [DeletionPart; 4] = [
        DeletionPart::Request,
        DeletionPart::Decision,
        DeletionPart::Rewritten,
        DeletionPart::Applied,
    ];

    fn suffix(self) -> &'static str {
        match self {
            DeletionPart::Request => ".json",
            DeletionPart::Decision => ".decision.json",
            DeletionPart::Rewritten => ".rewritten.json",
            DeletionPart::Applied => ".applied.json",
        }
    }
}

/// `deletions/<tool>/<job>/<id><part>.json`: one document of a deletion
/// request. `id` is [`is_deletion_id`]-shaped, so safe in a key as it is.
pub fn deletion_key(tool: &str, job: &str, id: &str, part: DeletionPart) -> String {
    format!("{}{id}{}", job_prefix(DELETIONS, tool, job), part.suffix())
}

/// Splits the file name of a key under [`DELETIONS`]`/<tool>/<job>/` into the
/// request's id and the part; `None` for a name that is neither.
pub fn parse_deletion_file(file: &str) -> Option<(&str, DeletionPart)> {
    // Longest suffix first: ".json" ends them all.
    for part in [
        DeletionPart::Decision,
        DeletionPart::Rewritten,
        DeletionPart::Applied,
        DeletionPart::Request,
    ] {
        if let Some(id) = file.strip_suffix(part.suffix())
            && is_deletion_id(id)
        {
            return Some((id, part));
        }
    }
    None
}

/// A deletion request's id: `<requested ns, 20 digits>-<16 hex digits>`,
/// so that ids sort by the time they were asked.
pub fn is_deletion_id(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 37
        && b[20] == b'-'
        && b[..20].iter().all(u8::is_ascii_digit)
        && b[21..]
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
}

/// A new request id for time `ns`; `random` makes two requests of one
/// nanosecond differ.
pub fn deletion_id(ns: u64, random: u64) -> String {
    format!("{ns:020}-{random:016x}")
}

/// `chunks/<tool>/<job>/<first_ts>-<last_ts>-<id>.gz`: a job-level merged
/// object (records of any pod and container of the job, sorted).
pub fn chunk_key(tool: &str, job: &str, first_ts: u64, last_ts: u64, id: &str) -> String {
    format!(
        "{}{first_ts:020}-{last_ts:020}-{id}.gz",
        job_prefix(CHUNKS, tool, job)
    )
}

/// A parsed raw or data key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectKey {
    pub origin: Origin,
    pub kind: ObjectKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectKind {
    /// Fluent Bit's upload: event time (s) of its first record, and its id.
    Raw { first_secs: i64, uuid: String },
    /// A merged object: its time range (ns) and id.
    Data {
        first_ts: u64,
        last_ts: u64,
        id: String,
    },
}

/// Parses `raw/…` and `data/…` keys.
pub fn parse_object_key(key: &str) -> Result<ObjectKey, LayoutError> {
    let shape = || LayoutError::Shape(key.to_string());
    let mut parts = key.split('/');
    let top = parts.next().ok_or_else(shape)?;
    let mut names = [""; 4];
    for n in &mut names {
        *n = parts.next().ok_or_else(shape)?;
    }
    let file = parts.next().ok_or_else(shape)?;
    if parts.next().is_some() {
        return Err(shape());
    }
    let decode = |p: &str| {
        keys::decode(p).map_err(|source| LayoutError::Part {
            key: key.to_string(),
            source,
        })
    };
    let origin = Origin {
        tool: decode(names[0])?,
        job: decode(names[1])?,
        pod: decode(names[2])?,
        container: decode(names[3])?,
    };
    let stem = file.strip_suffix(".gz").ok_or_else(shape)?;
    let kind = match top {
        RAW => {
            let (stamp, uuid) = stem.split_once('-').ok_or_else(shape)?;
            let first_secs = time::parse_compact_utc(stamp).ok_or_else(shape)?;
            if uuid.is_empty() {
                return Err(shape());
            }
            ObjectKind::Raw {
                first_secs,
                uuid: uuid.to_string(),
            }
        }
        DATA => {
            let mut it = stem.splitn(3, '-');
            let first_ts = it.next().and_then(|s| s.parse().ok()).ok_or_else(shape)?;
            let last_ts = it.next().and_then(|s| s.parse().ok()).ok_or_else(shape)?;
            let id = it.next().filter(|s| !s.is_empty()).ok_or_else(shape)?;
            ObjectKind::Data {
                first_ts,
                last_ts,
                id: id.to_string(),
            }
        }
        _ => return Err(shape()),
    };
    Ok(ObjectKey { origin, kind })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin {
            tool: "foo".into(),
            job: "my.job".into(),
            pod: "myjob-28889999-abcde".into(),
            container: "job".into(),
        }
    }

    #[test]
    fn deletion_keys_roundtrip() {
        let id = deletion_id(1_795_618_800_000_000_001, 0xabc);
        assert!(is_deletion_id(&id));
        for part in DeletionPart::ALL {
            let key = deletion_key("foo", "my.job", &id, part);
            assert!(key.starts_with("deletions/foo/my_2ejob/"));
            let file = key.rsplit('/').next().unwrap();
            assert_eq!(parse_deletion_file(file), Some((id.as_str(), part)));
        }
        assert_eq!(parse_deletion_file("x.json"), None);
        assert_eq!(parse_deletion_file(&format!("{id}.other.json")), None);
        assert!(!is_deletion_id(&id.to_uppercase().replace('-', "_")));
    }

    #[test]
    fn raw_keys_roundtrip() {
        let k = origin().raw_key(1_795_618_800, "AbC12xyZ");
        assert_eq!(
            k,
            "raw/foo/my_2ejob/myjob-28889999-abcde/job/20261125T150000Z-AbC12xyZ.gz"
        );
        let p = parse_object_key(&k).unwrap();
        assert_eq!(p.origin, origin());
        assert_eq!(
            p.kind,
            ObjectKind::Raw {
                first_secs: 1_795_618_800,
                uuid: "AbC12xyZ".into()
            }
        );
    }

    #[test]
    fn data_keys_roundtrip_and_sort_by_time() {
        let a = origin().data_key(5, 900, "x1");
        let b = origin().data_key(40, 50, "x0");
        assert!(a < b, "zero-padded times sort as numbers");
        let p = parse_object_key(&a).unwrap();
        assert_eq!(
            p.kind,
            ObjectKind::Data {
                first_ts: 5,
                last_ts: 900,
                id: "x1".into()
            }
        );
    }

    #[test]
    fn route_and_prefixes() {
        assert_eq!(origin().route(), "foo.my_2ejob.myjob-28889999-abcde.job");
        assert_eq!(
            origin().class_route("long-retention"),
            "long-retention.foo.my_2ejob.myjob-28889999-abcde.job"
        );
        assert_eq!(job_prefix(RAW, "foo", "../x"), "raw/foo/_2e_2e_2fx/");
        assert_eq!(meta_key("foo", "j", "p"), "meta/foo/j/p.json");
        assert_eq!(manifest_key("foo", "a.b"), "index/foo/a_2eb.json");
        assert_eq!(
            period_key("foo", "j", 20261204, 7),
            "index/foo/j/20261204-000000000007.json.gz"
        );
        assert_eq!(tool_index_key("foo"), "index/foo/_tool.json");
        assert!(keys::decode("_tool").is_err(), "never a job's name");
        assert_eq!(
            chunk_key("foo", "j", 1, 2, "ab"),
            "chunks/foo/j/00000000000000000001-00000000000000000002-ab.gz"
        );
    }

    #[test]
    fn rejects_foreign_keys() {
        for k in [
            "raw/foo/j/p/c",
            "raw/foo/j/p/c/20261125T150000Z-x.txt",
            "raw/Foo/j/p/c/20261125T150000Z-x.gz",
            "raw/foo/j/p/c/d/20261125T150000Z-x.gz",
            "other/foo/j/p/c/20261125T150000Z-x.gz",
            "raw/foo/j/p/c/2026-x.gz",
            "data/foo/j/p/c/1-x.gz",
        ] {
            assert!(parse_object_key(k).is_err(), "{k}");
        }
    }
}
