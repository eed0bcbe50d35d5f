//! `GET …/jobs/{job}/volume`: lines and bytes per step and stream, quota
//! events and runs, the same from raw objects, from the job index after
//! compaction, and from both; its parameters checked.

use crate::common::*;
use afterlog_contract::layout::Origin;
use afterlog_reader::Store;
use afterlog_testkit::{T0, file_store};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const MIN: u64 = 60_000_000_000;
const HOUR: u64 = 60 * MIN;

/// A stored record: `(t after T0, stream, log text)` of a pod.
struct Line {
    t: u64,
    stream: &'static str,
    log: String,
}

fn line(t: u64, stream: &'static str, log: impl Into<String>) -> Line {
    Line {
        t,
        stream,
        log: log.into(),
    }
}

/// A quota marker (it replaced the first line dropped).
fn exceeded(o: &Origin, t: u64, off: u64) -> String {
    let mut v: Value =
        serde_json::from_str(&record(o, t, off, "stdout", "[afterlog] quota")).unwrap();
    let a = v["afterlog"].as_object_mut().unwrap();
    a.insert("event".into(), json!("quota_exceeded"));
    a.insert("limit_bytes".into(), json!(1000));
    a.insert("window_seconds".into(), json!(3600));
    a.insert("resets_at".into(), json!(T0 + 2 * HOUR));
    v.to_string()
}

/// A line admitted after drops, carrying what was dropped.
fn dropped(o: &Origin, t: u64, off: u64, log: &str) -> String {
    let mut v: Value = serde_json::from_str(&record(o, t, off, "stderr", log)).unwrap();
    let a = v["afterlog"].as_object_mut().unwrap();
    a.insert("event".into(), json!("quota_dropped"));
    a.insert("dropped_records".into(), json!(7));
    a.insert("dropped_bytes".into(), json!(700));
    a.insert("dropped_from".into(), json!(T0 + HOUR));
    a.insert("dropped_until".into(), json!(T0 + 2 * HOUR));
    v.to_string()
}

/// Per hour bucket from T0: `[stdout lines, stdout bytes, stderr lines,
/// stderr bytes]` of `lines`.
fn per_hour(lines: &[&Line], hours: usize) -> Vec<[u64; 4]> {
    let mut out = vec![[0u64; 4]; hours];
    for l in lines {
        let b = &mut out[(l.t / HOUR) as usize];
        let at = if l.stream == "stderr" { 2 } else { 0 };
        b[at] += 1;
        b[at + 1] += l.log.len() as u64;
    }
    out
}

fn buckets_of(v: &Value) -> Vec<[u64; 4]> {
    v["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            [
                "stdout_lines",
                "stdout_bytes",
                "stderr_lines",
                "stderr_bytes",
            ]
            .map(|k| b[k].as_u64().unwrap())
        })
        .collect()
}

async fn compact(store: &Store) {
    let report = afterlog_compactor::Compactor {
        clock: || afterlog_compactor::system_clock() + 3_600_000_000_000,
        ..afterlog_compactor::Compactor::new(store.clone(), Default::default())
    }
    .pass()
    .await
    .unwrap();
    assert_eq!(report.jobs_merged, 1, "{report}");
}

