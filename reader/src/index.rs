//! The job index: what the compactor knows about a job, kept so that a read
//! opens only what its answer needs (the way Iceberg's manifests and Loki's
//! index do it).
//!
//! ```text
//! index/<tool>/<job>.json                 JobManifest: the snapshot pointer
//! index/<tool>/<job>/<day>-<gen>.json.gz  Period: one UTC day's chunks
//! chunks/<tool>/<job>/<first>-<last>-<id>.gz   the chunks themselves
//! index/<tool>/_tool.json                 ToolIndex: the tool's jobs
//! ```
//!
//! A chunk holds the sorted, deduplicated records of any of the job's pods
//! and containers within one UTC day, in gzip members of about 1 MiB whose
//! offsets and time ranges the period lists, so that a tail, a time window
//! or one run is a few range GETs. The manifest names the current period
//! object of each day (periods are written once, under a new generation),
//! and the keys waiting to be deleted (raw objects its chunks hold, replaced
//! chunks and periods, the per-pod layout it migrated). It is the only
//! object the compactor overwrites (conditionally), so a reader that GETs it
//! sees one consistent snapshot: the periods and chunks it names exist
//! until a grace period after they stop being named.
//!
//! Pure: no I/O. The store edge is `job` (reading) and the compactor
//! (writing).

use crate::merge::Selection;
use crate::meta::{ConsumedRaw, PodInfo};
use crate::record::LogRecord;
use afterlog_contract::time;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Write};

/// The only version of these objects this reader understands.
pub const INDEX_VERSION: u32 = 1;

const NS_PER_DAY: u64 = 86_400_000_000_000;

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

/// Which periods of a manifest a read needs: those that overlap
/// `[since, until)`, and of those, with `newest_lines` or `newest_runs`,
/// only the newest ones that hold that many lines and runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scope {
    pub since: Option<u64>,
    pub until: Option<u64>,
    pub newest_lines: Option<u64>,
    pub newest_runs: Option<u64>,
}

impl Scope {
    /// Every period.
    pub const ALL: Scope = Scope {
        since: None,
        until: None,
        newest_lines: None,
        newest_runs: None,
    };

    /// The periods a read with `selection` can need.
    pub fn of_selection(selection: &Selection) -> Scope {
        Scope {
            since: selection.lower_ts(),
            until: selection.until,
            ..Scope::ALL
        }
    }

    /// The periods of `m` to load, and whether older periods were left out
    /// for the newest-limits (their records then are not in the index
    /// loaded: a read that needs them loads again without the limits).
    pub fn select<'a>(&self, m: &'a JobManifest) -> (Vec<&'a PeriodRef>, bool) {
        let window: Vec<&PeriodRef> = m
            .periods
            .iter()
            .filter(|p| {
                self.since.is_none_or(|s| p.last_ts >= s)
                    && self.until.is_none_or(|u| p.first_ts < u)
            })
            .collect();
        if self.newest_lines.is_none() && self.newest_runs.is_none() {
            return (window, false);
        }
        let (mut lines, mut runs) = (0u64, 0u64);
        let mut from = window.len();
        while from > 0
            && (self.newest_lines.is_some_and(|n| lines < n)
                || self.newest_runs.is_some_and(|n| runs < n))
        {
            from -= 1;
            lines += window[from].lines;
            runs += window[from].runs;
        }
        // A run that began the day before is counted there: one more day
        // holds its start.
        if self.newest_runs.is_some() && from > 0 {
            from -= 1;
        }
        (window[from..].to_vec(), from > 0)
    }
}

/// A part of a chunk a read fetches: the whole object or a byte range of
/// consecutive members, with the time range its records lie in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkPart {
    pub key: String,
    /// `None`: the whole object.
    pub range: Option<(u64, u64)>,
    pub lower: u64,
    pub upper: u64,
    /// Bytes fetched.
    pub size: u64,
    /// Records in it (all of them, before the selection).
    pub lines: u64,
}

/// The parts of `chunk` a read with `selection` needs (pure): only members
/// whose time range the selection's window overlaps, and with a run or a
/// container selected, only members within the time of a selected run
/// that has that container. Consecutive members are fetched together.
pub fn chunk_parts(chunk: &Chunk, selection: &Selection) -> Vec<ChunkPart> {
    parts_of(chunk, selection, true)
}

