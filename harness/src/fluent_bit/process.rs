//! A long-running child (Fluent Bit, the service) with its output in
//! files: watched, signalled, stopped, killed on drop.

use super::run::tail_lines;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A child process with its output in `<dir>/<name>-<run>.stdout|stderr`,
/// killed on drop.
pub struct Proc {
    name: &'static str,
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Proc {
    /// Starts `cmd` in `dir`. The child gets only the AWS credentials `cmd`
    /// sets: nothing of the caller's AWS setup.
    pub fn spawn(name: &'static str, mut cmd: Command, dir: &Path, run: usize) -> Proc {
        let stdout = dir.join(format!("{name}-{run}.stdout"));
        let stderr = dir.join(format!("{name}-{run}.stderr"));
        cmd.current_dir(dir)
            .stdin(Stdio::null())
            .stdout(File::create(&stdout).unwrap())
            .stderr(File::create(&stderr).unwrap());
        for var in [
            "AWS_SESSION_TOKEN",
            "AWS_PROFILE",
            "AWS_ROLE_ARN",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "AWS_ENDPOINT_URL",
        ] {
            cmd.env_remove(var);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        Proc {
            name,
            child,
            stdout,
            stderr,
        }
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&fs::read(&self.stdout).unwrap_or_default()).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&fs::read(&self.stderr).unwrap_or_default()).into_owned()
    }

    /// The last 40 lines of stderr, for panic messages.
    pub fn stderr_tail(&self) -> String {
        tail_lines(&self.stderr(), 40)
    }

    /// Panics (with the process's last words) if it is no longer running.
    pub fn check_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "{} exited early ({status})\n--- stderr (tail) ---\n{}",
                self.name,
                self.stderr_tail()
            );
        }
    }

    pub fn signal(&self, sig: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t");
        // SAFETY: kill(2) of our own child, which has not been reaped yet.
        let r = unsafe { libc::kill(pid, sig) };
        assert_eq!(r, 0, "kill: {}", std::io::Error::last_os_error());
    }

    /// SIGTERM, then waits up to `deadline` for it to finish its work
    /// (Fluent Bit uploads what it buffered) and exit.
    pub fn stop(&mut self, deadline: Duration) -> ExitStatus {
        self.signal(libc::SIGTERM);
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if start.elapsed() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "{} did not exit within {deadline:?} of SIGTERM\n--- stderr (tail) ---\n{}",
                    self.name,
                    self.stderr_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill(&mut self) {
        self.signal(libc::SIGKILL);
        let status = self.child.wait().unwrap();
        eprintln!("{} killed: {status}", self.name);
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// All bytes of the files under `dir`.
fn dir_bytes(dir: &Path, out: &mut Vec<u8>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            dir_bytes(&p, out);
        } else if let Ok(b) = fs::read(&p) {
            out.extend_from_slice(&b);
        }
    }
}

/// Waits up to `deadline` until `text` sits in a file under `dir`: Fluent
/// Bit has read it into its buffers.
pub fn wait_buffered(fb: &mut Proc, dir: &Path, text: &str, deadline: Duration) {
    let start = Instant::now();
    loop {
        fb.check_running();
        let mut bytes = Vec::new();
        dir_bytes(dir, &mut bytes);
        if bytes.windows(text.len()).any(|w| w == text.as_bytes()) {
            return;
        }
        assert!(
            start.elapsed() < deadline,
            "{text:?} did not reach {} in {deadline:?}\n--- stderr (tail) ---\n{}",
            dir.display(),
            fb.stderr_tail()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
