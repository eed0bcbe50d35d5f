//! The service in-process, on a free loopback port.

use afterlog::api::Settings;
use afterlog::auth::{AuthConfig, hash_token};
use afterlog::classes::ClassStores;
use afterlog::serve::Server;
use afterlog_reader::Store;
use afterlog_testkit::file_store;
use serde_json::json;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
                .run(std::future::pending(), Duration::from_secs(5))
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

    /// Serves `stores` to anyone, with the default settings.
    pub async fn open(stores: impl Into<ClassStores>) -> TestServer {
        TestServer::start(stores, AuthConfig::InsecureNone, Settings::default()).await
    }

    /// Serves `stores` to the holders of the tokens in the file `tokens`,
    /// with the default settings.
    pub async fn for_tokens(stores: impl Into<ClassStores>, tokens: PathBuf) -> TestServer {
        TestServer::start(stores, AuthConfig::Token { tokens }, Settings::default()).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// Writes `dir/tokens.json` listing `tokens` — `(name, token, tools,
/// admin)`, the token in plain, hashed here — and returns its path.
pub fn write_tokens(dir: &Path, tokens: &[(&str, &str, &[&str], bool)]) -> PathBuf {
    let entries: Vec<serde_json::Value> = tokens
        .iter()
        .map(|(name, token, tools, admin)| {
            json!({"name": name, "sha256": hash_token(token), "tools": tools, "admin": admin})
        })
        .collect();
    let path = dir.join("tokens.json");
    std::fs::write(&path, json!({ "tokens": entries }).to_string()).unwrap();
    path
}

/// The demo data set in `dir/data`, served with token auth for `tokens`
/// (see [`write_tokens`]); follows poll and beat quickly.
pub async fn demo_server(dir: &Path, tokens: &[(&str, &str, &[&str], bool)]) -> TestServer {
    let data = dir.join("data");
    afterlog::demo::build(&data, afterlog::api::now_ns()).unwrap();
    let settings = Settings {
        follow_poll: Duration::from_millis(200),
        follow_heartbeat: Duration::from_millis(500),
        ..Settings::default()
    };
    let tokens = write_tokens(dir, tokens);
    TestServer::start(file_store(&data), AuthConfig::Token { tokens }, settings).await
}
