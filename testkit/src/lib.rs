//! What afterlog's tests share: a real S3 server (`s3s-fs`) on a free
//! loopback port, proxies to put in front of it that fail on purpose, and
//! objects written as Fluent Bit's s3 output writes them.

pub mod faulty_proxy;
pub mod log_text;
pub mod per_pod;
pub mod proxy;
pub mod stats;
pub mod store;
pub mod time;
pub use faulty_proxy::{Fault, FaultyProxy};
pub use proxy::Proxy;
pub use store::{file_store, keys, put};
pub use time::{SECS, T0};

use flate2::Compression;
use flate2::write::GzEncoder;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
    child: Child,
    pub port: u16,
    root: tempfile::TempDir,
}

fn binary() -> PathBuf {
    std::env::var_os("HOME")
        .map(|h| Path::new(&h).join(".cargo/bin/s3s-fs"))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| "s3s-fs".into())
}

impl S3Server {
    /// Starts a server holding the empty `buckets`.
    pub fn start(buckets: &[&str]) -> S3Server {
        let bin = binary();
        let root = tempfile::tempdir().expect("temporary directory");
        for b in buckets {
            std::fs::create_dir(root.path().join(b)).expect("bucket directory");
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(&bin)
            .arg(root.path())
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", KEY, "--secret-key", SECRET])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {}: {e}; install it with \
                     `cargo install s3s-fs --version 0.14.1 --features binary`",
                    bin.display()
                )
            });
        let mut server = S3Server { child, port, root };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("s3s-fs exited: {status}");
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "s3s-fs did not answer on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Where the server keeps a bucket's objects as files.
    pub fn bucket_dir(&self, bucket: &str) -> PathBuf {
        self.root.path().join(bucket)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
