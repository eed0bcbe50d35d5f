//! The binary, as deployed: `afterlog` run as a child process.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// A command that exited 0: its stdout (else the whole story, failed).
pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// `afterlog` with a clean environment: no user config, no colour.
pub fn afterlog(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_afterlog"));
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    c
}

/// `afterlog serve` as a child process; killed on drop.
pub struct Served {
    pub child: Child,
    pub base: String,
}

impl Served {
    pub fn start(home: &Path, args: &[&str]) -> Served {
        let mut child = afterlog(home)
            .args(["serve", "--listen", "127.0.0.1:0", "--insecure-no-auth"])
            .args(["--compact-every-minutes", "0"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let err = BufReader::new(child.stderr.take().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for l in err.lines() {
                let Ok(l) = l else { break };
                if let Some(at) = l.find("addr=") {
                    let addr = l[at + 5..].split_whitespace().next().unwrap_or_default();
                    let _ = tx.send(addr.to_string());
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("afterlog serve did not start");
        Served {
            child,
            base: format!("http://{addr}"),
        }
    }

    pub fn cli(&self, home: &Path, args: &[&str]) -> String {
        ok(&afterlog(home)
            .env("AFTERLOG_SERVER", &self.base)
            .args(args)
            .output()
            .unwrap())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