/// Two runs over three hours: both streams, text with escapes and
/// multi-byte characters (bytes are of the decoded text), a retried
/// upload (counted once), a quota marker and a drop summary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volume_counts_what_is_stored_before_and_after_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(dir.path());
    let a = origin("foo", "vol", "vol-a", "job");
    let b = origin("foo", "vol", "vol-b", "job");
    let mut a_lines = vec![
        line(0, "stdout", "start"),
        line(MIN + 5, "stderr", "naïve \"quoted\" \\ tab\t é"),
        line(59 * MIN, "stdout", "💥 end of hour"),
        line(HOUR + 30 * MIN, "stdout", "x".repeat(3000)),
    ];
    for i in 0..50 {
        a_lines.push(line(
            HOUR + i * 20_000_000_000,
            "stderr",
            format!("busy {i}"),
        ));
    }
    let b_lines = [
        line(2 * HOUR + 10, "stdout", "second run"),
        line(2 * HOUR + 11 * MIN, "stderr", "oops"),
        line(3 * HOUR - 1, "stdout", "last"),
    ];
    let mut stored: Vec<String> = a_lines
        .iter()
        .enumerate()
        .map(|(i, l)| record(&a, l.t, i as u64 * 100, l.stream, &l.log))
        .collect();
    // Quota: a marker at 1:50, the drop summary on b's first line of 2:20.
    let marker = line(HOUR + 50 * MIN, "stdout", "[afterlog] quota");
    stored.push(exceeded(&a, marker.t, 99_999));
    upload(&store, &a, 0, "a1", &stored[..30]).await;
    upload(&store, &a, 3600, "a2", &stored[30..]).await;
    // Retried: the second upload again under a new key.
    upload(&store, &a, 3700, "a2retry", &stored[30..]).await;
    let drop_line = line(2 * HOUR + 20 * MIN, "stderr", "back");
    let b_stored: Vec<String> = b_lines
        .iter()
        .enumerate()
        .map(|(i, l)| record(&b, l.t, i as u64 * 100, l.stream, &l.log))
        .chain([dropped(&b, drop_line.t, 50, &drop_line.log)])
        .collect();
    upload(&store, &b, 2 * 3600, "b1", &b_stored).await;

    let all: Vec<&Line> = a_lines
        .iter()
        .chain(&b_lines)
        .chain([&marker, &drop_line])
        .collect();
    let want = per_hour(&all, 3);
    let s = TestServer::for_tokens(store.clone(), tokens(dir.path())).await;
    let c = Client::new();
    let url = s.url("/v1/tool/foo/jobs/vol/volume");
    let hourly = format!("{url}?step=1h");

    let check = |v: &Value| {
        assert_eq!(buckets_of(v), want, "{v}");
        assert_eq!(v["step_seconds"], 3600, "{v}");
        assert_eq!(
            v["since"],
            afterlog_contract::time::rfc3339_nanos(T0),
            "{v}"
        );
        assert_eq!(
            v["until"],
            afterlog_contract::time::rfc3339_nanos(T0 + 3 * HOUR),
            "{v}"
        );
        assert_eq!(
            v["buckets"][1]["start"],
            afterlog_contract::time::rfc3339_nanos(T0 + HOUR)
        );
        assert_eq!(
            v["quota_events"],
            json!([
                {"time": afterlog_contract::time::rfc3339_nanos(T0 + marker.t), "ts": T0 + marker.t,
                 "event": "quota_exceeded", "records": 0, "bytes": 0},
                {"time": afterlog_contract::time::rfc3339_nanos(T0 + drop_line.t), "ts": T0 + drop_line.t,
                 "event": "quota_dropped", "records": 7, "bytes": 700},
            ]),
            "{v}"
        );
        assert_eq!(
            v["runs"],
            json!([
                {"run": "vol-a", "first_time": afterlog_contract::time::rfc3339_nanos(T0),
                 "last_time": afterlog_contract::time::rfc3339_nanos(T0 + marker.t)},
                {"run": "vol-b", "first_time": afterlog_contract::time::rfc3339_nanos(T0 + 2 * HOUR + 10),
                 "last_time": afterlog_contract::time::rfc3339_nanos(T0 + 3 * HOUR - 1)},
            ]),
            "{v}"
        );
    };

    // Raw objects only.
    let (st, raw) = get_json(&c, &hourly, TOK_FOO).await;
    assert_eq!(st, StatusCode::OK, "{raw}");
    check(&raw);
    // The job's whole life by default, in minutes (181 ≤ 200).
    let (_, v) = get_json(&c, &url, TOK_FOO).await;
    assert_eq!(v["step_seconds"], 60, "{v}");
    assert_eq!(v["buckets"].as_array().unwrap().len(), 180, "{v}");
    let total = |v: &Value| {
        buckets_of(v).iter().fold([0u64; 4], |mut t, b| {
            for i in 0..4 {
                t[i] += b[i];
            }
            t
        })
    };
    let want_total = per_hour(&all, 3).iter().fold([0u64; 4], |mut t, b| {
        for i in 0..4 {
            t[i] += b[i];
        }
        t
    });
    assert_eq!(total(&v), want_total);

    // From the job index.
    compact(&store).await;
    let (st, v) = get_json(&c, &hourly, TOK_FOO).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    check(&v);
    assert_eq!(v, raw, "the index tells what the raw objects told");
    assert!(
        dir.path().join("index/foo/vol.json").exists(),
        "compacted: the job has a manifest"
    );
    // The counts came from the index: its chunks record them.
    for e in std::fs::read_dir(dir.path().join("index/foo/vol")).unwrap() {
        let path = e.unwrap().path();
        let p = afterlog_reader::index::parse_period("p", &std::fs::read(&path).unwrap()).unwrap();
        for c in &p.chunks {
            assert!(c.has_volume(), "{path:?}");
        }
    }

    // Both: a new upload on top of the index, counted from its records.
    let late = line(2 * HOUR + 30 * MIN, "stdout", "late line");
    upload(
        &store,
        &b,
        3 * 3600,
        "b2",
        &[record(&b, late.t, 1000, late.stream, &late.log)],
    )
    .await;
    let (_, v) = get_json(&c, &hourly, TOK_FOO).await;
    let mut with_late = all.clone();
    with_late.push(&late);
    assert_eq!(buckets_of(&v), per_hour(&with_late, 3), "{v}");

    // A window of the middle hour: only its periods' counts and events.
    let (_, v) = get_json(
        &c,
        &format!("{url}?step=15m&since={}&until={}", T0 + HOUR, T0 + 2 * HOUR),
        TOK_FOO,
    )
    .await;
    assert_eq!(v["buckets"].as_array().unwrap().len(), 4, "{v}");
    let in_hour: Vec<&Line> = all.iter().copied().filter(|l| l.t / HOUR == 1).collect();
    assert_eq!(total(&v), per_hour(&in_hour, 3)[1], "{v}");
    assert_eq!(v["quota_events"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["runs"][0]["run"], "vol-a", "{v}");
    assert_eq!(v["runs"].as_array().unwrap().len(), 1, "{v}");

    // Access as for logs.
    let (st, _) = get_json(&c, &hourly, TOK_OTHER).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = get_json(&c, &s.url("/v1/tool/foo/jobs/nope/volume"), TOK_FOO).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

/// Bad parameters are 400 naming the parameter; the default step is the
/// smallest of 1m, 5m, 15m, 1h, 6h, 1d giving at most 200 buckets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volume_parameters_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(dir.path());
    let o = origin("foo", "p", "p-1", "job");
    upload(&store, &o, 0, "u1", &[record(&o, 0, 0, "stdout", "one")]).await;
    let s = TestServer::for_tokens(store, tokens(dir.path())).await;
    let c = Client::new();
    let url = s.url("/v1/tool/foo/jobs/p/volume");
    for (q, says) in [
        ("step=90s", "step=\"90s\""),
        ("step=0m", "step=\"0m\""),
        ("step=hourly", "step=\"hourly\""),
        ("since=yesterday", "since=\"yesterday\""),
        ("until=soon", "until=\"soon\""),
        (
            "since=2026-11-25T16:00:00Z&until=2026-11-25T15:00:00Z",
            "must be before until",
        ),
        (
            "since=2026-11-25T15:00:00Z&until=2026-11-25T15:00:00Z",
            "must be before until",
        ),
        (
            "since=2026-01-01T00:00:00Z&until=2026-12-01T00:00:00Z&step=1m",
            "at most 10000",
        ),
        ("bogus=1", "bogus"),
    ] {
        let (st, v) = get_json(&c, &format!("{url}?{q}"), TOK_FOO).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{q}: {v}");
        let msg = v["messages"]["error"][0].as_str().unwrap_or_default();
        assert!(msg.contains(says), "{q}: {msg}");
    }
    let step = |since: u64, until: u64| {
        let c = c.clone();
        let url = format!("{url}?since={}&until={}", T0 + since, T0 + until);
        async move {
            let (st, v) = get_json(&c, &url, TOK_FOO).await;
            assert_eq!(st, StatusCode::OK, "{v}");
            (
                v["step_seconds"].as_u64().unwrap(),
                v["buckets"].as_array().unwrap().len(),
            )
        }
    };
    assert_eq!(step(0, 200 * MIN).await, (60, 200));
    assert_eq!(step(0, 201 * MIN).await, (300, 41));
    assert_eq!(step(0, 30 * HOUR).await, (900, 120));
    assert_eq!(step(0, 7 * 24 * HOUR).await, (3600, 168));
    assert_eq!(step(0, 30 * 24 * HOUR).await, (21_600, 121));
    assert_eq!(step(0, 100 * 24 * HOUR).await, (86_400, 101));
}
