//! The API's client, for the `afterlog` CLI: where the server is, which tool,
//! which credentials (flags, then environment, then the config file), and
//! typed errors that keep the server's own reason.

use crate::args::client::ClientArgs;
use crate::wire::{ErrorBody, Messages};
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;

/// The server `afterlog demo` and a default `afterlog serve` listen on.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// `config.toml` in the user's config directory.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub server: Option<String>,
    pub tool: Option<String>,
    pub token: Option<String>,
    /// A file holding the token (e.g. a mounted secret), read at each start.
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("no tool given: pass --tool, set AFTERLOG_TOOL, or put `tool = \"…\"` in {0}")]
    NoTool(String),
    #[error("server {url:?}: {reason}")]
    Server { url: String, reason: String },
}

/// `$AFTERLOG_CONFIG`, else `$XDG_CONFIG_HOME/afterlog/config.toml`, else
/// `~/.config/afterlog/config.toml`.
pub fn default_config_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".config")))?;
    Some(base.join("afterlog").join("config.toml"))
}

impl FileConfig {
    /// Reads `path`; a missing file is an empty config unless it was named
    /// explicitly (`required`).
    pub fn load(path: &Path, required: bool) -> Result<FileConfig, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                return Ok(FileConfig::default());
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.into(),
                    source,
                });
            }
        };
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.into(),
            message: e.to_string(),
        })
    }
}

/// Who to ask, about which tool, as whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub server: Url,
    pub tool: String,
    pub token: Option<String>,
}

impl Target {
    /// Flags and environment first, then the config file, then defaults.
    pub fn resolve(given: &ClientArgs) -> Result<Target, ConfigError> {
        let (path, required) = match &given.config {
            Some(p) => (Some(p.clone()), true),
            None => (default_config_path(), false),
        };
        let file = match &path {
            Some(p) => FileConfig::load(p, required)?,
            None => FileConfig::default(),
        };
        let shown = path
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "the config file".into());
        let server = given
            .server
            .clone()
            .or(file.server)
            .unwrap_or_else(|| DEFAULT_SERVER.into());
        let tool = given
            .tool
            .clone()
            .or(file.tool)
            .ok_or(ConfigError::NoTool(shown))?;
        let token = match (&given.token, file.token, &file.token_file) {
            (Some(t), _, _) => Some(t.clone()),
            (None, Some(t), _) => Some(t),
            (None, None, Some(f)) => Some(
                std::fs::read_to_string(f)
                    .map_err(|source| ConfigError::Read {
                        path: f.clone(),
                        source,
                    })?
                    .trim()
                    .to_string(),
            ),
            (None, None, None) => None,
        };
        Ok(Target {
            server: parse_server(&server)?,
            tool,
            token,
        })
    }
}

fn parse_server(s: &str) -> Result<Url, ConfigError> {
    let bad = |reason: &str| ConfigError::Server {
        url: s.into(),
        reason: reason.into(),
    };
    let url = Url::parse(s).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("expected an http:// or https:// URL"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("expected no query or fragment"));
    }
    Ok(url)
}

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("cannot reach {server}: {reason}")]
    Unreachable { server: String, reason: String },
    /// The server answered with an error; `message` is its own reason.
    #[error("{message} ({status})")]
    Status {
        status: StatusCode,
        message: String,
        messages: Messages,
        /// `Retry-After` (seconds), sent with 429 and 503.
        retry_after: Option<u64>,
    },
    #[error("unexpected answer from {url}: {reason}")]
    Response { url: String, reason: String },
}

impl ClientError {
    /// When the server said to try again: a refusal for load (429 with
    /// `Retry-After`), not for the request.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ClientError::Status {
                status,
                retry_after: Some(s),
                ..
            } if *status == StatusCode::TOO_MANY_REQUESTS => Some(Duration::from_secs(*s)),
            _ => None,
        }
    }

    /// Worth trying again later: the server is away, overloaded or broke
    /// the connection, not telling us no.
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Unreachable { .. } | ClientError::Response { .. } => true,
            ClientError::Status { status, .. } => {
                status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS
            }
        }
    }
}

pub struct Client {
    http: reqwest::Client,
    pub target: Target,
}

impl Client {
    /// The client the command line asks for.
    pub fn for_args(given: &ClientArgs) -> Result<Client, ConfigError> {
        Target::resolve(given).map(Client::new)
    }

