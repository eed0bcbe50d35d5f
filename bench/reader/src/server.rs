//! `afterlog serve` started by a bench, and what `/proc` says of it.

use crate::{http, store};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// `VmHWM` and `VmRSS` of a process, KiB.
pub fn memory(pid: u32) -> Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("no {name} in /proc/{pid}/status"))
    };
    Ok((field("VmHWM:")?, field("VmRSS:")?))
}

/// User + system CPU seconds a process has used.
pub fn cpu_secs(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start at 3.
    let rest = &stat[stat.rfind(')').context("bad /proc stat")? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f[11].parse::<u64>()? + f[12].parse::<u64>()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Ok(ticks as f64 / hz.max(1) as f64)
}

pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The `afterlog` built with this bench (same profile directory).
pub fn afterlog_bin() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let bin = exe
        .parent()
        .context("the bench has no directory")?
        .join("afterlog");
    if !bin.exists() {
        bail!(
            "{} is missing: build the service first with `cargo build --profile ci -p afterlog`",
            bin.display()
        );
    }
    Ok(bin)
}

pub fn store_url(dir: &Path) -> String {
    format!("file://{}", dir.display())
}

pub struct Server {
    child: Child,
    pub addr: String,
}

impl Server {
    /// `afterlog serve` on the store in `dir` with `args` besides the
    /// store and the address, on a free port of 127.0.0.1, its log in
    /// `dir/<log>`; returns once it answers.
    pub fn start(dir: &Path, args: &[&str], log: &str) -> Result<Server> {
        let bin = afterlog_bin()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr = format!("127.0.0.1:{port}");
        let log = dir.join(log);
        let stderr = std::fs::File::create(&log)?;
        let child = store::afterlog_command(&bin, "serve")
            .arg("--store")
            .arg(store_url(dir))
            .args(["--listen", &addr])
            // Reading is measured here, not compaction (bench-compact).
            .args(["--compact-every-minutes", "0"])
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut s = Server { child, addr };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = s.child.try_wait()? {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                bail!("afterlog serve exited ({status}):\n{log}");
            }
            if let Ok(r) = http::get(&s.addr, "/v1/healthz")
                && r.status == 200
            {
                return Ok(s);
            }
            if Instant::now() > deadline {
                bail!("afterlog serve did not answer /v1/healthz within 30 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: signalling our own child by its pid.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
