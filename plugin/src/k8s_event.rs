//! Kubernetes events in the filter (docs/design.md §13): an Event object's
//! labels, by the same label and routing rules as a container's, and the
//! record it is stored as. Pure; the core ([`crate::filter`]) charges the
//! quota and routes it like any record.

use crate::filter::write_str_cut;
use crate::json;
use crate::labels::{Labeller, Labels, PodMeta};
use afterlog_contract::k8s_event::{self as ev, Event};
use afterlog_contract::record::{self as field, k8s_event as out, kind};

/// The event's labels, and the metadata the routing rules see (the pod and
/// container it is filed under, no labels or annotations); `None` when no
/// tool rule names its tool.
pub fn labels(labeller: &Labeller, e: &Event) -> Option<(PodMeta, Labels)> {
    let name = e.object.name.clone().unwrap_or_default();
    // The tool rules see the object's name as the pod's.
    let mut meta = PodMeta {
        namespace: e.namespace.clone(),
        pod: name.clone(),
        container: out::CONTAINER.into(),
        container_id: e.uid.clone().unwrap_or_default(),
        node: e.node.clone(),
        labels: Vec::new(),
        annotations: Vec::new(),
    };
    let mut l = labeller.derive(&meta)?;
    if e.about_pod() {
        // Without the pod's labels the rules may know nothing but its name.
        if l.kind == kind::OTHER
            && let Some((job, k)) = ev::pod_job_kind(&name)
        {
            l.kind = k.into();
            if l.job == name {
                l.job = job.into();
            }
        }
    } else {
        let (job, k) = ev::object_job_kind(e.object.kind.as_deref().unwrap_or(""), &name);
        l.job = job.into();
        l.kind = k.into();
        l.pod = out::CONTAINER.into();
    }
    meta.pod = l.pod.clone();
    Some((meta, l))
}

/// The members a quota marker keeps of an event: `"stream":…,"off":…,`.
pub fn write_head(o: &mut Vec<u8>) {
    // No `off`: the marker must not share the occurrence's identity
    // (uid, ts, count), which a re-list may bring back once the quota has
    // reset — the merge would keep one of the two.
    member(o, field::STREAM);
    json::write_str(o, out::STREAM);
    o.push(b',');
}

/// Writes the record up to its `afterlog` object: `{"stream":"event",
/// "log":…,"off":…,"ts":…,"k8s_event":{…},`. `log` and the message are cut
/// at `line_limit` like a container's line.
pub fn write_record(o: &mut Vec<u8>, e: &Event, ts: u64, line_limit: usize) {
    o.push(b'{');
    member(o, field::STREAM);
    json::write_str(o, out::STREAM);
    o.push(b',');
    member(o, field::LOG);
    write_str_cut(o, &e.log(), line_limit);
    o.push(b',');
    member(o, field::OFF);
    json::write_u64(o, e.occurrences());
    o.push(b',');
    member(o, field::TS);
    json::write_u64(o, ts);
    o.push(b',');
    member(o, out::FIELD);
    o.push(b'{');
    let mut first = true;
    let mut key = |o: &mut Vec<u8>, k: &str| {
        if !std::mem::take(&mut first) {
            o.push(b',');
        }
        member(o, k);
    };
    for (k, v) in [(out::TYPE, &e.kind), (out::REASON, &e.reason)] {
        if let Some(v) = v {
            key(o, k);
            json::write_str(o, v);
        }
    }
    if let Some(m) = &e.message {
        key(o, out::MESSAGE);
        write_str_cut(o, m, line_limit);
    }
    if let Some(n) = e.count {
        key(o, out::COUNT);
        json::write_u64(o, n);
    }
    for (k, v) in [
        (out::FIRST, &e.first),
        (out::LAST, &e.last),
        (out::SOURCE, &e.source),
        (out::UID, &e.uid),
    ] {
        if let Some(v) = v {
            key(o, k);
            json::write_str(o, v);
        }
    }
    key(o, out::OBJECT);
    o.push(b'{');
    let obj = &e.object;
    let mut first = true;
    for (k, v) in [
        (out::object::KIND, &obj.kind),
        (out::object::NAME, &obj.name),
        (out::object::NAMESPACE, &obj.namespace),
        (out::object::UID, &obj.uid),
        (out::object::FIELD_PATH, &obj.field_path),
    ] {
        if let Some(v) = v {
            if !std::mem::take(&mut first) {
                o.push(b',');
            }
            member(o, k);
            json::write_str(o, v);
        }
    }
    o.extend_from_slice(b"}},");
}

/// `"key":`
fn member(o: &mut Vec<u8>, key: &str) {
    json::write_str(o, key);
    o.push(b':');
}

#[cfg(test)]
mod tests {
    use super::*;
    use afterlog_contract::rules::LabelRules;
    use serde_json::{Value, json};

    fn event(v: Value) -> Event {
        Event::from_json(v.as_object().unwrap())
    }

    fn pod_event(ns: &str, pod: &str, reason: &str) -> Event {
        event(
            json!({"metadata":{"namespace":ns,"uid":"e1"},"involvedObject":{"kind":"Pod","namespace":ns,"name":pod},
            "reason":reason,"type":"Warning","message":"m","source":{"component":"kubelet","host":"node-1"}}),
        )
    }

