//! Deletion requests in the store (docs/design.md §12): listing and reading
//! their documents, writing one once, and counting what a selection holds.

use super::fetch::{fetch, list};
use super::plan::Planned;
use super::reader::JobReader;
use super::snapshot::JobIndex;
use super::stats::ReadStats;
use super::stores::Stores;
use crate::deletion::{
    Affected, DELETION_VERSION, Decision, DeletionRequest, DeletionStatus, Outcome,
};
use crate::selection::Selection;
use crate::store::StoreError;
use afterlog_contract::keys;
use afterlog_contract::layout::{self, DeletionPart};
use futures::stream::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, PutMode, PutOptions, PutPayload};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;

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
    let mut parts: BTreeMap<(String, String, String), Vec<(DeletionPart, String)>> =
        BTreeMap::new();
    for m in listed {
        let key = m.location.to_string();
        match parse_key(&key) {
            Some((tool, job, id, part)) => {
                parts.entry((id, tool, job)).or_default().push((part, key))
            }
            None => {
                stats.foreign_keys += 1;
                warnings.push(format!("{key}: not a deletion request's document; ignored"));
            }
        }
    }
    let got: Vec<_> = futures::stream::iter(parts)
        .map(|((id, tool, job), docs)| async move {
            let mut status = Loaded::default();
            for (part, key) in docs {
                let body = fetch(store, &key).await?;
                status.put(part, key, body);
            }
            Ok::<_, StoreError>((id, tool, job, status))
        })
        .buffered(16)
        .collect()
        .await;
    let mut out = Vec::new();
    for g in got {
        let (id, tool, job, loaded) = g?;
        match loaded.status(&id, &tool, &job) {
            Ok(status) => out.push(StoredDeletion {
                store: store_ix,
                status,
            }),
            Err(why) => {
                stats.unreadable += 1;
                warnings.push(why);
            }
        }
    }
    Ok(out)
}

/// The bodies of one request's documents, as fetched.
#[derive(Default)]
struct Loaded {
    request: Option<(String, Option<bytes::Bytes>)>,
    decision: Option<(String, Option<bytes::Bytes>)>,
    rewritten: Option<(String, Option<bytes::Bytes>)>,
    applied: Option<(String, Option<bytes::Bytes>)>,
}

impl Loaded {
    fn put(&mut self, part: DeletionPart, key: String, body: Option<bytes::Bytes>) {
        let slot = match part {
            DeletionPart::Request => &mut self.request,
            DeletionPart::Decision => &mut self.decision,
            DeletionPart::Rewritten => &mut self.rewritten,
            DeletionPart::Applied => &mut self.applied,
        };
        *slot = Some((key, body));
    }

    fn status(self, id: &str, tool: &str, job: &str) -> Result<DeletionStatus, String> {
        let Some((key, body)) = self.request else {
            return Err(format!(
                "deletion {id} of {tool}/{job}: documents without the request; ignored"
            ));
        };
        let request: DeletionRequest =
            parse(&key, body)?.ok_or_else(|| format!("{key}: gone while read"))?;
        if request.id != id || request.tool != tool || request.job != job {
            return Err(format!("{key}: names another request; it hides nothing"));
        }
        let decision: Option<Decision> = parse_opt(self.decision)?;
        let rewritten: Option<Outcome> = parse_opt(self.rewritten)?;
        let applied: Option<Outcome> = parse_opt(self.applied)?;
        Ok(DeletionStatus {
            request,
            decision,
            rewritten,
            applied,
        })
    }
}

fn parse_opt<T: DeserializeOwned + Versioned>(
    slot: Option<(String, Option<bytes::Bytes>)>,
) -> Result<Option<T>, String> {
    match slot {
        None => Ok(None),
        Some((key, body)) => parse(&key, body),
    }
}

fn parse<T: DeserializeOwned + Versioned>(
    key: &str,
    body: Option<bytes::Bytes>,
) -> Result<Option<T>, String> {
    let Some(body) = body else {
        return Ok(None);
    };
    let doc: T = serde_json::from_slice(&body).map_err(|e| format!("{key}: {e}; ignored"))?;
    if doc.version() != DELETION_VERSION {
        return Err(format!(
            "{key}: version {} not understood; ignored",
            doc.version()
        ));
    }
    Ok(Some(doc))
}

trait Versioned {
    fn version(&self) -> u32;
}

impl Versioned for DeletionRequest {
    fn version(&self) -> u32 {
        self.version
    }
}
impl Versioned for Decision {
    fn version(&self) -> u32 {
        self.version
    }
}
impl Versioned for Outcome {
    fn version(&self) -> u32 {
        self.version
    }
}

/// `deletions/<tool>/<job>/<file>` → its decoded names, id and part.
fn parse_key(key: &str) -> Option<(String, String, String, DeletionPart)> {
    let rest = key.strip_prefix(layout::DELETIONS)?.strip_prefix('/')?;
    let mut it = rest.split('/');
    let (tool, job, file) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() {
        return None;
    }
    let (id, part) = layout::parse_deletion_file(file)?;
    Some((
        keys::decode(tool).ok()?,
        keys::decode(job).ok()?,
        id.to_string(),
        part,
    ))
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
