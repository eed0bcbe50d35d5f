//! The index's stored objects: the manifest, its periods and their
//! chunks, and the tool's index, with their codecs.

use crate::meta::{ConsumedRaw, PodInfo};
use crate::quota::QuotaEvent;
use afterlog_contract::time;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{Read, Write};

/// The only version of these objects this reader understands.
pub const INDEX_VERSION: u32 = 1;

pub(super) const NS_PER_DAY: u64 = 86_400_000_000_000;

/// The UTC day of an event time, as `YYYYMMDD`.
pub fn day_of(ts: u64) -> u32 {
    let (y, m, d) = time::civil_from_days((ts / NS_PER_DAY) as i64);
    (y.clamp(0, 9999) as u32) * 10_000 + m * 100 + d
}

/// The first ns of the day after `ts`'s day.
pub fn next_day_start(ts: u64) -> u64 {
    (ts / NS_PER_DAY + 1).saturating_mul(NS_PER_DAY)
}

/// `index/<tool>/<job>.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobManifest {
    pub version: u32,
    /// Incremented by every write; names the periods it writes.
    pub generation: u64,
    /// The job's kind (`job`, `cronjob`, …), from its records.
    #[serde(default)]
    pub kind: String,
    /// By day, oldest first.
    #[serde(default)]
    pub periods: Vec<PeriodRef>,
    /// Keys the periods make redundant, waiting for the grace period to
    /// pass before they are deleted: raw objects the chunks hold (readers
    /// skip them), replaced chunks and periods, the per-pod layout.
    #[serde(default)]
    pub consumed: Vec<ConsumedRaw>,
    /// When the newest raw object the chunks hold arrived (s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_upload_secs: Option<i64>,
    /// Pods of the newest runs (at most [`LATEST_PODS`]): a listing of raw
    /// objects not compacted yet tells new runs from these.
    #[serde(default)]
    pub latest_pods: Vec<String>,
}

/// How many of the newest runs a manifest names.
pub const LATEST_PODS: usize = 256;

/// One day of a job, as the manifest summarises it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodRef {
    /// `YYYYMMDD` (UTC).
    pub day: u32,
    /// The period object.
    pub key: String,
    pub first_ts: u64,
    pub last_ts: u64,
    /// Runs whose first record in the job's chunks is in this day.
    pub runs: u64,
    pub lines: u64,
    /// Stored (compressed) bytes of its chunks.
    pub bytes: u64,
    /// Its chunks' keys.
    pub chunks: Vec<String>,
}

/// `index/<tool>/<job>/<day>-<gen>.json.gz`: one day's chunks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    pub version: u32,
    pub day: u32,
    /// By first time.
    pub chunks: Vec<Chunk>,
}

/// A job-level merged object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    pub key: String,
    pub first_ts: u64,
    pub last_ts: u64,
    pub lines: u64,
    /// Stored (compressed) size.
    pub bytes: u64,
    /// Uncompressed size.
    pub text_bytes: u64,
    /// Its gzip members, in order: each is a gzip file on its own.
    pub members: Vec<Member>,
    /// Per run (pod), what this chunk holds of it.
    pub runs: Vec<RunStats>,
    /// Lines and bytes per minute: `[minute since the epoch, stdout
    /// lines, stdout bytes, stderr lines, stderr bytes]`, by minute.
    #[serde(default)]
    pub volume: Vec<[u64; 5]>,
    /// Kubernetes events per minute (docs/design.md §13), not in `volume`:
    /// `[minute since the epoch, lines, bytes]`, by minute. Absent in
    /// chunks without events.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<[u64; 3]>,
    /// The quota events its records carry, in order. `None` in chunks
    /// written before the compactor recorded them: a reader that needs
    /// them reads such a chunk's records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<Vec<QuotaMark>>,
}

impl Chunk {
    /// Whether the per-minute counts and the quota events are recorded,
    /// so that a volume need not read the chunk's records.
    pub fn has_volume(&self) -> bool {
        self.quota.is_some()
            && (self.lines == 0 || !self.volume.is_empty() || !self.events.is_empty())
    }
}

/// A quota event as a chunk records it (docs/design.md §2, §7): the
/// record's time, `quota_exceeded` or `quota_dropped`, and for a drop what
/// was dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaMark {
    pub ts: u64,
    pub event: String,
    #[serde(default)]
    pub records: u64,
    #[serde(default)]
    pub bytes: u64,
}

impl QuotaMark {
    /// The mark of `event`, carried by a record of time `ts`.
    pub fn of(ts: u64, event: &QuotaEvent) -> QuotaMark {
        let (records, bytes) = match *event {
            QuotaEvent::Exceeded { .. } => (0, 0),
            QuotaEvent::Dropped { records, bytes, .. } => (records, bytes),
        };
        QuotaMark {
            ts,
            event: event.name().to_string(),
            records,
            bytes,
        }
    }
}

/// A gzip member of a chunk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub offset: u64,
    pub len: u64,
    pub first_ts: u64,
    pub last_ts: u64,
    pub lines: u64,
}

/// What a chunk (or a job) holds of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunStats {
    pub pod: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub node: String,
    /// Container name → the ids of its instances, oldest first.
    #[serde(default)]
    pub containers: BTreeMap<String, Vec<String>>,
    pub first_ts: u64,
    pub last_ts: u64,
    pub lines: u64,
    /// Uncompressed bytes of its stored lines.
    pub bytes: u64,
}

