//! Who may read and push which tool's logs. Deny by default: a request
//! without a known user or token gets 401, a user outside the tool 403.
//!
//! Two modes, as Toolforge-like platforms deploy it:
//! - `gateway`: the API gateway authenticates (e.g. by client certificate)
//!   and names the user in a header. Only requests from the configured
//!   proxy addresses are believed; tool membership comes from a file.
//! - `token`: bearer tokens, stored as SHA-256 hashes in a file, each for
//!   some tools or for admins.
//!
//! Both files are re-read when they change, so membership follows the
//! platform without a restart; a broken edit keeps the last good version.

use crate::reply::ApiError;
use axum::http::HeaderMap;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use thiserror::Error;

/// Why an auth file could not be used.
#[derive(Debug, Error)]
pub enum AuthError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: token {index}: {what}")]
    BadToken {
        path: PathBuf,
        index: usize,
        what: String,
    },
    #[error("bad trusted proxy {0:?}: expected an IP address or CIDR such as 10.0.0.0/8")]
    Proxy(String),
    #[error("bad user header name {0:?}")]
    Header(String),
}

/// `members.json`: who belongs to which tool, and who is an admin.
///
/// ```json
/// {"admins": ["root-user"], "tools": {"my-tool": ["alice", "bob"]}}
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Members {
    #[serde(default)]
    pub admins: BTreeSet<String>,
    #[serde(default)]
    pub tools: BTreeMap<String, BTreeSet<String>>,
}

/// `tokens.json`: bearer tokens by their SHA-256 (see `afterlog hash-token`).
///
/// ```json
/// {"tokens": [{"name": "my-tool ci", "sha256": "9f86…", "tools": ["my-tool"]},
///             {"name": "ops", "sha256": "…", "admin": true}]}
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tokens {
    pub tokens: Vec<TokenEntry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    /// Who holds it, for logs.
    pub name: String,
    /// Lower-case hex SHA-256 of the token.
    pub sha256: String,
    #[serde(default)]
    pub tools: BTreeSet<String>,
    #[serde(default)]
    pub admin: bool,
}

/// The hash `tokens.json` stores for `token`.
pub fn hash_token(token: &str) -> String {
    let d = Sha256::digest(token.trim().as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub admin: bool,
    pub tools: BTreeSet<String>,
}

impl Principal {
    /// Whether the caller may read and push `tool`'s logs.
    pub fn may_use(&self, tool: &str) -> bool {
        self.admin || self.tools.contains(tool)
    }

    /// 403 unless the caller is a member of `tool` (or an admin).
    pub fn check_tool(&self, tool: &str) -> Result<(), ApiError> {
        if self.may_use(tool) {
            Ok(())
        } else {
            tracing::info!(user = %self.name, tool, "denied: not a member");
            Err(ApiError::forbidden(format!(
                "{} is not a member of tool {tool:?}",
                self.name
            )))
        }
    }
}

/// Who may create and cancel deletion requests (`serve --delete-by`);
/// whoever may read a tool may list its requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum DeleteBy {
    /// The tool's members (and admins).
    #[default]
    Members,
    /// Admins only: members ask an admin.
    Admins,
}

impl Principal {
    /// 403 unless the caller may create and cancel `tool`'s deletion
    /// requests under `by` (membership is checked already).
    pub fn check_delete(&self, tool: &str, by: DeleteBy) -> Result<(), ApiError> {
        self.check_tool(tool)?;
        if by == DeleteBy::Admins && !self.admin {
            tracing::info!(user = %self.name, tool, "denied: deletions are for admins");
            return Err(ApiError::forbidden(format!(
                "{} may not request deletions: this service takes them from admins only (--delete-by admins); ask one",
                self.name
            )));
        }
        Ok(())
    }
}

/// A file's modification time and size: a change to either means reload.
type Stamp = (SystemTime, u64);

/// A JSON file parsed on first use and again whenever its modification time
/// or size changes.
#[derive(Debug)]
struct Reloading<T> {
    path: PathBuf,
    state: Mutex<(Option<Stamp>, Arc<T>)>,
    parse: fn(&Path, &[u8]) -> Result<T, AuthError>,
}

