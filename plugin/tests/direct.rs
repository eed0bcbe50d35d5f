//! The msgpack mode's direct path gives exactly what the general path
//! gives — the same NF1 bytes, the same drops, the same quota state — for
//! every record it takes, and declines the rest (Kubernetes events among
//! them) without changing anything.

use afterlog_filter::{Config, Output, Runtime};
use proptest::prelude::*;
use rmpv::Value as V;
use serde_json::json;

const SEC: u32 = 1_795_618_800;

fn clock() -> u64 {
    u64::from(SEC) * 1_000_000_000
}

fn runtime(direct: bool) -> Runtime {
    let cfg = Config::parse(
        json!({
            "quota": {"bytes": 1 << 30, "tools": {"tiny": {"bytes": 1500, "window_seconds": 60}}},
            "line_limit_bytes": 200,
            "classes": [{"name": "short", "line_limit_bytes": 100, "quota": {"bytes": 900, "window_seconds": 30}}],
            "routes": [
                {"match": {"pod": "p2", "namespace": "tool-foo"}, "action": "drop"},
                {"match": {"pod": "p1"}, "action": "class", "class": "short"}
            ],
        })
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    let mut rt = Runtime::with_config(cfg, None, clock);
    rt.set_direct(direct);
    rt
}

fn tag(container: u8) -> Vec<u8> {
    format!(
        "afterlog-src.var.log.containers.p{container}_ns_main-{}.log",
        format!("{container:02x}").repeat(32)
    )
    .into_bytes()
}

fn k8s(ns: &str, pod: &str) -> V {
    let job = V::Map(vec![(V::from("job-name"), V::from("myjob"))]);
    let members: [(&str, V); 6] = [
        ("pod_name", pod.into()),
        ("namespace_name", ns.into()),
        ("labels", job),
        ("host", "node-7".into()),
        ("container_name", "main".into()),
        ("docker_id", "0".repeat(64).into()),
    ];
    V::Map(members.into_iter().map(|(k, v)| (V::from(k), v)).collect())
}

/// A member of the record under test.
#[derive(Debug, Clone)]
enum Member {
    Time(String),
    Stream(&'static str),
    Partial,
    Log(Vec<u8>),
    Off(V),
    Extra(&'static str, V),
    Kubernetes,
    /// Of a Kubernetes event (docs/design.md §13): the object it is about.
    InvolvedObject(&'static str),
    /// Of a Kubernetes event: its metadata, with a uid or not.
    Metadata(bool),
}

fn member() -> impl Strategy<Value = Member> {
    let log_byte = prop_oneof![
        6 => 0x20u8..0x7f,
        1 => Just(b'"'),
        1 => Just(b'\\'),
        1 => 0u8..0x20,
        1 => any::<u8>(),
    ];
    prop_oneof![
        prop_oneof![
            Just("2026-11-25T15:00:00.000000002Z".to_string()),
            Just("2026-11-25T15:00:59.5Z".to_string()),
            Just("yesterday".to_string()),
        ]
        .prop_map(Member::Time),
        prop_oneof![Just("stdout"), Just("stderr")].prop_map(Member::Stream),
        Just(Member::Partial),
        proptest::collection::vec(log_byte, 0..300).prop_map(Member::Log),
        prop_oneof![
            Just(V::from(0)),
            any::<u32>().prop_map(V::from),
            any::<u64>().prop_map(V::from),
            Just(V::from(-1)),
        ]
        .prop_map(Member::Off),
        Just(Member::Extra("ts", V::from(5))),
        Just(Member::Extra("other", V::Nil)),
        Just(Member::Kubernetes),
        prop_oneof![Just("Pod"), Just("Job"), Just("Deployment")].prop_map(Member::InvolvedObject),
        any::<bool>().prop_map(Member::Metadata),
    ]
}

/// The usual shape, in Fluent Bit's order, with a log line.
fn usual(log: Vec<u8>, off: u64) -> Vec<Member> {
    vec![
        Member::Time("2026-11-25T15:00:00.000000002Z".into()),
        Member::Stream("stdout"),
        Member::Partial,
        Member::Log(log),
        Member::Off(V::from(off)),
        Member::Kubernetes,
    ]
}

fn encode(members: &[Member], ns: &str, pod: &str) -> Vec<u8> {
    let mut logs = Vec::new();
    let m: Vec<(V, V)> = members
        .iter()
        .map(|m| match m {
            Member::Time(t) => (V::from("time"), V::from(t.as_str())),
            Member::Stream(s) => (V::from("stream"), V::from(*s)),
            Member::Partial => (V::from("_p"), V::from("P")),
            Member::Log(b) => {
                logs.push(b.clone());
                (V::from("log"), V::Binary(b.clone()))
            }
            Member::Off(v) => (V::from("off"), v.clone()),
            Member::Extra(k, v) => (V::from(*k), v.clone()),
            Member::Kubernetes => (V::from("kubernetes"), k8s(ns, pod)),
            Member::InvolvedObject(kind) => (
                V::from("involvedObject"),
                V::Map(vec![
                    (V::from("kind"), V::from(*kind)),
                    (V::from("namespace"), V::from(ns)),
                    (V::from("name"), V::from(pod)),
                ]),
            ),
            Member::Metadata(uid) => {
                let mut m = vec![(V::from("namespace"), V::from(ns))];
                if *uid {
                    m.push((V::from("uid"), V::from("e-uid")));
                }
                (V::from("metadata"), V::Map(m))
            }
        })
        .collect();
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, &V::Map(m)).unwrap();
    // `log` as a str of exactly these bytes (rmpv refuses invalid UTF-8 in
    // a str): written as bin, the header rewritten.
    let mut from = 0;
    for log in logs {
        let mut bin = Vec::new();
        rmp::encode::write_bin_len(&mut bin, log.len() as u32).unwrap();
        let head = bin.len();
        bin.extend_from_slice(&log);
        let at = from
            + out[from..]
                .windows(bin.len())
                .position(|w| w == bin.as_slice())
                .unwrap();
        let mut s = Vec::new();
        rmp::encode::write_str_len(&mut s, log.len() as u32).unwrap();
        from = at + s.len() + log.len();
        out.splice(at..at + head, s);
    }
    out
}

fn out(o: Option<Output<'_>>) -> Option<Vec<u8>> {
    match o.expect("msgpack input") {
        Output::Record(b) => Some(b.to_vec()),
        Output::Unchanged | Output::Drop => None,
    }
}

fn same(records: &[(u8, u8, Vec<u8>)]) -> Result<u64, TestCaseError> {
    let (mut d, mut g) = (runtime(true), runtime(false));
    for (i, (ns, container, rec)) in records.iter().enumerate() {
        let t = tag(*container);
        d.set_tag(&t);
        g.set_tag(&t);
        let sec = SEC + i as u32;
        let a = out(d.process_msgpack(sec, 7, rec));
        let b = out(g.process_msgpack(sec, 7, rec));
        prop_assert_eq!(&a, &b, "record {} (namespace {})", i, ns);
        if let Some(a) = a {
            prop_assert!(!a[..a.len() - 1].contains(&0));
        }
        prop_assert_eq!(d.filter().quotas().entries(), g.filter().quotas().entries());
    }
    Ok(d.direct_records())
}

const NAMESPACES: [&str; 3] = ["tool-foo", "tool-tiny", "kube-system"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Records of any shape from three containers of three namespaces (one
    /// tool with a tiny quota, one not a tool).
    #[test]
    fn direct_and_general_paths_agree(
        recs in proptest::collection::vec((0u8..3, 0u8..3, proptest::collection::vec(member(), 0..8), any::<bool>()), 1..40)
    ) {
        let records: Vec<(u8, u8, Vec<u8>)> = recs
            .into_iter()
            .map(|(ns, c, members, plain)| {
                let members = if plain {
                    let log = members.iter().find_map(|m| match m { Member::Log(b) => Some(b.clone()), _ => None });
                    usual(log.unwrap_or_default(), u64::from(c) * 1000)
                } else {
                    members
                };
                (ns, c, encode(&members, NAMESPACES[ns as usize], &format!("p{c}")))
            })
            .collect();
        same(&records)?;
    }
}

/// The common record takes the direct path from its tool's second record
/// on, until the quota has something to say.
#[test]
fn the_usual_record_takes_the_direct_path() {
    let records: Vec<(u8, u8, Vec<u8>)> = (0..200u64)
        .map(|i| {
            let ns = if i % 2 == 0 { 0 } else { 1 };
            let log = format!("line {i} with \"quotes\" and a tab\t").into_bytes();
            (
                ns,
                ns,
                encode(&usual(log, i * 80), NAMESPACES[ns as usize], "p"),
            )
        })
        .collect();
    let direct = same(&records).unwrap();
    // foo: 99 of 100 (the first makes its quota entry); tiny: its budget
    // holds a few records, then the marker, drops and nothing plain.
    assert!((99..199).contains(&direct), "{direct}");
}