/// [`chunk_parts`] one member each: where a tail looks for its start.
pub fn member_parts(chunk: &Chunk, selection: &Selection) -> Vec<ChunkPart> {
    parts_of(chunk, selection, false)
}

fn parts_of(chunk: &Chunk, selection: &Selection, coalesce: bool) -> Vec<ChunkPart> {
    let runs: Vec<&RunStats> = chunk
        .runs
        .iter()
        .filter(|r| {
            (selection.pods.is_empty() || selection.pods.contains(&r.pod))
                && selection
                    .container
                    .as_ref()
                    .is_none_or(|c| r.containers.contains_key(c))
        })
        .collect();
    if runs.is_empty() {
        return Vec::new();
    }
    let narrowed = !selection.pods.is_empty() || selection.container.is_some();
    let wanted = |m: &Member| {
        selection.lower_ts().is_none_or(|t| m.last_ts >= t)
            && selection.until.is_none_or(|u| m.first_ts < u)
            && (!narrowed
                || runs
                    .iter()
                    .any(|r| r.first_ts <= m.last_ts && m.first_ts <= r.last_ts))
    };
    if chunk.members.is_empty() {
        // Nothing to narrow by: the whole object, placed by its range.
        let whole = Member {
            offset: 0,
            len: chunk.bytes,
            first_ts: chunk.first_ts,
            last_ts: chunk.last_ts,
            lines: chunk.lines,
        };
        return if wanted(&whole) {
            vec![ChunkPart {
                key: chunk.key.clone(),
                range: None,
                lower: chunk.first_ts,
                upper: chunk.last_ts,
                size: chunk.bytes,
                lines: chunk.lines,
            }]
        } else {
            Vec::new()
        };
    }
    let mut parts: Vec<ChunkPart> = Vec::new();
    let mut open: Option<(usize, usize)> = None;
    let members = &chunk.members;
    let close = |(a, b): (usize, usize), parts: &mut Vec<ChunkPart>| {
        let (first, last) = (&members[a], &members[b]);
        let start = first.offset;
        let end = last.offset + last.len;
        let whole = a == 0 && b + 1 == members.len();
        parts.push(ChunkPart {
            key: chunk.key.clone(),
            range: (!whole).then_some((start, end)),
            lower: first.first_ts,
            upper: members[a..=b].iter().map(|m| m.last_ts).max().unwrap_or(0),
            size: end - start,
            lines: members[a..=b].iter().map(|m| m.lines).sum(),
        });
    };
    for (i, m) in members.iter().enumerate() {
        if wanted(m) {
            if !coalesce && let Some(run) = open.take() {
                close(run, &mut parts);
            }
            open = Some(open.map_or((i, i), |(a, _)| (a, i)));
        } else if let Some(run) = open.take() {
            close(run, &mut parts);
        }
    }
    if let Some(run) = open {
        close(run, &mut parts);
    }
    parts
}

/// Gathers a chunk's statistics from the records written into it, in
/// order.
#[derive(Debug, Default)]
pub struct ChunkStats {
    runs: BTreeMap<String, RunStats>,
    seen_ids: HashSet<String>,
    volume: BTreeMap<u64, [u64; 4]>,
    kind: String,
}

