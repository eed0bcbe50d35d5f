//! The release `.wasm`, called exactly as Fluent Bit calls it: labels,
//! routes, configs, hostile and generated inputs (quotas: `filter_quota.rs`).

mod common;

use afterlog_filter::labels::Labeller;
use afterlog_filter::reference::{self, Expected};
use afterlog_filter::{Config, config};
use afterlog_harness::host::{FilterHost, HostConfig, Lifetime, Outcome};
use afterlog_harness::records;
use afterlog_sim::Rng;
use common::{SEC, TAG, advance, foo_record, host_with, k8s_record, kept, labelled_record};
use serde_json::{Value, json};
use std::time::Duration;

#[test]
fn labels_every_workload_kind_by_default() {
    let (mut h, _d) = host_with(None, Lifetime::Persistent);
    let t = "2026-11-25T15:00:00.000000002Z";
    let cases = [
        // one-off job (Toolforge jobs framework)
        (
            "tool-foo",
            "myjob-x7k2p",
            json!({"job-name":"myjob","app.kubernetes.io/name":"myjob","app.kubernetes.io/component":"jobs","toolforge":"tool"}),
            "foo",
            "myjob",
            "job",
        ),
        // two runs of a cron job
        (
            "tool-foo",
            "nightly-28889999-xk2lp",
            json!({"job-name":"nightly-28889999","app.kubernetes.io/component":"cronjobs","toolforge":"tool"}),
            "foo",
            "nightly",
            "cronjob",
        ),
        (
            "tool-foo",
            "nightly-28890000-q8rtn",
            json!({"batch.kubernetes.io/job-name":"nightly-28890000","toolforge":"tool"}),
            "foo",
            "nightly",
            "cronjob",
        ),
        // continuous job: two replicas of one Deployment
        (
            "tool-foo",
            "worker-7d9f8b6c5d-x2x4z",
            json!({"pod-template-hash":"7d9f8b6c5d","app.kubernetes.io/component":"deployments"}),
            "foo",
            "worker",
            "continuous",
        ),
        (
            "tool-foo",
            "worker-7d9f8b6c5d-q8rtn",
            json!({"pod-template-hash":"7d9f8b6c5d"}),
            "foo",
            "worker",
            "continuous",
        ),
        // web service
        (
            "tool-bar",
            "bar-5c6d7f8b9-xk2lp",
            json!({"app.kubernetes.io/component":"web","app.kubernetes.io/managed-by":"webservice","pod-template-hash":"5c6d7f8b9","name":"bar"}),
            "bar",
            "bar",
            "webservice",
        ),
        // build pod
        (
            "image-build",
            "bar-buildpacks-pipelinerun-vx8tq-build-pod",
            json!({"tekton.dev/pipelineRun":"bar-buildpacks-pipelinerun-vx8tq","tekton.dev/task":"build"}),
            "bar",
            "build",
            "build",
        ),
    ];
    for (ns, pod, labels, tool, job, kind) in cases {
        let out = kept(&h.call(
            TAG,
            SEC,
            0,
            &k8s_record(ns, pod, "main", labels, "hello", t),
        ));
        let a = &out["afterlog"];
        assert_eq!(
            (a["tool"].as_str(), a["job"].as_str(), a["kind"].as_str()),
            (Some(tool), Some(job), Some(kind)),
            "{pod}"
        );
        assert_eq!(a["namespace"], json!(ns));
        assert_eq!(a["pod"], json!(pod));
        assert_eq!(a["container"], json!("main"));
        assert_eq!(a["container_id"], json!("c0ffee".repeat(10) + "0123"));
        assert_eq!(a["node"], json!("node-7"));
        assert_eq!(
            a["route"],
            json!(format!("default.{tool}.{job}.{pod}.main"))
        );
        assert_eq!(a["class"], json!("default"));
        assert_eq!(
            out["ts"],
            json!(1_795_618_800_000_000_002u64),
            "ts from the CRI time, full ns"
        );
        assert_eq!(out["off"], json!(1234));
        assert_eq!(out["stream"], json!("stdout"));
        assert!(out.get("kubernetes").is_none() && out.get("time").is_none());
    }
    assert_eq!(h.stderr(), "", "nothing to complain about");
}