impl<T> Reloading<T> {
    fn open(
        path: PathBuf,
        parse: fn(&Path, &[u8]) -> Result<T, AuthError>,
    ) -> Result<Self, AuthError> {
        let (stamp, value) = Self::load(&path, parse)?;
        Ok(Reloading {
            path,
            state: Mutex::new((Some(stamp), Arc::new(value))),
            parse,
        })
    }

    fn load(
        path: &Path,
        parse: fn(&Path, &[u8]) -> Result<T, AuthError>,
    ) -> Result<(Stamp, T), AuthError> {
        let read = |source| AuthError::Read {
            path: path.to_path_buf(),
            source,
        };
        let md = std::fs::metadata(path).map_err(read)?;
        let bytes = std::fs::read(path).map_err(read)?;
        Ok((stamp_of(&md), parse(path, &bytes)?))
    }

    /// The current version; a failed reload keeps the previous one. The
    /// file is looked at off the async threads: a slow volume must not
    /// stall requests that do not wait for it.
    async fn get(&self) -> Arc<T>
    where
        T: Send + Sync + 'static,
    {
        let now = tokio::fs::metadata(&self.path)
            .await
            .ok()
            .map(|m| stamp_of(&m));
        let known = self.lock().0;
        if now.is_some() && now != known {
            let (path, parse) = (self.path.clone(), self.parse);
            let loaded = tokio::task::spawn_blocking(move || Self::load(&path, parse)).await;
            let mut st = self.lock();
            match loaded {
                Ok(Ok((stamp, v))) => {
                    // Another request may have reloaded it meanwhile.
                    if st.0 != Some(stamp) {
                        tracing::info!(path = %self.path.display(), "reloaded");
                        *st = (Some(stamp), Arc::new(v));
                    }
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "keeping the previous version");
                    st.0 = now;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "reloading failed; keeping the previous version")
                }
            }
        }
        self.lock().1.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Option<Stamp>, Arc<T>)> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A file's stamp from its metadata.
fn stamp_of(md: &std::fs::Metadata) -> Stamp {
    (md.modified().unwrap_or(SystemTime::UNIX_EPOCH), md.len())
}

fn parse_members(path: &Path, b: &[u8]) -> Result<Members, AuthError> {
    serde_json::from_slice(b).map_err(|source| AuthError::Parse {
        path: path.to_path_buf(),
        source,
    })
}

fn parse_tokens(path: &Path, b: &[u8]) -> Result<HashMap<String, TokenEntry>, AuthError> {
    let t: Tokens = serde_json::from_slice(b).map_err(|source| AuthError::Parse {
        path: path.to_path_buf(),
        source,
    })?;
    let mut out = HashMap::new();
    for (index, e) in t.tokens.into_iter().enumerate() {
        let bad = |what: &str| AuthError::BadToken {
            path: path.to_path_buf(),
            index,
            what: what.to_string(),
        };
        if e.sha256.len() != 64 || !e.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad(
                "sha256 must be 64 hex digits (see `afterlog hash-token`)",
            ));
        }
        if !e.admin && e.tools.is_empty() {
            return Err(bad("grants nothing: give it tools or admin"));
        }
        out.insert(e.sha256.to_ascii_lowercase(), e);
    }
    Ok(out)
}

/// An address range requests may come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    bits: u8,
}

impl std::str::FromStr for Cidr {
    type Err = AuthError;

    fn from_str(s: &str) -> Result<Cidr, AuthError> {
        let bad = || AuthError::Proxy(s.to_string());
        let (a, bits) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b.parse::<u8>().map_err(|_| bad())?)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let bits = bits.unwrap_or(max);
        if bits > max {
            return Err(bad());
        }
        Ok(Cidr { addr, bits })
    }
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let bits = u32::from(self.bits);
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// How requests are authenticated.
#[derive(Debug, Clone)]
pub enum AuthConfig {
    Gateway {
        header: String,
        members: PathBuf,
        trusted_proxies: Vec<Cidr>,
    },
    Token {
        tokens: PathBuf,
    },
    /// Everyone is an admin. Only on loopback, for trying things out.
    InsecureNone,
}

/// The running authenticator.
#[derive(Debug, Clone)]
pub struct Auth(Arc<Inner>);

#[derive(Debug)]
enum Inner {
    Gateway {
        header: axum::http::HeaderName,
        members: Reloading<Members>,
        trusted: Vec<Cidr>,
    },
    Token(Reloading<HashMap<String, TokenEntry>>),
    None,
}