impl ChunkStats {
    pub fn note(&mut self, r: &LogRecord) {
        let run = self.runs.entry(r.pod.clone()).or_insert_with(|| RunStats {
            pod: r.pod.clone(),
            first_ts: r.ts,
            last_ts: r.ts,
            ..RunStats::default()
        });
        run.first_ts = run.first_ts.min(r.ts);
        run.last_ts = run.last_ts.max(r.ts);
        run.lines += 1;
        run.bytes += r.line.len() as u64 + 1;
        let v = self.volume.entry(r.ts / 60_000_000_000).or_default();
        let at = if r.stream == "stderr" { 2 } else { 0 };
        v[at] += 1;
        v[at + 1] += r.log_len as u64;
        if self.seen_ids.contains(&r.container_id) {
            return;
        }
        self.seen_ids.insert(r.container_id.clone());
        let ids = run.containers.entry(r.container.clone()).or_default();
        if !ids.contains(&r.container_id) {
            ids.push(r.container_id.clone());
        }
        // Node and kind ride on every record: the first of each container
        // instance will do.
        #[derive(Deserialize)]
        struct L {
            afterlog: Option<A>,
        }
        #[derive(Deserialize)]
        struct A {
            node: Option<String>,
            kind: Option<String>,
        }
        if let Ok(L { afterlog: Some(a) }) = serde_json::from_slice::<L>(&r.line) {
            if run.node.is_empty() {
                run.node = a.node.unwrap_or_default();
            }
            if run.kind.is_empty() {
                run.kind = a.kind.unwrap_or_default();
            }
            // Pushed lines (`@` sources) do not tell the job's kind.
            if self.kind.is_empty() && !r.pod.starts_with('@') {
                self.kind.clone_from(&run.kind);
            }
        }
    }

