//! Merging one pod's settled raw objects (DESIGN §5 steps 1–3): read them
//! through the reader's merge, drop what the pod's merged objects already
//! hold, write merged objects, then record them and the raw keys they
//! consumed in the pod's meta with a conditional write.

use crate::versioned::{self, MetaError};
use crate::{CompactError, Compactor, Lease, Report, cleanup};
use afterlog_contract::layout::{self, ObjectKind, Origin};
use afterlog_reader::job::{JobIndex, Listed, RAW_SLACK_NS};
use afterlog_reader::meta::{ConsumedRaw, MergedObject, PodInfo};
use afterlog_reader::{Filter, JobReader, LogRecord};
use flate2::Compression;
use flate2::write::GzEncoder;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashSet};
use std::io::Write;

/// Merges and cleans up every pod of a job.
pub async fn job(
    c: &Compactor,
    lease: &mut Lease,
    tool: &str,
    job: &str,
    report: &mut Report,
) -> Result<(), CompactError> {
    let index = JobIndex::load(c.store.as_ref(), tool, job).await?;
    let mut pods: BTreeSet<String> = index
        .objects
        .iter()
        .map(|l| l.parsed.origin.pod.clone())
        .collect();
    pods.extend(index.metas.iter().flat_map(|m| m.keys().cloned()));
    for pod in &pods {
        lease.keep(c.store.as_ref(), c.now()).await?;
        let merged = pod_merge(c, &index, tool, job, pod, report).await;
        if !pod_done(merged, tool, job, pod, "pod skipped", report)? {
            continue;
        }
        lease.keep(c.store.as_ref(), c.now()).await?;
        let cleaned = cleanup::pod(c, &index, tool, job, pod, report).await;
        pod_done(cleaned, tool, job, pod, "pod cleanup skipped", report)?;
    }
    Ok(())
}

