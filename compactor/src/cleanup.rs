//! DESIGN §5 step 4 and the collection of what crashes leave: consumed raw
//! objects go once the grace period (longer than any read) has passed, then
//! leave the pending list; merged objects that no meta references (a crash
//! between writing one and referencing it) go once they are old enough that
//! no compaction can still be about to reference them.

use crate::versioned;
use crate::{CompactError, Compactor, Report, delete_if_present};
use afterlog_contract::layout;
use afterlog_reader::job::JobIndex;
use std::collections::HashSet;

pub async fn pod(
    c: &Compactor,
    index: &JobIndex,
    tool: &str,
    job: &str,
    pod: &str,
    report: &mut Report,
) -> Result<(), CompactError> {
    let store = c.store.as_ref();
    let meta_key = layout::meta_key(tool, job, pod);
    let mut v = versioned::read(store, &meta_key).await?;
    let now = c.now();
    let grace = c.config.grace().as_nanos() as u64;
    let due: Vec<String> = v
        .meta
        .consumed
        .iter()
        .filter(|r| r.since_ns.saturating_add(grace) <= now)
        .map(|r| r.key.clone())
        .collect();
    if !due.is_empty() {
        // Never a raw key the meta does not show as covered by a merged
        // object that exists: check before the first deletion.
        let listed: HashSet<&str> = index.objects.iter().map(|l| l.key.as_str()).collect();
        if let Some(missing) = v
            .meta
            .merged
            .iter()
            .find(|m| !listed.contains(m.key.as_str()))
            && !object_exists(c, &missing.key).await?
        {
            tracing::error!(
                tool,
                job,
                pod,
                key = %missing.key,
                "a merged object the meta references is missing; its consumed raw objects are kept"
            );
            report.skipped += 1;
            return Ok(());
        }
        for key in &due {
            if delete_if_present(store, key).await? {
                report.raw_deleted += 1;
                tracing::debug!(key, "deleted consumed raw object");
            }
        }
        v.meta.consumed.retain(|r| !due.contains(&r.key));
        versioned::write(store, &meta_key, &v).await?;
    }

    // Without a meta, "unreferenced" proves nothing: the meta may have been
    // lost, and these merged objects be all that is left of the pod. A crash
    // before a pod's first meta leaves objects that the next pass, merging
    // the same raw objects, writes again under the same keys and references.
    if v.version.is_none() {
        let unreferenced = index
            .objects
            .iter()
            .filter(|l| !l.is_raw() && l.parsed.origin.pod == pod)
            .count();
        if unreferenced > 0 {
            tracing::warn!(
                tool,
                job,
                pod,
                objects = unreferenced,
                "merged objects without a meta are kept, not collected as orphans"
            );
        }
        return Ok(());
    }
    let referenced: HashSet<&str> = v.meta.merged.iter().map(|m| m.key.as_str()).collect();
    let old_enough = (now / 1_000_000_000).saturating_sub(c.config.orphan_age().as_secs()) as i64;
    for l in &index.objects {
        if !l.is_raw()
            && l.parsed.origin.pod == pod
            && !referenced.contains(l.key.as_str())
            && l.modified_secs <= old_enough
            && delete_if_present(store, &l.key).await?
        {
            report.orphans_deleted += 1;
            tracing::info!(key = %l.key, "deleted a merged object no meta references (left by a crash)");
        }
    }
    Ok(())
}

async fn object_exists(c: &Compactor, key: &str) -> Result<bool, CompactError> {
    use object_store::ObjectStoreExt;
    match c.store.head(&object_store::path::Path::from(key)).await {
        Ok(_) => Ok(true),
        Err(object_store::Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
