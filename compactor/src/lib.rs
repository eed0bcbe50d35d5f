//! The compactor: merges each job's settled raw objects, across its runs,
//! into sorted, deduplicated chunks and keeps the job's index (see
//! `afterlog_reader::index`), deletes what is merged once no read can need
//! it, keeps each tool within its retention limits, and writes each tool's
//! index — so that a crash at any step loses, duplicates or reorders
//! nothing. Jobs still in the per-pod layout are migrated on the way.
//!
//! Reading goes through `afterlog-reader` (the same merge that serves
//! logs); this crate only decides what to merge, writes, and deletes.

pub mod cleanup;
pub mod compact;
pub mod config;
pub mod deletion;
pub mod lease;
pub mod retention;
pub mod status;
pub mod versioned;

pub use config::{ClassRetention, Config, DEFAULT_CLASS, Limits, Retention};
pub use lease::{Lease, LeaseError};

use afterlog_contract::keys;
use afterlog_contract::layout;
use afterlog_reader::index::{INDEX_VERSION, ToolIndex};
use afterlog_reader::{Store, StoreError};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum CompactError {
    #[error(transparent)]
    Lease(#[from] LeaseError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    ObjectStore(#[from] object_store::Error),
    #[error(transparent)]
    Meta(#[from] versioned::MetaError),
}

/// What a pass did. Kept in the status object ([`status`]): a field added
/// later reads as zero from an older one.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Report {
    pub tools: u64,
    pub jobs: u64,
    /// Jobs whose index a merge updated.
    pub jobs_merged: u64,
    pub raw_read: u64,
    pub bytes_read: u64,
    pub records_written: u64,
    pub data_written: u64,
    pub bytes_written: u64,
    pub raw_deleted: u64,
    pub orphans_deleted: u64,
    pub runs_expired: u64,
    pub objects_expired: u64,
    pub bytes_expired: u64,
    /// Damaged lines or objects met while merging (their readable part is kept).
    pub damaged: u64,
    /// Jobs left alone this pass (a conflicting or unreadable manifest, a
    /// chunk the index names missing at cleanup).
    pub skipped: u64,
    /// Keys under a job's prefixes that are not in the layout: never merged.
    pub foreign_keys: u64,
    /// Metas and raw objects' first records that could not be read (a raw
    /// object is then merged unplaced, a meta ignored).
    pub unreadable: u64,
    /// Objects listed for a merge but gone when fetched.
    pub vanished: u64,
    /// Times a merge's input came out of order (a chunk not sorted, a
    /// node's clock stepped back).
    pub out_of_order: u64,
    /// Old lease epochs whose deletion failed.
    pub lease_prunes_failed: u64,
    /// Deletion requests taken (decision `apply` written) this pass.
    pub deletions_decided: u64,
    /// Deletion requests whose objects were rewritten this pass.
    pub deletions_rewritten: u64,
    /// Deletion requests marked applied this pass.
    pub deletions_applied: u64,
    /// Lines and bytes (of `log` text) the rewrites of this pass removed.
    pub deletion_lines_removed: u64,
    pub deletion_bytes_removed: u64,
    /// The pass was asked to stop and did, between two jobs: the rest waits
    /// for the next pass.
    pub stopped: bool,
    pub seconds: f64,
    /// Why the pass's status object could not be written, if it could not
    /// (the pass itself went as the rest of the report says).
    #[serde(skip)]
    pub status_error: Option<String>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} tools, {} jobs: merged {} jobs ({} objects, {} bytes read) into {} chunks ({} records, {} bytes); \
             deleted {} consumed and {} orphaned objects; retention removed {} runs ({} objects, {} bytes); \
             {} damaged, {} skipped, {} foreign keys, {} unreadable, {} vanished, {} out of order, \
             {} lease prunes failed; deletion requests: {} decided, {} rewritten ({} lines, {} bytes removed), \
             {} applied; {:.1} s{}",
            self.tools,
            self.jobs,
            self.jobs_merged,
            self.raw_read,
            self.bytes_read,
            self.data_written,
            self.records_written,
            self.bytes_written,
            self.raw_deleted,
            self.orphans_deleted,
            self.runs_expired,
            self.objects_expired,
            self.bytes_expired,
            self.damaged,
            self.skipped,
            self.foreign_keys,
            self.unreadable,
            self.vanished,
            self.out_of_order,
            self.lease_prunes_failed,
            self.deletions_decided,
            self.deletions_rewritten,
            self.deletion_lines_removed,
            self.deletion_bytes_removed,
            self.deletions_applied,
            self.seconds,
            if self.stopped { "; stopped early" } else { "" }
        )?;
        if let Some(e) = &self.status_error {
            write!(f, "; status not written: {e}")?;
        }
        Ok(())
    }
}