    /// The job's kind as the records tell it, if any did.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// Completes `chunk` (key, times, sizes and members set by the writer).
    pub fn finish(self, chunk: &mut Chunk) {
        chunk.runs = self.runs.into_values().collect();
        chunk.volume = self
            .volume
            .into_iter()
            .map(|(m, v)| [m, v[0], v[1], v[2], v[3]])
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn member(offset: u64, len: u64, first: u64, last: u64) -> Member {
        Member {
            offset,
            len,
            first_ts: first,
            last_ts: last,
            lines: 1,
        }
    }

    fn chunk() -> Chunk {
        Chunk {
            key: "chunks/t/j/x.gz".into(),
            first_ts: 0,
            last_ts: 399,
            lines: 4,
            bytes: 40,
            text_bytes: 400,
            members: vec![
                member(0, 10, 0, 99),
                member(10, 10, 100, 199),
                member(20, 10, 200, 299),
                member(30, 10, 300, 399),
            ],
            runs: vec![
                RunStats {
                    pod: "a".into(),
                    containers: [("job".to_string(), vec!["c1".to_string()])].into(),
                    first_ts: 0,
                    last_ts: 150,
                    lines: 2,
                    ..RunStats::default()
                },
                RunStats {
                    pod: "b".into(),
                    containers: [("job".to_string(), vec!["c2".to_string()])].into(),
                    first_ts: 300,
                    last_ts: 399,
                    lines: 2,
                    ..RunStats::default()
                },
            ],
            volume: Vec::new(),
        }
    }

    #[test]
    fn days_are_utc_dates() {
        assert_eq!(day_of(0), 19700101);
        // 2026-12-04T15:31:08Z
        assert_eq!(day_of(1_796_398_268_000_000_000), 20261204);
        assert_eq!(next_day_start(1), NS_PER_DAY);
        assert_eq!(day_of(NS_PER_DAY - 1), 19700101);
        assert_eq!(day_of(NS_PER_DAY), 19700102);
    }

    #[test]
    fn a_full_read_fetches_whole_chunks() {
        let parts = chunk_parts(&chunk(), &Selection::default());
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].range, None);
        assert_eq!(
            (parts[0].lower, parts[0].upper, parts[0].size),
            (0, 399, 40)
        );
    }

    #[test]
    fn member_parts_are_one_member_each() {
        let p = member_parts(&chunk(), &Selection::default());
        assert_eq!(p.len(), 4);
        assert_eq!(p[3].range, Some((30, 40)));
        assert_eq!(p[3].lower, 300);
    }

    #[test]
    fn windows_and_runs_fetch_members() {
        let since = Selection {
            since: Some(250),
            ..Selection::default()
        };
        let p = chunk_parts(&chunk(), &since);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].range, Some((20, 40)));
        assert_eq!(p[0].lower, 200);
        let run_a = Selection {
            pods: vec!["a".into()],
            ..Selection::default()
        };
        let p = chunk_parts(&chunk(), &run_a);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].range, Some((0, 20)));
        let none = Selection {
            pods: vec!["zzz".into()],
            ..Selection::default()
        };
        assert!(chunk_parts(&chunk(), &none).is_empty());
        let container = Selection {
            container: Some("other".into()),
            ..Selection::default()
        };
        assert!(chunk_parts(&chunk(), &container).is_empty());
        let until = Selection {
            until: Some(100),
            ..Selection::default()
        };
        assert_eq!(chunk_parts(&chunk(), &until)[0].range, Some((0, 10)));
    }

    fn manifest(days: &[(u32, u64, u64)]) -> JobManifest {
        JobManifest {
            version: INDEX_VERSION,
            periods: days
                .iter()
                .enumerate()
                .map(|(i, &(day, lines, runs))| PeriodRef {
                    day,
                    key: format!("p{i}"),
                    first_ts: i as u64 * 100,
                    last_ts: i as u64 * 100 + 99,
                    runs,
                    lines,
                    ..PeriodRef::default()
                })
                .collect(),
            ..JobManifest::default()
        }
    }

    #[test]
    fn scopes_pick_periods() {
        let m = manifest(&[(1, 50, 5), (2, 50, 5), (3, 50, 5), (4, 50, 5)]);
        let keys = |s: Scope| {
            let (p, more) = s.select(&m);
            (p.iter().map(|p| p.key.clone()).collect::<Vec<_>>(), more)
        };
        assert_eq!(keys(Scope::ALL).0.len(), 4);
        assert_eq!(
            keys(Scope {
                newest_lines: Some(60),
                ..Scope::ALL
            }),
            (vec!["p2".into(), "p3".into()], true)
        );
        assert_eq!(
            keys(Scope {
                newest_runs: Some(1),
                ..Scope::ALL
            }),
            (vec!["p2".into(), "p3".into()], true)
        );
        assert_eq!(
            keys(Scope {
                since: Some(150),
                until: Some(250),
                ..Scope::ALL
            }),
            (vec!["p1".into(), "p2".into()], false)
        );
        assert_eq!(
            keys(Scope {
                newest_lines: Some(1000),
                ..Scope::ALL
            }),
            (
                vec!["p0".into(), "p1".into(), "p2".into(), "p3".into()],
                false
            )
        );
    }

    #[test]
    fn objects_roundtrip() {
        let p = Period {
            version: INDEX_VERSION,
            day: 20261204,
            chunks: vec![chunk()],
        };
        assert_eq!(parse_period("k", &encode_period(&p)).unwrap(), p);
        assert!(matches!(
            parse_period("k", b"{}"),
            Err(IndexError::Gzip { .. })
        ));
        let m = manifest(&[(1, 1, 1)]);
        let body = serde_json::to_vec(&m).unwrap();
        assert_eq!(parse_manifest("k", &body).unwrap(), m);
        assert!(matches!(
            parse_manifest("k", br#"{"version":9,"generation":1}"#),
            Err(IndexError::Version { version: 9, .. })
        ));
    }

    proptest! {
        /// Whatever the selection, the parts cover every member a selected
        /// record can be in, in order, without overlap.
        #[test]
        fn parts_cover_what_the_filter_can_select(
            since in proptest::option::of(0u64..450),
            until in proptest::option::of(0u64..450),
            pod in proptest::option::of(prop_oneof![Just("a"), Just("b"), Just("c")]),
        ) {
            let c = chunk();
            let f = Selection {
                since,
                until,
                pods: pod.iter().map(|p| p.to_string()).collect(),
                ..Selection::default()
            };
            let parts = chunk_parts(&c, &f);
            let covered = |m: &Member| parts.iter().any(|p| {
                let (a, b) = p.range.unwrap_or((0, c.bytes));
                a <= m.offset && m.offset + m.len <= b
            });
            for m in &c.members {
                let in_window = since.is_none_or(|s| m.last_ts >= s) && until.is_none_or(|u| m.first_ts < u);
                let in_run = c.runs.iter().any(|r| f.pods.is_empty() || f.pods.contains(&r.pod) && r.first_ts <= m.last_ts && m.first_ts <= r.last_ts);
                if in_window && in_run {
                    prop_assert!(covered(m), "{m:?} not fetched for {f:?}");
                }
            }
            for w in parts.windows(2) {
                let (a, b) = (w[0].range.unwrap(), w[1].range.unwrap());
                prop_assert!(a.1 < b.0, "parts touch or overlap: {parts:?}");
            }
        }
    }
}
