//! Kubernetes Event objects recorded from a cluster (`fixtures/kube-events.json`,
//! core/v1 shapes as the API lists them), moved in time so that they
//! happened just now: Fluent Bit's `kubernetes_events` drops events older
//! than its `kube_retention_time` (1 h by default).
//!
//! - `events`: a cron job run that backs off (Pod Scheduled, Pulled,
//!   Created, Started, BackOff ×3; Job SuccessfulCreate,
//!   BackoffLimitExceeded; CronJob SuccessfulCreate, SawCompletedJob), a
//!   webservice whose liveness probe fails (Deployment ScalingReplicaSet,
//!   ReplicaSet SuccessfulCreate, Pod Unhealthy, Killing), an evicted pod,
//!   an image that does not pull (Pulling, Failed ErrImagePull, BackOff,
//!   Failed ImagePullBackOff), and a pod that never gets scheduled
//!   (FailedScheduling in series form: `eventTime` and `series`, no
//!   `count`, `lastTimestamp` null);
//! - `backoff_again`: the cron pod's BackOff event once more, now ×4;
//! - `kube_system`: events that are no tool's (a kube-system pod, a node).

use afterlog_contract::time::{compact_utc, parse_compact_utc, parse_rfc3339_nanos};
use serde_json::Value;
use std::path::PathBuf;

/// The members that hold times.
const TIME_KEYS: [&str; 5] = [
    "creationTimestamp",
    "firstTimestamp",
    "lastTimestamp",
    "eventTime",
    "lastObservedTime",
];

/// The recorded events, moved in time.
#[derive(Clone, Debug)]
pub struct KubeEvents {
    pub events: Vec<Value>,
    pub backoff_again: Value,
    pub kube_system: Vec<Value>,
}

/// The fixture's path.
pub fn fixture_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/kube-events.json")
}

impl KubeEvents {
    /// The fixture with every time moved so that its `recorded_at` is
    /// `now_secs` (Unix seconds).
    pub fn at(now_secs: u64) -> KubeEvents {
        let path = fixture_path();
        let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut v: Value =
            serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let recorded = v["recorded_at"]
            .as_str()
            .and_then(|s| parse_rfc3339_nanos(s.as_bytes()))
            .expect("recorded_at is an RFC 3339 time");
        let delta = now_secs as i64 - (recorded / 1_000_000_000) as i64;
        shift(&mut v, delta);
        let list = |v: &Value| v.as_array().cloned().unwrap_or_default();
        KubeEvents {
            events: list(&v["events"]),
            backoff_again: v["backoff_again"].clone(),
            kube_system: list(&v["kube_system"]),
        }
    }

    /// [`KubeEvents::at`] the current time.
    pub fn now() -> KubeEvents {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs();
        KubeEvents::at(now)
    }
}

/// Moves every time under `v` by `delta` seconds, keeping its form (the
/// fraction, if any, is untouched).
fn shift(v: &mut Value, delta: i64) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                match x {
                    Value::String(s) if TIME_KEYS.contains(&k.as_str()) => {
                        *s = shift_time(s, delta)
                            .unwrap_or_else(|| panic!("{k}: {s:?} is no Kubernetes time"));
                    }
                    _ => shift(x, delta),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| shift(x, delta)),
        _ => {}
    }
}

/// `2026-12-05T09:55:00Z` or `…:00.123456Z` moved by `delta` seconds.
fn shift_time(s: &str, delta: i64) -> Option<String> {
    let (whole, rest) = (s.get(..19)?, s.get(19..)?);
    let compact: String = whole.chars().filter(|c| *c != '-' && *c != ':').collect();
    let secs = parse_compact_utc(&format!("{compact}Z"))? + delta;
    let c = compact_utc(secs);
    Some(format!(
        "{}-{}-{}T{}:{}:{}{rest}",
        &c[0..4],
        &c[4..6],
        &c[6..8],
        &c[9..11],
        &c[11..13],
        &c[13..15]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_times_and_keeps_their_form() {
        assert_eq!(
            shift_time("2026-12-05T09:55:00Z", 3600 * 15).as_deref(),
            Some("2026-12-06T00:55:00Z")
        );
        assert_eq!(
            shift_time("2026-12-05T09:55:05.123456Z", -5).as_deref(),
            Some("2026-12-05T09:55:00.123456Z")
        );
        assert_eq!(shift_time("yesterday", 1), None);
    }

    #[test]
    fn the_fixture_happens_at_the_given_time() {
        // 2026-12-05T11:00:00Z: an hour after the recording.
        let k = KubeEvents::at(1_796_468_400);
        assert!(k.events.len() >= 15);
        let last = k.events[0]["lastTimestamp"].as_str().unwrap();
        assert_eq!(last, "2026-12-05T10:55:00Z");
        assert_eq!(k.backoff_again["count"], 4);
        assert_eq!(k.kube_system.len(), 2);
        let uids: std::collections::BTreeSet<_> = k
            .events
            .iter()
            .map(|e| e["metadata"]["uid"].as_str())
            .collect();
        assert_eq!(uids.len(), k.events.len(), "one uid per event");
        let series = k
            .events
            .iter()
            .find(|e| e["series"].is_object())
            .expect("one event in series form");
        assert!(series["lastTimestamp"].is_null());
        assert_eq!(
            series["series"]["lastObservedTime"],
            "2026-12-05T10:59:05.654321Z"
        );
    }
}
