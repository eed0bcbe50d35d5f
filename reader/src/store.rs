//! Opening the object store (the I/O edge): `file:///abs/path` for a local
//! directory, or `s3://bucket/prefix` for S3 and S3-compatible servers.

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::prefix::PrefixStore;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};
use std::sync::Arc;
use std::time::Duration;
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
    /// A time limit of [`StoreConfig`] that would fail every request.
    #[error("store setting {what} must be more than zero")]
    ZeroTimeout { what: &'static str },
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
    /// How long one attempt of a request may take, from connecting until
    /// the last byte of the response body; [`DEFAULT_TIMEOUT`] if unset.
    /// S3 only, as are the three below.
    pub timeout: Option<Duration>,
    /// How long connecting may take; [`DEFAULT_CONNECT_TIMEOUT`] if unset.
    pub connect_timeout: Option<Duration>,
    /// Attempts after the first; [`DEFAULT_RETRIES`] if unset, 0 for none.
    pub retries: Option<usize>,
    /// No retry starts once this long has passed since a request's first
    /// attempt; [`DEFAULT_RETRY_TIMEOUT`] if unset.
    pub retry_timeout: Option<Duration>,
}

// What object_store (0.14) does, which these defaults build on:
//
// - The timeout is reqwest's deadline for the whole request: it runs from
//   connecting until the response body's last byte, so it covers a server
//   that never answers and one that stops halfway through a body alike. A
//   request that outlives it fails with a timeout error; a GET whose body
//   stalls gets the error from the body stream.
// - Retried, with backoff: connection failures and requests never sent,
//   whatever the method; timeouts and resets only for requests safe to
//   repeat — GET, HEAD, LIST, and those object_store marks idempotent on
//   S3 (plain PUTs, upload parts, copies), not deletes nor a conditional
//   create (the compactor's lease), whose outcome a timeout leaves
//   unknown; 5xx, 429 and 408 answers. Other answers (404, 403, 412…) are
//   returned at once.
// - A GET whose body fails midway is resumed by object_store itself: it
//   asks for the rest with a range GET, checks the ETag is still the same
//   object's, and goes on streaming. The resumption spends the same
//   retries and retry timeout as the request's first answer did, so one
//   call to the store is bounded as a whole, body included.
// - `retry_timeout` is looked at only before a retry: a call gives up at
//   the latest about `retry_timeout + timeout` plus one backoff after it
//   started, or after `retries + 1` attempts if that comes first.
// - Its own defaults are 30 s per attempt, 5 s to connect, 10 retries and
//   a 3-minute retry timeout, backoff from 100 ms doubling (randomised) up
//   to 15 s: a store that hangs holds a call for over 3 minutes (six
//   attempts of 30 s).
//
// Here a read answers a person or a gateway that stops waiting after a
// minute or so, and a read makes several calls in a row (listing, metas,
// objects): a hung store must fail a call within about a minute, so that
// the read returns an error while someone still waits for it.
//
// - 30 s per attempt (object_store's): the largest objects (the
//   compactor's merged chunks, a few MiB compressed) are fetched in one
//   attempt at 0.5 MB/s, and a GET that is slower still is resumed, not
//   restarted.
// - 5 s to connect (object_store's): a connection is quick or not coming.
// - 3 retries: failures that come fast (a reset, a refused connection, a
//   503 from a restarting gateway) are retried within a second, and a
//   store that fails everything is sent each request four times, not
//   eleven, by each of many readers.
// - 60 s retry timeout: a store that hangs fails a call after two
//   attempts of 30 s (about a minute) rather than four.
// - Backoff from 100 ms, doubling (randomised), at most 5 s: 3 retries
//   wait under a second in all; raised retries still fit the retry
//   timeout with several tries.

/// [`StoreConfig::timeout`] unset.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// [`StoreConfig::connect_timeout`] unset.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// [`StoreConfig::retries`] unset.
pub const DEFAULT_RETRIES: usize = 3;
/// [`StoreConfig::retry_timeout`] unset.
pub const DEFAULT_RETRY_TIMEOUT: Duration = Duration::from_secs(60);

impl StoreConfig {
    /// A config for `url` with path-style requests and nothing else set.
    pub fn new(url: impl Into<String>) -> Self {
        StoreConfig {
            url: url.into(),
            path_style: true,
            ..StoreConfig::default()
        }
    }

    /// The HTTP client's time limits and whether plain HTTP is allowed.
    fn client_options(&self) -> Result<ClientOptions, StoreError> {
        let timeout = positive("timeout", self.timeout.unwrap_or(DEFAULT_TIMEOUT))?;
        let connect = positive(
            "connect_timeout",
            self.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
        )?;
        Ok(ClientOptions::new()
            .with_allow_http(self.allow_http)
            .with_timeout(timeout)
            .with_connect_timeout(connect))
    }

    /// How object_store retries a failed request.
    fn retry_config(&self) -> Result<RetryConfig, StoreError> {
        Ok(RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(5),
                base: 2.0,
            },
            max_retries: self.retries.unwrap_or(DEFAULT_RETRIES),
            retry_timeout: positive(
                "retry_timeout",
                self.retry_timeout.unwrap_or(DEFAULT_RETRY_TIMEOUT),
            )?,
        })
    }
}

fn positive(what: &'static str, d: Duration) -> Result<Duration, StoreError> {
    if d.is_zero() {
        Err(StoreError::ZeroTimeout { what })
    } else {
        Ok(d)
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
        .with_client_options(cfg.client_options()?)
        .with_retry(cfg.retry_config()?);
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

    /// An S3 store at `url` with explicit credentials and a local endpoint.
    fn s3_config(url: &str) -> StoreConfig {
        StoreConfig {
            endpoint: Some("http://127.0.0.1:1".into()),
            allow_http: true,
            access_key_id: Some("k".into()),
            secret_access_key: Some("s".into()),
            ..StoreConfig::new(url)
        }
    }

    #[test]
    fn opens_s3_with_explicit_credentials() {
        open(&s3_config("s3://bucket/some/prefix")).unwrap();
    }

    #[test]
    fn rejects_zero_time_limits() {
        let s3 = s3_config("s3://bucket");
        let zero = Some(Duration::ZERO);
        for (cfg, name) in [
            (
                StoreConfig {
                    timeout: zero,
                    ..s3.clone()
                },
                "timeout",
            ),
            (
                StoreConfig {
                    connect_timeout: zero,
                    ..s3.clone()
                },
                "connect_timeout",
            ),
            (
                StoreConfig {
                    retry_timeout: zero,
                    ..s3.clone()
                },
                "retry_timeout",
            ),
        ] {
            match open(&cfg) {
                Err(StoreError::ZeroTimeout { what }) => assert_eq!(what, name),
                other => panic!("{name}: {other:?}"),
            }
        }
        // No retries at all is a choice, not a mistake.
        open(&StoreConfig {
            retries: Some(0),
            ..s3
        })
        .unwrap();
    }
}