/// A compactor: who it is (for the lease), where, how, and its clock.
///
/// It works on one store, the store of one routing class: each class's
/// store has its own lease, raw objects, job indexes and retention, so the
/// stores of several classes are compacted independently, one `Compactor`
/// each.
pub struct Compactor {
    pub store: Store,
    /// The routing class `store` holds: picks its retention limits.
    pub class: String,
    pub config: Config,
    pub holder: String,
    /// ns since the epoch; tests move time forward.
    pub clock: fn() -> u64,
    /// Set to end a pass at its next safe point (between two jobs, where
    /// every index is whole); a shutting-down service sets it.
    pub stop: Arc<AtomicBool>,
}

pub fn system_clock() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// A name for this process in the lease: host, pid and a random part.
pub fn holder_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into());
    format!(
        "{host}/{}/{:08x}",
        std::process::id(),
        system_clock() as u32
    )
}

/// Where tools and jobs have objects: the per-pod layout's tops too, until
/// every job is migrated.
const TOPS: [&str; 5] = [
    layout::RAW,
    layout::CHUNKS,
    layout::INDEX,
    layout::DATA,
    layout::META,
];

fn expired(r: &Report) -> u64 {
    r.runs_expired + r.objects_expired
}

/// The decoded names directly under `prefix` (`raw/`, `raw/<tool>/`, …).
pub(crate) async fn names_under(
    store: &dyn ObjectStore,
    prefix: &str,
) -> Result<BTreeSet<String>, CompactError> {
    let listed = match store.list_with_delimiter(Some(&Path::from(prefix))).await {
        Ok(l) => l,
        Err(object_store::Error::NotFound { .. }) => return Ok(BTreeSet::new()),
        Err(e) => return Err(e.into()),
    };
    Ok(listed
        .common_prefixes
        .iter()
        .filter_map(|p| p.filename())
        .filter_map(|n| keys::decode(n).ok())
        .collect())
}

/// Writes a tool's index if it changed. Only the lease holder writes it,
/// and a reader takes it as a summary (what it lacks, the listing of raw
/// objects shows), so a plain PUT will do.
async fn write_tool_index(
    store: &dyn ObjectStore,
    tool: &str,
    summaries: &ToolIndex,
) -> Result<(), CompactError> {
    let key = Path::from(layout::tool_index_key(tool));
    let body = serde_json::to_vec(summaries).unwrap_or_default();
    let exists = match store.get(&key).await {
        Ok(g) => {
            if g.bytes().await? == body {
                return Ok(());
            }
            true
        }
        Err(object_store::Error::NotFound { .. }) => false,
        Err(e) => return Err(e.into()),
    };
    if summaries.jobs.is_empty() {
        if exists {
            delete_if_present(store, key.as_ref()).await?;
        }
        return Ok(());
    }
    store.put(&key, PutPayload::from(body)).await?;
    Ok(())
}

