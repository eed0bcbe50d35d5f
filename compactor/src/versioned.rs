//! Reading and conditionally writing a pod's meta (DESIGN §5 step 3):
//! the write goes through only if the object is still the version read.

use afterlog_reader::meta::{META_VERSION, PodMeta};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};

/// A meta as read, with what identifies that version.
#[derive(Debug, Clone)]
pub struct Versioned {
    pub meta: PodMeta,
    /// `None`: no meta existed.
    pub version: Option<UpdateVersion>,
}

#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("{key}: changed by someone else since it was read")]
    Conflict { key: String },
    #[error("{key}: {source}; not touched")]
    Unreadable {
        key: String,
        source: serde_json::Error,
    },
    #[error("{key}: version {version} not understood; not touched")]
    Version { key: String, version: u32 },
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
            let meta: PodMeta =
                serde_json::from_slice(&body).map_err(|source| MetaError::Unreadable {
                    key: key.to_string(),
                    source,
                })?;
            if meta.version != META_VERSION {
                return Err(MetaError::Version {
                    key: key.to_string(),
                    version: meta.version,
                });
            }
            Ok(Versioned {
                meta,
                version: Some(version),
            })
        }
        Err(object_store::Error::NotFound { .. }) => Ok(Versioned {
            meta: PodMeta {
                version: META_VERSION,
                ..PodMeta::default()
            },
            version: None,
        }),
        Err(e) => Err(e.into()),
    }
}

/// Writes `v.meta` if the stored meta is still `v.version` (create-only if
/// there was none). A store without compare-and-swap on existing objects (a
/// local directory) is overwritten: the compactor's lease already makes
/// it the only writer there.
pub async fn write(store: &dyn ObjectStore, key: &str, v: &Versioned) -> Result<(), MetaError> {
    let body = serde_json::to_vec_pretty(&v.meta).unwrap_or_default();
    let path = Path::from(key);
    let mode = match &v.version {
        None => PutMode::Create,
        Some(u) => PutMode::Update(u.clone()),
    };
    let put = |mode| {
        store.put_opts(
            &path,
            PutPayload::from(body.clone()),
            PutOptions {
                mode,
                ..PutOptions::default()
            },
        )
    };
    match put(mode).await {
        Ok(_) => Ok(()),
        Err(object_store::Error::NotImplemented { .. }) => {
            put(PutMode::Overwrite).await?;
            Ok(())
        }
        Err(object_store::Error::Precondition { .. })
        | Err(object_store::Error::AlreadyExists { .. }) => Err(MetaError::Conflict {
            key: key.to_string(),
        }),
        Err(e) => Err(e.into()),
    }
}

/// Deletes a meta (retention; the lease holder is the only writer).
pub async fn delete(store: &dyn ObjectStore, key: &str) -> Result<(), object_store::Error> {
    match store.delete(&Path::from(key)).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}
