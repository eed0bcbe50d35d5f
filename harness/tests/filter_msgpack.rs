//! The compiled filter in the msgpack mode, called as Fluent Bit calls it
//! with `event_format: msgpack`: a msgpack map in, and back only the bytes
//! up to the first NUL (`strlen`). Whatever the record — integers of every
//! width (0 included), floats, nested maps and arrays, strings of every
//! length class, NUL bytes, invalid UTF-8 — what comes back is one whole
//! msgpack map (no byte lost to `strlen`), and decoded as the reader
//! decodes it, exactly the record the JSON mode returns for the same input.

use afterlog_contract::nf;
use afterlog_harness::host::{Drop, FilterHost, HostConfig, Outcome};
use proptest::prelude::*;
use serde_json::{Value, json};

const SEC: u32 = 1_795_618_800;

/// A kubelet file name's tag: the container id comes from it.
fn tag(pod: &str, ns: &str) -> Vec<u8> {
    format!(
        "afterlog-src.var.log.containers.{pod}_{ns}_main-{}.log",
        "c0ffee".repeat(10) + "0123"
    )
    .into_bytes()
}

fn host(dir: &std::path::Path) -> FilterHost {
    let cfg = json!({"quota": {"tools": {"tiny": {"bytes": 2000, "window_seconds": 3600}}}});
    std::fs::write(dir.join("afterlog-filter.json"), cfg.to_string()).unwrap();
    let mut hc = HostConfig::release();
    hc.preopens = vec![dir.to_path_buf()];
    hc.clock.set(u64::from(SEC) * 1_000_000_000);
    FilterHost::new(hc).unwrap()
}

/// What Fluent Bit's msgpack → JSON conversion makes of NF1.
fn as_json(v: rmpv::Value) -> Value {
    match v {
        rmpv::Value::Nil => Value::Null,
        rmpv::Value::Boolean(b) => Value::Bool(b),
        rmpv::Value::String(s) => Value::String(s.into_str().expect("UTF-8").to_string()),
        rmpv::Value::Array(a) => Value::Array(a.into_iter().map(as_json).collect()),
        rmpv::Value::Map(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (k.as_str().expect("string keys").to_string(), as_json(v)))
                .collect(),
        ),
        other => panic!("NF1 never holds {other:?}"),
    }
}

/// The msgpack-mode answer, as the reader will see it.
fn decoded(bytes: &[u8]) -> Value {
    let mut rd = bytes;
    let v = rmpv::decode::read_value(&mut rd)
        .unwrap_or_else(|e| panic!("not msgpack ({e}): {bytes:02x?}"));
    assert!(
        rd.is_empty(),
        "strlen kept {} bytes after the map",
        rd.len()
    );
    assert!(matches!(v, rmpv::Value::Map(_)), "not a map: {v}");
    nf::decode_record(as_json(v)).unwrap()
}

/// Arbitrary extra values, as msgpack can hold them.
fn extra() -> impl Strategy<Value = rmpv::Value> {
    let leaf = prop_oneof![
        Just(rmpv::Value::Nil),
        any::<bool>().prop_map(rmpv::Value::Boolean),
        any::<u64>().prop_map(rmpv::Value::from),
        any::<i64>().prop_map(rmpv::Value::from),
        Just(rmpv::Value::from(0)),
        any::<u8>().prop_map(rmpv::Value::from),
        any::<i16>().prop_map(rmpv::Value::from),
        any::<f64>()
            .prop_filter("JSON numbers", |f| f.is_finite())
            .prop_map(rmpv::Value::F64),
        ".{0,20}".prop_map(rmpv::Value::from),
        (0usize..4).prop_map(|i| rmpv::Value::from("n".repeat([255, 256, 512, 70_000][i]))),
    ];
    leaf.prop_recursive(2, 40, 20, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..20).prop_map(rmpv::Value::Array),
            proptest::collection::vec(("[a-z]{1,6}", inner), 0..20).prop_map(|kv| {
                rmpv::Value::Map(
                    kv.into_iter()
                        .map(|(k, v)| (rmpv::Value::from(k), v))
                        .collect(),
                )
            }),
        ]
    })
}

