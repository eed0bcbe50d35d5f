//! Deletion requests in the store (docs/design.md §12): listing and reading
//! their documents, writing one once, and counting what a selection holds.

use super::fetch::{fetch, list};
use super::plan::Planned;
use super::reader::JobReader;
use super::snapshot::JobIndex;
use super::stats::ReadStats;
use super::stores::Stores;
use crate::deletion::{Affected, DeletionStatus, Documents, Tombstones};
use crate::selection::Selection;
use crate::store::StoreError;
use afterlog_contract::layout::{self, DeletionPart};
use futures::stream::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, PutMode, PutOptions, PutPayload};
use serde::Serialize;

/// A request as one store holds it. Each store a job is routed to holds
/// its own copy of the job's requests, applied by that store's compactor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDeletion {
    pub store: usize,
    pub status: DeletionStatus,
}

/// What a listing of requests covers.
#[derive(Debug, Clone, Copy)]
pub enum DeletionScope<'a> {
    All,
    Tool(&'a str),
    Job(&'a str, &'a str),
}

impl DeletionScope<'_> {
    fn prefix(&self) -> String {
        match self {
            DeletionScope::All => format!("{}/", layout::DELETIONS),
            DeletionScope::Tool(t) => layout::tool_prefix(layout::DELETIONS, t),
            DeletionScope::Job(t, j) => layout::job_prefix(layout::DELETIONS, t, j),
        }
    }
}

/// Reads every request of `scope` in `store` (number `store_ix` of a read),
/// oldest first. A document that cannot be read is warned about and
/// counted in [`ReadStats::unreadable`]: a request whose own document is
/// unreadable hides nothing, which the warning says.
pub async fn load_deletions(
    store: &dyn ObjectStore,
    store_ix: usize,
    scope: DeletionScope<'_>,
    warnings: &mut Vec<String>,
    stats: &mut ReadStats,
) -> Result<Vec<StoredDeletion>, StoreError> {
    let listed = list(store, &scope.prefix()).await?;
    let keys: Vec<String> = listed.into_iter().map(|m| m.location.to_string()).collect();
    let got: Vec<Result<(String, Option<bytes::Bytes>), StoreError>> = futures::stream::iter(keys)
        .map(|key| async move {
            let body = fetch(store, &key).await?;
            Ok((key, body))
        })
        .buffered(16)
        .collect()
        .await;
    let mut docs = Documents::default();
    for g in got {
        let (key, body) = g?;
        if let Some(body) = body
            && let Err(why) = docs.add(&key, &body)
        {
            stats.foreign_keys += 1;
            warnings.push(why);
        }
    }
    let (statuses, bad) = docs.statuses();
    stats.unreadable += bad.len() as u64;
    warnings.extend(bad);
    Ok(statuses
        .into_iter()
        .map(|status| StoredDeletion {
            store: store_ix,
            status,
        })
        .collect())
}

/// The job's requests of every store, as a read hides them: what a read
/// that does not load the job's index (a follow's next poll) hides.
pub async fn job_hidden(
    stores: &Stores,
    tool: &str,
    job: &str,
    warnings: &mut Vec<String>,
    stats: &mut ReadStats,
) -> Result<Tombstones, StoreError> {
    let mut all = Vec::new();
    for (i, store) in stores.iter().enumerate() {
        all.extend(
            load_deletions(
                store.as_ref(),
                i,
                DeletionScope::Job(tool, job),
                warnings,
                stats,
            )
            .await?,
        );
    }
    let (hidden, bad) = Tombstones::compile(all.iter().map(|d| &d.status), DeletionStatus::hides);
    warnings.extend(bad.iter().map(|id| uncompiled(id)));
    Ok(hidden)
}

/// The warning for a request whose line filter this reader cannot compile.
pub(super) fn uncompiled(id: &str) -> String {
    format!(
        "deletion {id}: its line filter does not compile here; every line of its range is hidden"
    )
}

/// Writes one document of a request if it does not exist yet: `Ok(true)`
/// if this call created it, `Ok(false)` if it was there already (another
/// writer won). Needs a store with create-only PUTs (S3's `If-None-Match`,
/// a hard link on a local directory): each document is written once.
pub async fn create_deletion_doc<T: Serialize>(
    store: &dyn ObjectStore,
    tool: &str,
    job: &str,
    id: &str,
    part: DeletionPart,
    doc: &T,
) -> Result<bool, StoreError> {
    let body = serde_json::to_vec_pretty(doc).map_err(|e| StoreError::Index(e.to_string()))?;
    let key = layout::deletion_key(tool, job, id, part);
    match store
        .put_opts(
            &Path::from(key),
            PutPayload::from(body),
            PutOptions {
                mode: PutMode::Create,
                ..PutOptions::default()
            },
        )
        .await
    {
        Ok(_) => Ok(true),
        Err(object_store::Error::AlreadyExists { .. })
        | Err(object_store::Error::Precondition { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Counts what `selection` holds of the job `index` lists: lines each once
/// (as a read returns them) with their text's bytes, and the stored
/// objects holding any. Only `selection.hidden` is hidden, not the
/// index's requests: the caller says which requests stand.
pub async fn count_affected(
    stores: impl Into<Stores>,
    index: &JobIndex,
    selection: Selection,
) -> Result<Affected, StoreError> {
    let stores = stores.into();
    let mut affected = Affected::default();
    let mut rd = JobReader::exactly(stores.clone(), index, selection.clone());
    while let Some(r) = rd.next().await? {
        affected.lines += 1;
        affected.bytes += r.log_len as u64;
    }
    if affected.lines == 0 {
        return Ok(affected);
    }
    let planned: Vec<Planned> = index.plan(&selection).objects;
    let held: Vec<Result<bool, StoreError>> = futures::stream::iter(planned)
        .map(|p| {
            let (stores, selection) = (stores.clone(), selection.clone());
            async move {
                let mut one = JobReader::over_planned(stores, vec![p], selection);
                Ok(one.next().await?.is_some())
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    for h in held {
        affected.objects += u64::from(h?);
    }
    Ok(affected)
}