impl RunStats {
    /// Adds what another chunk holds of the same run.
    pub fn absorb(&mut self, o: &RunStats) {
        if self.lines == 0 {
            self.first_ts = o.first_ts;
            self.last_ts = o.last_ts;
        } else if o.lines > 0 {
            self.first_ts = self.first_ts.min(o.first_ts);
            self.last_ts = self.last_ts.max(o.last_ts);
        }
        if self.kind.is_empty() {
            self.kind.clone_from(&o.kind);
        }
        if self.node.is_empty() {
            self.node.clone_from(&o.node);
        }
        for (name, ids) in &o.containers {
            let have = self.containers.entry(name.clone()).or_default();
            for id in ids {
                if !have.contains(id) {
                    have.push(id.clone());
                }
            }
        }
        self.lines += o.lines;
        self.bytes += o.bytes;
    }

    /// As the per-pod layout recorded it.
    pub fn pod_info(&self) -> PodInfo {
        PodInfo {
            node: self.node.clone(),
            kind: self.kind.clone(),
            containers: self.containers.clone(),
            first_ts: Some(self.first_ts),
            last_ts: Some(self.last_ts),
        }
    }
}

/// `index/<tool>/_tool.json`: each job of the tool as its manifest sums it
/// up, so that listing a tool's jobs costs one GET plus a listing of what
/// is not compacted yet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolIndex {
    pub version: u32,
    #[serde(default)]
    pub jobs: BTreeMap<String, ToolJob>,
}

/// One job of a [`ToolIndex`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolJob {
    pub kind: String,
    pub first_ts: u64,
    pub last_ts: u64,
    pub runs: u64,
    pub lines: u64,
    pub bytes: u64,
    pub objects: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_upload_secs: Option<i64>,
    /// Raw (and per-pod merged) keys the job's chunks hold that may still
    /// be listed.
    #[serde(default)]
    pub consumed_raw: Vec<String>,
    /// As [`JobManifest::latest_pods`].
    #[serde(default)]
    pub latest_pods: Vec<String>,
}

impl ToolJob {
    /// The summary of a job's manifest.
    pub fn of(m: &JobManifest) -> ToolJob {
        ToolJob {
            kind: m.kind.clone(),
            first_ts: m.periods.first().map_or(0, |p| p.first_ts),
            last_ts: m.periods.iter().map(|p| p.last_ts).max().unwrap_or(0),
            runs: m.periods.iter().map(|p| p.runs).sum(),
            lines: m.periods.iter().map(|p| p.lines).sum(),
            bytes: m.periods.iter().map(|p| p.bytes).sum(),
            objects: m.periods.iter().map(|p| p.chunks.len() as u64).sum(),
            last_upload_secs: m.last_upload_secs,
            consumed_raw: m
                .consumed
                .iter()
                .filter(|c| c.key.starts_with("raw/") || c.key.starts_with("data/"))
                .map(|c| c.key.clone())
                .collect(),
            latest_pods: m.latest_pods.clone(),
        }
    }
}

/// Why an index object could not be used.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("{key}: {source}")]
    Json {
        key: String,
        source: serde_json::Error,
    },
    #[error("{key}: not gzip: {source}")]
    Gzip { key: String, source: std::io::Error },
    #[error("{key}: version {version} not understood")]
    Version { key: String, version: u32 },
}

/// An index object: versioned JSON.
trait Doc: serde::de::DeserializeOwned {
    fn version(&self) -> u32;
}

impl Doc for JobManifest {
    fn version(&self) -> u32 {
        self.version
    }
}

impl Doc for ToolIndex {
    fn version(&self) -> u32 {
        self.version
    }
}

impl Doc for Period {
    fn version(&self) -> u32 {
        self.version
    }
}

fn parse_json<T: Doc>(key: &str, json: &[u8]) -> Result<T, IndexError> {
    let doc: T = serde_json::from_slice(json).map_err(|source| IndexError::Json {
        key: key.to_string(),
        source,
    })?;
    if doc.version() != INDEX_VERSION {
        return Err(IndexError::Version {
            key: key.to_string(),
            version: doc.version(),
        });
    }
    Ok(doc)
}

/// Parses a manifest (JSON).
pub fn parse_manifest(key: &str, body: &[u8]) -> Result<JobManifest, IndexError> {
    parse_json(key, body)
}

/// Parses a tool index (JSON).
pub fn parse_tool_index(key: &str, body: &[u8]) -> Result<ToolIndex, IndexError> {
    parse_json(key, body)
}

/// Parses a period (gzip'd JSON).
pub fn parse_period(key: &str, body: &[u8]) -> Result<Period, IndexError> {
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(body)
        .read_to_end(&mut text)
        .map_err(|source| IndexError::Gzip {
            key: key.to_string(),
            source,
        })?;
    parse_json(key, &text)
}

/// A period as stored (gzip'd JSON).
pub fn encode_period(p: &Period) -> Vec<u8> {
    let json = serde_json::to_vec(p).unwrap_or_default();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    // Writing to a Vec cannot fail.
    let _ = gz.write_all(&json);
    gz.finish().unwrap_or_default()
}