/// A record as the tail and kubernetes filters make it, in msgpack: the
/// log's raw bytes (NULs, invalid UTF-8), `off` from 0 up, extra fields.
fn record(ns: &str, pod: &str, log: &[u8], off: u64, extras: &[(String, rmpv::Value)]) -> Vec<u8> {
    use rmpv::Value as V;
    let k8s = V::Map(vec![
        (V::from("pod_name"), V::from(pod)),
        (V::from("namespace_name"), V::from(ns)),
        (
            V::from("labels"),
            V::Map(vec![(V::from("job-name"), V::from("myjob"))]),
        ),
        (V::from("host"), V::from("node-7")),
        (V::from("container_name"), V::from("main")),
        (V::from("docker_id"), V::from("0".repeat(64))),
    ]);
    let mut m = vec![
        (V::from("time"), V::from("2026-11-25T15:00:00.000000002Z")),
        (V::from("stream"), V::from("stdout")),
        (V::from("log"), V::Binary(log.to_vec())),
        (V::from("off"), V::from(off)),
    ];
    m.extend(extras.iter().map(|(k, v)| (V::from(k.as_str()), v.clone())));
    m.push((V::from("kubernetes"), k8s));
    let mut out = Vec::new();
    // `log` as a str with these exact bytes (rmpv would refuse invalid
    // UTF-8 in a String value): written as bin, then the header patched.
    rmpv::encode::write_value(&mut out, &V::Map(m)).unwrap();
    patch_bin_to_str(&mut out, log);
    out
}

/// Turns the first bin holding `log` into a str of the same bytes.
fn patch_bin_to_str(buf: &mut Vec<u8>, log: &[u8]) {
    let mut header = Vec::new();
    rmp::encode::write_bin_len(&mut header, log.len() as u32).unwrap();
    let mut bin = header.clone();
    bin.extend_from_slice(log);
    let at = buf
        .windows(bin.len())
        .position(|w| w == bin.as_slice())
        .expect("the log field");
    let mut str_header = Vec::new();
    rmp::encode::write_str_len(&mut str_header, log.len() as u32).unwrap();
    buf.splice(at..at + header.len(), str_header);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn both_modes_store_the_same_record(
        tool in prop_oneof![Just("foo"), Just("tiny"), Just("kube-system")],
        log in proptest::collection::vec(prop_oneof![4 => 0x20u8..0x7f, 1 => Just(0u8), 1 => Just(1u8), 1 => any::<u8>()], 0..300),
        off in prop_oneof![Just(0u64), any::<u64>()],
        extras in proptest::collection::vec(("[a-z]{1,5}", extra()), 0..4),
        repeat in 1usize..4,
    ) {
        let (dm, dj) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (mut mp, mut js) = (host(dm.path()), host(dj.path()));
        let ns = if tool == "kube-system" { tool.to_string() } else { format!("tool-{tool}") };
        let t = tag("myjob-x7k2p", &ns);
        // Unique keys: a map's later duplicate would win in one mode only.
        let mut seen = std::collections::HashSet::new();
        let extras: Vec<(String, rmpv::Value)> = extras
            .into_iter()
            .filter(|(k, _)| !["time", "stream", "log", "off", "kubernetes", "ts", "afterlog"].contains(&k.as_str()))
            .filter(|(k, _)| seen.insert(k.clone()))
            .collect();
        let rec = record(&ns, "myjob-x7k2p", &log, off, &extras);
        let mut as_text = Vec::new();
        afterlog_filter::msgpack::to_json(&rec, &mut as_text).unwrap();
        // Several times: the tiny tool's quota runs out on the way.
        for _ in 0..repeat * 4 {
            let m = mp.call_msgpack(&t, SEC, 5, &rec);
            let j = js.call(&t, SEC, 5, &as_text);
            match (m, j) {
                (Ok(bytes), Outcome::Kept(text)) => {
                    let want: Value = serde_json::from_str(&text).unwrap();
                    prop_assert_eq!(decoded(&bytes), want);
                }
                (Err(Drop::Null), Outcome::Dropped(Drop::Empty)) => {}
                (m, j) => prop_assert!(false, "msgpack {:?} vs json {:?}", m.map(|b| b.len()), j),
            }
        }
    }
}