    pub fn new(target: Target) -> Client {
        let http = reqwest::Client::builder()
            .user_agent(concat!("afterlog/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .expect("a TLS backend is compiled in");
        Client { http, target }
    }

    /// `<server>/v1/tool/<tool>/<rest…>`, each part percent-encoded.
    pub fn url(&self, rest: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.target.server.clone();
        {
            let mut segs = url.path_segments_mut().expect("http(s) URLs have a path");
            segs.pop_if_empty();
            segs.extend(["v1", "tool", self.target.tool.as_str()]);
            segs.extend(rest);
        }
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        url
    }

    fn request(&self, method: reqwest::Method, url: Url) -> reqwest::RequestBuilder {
        let r = self.http.request(method, url);
        match &self.target.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    /// `<server>/v1/<rest…>`: what is about no one tool.
    pub fn root_url(&self, rest: &[&str]) -> Url {
        let mut url = self.target.server.clone();
        {
            let mut segs = url.path_segments_mut().expect("http(s) URLs have a path");
            segs.pop_if_empty();
            segs.push("v1");
            segs.extend(rest);
        }
        url
    }

    /// Sends (a body as NDJSON), and turns a non-2xx answer into
    /// [`ClientError::Status`] with the server's reason.
    pub async fn send(
        &self,
        method: reqwest::Method,
        url: Url,
        body: Option<Vec<u8>>,
    ) -> Result<reqwest::Response, ClientError> {
        let body = body.map(|b| ("application/x-ndjson", b));
        self.send_typed(method, url, body).await
    }

    /// [`Client::send`] with a body of the given content type.
    pub async fn send_typed(
        &self,
        method: reqwest::Method,
        url: Url,
        body: Option<(&'static str, Vec<u8>)>,
    ) -> Result<reqwest::Response, ClientError> {
        let mut req = self.request(method, url);
        if let Some((ctype, b)) = body {
            req = req.header(reqwest::header::CONTENT_TYPE, ctype).body(b);
        }
        let resp = req.send().await.map_err(|e| ClientError::Unreachable {
            server: self.target.server.to_string(),
            reason: error_chain(&e),
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok()?.trim().parse().ok());
        let text = resp.text().await.unwrap_or_default();
        let messages = serde_json::from_str::<ErrorBody>(&text)
            .map(|e| e.messages)
            .unwrap_or_default();
        let message = messages
            .error
            .first()
            .cloned()
            .unwrap_or_else(|| match text.trim() {
                "" => status
                    .canonical_reason()
                    .unwrap_or("no reason given")
                    .to_string(),
                t => t.chars().take(500).collect(),
            });
        Err(ClientError::Status {
            status,
            message,
            messages,
            retry_after,
        })
    }

    /// GET a JSON document.
    pub async fn get_json<T: DeserializeOwned>(&self, rest: &[&str]) -> Result<T, ClientError> {
        self.json_at(reqwest::Method::GET, self.url(rest, &[]), None)
            .await
    }

    /// Sends `body` (JSON, if any) to `url` and reads the JSON answer.
    pub async fn json_at<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        url: Url,
        body: Option<&serde_json::Value>,
    ) -> Result<T, ClientError> {
        let body = body.map(|b| ("application/json", b.to_string().into_bytes()));
        let resp = self.send_typed(method, url.clone(), body).await?;
        let bytes = resp.bytes().await.map_err(|e| ClientError::Response {
            url: url.to_string(),
            reason: error_chain(&e),
        })?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Response {
            url: url.to_string(),
            reason: e.to_string(),
        })
    }
}

/// An error with its causes, `a: b: c`, as reqwest nests the useful part.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(server: &str, tool: &str) -> Client {
        Client::new(Target {
            server: parse_server(server).unwrap(),
            tool: tool.into(),
            token: None,
        })
    }

    #[test]
    fn urls_encode_each_part() {
        let c = target("http://127.0.0.1:8080", "foo");
        assert_eq!(
            c.root_url(&["deletions"]).as_str(),
            "http://127.0.0.1:8080/v1/deletions"
        );
        assert_eq!(
            c.url(&["jobs", "my job/x", "logs"], &[("since", "10m".into())])
                .as_str(),
            "http://127.0.0.1:8080/v1/tool/foo/jobs/my%20job%2Fx/logs?since=10m"
        );
        // A server behind a path prefix keeps it, with or without a slash.
        for base in ["https://h.example/logs", "https://h.example/logs/"] {
            let c = target(base, "t");
            assert_eq!(
                c.url(&["jobs"], &[]).as_str(),
                "https://h.example/logs/v1/tool/t/jobs"
            );
        }
    }

    #[test]
    fn bad_servers_are_refused() {
        for bad in ["127.0.0.1:8080", "ftp://h", "http://h/?x=1", "not a url"] {
            assert!(parse_server(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(dir.path().join("tok"), "s3cret\n").unwrap();
        let given = ClientArgs {
            config: Some(path.clone()),
            ..ClientArgs::default()
        };
        std::fs::write(
            &path,
            format!(
                "server = \"https://logs.example.org\"\ntool = \"foo\"\ntoken_file = {:?}\n",
                dir.path().join("tok")
            ),
        )
        .unwrap();
        let t = Target::resolve(&given).unwrap();
        assert_eq!(t.server.as_str(), "https://logs.example.org/");
        assert_eq!(
            (t.tool.as_str(), t.token.as_deref()),
            ("foo", Some("s3cret"))
        );
        let t = Target::resolve(&ClientArgs {
            server: Some("http://127.0.0.1:9".into()),
            tool: Some("bar".into()),
            token: Some("flag".into()),
            config: Some(path.clone()),
            ..ClientArgs::default()
        })
        .unwrap();
        assert_eq!(t.server.as_str(), "http://127.0.0.1:9/");
        assert_eq!((t.tool.as_str(), t.token.as_deref()), ("bar", Some("flag")));
    }

    #[test]
    fn config_mistakes_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "tool = \"foo\"\ntokn = \"x\"\n").unwrap();
        let given = ClientArgs {
            config: Some(path.clone()),
            ..ClientArgs::default()
        };
        let err = Target::resolve(&given).unwrap_err().to_string();
        assert!(err.contains("config.toml") && err.contains("tokn"), "{err}");
        // Named explicitly, a missing file is an error; the default one is not.
        std::fs::remove_file(&path).unwrap();
        assert!(Target::resolve(&given).is_err());
        std::fs::write(&path, "").unwrap();
        let err = Target::resolve(&given).unwrap_err();
        assert!(matches!(err, ConfigError::NoTool(_)), "{err}");
    }
}
