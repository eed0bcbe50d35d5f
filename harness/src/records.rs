//! Generated input records for the equivalence and no-trap tests: mostly
//! records shaped like Fluent Bit's (with every escape style, unicode,
//! duplicate keys, odd key orders, nesting, and values of unexpected types),
//! some of them damaged (cut, bytes flipped, NULs, invalid UTF-8, deep
//! nesting). Seeded, so a failure is reproducible from its seed.

use afterlog_sim::Rng;

const NAMESPACES: &[&str] = &[
    "tool-foo",
    "tool-bar",
    "tool-a.b",
    "kube-system",
    "tool-",
    "image-build",
    "tool-ü",
];
const PODS: &[&str] = &[
    "myjob-x7k2p",
    "nightly-28889999-xk2lp",
    "worker-7d9f8b6c5d-x2x4z",
    "db-0",
    "plain",
    "",
    "foo-buildpacks-pipelinerun-vx8tq-build-pod",
];
const LABEL_KEYS: &[&str] = &[
    "job-name",
    "app.kubernetes.io/name",
    "app.kubernetes.io/component",
    "pod-template-hash",
    "tekton.dev/pipelineRun",
    "afterlog.io/tool",
    "batch.kubernetes.io/job-name",
    "toolforge",
];
const LABEL_VALUES: &[&str] = &[
    "myjob",
    "nightly-28889999",
    "jobs",
    "cronjobs",
    "web",
    "7d9f8b6c5d",
    "foo-buildpacks-pipelinerun-vx8tq",
    "tool",
    "",
    "x y",
];
const WORDS: &[&str] = &[
    "hello",
    "wörld",
    "日本語",
    "😀",
    "\"quoted\"",
    "back\\slash",
    "tab\there",
    "new\nline",
    "a/b",
    "\u{0001}",
    "\u{007f}",
    "\u{2028}",
    "€",
    " ",
    "{\"nested\":1}",
];

/// Writes `s` as a JSON string, choosing escapes at random.
fn string(r: &mut Rng, s: &str, out: &mut String) {
    out.push('"');
    let style = r.below(4);
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' if style != 3 => out.push_str("\\n"),
            '\t' if style != 3 => out.push_str("\\t"),
            c if (c as u32) < 0x20 || (style == 3 && !c.is_ascii_alphanumeric()) => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{:04x}", u));
                }
            }
            '/' if style == 1 => out.push_str("\\/"),
            c if style == 2 && r.chance(5) => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{:04X}", u));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn text(r: &mut Rng, max_words: u64) -> String {
    let n = r.below(max_words + 1);
    let mut s = String::new();
    for i in 0..n {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(r.pick(WORDS));
    }
    s
}

fn ws(r: &mut Rng, out: &mut String) {
    if r.chance(10) {
        out.push_str(r.pick(&[" ", "\n", "\t", "  \r\n"]));
    }
}

fn scalar(r: &mut Rng, out: &mut String) {
    match r.below(7) {
        0 => out.push_str("null"),
        1 => out.push_str(if r.chance(50) { "true" } else { "false" }),
        2 => out.push_str(&(r.next_u64() >> r.below(64)).to_string()),
        3 => out.push_str(&format!(
            "-{}.{}e{}",
            r.below(1000),
            r.below(1000),
            r.below(20)
        )),
        4 => out.push('0'),
        _ => {
            let t = text(r, 4);
            string(r, &t, out)
        }
    }
}

fn any(r: &mut Rng, depth: u32, out: &mut String) {
    if depth == 0 || r.chance(60) {
        return scalar(r, out);
    }
    if r.chance(50) {
        out.push('[');
        for i in 0..r.below(4) {
            if i > 0 {
                out.push(',');
            }
            ws(r, out);
            any(r, depth - 1, out);
        }
        out.push(']');
    } else {
        out.push('{');
        for i in 0..r.below(4) {
            if i > 0 {
                out.push(',');
            }
            let k = text(r, 1);
            string(r, &k, out);
            out.push(':');
            any(r, depth - 1, out);
        }
        out.push('}');
    }
}

