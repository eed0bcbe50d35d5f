//! Opening the object store (the I/O edge): `file:///abs/path` for a local
//! directory, or `s3://bucket/prefix` for S3 and S3-compatible servers.

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::prefix::PrefixStore;
use std::sync::Arc;
use thiserror::Error;

/// Why a store could not be opened or read.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("store URL {0:?}: expected file:///absolute/path or s3://bucket[/prefix]")]
    Url(String),
    #[error("cannot create directory {path:?}: {source}")]
    CreateDir {
        path: String,
        source: std::io::Error,
    },
    #[error("S3 store {url:?} needs {what} (set it in the config or {env})")]
    Missing {
        url: String,
        what: &'static str,
        env: &'static str,
    },
    #[error(transparent)]
    ObjectStore(#[from] object_store::Error),
    #[error("a read task failed: {0}")]
    Task(String),
    /// The job index cannot be used: its reads would be wrong, not partial.
    #[error("job index: {0}")]
    Index(String),
    /// An object of a read names a store the read was not given: an index
    /// loaded from other stores than it is read from.
    #[error("store number {0} is not among the read's stores")]
    NoStore(usize),
}

/// Where the logs are stored. Unset S3 fields fall back to the environment:
/// `AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`.
#[derive(Debug, Clone, Default)]
pub struct StoreConfig {
    /// `file:///abs/path` or `s3://bucket[/prefix]`.
    pub url: String,
    /// e.g. `http://127.0.0.1:9000`; unset means AWS.
    pub endpoint: Option<String>,
    /// Defaults to `us-east-1`.
    pub region: Option<String>,
    /// Path-style requests (`endpoint/bucket/key`), as most S3-compatible
    /// servers want; otherwise virtual-hosted style.
    pub path_style: bool,
    /// Allow a plain-HTTP endpoint (local test servers).
    pub allow_http: bool,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

impl StoreConfig {
    /// A config for `url` with path-style requests and nothing else set.
    pub fn new(url: impl Into<String>) -> Self {
        StoreConfig {
            url: url.into(),
            path_style: true,
            ..StoreConfig::default()
        }
    }
}

/// The store as the reader uses it: keys relative to the configured prefix.
pub type Store = Arc<dyn ObjectStore>;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Opens the store `cfg.url` names. A local directory is created if missing.
pub fn open(cfg: &StoreConfig) -> Result<Store, StoreError> {
    let url = cfg.url.as_str();
    if let Some(path) = url.strip_prefix("file://") {
        if !path.starts_with('/') {
            return Err(StoreError::Url(url.to_string()));
        }
        std::fs::create_dir_all(path).map_err(|source| StoreError::CreateDir {
            path: path.to_string(),
            source,
        })?;
        return Ok(Arc::new(LocalFileSystem::new_with_prefix(path)?));
    }
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| StoreError::Url(url.to_string()))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(StoreError::Url(url.to_string()));
    }
    let missing = |what, env| StoreError::Missing {
        url: url.to_string(),
        what,
        env,
    };
    let key_id = cfg
        .access_key_id
        .clone()
        .or_else(|| env("AWS_ACCESS_KEY_ID"))
        .ok_or_else(|| missing("an access key id", "AWS_ACCESS_KEY_ID"))?;
    let secret = cfg
        .secret_access_key
        .clone()
        .or_else(|| env("AWS_SECRET_ACCESS_KEY"))
        .ok_or_else(|| missing("a secret access key", "AWS_SECRET_ACCESS_KEY"))?;
    let region = cfg
        .region
        .clone()
        .or_else(|| env("AWS_REGION"))
        .unwrap_or_else(|| "us-east-1".to_string());
    let mut b = AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_region(region)
        .with_access_key_id(key_id)
        .with_secret_access_key(secret)
        .with_virtual_hosted_style_request(!cfg.path_style)
        .with_allow_http(cfg.allow_http);
    if let Some(endpoint) = cfg.endpoint.clone().or_else(|| env("AWS_ENDPOINT_URL")) {
        b = b.with_endpoint(endpoint);
    }
    let s3 = b.build()?;
    let prefix = prefix.trim_matches('/');
    Ok(if prefix.is_empty() {
        Arc::new(s3)
    } else {
        Arc::new(PrefixStore::new(s3, prefix))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_urls() {
        for u in ["", "file://rel/path", "s3://", "http://x/y", "/abs"] {
            assert!(
                matches!(open(&StoreConfig::new(u)), Err(StoreError::Url(_))),
                "{u}"
            );
        }
    }

    #[test]
    fn opens_s3_with_explicit_credentials() {
        let cfg = StoreConfig {
            endpoint: Some("http://127.0.0.1:1".into()),
            allow_http: true,
            access_key_id: Some("k".into()),
            secret_access_key: Some("s".into()),
            ..StoreConfig::new("s3://bucket/some/prefix")
        };
        open(&cfg).unwrap();
    }
}