/// The user in a gateway header: a certificate subject's `CN=…`, or the
/// value itself.
fn user_from_header(v: &str) -> Option<String> {
    let v = v.trim();
    let user = match v.find("CN=") {
        Some(i) => v[i + 3..]
            .split([',', '/', '+'])
            .next()
            .unwrap_or("")
            .trim(),
        None => v,
    };
    (!user.is_empty() && user.len() <= 256 && !user.chars().any(char::is_control))
        .then(|| user.to_string())
}

impl Auth {
    /// Loads the files once, so that a bad config stops the start.
    pub fn new(cfg: &AuthConfig) -> Result<Auth, AuthError> {
        Ok(Auth(Arc::new(match cfg {
            AuthConfig::Gateway {
                header,
                members,
                trusted_proxies,
            } => Inner::Gateway {
                header: header
                    .parse()
                    .map_err(|_| AuthError::Header(header.clone()))?,
                members: Reloading::open(members.clone(), parse_members)?,
                trusted: trusted_proxies.clone(),
            },
            AuthConfig::Token { tokens } => {
                Inner::Token(Reloading::open(tokens.clone(), parse_tokens)?)
            }
            AuthConfig::InsecureNone => Inner::None,
        })))
    }

    /// Who is calling: 401 if nobody known.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        peer: Option<IpAddr>,
    ) -> Result<Principal, ApiError> {
        match &*self.0 {
            Inner::None => Ok(Principal {
                name: "anonymous (auth disabled)".into(),
                admin: true,
                tools: BTreeSet::new(),
            }),
            Inner::Gateway {
                header,
                members,
                trusted,
            } => {
                let Some(v) = headers.get(header) else {
                    return Err(ApiError::unauthorized(
                        "not authenticated: the request did not come through the API gateway",
                        None,
                    ));
                };
                if !peer.is_some_and(|ip| trusted.iter().any(|c| c.contains(ip))) {
                    tracing::warn!(?peer, "user header from an untrusted address ignored");
                    return Err(ApiError::unauthorized(
                        "not authenticated: user header from an address that is not a trusted proxy",
                        None,
                    ));
                }
                let Some(name) = v.to_str().ok().and_then(user_from_header) else {
                    return Err(ApiError::unauthorized(
                        "not authenticated: unusable user header",
                        None,
                    ));
                };
                let m = members.get().await;
                let tools = m
                    .tools
                    .iter()
                    .filter(|(_, users)| users.contains(&name))
                    .map(|(t, _)| t.clone())
                    .collect();
                Ok(Principal {
                    admin: m.admins.contains(&name),
                    name,
                    tools,
                })
            }
            Inner::Token(tokens) => {
                let challenge = Some("Bearer realm=\"afterlog\"");
                let token = headers
                    .get(axum::http::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .map(str::trim)
                    .filter(|t| !t.is_empty());
                let Some(token) = token else {
                    return Err(ApiError::unauthorized(
                        "not authenticated: send Authorization: Bearer <token>",
                        challenge,
                    ));
                };
                match tokens.get().await.get(&hash_token(token)) {
                    Some(e) => Ok(Principal {
                        name: e.name.clone(),
                        admin: e.admin,
                        tools: e.tools.clone(),
                    }),
                    None => Err(ApiError::unauthorized(
                        "not authenticated: unknown token",
                        challenge,
                    )),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        let c: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(c.contains("10.1.2.3".parse().unwrap()));
        assert!(!c.contains("10.2.0.1".parse().unwrap()));
        assert!(c.contains("::ffff:10.1.0.9".parse().unwrap()));
        let one: Cidr = "127.0.0.1".parse().unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        for bad in ["10.0.0.0/33", "x", "10.0.0.0/", "::/129"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn users_from_headers() {
        assert_eq!(user_from_header("alice").as_deref(), Some("alice"));
        assert_eq!(
            user_from_header("CN=bob,OU=people,O=Example").as_deref(),
            Some("bob")
        );
        assert_eq!(user_from_header("/O=x/CN=carol").as_deref(), Some("carol"));
        assert_eq!(user_from_header("CN=,O=x"), None);
        assert_eq!(user_from_header("  "), None);
    }

    #[test]
    fn token_hash_is_sha256_hex() {
        assert_eq!(
            hash_token("test"),
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        );
    }
}