#[test]
fn route_parts_are_key_encoded() {
    let (mut h, _d) = host_with(None, Lifetime::Persistent);
    let rec = labelled_record(
        "tool-a.b",
        "x",
        "side_car",
        json!({"afterlog.io/job":"My Job"}),
    );
    let out = kept(&h.call(TAG, SEC, 0, &rec));
    assert_eq!(
        out["afterlog"]["route"],
        json!("default.a_2eb._4dy_20_4aob.x.side_5fcar")
    );
}

#[test]
fn pass_through_unicode_and_truncation() {
    let (mut h, _d) = host_with(Some(json!({"line_limit_bytes": 64})), Lifetime::Persistent);
    // Not a tool: unchanged, byte for byte.
    let other = labelled_record("kube-system", "coredns-1", "c", json!({}));
    assert_eq!(
        h.call(TAG, SEC, 0, &other),
        Outcome::Kept(String::from_utf8(other.clone()).unwrap())
    );
    let bare = br#"{"log":"no metadata","stream":"stderr"}"#;
    assert_eq!(
        h.call(TAG, SEC, 0, bare),
        Outcome::Kept(String::from_utf8(bare.to_vec()).unwrap())
    );
    // Unicode survives escaped input.
    let text = "Grüße, 世界 😀 \"q\" \\ tab\t end";
    let out = kept(&h.call(TAG, SEC, 0, &foo_record(text)));
    assert_eq!(out["log"], json!(text));
    // Cut at a character boundary with the marker.
    let long = "é".repeat(40);
    let out = kept(&h.call(TAG, SEC, 0, &foo_record(&long)));
    assert_eq!(
        out["log"],
        json!(format!("{}…[truncated 16 bytes]", "é".repeat(32)))
    );
}

#[test]
fn invalid_config_means_defaults_and_one_message() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(config::FILE_NAME),
        br#"{"labels":{"tool":[{"from":"label"}]}}"#,
    )
    .unwrap();
    let mut hc = HostConfig::release();
    hc.preopens = vec![dir.path().to_path_buf()];
    let mut h = FilterHost::new(hc).unwrap();
    for _ in 0..3 {
        let out = kept(&h.call(TAG, SEC, 0, &foo_record("x")));
        assert_eq!(out["afterlog"]["tool"], json!("foo"));
    }
    let err = h.stderr();
    assert_eq!(err.matches("[afterlog filter]").count(), 1, "{err}");
    assert!(err.contains("labels.tool[0]"), "{err}");
}

