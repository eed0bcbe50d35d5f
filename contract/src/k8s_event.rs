//! A Kubernetes Event object as afterlog reads it (docs/design.md §13): what
//! the filter takes from the record Fluent Bit's `kubernetes_events` input
//! emits, the job and kind of the object it is about, and the `log` text it
//! is stored with. Pure, shared by the filter and whatever else makes event
//! records (the demo), so they make identical ones.
//!
//! A member the event lacks, holds `null`, a value of another type, or an
//! empty string (Kubernetes writes `"reportingComponent": ""`) is absent.

use crate::record::{k8s_event::input, kind};
use crate::time;
use serde_json::{Map, Value};
use thiserror::Error;

/// `involvedObject.kind` of a pod.
pub const POD: &str = "Pod";

/// Why an event cannot be stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum EventError {
    #[error("Kubernetes event without involvedObject.name")]
    NoObjectName,
    #[error("Kubernetes event without metadata.uid")]
    NoUid,
}

/// The object an event is about (`involvedObject`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Object {
    pub kind: Option<String>,
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub uid: Option<String>,
    pub field_path: Option<String>,
}

/// What afterlog keeps of one Event object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    /// `involvedObject.namespace`, else `metadata.namespace`, else `""`.
    pub namespace: String,
    /// `metadata.uid`.
    pub uid: Option<String>,
    pub object: Object,
    /// `type` (`Normal`, `Warning`).
    pub kind: Option<String>,
    pub reason: Option<String>,
    pub message: Option<String>,
    /// `series.count`, else `count`; only a positive integer counts.
    pub count: Option<u64>,
    /// `firstTimestamp`, else `eventTime`, as written.
    pub first: Option<String>,
    /// The time the latest occurrence has, as written (see [`Event::ts`]).
    pub last: Option<String>,
    /// [`Event::last`] parsed, ns since the epoch.
    pub ts: Option<u64>,
    /// `source.component`, else `reportingComponent`.
    pub source: Option<String>,
    /// `source.host`, else `reportingInstance`, else `""`.
    pub node: String,
}

/// Whether a record is an Event object: it has no `kubernetes` member (a
/// container line) and an `involvedObject` object.
pub fn is_event(record: &Map<String, Value>) -> bool {
    !record.contains_key(crate::record::IN_KUBERNETES)
        && record
            .get(input::INVOLVED_OBJECT)
            .is_some_and(Value::is_object)
}

fn text<'a>(map: Option<&'a Value>, key: &str) -> Option<&'a str> {
    map?.get(key)?.as_str().filter(|s| !s.is_empty())
}

fn owned(map: Option<&Value>, key: &str) -> Option<String> {
    text(map, key).map(str::to_string)
}

fn positive(map: Option<&Value>, key: &str) -> Option<u64> {
    map?.get(key)?.as_u64().filter(|&n| n > 0)
}

