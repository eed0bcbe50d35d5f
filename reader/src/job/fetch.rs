//! The object store's listing and GETs, with a missing object an answer
//! (`None`, empty) rather than an error.

use crate::store::StoreError;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

pub(super) fn is_not_found(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::NotFound { .. })
}

/// Lists every object under `prefix`; a prefix with nothing under it is empty.
pub(super) async fn list(
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
pub(super) async fn fetch(
    store: &dyn ObjectStore,
    key: &str,
) -> Result<Option<bytes::Bytes>, StoreError> {
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
pub(super) async fn fetch_range(
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
