//! Job-level compaction: a job's settled raw objects, of every run, are
//! merged by time into chunks (one UTC day each, up to the target size, in
//! gzip members whose offsets the index keeps), and the job's index is
//! updated in one conditional write of its manifest:
//!
//! 1. PUT the chunks (new keys: until referenced they are only duplicates).
//! 2. PUT each touched day's period under the next generation (a key no
//!    manifest names yet).
//! 3. Conditionally PUT the manifest: the new periods, and the raw keys,
//!    replaced chunks and periods, and per-pod layout it supersedes, listed
//!    as consumed. Readers switch to the new snapshot at once.
//! 4. A grace period later, delete what is consumed, then drop it from the
//!    manifest ([`cleanup`]).
//!
//! A day's newest chunk below the target size is merged again with the new
//! raw objects of its day, so that a job's chunks grow with its bytes, not
//! with its runs or the compactor's passes. A job still in the per-pod
//! layout (`meta/`, `data/`) is migrated by the same step: its merged
//! objects are inputs like raw ones, and its metas are consumed.

use crate::cleanup;
use crate::deletion::{self, Rewrite};
use crate::versioned::{self, MetaError, Versioned};
use crate::{CompactError, Compactor, Lease, Report};
use afterlog_contract::layout;
use afterlog_contract::record::k8s_event;
use afterlog_reader::index::{
    self, Chunk, ChunkPart, ChunkStats, INDEX_VERSION, LATEST_PODS, Member, Period, PeriodRef,
    ToolJob, day_of,
};
use afterlog_reader::job::{IndexedChunk, JobIndex, Listed, Planned, plan};
use afterlog_reader::meta::ConsumedRaw;
use afterlog_reader::{JobReader, LogRecord, Selection};
use flate2::Compression;
use flate2::write::GzEncoder;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::io::Write;

/// Compacts and cleans up one job; returns its summary for the tool's
/// index (`None` if it has no index yet, or was left for the next pass).
pub async fn job(
    c: &Compactor,
    lease: &mut Lease,
    tool: &str,
    job: &str,
    report: &mut Report,
) -> Result<Option<ToolJob>, CompactError> {
    let merged = merge(c, lease, tool, job, report).await;
    let Some(mut rewrite) = step_done(merged, tool, job, "job skipped", report)? else {
        return Ok(None);
    };
    // Only once the merge that replaced their objects is committed.
    deletion::write_rewritten(c, lease, tool, job, &mut rewrite, report).await?;
    lease.keep(c.store.as_ref(), c.now()).await?;
    let cleaned = cleanup::job(c, tool, job, report).await;
    let Some(summary) = step_done(cleaned, tool, job, "job cleanup skipped", report)? else {
        return Ok(None);
    };
    deletion::mark_applied(c, lease, tool, job, &rewrite.statuses, report).await?;
    Ok(summary)
}

