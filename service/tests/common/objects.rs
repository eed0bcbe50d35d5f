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

/// A stored Kubernetes event as the filter writes it (docs/design.md §13),
/// `t` ns after `T0`, its occurrence `count` (its `off`), filed under
/// `o.pod` and the container `@events`. Its `kind` is a guess from names
/// (`continuous`), which must not become the job's.
pub fn k8s_event(
    o: &Origin,
    uid: &str,
    t: u64,
    count: u64,
    (kind, reason, message): (&str, &str, &str),
) -> String {
    let times = if count > 1 {
        format!(" ({count}×)")
    } else {
        String::new()
    };
    json!({
        "stream": "event", "log": format!("{kind} {reason}{times}: {message}"), "off": count,
        "ts": T0 + t,
        "k8s_event": {
            "type": kind, "reason": reason, "message": message, "count": count,
            "first": "2026-11-25T15:00:00Z", "last": "2026-11-25T15:00:30Z",
            "source": "kubelet", "uid": uid,
            "object": {"kind": "Pod", "name": o.pod, "namespace": format!("tool-{}", o.tool),
                "uid": "p-uid", "field_path": "spec.containers{job}"},
        },
        "afterlog": {
            "tool": o.tool, "job": o.job, "kind": "continuous",
            "namespace": format!("tool-{}", o.tool), "pod": o.pod, "container": "@events",
            "container_id": uid, "node": "node-1", "route": o.route(), "class": "default",
        }
    })
    .to_string()
}
