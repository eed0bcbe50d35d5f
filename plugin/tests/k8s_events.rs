//! Kubernetes events through the filter (docs/design.md §13), natively, in
//! both modes: the JSON text mode and the msgpack mode's NF1.

use afterlog_contract::nf;
use afterlog_filter::{Config, Output, Runtime};
use serde_json::{Value, json};

const SEC: u32 = 1_796_464_900;

fn clock() -> u64 {
    u64::from(SEC) * 1_000_000_000
}

fn runtime(cfg: Value) -> Runtime {
    Runtime::with_config(
        Config::parse(cfg.to_string().as_bytes()).unwrap(),
        None,
        clock,
    )
}

/// The record Fluent Bit 5.1.1's `kubernetes_events` input emits.
fn backoff() -> Value {
    json!({"metadata":{"name":"myjob-28889999-abcde.17f0a1","namespace":"tool-foo","uid":"e-uid-1","resourceVersion":"101","creationTimestamp":"2026-12-05T10:00:00Z"},
        "involvedObject":{"kind":"Pod","namespace":"tool-foo","name":"myjob-28889999-abcde","uid":"p-uid","apiVersion":"v1","resourceVersion":"55","fieldPath":"spec.containers{job}"},
        "reason":"BackOff","message":"Back-off restarting failed container job in pod myjob-28889999-abcde_tool-foo(p-uid)",
        "source":{"component":"kubelet","host":"node-1"},"firstTimestamp":"2026-12-05T10:00:00Z","lastTimestamp":"2026-12-05T10:00:30Z",
        "count":3,"type":"Warning","eventTime":null,"reportingComponent":"kubelet","reportingInstance":"node-1"})
}

/// A msgpack map of a JSON value, as Fluent Bit holds records.
fn msgpack(v: &Value) -> Vec<u8> {
    fn to_rmpv(v: &Value) -> rmpv::Value {
        match v {
            Value::Null => rmpv::Value::Nil,
            Value::Bool(b) => rmpv::Value::Boolean(*b),
            Value::Number(n) => match n.as_u64() {
                Some(u) => rmpv::Value::from(u),
                None => match n.as_i64() {
                    Some(i) => rmpv::Value::from(i),
                    None => rmpv::Value::F64(n.as_f64().unwrap()),
                },
            },
            Value::String(s) => rmpv::Value::from(s.as_str()),
            Value::Array(a) => rmpv::Value::Array(a.iter().map(to_rmpv).collect()),
            Value::Object(m) => rmpv::Value::Map(
                m.iter()
                    .map(|(k, v)| (rmpv::Value::from(k.as_str()), to_rmpv(v)))
                    .collect(),
            ),
        }
    }
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, &to_rmpv(v)).unwrap();
    out
}

/// The msgpack mode's answer as the reader decodes it.
fn from_nf(bytes: &[u8]) -> Value {
    let body = &bytes[..bytes.len() - 1];
    assert!(!body.contains(&0), "NF1 holds no zero byte");
    let mut json = Vec::new();
    afterlog_filter::msgpack::to_json(body, &mut json).unwrap();
    nf::decode_record(serde_json::from_slice(&json).unwrap()).unwrap()
}

/// The record each mode stores for `event` (`None`: dropped), after
/// checking they are the same.
fn both(json_rt: &mut Runtime, mp_rt: &mut Runtime, event: &Value) -> Option<Value> {
    let text = event.to_string();
    let j = match json_rt.process(SEC, 0, text.as_bytes()) {
        Output::Record(b) => Some(serde_json::from_slice(&b[..b.len() - 1]).unwrap()),
        Output::Unchanged => Some(event.clone()),
        Output::Drop => None,
    };
    let m = match mp_rt.process_msgpack(SEC, 0, &msgpack(event)).unwrap() {
        Output::Record(b) => Some(from_nf(b)),
        Output::Unchanged => panic!("the msgpack mode always re-encodes"),
        Output::Drop => None,
    };
    assert_eq!(j, m, "both modes store the same record");
    j
}

fn pair(cfg: Value) -> (Runtime, Runtime) {
    (runtime(cfg.clone()), runtime(cfg))
}