/// What a step on a job gave, if it went through. A manifest another
/// writer changed or that cannot be read leaves the job for the next pass
/// (counted); other failures end the pass.
fn step_done<T>(
    result: Result<T, CompactError>,
    tool: &str,
    job: &str,
    what: &str,
    report: &mut Report,
) -> Result<Option<T>, CompactError> {
    match result {
        Ok(t) => Ok(Some(t)),
        Err(CompactError::Meta(e @ (MetaError::Conflict { .. } | MetaError::Unreadable(_)))) => {
            tracing::warn!(tool, job, error = %e, "{what}");
            report.skipped += 1;
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// A chunk being filled.
///
/// Its text is compressed in 1 MiB members on other threads while the merge
/// goes on (a gzip file may hold several members; every reader of this
/// project and `zcat` read them as one stream), so that compression, the
/// slowest step, does not hold the merge up; the index keeps each member's
/// offset and time range, so a read can fetch just the members it needs.
struct Part {
    text: Vec<u8>,
    text_first: u64,
    text_lines: u64,
    members: VecDeque<(Member, tokio::task::JoinHandle<std::io::Result<Vec<u8>>>)>,
    body: Vec<u8>,
    done: Vec<Member>,
    level: u32,
    text_bytes: u64,
    lines: u64,
    first_ts: u64,
    last_ts: u64,
    stats: ChunkStats,
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
            text: Vec::with_capacity(MEMBER + 64 * 1024),
            text_first: ts,
            text_lines: 0,
            members: VecDeque::new(),
            body: Vec::new(),
            done: Vec::new(),
            level,
            text_bytes: 0,
            lines: 0,
            first_ts: ts,
            last_ts: ts,
            stats: ChunkStats::default(),
        }
    }

    async fn push(&mut self, r: &LogRecord) -> Result<(), CompactError> {
        if self.text_lines == 0 {
            self.text_first = r.ts;
        }
        self.text.extend_from_slice(&r.line);
        self.text.push(b'\n');
        self.text_bytes += r.line.len() as u64 + 1;
        self.text_lines += 1;
        self.lines += 1;
        self.last_ts = r.ts;
        self.stats.note(r);
        if self.text.len() >= MEMBER {
            self.seal().await?;
        }
        Ok(())
    }

    /// Sends the current text off to be compressed as one member.
    async fn seal(&mut self) -> Result<(), CompactError> {
        if self.text.is_empty() {
            return Ok(());
        }
        let text = std::mem::replace(&mut self.text, Vec::with_capacity(MEMBER + 64 * 1024));
        let member = Member {
            offset: 0,
            len: 0,
            first_ts: self.text_first,
            last_ts: self.last_ts,
            lines: self.text_lines,
        };
        self.text_lines = 0;
        let level = self.level;
        self.members.push_back((
            member,
            tokio::task::spawn_blocking(move || compress(text, level)),
        ));
        while self.members.len() > IN_FLIGHT {
            self.collect_one().await?;
        }
        Ok(())
    }

    async fn collect_one(&mut self) -> Result<(), CompactError> {
        if let Some((mut m, h)) = self.members.pop_front() {
            let gz = h
                .await
                .map_err(|e| gz_err(std::io::Error::other(e.to_string())))?
                .map_err(gz_err)?;
            m.offset = self.body.len() as u64;
            m.len = gz.len() as u64;
            self.body.extend_from_slice(&gz);
            self.done.push(m);
        }
        Ok(())
    }

    async fn finish(mut self) -> Result<(Vec<u8>, Chunk, String), CompactError> {
        self.seal().await?;
        while !self.members.is_empty() {
            self.collect_one().await?;
        }
        let kind = self.stats.kind().to_string();
        let mut chunk = Chunk {
            key: String::new(),
            first_ts: self.first_ts,
            last_ts: self.last_ts,
            lines: self.lines,
            bytes: self.body.len() as u64,
            text_bytes: self.text_bytes,
            members: self.done,
            runs: Vec::new(),
            volume: Vec::new(),
            events: Vec::new(),
            quota: None,
        };
        self.stats.finish(&mut chunk);
        Ok((self.body, chunk, kind))
    }
}

fn gz_err(e: std::io::Error) -> CompactError {
    CompactError::ObjectStore(object_store::Error::Generic {
        store: "gzip",
        source: Box::new(e),
    })
}

/// The id of a chunk: a digest of what it was made from, so that a pass
/// rerun after a crash rewrites the same key instead of another.
fn part_id(inputs: &[String], part: usize) -> String {
    let mut h = Sha256::new();
    for k in inputs {
        h.update(k.as_bytes());
        h.update(b"\n");
    }
    h.update(part.to_le_bytes());
    h.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn ns(secs: i64) -> u64 {
    (secs.max(0) as u64).saturating_mul(1_000_000_000)
}

/// Merges what is settled into chunks and writes the new snapshot,
/// leaving out the lines of the deletion requests taken, and replacing the
/// objects that hold lines of those not rewritten yet (see [`deletion`]).
/// Returns what it did about the requests.
async fn merge(
    c: &Compactor,
    lease: &mut Lease,
    tool: &str,
    job: &str,
    report: &mut Report,
) -> Result<Rewrite, CompactError> {
    let store = c.store.as_ref();
    let manifest_key = layout::manifest_key(tool, job);
    let mut v = versioned::read(store, &manifest_key).await?;
    let mut index = JobIndex::load(store, tool, job).await?;
    let rewrite = deletion::prepare(c, lease, &mut index, report).await?;
    let index = index;
    for w in &index.warnings {
        tracing::warn!(tool, job, "{w}");
    }
    report.foreign_keys += index.stats.foreign_keys;
    report.unreadable += index.stats.unreadable;
    // In the per-pod layout (no manifest yet), its merged objects are
    // input too, and the raw keys its metas list as consumed are not (the
    // merged objects hold them): both go, with the metas, once migrated.
    let legacy = v.version.is_none();
    let settle_ns = c.config.settle().as_nanos() as u64;
    let now = c.now();
    let covered: HashSet<&str> = index.metas[0]
        .values()
        .flat_map(|m| m.consumed.iter().map(|c| c.key.as_str()))
        .collect();
    let listed: Vec<Listed> = index
        .objects
        .iter()
        .filter(|l| {
            if l.is_raw() {
                !covered.contains(l.key.as_str())
                    && (ns(l.modified_secs) + settle_ns <= now || rewrite.raw.contains(&l.key))
            } else {
                legacy
            }
        })
        .cloned()
        .collect();
    let mut metas: Vec<String> = Vec::new();
    if legacy {
        metas.extend(
            index.metas[0]
                .keys()
                .map(|pod| layout::meta_key(tool, job, pod)),
        );
        metas.extend(
            index
                .objects
                .iter()
                .filter(|l| covered.contains(l.key.as_str()))
                .map(|l| l.key.clone()),
        );
    }
    if listed.is_empty() && metas.is_empty() && rewrite.chunks.is_empty() {
        return Ok(rewrite);
    }
    // The newest chunk of each day the inputs reach, if still small, is
    // merged again with them.
    let input_days: BTreeSet<u32> = listed
        .iter()
        .flat_map(|l| {
            let first = l.first_ts.unwrap_or(ns(l.modified_secs));
            // An upload of Kubernetes events is not in time order: its
            // earliest record may be on an earlier day than its first.
            let events = l.parsed.origin.container == k8s_event::CONTAINER;
            let lower = if events { l.lower_ts() } else { None };
            [first, lower.unwrap_or(first)]
        })
        .map(day_of)
        .collect();
    let target = c.config.target_bytes();
    let mut open_days: BTreeMap<u32, &IndexedChunk> = BTreeMap::new();
    for ch in &index.chunks {
        let day = day_of(ch.chunk.first_ts);
        if input_days.contains(&day)
            && ch.chunk.text_bytes < target
            && open_days
                .get(&day)
                .is_none_or(|o| o.chunk.first_ts < ch.chunk.first_ts)
        {
            open_days.insert(day, ch);
        }
    }
    // Chunks holding lines of a request being rewritten are merged again
    // like reopened ones, whatever their size: their days are rewritten.
    let rewritten: Vec<&IndexedChunk> = index
        .chunks
        .iter()
        .filter(|ch| rewrite.chunks.contains(&ch.chunk.key))
        .collect();
    // Every chunk merged again, once.
    let mut again: Vec<&IndexedChunk> = open_days.values().copied().collect();
    again.extend(
        rewritten
            .iter()
            .filter(|ch| !open_days.values().any(|o| o.chunk.key == ch.chunk.key)),
    );
    let reopened: HashSet<&str> = again.iter().map(|c| c.chunk.key.as_str()).collect();
    let mut inputs: Vec<String> = listed.iter().map(|l| l.key.clone()).collect();
    inputs.extend(reopened.iter().map(|k| k.to_string()));
    inputs.sort();
    // A chunk's key names its content: the same inputs with other lines
    // left out must not give the same key.
    let mut ident = inputs.clone();
    ident.extend(rewrite.hidden.iter().map(|t| format!("without {}", t.id)));

    let mut planned = plan(&listed, &HashSet::new(), &Selection::default(), Vec::new()).objects;
    for ch in &again {
        for part in index::chunk_parts(&ch.chunk, &Selection::default()) {
            planned.push(Planned::chunk(part, 0));
        }
    }
    planned.sort_by(|a, b| (a.lower, &a.key).cmp(&(b.lower, &b.key)));
    let lower = planned.iter().map(|p| p.lower).min().unwrap_or(0);
    // Records other chunks already hold are left out (a retried upload
    // that arrived after its first copy was compacted).
    let since = Selection {
        since: Some(lower),
        ..Selection::default()
    };
    let mut old_parts: Vec<Planned> = index
        .chunks
        .iter()
        .filter(|ch| !reopened.contains(ch.chunk.key.as_str()))
        .flat_map(|ch| index::chunk_parts(&ch.chunk, &since))
        .map(|p: ChunkPart| Planned::chunk(p, 0))
        .collect();
    old_parts.sort_by(|a, b| (a.lower, &a.key).cmp(&(b.lower, &b.key)));

    // Every merge leaves out the lines of the requests taken: they never
    // reach a chunk, from whichever input they come (a late retry too).
    let kept = Selection {
        hidden: rewrite.hidden.clone(),
        ..Selection::default()
    };
    let mut new = JobReader::over_planned(c.store.clone(), planned, kept);
    let mut old = JobReader::over_planned(c.store.clone(), old_parts, since);
    let mut old_head = old.next().await?;
    let mut written: Vec<Chunk> = Vec::new();
    let mut kind = String::new();
    let mut part: Option<Part> = None;
    while let Some(r) = new.next().await? {
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
        // A chunk holds one UTC day: a period names it, whole.
        if part
            .as_ref()
            .is_some_and(|p| p.text_bytes >= target || day_of(p.first_ts) != day_of(r.ts))
            && let Some(done) = part.take()
        {
            lease.keep(store, c.now()).await?;
            put_chunk(c, tool, job, done, &ident, &mut written, &mut kind, report).await?;
        }
        part.get_or_insert_with(|| Part::new(c.config.gzip_level, r.ts))
            .push(&r)
            .await?;
    }
    if let Some(done) = part.take() {
        put_chunk(c, tool, job, done, &ident, &mut written, &mut kind, report).await?;
    }
    for w in new.warnings.iter().chain(&old.warnings) {
        tracing::warn!(tool, job, "{w}");
    }
    for s in [&new.stats, &old.stats] {
        report.damaged += s.bad_lines + s.bad_objects;
        report.vanished += s.vanished;
        report.out_of_order += s.out_of_order;
    }
    report.raw_read += new.stats.objects_read;
    report.bytes_read += new.stats.bytes;
    lease.keep(store, c.now()).await?;

    // Steps 2 and 3: the touched days' periods, then the manifest.
    let mut by_day: BTreeMap<u32, Vec<Chunk>> = BTreeMap::new();
    for ch in &index.chunks {
        if !reopened.contains(ch.chunk.key.as_str()) {
            by_day
                .entry(day_of(ch.chunk.first_ts))
                .or_default()
                .push(ch.chunk.clone());
        }
    }
    let mut touched: BTreeSet<u32> = open_days.keys().copied().collect();
    touched.extend(rewritten.iter().map(|ch| day_of(ch.chunk.first_ts)));
    for ch in written {
        let day = day_of(ch.first_ts);
        touched.insert(day);
        by_day.entry(day).or_default().push(ch);
    }
    let m = &mut v.manifest;
    let generation = m.generation + 1;
    let mut consumed: Vec<String> = inputs;
    consumed.extend(metas);
    let mut periods: BTreeMap<u32, PeriodRef> = m.periods.drain(..).map(|p| (p.day, p)).collect();
    for day in &touched {
        if let Some(old) = periods.remove(day) {
            consumed.push(old.key);
        }
        let Some(chunks) = by_day.get_mut(day).filter(|c| !c.is_empty()) else {
            continue;
        };
        chunks.sort_by(|a, b| (a.first_ts, &a.key).cmp(&(b.first_ts, &b.key)));
        let key = layout::period_key(tool, job, *day, generation);
        let period = Period {
            version: INDEX_VERSION,
            day: *day,
            chunks: chunks.clone(),
        };
        store
            .put(
                &Path::from(key.as_str()),
                PutPayload::from(index::encode_period(&period)),
            )
            .await?;
        periods.insert(
            *day,
            PeriodRef {
                day: *day,
                key,
                first_ts: chunks.iter().map(|c| c.first_ts).min().unwrap_or(0),
                last_ts: chunks.iter().map(|c| c.last_ts).max().unwrap_or(0),
                runs: 0,
                lines: chunks.iter().map(|c| c.lines).sum(),
                bytes: chunks.iter().map(|c| c.bytes).sum(),
                chunks: chunks.iter().map(|c| c.key.clone()).collect(),
            },
        );
    }
    // A run is counted in the day of its first record.
    let mut seen: HashSet<&str> = HashSet::new();
    for (day, p) in periods.iter_mut() {
        let pods: BTreeSet<&str> = by_day
            .get(day)
            .into_iter()
            .flatten()
            .flat_map(|c| c.runs.iter().map(|r| r.pod.as_str()))
            .collect();
        p.runs = pods.iter().filter(|pod| !seen.contains(*pod)).count() as u64;
        seen.extend(pods);
    }
    m.periods = periods.into_values().collect();
    m.generation = generation;
    if m.kind.is_empty() {
        m.kind = kind;
    }
    m.last_upload_secs = listed
        .iter()
        .filter(|l| l.is_raw())
        .map(|l| l.modified_secs)
        .chain(m.last_upload_secs)
        .max();
    let mut latest: Vec<(u64, &str)> = by_day
        .values()
        .flatten()
        .flat_map(|c| c.runs.iter().map(|r| (r.last_ts, r.pod.as_str())))
        .collect();
    latest.sort_unstable_by(|a, b| b.cmp(a));
    let mut pods = Vec::new();
    for (_, pod) in latest {
        if pods.len() >= LATEST_PODS {
            break;
        }
        if !pods.iter().any(|p: &String| p == pod) {
            pods.push(pod.to_string());
        }
    }
    m.latest_pods = pods;
    let already: HashSet<String> = m.consumed.iter().map(|c| c.key.clone()).collect();
    m.consumed.extend(
        consumed
            .into_iter()
            .filter(|k| !already.contains(k))
            .map(|key| ConsumedRaw { key, since_ns: now }),
    );
    versioned::write(store, &manifest_key, &v).await?;
    report.jobs_merged += 1;
    tracing::info!(
        tool,
        job,
        inputs = listed.len(),
        generation,
        migrated = legacy,
        rewritten = rewritten.len(),
        "compacted {} objects",
        listed.len()
    );
    Ok(rewrite)
}

#[allow(clippy::too_many_arguments)]
async fn put_chunk(
    c: &Compactor,
    tool: &str,
    job: &str,
    p: Part,
    inputs: &[String],
    written: &mut Vec<Chunk>,
    kind: &mut String,
    report: &mut Report,
) -> Result<(), CompactError> {
    let (body, mut chunk, k) = p.finish().await?;
    if kind.is_empty() {
        *kind = k;
    }
    chunk.key = layout::chunk_key(
        tool,
        job,
        chunk.first_ts,
        chunk.last_ts,
        &part_id(inputs, written.len()),
    );
    c.store
        .put(&Path::from(chunk.key.as_str()), PutPayload::from(body))
        .await?;
    report.data_written += 1;
    report.bytes_written += chunk.bytes;
    report.records_written += chunk.lines;
    written.push(chunk);
    Ok(())
}

/// A manifest's summary for the tool's index.
pub fn summary(v: &Versioned) -> Option<ToolJob> {
    v.version.as_ref().map(|_| ToolJob::of(&v.manifest))
}
