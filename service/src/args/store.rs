//! Where the logs are: the store of the `default` class and of the other
//! routing classes, and how to reach S3 (GCS and Azure are reached as
//! their environment says: see docs/admin-guide.md).

use crate::classes::{self, ClassStores, ClassUrl};
use afterlog_reader::{StoreConfig, open};
use anyhow::{Context, bail};
use clap::Args;
use std::time::Duration;

#[derive(Args)]
pub struct StoreArgs {
    /// Where logs are: a directory (`./afterlog-data`, `file:///abs/path`),
    /// `s3://bucket[/prefix]` (AWS S3 or S3-compatible),
    /// `gs://bucket[/prefix]` (Google Cloud Storage) or
    /// `az://container[/prefix]` (Azure Blob Storage; the account from
    /// AZURE_STORAGE_ACCOUNT_NAME). Credentials come from each cloud's
    /// usual environment: AWS_* and the instance/pod identity, GOOGLE_* and
    /// the metadata server, AZURE_* and workload or managed identity.
    #[arg(long, env = "AFTERLOG_STORE", default_value = "./afterlog-data")]
    pub store: String,
    /// S3 endpoint, e.g. http://127.0.0.1:9000 for MinIO, Ceph RGW, Garage
    /// (default: AWS; also AWS_ENDPOINT_URL).
    #[arg(long, env = "AFTERLOG_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// S3 region (default us-east-1; also AWS_REGION).
    #[arg(long, env = "AFTERLOG_S3_REGION")]
    pub s3_region: Option<String>,
    /// Virtual-hosted-style requests (bucket.endpoint) instead of path style.
    #[arg(long)]
    pub s3_virtual_hosted: bool,
    /// Allow a plain-HTTP endpoint that is not on loopback.
    #[arg(long)]
    pub s3_allow_http: bool,
    /// Seconds one attempt of a store request (any cloud) may take, from connecting to
    /// the answer's last byte (1-300). A timed-out read is retried while
    /// less than 60 s have passed since its first attempt.
    #[arg(
        long,
        env = "AFTERLOG_STORE_TIMEOUT_SECONDS",
        default_value_t = afterlog_reader::store::DEFAULT_TIMEOUT.as_secs()
    )]
    pub store_timeout_seconds: u64,
    /// Retries of a store request (any cloud) that timed out, lost its connection or got
    /// a 5xx, 429 or 408 answer, with backoff (0-10; 0: none).
    #[arg(
        long,
        env = "AFTERLOG_STORE_RETRIES",
        default_value_t = afterlog_reader::store::DEFAULT_RETRIES
    )]
    pub store_retries: usize,
    /// Another routing class's store, NAME=STORE (repeatable, or
    /// comma-separated in AFTERLOG_CLASSES): e.g.
    /// long-retention=s3://logs/long-retention, where the drop-in's second
    /// s3 output writes that class. --store is the `default` class's.
    /// Reads merge every class's store; each is compacted on its own. Same
    /// endpoint, region and credentials as --store (for its cloud).
    #[arg(
        long = "class",
        env = "AFTERLOG_CLASSES",
        value_delimiter = ',',
        value_name = "NAME=STORE"
    )]
    pub classes: Vec<String>,
}

/// A store location made a URL: a directory becomes
/// `file:///absolute/path`. `what` names the flag and value for errors.
fn store_url(what: &str, value: &str) -> anyhow::Result<String> {
    if let Some((scheme, _)) = value.split_once("://") {
        if ["s3", "gs", "az", "file"].contains(&scheme) {
            return Ok(value.to_string());
        }
        // A typo must not become an empty local directory.
        bail!(
            "{what}: unknown scheme {scheme:?}; use s3://bucket[/prefix], gs://bucket[/prefix], \
             az://container[/prefix], file:///path or a directory"
        );
    }
    let p = std::path::absolute(value).with_context(|| what.to_string())?;
    Ok(format!("file://{}", p.display()))
}

/// A routing class and how to reach its store.
#[derive(Debug, Clone)]
pub struct ClassConfig {
    pub class: String,
    pub store: StoreConfig,
}

impl StoreArgs {
    /// Every class and its store, `default` first, checked: class names,
    /// no class twice, no store twice or inside another's layout.
    pub fn class_configs(&self) -> anyhow::Result<Vec<ClassConfig>> {
        let flags = classes::parse_flags(&self.classes)?;
        let given = format!("--store {:?}", self.store);
        let mut urls = vec![ClassUrl {
            class: afterlog_compactor::DEFAULT_CLASS.to_string(),
            url: store_url(&given, &self.store)?,
            given,
        }];
        for f in flags {
            let url = store_url(&format!("--class {:?}", f.value), &f.store)?;
            urls.push(ClassUrl {
                class: f.class,
                url,
                given: f.value,
            });
        }
        classes::check_urls(&urls)?;
        urls.into_iter()
            .map(|u| {
                Ok(ClassConfig {
                    store: self.config_for(u.url)?,
                    class: u.class,
                })
            })
            .collect()
    }

    /// Opens every class's store (`classes`: [`StoreArgs::class_configs`]).
    pub fn open(classes: Vec<ClassConfig>) -> anyhow::Result<ClassStores> {
        let mut stores = Vec::new();
        for ClassConfig { class, store: cfg } in classes {
            let store = open(&cfg)
                .with_context(|| format!("opening the store of class {class} ({})", cfg.url))?;
            stores.push((class, store));
        }
        let mut stores = stores.into_iter();
        let (_, default) = stores
            .next()
            .context("no store: --store names the default class's")?;
        Ok(ClassStores::new(default, stores.collect()))
    }

    pub fn config_for(&self, url: String) -> anyhow::Result<StoreConfig> {
        // Past 5 minutes an attempt outlasts any caller's patience, and
        // past 10 retries the 60 s retry timeout cuts them off anyway.
        if !(1..=300).contains(&self.store_timeout_seconds) {
            bail!(
                "--store-timeout-seconds must be between 1 and 300, not {}",
                self.store_timeout_seconds
            );
        }
        if self.store_retries > 10 {
            bail!(
                "--store-retries must be between 0 and 10, not {}",
                self.store_retries
            );
        }
        // The S3 flags are S3's; other clouds take theirs from their
        // environment (AZURE_STORAGE_ENDPOINT, GOOGLE_BASE_URL...), and
        // the reader allows plain HTTP to a loopback endpoint of any.
        let s3 = url.starts_with("s3://");
        Ok(StoreConfig {
            endpoint: self.s3_endpoint.clone().filter(|_| s3),
            region: self.s3_region.clone().filter(|_| s3),
            path_style: !self.s3_virtual_hosted,
            allow_http: self.s3_allow_http,
            url,
            timeout: Some(Duration::from_secs(self.store_timeout_seconds)),
            retries: Some(self.store_retries),
            ..StoreConfig::default()
        })
    }
}
