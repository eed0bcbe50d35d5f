//! Stores for tests — a local directory, or a prefix of the test S3 server —
//! and what tests do to one directly: write an object, list keys.

use crate::{KEY, REGION, S3Server, SECRET};
use afterlog_reader::{Store, StoreConfig, open};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};

/// The local directory `dir` as a store (created if missing).
pub fn file_store(dir: &std::path::Path) -> Store {
    open(&StoreConfig::new(format!("file://{}", dir.display())))
        .unwrap_or_else(|e| panic!("opening {}: {e}", dir.display()))
}

impl S3Server {
    /// How to reach `url` (`s3://bucket[/prefix]`) on this server.
    pub fn store_config(&self, url: &str) -> StoreConfig {
        StoreConfig {
            endpoint: Some(self.endpoint()),
            region: Some(REGION.into()),
            allow_http: true,
            access_key_id: Some(KEY.into()),
            secret_access_key: Some(SECRET.into()),
            ..StoreConfig::new(url)
        }
    }

    /// `url` (`s3://bucket[/prefix]`) on this server, as a store.
    pub fn store(&self, url: &str) -> Store {
        open(&self.store_config(url)).unwrap_or_else(|e| panic!("opening {url}: {e}"))
    }
}

/// Writes `body` under `key`.
pub async fn put(store: &Store, key: &str, body: Vec<u8>) {
    store
        .put(&Path::from(key), PutPayload::from(body))
        .await
        .unwrap_or_else(|e| panic!("PUT {key}: {e}"));
}

/// The keys under `top/` (none where the store cannot list them).
pub async fn keys(store: &Store, top: &str) -> Vec<String> {
    store
        .list(Some(&Path::from(top)))
        .map_ok(|m| m.location.to_string())
        .try_collect::<Vec<_>>()
        .await
        .unwrap_or_default()
}
