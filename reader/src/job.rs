//! Reading one job from the store (DESIGN §4, §5): list its raw and merged
//! objects, take each pod's meta as a snapshot, skip raw keys meta lists as
//! consumed, fetch and gunzip each object and hand one iterator per object to
//! the pure [`Merge`].

use crate::merge::{Filter, Merge, sorted};
use crate::meta::{META_VERSION, PodMeta};
use crate::record::{LogRecord, ParseError};
use crate::store::StoreError;
use afterlog_contract::layout::{self, ObjectKey, ObjectKind};
use flate2::read::MultiGzDecoder;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::io::Read;

/// Counters of one read, for logs and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Objects fetched (fully or partly).
    pub objects_read: u64,
    /// Raw objects skipped because meta lists them as consumed.
    pub consumed_skipped: u64,
    /// Objects listed but gone when fetched (raw: covered by a merged object).
    pub vanished: u64,
    /// Objects whose gzip stream is corrupt or truncated (served partly).
    pub bad_objects: u64,
    /// Lines that are not records.
    pub bad_lines: u64,
    /// Keys under the job's prefixes that are not in the layout.
    pub foreign_keys: u64,
    /// Times a merged object was not sorted (see [`Merge::out_of_order`]).
    pub out_of_order: u64,
    /// Decompressed bytes read.
    pub bytes: u64,
}

/// A job's log, with what went wrong on the way.
#[derive(Debug, Clone, Default)]
pub struct JobLog {
    pub records: Vec<LogRecord>,
    pub warnings: Vec<String>,
    pub stats: ReadStats,
}

/// A line of an object that is not a record.
#[derive(Debug)]
pub struct BadLine {
    pub key: String,
    /// 1-based.
    pub line: usize,
    pub error: ParseError,
}

impl fmt::Display for BadLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} line {}: {}", self.key, self.line, self.error)
    }
}

/// One merge source: the lines of one object, parsed as they are pulled.
pub type Source = Box<dyn Iterator<Item = Result<LogRecord, BadLine>> + Send>;

/// Splits a decompressed object into lines and parses them lazily. Empty
/// lines (such as the one after a final line break) are not records.
fn lines(key: String, body: Vec<u8>) -> impl Iterator<Item = Result<LogRecord, BadLine>> + Send {
    let mut start = 0;
    let mut n = 0;
    std::iter::from_fn(move || {
        loop {
            if start >= body.len() {
                return None;
            }
            let end = body[start..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(body.len(), |i| start + i);
            let line = &body[start..end];
            start = end + 1;
            n += 1;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Some(LogRecord::parse(line).map_err(|error| BadLine {
                key: key.clone(),
                line: n,
                error,
            }));
        }
    })
}

/// Gunzips `data`; on a corrupt or truncated stream, returns what was
/// decoded before the damage (cut back to the last whole line) and the error.
pub fn gunzip(data: &[u8]) -> (Vec<u8>, Option<std::io::Error>) {
    let mut out = Vec::new();
    let mut dec = MultiGzDecoder::new(data);
    match dec.read_to_end(&mut out) {
        Ok(_) => (out, None),
        Err(e) => {
            let keep = out.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            out.truncate(keep);
            (out, Some(e))
        }
    }
}

fn is_not_found(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::NotFound { .. })
}

