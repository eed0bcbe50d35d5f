//! The filter core on realistic records, natively.

use afterlog_filter::{Config, Filter, Output};
use serde_json::{Value, json};

/// A record exactly as Fluent Bit 5.1.1 hands it to the filter (docs/design.md §2).
fn sample(pod: &str, labels: Value, log: &str) -> Vec<u8> {
    json!({
        "time": "2026-11-25T15:00:00.000000002Z", "stream": "stderr", "_p": "P", "log": log, "off": 97,
        "kubernetes": {"pod_name": pod, "namespace_name": "tool-foo", "pod_id": "1111-2222",
            "labels": labels, "host": "node-1", "container_name": "job",
            "docker_id": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "container_hash": "sha256:aa"}
    })
    .to_string()
    .into_bytes()
}

fn run(f: &mut Filter, rec: &[u8]) -> Option<Value> {
    match f.process(1_795_618_800, 5, rec) {
        Output::Record(b) => {
            assert_eq!(b.last(), Some(&0));
            Some(serde_json::from_slice(&b[..b.len() - 1]).expect("valid JSON"))
        }
        Output::Unchanged => Some(serde_json::from_slice(rec).unwrap()),
        Output::Drop => None,
    }
}

#[test]
fn labels_the_design_sample() {
    let mut f = Filter::new(Config::default()).unwrap();
    let rec = sample(
        "myjob-28889999-abcde",
        json!({"app.kubernetes.io/name": "myjob", "job-name": "myjob-28889999"}),
        "part A part B",
    );
    let out = run(&mut f, &rec).unwrap();
    assert_eq!(
        out,
        json!({"stream": "stderr", "log": "part A part B", "off": 97, "ts": 1_795_618_800_000_000_002u64,
            "afterlog": {"tool": "foo", "job": "myjob", "kind": "cronjob", "namespace": "tool-foo",
                "pod": "myjob-28889999-abcde", "container": "job",
                "container_id": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                "node": "node-1", "route": "default.foo.myjob.myjob-28889999-abcde.job",
                "class": "default"}})
    );
    // The second record of the same container comes from the label cache.
    assert_eq!(run(&mut f, &rec).unwrap(), out);
}