fn object(r: &mut Rng, members: &[(String, String)], out: &mut String) {
    out.push('{');
    for (i, (k, v)) in members.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        ws(r, out);
        string(r, k, out);
        ws(r, out);
        out.push(':');
        ws(r, out);
        out.push_str(v);
    }
    ws(r, out);
    out.push('}');
}

fn str_value(s: &str, r: &mut Rng) -> String {
    let mut o = String::new();
    string(r, s, &mut o);
    o
}

fn kubernetes(r: &mut Rng) -> String {
    let mut labels = Vec::new();
    for _ in 0..r.below(5) {
        let k = r.pick(LABEL_KEYS).to_string();
        let v = if r.chance(5) {
            let mut o = String::new();
            scalar(r, &mut o);
            o
        } else {
            let v = r.pick(LABEL_VALUES).to_string();
            str_value(&v, r)
        };
        labels.push((k, v));
    }
    let mut lo = String::new();
    object(r, &labels, &mut lo);
    let pod = r.pick(PODS);
    let ns = r.pick(NAMESPACES);
    let mut m = vec![
        ("pod_name".to_string(), str_value(pod, r)),
        ("namespace_name".to_string(), str_value(ns, r)),
        ("pod_id".to_string(), str_value("1111-2222", r)),
        ("labels".to_string(), lo),
        ("host".to_string(), str_value("node-1", r)),
        (
            "container_name".to_string(),
            str_value(if r.chance(50) { "job" } else { "side car" }, r),
        ),
        ("docker_id".to_string(), str_value("0123456789abcdef", r)),
        ("container_hash".to_string(), str_value("sha256:aa", r)),
    ];
    shuffle_some(r, &mut m);
    let mut o = String::new();
    object(r, &m, &mut o);
    o
}

