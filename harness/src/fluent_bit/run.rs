//! One run of the real Fluent Bit to completion: its exit, output and CPU time.

use super::locate::fluent_bit_path;
use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `fluent-bit --dry-run -c config`: checks a config without running it.
pub fn dry_run(config: &Path) -> Result<()> {
    dry_run_with(config, &[])
}

/// [`dry_run`] with these variables in Fluent Bit's environment.
pub fn dry_run_with(config: &Path, env: &[(&str, String)]) -> Result<()> {
    let bin = fluent_bit_path()?;
    let out = Command::new(&bin)
        .arg("--dry-run")
        .arg("-c")
        .arg(config)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .output()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(
        out.status.success() && text.contains("configuration test is successful"),
        "{} --dry-run -c {}: {}\n{text}",
        bin.display(),
        config.display(),
        out.status
    );
    Ok(())
}

/// How a Fluent Bit run ended and what it printed.
#[derive(Debug)]
pub struct Run {
    pub config: PathBuf,
    /// The exit code, if it exited.
    pub code: Option<i32>,
    /// The signal that ended it, if any (SIGKILL after a timeout).
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
    /// CPU time of the whole process (all threads), from `wait4`.
    pub user: Duration,
    pub sys: Duration,
    pub wall: Duration,
}

/// Runs `fluent-bit -c config` in `work_dir` with a timeout; see [`Pipeline::run`](super::Pipeline::run).
pub fn run_config(config: &Path, work_dir: &Path, timeout: Duration) -> Result<Run> {
    let bin = fluent_bit_path()?;
    let out_path = work_dir.join("fluent-bit.stdout");
    let err_path = work_dir.join("fluent-bit.stderr");
    let start = Instant::now();
    let child = Command::new(&bin)
        .arg("-c")
        .arg(config)
        .current_dir(work_dir)
        .stdin(Stdio::null())
        .stdout(File::create(&out_path)?)
        .stderr(File::create(&err_path)?)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let pid = child.id() as libc::pid_t;
    // The child is reaped with wait4 below, for its rusage; `Child` is
    // only a handle and is not waited on again.
    drop(child);
    let deadline = start + timeout;
    let mut timed_out = false;
    let (status, usage) = loop {
        match wait4(pid, false)? {
            Some(done) => break done,
            None if Instant::now() >= deadline => {
                timed_out = true;
                // SAFETY: plain kill(2) of our own child, not yet reaped.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                match wait4(pid, true)? {
                    Some(done) => break done,
                    None => bail!("fluent-bit (pid {pid}) did not die after SIGKILL"),
                }
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let wall = start.elapsed();
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, (t.tv_usec as u32) * 1000);
    Ok(Run {
        config: config.to_path_buf(),
        code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        signal: libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status)),
        timed_out,
        stdout: String::from_utf8_lossy(&fs::read(&out_path)?).into_owned(),
        stderr: String::from_utf8_lossy(&fs::read(&err_path)?).into_owned(),
        user: tv(usage.ru_utime),
        sys: tv(usage.ru_stime),
        wall,
    })
}

/// `wait4(pid)`, retrying on EINTR; `None` if it is still running (only
/// when not blocking).
fn wait4(pid: libc::pid_t, block: bool) -> Result<Option<(libc::c_int, libc::rusage)>> {
    let flags = if block { 0 } else { libc::WNOHANG };
    for _ in 0..1000 {
        let mut status: libc::c_int = 0;
        // SAFETY: rusage is plain old data; wait4 fills it.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: valid pointers to locals.
        let r = unsafe { libc::wait4(pid, &mut status, flags, &mut usage) };
        if r == pid {
            return Ok(Some((status, usage)));
        }
        if r == 0 {
            return Ok(None);
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e).context(format!("wait4({pid})"));
        }
    }
    bail!("wait4({pid}) interrupted too often")
}

impl Run {
    /// User + system CPU time.
    pub fn cpu(&self) -> Duration {
        self.user + self.sys
    }

    /// Exited by itself with status 0.
    pub fn success(&self) -> bool {
        !self.timed_out && self.code == Some(0)
    }

    /// The last `n` lines of stderr, for error messages.
    pub fn stderr_tail(&self, n: usize) -> String {
        tail_lines(&self.stderr, n)
    }

    /// Errors unless Fluent Bit exited by itself with status 0.
    pub fn check(&self) -> Result<&Run> {
        ensure!(
            self.success(),
            "fluent-bit -c {} failed: code {:?}, signal {:?}, timed out {} after {:?}\n--- stderr (tail) ---\n{}",
            self.config.display(),
            self.code,
            self.signal,
            self.timed_out,
            self.wall,
            self.stderr_tail(40)
        );
        Ok(self)
    }

    /// The JSON objects of a `stdout` `json_lines` run, in output order.
    /// Lines that do not start with `{` are skipped: WAMR prints its
    /// warnings to stdout too.
    pub fn records(&self) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        for (i, line) in self.stdout.lines().enumerate() {
            if !line.starts_with('{') {
                continue;
            }
            let v: Value = serde_json::from_str(line)
                .with_context(|| format!("stdout line {}: {line:.200}", i + 1))?;
            ensure!(v.is_object(), "stdout line {} is not an object", i + 1);
            out.push(v);
        }
        Ok(out)
    }

    /// The records a `counter` run counted (the sum of `log_records`).
    pub fn counter_total(&self) -> u64 {
        self.stdout
            .lines()
            .filter(|l| l.starts_with('{'))
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|v| v.get("log_records").and_then(Value::as_u64))
            .sum()
    }

    /// Lines of stderr with `[error]` or `[ warn]`, minus the harmless ones
    /// the kubernetes filter prints when it has no service account.
    pub fn problems(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.contains("[error]") || l.contains("[ warn]"))
            .filter(|l| {
                !(l.contains("[tls]")
                    || l.contains("serviceaccount")
                    || l.contains("service will shutdown"))
            })
            .collect()
    }
}

/// The last `n` non-blank lines of `text`.
pub fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