#[test]
fn the_design_sample() {
    let (mut j, mut m) = pair(json!({}));
    let out = both(&mut j, &mut m, &backoff()).unwrap();
    assert_eq!(
        out,
        json!({"stream":"event","log":"Warning BackOff (3×): Back-off restarting failed container job in pod myjob-28889999-abcde_tool-foo(p-uid)",
            "off":3,"ts":1_796_464_830_000_000_000u64,
            "k8s_event":{"type":"Warning","reason":"BackOff","message":"Back-off restarting failed container job in pod myjob-28889999-abcde_tool-foo(p-uid)","count":3,
                "first":"2026-12-05T10:00:00Z","last":"2026-12-05T10:00:30Z","source":"kubelet","uid":"e-uid-1",
                "object":{"kind":"Pod","name":"myjob-28889999-abcde","namespace":"tool-foo","uid":"p-uid","field_path":"spec.containers{job}"}},
            "afterlog":{"tool":"foo","job":"myjob","kind":"cronjob","namespace":"tool-foo",
                "pod":"myjob-28889999-abcde","container":"@events","container_id":"e-uid-1","node":"node-1",
                "route":"default.foo.myjob.myjob-28889999-abcde._40events","class":"default"}})
    );
}

#[test]
fn objects_above_the_pod_are_filed_under_events() {
    let (mut j, mut m) = pair(json!({}));
    let ev = json!({"kind":"Event","apiVersion":"v1",
        "metadata":{"name":"nightly.1","namespace":"tool-foo","uid":"e-2","creationTimestamp":"2026-12-05T10:00:00Z"},
        "involvedObject":{"kind":"Job","namespace":"tool-foo","name":"nightly-28889999","uid":"j-uid","apiVersion":"batch/v1"},
        "reason":"BackoffLimitExceeded","message":"Job has reached the specified backoff limit",
        "source":{"component":"job-controller"},"firstTimestamp":"2026-12-05T10:01:00Z","lastTimestamp":"2026-12-05T10:01:00Z",
        "count":1,"type":"Warning","eventTime":null,"reportingComponent":"job-controller","reportingInstance":""});
    let out = both(&mut j, &mut m, &ev).unwrap();
    assert_eq!(
        out["log"],
        "Warning BackoffLimitExceeded Job/nightly-28889999: Job has reached the specified backoff limit"
    );
    assert_eq!(out["off"], 1);
    assert_eq!(
        out["afterlog"],
        json!({"tool":"foo","job":"nightly","kind":"cronjob","namespace":"tool-foo","pod":"@events",
            "container":"@events","container_id":"e-2","node":"","route":"default.foo.nightly._40events._40events","class":"default"})
    );
    assert_eq!(out["k8s_event"]["source"], "job-controller");
    assert!(out.get("kind").is_none() && out.get("metadata").is_none());
}

#[test]
fn series_events_take_their_last_observed_time() {
    let (mut j, mut m) = pair(json!({}));
    let ev = json!({"metadata":{"namespace":"tool-foo","uid":"u2","creationTimestamp":"2026-12-05T10:00:00Z"},
        "involvedObject":{"kind":"Pod","name":"web-7d9f8b6c5d-x2x4z","namespace":"tool-foo"},
        "reason":"Unhealthy","message":"Liveness probe failed","type":"Warning",
        "firstTimestamp":null,"lastTimestamp":null,"eventTime":"2026-12-05T10:00:01.123456Z",
        "series":{"count":7,"lastObservedTime":"2026-12-05T10:05:01.654321Z"},
        "source":{},"reportingComponent":"kubelet","reportingInstance":"node-2"});
    let out = both(&mut j, &mut m, &ev).unwrap();
    assert_eq!(out["ts"], json!(1_796_465_101_654_321_000u64));
    assert_eq!(out["off"], 7);
    assert_eq!(out["afterlog"]["job"], "web");
    assert_eq!(out["afterlog"]["kind"], "continuous");
    assert_eq!(out["afterlog"]["node"], "node-2");
    // No time at all: Fluent Bit's event time.
    let ev = json!({"metadata":{"namespace":"tool-foo","uid":"u3"},"involvedObject":{"kind":"Pod","name":"p"},"reason":"X"});
    assert_eq!(
        both(&mut j, &mut m, &ev).unwrap()["ts"],
        json!(u64::from(SEC) * 1_000_000_000)
    );
}