/// Whether a step on a pod went through. A meta another writer changed or
/// that cannot be read leaves the pod for the next pass (counted); other
/// failures end the pass.
fn pod_done(
    result: Result<(), CompactError>,
    tool: &str,
    job: &str,
    pod: &str,
    what: &str,
    report: &mut Report,
) -> Result<bool, CompactError> {
    match result {
        Ok(()) => Ok(true),
        Err(CompactError::Meta(
            e @ (MetaError::Conflict { .. }
            | MetaError::Unreadable { .. }
            | MetaError::Version { .. }),
        )) => {
            tracing::warn!(tool, job, pod, error = %e, "{what}");
            report.skipped += 1;
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Facts about the pod gathered from its records.
#[derive(Default)]
struct Facts {
    info: PodInfo,
    seen_ids: HashSet<String>,
}

impl Facts {
    fn note(&mut self, r: &LogRecord) {
        self.info.first_ts = Some(self.info.first_ts.map_or(r.ts, |t| t.min(r.ts)));
        self.info.last_ts = Some(self.info.last_ts.map_or(r.ts, |t| t.max(r.ts)));
        if self.seen_ids.contains(&r.container_id) {
            return;
        }
        self.seen_ids.insert(r.container_id.clone());
        let ids = self.info.containers.entry(r.container.clone()).or_default();
        if !ids.contains(&r.container_id) {
            ids.push(r.container_id.clone());
        }
        // Node and kind ride on every record; the first of each instance will do.
        #[derive(serde::Deserialize)]
        struct L {
            afterlog: Option<A>,
        }
        #[derive(serde::Deserialize)]
        struct A {
            node: Option<String>,
            kind: Option<String>,
        }
        if let Ok(L { afterlog: Some(a) }) = serde_json::from_slice::<L>(&r.line) {
            if self.info.node.is_empty() {
                self.info.node = a.node.unwrap_or_default();
            }
            if self.info.kind.is_empty() {
                self.info.kind = a.kind.unwrap_or_default();
            }
        }
    }

    /// Adds what an earlier merge recorded.
    fn into_merged(self, old: Option<PodInfo>) -> PodInfo {
        let Some(mut old) = old else { return self.info };
        if old.node.is_empty() {
            old.node = self.info.node;
        }
        if old.kind.is_empty() {
            old.kind = self.info.kind;
        }
        for (name, ids) in self.info.containers {
            let have = old.containers.entry(name).or_default();
            for id in ids {
                if !have.contains(&id) {
                    have.push(id);
                }
            }
        }
        old.first_ts = match (old.first_ts, self.info.first_ts) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        old.last_ts = match (old.last_ts, self.info.last_ts) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        old
    }
}

/// A merged object being filled.
///
/// Its text is compressed in 1 MiB members on other threads while the merge
/// goes on (a gzip file may hold several members; every reader of this
/// project and `zcat` read them as one stream), so that compression, the
/// slowest step, does not hold the merge up.
struct Part {
    chunk: Vec<u8>,
    members: std::collections::VecDeque<tokio::task::JoinHandle<std::io::Result<Vec<u8>>>>,
    body: Vec<u8>,
    level: u32,
    raw_bytes: u64,
    lines: u64,
    first_ts: u64,
    last_ts: u64,
}

const MEMBER: usize = 1 << 20;
/// Members being compressed at once.
const IN_FLIGHT: usize = 3;

fn compress(text: Vec<u8>, level: u32) -> std::io::Result<Vec<u8>> {
    let mut gz = GzEncoder::new(Vec::with_capacity(text.len() / 4), Compression::new(level));
    gz.write_all(&text)?;
    gz.finish()
}

impl Part {
    fn new(level: u32, ts: u64) -> Part {
        Part {
            chunk: Vec::with_capacity(MEMBER + 64 * 1024),
            members: Default::default(),
            body: Vec::new(),
            level,
            raw_bytes: 0,
            lines: 0,
            first_ts: ts,
            last_ts: ts,
        }
    }

    async fn push(&mut self, r: &LogRecord) -> Result<(), CompactError> {
        self.chunk.extend_from_slice(&r.line);
        self.chunk.push(b'\n');
        self.raw_bytes += r.line.len() as u64 + 1;
        self.lines += 1;
        self.last_ts = r.ts;
        if self.chunk.len() >= MEMBER {
            self.seal().await?;
        }
        Ok(())
    }

    /// Sends the current chunk off to be compressed.
    async fn seal(&mut self) -> Result<(), CompactError> {
        if self.chunk.is_empty() {
            return Ok(());
        }
        let text = std::mem::replace(&mut self.chunk, Vec::with_capacity(MEMBER + 64 * 1024));
        let level = self.level;
        self.members
            .push_back(tokio::task::spawn_blocking(move || compress(text, level)));
        while self.members.len() > IN_FLIGHT {
            self.collect_one().await?;
        }
        Ok(())
    }

    async fn collect_one(&mut self) -> Result<(), CompactError> {
        if let Some(h) = self.members.pop_front() {
            let member = h
                .await
                .map_err(|e| gz_err(std::io::Error::other(e.to_string())))?
                .map_err(gz_err)?;
            self.body.extend_from_slice(&member);
        }
        Ok(())
    }

    async fn finish(mut self) -> Result<(Vec<u8>, Part), CompactError> {
        self.seal().await?;
        while !self.members.is_empty() {
            self.collect_one().await?;
        }
        let body = std::mem::take(&mut self.body);
        Ok((body, self))
    }
}

fn gz_err(e: std::io::Error) -> CompactError {
    CompactError::ObjectStore(object_store::Error::Generic {
        store: "gzip",
        source: Box::new(e),
    })
}

/// The id of a merged object: a digest of what it was made from, so that a
/// pass rerun after a crash rewrites the same key instead of another.
fn part_id(settled: &[&Listed], part: usize) -> String {
    let mut h = Sha256::new();
    for l in settled {
        h.update(l.key.as_bytes());
        h.update(b"\n");
    }
    h.update(part.to_le_bytes());
    h.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn pod_merge(
    c: &Compactor,
    index: &JobIndex,
    tool: &str,
    job: &str,
    pod: &str,
    report: &mut Report,
) -> Result<(), CompactError> {
    let store = c.store.as_ref();
    let meta_key = layout::meta_key(tool, job, pod);
    // The meta as it is now: the index's snapshot may be a pass old.
    let mut v = versioned::read(store, &meta_key).await?;
    let consumed: HashSet<&str> = v.meta.consumed.iter().map(|c| c.key.as_str()).collect();
    let settle_ns = c.config.settle().as_nanos() as u64;
    let now = c.now();
    let settled: Vec<&Listed> = index
        .objects
        .iter()
        .filter(|l| {
            l.is_raw()
                && l.parsed.origin.pod == pod
                && !consumed.contains(l.key.as_str())
                && (l.modified_secs.max(0) as u64).saturating_mul(1_000_000_000) + settle_ns <= now
        })
        .collect();
    if settled.is_empty() {
        return Ok(());
    }
    let referenced: HashSet<&str> = v.meta.merged.iter().map(|m| m.key.as_str()).collect();
    // Merged objects are per container, like raw ones: readers select a
    // container by key.
    let containers: BTreeSet<&str> = settled
        .iter()
        .map(|l| l.parsed.origin.container.as_str())
        .collect();
    let mut parts: Vec<MergedObject> = Vec::new();
    let mut facts = Facts::default();
    for container in containers {
        let mine: Vec<&Listed> = settled
            .iter()
            .copied()
            .filter(|l| l.parsed.origin.container == container)
            .collect();
        let origin = Origin {
            tool: tool.to_string(),
            job: job.to_string(),
            pod: pod.to_string(),
            container: container.to_string(),
        };
        let existing: Vec<Listed> = index
            .objects
            .iter()
            .filter(|l| {
                referenced.contains(l.key.as_str()) && l.parsed.origin.container == container
            })
            .cloned()
            .collect();
        parts.extend(merge_container(c, &origin, &mine, &existing, &mut facts, report).await?);
    }
    report.pods_merged += 1;

    // Step 3: reference the merged objects and list what they consumed,
    // in one conditional write. Until it lands, readers ignore the new
    // objects' existence (they are only duplicates of raw objects).
    v.meta.merged.extend(parts);
    v.meta.consumed.extend(settled.iter().map(|l| ConsumedRaw {
        key: l.key.clone(),
        since_ns: now,
    }));
    v.meta.pod = Some(facts.into_merged(v.meta.pod.take()));
    versioned::write(store, &meta_key, &v).await?;
    tracing::info!(
        tool,
        job,
        pod,
        raw = settled.len(),
        "merged {} raw objects",
        settled.len()
    );
    Ok(())
}

/// Merges one container's settled raw objects into merged objects, leaving
/// out records its existing merged objects hold.
async fn merge_container(
    c: &Compactor,
    origin: &Origin,
    settled: &[&Listed],
    existing: &[Listed],
    facts: &mut Facts,
    report: &mut Report,
) -> Result<Vec<MergedObject>, CompactError> {
    let lower = settled
        .iter()
        .map(|l| l.first_ts.unwrap_or(0).saturating_sub(RAW_SLACK_NS))
        .min()
        .unwrap_or(0);
    let existing: Vec<Listed> = existing
        .iter()
        .filter(|l| matches!(l.parsed.kind, ObjectKind::Data { last_ts, .. } if last_ts >= lower))
        .cloned()
        .collect();
    let settled_owned: Vec<Listed> = settled.iter().map(|l| (*l).clone()).collect();
    let mut new = JobReader::over(c.store.clone(), &settled_owned, Filter::default());
    let mut old = JobReader::over(
        c.store.clone(),
        &existing,
        Filter {
            since: Some(lower),
            ..Filter::default()
        },
    );
    let mut old_head = old.next().await?;
    let target = c.config.target_bytes();
    let mut parts = Vec::new();
    let mut part: Option<Part> = None;
    while let Some(r) = new.next().await? {
        // Drop what a merged object already holds (a retried upload that
        // arrived after its first copy was merged).
        while let Some(o) = &old_head
            && o.order_key() < r.order_key()
        {
            old_head = old.next().await?;
        }
        if old_head
            .as_ref()
            .is_some_and(|o| o.identity() == r.identity())
        {
            continue;
        }
        facts.note(&r);
        let p = part.get_or_insert_with(|| Part::new(c.config.gzip_level, r.ts));
        p.push(&r).await?;
        if p.raw_bytes >= target
            && let Some(done) = part.take()
        {
            let n = parts.len();
            parts.push(put_part(c, origin, done, settled, n, report).await?);
        }
    }
    if let Some(done) = part.take() {
        let n = parts.len();
        parts.push(put_part(c, origin, done, settled, n, report).await?);
    }
    for w in new.warnings.iter().chain(&old.warnings) {
        tracing::warn!(key = %origin.route(), "{w}");
    }
    report.damaged += new.stats.bad_lines + new.stats.bad_objects;
    report.raw_read += new.stats.objects_read;
    report.bytes_read += new.stats.bytes;
    Ok(parts)
}

async fn put_part(
    c: &Compactor,
    origin: &Origin,
    p: Part,
    settled: &[&Listed],
    n: usize,
    report: &mut Report,
) -> Result<MergedObject, CompactError> {
    let (body, p) = p.finish().await?;
    let key = origin.data_key(p.first_ts, p.last_ts, &part_id(settled, n));
    let bytes = body.len() as u64;
    c.store
        .put(&Path::from(key.as_str()), PutPayload::from(body))
        .await?;
    report.data_written += 1;
    report.bytes_written += bytes;
    report.records_written += p.lines;
    Ok(MergedObject {
        key,
        first_ts: p.first_ts,
        last_ts: p.last_ts,
        lines: p.lines,
        bytes,
    })
}
