//! The stores a `bench-scale` case runs on: a local directory, or
//! `s3s-fs` on loopback; and `afterlog serve` on either.

use crate::server::{Proc, Server, free_port};
use crate::store;
use afterlog_testkit::{KEY, REGION, SECRET};
use anyhow::{Context, Result, bail, ensure};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const BUCKET: &str = "bench";

/// `s3s-fs` serving `root` (whose subdirectory `bench` is the bucket).
pub struct S3 {
    _proc: Proc,
    endpoint: String,
}

impl S3 {
    pub fn start(bin: &Path, root: &Path, log: &Path) -> Result<S3> {
        let port = free_port()?;
        let child = Command::new(bin)
            .arg(root)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", KEY, "--secret-key", SECRET])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log)?)
            .spawn()
            .with_context(|| {
                format!(
                    "running {}: install it with `cargo install s3s-fs --version 0.14.1 --features binary` or pass --s3s-fs",
                    bin.display()
                )
            })?;
        let mut p = Proc(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(st) = p.0.try_wait()? {
                bail!("s3s-fs exited: {st}");
            }
            ensure!(
                Instant::now() < deadline,
                "s3s-fs did not answer on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(S3 {
            _proc: p,
            endpoint: format!("http://127.0.0.1:{port}"),
        })
    }
}

/// Where one case's store is, and how `afterlog` reaches it.
pub struct Store<'a> {
    /// The directory holding the store's objects (for s3: the bucket's).
    pub objects: PathBuf,
    pub s3: Option<&'a S3>,
}

impl Store<'_> {
    pub fn command(&self, afterlog: &Path, sub: &str) -> Command {
        let mut cmd = store::afterlog_command(afterlog, sub);
        match self.s3 {
            None => {
                cmd.arg("--store")
                    .arg(format!("file://{}", self.objects.display()));
            }
            Some(s3) => {
                cmd.args(["--store", &format!("s3://{BUCKET}")])
                    .args(["--s3-endpoint", &s3.endpoint, "--s3-region", REGION])
                    .env("AWS_ACCESS_KEY_ID", KEY)
                    .env("AWS_SECRET_ACCESS_KEY", SECRET);
            }
        }
        cmd
    }
}

/// `afterlog serve` without authentication on `store`, its log appended
/// to `log`.
pub fn serve(afterlog: &Path, store: &Store, log: &Path) -> Result<Server> {
    let mut cmd = store.command(afterlog, "serve");
    cmd.arg("--insecure-no-auth");
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    Server::launch(cmd, log, stderr)
}
