//! Reading and conditionally writing a job's manifest: the write goes
//! through only if the object is still the version read, so that a reader
//! always sees one whole snapshot and two writers never both win.

use afterlog_reader::index::{self, INDEX_VERSION, JobManifest};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};

/// A manifest as read, with what identifies that version.
#[derive(Debug, Clone)]
pub struct Versioned {
    pub manifest: JobManifest,
    /// `None`: no manifest existed.
    pub version: Option<UpdateVersion>,
}

#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("{key}: changed by someone else since it was read")]
    Conflict { key: String },
    #[error("{0}; not touched")]
    Unreadable(index::IndexError),
    #[error(transparent)]
    Store(#[from] object_store::Error),
}

pub async fn read(store: &dyn ObjectStore, key: &str) -> Result<Versioned, MetaError> {
    match store.get(&Path::from(key)).await {
        Ok(g) => {
            let version = UpdateVersion {
                e_tag: g.meta.e_tag.clone(),
                version: g.meta.version.clone(),
            };
            let body = g.bytes().await?;
            let manifest = index::parse_manifest(key, &body).map_err(MetaError::Unreadable)?;
            Ok(Versioned {
                manifest,
                version: Some(version),
            })
        }
        Err(object_store::Error::NotFound { .. }) => Ok(Versioned {
            manifest: JobManifest {
                version: INDEX_VERSION,
                ..JobManifest::default()
            },
            version: None,
        }),
        Err(e) => Err(e.into()),
    }
}

/// Writes `v.manifest` if the stored one is still `v.version` (create-only
/// if there was none). A store without compare-and-swap on existing objects
/// (a local directory) is overwritten: the compactor's lease already makes
/// it the only writer there, and its writes replace the file atomically.
pub async fn write(store: &dyn ObjectStore, key: &str, v: &Versioned) -> Result<(), MetaError> {
    let body = serde_json::to_vec(&v.manifest).unwrap_or_default();
    let mode = match &v.version {
        None => PutMode::Create,
        Some(u) => PutMode::Update(u.clone()),
    };
    if put_if(store, &Path::from(key), body.into(), mode).await? {
        Ok(())
    } else {
        Err(MetaError::Conflict {
            key: key.to_string(),
        })
    }
}

/// Writes `body` if the object is as `mode` expects (absent for `Create`,
/// that version for `Update`): `Ok(false)` when it is not. A store without
/// compare-and-swap on existing objects (a local directory) is overwritten
/// instead: the compactor's lease makes it the only writer there.
pub async fn put_if(
    store: &dyn ObjectStore,
    path: &Path,
    body: bytes::Bytes,
    mode: PutMode,
) -> Result<bool, object_store::Error> {
    let put = |mode| {
        store.put_opts(
            path,
            PutPayload::from(body.clone()),
            PutOptions {
                mode,
                ..PutOptions::default()
            },
        )
    };
    let written = match put(mode).await {
        Err(object_store::Error::NotImplemented { .. }) => put(PutMode::Overwrite).await,
        other => other,
    };
    match written {
        Ok(_) => Ok(true),
        Err(object_store::Error::Precondition { .. })
        | Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}
