//! Kubernetes Event objects as the API returns them and Fluent Bit's
//! `kubernetes_events` input emits them, one record each
//! (docs/design.md §13).

use crate::k8s::{hex_id, uid};
use afterlog_contract::time::rfc3339_nanos;
use serde_json::{Value, json};

/// The object an event is about.
#[derive(Clone, Debug)]
pub struct Involved {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    /// `spec.containers{<name>}` for an event about one container.
    pub field_path: Option<String>,
}

impl Involved {
    pub fn new(kind: &str, namespace: &str, name: &str) -> Involved {
        Involved {
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
            uid: uid(&format!("{kind}/{namespace}/{name}")),
            field_path: None,
        }
    }

    pub fn container(mut self, name: &str) -> Involved {
        self.field_path = Some(format!("spec.containers{{{name}}}"));
        self
    }
}

/// One Event object in the core/v1 form most components still write
/// (`count`, `firstTimestamp`, `lastTimestamp`; `eventTime` null).
#[derive(Clone, Debug)]
pub struct Event {
    pub object: Involved,
    /// `Normal` or `Warning`.
    pub kind: String,
    pub reason: String,
    pub message: String,
    /// `kubelet`, `default-scheduler`, `job-controller`, …
    pub component: String,
    /// The node, for the kubelet's events.
    pub host: Option<String>,
    pub count: u64,
    pub first_ns: u64,
    pub last_ns: u64,
}

impl Event {
    /// The Event's name: the object's, then a per-event hex suffix, as
    /// client-go's recorder names them (one per reason and first time).
    pub fn name(&self) -> String {
        let seed = format!("{}/{}/{}", self.object.name, self.reason, self.first_ns);
        format!("{}.{}", self.object.name, &hex_id(&seed)[..16])
    }

    /// The Event's `metadata.uid`: one per event, whatever its count.
    pub fn uid(&self) -> String {
        uid(&format!("event/{}/{}", self.object.namespace, self.name()))
    }

    /// The object as `GET /api/v1/events` lists it, at this count.
    pub fn to_json(&self) -> Value {
        let seconds = |ns: u64| {
            let s = rfc3339_nanos(ns - ns % 1_000_000_000);
            // Kubernetes' `Time` has whole seconds: `…T10:00:00Z`.
            format!("{}Z", &s[..19])
        };
        let mut involved = json!({
            "kind": self.object.kind,
            "namespace": self.object.namespace,
            "name": self.object.name,
            "uid": self.object.uid,
            "apiVersion": if self.object.kind == "Pod" { "v1" } else { "batch/v1" },
        });
        if let Some(f) = &self.object.field_path {
            involved["fieldPath"] = json!(f);
        }
        let mut source = json!({"component": self.component});
        if let Some(h) = &self.host {
            source["host"] = json!(h);
        }
        json!({
            "metadata": {
                "name": self.name(),
                "namespace": self.object.namespace,
                "uid": self.uid(),
                "resourceVersion": (self.last_ns / 1_000_000).to_string(),
                "creationTimestamp": seconds(self.first_ns),
            },
            "involvedObject": involved,
            "reason": self.reason,
            "message": self.message,
            "source": source,
            "firstTimestamp": seconds(self.first_ns),
            "lastTimestamp": seconds(self.last_ns),
            "count": self.count,
            "type": self.kind,
            "eventTime": null,
            "reportingComponent": self.component,
            "reportingInstance": self.host.clone().unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_looks_like_the_apis() {
        let e = Event {
            object: Involved::new("Pod", "tool-foo", "web-7d9f8b6c5d-x2x9q").container("web"),
            kind: "Warning".into(),
            reason: "Unhealthy".into(),
            message: "Liveness probe failed".into(),
            component: "kubelet".into(),
            host: Some("worker-1".into()),
            count: 3,
            first_ns: 1_796_464_800_250_000_000,
            last_ns: 1_796_464_830_900_000_000,
        };
        let v = e.to_json();
        assert_eq!(v["firstTimestamp"], "2026-12-05T10:00:00Z");
        assert_eq!(v["lastTimestamp"], "2026-12-05T10:00:30Z");
        assert_eq!(v["involvedObject"]["fieldPath"], "spec.containers{web}");
        assert_eq!(v["source"]["host"], "worker-1");
        assert_eq!(v["metadata"]["uid"], e.uid());
        let mut later = e.clone();
        later.count = 4;
        assert_eq!(
            later.uid(),
            e.uid(),
            "an event keeps its uid as it counts up"
        );
    }
}
