//! A storage server run for a test: started on a free loopback port, waited
//! for until it answers, killed on drop.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free port on 127.0.0.1 (free when asked; the server binds it next).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `installed` if it is a file, else `name` looked up on `PATH`.
pub fn binary(installed: Option<PathBuf>, name: &str) -> PathBuf {
    installed
        .filter(|p| p.is_file())
        .unwrap_or_else(|| name.into())
}

/// `$HOME/<rel>`, if `HOME` is set.
pub fn in_home(rel: &str) -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| Path::new(&h).join(rel))
}

/// A server process, killed on drop.
pub struct Running {
    child: Child,
    pub port: u16,
    name: &'static str,
}

impl Running {
    /// Runs `cmd` (already given `port`) and waits until the port answers.
    /// `install` is how to get the binary, for the message if it is missing.
    pub fn spawn(name: &'static str, mut cmd: Command, port: u16, install: &str) -> Running {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {name} ({:?}): {e}; install it with `{install}` \
                     (scripts/test does)",
                    cmd.get_program()
                )
            });
        let mut server = Running { child, port, name };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("{name} exited: {status}");
            }
            assert!(
                start.elapsed() < Duration::from_secs(90),
                "{name} did not answer on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn name(&self) -> &'static str {
        self.name
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
