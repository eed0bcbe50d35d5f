//! What the key listing and a tool's index tell about a tool's jobs and a
//! job's runs, without reading any object.

use super::fetch::fetch;
use super::listing::{Listed, list_objects};
use super::stats::ReadStats;
use super::stores::Stores;
use crate::index::{self, RunStats};
use crate::record::tells_kind;
use crate::store::StoreError;
use afterlog_contract::layout::{self, ObjectKind};
use object_store::ObjectStore;
use std::collections::{BTreeMap, BTreeSet, HashSet};

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
    /// Adds what a chunk in store number `store` holds of run `r`; its
    /// stored bytes are the run's share of the chunk's, at the chunk's
    /// compression `ratio`.
    pub(super) fn add_indexed(&mut self, store: usize, r: &RunStats, ratio: f64) {
        self.pods.insert(r.pod.clone());
        self.containers.extend(r.containers.keys().cloned());
        self.first_ns = Some(self.first_ns.map_or(r.first_ts, |f| f.min(r.first_ts)));
        self.last_ns = Some(self.last_ns.map_or(r.last_ts, |f| f.max(r.last_ts)));
        let bytes = (r.bytes as f64 * ratio).round() as u64;
        self.bytes += bytes;
        *self.store_bytes.entry(store).or_default() += bytes;
        self.objects += 1;
    }

    pub(super) fn add(&mut self, l: &Listed) {
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
            // Lines pushed through the API (pods `@custom`, `@platform`)
            // and Kubernetes events (container `@events`) do not say what
            // kind of job this is: a container's upload does.
            let guessed = |key: &str| {
                layout::parse_object_key(key)
                    .is_ok_and(|k| !tells_kind(&k.origin.pod, &k.origin.container))
            };
            let newer = self.last_upload_secs.is_none_or(|t| l.modified_secs > t);
            let better = match &self.sample {
                None => true,
                Some((k, _)) => {
                    let o = &l.parsed.origin;
                    let (was, is) = (guessed(k), !tells_kind(&o.pod, &o.container));
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
