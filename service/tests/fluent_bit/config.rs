//! What this test's node runs: the drop-in in the filter's event format,
//! and the sample filter config.

use crate::world::LONG;
use crate::{NOISY_QUOTA, UPLOAD_TIMEOUT_SECS};
use afterlog_harness::fluent_bit::{DropIn, workspace_root};
use serde_json::{Value, json};
use std::fs;
use std::path::Path;

/// The filter's event format: the drop-in's `event_format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Json,
    Msgpack,
}

impl Mode {
    fn event_format(self) -> &'static str {
        match self {
            Mode::Json => "json",
            Mode::Msgpack => "msgpack",
        }
    }
}

/// `fluent-bit/afterlog.yaml` pointed at this run's files, in `mode`.
pub fn drop_in(logs: &Path, meta: &Path, mode: Mode) -> String {
    DropIn::shipped()
        .point_at(logs, meta)
        .event_format(mode.event_format())
        .upload_timeout_secs(UPLOAD_TIMEOUT_SECS)
        .text()
        .to_string()
}

/// The sample filter config with the noisy tool's quota made small and the
/// quota state in `state`.
pub fn filter_config(state: &Path) -> String {
    let src = workspace_root()
        .join("fluent-bit")
        .join("afterlog-filter.json");
    let text = fs::read_to_string(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    let mut v: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    v["quota"]["tools"] = json!({"noisy-tool": {"bytes": NOISY_QUOTA, "window_seconds": 3600}});
    // One more rule before the sample's: a pod can be put in the
    // long-retention class by a label, so a job's runs span two classes.
    let routes = v["routes"].as_array_mut().expect("the sample has routes");
    routes.insert(
        0,
        json!({"match": {"labels": {"afterlog.io/retain": "long"}}, "action": "class", "class": LONG}),
    );
    v["state_file"] = json!(state.join("afterlog-quota.state"));
    serde_json::to_string_pretty(&v).unwrap()
}