#[test]
fn hostile_inputs_never_trap() {
    let (mut h, _d) = host_with(None, Lifetime::Persistent);
    let deep = format!("{{\"log\":{}}}", "[".repeat(100_000));
    let huge = format!("{{\"log\":\"{}\"}}", "a".repeat(8 << 20));
    let inputs: Vec<&[u8]> = vec![
        b"",
        b"\0",
        b"{",
        b"}",
        b"[]",
        b"null",
        b"{\"log\":\"\\ud800\"}",
        b"{\"a\":\"\xff\xfe\"}",
        deep.as_bytes(),
        huge.as_bytes(),
        b"{\"log\":\"x\"}\0{\"y\":1}",
    ];
    for i in inputs {
        let o = h.call(TAG, SEC, 0, i);
        assert!(o.json().is_some(), "kept as an object, not lost: {o:?}");
    }
    // An empty tag and a record of only a NUL are fine too.
    assert!(h.call(b"", SEC, 0, br#"{"log":"x"}"#).json().is_some());
}

#[test]
fn a_million_generated_records_match_the_reference_in_bounded_memory() {
    let cfg_json = json!({"quota": {"bytes": u64::MAX}});
    let cfg = Config::parse(cfg_json.to_string().as_bytes()).unwrap();
    let labeller = Labeller::new(&cfg.labels).unwrap();
    let (mut h, _d) = host_with(Some(cfg_json), Lifetime::Persistent);
    let mut r = Rng::new(7);
    let n = 1_000_000;
    let mut mem_after_warmup = 0;
    let mut max_record = 0;
    for i in 0..n {
        let (sec, nsec, rec) = records::record(&mut r);
        let want = reference::expected(&cfg, &labeller, sec, nsec, &rec);
        let got = match h.call(TAG, sec, nsec, &rec) {
            Outcome::Kept(s) if s.as_bytes() == rec.as_slice() => Expected::Unchanged,
            Outcome::Kept(s) => reference::normalise(&rec, Some(s.as_bytes())).unwrap(),
            other => panic!("#{i} lost: {other:?}\n{}", String::from_utf8_lossy(&rec)),
        };
        assert_eq!(got, want, "#{i}\n{}", String::from_utf8_lossy(&rec));
        max_record = max_record.max(rec.len());
        if i == 10_000 {
            mem_after_warmup = h.memory_bytes();
        }
    }
    // Memory follows the largest record — a record, its lossy copy, the
    // decoded line and an output up to twice its size when escaped — never
    // the number of calls (`memory_is_flat_over_many_realistic_calls`).
    let grown = h.memory_bytes() - mem_after_warmup;
    assert!(
        grown <= 8 * max_record,
        "guest memory grew by {grown} bytes; largest record {max_record}"
    );
    assert!(h.stderr().is_empty(), "{}", h.stderr());
}

#[test]
fn memory_is_flat_over_many_realistic_calls() {
    let (mut h, _d) = host_with(None, Lifetime::Persistent);
    let recs: Vec<Vec<u8>> = (0..64)
        .map(|i| {
            let pod = format!("job{}-x7k2p", i % 8);
            let log = format!(
                "{i} {}",
                "log line text with some words ".repeat(1 + i % 15)
            );
            k8s_record(
                &format!("tool-t{}", i % 5),
                &pod,
                "c",
                json!({"job-name": format!("job{}", i % 8)}),
                &log,
                "2026-11-25T15:00:00.5Z",
            )
        })
        .collect();
    for r in recs.iter().cycle().take(1000) {
        h.call(TAG, SEC, 0, r);
    }
    let warm = h.memory_bytes();
    for r in recs.iter().cycle().take(300_000) {
        assert!(h.call(TAG, SEC, 0, r).json().is_some());
    }
    assert_eq!(h.memory_bytes(), warm, "no growth over 300k calls");
}

/// A config that cannot be used — bad JSON, an unknown field, a rule that
/// does not compile — is reported once, naming the file (as the guest sees
/// it) and the place, and the filter labels with the defaults.
#[test]
fn config_mistakes_are_reported_with_the_file() {
    let cases = [
        (
            json!({"labels": {"tool": [{"from": "namespace", "regex": "^(tool-"}]}}),
            "labels.tool[0]: bad regex",
        ),
        (json!({"line_limit": 5}), "unknown field `line_limit`"),
        (
            json!({"labels": {"job": [{"from": "label"}]}}),
            "labels.job[0]",
        ),
        (
            json!({"routes": [{"action": "drop"}, {"action": "archive"}]}),
            "routes[1]: unknown variant `archive`",
        ),
        (
            json!({"routes": [{"match": {"pod": {"regex": "(x"}}, "action": "drop"}]}),
            "routes[0]: bad regex",
        ),
        (
            json!({"classes": [{"name": "a"}, {"name": "a"}]}),
            "classes[1]: class \"a\" is defined twice",
        ),
    ];
    for (cfg, want) in cases {
        let (mut h, d) = host_with(Some(cfg.clone()), Lifetime::Persistent);
        let rec = labelled_record(
            "tool-foo",
            "myjob-x7k2p",
            "main",
            json!({"job-name": "myjob"}),
        );
        let out = kept(&h.call(TAG, SEC, 0, &rec));
        assert_eq!(
            out["afterlog"]["tool"],
            json!("foo"),
            "defaults after {cfg}"
        );
        h.call(TAG, SEC, 0, &rec);
        let err = h.stderr();
        let file = d.path().join(config::FILE_NAME);
        assert_eq!(err.lines().count(), 1, "once: {err}");
        assert!(
            err.starts_with(&format!("[afterlog filter] {}: ", file.display()))
                && err.contains(want)
                && err.trim_end().ends_with("; using the built-in defaults"),
            "{cfg}: {err}"
        );
    }
}

/// Routing rules from the config file, through the `.wasm` in both modes:
/// an opted-out pod is not collected, a build goes to its class (its tag
/// route starts with it), the rest to `default`; a later edit is taken,
/// and a broken edit is reported once and changes nothing.
#[test]
fn routing_rules_drop_and_classify_and_reload() {
    let rules = |extra: Value| {
        json!({"reload_seconds": 10, "classes": [{"name": "long-retention"}],
        "routes": [
            {"match": {"labels": {"afterlog.io/collect": "false"}}, "action": "drop"},
            {"match": {"labels": {"tekton.dev/pipelineRun": {"present": true}}}, "action": "class", "class": "long-retention"},
            extra
        ]})
    };
    let (mut h, d) = host_with(
        Some(rules(
            json!({"match": {"namespace": "tool-never"}, "action": "drop"}),
        )),
        Lifetime::Persistent,
    );
    let opted_out = labelled_record(
        "tool-foo",
        "web-1",
        "main",
        json!({"afterlog.io/collect": "false"}),
    );
    let build = labelled_record(
        "tool-foo",
        "foo-buildpacks-pipelinerun-vx8tq-build-pod",
        "step",
        json!({"tekton.dev/pipelineRun": "foo-buildpacks-pipelinerun-vx8tq"}),
    );
    let web = labelled_record("tool-bar", "web-1", "main", json!({}));
    let as_msgpack = |rec: &[u8]| records::msgpack(&serde_json::from_slice(rec).unwrap());
    let class = |h: &mut FilterHost, rec: &[u8]| -> String {
        let json_mode = match h.call(TAG, SEC, 0, rec) {
            Outcome::Dropped(_) => "DROP".to_string(),
            o => {
                let v = kept(&o);
                let class = v["afterlog"]["class"].as_str().unwrap().to_string();
                assert!(
                    v["afterlog"]["route"]
                        .as_str()
                        .unwrap()
                        .starts_with(&format!("{class}."))
                );
                class
            }
        };
        let msgpack_mode = match h.call_msgpack(TAG, SEC, 0, &as_msgpack(rec)) {
            Err(_) => "DROP".to_string(),
            Ok(b) => {
                let v = decode_nf(&b);
                v["afterlog"]["class"].as_str().unwrap().to_string()
            }
        };
        assert_eq!(json_mode, msgpack_mode);
        json_mode
    };
    for _ in 0..3 {
        assert_eq!(class(&mut h, &opted_out), "DROP");
        assert_eq!(class(&mut h, &build), "long-retention");
        assert_eq!(class(&mut h, &web), "default");
    }
    let file = d.path().join(config::FILE_NAME);
    let later = |h: &mut FilterHost| {
        advance(h, Duration::from_secs(11));
        for _ in 0..64 {
            h.call(TAG, SEC, 0, &foo_record("tick"));
        }
    };
    std::fs::write(
        &file,
        rules(json!({"match": {"namespace": "tool-bar"}, "action": "drop"})).to_string(),
    )
    .unwrap();
    later(&mut h);
    assert_eq!(class(&mut h, &web), "DROP");
    // A broken edit: reported once, the running rules kept.
    std::fs::write(
        &file,
        rules(json!({"match": {"pod": {"regex": "(x"}}, "action": "drop"})).to_string(),
    )
    .unwrap();
    later(&mut h);
    later(&mut h);
    assert_eq!(class(&mut h, &web), "DROP");
    assert_eq!(class(&mut h, &opted_out), "DROP");
    let err = h.stderr();
    assert_eq!(
        err.matches("keeping the running config").count(),
        1,
        "{err}"
    );
    assert!(err.contains("routes[2]: bad regex"), "{err}");
}

/// An NF1 answer as the reader sees it.
fn decode_nf(bytes: &[u8]) -> Value {
    let mut json = Vec::new();
    afterlog_filter::msgpack::to_json(bytes, &mut json).unwrap();
    afterlog_contract::nf::decode_record(serde_json::from_slice(&json).unwrap()).unwrap()
}

/// Kubernetes events (docs/design.md §13) through the release `.wasm` in
/// both modes: labelled, routed, cut, and stored the same way.
#[test]
fn kubernetes_events_in_both_modes() {
    let cfg = json!({
        "classes": [{"name": "short", "line_limit_bytes": 40}],
        "routes": [
            {"match": {"namespace": "tool-quiet", "container": "@events"}, "action": "drop"},
            {"match": {"kind": "continuous"}, "action": "class", "class": "short"}
        ]
    });
    let (mut h, _d) = host_with(Some(cfg), Lifetime::Persistent);
    let backoff = json!({"metadata":{"name":"myjob-28889999-abcde.17f0a1","namespace":"tool-foo","uid":"e-uid-1","resourceVersion":"101","creationTimestamp":"2026-12-05T10:00:00Z"},
        "involvedObject":{"kind":"Pod","namespace":"tool-foo","name":"myjob-28889999-abcde","uid":"p-uid","apiVersion":"v1","resourceVersion":"55","fieldPath":"spec.containers{job}"},
        "reason":"BackOff","message":"Back-off restarting failed container job in pod myjob-28889999-abcde_tool-foo(p-uid)",
        "source":{"component":"kubelet","host":"node-1"},"firstTimestamp":"2026-12-05T10:00:00Z","lastTimestamp":"2026-12-05T10:00:30Z",
        "count":3,"type":"Warning","eventTime":null,"reportingComponent":"kubelet","reportingInstance":"node-1"});
    let with = |mut v: Value, path: &[&str], x: Value| {
        let (last, parents) = path.split_last().unwrap();
        let mut at = &mut v;
        for p in parents {
            at = &mut at[*p];
        }
        at[*last] = x;
        v
    };
    let scaled = json!({"kind":"Event","apiVersion":"v1",
        "metadata":{"name":"worker.1","namespace":"tool-foo","uid":"e-2"},
        "involvedObject":{"kind":"Deployment","namespace":"tool-foo","name":"worker","uid":"d-uid","apiVersion":"apps/v1"},
        "reason":"ScalingReplicaSet","message":"Scaled up replica set worker-7d9f8b6c5d to 1 from 0",
        "source":{"component":"deployment-controller"},"firstTimestamp":"2026-12-05T10:00:00Z","lastTimestamp":"2026-12-05T10:00:00Z",
        "count":1,"type":"Normal","eventTime":null,"reportingComponent":"deployment-controller","reportingInstance":""});
    // Fluent Bit's event time: the event's lastTimestamp.
    let sec = 1_796_464_830;
    let mut both = |event: &Value| -> Option<Value> {
        let text = event.to_string();
        let j = match h.call(TAG, sec, 0, text.as_bytes()) {
            Outcome::Dropped(_) => None,
            o => Some(kept(&o)),
        };
        let m = h
            .call_msgpack(TAG, sec, 0, &records::msgpack(event))
            .ok()
            .map(|b| decode_nf(&b));
        assert_eq!(j, m, "both modes store the same record");
        j
    };
    let out = both(&backoff).unwrap();
    assert_eq!(
        out["log"],
        "Warning BackOff (3×): Back-off restarting failed container job in pod myjob-28889999-abcde_tool-foo(p-uid)"
    );
    assert_eq!(
        (&out["stream"], &out["off"], &out["ts"]),
        (
            &json!("event"),
            &json!(3),
            &json!(1_796_464_830_000_000_000u64)
        )
    );
    assert_eq!(
        out["k8s_event"]["object"]["field_path"],
        "spec.containers{job}"
    );
    assert_eq!(
        out["afterlog"]["route"],
        "default.foo.myjob.myjob-28889999-abcde._40events"
    );
    assert_eq!(out["afterlog"]["container_id"], "e-uid-1");
    let out = both(&scaled).unwrap();
    assert_eq!(out["afterlog"]["job"], "worker");
    assert_eq!(
        out["afterlog"]["route"],
        "short.foo.worker._40events._40events"
    );
    let line = "Normal ScalingReplicaSet Deployment/worker: Scaled up replica set worker-7d9f8b6c5d to 1 from 0";
    assert_eq!(
        out["log"],
        format!(
            "{}{}",
            &line[..40],
            afterlog_contract::record::truncation_marker(line.len() - 40)
        )
    );
    // Dropped by a rule on the pseudo-container; not a tool's: unchanged.
    let quiet = with(
        backoff.clone(),
        &["involvedObject", "namespace"],
        json!("tool-quiet"),
    );
    assert_eq!(both(&quiet), None);
    let system = with(
        backoff.clone(),
        &["involvedObject", "namespace"],
        json!("kube-system"),
    );
    assert_eq!(both(&system), Some(system.clone()));
    // No uid: an error record, kept and not routed.
    let broken = with(backoff.clone(), &["metadata", "uid"], Value::Null);
    let out = both(&broken).unwrap();
    assert!(out["afterlog"]["error"].is_string(), "{out}");
    assert!(out["afterlog"].get("route").is_none());
    assert!(h.stderr().is_empty(), "{}", h.stderr());
}