impl Event {
    /// Reads an Event object; never fails ([`Event::problem`] says whether
    /// it can be stored).
    pub fn from_json(record: &Map<String, Value>) -> Event {
        let rec = |k: &str| record.get(k);
        let obj = rec(input::INVOLVED_OBJECT);
        let meta = rec(input::METADATA);
        let series = rec("series");
        let source = rec("source");
        let object = Object {
            kind: owned(obj, "kind"),
            name: owned(obj, "name"),
            namespace: owned(obj, "namespace"),
            uid: owned(obj, "uid"),
            field_path: owned(obj, "fieldPath"),
        };
        let top_text = |k: &str| {
            record
                .get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        // The latest occurrence first; a time that does not parse is passed over.
        let last = [
            text(series, "lastObservedTime"),
            top_text("lastTimestamp"),
            top_text("eventTime"),
            top_text("firstTimestamp"),
            text(meta, "creationTimestamp"),
        ]
        .into_iter()
        .flatten()
        .find_map(|t| time::parse_rfc3339_nanos(t.as_bytes()).map(|ns| (t, ns)));
        Event {
            namespace: object
                .namespace
                .clone()
                .or_else(|| owned(meta, "namespace"))
                .unwrap_or_default(),
            uid: owned(meta, "uid"),
            kind: top_text("type").map(str::to_string),
            reason: top_text("reason").map(str::to_string),
            message: top_text("message").map(str::to_string),
            count: positive(series, "count").or_else(|| {
                record
                    .get("count")
                    .and_then(Value::as_u64)
                    .filter(|&n| n > 0)
            }),
            first: top_text("firstTimestamp")
                .or_else(|| top_text("eventTime"))
                .map(str::to_string),
            last: last.map(|(t, _)| t.to_string()),
            ts: last.map(|(_, ns)| ns),
            source: text(source, "component")
                .or_else(|| top_text("reportingComponent"))
                .map(str::to_string),
            node: text(source, "host")
                .or_else(|| top_text("reportingInstance"))
                .unwrap_or_default()
                .to_string(),
            object,
        }
    }

    /// Why the event cannot be stored, if it cannot: a line needs its
    /// object's name (its pod or job) and its own uid (its container id).
    pub fn problem(&self) -> Option<EventError> {
        if self.object.name.is_none() {
            Some(EventError::NoObjectName)
        } else if self.uid.is_none() {
            Some(EventError::NoUid)
        } else {
            None
        }
    }

    /// How many times it happened: `count` (at least 1). The line's `off`.
    pub fn occurrences(&self) -> u64 {
        self.count.unwrap_or(1)
    }

    /// Whether the event is about a pod (and so filed under that pod).
    pub fn about_pod(&self) -> bool {
        self.object.kind.as_deref() == Some(POD)
    }

    /// The line: `<type> <reason>[ (<count>×)][ <Kind>/<name>]: <message>`,
    /// the count when over 1, the object when it is not a pod (whose
    /// events are filed under the pod). Absent parts are left out with
    /// their separator.
    pub fn log(&self) -> String {
        let mut head = String::new();
        let word = |s: &str, head: &mut String| {
            if !head.is_empty() {
                head.push(' ');
            }
            head.push_str(s);
        };
        for s in [&self.kind, &self.reason].into_iter().flatten() {
            word(s, &mut head);
        }
        let n = self.occurrences();
        if n > 1 {
            word(&format!("({n}×)"), &mut head);
        }
        if !self.about_pod() {
            match (&self.object.kind, &self.object.name) {
                (Some(k), Some(n)) => word(&format!("{k}/{n}"), &mut head),
                (None, Some(n)) => word(n, &mut head),
                (Some(k), None) => word(k, &mut head),
                (None, None) => {}
            }
        }
        match self.message.as_deref() {
            None => head,
            Some(message) if head.is_empty() => message.to_string(),
            Some(message) => {
                head.push_str(": ");
                head.push_str(message);
                head
            }
        }
    }
}

/// Kubernetes' generated-name alphabet (no vowels, no 0/1/3).
fn generated(s: &str, len: std::ops::RangeInclusive<usize>) -> bool {
    len.contains(&s.len())
        && s.bytes()
            .all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b))
}

/// `<n>-<suffix>` with a non-empty `n` and a suffix `ok` accepts: `n`.
fn strip_suffix(name: &str, ok: impl Fn(&str) -> bool) -> Option<&str> {
    let (n, suffix) = name.rsplit_once('-')?;
    (!n.is_empty() && ok(suffix)).then_some(n)
}

/// A CronJob's Job: `<cronjob>-<scheduled minute, 8+ digits>`.
fn cron_run(name: &str) -> Option<&str> {
    strip_suffix(name, |s| {
        s.len() >= 8 && s.bytes().all(|b| b.is_ascii_digit())
    })
}

/// A Deployment's ReplicaSet: `<deployment>-<pod-template-hash>`.
fn replica_set(name: &str) -> Option<&str> {
    strip_suffix(name, |s| generated(s, 6..=10))
}

