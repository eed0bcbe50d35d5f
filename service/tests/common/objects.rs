//! Objects in the store as Fluent Bit's s3 output writes them.

use afterlog_contract::layout::Origin;
use afterlog_reader::Store;
use afterlog_testkit::{SECS, T0, gz, put};
use serde_json::json;

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

/// Uploads `lines` of `o` as one raw object whose key time is `t_secs`
/// after T0; returns its key.
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
