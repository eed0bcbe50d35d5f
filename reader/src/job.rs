//! Reading one job from the store (DESIGN §4, §5): list its raw and merged
//! objects, take each pod's meta as a snapshot, skip raw keys meta lists as
//! consumed, and feed the objects to the pure [`Merge`] in the order of their
//! first event time, opening each only when the output reaches it. Memory
//! therefore follows the objects that overlap in time, not the job's size,
//! and `tail=N` opens only the newest objects it needs.

use crate::index::{self, ChunkPart, JobManifest, Period, RunStats, Scope};
use crate::merge::{Limit, Merge, Selection};
use crate::meta::{META_VERSION, PodMeta};
use crate::record::{LogRecord, ParseError};
use crate::store::{Store, StoreError};
use afterlog_contract::keys;
use afterlog_contract::layout::{self, ObjectKey, ObjectKind};
use futures::TryStreamExt;
use futures::stream::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::fmt;

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

impl ReadStats {
    /// Adds another read's counters.
    pub fn add(&mut self, o: &ReadStats) {
        self.objects_read += o.objects_read;
        self.consumed_skipped += o.consumed_skipped;
        self.vanished += o.vanished;
        self.bad_objects += o.bad_objects;
        self.bad_lines += o.bad_lines;
        self.foreign_keys += o.foreign_keys;
        self.out_of_order += o.out_of_order;
        self.bytes += o.bytes;
    }
}

/// A job's log, with what went wrong on the way.
#[derive(Debug, Clone, Default)]
pub struct JobLog {
    pub records: Vec<LogRecord>,
    pub warnings: Vec<String>,
    pub stats: ReadStats,
}

// Pure: shared with the JavaScript adapter (adapter-wasm/).
pub use crate::object::{BadLine, Source, gunzip};
use crate::object::{block_lines, decode_blocks, open_raw, streamed_lines};

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