pub(crate) async fn delete_if_present(
    store: &dyn ObjectStore,
    key: &str,
) -> Result<bool, object_store::Error> {
    match store.delete(&Path::from(key)).await {
        Ok(()) => Ok(true),
        Err(object_store::Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

impl Compactor {
    /// A compactor of the `default` class's store.
    pub fn new(store: Store, config: Config) -> Compactor {
        Self::for_class(DEFAULT_CLASS, store, config)
    }

    /// A compactor of the store of routing class `class`.
    pub fn for_class(class: &str, store: Store, config: Config) -> Compactor {
        Compactor {
            store,
            class: class.to_string(),
            config,
            holder: holder_name(),
            clock: system_clock,
            stop: Arc::default(),
        }
    }

    fn now(&self) -> u64 {
        (self.clock)()
    }

    /// One pass over every tool: merging and cleanup per job, then the
    /// tool's retention. Takes the lease first (`LeaseError::Held` if another compactor
    /// is at work) and gives it back at the end. The pass is recorded in
    /// the store's status object ([`status`]) unless the lease was held.
    pub async fn pass(&self) -> Result<Report, CompactError> {
        let started = Instant::now();
        let started_ns = self.now();
        let store = self.store.as_ref();
        let mut report = Report::default();
        let acquired = Lease::acquire(
            store,
            &self.holder,
            self.config.lease_ttl().as_nanos() as u64,
            self.now(),
            self.config.lease_settle(),
        )
        .await;
        let (lease, result) = match acquired {
            Err(e @ LeaseError::Held { .. }) => return Err(e.into()),
            Err(e) => (None, Err(CompactError::from(e))),
            Ok(mut lease) => {
                let result = self.pass_with(&mut lease, &mut report).await;
                report.lease_prunes_failed = lease.prune_failures;
                (Some(lease), result)
            }
        };
        report.seconds = started.elapsed().as_secs_f64();
        // Before the lease is given back, so that the next holder's pass
        // comes after this one's in the status.
        self.record(started_ns, &result, &mut report).await;
        // Given back only after a clean pass: after a failure the next
        // compactor waits for the lease to expire, as after a crash.
        if let (Ok(()), Some(lease)) = (&result, lease) {
            lease.release(store).await?;
        }
        result.map(|()| report)
    }

    /// Records the pass in the store's status object; a failure to is
    /// logged and told in the report, not the pass's failure.
    async fn record(
        &self,
        started_ns: u64,
        result: &Result<(), CompactError>,
        report: &mut Report,
    ) {
        let pass = status::Pass {
            holder: self.holder.clone(),
            started_ns,
            ended_ns: self.now().max(started_ns),
            result: match result {
                Ok(()) if report.stopped => status::PassResult::Stopped,
                Ok(()) => status::PassResult::Ok,
                Err(_) => status::PassResult::Error,
            },
            error: result.as_ref().err().map(|e| e.to_string()),
            report: report.clone(),
        };
        match status::record(self.store.as_ref(), &self.class, pass).await {
            Ok(Some(_)) => {}
            Ok(None) => tracing::info!(
                class = %self.class,
                "compaction status not written: another compactor wrote a newer one"
            ),
            Err(e) => {
                tracing::warn!(class = %self.class, "compaction status not written: {e}");
                report.status_error = Some(e.to_string());
            }
        }
    }

    async fn pass_with(&self, lease: &mut Lease, report: &mut Report) -> Result<(), CompactError> {
        let store = self.store.as_ref();
        let mut tools = BTreeSet::new();
        for top in TOPS {
            tools.extend(names_under(store, &format!("{top}/")).await?);
        }
        let mut last_progress = Instant::now();
        for (i, tool) in tools.iter().enumerate() {
            report.tools += 1;
            lease.keep(store, self.now()).await?;
            let mut jobs = BTreeSet::new();
            for top in TOPS {
                jobs.extend(names_under(store, &layout::tool_prefix(top, tool)).await?);
            }
            let mut summaries = ToolIndex {
                version: INDEX_VERSION,
                ..ToolIndex::default()
            };
            for job in &jobs {
                if self.stop.load(Ordering::Relaxed) {
                    // The tool index is left as it was: it would miss the
                    // jobs not summed up yet. The next pass rewrites it.
                    report.stopped = true;
                    return Ok(());
                }
                report.jobs += 1;
                if let Some(s) = compact::job(self, lease, tool, job, report).await? {
                    summaries.jobs.insert(job.clone(), s);
                }
                if last_progress.elapsed().as_secs() >= 10 {
                    last_progress = Instant::now();
                    tracing::info!(
                        class = %self.class,
                        tool,
                        done = i,
                        of = tools.len(),
                        "compaction in progress: {report}"
                    );
                }
            }
            // After merging, so that retention sees every job's index.
            lease.keep(store, self.now()).await?;
            let expired = expired(report);
            retention::apply(self, lease, tool, report).await?;
            if crate::expired(report) != expired {
                for job in &jobs {
                    let v = versioned::read(store, &layout::manifest_key(tool, job)).await?;
                    if let Some(s) = compact::summary(&v) {
                        summaries.jobs.insert(job.clone(), s);
                    }
                }
            }
            write_tool_index(store, tool, &summaries).await?;
        }
        Ok(())
    }
}