/// Lists every object under `prefix`; a prefix with nothing under it is empty.
async fn list(
    store: &dyn ObjectStore,
    prefix: &str,
) -> Result<Vec<object_store::ObjectMeta>, StoreError> {
    match store
        .list(Some(&Path::from(prefix)))
        .try_collect::<Vec<_>>()
        .await
    {
        Ok(v) => Ok(v),
        Err(e) if is_not_found(&e) => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

/// GETs an object; `Ok(None)` if it does not exist (any more).
async fn fetch(store: &dyn ObjectStore, key: &str) -> Result<Option<bytes::Bytes>, StoreError> {
    let got = match store.get(&Path::from(key)).await {
        Ok(g) => g.bytes().await,
        Err(e) => Err(e),
    };
    match got {
        Ok(b) => Ok(Some(b)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A listed object of the job, parsed.
struct Listed {
    key: String,
    parsed: ObjectKey,
    size: u64,
}

/// Lists `raw/` and `data/` of a job (or of a tool, with `job` = `None`).
async fn list_objects(
    store: &dyn ObjectStore,
    tool: &str,
    job: Option<&str>,
    warnings: &mut Vec<String>,
    stats: &mut ReadStats,
) -> Result<Vec<Listed>, StoreError> {
    let mut out = Vec::new();
    for top in [layout::RAW, layout::DATA] {
        let prefix = match job {
            Some(job) => layout::job_prefix(top, tool, job),
            None => layout::tool_prefix(top, tool),
        };
        for m in list(store, &prefix).await? {
            let key = m.location.to_string();
            match layout::parse_object_key(&key) {
                // Encoding is exact, so these hold unless the key is foreign.
                Ok(parsed)
                    if parsed.origin.tool == tool && job.is_none_or(|j| parsed.origin.job == j) =>
                {
                    out.push(Listed {
                        key,
                        parsed,
                        size: m.size,
                    })
                }
                Ok(_) => {
                    stats.foreign_keys += 1;
                    warnings.push(format!("{key}: not under {prefix}"));
                }
                Err(e) => {
                    stats.foreign_keys += 1;
                    warnings.push(format!("skipped {e}"));
                }
            }
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

/// Reads a pod's meta; `None` if there is none or it is unusable (warned).
async fn read_meta(
    store: &dyn ObjectStore,
    tool: &str,
    job: &str,
    pod: &str,
    warnings: &mut Vec<String>,
) -> Result<Option<PodMeta>, StoreError> {
    let key = layout::meta_key(tool, job, pod);
    let Some(body) = fetch(store, &key).await? else {
        return Ok(None);
    };
    match serde_json::from_slice::<PodMeta>(&body) {
        Ok(m) if m.version == META_VERSION => Ok(Some(m)),
        Ok(m) => {
            warnings.push(format!(
                "{key}: version {} not understood, ignored",
                m.version
            ));
            Ok(None)
        }
        Err(e) => {
            warnings.push(format!("{key}: {e}; ignored"));
            Ok(None)
        }
    }
}

/// Reads a job's log: every pod and container, ordered and deduplicated,
/// selected by `filter`. Damaged objects and lines are skipped and reported
/// in [`JobLog::warnings`]; only failures of the store itself are errors.
pub async fn read_job(
    store: &dyn ObjectStore,
    tool: &str,
    job: &str,
    filter: Filter,
) -> Result<JobLog, StoreError> {
    let mut warnings = Vec::new();
    let mut stats = ReadStats::default();
    let listed = list_objects(store, tool, Some(job), &mut warnings, &mut stats).await?;

    let pods: BTreeSet<&str> = listed
        .iter()
        .map(|l| l.parsed.origin.pod.as_str())
        .filter(|p| filter.pods.is_empty() || filter.pods.iter().any(|f| f == p))
        .collect();
    let mut consumed = HashSet::new();
    let mut expected = BTreeSet::new();
    for pod in &pods {
        if let Some(meta) = read_meta(store, tool, job, pod, &mut warnings).await? {
            consumed.extend(meta.consumed.into_iter().map(|c| c.key));
            expected.extend(meta.merged.into_iter().map(|m| m.key));
        }
    }

    let mut sources: Vec<Source> = Vec::new();
    let mut present = BTreeSet::new();
    for l in &listed {
        let o = &l.parsed.origin;
        if !pods.contains(o.pod.as_str())
            || filter.container.as_ref().is_some_and(|c| *c != o.container)
        {
            continue;
        }
        let raw = matches!(l.parsed.kind, ObjectKind::Raw { .. });
        if raw && consumed.contains(&l.key) {
            stats.consumed_skipped += 1;
            continue;
        }
        let Some(body) = fetch(store, &l.key).await? else {
            stats.vanished += 1;
            continue;
        };
        present.insert(l.key.as_str());
        stats.objects_read += 1;
        let (text, err) = gunzip(&body);
        if let Some(e) = err {
            stats.bad_objects += 1;
            warnings.push(format!(
                "{}: damaged gzip ({e}); served the {} bytes before the damage",
                l.key,
                text.len()
            ));
        }
        stats.bytes += text.len() as u64;
        let it = lines(l.key.clone(), text);
        sources.push(if raw {
            Box::new(sorted(it))
        } else {
            Box::new(it)
        });
    }
    for key in expected.iter().filter(|k| !present.contains(k.as_str())) {
        let wanted = layout::parse_object_key(key).is_ok_and(|k| {
            filter
                .container
                .as_ref()
                .is_none_or(|c| *c == k.origin.container)
        });
        if wanted {
            warnings.push(format!("{key}: listed in meta but missing"));
        }
    }

    let mut merge = Merge::new(sources, filter);
    let mut records = Vec::new();
    for item in merge.by_ref() {
        match item {
            Ok(r) => records.push(r),
            Err(bad) => {
                stats.bad_lines += 1;
                warnings.push(bad.to_string());
            }
        }
    }
    stats.out_of_order = merge.out_of_order();
    if stats.out_of_order > 0 {
        warnings.push(format!(
            "{} records out of order: a merged object is not sorted",
            stats.out_of_order
        ));
    }
    Ok(JobLog {
        records,
        warnings,
        stats,
    })
}

/// What the key listing tells about a set of objects. Times are from key
/// names (ns): a raw key only gives its first record's time, in seconds, so
/// `last_ns` is a lower bound while raw objects remain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub pods: BTreeSet<String>,
    pub containers: BTreeSet<String>,
    pub first_ns: Option<u64>,
    pub last_ns: Option<u64>,
    /// Stored (compressed) size of the listed objects.
    pub bytes: u64,
    pub objects: u64,
}

impl Summary {
    fn add(&mut self, l: &Listed) {
        let (first, last) = match l.parsed.kind {
            ObjectKind::Raw { first_secs, .. } => {
                let t = u64::try_from(first_secs)
                    .unwrap_or(0)
                    .saturating_mul(1_000_000_000);
                (t, t)
            }
            ObjectKind::Data {
                first_ts, last_ts, ..
            } => (first_ts, last_ts),
        };
        self.pods.insert(l.parsed.origin.pod.clone());
        self.containers.insert(l.parsed.origin.container.clone());
        self.first_ns = Some(self.first_ns.map_or(first, |f| f.min(first)));
        self.last_ns = Some(self.last_ns.map_or(last, |f| f.max(last)));
        self.bytes += l.size;
        self.objects += 1;
    }
}

/// One job of a tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSummary {
    pub job: String,
    pub summary: Summary,
}

/// One run (pod) of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSummary {
    pub pod: String,
    pub summary: Summary,
}

/// The jobs of a tool that have stored logs, by name. Keys outside the
/// layout are ignored.
pub async fn list_jobs(store: &dyn ObjectStore, tool: &str) -> Result<Vec<JobSummary>, StoreError> {
    let (mut w, mut s) = (Vec::new(), ReadStats::default());
    let mut jobs: BTreeMap<String, Summary> = BTreeMap::new();
    for l in list_objects(store, tool, None, &mut w, &mut s).await? {
        jobs.entry(l.parsed.origin.job.clone()).or_default().add(&l);
    }
    Ok(jobs
        .into_iter()
        .map(|(job, summary)| JobSummary { job, summary })
        .collect())
}

/// The runs (pods) of a job, by first time.
pub async fn job_runs(
    store: &dyn ObjectStore,
    tool: &str,
    job: &str,
) -> Result<Vec<RunSummary>, StoreError> {
    let (mut w, mut s) = (Vec::new(), ReadStats::default());
    let mut runs: BTreeMap<String, Summary> = BTreeMap::new();
    for l in list_objects(store, tool, Some(job), &mut w, &mut s).await? {
        runs.entry(l.parsed.origin.pod.clone()).or_default().add(&l);
    }
    let mut out: Vec<_> = runs
        .into_iter()
        .map(|(pod, summary)| RunSummary { pod, summary })
        .collect();
    out.sort_by(|a, b| (a.summary.first_ns, &a.pod).cmp(&(b.summary.first_ns, &b.pod)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    #[test]
    fn gunzip_keeps_whole_lines_before_damage() {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(b"one\ntwo\nthree").unwrap();
        let gz = e.finish().unwrap();
        let (text, err) = gunzip(&gz);
        assert_eq!(
            (text.as_slice(), err.is_none()),
            (&b"one\ntwo\nthree"[..], true)
        );
        let (text, err) = gunzip(&gz[..gz.len() - 6]);
        assert!(err.is_some());
        assert!(b"one\ntwo\n".starts_with(&text), "{text:?}");
    }
}
