//! The compaction status object, `status/compaction.json` in each class's
//! store: how the latest pass went and when the latest clean one ended.
//!
//! Every pass writes it, wherever it runs (a CronJob's `afterlog compact`
//! or the service's own loop), so whoever watches the store — the
//! service's metrics, an admin with `afterlog compact --status` — sees
//! compaction the same way however it is deployed. A pass that found the
//! lease held writes nothing (it did nothing worth telling); the write is
//! conditional on the version read, so a pass that lost its lease never
//! overwrites a newer pass's news.

use crate::Report;
use afterlog_contract::layout;
use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, UpdateVersion};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The status object's key.
pub fn key() -> String {
    format!("{}/compaction.json", layout::STATUS)
}

/// The format's version; a reader refuses others rather than misread them.
pub const STATUS_VERSION: u32 = 1;

/// What a pass came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PassResult {
    /// Every tool was gone through.
    Ok,
    /// Asked to stop (the service shutting down), it stopped between two
    /// jobs: what it did is whole, the rest waits for the next pass.
    Stopped,
    /// It failed; the next pass resumes where it stopped.
    Error,
}

impl PassResult {
    pub fn name(self) -> &'static str {
        match self {
            PassResult::Ok => "ok",
            PassResult::Stopped => "stopped",
            PassResult::Error => "error",
        }
    }
}

/// One pass, as the status object keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pass {
    /// The compactor that ran it (host/pid/random, as in the lease).
    pub holder: String,
    /// Wall-clock ns since the epoch.
    pub started_ns: u64,
    pub ended_ns: u64,
    pub result: PassResult,
    /// Why it failed, for [`PassResult::Error`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What it did (up to the failure, for an error).
    pub report: Report,
}

impl Pass {
    pub fn seconds(&self) -> f64 {
        self.ended_ns.saturating_sub(self.started_ns) as f64 / 1e9
    }
}

/// The stored status of one store's compaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub version: u32,
    /// The routing class the store holds.
    pub class: String,
    /// The latest pass, whatever its result.
    pub last: Pass,
    /// The latest pass that ended [`PassResult::Ok`]; `None` until one has.
    #[serde(default)]
    pub last_success: Option<Pass>,
}

impl Status {
    /// The status after `pass`, given the one stored before (if any, and
    /// readable): the latest success is carried over until a new one.
    pub fn after(previous: Option<Status>, class: &str, pass: Pass) -> Status {
        let last_success = if pass.result == PassResult::Ok {
            Some(pass.clone())
        } else {
            previous.and_then(|p| p.last_success)
        };
        Status {
            version: STATUS_VERSION,
            class: class.to_string(),
            last: pass,
            last_success,
        }
    }
}

#[derive(Debug, Error)]
pub enum StatusError {
    #[error("{key}: {source}")]
    Store {
        key: String,
        source: object_store::Error,
    },
    #[error("{key}: not a compaction status: {source}")]
    Parse {
        key: String,
        source: serde_json::Error,
    },
    #[error("{key}: status version {found}, this afterlog reads {STATUS_VERSION}")]
    Version { key: String, found: u32 },
}

/// Parses a status object's body.
pub fn parse(key: &str, body: &[u8]) -> Result<Status, StatusError> {
    #[derive(Deserialize)]
    struct Versioned {
        version: u32,
    }
    let v: Versioned = serde_json::from_slice(body).map_err(|source| StatusError::Parse {
        key: key.to_string(),
        source,
    })?;
    if v.version != STATUS_VERSION {
        return Err(StatusError::Version {
            key: key.to_string(),
            found: v.version,
        });
    }
    serde_json::from_slice(body).map_err(|source| StatusError::Parse {
        key: key.to_string(),
        source,
    })
}

/// The status object's body and the version a replacement must find.
async fn get(store: &dyn ObjectStore) -> Result<Option<(Bytes, UpdateVersion)>, StatusError> {
    let key = key();
    let failed = |source| StatusError::Store {
        key: key.clone(),
        source,
    };
    match store.get(&Path::from(key.as_str())).await {
        Ok(g) => {
            let version = UpdateVersion {
                e_tag: g.meta.e_tag.clone(),
                version: g.meta.version.clone(),
            };
            Ok(Some((g.bytes().await.map_err(failed)?, version)))
        }
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(failed(e)),
    }
}