#[test]
fn not_a_tools_events_pass_unchanged_and_broken_ones_are_errors() {
    let (mut j, mut m) = pair(json!({}));
    let mut ev = backoff();
    ev["metadata"]["namespace"] = json!("kube-system");
    ev["involvedObject"]["namespace"] = json!("kube-system");
    assert_eq!(both(&mut j, &mut m, &ev).unwrap(), ev);
    assert!(matches!(
        j.process(SEC, 0, ev.to_string().as_bytes()),
        Output::Unchanged
    ));
    for (path, why) in [
        (("involvedObject", "name"), "without involvedObject.name"),
        (("metadata", "uid"), "without metadata.uid"),
    ] {
        let mut ev = backoff();
        ev[path.0].as_object_mut().unwrap().remove(path.1);
        let out = both(&mut j, &mut m, &ev).unwrap();
        assert!(
            out["afterlog"]["error"].as_str().unwrap().contains(why),
            "{out}"
        );
        assert!(out["afterlog"].get("route").is_none());
    }
    // A record with `kubernetes` is a container's line, whatever else it has.
    let mut ev = backoff();
    ev["kubernetes"] = json!("x");
    assert_eq!(both(&mut j, &mut m, &ev).unwrap(), ev);
    // An `involvedObject` that is no object: not an event.
    let ev = json!({"involvedObject":"Pod/x","metadata":{"uid":"u","namespace":"tool-foo"}});
    assert_eq!(both(&mut j, &mut m, &ev).unwrap(), ev);
}

#[test]
fn routing_rules_and_line_limits_apply() {
    let (mut j, mut m) = pair(json!({
        "classes": [{"name": "short", "line_limit_bytes": 20}],
        "routes": [
            {"match": {"pod": "noisy-28889999-xk2lp"}, "action": "drop"},
            {"match": {"namespace": "tool-quiet", "container": "@events"}, "action": "drop"},
            {"match": {"kind": "cronjob"}, "action": "class", "class": "short"}
        ]
    }));
    let mut ev = backoff();
    ev["involvedObject"]["name"] = json!("noisy-28889999-xk2lp");
    assert_eq!(both(&mut j, &mut m, &ev), None);
    let mut ev = backoff();
    ev["involvedObject"]["namespace"] = json!("tool-quiet");
    assert_eq!(both(&mut j, &mut m, &ev), None);
    let out = both(&mut j, &mut m, &backoff()).unwrap();
    assert_eq!(out["afterlog"]["class"], "short");
    assert_eq!(
        out["afterlog"]["route"],
        "short.foo.myjob.myjob-28889999-abcde._40events"
    );
    let log = out["log"].as_str().unwrap();
    assert!(log.starts_with("Warning BackOff (3×…[truncated "), "{log}");
    assert!(
        out["k8s_event"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Back-off restarting …[truncated")
    );
}

#[test]
fn events_are_charged_to_their_tools_quota() {
    let (mut j, mut m) =
        pair(json!({"quota": {"tools": {"foo": {"bytes": 3000, "window_seconds": 3600}}}}));
    let mut kept = 0;
    let mut marker = None;
    for i in 0..20 {
        let mut ev = backoff();
        ev["metadata"]["uid"] = json!(format!("e-{i}"));
        match both(&mut j, &mut m, &ev) {
            Some(out) if out["afterlog"]["event"] == "quota_exceeded" => marker = Some(out),
            Some(out) => {
                assert_eq!(out["stream"], "event");
                kept += 1;
            }
            None => {}
        }
    }
    assert!((3..10).contains(&kept), "{kept}");
    let marker = marker.expect("a quota marker");
    assert_eq!(marker["stream"], "event");
    // Not the identity of the occurrence it replaced, which a re-list may
    // bring back once the quota resets.
    assert!(marker.get("off").is_none(), "{marker}");
    assert!(
        marker["log"]
            .as_str()
            .unwrap()
            .starts_with("[afterlog] tool foo reached its log quota of 3000 bytes"),
        "{marker}"
    );
    assert_eq!(marker["afterlog"]["container"], "@events");
}
