//! What afterlog's tests share: a real S3 server (`s3s-fs`), an Azure
//! Storage emulator (Azurite) and a GCS emulator (fake-gcs-server) on free
//! loopback ports, proxies to put in front of them that fail on purpose,
//! and objects written as Fluent Bit's s3 output writes them.

pub mod azurite;
pub mod faulty_proxy;
pub mod gcs;
pub mod kube_api;
pub mod kube_events;
pub mod log_text;
pub mod per_pod;
pub mod proxy;
pub mod server;
pub mod stats;
pub mod store;
pub mod time;
pub use azurite::AzuriteServer;
pub use faulty_proxy::{Fault, FaultyProxy};
pub use gcs::GcsServer;
pub use kube_api::KubeApi;
pub use kube_events::KubeEvents;
pub use proxy::Proxy;
pub use store::{file_store, keys, put};
pub use time::{SECS, T0};

use flate2::Compression;
use flate2::write::GzEncoder;
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

/// The credentials the test server accepts.
pub const KEY: &str = "AKIDTEST";
pub const SECRET: &str = "secret-test-key";
pub const REGION: &str = "us-east-1";

/// gzip of `lines`, each followed by a line break: a raw object's body.
pub fn gz(lines: &[String]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    for l in lines {
        e.write_all(l.as_bytes()).expect("writing to memory");
        e.write_all(b"\n").expect("writing to memory");
    }
    e.finish().expect("writing to memory")
}

/// `s3s-fs` (installed by `scripts/test` with `cargo install`) on a free
/// port with a temporary root, killed on drop.
pub struct S3Server {
    server: server::Running,
    pub port: u16,
    root: tempfile::TempDir,
}

impl S3Server {
    /// Starts a server holding the empty `buckets`.
    pub fn start(buckets: &[&str]) -> S3Server {
        let root = tempfile::tempdir().expect("temporary directory");
        for b in buckets {
            std::fs::create_dir(root.path().join(b)).expect("bucket directory");
        }
        let port = server::free_port();
        let mut cmd = Command::new(server::binary(
            server::in_home(".cargo/bin/s3s-fs"),
            "s3s-fs",
        ));
        cmd.arg(root.path())
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", KEY, "--secret-key", SECRET]);
        let server = server::Running::spawn(
            "s3s-fs",
            cmd,
            port,
            "cargo install s3s-fs --version 0.14.1 --features binary",
        );
        S3Server { server, port, root }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        self.server.endpoint()
    }

    /// Where the server keeps a bucket's objects as files.
    pub fn bucket_dir(&self, bucket: &str) -> PathBuf {
        self.root.path().join(bucket)
    }
}