/// The store's status object; `None` if no pass has written one yet.
pub async fn read(store: &dyn ObjectStore) -> Result<Option<Status>, StatusError> {
    match get(store).await? {
        None => Ok(None),
        Some((body, _)) => parse(&key(), &body).map(Some),
    }
}

/// Records `pass` in the store's status object, and returns the status
/// written — or `None` if another compactor replaced the object between
/// this one's read and write: its news is newer (this pass had lost the
/// lease), so it is kept. A status that cannot be read is replaced: it
/// holds no data, only news of earlier passes.
pub async fn record(
    store: &dyn ObjectStore,
    class: &str,
    pass: Pass,
) -> Result<Option<Status>, StatusError> {
    let key = key();
    let (previous, mode) = match get(store).await? {
        None => (None, PutMode::Create),
        Some((body, version)) => {
            let previous = parse(&key, &body)
                .inspect_err(|e| {
                    tracing::warn!(class, "replacing an unreadable compaction status: {e}")
                })
                .ok();
            (previous, PutMode::Update(version))
        }
    };
    let status = Status::after(previous, class, pass);
    let body =
        Bytes::from(
            serde_json::to_vec_pretty(&status).map_err(|source| StatusError::Parse {
                key: key.clone(),
                source,
            })?,
        );
    match crate::versioned::put_if(store, &Path::from(key.as_str()), body, mode).await {
        Ok(true) => Ok(Some(status)),
        Ok(false) => Ok(None),
        Err(source) => Err(StatusError::Store { key, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(result: PassResult, started_ns: u64) -> Pass {
        Pass {
            holder: "h/1/0".into(),
            started_ns,
            ended_ns: started_ns + 2_500_000_000,
            result,
            error: (result == PassResult::Error).then(|| "store down".into()),
            report: Report {
                jobs: 3,
                ..Report::default()
            },
        }
    }

    #[test]
    fn the_latest_success_is_carried_over_failures() {
        let ok = Status::after(None, "default", pass(PassResult::Ok, 10));
        assert_eq!(ok.last_success.as_ref().unwrap().started_ns, 10);
        let failed = Status::after(Some(ok.clone()), "default", pass(PassResult::Error, 20));
        assert_eq!(failed.last.started_ns, 20);
        assert_eq!(failed.last_success, ok.last_success);
        let stopped = Status::after(Some(failed), "default", pass(PassResult::Stopped, 30));
        assert_eq!(stopped.last.result, PassResult::Stopped);
        assert_eq!(stopped.last_success, ok.last_success);
        let again = Status::after(Some(stopped), "default", pass(PassResult::Ok, 40));
        assert_eq!(again.last_success.unwrap().started_ns, 40);
        let never = Status::after(None, "default", pass(PassResult::Error, 50));
        assert_eq!(never.last_success, None);
        assert_eq!(never.last.seconds(), 2.5);
    }

    #[test]
    fn round_trips_and_refuses_what_it_cannot_read() {
        let s = Status::after(None, "long-retention", pass(PassResult::Error, 7));
        let body = serde_json::to_vec(&s).unwrap();
        assert_eq!(parse("k", &body).unwrap(), s);
        let text = String::from_utf8(body.clone()).unwrap();
        assert!(text.contains(r#""result":"error""#), "{text}");
        assert!(text.contains(r#""error":"store down""#), "{text}");
        let newer = text.replacen(r#""version":1"#, r#""version":2"#, 1);
        assert!(matches!(
            parse("k", newer.as_bytes()),
            Err(StatusError::Version { found: 2, .. })
        ));
        assert!(matches!(parse("k", b"{"), Err(StatusError::Parse { .. })));
        assert!(matches!(
            parse("k", br#"{"version":1}"#),
            Err(StatusError::Parse { .. })
        ));
    }
}
