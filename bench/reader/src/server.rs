//! `afterlog serve` started by a bench, and what `/proc` says of it and of
//! the bench.

use crate::{http, store};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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

/// User + system CPU seconds this process has used, finer than
/// [`cpu_secs`]'s clock ticks.
pub fn self_cpu() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Resets a process's peak RSS to its current RSS (Linux ≥ 4.0).
pub fn reset_peak(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
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

/// A child process, stopped with SIGTERM (then SIGKILL) on drop.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        // SAFETY: signalling our own child by its pid.
        unsafe {
            libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `afterlog serve` on a free port of 127.0.0.1, stopped on drop.
pub struct Server {
    proc: Proc,
    pub addr: String,
}

impl Server {
    /// `afterlog serve` on the store in `dir` with `args` besides the
    /// store and the address, its log in `dir/<log>`; returns once it
    /// answers.
    pub fn start(dir: &Path, args: &[&str], log: &str) -> Result<Server> {
        let mut serve = store::afterlog_command(&afterlog_bin()?, "serve");
        serve.arg("--store").arg(store_url(dir)).args(args);
        let log = dir.join(log);
        Server::launch(serve, &log, std::fs::File::create(&log)?)
    }

    /// Runs `serve` (`afterlog serve` with its store and options) on a free
    /// port, its stderr to `stderr` (the file at `log`); returns once it
    /// answers.
    pub fn launch(mut serve: Command, log: &Path, stderr: std::fs::File) -> Result<Server> {
        let addr = format!("127.0.0.1:{}", free_port()?);
        let child = serve
            .args(["--listen", &addr])
            // Reading is measured here, not compaction (bench-compact).
            .args(["--compact-every-minutes", "0"])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("starting {}", serve.get_program().display()))?;
        let mut proc = Proc(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = proc.0.try_wait()? {
                let log = std::fs::read_to_string(log).unwrap_or_default();
                bail!("afterlog serve exited ({status}):\n{log}");
            }
            if let Ok((200, _)) = http::fetch(&addr, "/v1/healthz") {
                return Ok(Server { proc, addr });
            }
            if Instant::now() > deadline {
                bail!("afterlog serve did not answer /v1/healthz within 30 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> u32 {
        self.proc.0.id()
    }
}
