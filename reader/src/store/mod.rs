//! Opening the object store (the I/O edge): `file:///abs/path` for a local
//! directory, `s3://bucket/prefix` for S3 and S3-compatible servers,
//! `gs://bucket/prefix` for Google Cloud Storage and `az://container/prefix`
//! for Azure Blob Storage. Each cloud's credentials come from its
//! environment chain (see [`settings`]), found at request time.

pub mod location;
pub mod settings;

use location::{Cloud, FORMS, Location};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::local::LocalFileSystem;
use object_store::prefix::PrefixStore;
use object_store::{BackoffConfig, ClientConfigKey, ClientOptions, ObjectStore, RetryConfig};
use settings::{Env, Settings};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

/// Why a store could not be opened or read.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("store URL {0:?}: expected {FORMS}")]
    Url(String),
    #[error("cannot create directory {path:?}: {source}")]
    CreateDir {
        path: String,
        source: std::io::Error,
    },
    #[error("store {url:?} needs {what} (set {env})")]
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

/// Where the logs are stored. What is unset here comes from the cloud's
/// environment chain ([`settings`]): e.g. `AWS_ENDPOINT_URL`, `AWS_REGION`,
/// `AWS_ACCESS_KEY_ID`; `GOOGLE_APPLICATION_CREDENTIALS`;
/// `AZURE_STORAGE_ACCOUNT_NAME`. What is set here wins.
#[derive(Debug, Clone, Default)]
pub struct StoreConfig {
    /// `file:///abs/path`, `s3://bucket[/prefix]`, `gs://bucket[/prefix]`
    /// or `az://container[/prefix]`.
    pub url: String,
    /// Where requests go instead of the cloud's own service: an S3
    /// endpoint (`http://127.0.0.1:9000`), a GCS base URL, an Azure account
    /// URL (`http://127.0.0.1:10000/devstoreaccount1`).
    pub endpoint: Option<String>,
    /// S3's region; `us-east-1` if neither this nor `AWS_REGION` is set.
    pub region: Option<String>,
    /// S3: path-style requests (`endpoint/bucket/key`), as most
    /// S3-compatible servers want; otherwise virtual-hosted style.
    pub path_style: bool,
    /// Allow a plain-HTTP endpoint (one on loopback always is).
    pub allow_http: bool,
    /// S3 static keys; both or neither (then the environment's chain).
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Azure: the storage account (else `AZURE_STORAGE_ACCOUNT_NAME`).
    pub account: Option<String>,
    /// Azure: the storage account's key (else the environment's chain).
    pub account_key: Option<String>,
    /// Send requests unsigned, asking for no credentials (a public bucket,
    /// an emulator that checks none).
    pub skip_signature: bool,
    /// How long one attempt of a request may take, from connecting until
    /// the last byte of the response body; [`DEFAULT_TIMEOUT`] if unset.
    /// Every cloud, as are the three below (not a local directory).
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

