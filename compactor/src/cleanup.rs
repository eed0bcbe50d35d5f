//! Step 4 of compaction and the collection of what crashes leave: what a
//! job's manifest lists as consumed goes once the grace period (longer than
//! any read) has passed, then leaves the list; chunks and periods that no
//! manifest names (a crash between writing one and naming it) go once they
//! are old enough that no compaction can still be about to name them.

use crate::versioned;
use crate::{CompactError, Compactor, Report, delete_if_present};
use afterlog_contract::layout;
use afterlog_reader::index::ToolJob;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore};
use std::collections::HashSet;

async fn list(store: &dyn ObjectStore, prefix: &str) -> Result<Vec<ObjectMeta>, CompactError> {
    match store.list(Some(&Path::from(prefix))).try_collect().await {
        Ok(v) => Ok(v),
        Err(object_store::Error::NotFound { .. }) => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

/// Cleans up a job; returns its summary for the tool's index (`None`
/// without a manifest: the job is not compacted yet).
pub async fn job(
    c: &Compactor,
    tool: &str,
    job: &str,
    report: &mut Report,
) -> Result<Option<ToolJob>, CompactError> {
    let store = c.store.as_ref();
    let manifest_key = layout::manifest_key(tool, job);
    let mut v = versioned::read(store, &manifest_key).await?;
    if v.version.is_none() {
        return Ok(None);
    }
    let now = c.now();
    let grace = c.config.grace().as_nanos() as u64;
    let chunks = list(store, &layout::job_prefix(layout::CHUNKS, tool, job)).await?;
    let named: HashSet<&str> = v
        .manifest
        .periods
        .iter()
        .flat_map(|p| p.chunks.iter().map(String::as_str))
        .collect();
    let due: Vec<String> = v
        .manifest
        .consumed
        .iter()
        .filter(|r| r.since_ns.saturating_add(grace) <= now)
        .map(|r| r.key.clone())
        .collect();
    if !due.is_empty() {
        // Never a key the manifest lists as consumed while a chunk it names
        // is missing: check before the first deletion.
        let present: HashSet<String> = chunks.iter().map(|m| m.location.to_string()).collect();
        if let Some(missing) = named.iter().find(|k| !present.contains(**k)) {
            tracing::error!(
                tool,
                job,
                key = %missing,
                "a chunk the job's index names is missing; what it consumed is kept"
            );
            report.skipped += 1;
            return Ok(Some(ToolJob::of(&v.manifest)));
        }
        for key in &due {
            if delete_if_present(store, key).await? {
                report.raw_deleted += 1;
                tracing::debug!(key, "deleted a consumed object");
            }
        }
        let due: HashSet<&String> = due.iter().collect();
        v.manifest.consumed.retain(|r| !due.contains(&r.key));
        versioned::write(store, &manifest_key, &v).await?;
    }

    // Chunks and periods neither named nor waiting for deletion: left by a
    // crash before the manifest named them. A rerun of the same merge
    // rewrites the same chunk keys (fresh), so only old ones go.
    // Consumed keys deleted just now were listed before: not orphans (a
    // DELETE of a missing key succeeds on S3, so it would count them).
    let consumed: HashSet<&str> = v
        .manifest
        .consumed
        .iter()
        .map(|r| r.key.as_str())
        .chain(due.iter().map(String::as_str))
        .collect();
    let periods: HashSet<&str> = v.manifest.periods.iter().map(|p| p.key.as_str()).collect();
    let old_enough = (now / 1_000_000_000).saturating_sub(c.config.orphan_age().as_secs()) as i64;
    let index_prefix = format!(
        "{}{}",
        layout::tool_prefix(layout::INDEX, tool),
        afterlog_contract::keys::encode(job)
    );
    let period_files = list(store, &format!("{index_prefix}/")).await?;
    for m in chunks.iter().chain(&period_files) {
        let key = m.location.to_string();
        if !named.contains(key.as_str())
            && !periods.contains(key.as_str())
            && !consumed.contains(key.as_str())
            && m.last_modified.timestamp() <= old_enough
            && delete_if_present(store, &key).await?
        {
            report.orphans_deleted += 1;
            tracing::info!(
                key,
                "deleted an object no job index names (left by a crash)"
            );
        }
    }
    Ok(Some(ToolJob::of(&v.manifest)))
}