/// The job and kind of a pod, from its name alone: a CronJob run's pod
/// `<x>-<8+ digits>-<5>` is `<x>`, `cronjob`; a ReplicaSet's pod
/// `<x>-<hash>-<5>` is `<x>`, `continuous`. For events about pods the label
/// rules (which see no labels) left at kind `other`.
pub fn pod_job_kind(name: &str) -> Option<(&str, &'static str)> {
    // The random suffix in any lower-case alphanumerics (not only the
    // generated-name alphabet): the digits before it say enough.
    let random = |s: &str| {
        s.len() == 5
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    let owner = strip_suffix(name, random)?;
    if let Some(job) = cron_run(owner) {
        return Some((job, kind::CRONJOB));
    }
    let owner = strip_suffix(name, |s| generated(s, 5..=5))?;
    replica_set(owner).map(|job| (job, kind::CONTINUOUS))
}

/// The job and kind of an object above the pod, by its kind and name.
pub fn object_job_kind<'a>(object_kind: &str, name: &'a str) -> (&'a str, &'static str) {
    match object_kind {
        "CronJob" => (name, kind::CRONJOB),
        "Job" => match cron_run(name) {
            Some(n) => (n, kind::CRONJOB),
            None => (name, kind::JOB),
        },
        "ReplicaSet" => (replica_set(name).unwrap_or(name), kind::CONTINUOUS),
        "Deployment" | "StatefulSet" | "DaemonSet" => (name, kind::CONTINUOUS),
        _ => (name, kind::OTHER),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(v: Value) -> Event {
        match v {
            Value::Object(m) => {
                assert!(is_event(&m));
                Event::from_json(&m)
            }
            _ => unreachable!(),
        }
    }

    /// The record Fluent Bit's `kubernetes_events` input emitted in a test
    /// against a real cluster's API shape.
    fn backoff() -> Value {
        json!({"metadata":{"name":"myjob-28889999-abcde.17f0a1","namespace":"tool-foo","uid":"e-uid-1","resourceVersion":"101","creationTimestamp":"2026-12-05T10:00:00Z"},
            "involvedObject":{"kind":"Pod","namespace":"tool-foo","name":"myjob-28889999-abcde","uid":"p-uid","apiVersion":"v1","resourceVersion":"55","fieldPath":"spec.containers{job}"},
            "reason":"BackOff","message":"Back-off restarting failed container job in pod myjob-28889999-abcde_tool-foo(p-uid)",
            "source":{"component":"kubelet","host":"node-1"},"firstTimestamp":"2026-12-05T10:00:00Z","lastTimestamp":"2026-12-05T10:00:30Z",
            "count":3,"type":"Warning","eventTime":null,"reportingComponent":"kubelet","reportingInstance":"node-1"})
    }

    #[test]
    fn a_pods_event() {
        let e = event(backoff());
        assert_eq!(e.problem(), None);
        assert_eq!(e.namespace, "tool-foo");
        assert_eq!(e.uid.as_deref(), Some("e-uid-1"));
        assert_eq!(e.object.field_path.as_deref(), Some("spec.containers{job}"));
        assert_eq!(e.count, Some(3));
        assert_eq!(e.first.as_deref(), Some("2026-12-05T10:00:00Z"));
        assert_eq!(e.last.as_deref(), Some("2026-12-05T10:00:30Z"));
        assert_eq!(e.ts, Some(1_796_464_830_000_000_000));
        assert_eq!(e.source.as_deref(), Some("kubelet"));
        assert_eq!(e.node, "node-1");
        assert_eq!(
            e.log(),
            "Warning BackOff (3×): Back-off restarting failed container job in pod myjob-28889999-abcde_tool-foo(p-uid)"
        );
    }

    #[test]
    fn a_series_event_has_only_event_time() {
        // events.k8s.io/v1 writers: no first/lastTimestamp, no count.
        let e = event(
            json!({"metadata":{"namespace":"tool-foo","uid":"u2","creationTimestamp":"2026-12-05T10:00:00Z"},
            "involvedObject":{"kind":"Pod","name":"web-7d9f8b6c5d-x2x4z","namespace":"tool-foo"},
            "reason":"Unhealthy","message":"Liveness probe failed: HTTP probe failed with statuscode: 500","type":"Warning",
            "firstTimestamp":null,"lastTimestamp":null,"eventTime":"2026-12-05T10:00:01.123456Z",
            "series":{"count":7,"lastObservedTime":"2026-12-05T10:05:01.654321Z"},
            "source":{},"reportingComponent":"kubelet","reportingInstance":"node-2"}),
        );
        assert_eq!(e.count, Some(7));
        assert_eq!(e.first.as_deref(), Some("2026-12-05T10:00:01.123456Z"));
        assert_eq!(e.last.as_deref(), Some("2026-12-05T10:05:01.654321Z"));
        assert_eq!(e.ts, Some(1_796_464_800_000_000_000 + 301_654_321_000));
        assert_eq!(e.source.as_deref(), Some("kubelet"));
        assert_eq!(e.node, "node-2");
        assert_eq!(
            e.log(),
            "Warning Unhealthy (7×): Liveness probe failed: HTTP probe failed with statuscode: 500"
        );
        // Without the series: the event time, once.
        let e = event(
            json!({"metadata":{"uid":"u3","namespace":"ns"},"involvedObject":{"kind":"Pod","name":"p"},
            "reason":"Scheduled","type":"Normal","message":"m","eventTime":"2026-12-05T10:00:01.5Z","reportingComponent":""}),
        );
        assert_eq!((e.count, e.occurrences()), (None, 1));
        assert_eq!(e.ts, Some(1_796_464_801_500_000_000));
        assert_eq!(e.namespace, "ns");
        assert_eq!(e.source, None);
        assert_eq!(e.node, "");
        assert_eq!(e.log(), "Normal Scheduled: m");
    }

    #[test]
    fn times_fall_back_in_order() {
        let mut v = backoff();
        v["lastTimestamp"] = json!("garbage");
        assert_eq!(
            event(v.clone()).last.as_deref(),
            Some("2026-12-05T10:00:00Z")
        );
        v["firstTimestamp"] = Value::Null;
        v["metadata"]["creationTimestamp"] = json!("2026-12-05T09:00:00+01:00");
        let e = event(v.clone());
        assert_eq!(e.ts, Some(1_796_457_600_000_000_000));
        assert_eq!(e.first, None);
        v["metadata"]["creationTimestamp"] = Value::Null;
        assert_eq!(event(v).ts, None);
    }

    #[test]
    fn objects_above_the_pod() {
        let cases = [
            ("CronJob", "nightly", "nightly", "cronjob"),
            ("Job", "nightly-28889999", "nightly", "cronjob"),
            ("Job", "nightly-2888", "nightly-2888", "job"),
            ("Job", "myjob", "myjob", "job"),
            ("Deployment", "worker", "worker", "continuous"),
            ("ReplicaSet", "worker-7d9f8b6c5d", "worker", "continuous"),
            (
                "ReplicaSet",
                "worker-abcdefg",
                "worker-abcdefg",
                "continuous",
            ),
            ("StatefulSet", "db", "db", "continuous"),
            ("DaemonSet", "agent", "agent", "continuous"),
            ("PersistentVolumeClaim", "data-db-0", "data-db-0", "other"),
            ("", "x", "x", "other"),
        ];
        for (k, n, job, kind) in cases {
            assert_eq!(object_job_kind(k, n), (job, kind), "{k}/{n}");
        }
    }

    #[test]
    fn pods_from_names() {
        let cases = [
            ("nightly-28889999-xk2lp", Some(("nightly", "cronjob"))),
            // Not a generated suffix, still a cron run's pod.
            ("myjob-28889999-abcde", Some(("myjob", "cronjob"))),
            ("worker-7d9f8b6c5d-x2x4z", Some(("worker", "continuous"))),
            // Words are no hash.
            ("my-service-backend-abcde", None),
            ("worker-7d9f8b6c5d-abcde", None),
            ("myjob-x7k2p", None),
            ("-28889999-xk2lp", None),
            ("db-0", None),
            ("", None),
        ];
        for (name, want) in cases {
            assert_eq!(pod_job_kind(name), want, "{name}");
        }
    }

    #[test]
    fn log_lines_of_objects_and_missing_parts() {
        let e = event(
            json!({"metadata":{"uid":"u"},"involvedObject":{"kind":"Job","name":"nightly-28889999"},
            "type":"Warning","reason":"BackoffLimitExceeded","message":"Job has reached the specified backoff limit","count":1}),
        );
        assert_eq!(
            e.log(),
            "Warning BackoffLimitExceeded Job/nightly-28889999: Job has reached the specified backoff limit"
        );
        let e = event(
            json!({"involvedObject":{"kind":"Pod","name":"p"},"type":"Warning","reason":"BackOff"}),
        );
        assert_eq!(e.log(), "Warning BackOff", "no separator without a message");
        let e = event(json!({"involvedObject":{"name":"x"},"message":"only this"}));
        assert_eq!(e.log(), "x: only this");
        assert_eq!(e.problem(), Some(EventError::NoUid));
        let e = event(json!({"involvedObject":{"kind":"Pod"},"metadata":{"uid":"u"},"count":"3"}));
        assert_eq!(e.log(), "");
        assert_eq!(e.problem(), Some(EventError::NoObjectName));
        assert_eq!(e.count, None);
    }

    #[test]
    fn what_is_an_event() {
        let m = |v: Value| v.as_object().cloned().unwrap();
        assert!(!is_event(&m(json!({"involvedObject":"x"}))));
        assert!(!is_event(&m(json!({"involvedObject":{},"kubernetes":{}}))));
        assert!(is_event(&m(json!({"involvedObject":{}}))));
    }
}