fn shuffle_some<T>(r: &mut Rng, v: &mut [T]) {
    if v.len() > 1 && r.chance(30) {
        for i in (1..v.len()).rev() {
            let j = r.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}

const OBJECT_KINDS: &[&str] = &[
    "Pod",
    "Pod",
    "Job",
    "CronJob",
    "ReplicaSet",
    "Deployment",
    "StatefulSet",
    "PersistentVolumeClaim",
    "",
];
const OBJECT_NAMES: &[&str] = &[
    "nightly-28889999",
    "nightly",
    "worker-7d9f8b6c5d",
    "myjob-28889999-abcde",
    "web",
];
const EVENT_TIMES: &[&str] = &[
    "2026-12-05T10:00:30Z",
    "2026-12-05T10:00:01.123456Z",
    "2026-12-05T11:00:00+01:00",
    "",
    "yesterday",
];

/// A string member, or now and then a lacking one: absent, `null`, a
/// number, an empty string.
fn maybe_str(r: &mut Rng, key: &str, value: &str, out: &mut Vec<(String, String)>) {
    match r.below(12) {
        0 => {}
        1 => out.push((key.into(), "null".into())),
        2 => out.push((key.into(), "7".into())),
        3 => out.push((key.into(), "\"\"".into())),
        _ => out.push((key.into(), str_value(value, r))),
    }
}

fn members_object(r: &mut Rng, mut m: Vec<(String, String)>) -> String {
    shuffle_some(r, &mut m);
    let mut o = String::new();
    object(r, &m, &mut o);
    o
}

/// A Kubernetes Event object as Fluent Bit's `kubernetes_events` input
/// emits it (docs/design.md §13), with members lacking, of other types,
/// and times that do not parse.
fn k8s_event(r: &mut Rng) -> Vec<(String, String)> {
    let ns = r.pick(NAMESPACES);
    let kind = r.pick(OBJECT_KINDS);
    let name = if kind == "Pod" || r.chance(30) {
        r.pick(PODS)
    } else {
        r.pick(OBJECT_NAMES)
    };
    let mut meta = Vec::new();
    maybe_str(r, "name", &format!("{name}.17f0a1"), &mut meta);
    maybe_str(r, "namespace", ns, &mut meta);
    maybe_str(r, "uid", "e-uid-1", &mut meta);
    let t = r.pick(EVENT_TIMES);
    maybe_str(r, "creationTimestamp", t, &mut meta);
    let mut obj = Vec::new();
    maybe_str(r, "kind", kind, &mut obj);
    maybe_str(r, "namespace", ns, &mut obj);
    maybe_str(r, "name", name, &mut obj);
    maybe_str(r, "uid", "p-uid", &mut obj);
    maybe_str(r, "fieldPath", "spec.containers{job}", &mut obj);
    let mut m = vec![
        ("metadata".to_string(), members_object(r, meta)),
        ("involvedObject".to_string(), members_object(r, obj)),
    ];
    let reason = r.pick(&["BackOff", "Unhealthy", "SawCompletedJob"]);
    maybe_str(r, "reason", reason, &mut m);
    let message = if r.chance(3) {
        "é😀x".repeat(2000 + r.below(4000) as usize)
    } else {
        text(r, 20)
    };
    maybe_str(r, "message", &message, &mut m);
    let kind = r.pick(&["Warning", "Normal"]);
    maybe_str(r, "type", kind, &mut m);
    let mut source = Vec::new();
    maybe_str(r, "component", "kubelet", &mut source);
    maybe_str(r, "host", "node-1", &mut source);
    m.push(("source".into(), members_object(r, source)));
    for key in ["firstTimestamp", "lastTimestamp", "eventTime"] {
        let t = r.pick(EVENT_TIMES);
        maybe_str(r, key, t, &mut m);
    }
    match r.below(5) {
        0 => {}
        1 => m.push(("count".into(), "0".into())),
        2 => m.push(("count".into(), "\"3\"".into())),
        _ => m.push(("count".into(), r.below(1 << 33).to_string())),
    }
    if r.chance(30) {
        let mut series = vec![("count".to_string(), r.below(100).to_string())];
        let t = r.pick(EVENT_TIMES);
        maybe_str(r, "lastObservedTime", t, &mut series);
        m.push(("series".into(), members_object(r, series)));
    }
    maybe_str(r, "reportingComponent", "kubelet", &mut m);
    maybe_str(r, "reportingInstance", "node-2", &mut m);
    if r.chance(50) {
        m.push(("kind".into(), str_value("Event", r)));
        m.push(("apiVersion".into(), str_value("v1", r)));
    }
    m
}

/// One generated record: event seconds, nanoseconds, and the bytes.
pub fn record(r: &mut Rng) -> (u32, u32, Vec<u8>) {
    let sec = 1_795_618_800 + r.below(86_400 * 30) as u32;
    let nsec = r.below(1_000_000_000) as u32;
    let mut m: Vec<(String, String)> = Vec::new();
    if r.chance(10) {
        m = k8s_event(r);
        if r.chance(5) {
            // Odd company: a `kubernetes` member, a duplicate `involvedObject`.
            let (k, v) = if r.chance(50) {
                ("kubernetes", kubernetes(r))
            } else {
                let mut v = String::new();
                any(r, 2, &mut v);
                ("involvedObject", v)
            };
            m.push((k.to_string(), v));
        }
        shuffle_some(r, &mut m);
        let mut out = String::new();
        object(r, &m, &mut out);
        let mut bytes = out.into_bytes();
        if r.chance(8) {
            damage(r, &mut bytes);
        }
        return (sec, nsec, bytes);
    }
    if r.chance(90) {
        let t = if r.chance(90) {
            format!(
                "2026-11-25T15:{:02}:{:02}.{:09}Z",
                r.below(60),
                r.below(60),
                r.below(1_000_000_000)
            )
        } else {
            text(r, 2)
        };
        m.push(("time".into(), str_value(&t, r)));
    }
    m.push((
        "stream".into(),
        str_value(if r.chance(50) { "stdout" } else { "stderr" }, r),
    ));
    if r.chance(20) {
        m.push(("_p".into(), str_value("P", r)));
    }
    let log = if r.chance(3) {
        // Around the line limit, with multi-byte characters at the cut.
        "é😀x".repeat(2000 + r.below(4000) as usize)
    } else {
        text(r, 40)
    };
    m.push(("log".into(), str_value(&log, r)));
    if r.chance(80) {
        m.push(("off".into(), r.below(1 << 40).to_string()));
    }
    if r.chance(85) {
        m.push(("kubernetes".into(), kubernetes(r)));
    }
    for _ in 0..r.below(3) {
        let k = match r.below(6) {
            0 => "log".to_string(),
            1 => "ts".to_string(),
            2 => "afterlog".to_string(),
            3 => "kubernetes".to_string(),
            _ => text(r, 1),
        };
        let mut v = String::new();
        any(r, 3, &mut v);
        m.push((k, v));
    }
    shuffle_some(r, &mut m);
    let mut out = String::new();
    object(r, &m, &mut out);
    let mut bytes = out.into_bytes();
    if r.chance(8) {
        damage(r, &mut bytes);
    }
    (sec, nsec, bytes)
}

/// Breaks a record the way nothing in Fluent Bit should, but a filter must survive.
fn damage(r: &mut Rng, b: &mut Vec<u8>) {
    match r.below(7) {
        0 => b.truncate(r.below(b.len() as u64 + 1) as usize),
        1 => {
            let i = r.below(b.len() as u64) as usize;
            b[i] = r.next_u64() as u8;
        }
        2 => {
            let i = r.below(b.len() as u64) as usize;
            b.insert(i, 0);
        }
        3 => {
            let i = r.below(b.len() as u64) as usize;
            b.insert(i, 0xFF);
        }
        4 => {
            let d = r.below(300) as usize;
            *b = format!("{{\"log\":{}1{}}}", "[".repeat(d), "]".repeat(d)).into_bytes();
        }
        5 => {
            *b = r
                .pick(&[&b"[1,2]"[..], b"\"str\"", b"", b"null", b"{", b"}"])
                .to_vec()
        }
        _ => b.extend_from_slice(b" x"),
    }
}

/// A JSON value as msgpack, as Fluent Bit holds records (the msgpack
/// mode's input): map keys in the value's order, integers as uint64.
pub fn msgpack(v: &serde_json::Value) -> Vec<u8> {
    fn put(v: &serde_json::Value, out: &mut Vec<u8>) {
        use serde_json::Value as V;
        match v {
            V::Null => out.push(0xc0),
            V::Bool(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
            V::Number(n) => match n.as_u64() {
                Some(u) => {
                    out.push(0xcf);
                    out.extend_from_slice(&u.to_be_bytes());
                }
                None => {
                    out.push(0xcb);
                    out.extend_from_slice(&n.as_f64().unwrap_or(0.0).to_be_bytes());
                }
            },
            V::String(s) => {
                let n = s.len();
                match n {
                    0..=31 => out.push(0xa0 | n as u8),
                    32..=255 => out.extend_from_slice(&[0xd9, n as u8]),
                    _ => {
                        out.push(0xdb);
                        out.extend_from_slice(&(n as u32).to_be_bytes());
                    }
                }
                out.extend_from_slice(s.as_bytes());
            }
            V::Array(a) => {
                out.push(0xdd);
                out.extend_from_slice(&(a.len() as u32).to_be_bytes());
                a.iter().for_each(|x| put(x, out));
            }
            V::Object(m) => {
                if m.len() < 16 {
                    out.push(0x80 | m.len() as u8);
                } else {
                    out.push(0xdf);
                    out.extend_from_slice(&(m.len() as u32).to_be_bytes());
                }
                for (k, x) in m {
                    put(&V::String(k.clone()), out);
                    put(x, out);
                }
            }
        }
    }
    let mut out = Vec::new();
    put(v, &mut out);
    out
}