/// GETs a byte range of an object; `Ok(None)` if it does not exist (any more).
async fn fetch_range(
    store: &dyn ObjectStore,
    key: &str,
    range: std::ops::Range<u64>,
) -> Result<Option<bytes::Bytes>, StoreError> {
    match store.get_range(&Path::from(key), range).await {
        Ok(b) => Ok(Some(b)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The heads of raw objects already read, kept by a long-running reader
/// (the service): objects never change, and follows, paging clients and
/// job pages ask for the same ones again and again. Keyed by store, key,
/// size and modification time, so that a store rebuilt under the same keys
/// is not mistaken.
#[derive(Debug, Default)]
pub struct FirstTimes(std::sync::Mutex<std::collections::HashMap<FirstTimeKey, ObjectHead>>);

/// Store, key, size, modification time.
type FirstTimeKey = (usize, String, u64, i64);

impl FirstTimes {
    const MAX: usize = 200_000;

    /// What `l`'s first record said, if it was read before.
    pub fn head(&self, l: &Listed) -> Option<ObjectHead> {
        let m = self.0.lock().ok()?;
        m.get(&(l.store, l.key.clone(), l.size, l.modified_secs))
            .cloned()
    }

    pub fn put(&self, l: &Listed, head: ObjectHead) {
        if let Ok(mut m) = self.0.lock() {
            if m.len() >= Self::MAX {
                m.clear();
            }
            m.insert((l.store, l.key.clone(), l.size, l.modified_secs), head);
        }
    }
}

/// What a raw object's first record tells without reading the object: its
/// time, and the labels a job's page shows (all `None`: no readable first
/// record, or the object is gone).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct ObjectHead {
    #[serde(skip)]
    pub ts: Option<u64>,
    pub kind: Option<String>,
    pub node: Option<String>,
    pub container_id: Option<String>,
}

/// The head of the raw object `key`, from its first record. A raw key's
/// time is not enough: Fluent Bit names an upload after its first record
/// only when its timer sends it; buffers sent at shutdown or left over from
/// before a restart are named after the buffer's creation or the restart
/// (docs/fluent-bit-facts.md), so the key time is only an upper bound of
/// the first record's.
///
/// A failure of the store is an error, never taken for an answer.
pub async fn read_head(
    store: &dyn ObjectStore,
    key: &str,
    size: u64,
) -> Result<ObjectHead, StoreError> {
    #[derive(serde::Deserialize)]
    struct Wire {
        afterlog: Option<ObjectHead>,
    }
    let Some(line) = first_line(store, key, size).await? else {
        return Ok(ObjectHead::default());
    };
    let labels = serde_json::from_slice::<Wire>(&line)
        .ok()
        .and_then(|w| w.afterlog)
        .unwrap_or_default();
    Ok(ObjectHead {
        ts: LogRecord::parse(line).ok().map(|r| r.ts),
        ..labels
    })
}

/// The first line of a stored object (`size` bytes), from its first 16 KiB
/// — or the whole object if the line is longer. `Ok(None)` if it has none
/// or is gone.
pub async fn first_line(
    store: &dyn ObjectStore,
    key: &str,
    size: u64,
) -> Result<Option<Vec<u8>>, StoreError> {
    let path = Path::from(key);
    for len in [16 * 1024, u64::MAX] {
        let body = if len >= size {
            match store.get(&path).await {
                Ok(g) => g.bytes().await,
                Err(e) => Err(e),
            }
        } else {
            store.get_range(&path, 0..len).await
        };
        let body = match body {
            Ok(b) => b,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let (text, _) = gunzip(&body);
        if let Some(line) = text.split(|&b| b == b'\n').find(|l| !l.is_empty()) {
            return Ok(Some(line.to_vec()));
        }
        if len >= size {
            break;
        }
    }
    Ok(None)
}

/// The stores one read spans: one per routing class, each holding the
/// layout of DESIGN §3 under its own bucket or prefix. [`Listed::store`]
/// and [`Planned::store`] index it. A single store converts into one, so
/// single-store callers pass their [`Store`] as before.
#[derive(Clone)]
pub struct Stores(std::sync::Arc<[Store]>);

impl Stores {
    pub fn new(stores: Vec<Store>) -> Stores {
        Stores(stores.into())
    }

    pub fn get(&self, i: usize) -> Option<&Store> {
        self.0.get(i)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Store> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Store> for Stores {
    fn from(store: Store) -> Stores {
        Stores(std::sync::Arc::new([store]))
    }
}

impl fmt::Debug for Stores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Stores({})", self.0.len())
    }
}

/// A listed object of the job, parsed.
#[derive(Debug, Clone)]
pub struct Listed {
    pub key: String,
    pub parsed: ObjectKey,
    /// Stored (compressed) size.
    pub size: u64,
    /// When the store received it, seconds since the epoch.
    pub modified_secs: i64,
    /// Raw objects: the event time of the first record, read from the
    /// object's head by [`JobIndex::load`]; `None` if it could not be read.
    pub first_ts: Option<u64>,
    /// Which of the read's [`Stores`] holds it (0 for a single store).
    pub store: usize,
}

impl Listed {
    pub fn is_raw(&self) -> bool {
        matches!(self.parsed.kind, ObjectKind::Raw { .. })
    }
}

/// Lists `raw/` and `data/` of a job (or of a tool, with `job` = `None`)
/// in store number `store_ix` of a read.
async fn list_objects(
    store: &dyn ObjectStore,
    store_ix: usize,
    tool: &str,
    job: Option<&str>,
    warnings: &mut Vec<String>,
    stats: &mut ReadStats,
) -> Result<Vec<Listed>, StoreError> {
    list_objects_in(
        store,
        store_ix,
        tool,
        job,
        &[layout::RAW, layout::DATA],
        warnings,
        stats,
    )
    .await
}

/// [`list_objects`] under the tops named (`raw`, `data`).
async fn list_objects_in(
    store: &dyn ObjectStore,
    store_ix: usize,
    tool: &str,
    job: Option<&str>,
    tops: &[&str],
    warnings: &mut Vec<String>,
    stats: &mut ReadStats,
) -> Result<Vec<Listed>, StoreError> {
    let mut out = Vec::new();
    for &top in tops {
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
                        modified_secs: m.last_modified.timestamp(),
                        first_ts: None,
                        store: store_ix,
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

/// The raw objects of a job in every one of `stores`, by key (a follow's
/// view of what arrived), with keys outside the layout counted and warned.
pub async fn list_raw(
    stores: &Stores,
    tool: &str,
    job: &str,
) -> Result<(Vec<Listed>, Vec<String>, ReadStats), StoreError> {
    let (mut warnings, mut stats) = (Vec::new(), ReadStats::default());
    let mut all = Vec::new();
    for (i, s) in stores.iter().enumerate() {
        all.extend(
            list_objects_in(
                s.as_ref(),
                i,
                tool,
                Some(job),
                &[layout::RAW],
                &mut warnings,
                &mut stats,
            )
            .await?,
        );
    }
    all.sort_by(|a, b| (&a.key, a.store).cmp(&(&b.key, b.store)));
    Ok((all, warnings, stats))
}

/// A raw object uploaded before `scope` begins holds none of its records
/// (see [`uploaded_bound`]): not even its first record is read.
fn before_scope(l: &Listed, scope: &Scope) -> bool {
    l.is_raw()
        && !l.parsed.origin.pod.starts_with('@')
        && scope.since.is_some_and(|s| uploaded_bound(l) < s)
}

/// Reads a pod's meta; `None` if there is none or it is unusable (warned).
pub async fn read_meta(
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

/// A job as stored at one moment: its objects and its pods' metas. Readers
/// work from this snapshot (DESIGN §5), so a compaction running meanwhile
/// can only make raw objects vanish, which is harmless.
///
/// An index may span several stores (one per routing class, see
/// [`JobIndex::load_all`]): each store is compacted on its own, so a meta
/// speaks only for the objects of its own store, and a pod whose objects
/// are in two stores has a meta in each.
#[derive(Debug, Clone, Default)]
pub struct JobIndex {
    pub tool: String,
    pub job: String,
    /// Sorted by key (then store).
    pub objects: Vec<Listed>,
    /// Per store (indexed like [`Listed::store`]), each pod's meta.
    pub metas: Vec<BTreeMap<String, PodMeta>>,
    /// Per store, the job's manifest, if the job is compacted at job level
    /// there (then `objects` holds only raw objects it does not cover, and
    /// there are no metas).
    pub manifests: Vec<Option<JobManifest>>,
    /// The chunks of the periods loaded (by the load's [`Scope`]).
    pub chunks: Vec<IndexedChunk>,
    /// Older periods were left out by the load's scope: records before
    /// [`JobIndex::loaded_from`] may be missing.
    pub partial: bool,
    pub warnings: Vec<String>,
    pub stats: ReadStats,
}

/// A chunk of a loaded period, with the store that holds it.
#[derive(Debug, Clone)]
pub struct IndexedChunk {
    pub store: usize,
    pub chunk: index::Chunk,
}

impl JobIndex {
    /// Lists the job, reads the meta of each pod that has objects and the
    /// first time of each raw object not yet consumed.
    pub async fn load(
        store: &dyn ObjectStore,
        tool: &str,
        job: &str,
    ) -> Result<JobIndex, StoreError> {
        Self::load_cached(store, tool, job, &FirstTimes::default()).await
    }

    /// [`JobIndex::load`], remembering first times in `cache`.
    pub async fn load_cached(
        store: &dyn ObjectStore,
        tool: &str,
        job: &str,
        cache: &FirstTimes,
    ) -> Result<JobIndex, StoreError> {
        Self::load_part(store, 0, tool, job, cache, Scope::ALL).await
    }

    /// The job as stored across `stores` (one per routing class): each
    /// store's part is loaded as [`JobIndex::load`] does, all at once, and
    /// the parts are put together. Reading it merges every store's objects
    /// into one ordered, deduplicated log.
    pub async fn load_all(
        stores: &Stores,
        tool: &str,
        job: &str,
        cache: &FirstTimes,
    ) -> Result<JobIndex, StoreError> {
        Self::load_scoped(stores, tool, job, cache, Scope::ALL).await
    }

    /// [`JobIndex::load_all`] of only the periods of the job index that
    /// `scope` selects (stores in the per-pod layout are loaded whole).
    pub async fn load_scoped(
        stores: &Stores,
        tool: &str,
        job: &str,
        cache: &FirstTimes,
        scope: Scope,
    ) -> Result<JobIndex, StoreError> {
        if let [store] = &stores.0[..] {
            return Self::load_part(store.as_ref(), 0, tool, job, cache, scope).await;
        }
        let parts = futures::future::try_join_all(
            stores
                .0
                .iter()
                .enumerate()
                .map(|(i, s)| Self::load_part(s.as_ref(), i, tool, job, cache, scope)),
        )
        .await?;
        let mut ix = JobIndex {
            tool: tool.to_string(),
            job: job.to_string(),
            ..JobIndex::default()
        };
        for part in parts {
            ix.objects.extend(part.objects);
            ix.metas.extend(part.metas);
            ix.manifests.extend(part.manifests);
            ix.chunks.extend(part.chunks);
            ix.partial |= part.partial;
            ix.warnings.extend(part.warnings);
            ix.stats.add(&part.stats);
        }
        ix.objects
            .sort_by(|a, b| (&a.key, a.store).cmp(&(&b.key, b.store)));
        Ok(ix)
    }

    /// The part of a job in store number `store_ix` of a read.
    async fn load_part(
        store: &dyn ObjectStore,
        store_ix: usize,
        tool: &str,
        job: &str,
        cache: &FirstTimes,
        scope: Scope,
    ) -> Result<JobIndex, StoreError> {
        let mut ix = JobIndex {
            tool: tool.to_string(),
            job: job.to_string(),
            metas: vec![BTreeMap::new()],
            manifests: vec![None],
            ..JobIndex::default()
        };
        // The manifest first: if there is one, it is the snapshot of all
        // that is compacted (it lists what it consumed of the per-pod
        // layout too), and only raw objects not in it remain to be listed.
        let manifest_key = layout::manifest_key(tool, job);
        if let Some(body) = fetch(store, &manifest_key).await? {
            let manifest = match index::parse_manifest(&manifest_key, &body) {
                Ok(m) => m,
                // A manifest this reader cannot use would make it read the
                // per-pod layout the manifest replaced: an error, not a guess.
                Err(e) => return Err(StoreError::Index(e.to_string())),
            };
            let (periods, partial) = scope.select(&manifest);
            let keys: Vec<String> = periods.iter().map(|p| p.key.clone()).collect();
            let got: Vec<Result<Period, StoreError>> = futures::stream::iter(keys)
                .map(|key| async move {
                    let body = fetch(store, &key).await?.ok_or_else(|| {
                        StoreError::Index(format!("{key}: named by the manifest but missing"))
                    })?;
                    index::parse_period(&key, &body).map_err(|e| StoreError::Index(e.to_string()))
                })
                .buffered(8)
                .collect()
                .await;
            let loaded = got
                .into_iter()
                .collect::<Result<Vec<Period>, StoreError>>()?;
            ix.partial = partial;
            ix.chunks = loaded
                .into_iter()
                .flat_map(|p| p.chunks)
                .map(|chunk| IndexedChunk {
                    store: store_ix,
                    chunk,
                })
                .collect();
            let consumed: HashSet<&str> =
                manifest.consumed.iter().map(|c| c.key.as_str()).collect();
            let mut raw = list_objects_in(
                store,
                store_ix,
                tool,
                Some(job),
                &[layout::RAW],
                &mut ix.warnings,
                &mut ix.stats,
            )
            .await?;
            let before = raw.len();
            raw.retain(|l| !consumed.contains(l.key.as_str()));
            ix.stats.consumed_skipped += (before - raw.len()) as u64;
            raw.retain(|l| !before_scope(l, &scope));
            ix.objects = raw;
            ix.manifests[0] = Some(manifest);
            ix.read_first_times(store, cache).await;
            return Ok(ix);
        }
        // Metas first, objects second: a merged object written after the
        // snapshot is then listed too (its lines come out once), while a raw
        // object the snapshot does not list as consumed is still there (it
        // is deleted only a grace period after being consumed). The other
        // order could see a raw object consumed but miss its merged object.
        let meta_prefix = format!(
            "{}/{}/{}/",
            layout::META,
            keys::encode(tool),
            keys::encode(job)
        );
        for m in list(store, &meta_prefix).await? {
            let key = m.location.to_string();
            let Some(pod) = key
                .strip_prefix(&meta_prefix)
                .and_then(|p| p.strip_suffix(".json"))
                .and_then(|p| keys::decode(p).ok())
            else {
                ix.stats.foreign_keys += 1;
                ix.warnings
                    .push(format!("{key}: not a pod's meta; ignored"));
                continue;
            };
            if let Some(meta) = read_meta(store, tool, job, &pod, &mut ix.warnings).await? {
                ix.metas[0].insert(pod, meta);
            }
        }
        ix.objects = list_objects(
            store,
            store_ix,
            tool,
            Some(job),
            &mut ix.warnings,
            &mut ix.stats,
        )
        .await?;
        ix.objects.retain(|l| !before_scope(l, &scope));
        ix.read_first_times(store, cache).await;
        Ok(ix)
    }

    /// Reads the first time of each raw object not consumed.
    async fn read_first_times(&mut self, store: &dyn ObjectStore, cache: &FirstTimes) {
        let ix = self;
        let consumed: HashSet<String> = ix.metas[0]
            .values()
            .flat_map(|m| m.consumed.iter().map(|c| c.key.clone()))
            .collect();
        let mut wanted = Vec::new();
        for (i, l) in ix.objects.iter_mut().enumerate() {
            if l.is_raw() && !consumed.contains(&l.key) {
                match cache.head(l) {
                    Some(h) => l.first_ts = h.ts,
                    None => wanted.push((i, l.key.clone(), l.size)),
                }
            }
        }
        let firsts: Vec<(usize, Result<ObjectHead, StoreError>)> = futures::stream::iter(wanted)
            .map(|(i, key, size)| async move { (i, read_head(store, &key, size).await) })
            .buffer_unordered(16)
            .collect()
            .await;
        for (i, t) in firsts {
            match t {
                Ok(h) => {
                    ix.objects[i].first_ts = h.ts;
                    cache.put(&ix.objects[i], h);
                }
                // Not cached: the next read asks again. This one opens the
                // object first, as one it cannot place.
                Err(e) => ix.warnings.push(format!(
                    "{}: first record unreadable: {e}",
                    ix.objects[i].key
                )),
            }
        }
    }

    /// Nothing stored for the job: no object listed and no day indexed
    /// (whether or not the load's scope included it).
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
            && self.chunks.is_empty()
            && self
                .manifests
                .iter()
                .flatten()
                .all(|m| m.periods.is_empty())
    }

    /// The runs (pods), oldest first: what the loaded chunks hold of each,
    /// and its objects not compacted yet.
    pub fn runs(&self) -> Vec<RunSummary> {
        let mut runs: BTreeMap<&str, Summary> = BTreeMap::new();
        for c in &self.chunks {
            let ratio = c.chunk.bytes as f64 / c.chunk.text_bytes.max(1) as f64;
            for r in &c.chunk.runs {
                runs.entry(&r.pod).or_default().add_indexed(c, r, ratio);
            }
        }
        for l in &self.objects {
            runs.entry(&l.parsed.origin.pod).or_default().add(l);
        }
        let mut out: Vec<_> = runs
            .into_iter()
            .map(|(pod, summary)| RunSummary {
                pod: pod.to_string(),
                summary,
            })
            .collect();
        out.sort_by(|a, b| (a.summary.first_ns, &a.pod).cmp(&(b.summary.first_ns, &b.pod)));
        out
    }

    /// The run that started last.
    pub fn latest_pod(&self) -> Option<String> {
        self.runs().pop().map(|r| r.pod)
    }

    /// The metas a pod has: one per store that holds a part of it.
    pub fn pod_metas<'a>(&'a self, pod: &'a str) -> impl Iterator<Item = &'a PodMeta> + 'a {
        self.metas.iter().filter_map(move |m| m.get(pod))
    }

    /// What the compactor recorded about a pod: from the loaded chunks and
    /// the metas of the per-pod layout, of every store.
    pub fn pod_info(&self, pod: &str) -> Option<crate::meta::PodInfo> {
        let mut all: Option<RunStats> = None;
        for c in &self.chunks {
            for r in c.chunk.runs.iter().filter(|r| r.pod == pod) {
                all.get_or_insert_with(RunStats::default).absorb(r);
            }
        }
        for info in self.pod_metas(pod).filter_map(|m| m.pod.as_ref()) {
            let as_run = RunStats {
                pod: pod.to_string(),
                kind: info.kind.clone(),
                node: info.node.clone(),
                containers: info.containers.clone(),
                first_ts: info.first_ts.unwrap_or(0),
                last_ts: info.last_ts.unwrap_or(0),
                lines: u64::from(info.first_ts.is_some()),
                bytes: 0,
            };
            all.get_or_insert_with(RunStats::default).absorb(&as_run);
        }
        all.map(|r| r.pod_info())
    }

    /// The job's kind as the index records it.
    pub fn indexed_kind(&self) -> Option<String> {
        self.manifests
            .iter()
            .flatten()
            .map(|m| m.kind.clone())
            .find(|k| !k.is_empty())
    }

    /// The first event time the loaded index is complete from: `None` if
    /// nothing was left out.
    pub fn loaded_from(&self) -> Option<u64> {
        self.partial
            .then(|| self.chunks.iter().map(|c| c.chunk.first_ts).min())
            .flatten()
    }

    /// The objects `selection` needs, in the order they are to be opened.
    /// Each store's metas speak for that store's keys only.
    pub fn plan(&self, selection: &Selection) -> Plan {
        self.plan_with(selection, index::chunk_parts)
    }

    /// [`JobIndex::plan`] with each gzip member of a chunk on its own:
    /// where a tail finds the newest members that hold enough lines.
    pub fn plan_members(&self, selection: &Selection) -> Plan {
        self.plan_with(selection, index::member_parts)
    }

    fn plan_with(
        &self,
        selection: &Selection,
        parts: fn(&index::Chunk, &Selection) -> Vec<ChunkPart>,
    ) -> Plan {
        let consumed: HashSet<(usize, &str)> = self
            .metas
            .iter()
            .enumerate()
            .flat_map(|(i, ms)| {
                ms.values()
                    .flat_map(move |m| m.consumed.iter().map(move |c| (i, c.key.as_str())))
            })
            .collect();
        let listed: HashSet<(usize, &str)> = self
            .objects
            .iter()
            .map(|l| (l.store, l.key.as_str()))
            .collect();
        let missing = self
            .metas
            .iter()
            .enumerate()
            .flat_map(|(i, ms)| {
                ms.values()
                    .flat_map(move |m| m.merged.iter().map(move |o| (i, o)))
            })
            .filter(|(i, m)| !listed.contains(&(*i, m.key.as_str())))
            .map(|(_, m)| m)
            .filter(|m| {
                layout::parse_object_key(&m.key).is_ok_and(|k| selects(selection, &k))
                    && selection.lower_ts().is_none_or(|t| m.last_ts >= t)
                    && selection.until.is_none_or(|u| m.first_ts < u)
            })
            .map(|m| m.key.clone())
            .collect();
        let mut out = plan(&self.objects, &consumed, selection, missing);
        for c in &self.chunks {
            for part in parts(&c.chunk, selection) {
                out.objects.push(Planned::chunk(part, c.store));
            }
        }
        out.objects.sort_by(|a, b| {
            (a.lower, &a.key, a.range, a.store).cmp(&(b.lower, &b.key, b.range, b.store))
        });
        out
    }
}

fn selects(selection: &Selection, k: &ObjectKey) -> bool {
    (selection.pods.is_empty() || selection.pods.contains(&k.origin.pod))
        && selection
            .container
            .as_ref()
            .is_none_or(|c| *c == k.origin.container)
}

/// How far a raw object's records may reach before its first record's time
/// (read from its head) or past the first record of the next upload under
/// the same pod and container name. Fluent Bit uploads a container's records
/// in file order and a restarted container starts after the old one ended,
/// so these bounds hold unless a node's clock steps back by more than the
/// slack (NTP slews; steps of seconds are rare). (Key times are no help: an upload sent at shutdown or after a
/// restart is named after a later time than its records'.) A full
/// read never depends on them (a late record costs order, counted, not the
/// line); `since`, cursors and tails skip objects by them.
pub const RAW_SLACK_NS: u64 = 10 * 1_000_000_000;

/// The latest event time a raw object's records can have: its upload
/// (the store's modification time) — Fluent Bit uploads what was logged
/// before — give or take the slack for the node's and the store's clocks.
fn uploaded_bound(l: &Listed) -> u64 {
    (l.modified_secs.max(0) as u64 + 1)
        .saturating_mul(1_000_000_000)
        .saturating_add(RAW_SLACK_NS)
}

/// An object to read, with the event-time range its records lie in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub key: String,
    pub raw: bool,
    /// No record is earlier (for raw objects: up to [`RAW_SLACK_NS`]).
    pub lower: u64,
    /// No record is later; `None` if unknown (the newest raw object).
    pub upper: Option<u64>,
    pub size: u64,
    /// Which of the read's [`Stores`] holds it.
    pub store: usize,
    /// Only these bytes (gzip members of a chunk); `None`: the whole object.
    pub range: Option<(u64, u64)>,
    /// Records in it, if the index says (raw objects: not known).
    pub lines: Option<u64>,
}

impl Planned {
    /// A part of a chunk in store number `store`.
    pub fn chunk(p: ChunkPart, store: usize) -> Planned {
        Planned {
            key: p.key,
            raw: false,
            lower: p.lower,
            upper: Some(p.upper),
            size: p.size,
            store,
            range: p.range,
            lines: Some(p.lines),
        }
    }
}

/// The objects of one read, sorted by `lower`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub objects: Vec<Planned>,
    pub consumed_skipped: u64,
    /// Merged objects meta lists that the listing does not have.
    pub missing: Vec<String>,
}

/// Chooses and orders the objects a read needs (pure). Raw keys `consumed`
/// lists (with their store) are skipped; objects outside the selection's pods,
/// container and time window are left out.
pub fn plan(
    listed: &[Listed],
    consumed: &HashSet<(usize, &str)>,
    selection: &Selection,
    missing: Vec<String>,
) -> Plan {
    // A raw object's records end where the next upload of its pod and
    // container begins (file order), give or take the slack. Only uploads
    // to the same store count: each class has its own Fluent Bit output,
    // and two outputs keep no order between them.
    let mut next_start: BTreeMap<(usize, &str, &str), Vec<u64>> = BTreeMap::new();
    for l in listed {
        if let (true, Some(t)) = (l.is_raw(), l.first_ts) {
            next_start
                .entry((l.store, &l.parsed.origin.pod, &l.parsed.origin.container))
                .or_default()
                .push(t);
        }
    }
    for v in next_start.values_mut() {
        v.sort_unstable();
    }
    let mut out = Plan {
        missing,
        ..Plan::default()
    };
    for l in listed {
        if !selects(selection, &l.parsed) {
            continue;
        }
        let (raw, lower, upper) = match l.parsed.kind {
            ObjectKind::Raw { .. } => {
                if consumed.contains(&(l.store, l.key.as_str())) {
                    out.consumed_skipped += 1;
                    continue;
                }
                match l.first_ts {
                    // Unreadable heads are opened first: they cannot be placed.
                    None => (true, 0, None),
                    Some(t) => {
                        let starts = &next_start[&(
                            l.store,
                            l.parsed.origin.pod.as_str(),
                            l.parsed.origin.container.as_str(),
                        )];
                        let after = starts.partition_point(|&s| s <= t);
                        // Pushed logs (`@` sources) carry client times in any order.
                        let upper = if l.parsed.origin.pod.starts_with('@') {
                            None
                        } else {
                            starts
                                .get(after)
                                .map(|&n| n.saturating_add(RAW_SLACK_NS))
                                .into_iter()
                                .chain(Some(uploaded_bound(l)))
                                .min()
                        };
                        (true, t.saturating_sub(RAW_SLACK_NS), upper)
                    }
                }
            }
            ObjectKind::Data {
                first_ts, last_ts, ..
            } => (false, first_ts, Some(last_ts)),
        };
        if selection
            .lower_ts()
            .is_some_and(|t| upper.is_some_and(|u| u < t))
            || selection.until.is_some_and(|u| lower >= u)
        {
            continue;
        }
        out.objects.push(Planned {
            key: l.key.clone(),
            raw,
            lower,
            upper,
            size: l.size,
            store: l.store,
            range: None,
            lines: None,
        });
    }
    out.objects
        .sort_by(|a, b| (a.lower, &a.key, a.store).cmp(&(b.lower, &b.key, b.store)));
    out
}

/// An object, fetched and ready to merge (or why it is not).
enum Opened {
    Source(Source, Option<String>, u64),
    Vanished,
}

/// Objects fetched ahead of the merge: while the merge works through one
/// object, the next ones are being downloaded and decompressed (a raw one
/// checked or sorted) on other threads — up to this many, and beyond the
/// first, up to this many stored bytes, so that many small objects overlap
/// their latency and few large ones do not crowd memory.
const AHEAD: usize = 8;
const AHEAD_BYTES: u64 = 1 << 20;
/// Decompressed blocks (about 1 MiB each) a merged object's decoder may
/// hold ready beyond the one being parsed.
const BLOCKS_AHEAD: usize = 2;

/// Merged objects decompressed on threads of their own at once, in the
/// whole process. A decoder that is ahead waits for its merge, holding a
/// blocking thread: bounded here, far below the blocking pool's size, a
/// decoder is never queued behind other decoders (a merge waiting for it
/// would wait forever), and memory stays at ~3 MiB a decoder.
static DECODERS: std::sync::LazyLock<std::sync::Arc<tokio::sync::Semaphore>> =
    std::sync::LazyLock::new(|| std::sync::Arc::new(tokio::sync::Semaphore::new(16)));

async fn open_object(stores: Stores, p: Planned) -> Result<(Planned, Opened), StoreError> {
    let store = stores.get(p.store).ok_or(StoreError::NoStore(p.store))?;
    let body = match p.range {
        None => fetch(store.as_ref(), &p.key).await?,
        Some((a, b)) => fetch_range(store.as_ref(), &p.key, a..b).await?,
    };
    let Some(body) = body else {
        return Ok((p, Opened::Vanished));
    };
    let key = p.key.clone();
    if !p.raw {
        // Merged objects are sorted: decompressed on a blocking thread, a
        // block ahead of the merge, so a read uses both cores.
        let n = body.len() as u64;
        let src: Source = match DECODERS.clone().try_acquire_owned() {
            Ok(slot) => {
                let (tx, rx) = std::sync::mpsc::sync_channel(BLOCKS_AHEAD);
                tokio::task::spawn_blocking(move || {
                    let _slot = slot;
                    decode_blocks(body, tx)
                });
                Box::new(block_lines(key, rx))
            }
            // Every decoder thread taken: decompressed as pulled instead.
            Err(_) => Box::new(streamed_lines(key, body)),
        };
        return Ok((p, Opened::Source(src, None, n)));
    }
    // Gunzipping, checking the order and maybe sorting take a while: off
    // the async threads.
    let (src, warn, n) = tokio::task::spawn_blocking(move || open_raw(key, &body))
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?;
    Ok((p, Opened::Source(src, warn, n)))
}

type Fetch = tokio::task::JoinHandle<Result<(Planned, Opened), StoreError>>;

/// Fetches under way, with their stored sizes.
#[derive(Default)]
struct Inflight(VecDeque<(u64, Fetch)>);

impl Drop for Inflight {
    /// A read given up (a client gone, a head reached) stops its fetches.
    fn drop(&mut self) {
        for (_, h) in &self.0 {
            h.abort();
        }
    }
}

/// A streaming read of one job: [`JobReader::next`] returns the selected
/// records in order, each once, fetching objects as the output reaches them.
pub struct JobReader {
    pending: VecDeque<Planned>,
    stores: Stores,
    /// Objects of `pending` not yet asked for, in the same order.
    to_fetch: VecDeque<Planned>,
    inflight: Inflight,
    merge: Merge<Source>,
    head: Option<usize>,
    emitted: usize,
    pub warnings: Vec<String>,
    pub stats: ReadStats,
}

impl JobReader {
    /// Starts a read of the objects `index` lists, from the `stores` it was
    /// loaded from (a [`Store`] for an index of one). `selection.limit` may be
    /// `All` or `Head`; a tail is [`read_tail`]'s.
    pub fn new(stores: impl Into<Stores>, index: &JobIndex, selection: Selection) -> JobReader {
        let plan = index.plan(&selection);
        let mut warnings = index.warnings.clone();
        warnings.extend(
            plan.missing
                .iter()
                .map(|k| format!("{k}: listed in meta but missing")),
        );
        let stats = ReadStats {
            consumed_skipped: plan.consumed_skipped + index.stats.consumed_skipped,
            foreign_keys: index.stats.foreign_keys,
            ..ReadStats::default()
        };
        Self::from_plan(stores.into(), plan.objects, selection, warnings, stats)
    }

    /// A read of exactly `objects` (as listed, raw ones with their first
    /// times), whatever meta says: the compactor's view of what it merges.
    pub fn over(stores: impl Into<Stores>, objects: &[Listed], selection: Selection) -> JobReader {
        let plan = plan(objects, &HashSet::new(), &selection, Vec::new());
        Self::from_plan(
            stores.into(),
            plan.objects,
            selection,
            Vec::new(),
            ReadStats::default(),
        )
    }

    /// A read of exactly `objects`, in the order given (sorted by `lower`):
    /// the compactor's view of what it merges, chunks included.
    pub fn over_planned(
        stores: impl Into<Stores>,
        objects: Vec<Planned>,
        selection: Selection,
    ) -> JobReader {
        Self::from_plan(
            stores.into(),
            objects,
            selection,
            Vec::new(),
            ReadStats::default(),
        )
    }

    fn from_plan(
        stores: Stores,
        objects: Vec<Planned>,
        selection: Selection,
        warnings: Vec<String>,
        stats: ReadStats,
    ) -> JobReader {
        let head = match selection.limit {
            Limit::Head(n) => Some(n),
            _ => None,
        };
        JobReader {
            to_fetch: objects.clone().into(),
            pending: objects.into(),
            stores,
            inflight: Inflight::default(),
            merge: Merge::new(
                Vec::new(),
                Selection {
                    limit: Limit::All,
                    ..selection
                },
            ),
            head,
            emitted: 0,
            warnings,
            stats,
        }
    }

    /// Starts fetching what the merge will want next, within the limits.
    fn top_up(&mut self) {
        while let Some(p) = self.to_fetch.front() {
            let ahead: u64 = self.inflight.0.iter().map(|(n, _)| n).sum();
            if self.inflight.0.len() >= AHEAD
                || (!self.inflight.0.is_empty() && ahead + p.size > AHEAD_BYTES)
            {
                break;
            }
            let Some(p) = self.to_fetch.pop_front() else {
                break;
            };
            let size = p.size;
            self.inflight
                .0
                .push_back((size, tokio::spawn(open_object(self.stores.clone(), p))));
        }
    }

    fn bad(&mut self, bad: BadLine) {
        if matches!(bad.error, ParseError::Damaged(_)) {
            self.stats.bad_objects += 1;
        } else {
            self.stats.bad_lines += 1;
        }
        self.warnings.push(bad.to_string());
    }

    /// The next record, `None` at the end. Damaged data is skipped and
    /// reported in [`JobReader::warnings`]; only store failures are errors.
    pub async fn next(&mut self) -> Result<Option<LogRecord>, StoreError> {
        if self.head.is_some_and(|n| self.emitted >= n) {
            return Ok(None);
        }
        loop {
            let frontier = match self.merge.peek_ts() {
                Ok(f) => f,
                Err(bad) => {
                    self.bad(bad);
                    continue;
                }
            };
            // Open every object that may hold a record before the frontier.
            if self
                .pending
                .front()
                .is_some_and(|p| frontier.is_none_or(|f| p.lower <= f))
            {
                self.pending.pop_front();
                self.top_up();
                let Some((_, handle)) = self.inflight.0.pop_front() else {
                    continue;
                };
                let got = handle.await.map_err(|e| StoreError::Task(e.to_string()))?;
                self.top_up();
                match got? {
                    (p, Opened::Vanished) => {
                        self.stats.vanished += 1;
                        if !p.raw {
                            self.warnings
                                .push(format!("{}: listed but gone when read", p.key));
                        }
                    }
                    (_, Opened::Source(src, warn, bytes)) => {
                        self.stats.objects_read += 1;
                        self.stats.bytes += bytes;
                        if let Some(w) = warn {
                            self.stats.bad_objects += 1;
                            self.warnings.push(w);
                        }
                        self.merge.add(src);
                    }
                }
                continue;
            }
            self.merge
                .pause_after(self.pending.front().map(|p| p.lower.saturating_sub(1)));
            match self.merge.next() {
                Some(Ok(r)) => {
                    self.emitted += 1;
                    return Ok(Some(r));
                }
                Some(Err(bad)) => self.bad(bad),
                None if self.merge.paused() => continue,
                None => {
                    self.finish();
                    return Ok(None);
                }
            }
        }
    }

    fn finish(&mut self) {
        let n = self.merge.out_of_order();
        if n > self.stats.out_of_order {
            self.stats.out_of_order = n;
            self.warnings.push(format!(
                "{n} records out of order: a stored object is not sorted or a node's clock jumped"
            ));
        }
    }
}

/// The last `n` selected records. Reads the newest objects first and goes
/// further back only while they hold fewer than `n` records, so a tail of a
/// large job costs about what it costs on a small one.
pub async fn read_tail(
    stores: impl Into<Stores>,
    index: &JobIndex,
    selection: Selection,
    n: usize,
) -> Result<JobLog, StoreError> {
    let stores = stores.into();
    let base = Selection {
        limit: Limit::All,
        ..selection
    };
    let objects = index.plan_members(&base).objects;
    let mut take = first_window(&objects, n);
    // Records found so far: everything from `upper` on. Each widening
    // reads only the window before it, so objects already read are fetched
    // again only where they straddle the boundary.
    let mut found: VecDeque<LogRecord> = VecDeque::new();
    let mut upper: Option<u64> = None;
    let mut log = JobLog::default();
    loop {
        // Everything at or after `cut` is in the objects that reach it.
        let from = objects.len().saturating_sub(take);
        let cut = if from == 0 {
            None
        } else {
            Some(objects[from].lower)
        };
        let f = Selection {
            since: match (base.since, cut) {
                (Some(s), Some(c)) => Some(s.max(c)),
                (s, c) => s.or(c),
            },
            until: match (base.until, upper) {
                (Some(u), Some(c)) => Some(u.min(c)),
                (u, c) => u.or(c),
            },
            ..base.clone()
        };
        let want = n - found.len().min(n);
        let mut ring = VecDeque::with_capacity(want.min(4096));
        if f.since.is_none_or(|s| f.until.is_none_or(|u| s < u)) {
            let mut rd = JobReader::new(stores.clone(), index, f);
            while let Some(r) = rd.next().await? {
                if ring.len() == want {
                    ring.pop_front();
                }
                if want > 0 {
                    ring.push_back(r);
                }
            }
            for w in rd.warnings {
                if !log.warnings.contains(&w) {
                    log.warnings.push(w);
                }
            }
            // What the index skipped is the same in every window: once.
            let (skipped, foreign) = (log.stats.consumed_skipped, log.stats.foreign_keys);
            log.stats.add(&rd.stats);
            log.stats.consumed_skipped = skipped.max(rd.stats.consumed_skipped);
            log.stats.foreign_keys = foreign.max(rd.stats.foreign_keys);
        }
        while let Some(r) = ring.pop_back() {
            found.push_front(r);
        }
        if found.len() >= n || cut.is_none() {
            log.records = found.into();
            return Ok(log);
        }
        upper = cut;
        take = take.saturating_mul(4);
    }
}

/// How many of the newest `objects` a tail of `n` reads first: enough
/// indexed members to hold `n` records (the selection may select fewer, and
/// the window widens), and at most [`TAIL_UNKNOWN`] objects whose count the
/// index does not know (raw uploads).
fn first_window(objects: &[Planned], n: usize) -> usize {
    let (mut lines, mut unknown, mut take) = (0u64, 0usize, 0usize);
    for p in objects.iter().rev() {
        if lines >= n as u64 || unknown >= TAIL_UNKNOWN {
            break;
        }
        take += 1;
        match p.lines {
            Some(l) => lines += l,
            None => unknown += 1,
        }
    }
    take.max(1)
}

/// Raw objects a tail's first window may take: enough for a tail of a
/// job that logs little, few enough not to read a busy job's last hour.
const TAIL_UNKNOWN: usize = 4;

/// Reads a job's log whole: every pod and container, ordered and
/// deduplicated, selected by `selection`. Damaged objects and lines are skipped
/// and reported in [`JobLog::warnings`]; only failures of the store itself
/// are errors. For large jobs, stream with [`JobReader`] instead. A job
/// whose objects are in several stores (one per routing class) is read from
/// all of them as one log.
pub async fn read_job(
    stores: impl Into<Stores>,
    tool: &str,
    job: &str,
    selection: Selection,
) -> Result<JobLog, StoreError> {
    let stores = stores.into();
    let index = JobIndex::load_all(&stores, tool, job, &FirstTimes::default()).await?;
    if let Limit::Tail(n) = selection.limit {
        return read_tail(stores, &index, selection, n).await;
    }
    let mut rd = JobReader::new(stores, &index, selection);
    let mut records = Vec::new();
    while let Some(r) = rd.next().await? {
        records.push(r);
    }
    Ok(JobLog {
        records,
        warnings: rd.warnings,
        stats: rd.stats,
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
    /// When the newest raw object arrived (seconds since the epoch): a job
    /// whose logs still arrive is active.
    pub last_upload_secs: Option<i64>,
    /// Key and size of the object whose first record best describes the
    /// set: the newest raw object, else the first merged one.
    pub sample: Option<(String, u64)>,
    /// The store (of the read's [`Stores`]) that holds `sample`.
    pub sample_store: usize,
    /// Stored bytes by store (of the read's [`Stores`]).
    pub store_bytes: BTreeMap<usize, u64>,
    /// Runs a tool's index counts besides `pods`.
    pub indexed_runs: u64,
    /// Pods of the newest indexed runs: a pod listed here is counted in
    /// `indexed_runs` already.
    pub pods_indexed: BTreeSet<String>,
    /// The kind a tool's index records.
    pub kind: Option<String>,
}

impl Summary {
    /// How many runs: those indexed and the pods listed that are not.
    pub fn runs(&self) -> u64 {
        self.indexed_runs + self.pods.difference(&self.pods_indexed).count() as u64
    }

    /// Adds what a tool's index sums up of the same job.
    fn absorb_indexed(&mut self, ix: Summary) {
        self.first_ns = self.first_ns.into_iter().chain(ix.first_ns).min();
        self.last_ns = self.last_ns.into_iter().chain(ix.last_ns).max();
        self.bytes += ix.bytes;
        for (k, v) in ix.store_bytes {
            *self.store_bytes.entry(k).or_default() += v;
        }
        self.objects += ix.objects;
        self.indexed_runs += ix.indexed_runs;
        self.pods_indexed.extend(ix.pods_indexed);
        self.last_upload_secs = self.last_upload_secs.max(ix.last_upload_secs);
        self.kind = self.kind.take().or(ix.kind);
    }
}

impl Summary {
    /// Adds what chunk `c` holds of run `r`; its stored bytes are the
    /// run's share of the chunk's, at the chunk's compression `ratio`.
    fn add_indexed(&mut self, c: &IndexedChunk, r: &RunStats, ratio: f64) {
        self.pods.insert(r.pod.clone());
        self.containers.extend(r.containers.keys().cloned());
        self.first_ns = Some(self.first_ns.map_or(r.first_ts, |f| f.min(r.first_ts)));
        self.last_ns = Some(self.last_ns.map_or(r.last_ts, |f| f.max(r.last_ts)));
        let bytes = (r.bytes as f64 * ratio).round() as u64;
        self.bytes += bytes;
        *self.store_bytes.entry(c.store).or_default() += bytes;
        self.objects += 1;
    }

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
        *self.store_bytes.entry(l.store).or_default() += l.size;
        self.objects += 1;
        if l.is_raw() {
            // Lines pushed through the API (pods `@custom`, `@platform`) do
            // not say what kind of job this is: a container's upload does.
            let pushed = |key: &str| {
                layout::parse_object_key(key).is_ok_and(|k| k.origin.pod.starts_with('@'))
            };
            let newer = self.last_upload_secs.is_none_or(|t| l.modified_secs > t);
            let better = match &self.sample {
                None => true,
                Some((k, _)) => {
                    let (was, is) = (pushed(k), l.parsed.origin.pod.starts_with('@'));
                    (was && !is) || (was == is && newer)
                }
            };
            if better {
                self.sample = Some((l.key.clone(), l.size));
                self.sample_store = l.store;
            }
            self.last_upload_secs = Some(
                self.last_upload_secs
                    .map_or(l.modified_secs, |t| t.max(l.modified_secs)),
            );
        } else if self.sample.is_none() {
            self.sample = Some((l.key.clone(), l.size));
            self.sample_store = l.store;
        }
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
    let listed = list_objects(store, 0, tool, None, &mut w, &mut s).await?;
    Ok(summarize_jobs(listed))
}

/// [`list_jobs`] across `stores` (one per routing class): a job counts
/// everything it has in any of them. What a store's tool index sums up
/// is taken from it; only objects it does not cover are listed.
pub async fn list_jobs_all(stores: &Stores, tool: &str) -> Result<Vec<JobSummary>, StoreError> {
    let parts = futures::future::try_join_all(stores.iter().enumerate().map(|(i, s)| async move {
        let key = layout::tool_index_key(tool);
        let (mut w, mut st) = (Vec::new(), ReadStats::default());
        let (tool_index, listed) = futures::future::try_join(
            fetch(s.as_ref(), &key),
            list_objects(s.as_ref(), i, tool, None, &mut w, &mut st),
        )
        .await?;
        let tool_index = match tool_index {
            Some(body) => Some(
                index::parse_tool_index(&key, &body)
                    .map_err(|e| StoreError::Index(e.to_string()))?,
            ),
            None => None,
        };
        Ok::<_, StoreError>((i, tool_index, listed))
    }))
    .await?;
    let mut indexed: BTreeMap<String, Summary> = BTreeMap::new();
    let mut all: Vec<Listed> = Vec::new();
    for (store, tool_index, listed) in parts {
        let mut consumed: HashSet<String> = HashSet::new();
        let mut latest: BTreeMap<String, HashSet<String>> = BTreeMap::new();
        for (job, j) in tool_index.map(|t| t.jobs).unwrap_or_default() {
            consumed.extend(j.consumed_raw.iter().cloned());
            latest.insert(job.clone(), j.latest_pods.iter().cloned().collect());
            let s = indexed.entry(job).or_default();
            if j.runs > 0 || j.objects > 0 {
                s.first_ns = Some(s.first_ns.map_or(j.first_ts, |f| f.min(j.first_ts)));
                s.last_ns = Some(s.last_ns.map_or(j.last_ts, |f| f.max(j.last_ts)));
            }
            s.bytes += j.bytes;
            *s.store_bytes.entry(store).or_default() += j.bytes;
            s.objects += j.objects;
            s.indexed_runs += j.runs;
            s.last_upload_secs = s.last_upload_secs.max(j.last_upload_secs);
            if s.kind.is_none() && !j.kind.is_empty() {
                s.kind = Some(j.kind);
            }
        }
        all.extend(listed.into_iter().filter(|l| !consumed.contains(&l.key)));
        for (job, pods) in latest {
            indexed.entry(job).or_default().pods_indexed.extend(pods);
        }
    }
    // Listing order decides which object samples a job: keep it by key.
    all.sort_by(|a, b| (&a.key, a.store).cmp(&(&b.key, b.store)));
    let mut jobs = summarize_jobs(all);
    for j in &mut jobs {
        if let Some(ix) = indexed.remove(&j.job) {
            j.summary.absorb_indexed(ix);
        }
    }
    for (job, ix) in indexed {
        let mut summary = Summary::default();
        summary.absorb_indexed(ix);
        jobs.push(JobSummary { job, summary });
    }
    jobs.sort_by(|a, b| a.job.cmp(&b.job));
    Ok(jobs)
}

fn summarize_jobs(listed: Vec<Listed>) -> Vec<JobSummary> {
    let mut jobs: BTreeMap<String, Summary> = BTreeMap::new();
    for l in listed {
        jobs.entry(l.parsed.origin.job.clone()).or_default().add(&l);
    }
    jobs.into_iter()
        .map(|(job, summary)| JobSummary { job, summary })
        .collect()
}

/// The runs (pods) of a job, by first time.
pub async fn job_runs(
    store: &dyn ObjectStore,
    tool: &str,
    job: &str,
) -> Result<Vec<RunSummary>, StoreError> {
    Ok(JobIndex::load(store, tool, job).await?.runs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(lines: Option<u64>) -> Planned {
        Planned {
            key: "k".into(),
            raw: lines.is_none(),
            lower: 0,
            upper: None,
            size: 1,
            store: 0,
            range: None,
            lines,
        }
    }

    #[test]
    fn a_tail_first_reads_the_members_that_hold_it() {
        let members = |v: &[u64]| v.iter().map(|&l| planned(Some(l))).collect::<Vec<_>>();
        // One 1 MiB member holds a tail of 100.
        assert_eq!(first_window(&members(&[1600, 1600, 1600]), 100), 1);
        assert_eq!(first_window(&members(&[1600, 1600, 1600]), 2000), 2);
        assert_eq!(first_window(&members(&[10, 10]), 100), 2);
        // Raw uploads' counts are unknown: at most four of them at first.
        let mut objects = members(&[1600]);
        objects.extend((0..6).map(|_| planned(None)));
        assert_eq!(first_window(&objects, 100), TAIL_UNKNOWN);
        assert_eq!(first_window(&[], 100), 1);
    }
}