#[test]
fn routing_rules_drop_classify_and_override() {
    let cfg = Config::parse(
        json!({
            "quota": {"bytes": 1_000_000, "tools": {"foo": {"bytes": 1_000_000}}},
            "classes": [{"name": "long", "line_limit_bytes": 4, "quota": {"bytes": 300}}],
            "routes": [
                {"match": {"labels": {"afterlog.io/collect": "false"}}, "action": "drop"},
                {"match": {"job": "build"}, "action": "class", "class": "long"},
                {"match": {"labels": {"tier": "x"}}, "action": "class", "class": "long"}
            ]
        })
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    let mut f = Filter::new(cfg).unwrap();
    let opted_out = sample("web-1", json!({"afterlog.io/collect": "false"}), "hello");
    assert_eq!(f.process(0, 0, &opted_out), Output::Drop);
    let build = sample("web-2", json!({"afterlog.io/job": "build"}), "hello");
    let out = run(&mut f, &build).unwrap();
    assert_eq!(out["afterlog"]["class"], "long");
    assert_eq!(out["afterlog"]["route"], "long.foo.build.web-2.job");
    // The class's line limit.
    assert_eq!(
        out["log"],
        format!("hell{}", afterlog_contract::record::truncation_marker(1))
    );
    // foo's own budget beats the class's: far more than 300 bytes pass.
    for _ in 0..20 {
        assert!(run(&mut f, &build).unwrap()["afterlog"]["event"].is_null());
    }
    let plain = sample("web-3", json!({}), "hello");
    assert_eq!(run(&mut f, &plain).unwrap()["afterlog"]["class"], "default");
}

#[test]
fn event_time_is_used_without_a_cri_time() {
    let mut f = Filter::new(Config::default()).unwrap();
    let mut v: Value = serde_json::from_slice(&sample("p", json!({}), "x")).unwrap();
    v.as_object_mut().unwrap().remove("time");
    let out = run(&mut f, v.to_string().as_bytes()).unwrap();
    assert_eq!(out["ts"], json!(1_795_618_800_000_000_005u64));
}

#[test]
fn records_without_a_tool_pass_unchanged() {
    let mut f = Filter::new(Config::default()).unwrap();
    assert_eq!(
        f.process(1, 0, br#"{"log":"no kubernetes"}"#),
        Output::Unchanged
    );
    let other = sample("p", json!({}), "x");
    let other = String::from_utf8(other)
        .unwrap()
        .replace("tool-foo", "kube-system");
    assert_eq!(f.process(1, 0, other.as_bytes()), Output::Unchanged);
}

#[test]
fn long_lines_are_cut_at_a_character_boundary() {
    let cfg = Config {
        line_limit_bytes: 10,
        ..Config::default()
    };
    let mut f = Filter::new(cfg).unwrap();
    let out = run(&mut f, &sample("p", json!({}), "aaaaaaaaé€😀")).unwrap();
    assert_eq!(out["log"], json!("aaaaaaaaé…[truncated 7 bytes]"));
    let out = run(&mut f, &sample("p", json!({}), "ten bytes!")).unwrap();
    assert_eq!(out["log"], json!("ten bytes!"));
}

#[test]
fn default_line_limit_is_16_kib() {
    let mut f = Filter::new(Config::default()).unwrap();
    let long = "x".repeat(20_000);
    let out = run(&mut f, &sample("p", json!({}), &long)).unwrap();
    let log = out["log"].as_str().unwrap();
    assert_eq!(
        log,
        format!("{}…[truncated 3616 bytes]", "x".repeat(16_384))
    );
}

#[test]
fn broken_records_are_kept_with_the_reason() {
    let mut f = Filter::new(Config::default()).unwrap();
    for bad in [
        &b"{\"log\":"[..],
        b"[1,2]",
        b"",
        b"{\"a\":1}\0garbage",
        b"\xff\xfe",
    ] {
        let out = run(&mut f, bad).unwrap();
        assert_eq!(out["log"], json!(String::from_utf8_lossy(bad)));
        assert!(out["afterlog"]["error"].is_string(), "{out}");
    }
}

#[test]
fn invalid_utf8_is_replaced_not_lost() {
    let mut f = Filter::new(Config::default()).unwrap();
    let rec = String::from_utf8(sample("p", json!({}), "bad: @")).unwrap();
    let rec = rec.replace('@', "\u{1}").into_bytes();
    let rec: Vec<u8> = rec.iter().map(|&b| if b == 1 { 0xff } else { b }).collect();
    let out = run(&mut f, &rec).unwrap();
    assert_eq!(out["log"], json!("bad: \u{fffd}"));
    assert_eq!(out["afterlog"]["tool"], json!("foo"));
}

#[test]
fn quota_marker_drops_and_summary() {
    let cfg = Config::parse(br#"{"quota":{"bytes":1500,"window_seconds":60}}"#).unwrap();
    let mut f = Filter::new(cfg).unwrap();
    let rec = |n: u32| {
        let mut v: Value =
            serde_json::from_slice(&sample("p", json!({}), &format!("line {n}"))).unwrap();
        v["time"] = json!(format!("2026-11-25T15:00:{:02}.000000000Z", n));
        v.to_string().into_bytes()
    };
    let mut kept = vec![];
    for n in 0..10 {
        kept.push(run(&mut f, &rec(n)));
    }
    let admitted = kept
        .iter()
        .take_while(|o| {
            o.as_ref()
                .is_some_and(|v| v["afterlog"].get("event").is_none())
        })
        .count();
    assert!(
        (2..10).contains(&admitted),
        "some records fit the budget: {admitted}"
    );
    let marker = kept[admitted]
        .as_ref()
        .expect("the first record over budget becomes the marker");
    assert_eq!(marker["afterlog"]["event"], json!("quota_exceeded"));
    assert_eq!(marker["afterlog"]["limit_bytes"], json!(1500));
    assert_eq!(marker["afterlog"]["window_seconds"], json!(60));
    assert_eq!(
        marker["afterlog"]["resets_at"],
        json!(1_795_618_860_000_000_000u64)
    );
    assert_eq!(
        marker["off"],
        json!(97),
        "the marker keeps the identity of the record it replaces"
    );
    assert!(
        marker["log"]
            .as_str()
            .unwrap()
            .contains("reached its log quota of 1500 bytes per 60 s")
    );
    assert!(
        kept[admitted + 1..].iter().all(Option::is_none),
        "later records are dropped"
    );
    // The next window: the first record carries the summary.
    let mut v: Value = serde_json::from_slice(&rec(0)).unwrap();
    v["time"] = json!("2026-11-25T15:01:00.5Z");
    let next = run(&mut f, v.to_string().as_bytes()).unwrap();
    let a = &next["afterlog"];
    assert_eq!(a["event"], json!("quota_dropped"));
    assert_eq!(a["dropped_records"], json!(10 - admitted));
    assert_eq!(
        a["dropped_from"],
        json!(1_795_618_800_000_000_000u64 + admitted as u64 * 1_000_000_000)
    );
    assert_eq!(a["dropped_until"], json!(1_795_618_809_000_000_000u64));
    assert!(a["dropped_bytes"].as_u64().unwrap() > 0);
    assert_eq!(next["log"], json!("line 0"));
    let after = run(&mut f, v.to_string().as_bytes()).unwrap();
    assert!(
        after["afterlog"].get("event").is_none(),
        "the summary is given once"
    );
}

/// After a container restart the `kubernetes` filter still reports the
/// first container's `docker_id` (its cache is keyed by names); the id in
/// the log file's name, at the end of the tag, is the one that wrote the line.
#[test]
fn container_id_comes_from_the_tag_when_it_names_the_file() {
    let mut f = Filter::new(Config::default()).unwrap();
    let rec = sample("myjob-x7k2p", json!({"job-name": "myjob"}), "line");
    let stale = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let fresh = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
    let tag =
        |id: &str| format!("afterlog-src.var.log.containers.myjob-x7k2p_tool-foo_job-{id}.log");
    let cid = |v: Option<Value>| v.unwrap()["afterlog"]["container_id"].clone();

    // No tag, or a tag without a file name: the map's docker_id.
    assert_eq!(cid(run(&mut f, &rec)), stale);
    f.set_tag(b"kube.some.other.tag");
    assert_eq!(cid(run(&mut f, &rec)), stale);
    // The same map under the restarted container's file: its id, not the
    // cached labelling of the first container.
    f.set_tag(tag(fresh).as_bytes());
    assert_eq!(cid(run(&mut f, &rec)), fresh);
    f.set_tag(tag(stale).as_bytes());
    assert_eq!(cid(run(&mut f, &rec)), stale);
    f.set_tag(tag(fresh).as_bytes());
    assert_eq!(cid(run(&mut f, &rec)), fresh);
}

#[test]
fn tag_container_id_reads_only_kubelet_file_names() {
    use afterlog_filter::labels::tag_container_id;
    let id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let ok = format!("kube.var.log.containers.p_ns_c-{id}.log");
    assert_eq!(tag_container_id(ok.as_bytes()), Some(id.as_bytes()));
    for bad in [
        format!("kube.var.log.containers.p_ns_c{id}.log"),
        format!("kube.var.log.containers.p_ns_c-{id}.txt"),
        format!("kube.var.log.containers.p_ns_c-{}.log", &id[1..]),
        format!("kube.var.log.containers.p_ns_c-{}X.log", &id[1..]),
        format!("-{}.log", &id[..63]),
        ".log".to_string(),
        String::new(),
    ] {
        assert_eq!(tag_container_id(bad.as_bytes()), None, "{bad}");
    }
}
