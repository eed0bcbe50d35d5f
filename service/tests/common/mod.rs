//! Test fixtures: stored objects in Fluent Bit's layout, the service running
//! in-process on a free loopback port, and a real S3 server (`s3s-fs`).
#![allow(dead_code)]

use afterlog::api::Settings;
use afterlog::auth::AuthConfig;
use afterlog::classes::ClassStores;
use afterlog::serve::Server;
use afterlog_contract::layout::Origin;
use afterlog_reader::{Store, StoreConfig, open};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// 2026-11-25T15:00:00Z.
pub const SECS: u64 = 1_795_618_800;
pub const T0: u64 = SECS * 1_000_000_000;

pub fn origin(tool: &str, job: &str, pod: &str, container: &str) -> Origin {
    Origin {
        tool: tool.into(),
        job: job.into(),
        pod: pod.into(),
        container: container.into(),
    }
}

/// A stored record as the filter writes it; `t` is ns after `T0`.
pub fn record(o: &Origin, t: u64, off: u64, stream: &str, log: &str) -> String {
    json!({
        "ts": T0 + t, "off": off, "stream": stream, "log": log,
        "afterlog": {
            "tool": o.tool, "job": o.job, "kind": "job", "namespace": format!("tool-{}", o.tool),
            "pod": o.pod, "container": o.container,
            "container_id": format!("cid-{}-{}", o.pod, o.container),
            "node": "node-1", "route": o.route(),
        }
    })
    .to_string()
}

pub async fn put(store: &Store, key: &str, body: Vec<u8>) {
    store
        .put(&Path::from(key), PutPayload::from(body))
        .await
        .unwrap_or_else(|e| panic!("PUT {key}: {e}"));
}

/// Uploads `lines` of `o` as one raw object whose key time is `t` after T0.
pub async fn upload(
    store: &Store,
    o: &Origin,
    t_secs: u64,
    uuid: &str,
    lines: &[String],
) -> String {
    let key = o.raw_key((SECS + t_secs) as i64, uuid);
    put(store, &key, gz(lines)).await;
    key
}

/// The service, in-process.
pub struct TestServer {
    pub base: String,
    pub addr: SocketAddr,
    /// The `default` class's store.
    pub store: Store,
    _task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    /// Serves `stores`: a [`Store`] (the `default` class), or several
    /// routing classes' stores.
    pub async fn start(
        stores: impl Into<ClassStores>,
        auth: AuthConfig,
        settings: Settings,
    ) -> TestServer {
        let stores = stores.into();
        let store = stores.default_store().clone();
        let server = Server::bind("127.0.0.1:0".parse().unwrap(), stores, &auth, settings)
            .await
            .unwrap();
        let addr = server.local_addr();
        let task = tokio::spawn(async move {
            server
                .run(std::future::pending(), std::time::Duration::from_secs(5))
                .await
                .unwrap();
        });
        TestServer {
            base: format!("http://{addr}"),
            addr,
            store,
            _task: task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// The demo data set in `dir/data`, served with token auth: `tokens` is
/// the `tokens` list of tokens.json (plain tokens, hashed here:
/// `(name, token, tools, admin)`); follows poll and beat quickly.
pub async fn demo_server(
    dir: &std::path::Path,
    tokens: &[(&str, &str, &[&str], bool)],
) -> TestServer {
    let data = dir.join("data");
    afterlog::demo::build(&data, afterlog::api::now_ns()).unwrap();
    let entries: Vec<serde_json::Value> = tokens
        .iter()
        .map(|(name, token, tools, admin)| {
            json!({"name": name, "sha256": afterlog::auth::hash_token(token),
                "tools": tools, "admin": admin})
        })
        .collect();
    let path = dir.join("tokens.json");
    std::fs::write(&path, json!({ "tokens": entries }).to_string()).unwrap();
    let settings = Settings {
        follow_poll: std::time::Duration::from_millis(200),
        follow_heartbeat: std::time::Duration::from_millis(500),
        ..Settings::default()
    };
    TestServer::start(
        file_store(&data),
        AuthConfig::Token { tokens: path },
        settings,
    )
    .await
}

pub fn file_store(dir: &std::path::Path) -> Store {
    open(&StoreConfig::new(format!("file://{}", dir.display()))).unwrap()
}

pub use afterlog_testkit::{KEY, S3Server, SECRET, gz};

/// A store on the test S3 server.
pub trait S3Store {
    fn store(&self, url: &str) -> Store;
}

impl S3Store for S3Server {
    fn store(&self, url: &str) -> Store {
        open(&StoreConfig {
            endpoint: Some(self.endpoint()),
            region: Some("us-east-1".into()),
            allow_http: true,
            access_key_id: Some(KEY.into()),
            secret_access_key: Some(SECRET.into()),
            ..StoreConfig::new(url)
        })
        .unwrap()
    }
}

/// A command that exited 0: its stdout (else the whole story, failed).
pub fn ok(o: &std::process::Output) -> String {
    assert!(
        o.status.success(),
        "exit {}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

// ------------------------------------------------- the binary, as deployed

/// `afterlog` with a clean environment.
pub fn afterlog(home: &std::path::Path) -> Command {
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
    pub fn start(home: &std::path::Path, args: &[&str]) -> Served {
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

    pub fn cli(&self, home: &std::path::Path, args: &[&str]) -> String {
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
