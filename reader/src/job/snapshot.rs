//! A job as stored at one moment (docs/design.md §5): its objects, its pods'
//! metas or its manifest and the periods loaded, and what they tell.

use super::bounds::before_scope;
use super::deletions::{DeletionScope, StoredDeletion, load_deletions};
use super::fetch::{fetch, list};
use super::head::{FirstTimes, ObjectHead, read_head};
use super::listing::{Listed, list_objects, list_objects_in};
use super::stats::ReadStats;
use super::stores::Stores;
use super::summary::{RunSummary, Summary};
use crate::deletion::{DeletionStatus, Tombstones};
use crate::index::{self, JobManifest, Period, RunStats, Scope};
use crate::meta::{META_VERSION, PodMeta};
use crate::store::StoreError;
use afterlog_contract::keys;
use afterlog_contract::layout;
use futures::stream::StreamExt;
use object_store::ObjectStore;
use std::collections::{BTreeMap, HashSet};

/// Reads a pod's meta; `None` if there is none or it is unusable (warned
/// and counted in [`ReadStats::unreadable`]).
pub async fn read_meta(
    store: &dyn ObjectStore,
    tool: &str,
    job: &str,
    pod: &str,
    warnings: &mut Vec<String>,
    stats: &mut ReadStats,
) -> Result<Option<PodMeta>, StoreError> {
    let key = layout::meta_key(tool, job, pod);
    let Some(body) = fetch(store, &key).await? else {
        return Ok(None);
    };
    match serde_json::from_slice::<PodMeta>(&body) {
        Ok(m) if m.version == META_VERSION => Ok(Some(m)),
        Ok(m) => {
            stats.unreadable += 1;
            warnings.push(format!(
                "{key}: version {} not understood, ignored",
                m.version
            ));
            Ok(None)
        }
        Err(e) => {
            stats.unreadable += 1;
            warnings.push(format!("{key}: {e}; ignored"));
            Ok(None)
        }
    }
}

/// A job as stored at one moment: its objects and its pods' metas. Readers
/// work from this snapshot (docs/design.md §5), so a compaction running meanwhile
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
    /// The job's deletion requests, each store's copy.
    pub deletions: Vec<StoredDeletion>,
    /// The requests whose lines every read of this index hides.
    pub hidden: Tombstones,
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
        let mut ix = Self::load_part(store, 0, tool, job, cache, Scope::ALL).await?;
        ix.compile_hidden();
        Ok(ix)
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
        if let (1, Some(store)) = (stores.len(), stores.get(0)) {
            let mut ix = Self::load_part(store.as_ref(), 0, tool, job, cache, scope).await?;
            ix.compile_hidden();
            return Ok(ix);
        }
        let parts = futures::future::try_join_all(
            stores
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
            ix.deletions.extend(part.deletions);
            ix.partial |= part.partial;
            ix.warnings.extend(part.warnings);
            ix.stats.add(&part.stats);
        }
        ix.objects
            .sort_by(|a, b| (&a.key, a.store).cmp(&(&b.key, b.store)));
        ix.compile_hidden();
        Ok(ix)
    }

    /// Compiles [`JobIndex::hidden`] from the requests loaded. A request
    /// cancelled in one store but not in another (a cancel that raced the
    /// compactor of the other) still hides: its lines there are removed.
    fn compile_hidden(&mut self) {
        let (hidden, bad) = Tombstones::compile(
            self.deletions.iter().map(|d| &d.status),
            DeletionStatus::hides,
        );
        self.warnings
            .extend(bad.into_iter().map(|id| super::deletions::uncompiled(&id)));
        self.hidden = hidden;
    }

    /// The requests whose lines the index's counts (lines, bytes, volume)
    /// may still include: hidden, but not rewritten out of the chunks yet.
    pub fn counted_hidden(&self) -> Tombstones {
        Tombstones::compile(
            self.deletions.iter().map(|d| &d.status),
            DeletionStatus::in_index,
        )
        .0
    }

    /// The requests of the job, one per id (see
    /// [`fold_copies`](crate::deletion::fold_copies)).
    pub fn deletion_statuses(&self) -> Vec<DeletionStatus> {
        crate::deletion::fold_copies(self.deletions.iter().map(|d| &d.status))
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
        // The requests are listed with the manifest's GET, not after it:
        // a read pays one listing's time for them, in parallel.
        let (mut dwarn, mut dstats) = (Vec::new(), ReadStats::default());
        let (body, deletions) = futures::join!(
            fetch(store, &manifest_key),
            load_deletions(
                store,
                store_ix,
                DeletionScope::Job(tool, job),
                &mut dwarn,
                &mut dstats
            )
        );
        ix.deletions = deletions?;
        ix.warnings.append(&mut dwarn);
        ix.stats.add(&dstats);
        if let Some(body) = body? {
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
            if let Some(meta) =
                read_meta(store, tool, job, &pod, &mut ix.warnings, &mut ix.stats).await?
            {
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
                    Some(h) => (l.first_ts, l.lowest_ts) = (h.ts, h.lowest_ts),
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
                    ix.objects[i].lowest_ts = h.lowest_ts;
                    cache.put(&ix.objects[i], h);
                }
                // Not cached: the next read asks again. This one opens the
                // object first, as one it cannot place.
                Err(e) => {
                    ix.stats.unreadable += 1;
                    ix.warnings.push(format!(
                        "{}: first record unreadable: {e}",
                        ix.objects[i].key
                    ));
                }
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
                runs.entry(&r.pod)
                    .or_default()
                    .add_indexed(c.store, r, ratio);
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
}

/// The runs (pods) of a job, by first time.
pub async fn job_runs(
    store: &dyn ObjectStore,
    tool: &str,
    job: &str,
) -> Result<Vec<RunSummary>, StoreError> {
    Ok(JobIndex::load(store, tool, job).await?.runs())
}