    /// The HTTP client's time limits and whether plain HTTP is allowed
    /// (`endpoint`: where the requests go, if not the cloud's own service).
    fn client_options(&self, endpoint: Option<&str>) -> Result<ClientOptions, StoreError> {
        let timeout = positive("timeout", self.timeout.unwrap_or(DEFAULT_TIMEOUT))?;
        let connect = positive(
            "connect_timeout",
            self.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
        )?;
        Ok(ClientOptions::new()
            .with_allow_http(self.allow_http || endpoint.is_some_and(settings::is_loopback_http))
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

/// Opens the store `cfg.url` names. A local directory is created if missing.
pub fn open(cfg: &StoreConfig) -> Result<Store, StoreError> {
    open_with(cfg, &Env::from_process())
}

/// [`open`], with `env` for the process's environment.
pub fn open_with(cfg: &StoreConfig, env: &Env) -> Result<Store, StoreError> {
    let url = cfg.url.as_str();
    let (cloud, bucket, prefix) = match location::parse(url) {
        None => return Err(StoreError::Url(url.to_string())),
        Some(Location::Directory(path)) => {
            std::fs::create_dir_all(path).map_err(|source| StoreError::CreateDir {
                path: path.to_string(),
                source,
            })?;
            return Ok(Arc::new(LocalFileSystem::new_with_prefix(path)?));
        }
        Some(Location::Bucket {
            cloud,
            bucket,
            prefix,
        }) => (cloud, bucket, prefix),
    };
    let retry = cfg.retry_config()?;
    let store: Store = match cloud {
        Cloud::S3 => {
            let s = settings::s3(cfg, bucket, env);
            let opts = cfg.client_options(s.get(AmazonS3ConfigKey::Endpoint))?;
            let s = s.without(|k| matches!(k, AmazonS3ConfigKey::Client(c) if is_time_limit(c)));
            let b = AmazonS3Builder::new()
                .with_client_options(opts)
                .with_retry(retry);
            Arc::new(apply(b, s, AmazonS3Builder::with_config).build()?)
        }
        Cloud::Gcs => {
            let s = settings::gcs(cfg, bucket, env);
            let opts = cfg.client_options(s.get(GoogleConfigKey::BaseUrl))?;
            let s = s.without(|k| matches!(k, GoogleConfigKey::Client(c) if is_time_limit(c)));
            let b = GoogleCloudStorageBuilder::new()
                .with_client_options(opts)
                .with_retry(retry);
            Arc::new(apply(b, s, GoogleCloudStorageBuilder::with_config).build()?)
        }
        Cloud::Azure => {
            let s = settings::azure(cfg, bucket, env);
            if s.get(AzureConfigKey::AccountName).is_none()
                // As the builder reads a boolean: `1`, `true`, `on`, `yes`, `y`.
                && !s.get(AzureConfigKey::UseEmulator).is_some_and(|v| {
                    matches!(
                        v.to_ascii_lowercase().as_str(),
                        "1" | "true" | "on" | "yes" | "y"
                    )
                })
            {
                return Err(StoreError::Missing {
                    url: url.to_string(),
                    what: "a storage account name",
                    env: "AZURE_STORAGE_ACCOUNT_NAME",
                });
            }
            let opts = cfg.client_options(s.get(AzureConfigKey::Endpoint))?;
            let s = s.without(|k| matches!(k, AzureConfigKey::Client(c) if is_time_limit(c)));
            let b = MicrosoftAzureBuilder::new()
                .with_client_options(opts)
                .with_retry(retry);
            Arc::new(apply(b, s, MicrosoftAzureBuilder::with_config).build()?)
        }
    };
    Ok(if prefix.is_empty() {
        store
    } else {
        Arc::new(PrefixStore::new(store, prefix))
    })
}

/// The client settings [`StoreConfig`] sets itself, always: the
/// environment's (`AWS_TIMEOUT`, …) do not override them. Its other client
/// settings (proxies, `*_ALLOW_HTTP`, …) apply, after the config's client
/// options, which would otherwise replace them all.
fn is_time_limit(k: &ClientConfigKey) -> bool {
    matches!(
        k,
        ClientConfigKey::Timeout | ClientConfigKey::ConnectTimeout
    )
}

/// `builder` with every setting applied in order.
fn apply<B, K>(builder: B, settings: Settings<K>, with: impl Fn(B, K, String) -> B) -> B {
    settings
        .0
        .into_iter()
        .fold(builder, |b, (k, v)| with(b, k, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`open`] with nothing from this process's environment.
    fn open_clean(cfg: &StoreConfig) -> Result<Store, StoreError> {
        open_with(cfg, &Env::default())
    }

    #[test]
    fn rejects_bad_urls() {
        for u in [
            "",
            "file://rel/path",
            "s3://",
            "gs://",
            "az://",
            "gs:///p",
            "http://x/y",
            "/abs",
        ] {
            match open_clean(&StoreConfig::new(u)) {
                Err(e @ StoreError::Url(_)) => {
                    let msg = e.to_string();
                    assert!(msg.contains("gs://bucket[/prefix]"), "{msg}");
                    assert!(msg.contains("az://container[/prefix]"), "{msg}");
                }
                other => panic!("{u}: {other:?}"),
            }
        }
    }

    /// A store at `url` with explicit credentials and a local endpoint.
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
        open_clean(&s3_config("s3://bucket/some/prefix")).unwrap();
    }

    /// The chain finds credentials when a request needs them, not at open.
    #[test]
    fn opens_each_cloud_without_static_credentials() {
        for url in [
            "s3://bucket",
            "s3://bucket/p",
            "gs://bucket/p/q",
            "gs://bucket",
        ] {
            open_clean(&StoreConfig::new(url)).unwrap_or_else(|e| panic!("{url}: {e}"));
        }
        let session = Env::from([
            ("AWS_ACCESS_KEY_ID", "ASIAEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
        ]);
        open_with(&StoreConfig::new("s3://bucket"), &session).unwrap();
        let irsa = Env::from([
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/secrets/token"),
            ("AWS_ROLE_ARN", "arn:aws:iam::1:role/afterlog"),
        ]);
        open_with(&StoreConfig::new("s3://bucket"), &irsa).unwrap();
        let workload = Env::from([
            ("AZURE_STORAGE_ACCOUNT_NAME", "acct"),
            ("AZURE_CLIENT_ID", "client"),
            ("AZURE_TENANT_ID", "tenant"),
            ("AZURE_FEDERATED_TOKEN_FILE", "/var/run/token"),
        ]);
        open_with(&StoreConfig::new("az://container/prefix"), &workload).unwrap();
        let managed = Env::from([("AZURE_STORAGE_ACCOUNT_NAME", "acct")]);
        open_with(&StoreConfig::new("az://container"), &managed).unwrap();
    }

    #[test]
    fn azure_needs_an_account() {
        match open_clean(&StoreConfig::new("az://container")) {
            Err(e @ StoreError::Missing { .. }) => {
                assert!(e.to_string().contains("AZURE_STORAGE_ACCOUNT_NAME"), "{e}")
            }
            other => panic!("{other:?}"),
        }
        open_clean(&StoreConfig {
            account: Some("acct".into()),
            ..StoreConfig::new("az://container")
        })
        .unwrap();
        // The emulator's well-known account needs none, however it is said.
        for yes in ["true", "1", "Yes"] {
            let env = Env::from([("AZURE_STORAGE_USE_EMULATOR", yes)]);
            open_with(&StoreConfig::new("az://container"), &env).unwrap();
        }
    }

    #[test]
    fn rejects_zero_time_limits() {
        for base in [
            s3_config("s3://bucket"),
            StoreConfig::new("gs://bucket"),
            StoreConfig {
                account: Some("acct".into()),
                ..StoreConfig::new("az://container")
            },
        ] {
            let zero = Some(Duration::ZERO);
            for (cfg, name) in [
                (
                    StoreConfig {
                        timeout: zero,
                        ..base.clone()
                    },
                    "timeout",
                ),
                (
                    StoreConfig {
                        connect_timeout: zero,
                        ..base.clone()
                    },
                    "connect_timeout",
                ),
                (
                    StoreConfig {
                        retry_timeout: zero,
                        ..base.clone()
                    },
                    "retry_timeout",
                ),
            ] {
                match open_clean(&cfg) {
                    Err(StoreError::ZeroTimeout { what }) => assert_eq!(what, name),
                    other => panic!("{} {name}: {other:?}", base.url),
                }
            }
            // No retries at all is a choice, not a mistake.
            open_clean(&StoreConfig {
                retries: Some(0),
                ..base
            })
            .unwrap();
        }
    }
}
