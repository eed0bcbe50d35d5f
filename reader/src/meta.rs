//! `meta/<tool>/<job>/<pod>.json` (docs/design.md §7): what the compactor merged for a
//! pod and which raw keys those merged objects consumed. The compactor writes
//! it; readers take it as a snapshot.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The only version this reader understands.
pub const META_VERSION: u32 = 1;

/// One pod's metadata snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodMeta {
    pub version: u32,
    #[serde(default)]
    pub merged: Vec<MergedObject>,
    /// Raw keys covered by a merged object, pending deletion.
    #[serde(default)]
    pub consumed: Vec<ConsumedRaw>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<PodInfo>,
}

/// A `data/` object the compactor wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergedObject {
    /// Full object key (`data/…`).
    pub key: String,
    /// ns since the epoch, inclusive.
    pub first_ts: u64,
    pub last_ts: u64,
    pub lines: u64,
    pub bytes: u64,
}

/// A raw key whose records a merged object holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumedRaw {
    /// Full object key (`raw/…`).
    pub key: String,
    /// When it was consumed, ns since the epoch.
    pub since_ns: u64,
}

/// What is known about the pod itself, recorded by the compactor so that
/// listings need not open objects.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodInfo {
    pub node: String,
    pub kind: String,
    /// Container name → the ids of its instances, oldest first (a restart
    /// adds one).
    #[serde(default)]
    pub containers: BTreeMap<String, Vec<String>>,
    /// Event times (ns) of the first and last merged record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_ts: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_ts: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_shape() {
        let m: PodMeta = serde_json::from_str(
            r#"{"version":1,
                "merged":[{"key":"data/t/j/p/c/1-2-x.gz","first_ts":1,"last_ts":2,"lines":2,"bytes":40}],
                "consumed":[{"key":"raw/t/j/p/c/20260101T000000Z-u.gz","since_ns":5}],
                "pod":{"node":"n1","kind":"job","containers":{"c":["cid"]}}}"#,
        )
        .unwrap();
        assert_eq!(m.version, META_VERSION);
        assert_eq!(m.merged[0].last_ts, 2);
        assert_eq!(m.consumed[0].since_ns, 5);
        assert_eq!(m.pod.unwrap().containers["c"], ["cid"]);
        let back: PodMeta = serde_json::from_str(r#"{"version":1}"#).unwrap();
        assert!(back.merged.is_empty() && back.consumed.is_empty() && back.pod.is_none());
    }
}