    fn object_event(ns: &str, kind: &str, name: &str, reason: &str) -> Event {
        event(
            json!({"metadata":{"namespace":ns,"uid":"e2"},"involvedObject":{"kind":kind,"namespace":ns,"name":name},
            "reason":reason,"type":"Normal","message":"m","source":{"component":"c"}}),
        )
    }

    /// `tool job kind pod` under the default rules; `-`: not a tool's.
    fn labelled(e: &Event) -> String {
        let labeller = Labeller::new(&LabelRules::default()).unwrap();
        match labels(&labeller, e) {
            None => "-".into(),
            Some((meta, l)) => {
                assert_eq!(meta.pod, l.pod);
                assert_eq!(
                    (l.container.as_str(), meta.container.as_str()),
                    ("@events", "@events")
                );
                format!("{} {} {} {}", l.tool, l.job, l.kind, l.pod)
            }
        }
    }

    #[test]
    fn realistic_events_labelled() {
        let cases = [
            // A cron run's pod restarting.
            (
                pod_event("tool-foo", "nightly-28889999-xk2lp", "BackOff"),
                "foo nightly cronjob nightly-28889999-xk2lp",
            ),
            // A web service's pod failing its liveness probe.
            (
                pod_event("tool-foo", "foo-5c6d7f8b9-xk2lp", "Unhealthy"),
                "foo foo continuous foo-5c6d7f8b9-xk2lp",
            ),
            // Evicted, never scheduled, image pull failed: a one-off job's pod.
            (
                pod_event("tool-foo", "myjob-x7k2p", "Evicted"),
                "foo myjob other myjob-x7k2p",
            ),
            (
                pod_event("tool-foo", "myjob-x7k2p", "FailedScheduling"),
                "foo myjob other myjob-x7k2p",
            ),
            (
                pod_event("tool-bar", "worker-7d9f8b6c5d-x2x4z", "Failed"),
                "bar worker continuous worker-7d9f8b6c5d-x2x4z",
            ),
            (
                object_event(
                    "tool-foo",
                    "Job",
                    "nightly-28889999",
                    "BackoffLimitExceeded",
                ),
                "foo nightly cronjob @events",
            ),
            (
                object_event("tool-foo", "Job", "myjob", "SuccessfulCreate"),
                "foo myjob job @events",
            ),
            (
                object_event("tool-foo", "CronJob", "nightly", "SawCompletedJob"),
                "foo nightly cronjob @events",
            ),
            (
                object_event("tool-foo", "Deployment", "worker", "ScalingReplicaSet"),
                "foo worker continuous @events",
            ),
            (
                object_event(
                    "tool-foo",
                    "ReplicaSet",
                    "worker-7d9f8b6c5d",
                    "SuccessfulCreate",
                ),
                "foo worker continuous @events",
            ),
            (
                pod_event("kube-system", "coredns-5d78c9869d-x2x4z", "BackOff"),
                "-",
            ),
            (
                object_event("kube-system", "Deployment", "coredns", "ScalingReplicaSet"),
                "-",
            ),
        ];
        for (e, want) in cases {
            assert_eq!(labelled(&e), want, "{e:?}");
        }
    }

    #[test]
    fn record_text() {
        let e = event(
            json!({"metadata":{"name":"x.17f0a1","namespace":"tool-foo","uid":"e-uid-1","creationTimestamp":"2026-12-05T10:00:00Z"},
            "involvedObject":{"kind":"Pod","namespace":"tool-foo","name":"myjob-28889999-abcde","uid":"p-uid","apiVersion":"v1","fieldPath":"spec.containers{job}"},
            "reason":"BackOff","message":"Back-off \"restarting\"","source":{"component":"kubelet","host":"node-1"},
            "firstTimestamp":"2026-12-05T10:00:00Z","lastTimestamp":"2026-12-05T10:00:30Z","count":3,"type":"Warning","eventTime":null}),
        );
        let mut o = Vec::new();
        write_record(&mut o, &e, e.ts.unwrap(), 16384);
        o.extend_from_slice(b"\"afterlog\":{}}");
        let v: Value = serde_json::from_slice(&o).unwrap();
        assert_eq!(
            String::from_utf8(o).unwrap(),
            r#"{"stream":"event","log":"Warning BackOff (3×): Back-off \"restarting\"","off":3,"ts":1796464830000000000,"k8s_event":{"type":"Warning","reason":"BackOff","message":"Back-off \"restarting\"","count":3,"first":"2026-12-05T10:00:00Z","last":"2026-12-05T10:00:30Z","source":"kubelet","uid":"e-uid-1","object":{"kind":"Pod","name":"myjob-28889999-abcde","namespace":"tool-foo","uid":"p-uid","field_path":"spec.containers{job}"}},"afterlog":{}}"#,
            "{v}"
        );
        // Cut like a line; the members it lacks are absent.
        let e = event(
            json!({"metadata":{"uid":"u"},"involvedObject":{"name":"n"},"message":"é".repeat(10)}),
        );
        let mut o = Vec::new();
        write_record(&mut o, &e, 5, 5);
        assert_eq!(
            String::from_utf8(o).unwrap(),
            r#"{"stream":"event","log":"n: é…[truncated 18 bytes]","off":1,"ts":5,"k8s_event":{"message":"éé…[truncated 16 bytes]","uid":"u","object":{"name":"n"}},"#
        );
        let mut h = Vec::new();
        write_head(&mut h);
        assert_eq!(h, br#""stream":"event","#);
    }
}