/// A Kubernetes Event object (docs/design.md §13) with its members
/// present, lacking, or of any other type.
fn event(ns: &str, kind: &str, members: &[(usize, rmpv::Value)]) -> rmpv::Value {
    use rmpv::Value as V;
    let map = |kv: Vec<(&str, V)>| V::Map(kv.into_iter().map(|(k, v)| (V::from(k), v)).collect());
    let mut m = vec![
        (
            "metadata",
            map(vec![
                ("namespace", V::from(ns)),
                ("uid", V::from("e-uid-1")),
            ]),
        ),
        (
            "involvedObject",
            map(vec![
                ("kind", V::from(kind)),
                ("namespace", V::from(ns)),
                ("name", V::from("nightly-28889999-xk2lp")),
                ("fieldPath", V::from("spec.containers{job}")),
            ]),
        ),
        ("reason", V::from("BackOff")),
        ("message", V::from("Back-off restarting failed container")),
        ("type", V::from("Warning")),
        ("count", V::from(3)),
        ("firstTimestamp", V::from("2026-12-05T10:00:00Z")),
        ("lastTimestamp", V::from("2026-12-05T10:00:30Z")),
        ("eventTime", V::Nil),
        (
            "source",
            map(vec![
                ("component", V::from("kubelet")),
                ("host", V::from("node-1")),
            ]),
        ),
        ("reportingComponent", V::from("kubelet")),
        ("reportingInstance", V::from("node-1")),
        (
            "series",
            map(vec![
                ("count", V::from(4)),
                ("lastObservedTime", V::from("2026-12-05T10:01:00.5Z")),
            ]),
        ),
    ];
    // Replaced by anything, or (Nil in a nested slot) gone.
    for (i, v) in members {
        let i = i % (m.len() + 4);
        match m.get_mut(i) {
            Some((_, slot)) => *slot = v.clone(),
            None => match (&mut m[i % 2].1, i % 4) {
                (V::Map(inner), j) if j < inner.len() => {
                    inner.remove(j);
                }
                _ => {}
            },
        }
    }
    map(m)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Kubernetes events of any shape: never a trap, and the same record
    /// (or the same drop, or the input unchanged) in both modes.
    #[test]
    fn both_modes_store_the_same_event(
        ns in prop_oneof![Just("tool-foo"), Just("tool-tiny"), Just("kube-system")],
        kind in prop_oneof![Just("Pod"), Just("Job"), Just("CronJob"), Just("ReplicaSet"), Just("")],
        members in proptest::collection::vec((0usize..40, extra()), 0..4),
        repeat in 1usize..3,
    ) {
        let (dm, dj) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (mut mp, mut js) = (host(dm.path()), host(dj.path()));
        let mut rec = Vec::new();
        rmpv::encode::write_value(&mut rec, &event(ns, kind, &members)).unwrap();
        let mut as_text = Vec::new();
        afterlog_filter::msgpack::to_json(&rec, &mut as_text).unwrap();
        for _ in 0..repeat * 6 {
            let m = mp.call_msgpack(b"k8s_events", SEC, 5, &rec);
            let j = js.call(b"k8s_events", SEC, 5, &as_text);
            match (m, j) {
                (Ok(bytes), Outcome::Kept(text)) => {
                    let want: Value = serde_json::from_str(&text).unwrap();
                    prop_assert_eq!(decoded(&bytes), want);
                }
                (Err(Drop::Null), Outcome::Dropped(Drop::Empty)) => {}
                (m, j) => prop_assert!(false, "msgpack {:?} vs json {:?}", m.map(|b| b.len()), j),
            }
        }
        prop_assert_eq!(mp.stderr(), "");
    }
}

#[test]
fn the_values_that_break_plain_msgpack() {
    let d = tempfile::tempdir().unwrap();
    let mut h = host(d.path());
    let extras = vec![
        ("zero".to_string(), rmpv::Value::from(0)),
        ("wide".to_string(), rmpv::Value::from(65_536u64)),
        ("flt".to_string(), rmpv::Value::F64(1.0)),
        ("big".to_string(), rmpv::Value::from("x".repeat(70_000))),
        (
            "many".to_string(),
            rmpv::Value::Array((0..300).map(rmpv::Value::from).collect()),
        ),
    ];
    let rec = record("tool-foo", "myjob-x7k2p", b"a\0b \xff end", 0, &extras);
    assert!(rec.contains(&0), "the input has zero bytes");
    let out = h
        .call_msgpack(&tag("myjob-x7k2p", "tool-foo"), SEC, 5, &rec)
        .unwrap();
    let v = decoded(&out);
    assert_eq!(v["log"], json!("a\u{0}b \u{fffd} end"));
    assert_eq!(v["off"], json!(0));
    assert_eq!(v["zero"], json!(0));
    assert_eq!(v["wide"], json!(65_536));
    assert_eq!(v["flt"], json!(1.0));
    assert_eq!(v["big"].as_str().unwrap().len(), 70_000);
    assert_eq!(v["many"].as_array().unwrap().len(), 300);
    assert_eq!(v["ts"], json!(1_795_618_800_000_000_002u64));
    assert_eq!(v["afterlog"]["tool"], json!("foo"));
    assert_eq!(
        v["afterlog"]["container_id"],
        json!("c0ffee".repeat(10) + "0123")
    );
    assert!(v.get("kubernetes").is_none() && v.get("time").is_none());
    // What does not parse as msgpack is taken for the JSON mode's input
    // (Fluent Bit's msgpack mode always passes a whole map): kept as the
    // JSON mode's error record.
    let out = h.call_msgpack(b"t", SEC, 5, &[0x82, 0xa1]).unwrap();
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert!(v["afterlog"]["error"].is_string(), "{v}");
    assert_eq!(h.stderr(), "");
}
