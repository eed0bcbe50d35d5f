//! What the API refuses and what it survives: bad requests and unknown
//! names, damaged stored data.

use crate::common::*;
use afterlog_reader::meta::{MergedObject, PodMeta};
use afterlog_testkit::per_pod::put_meta;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_400_and_unknowns_404() {
    let (_dir, store, _) = populated().await;
    let s = TestServer::open(store).await;
    let c = Client::new();
    let logs = s.url("/v1/tool/foo/jobs/batch/logs");
    for q in [
        "head=abc",
        "head=1&tail=1",
        "format=xml",
        "since=yesterday",
        "since=2026-11-25T16:00:00Z&until=2026-11-25T15:00:00Z",
        "stream=stdlog",
        "limit=0",
        "limit=10001",
        "tail=100001",
        "nonsense=1",
        "cursor=not-a-cursor",
        "cursor=W10",
        "follow=true",
        "follow=true&format=text&until=1h",
        "format=text&cursor=abc",
        "container=%00",
    ] {
        let (st, v) = get_json(&c, &format!("{logs}?{q}"), "").await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{q}: {v}");
        assert!(
            !v["messages"]["error"][0].as_str().unwrap().is_empty(),
            "{q}"
        );
    }
    let long = "a".repeat(300);
    for path in [
        format!("/v1/tool/{long}/jobs"),
        "/v1/tool/foo%00/jobs".to_string(),
        format!("/v1/tool/foo/jobs/{long}/logs"),
    ] {
        let (st, v) = get_json(&c, &s.url(&path), "").await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{path}: {v}");
    }
    // Names that look like paths are names: they reach no other tool.
    for path in [
        "/v1/tool/..%2Fother/jobs",
        "/v1/tool/foo%2F..%2Fother/jobs",
        "/v1/tool/foo%2Fbatch/jobs",
        "/v1/tool/fo/jobs",
        "/v1/tool/foo-/jobs",
        "/v1/tool/foo/jobs/..%2F..%2Fother%2Fx/logs",
        "/v1/tool/foo/jobs/nothing/logs",
        "/v1/tool/foo/jobs/batch/logs?run=..%2F..%2Fother",
        "/v1/tool/nobody/jobs",
        "/v1/tool/nobody/usage",
        "/v1/nothing-here",
    ] {
        let (st, v) = get_json(&c, &s.url(path), "").await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{path}: {v}");
        assert!(!v.to_string().contains("SECRET"), "{path}");
        assert!(!v.to_string().contains("other's line"), "{path}");
    }
    // A tool named like a prefix of another sees only its own logs.
    let (_, body) = get_text(&c, &format!("{logs}?format=ndjson"), "").await;
    assert!(!body.contains("SECRET"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_data_is_skipped_counted_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(dir.path());
    let o = origin("foo", "broken", "b-1", "main");
    let r = |t, log| record(&o, t, t, "stdout", log);
    let mut lines = vec![r(1, "good 1"), "{not json".into(), r(3, "good 3")];
    lines.push(json!({"ts": T0 + 4, "log": "no labels", "stream": "stdout"}).to_string());
    upload(&store, &o, 0, "u-good", &lines).await;
    let mut bad = gz(&[r(5, "lost")]);
    bad.truncate(12);
    bad.extend_from_slice(b"garbage garbage");
    put(&store, &o.raw_key(SECS as i64 + 1, "u-bad"), bad).await;
    // A merged object that meta lists but that is gone.
    let meta = PodMeta {
        version: 1,
        merged: vec![MergedObject {
            key: o.data_key(T0 + 10, T0 + 20, "gone"),
            first_ts: T0 + 10,
            last_ts: T0 + 20,
            lines: 3,
            bytes: 30,
        }],
        ..PodMeta::default()
    };
    put_meta(&store, &o, &meta).await;

    let s = TestServer::open(store).await;
    let c = Client::new();
    let logs = s.url("/v1/tool/foo/jobs/broken/logs");
    let (st, v) = get_json(&c, &logs, "").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(logs_of(&v), ["good 1", "good 3"]);
    let w = v["messages"]["warning"].to_string();
    assert!(
        w.contains("line 2") && w.contains("not a valid record"),
        "{w}"
    );
    assert!(w.contains("container_id") || w.contains("afterlog"), "{w}");
    assert!(w.contains("damaged gzip"), "{w}");
    assert!(w.contains("listed in meta but missing"), "{w}");
    // Streamed formats end with the warnings.
    let (_, body) = get_text(&c, &format!("{logs}?format=text"), "").await;
    assert!(body.contains("[afterlog] warning: "), "{body}");
    let (_, body) = get_text(&c, &format!("{logs}?format=ndjson"), "").await;
    let last: Value = serde_json::from_str(body.lines().last().unwrap()).unwrap();
    assert!(
        last["messages"]["warning"].as_array().unwrap().len() >= 3,
        "{last}"
    );
    // And are counted.
    let (_, m) = get_text(&c, &s.url("/v1/metrics"), "").await;
    assert!(
        m.contains(r#"afterlog_decode_errors_total{kind="line"} "#),
        "{m}"
    );
    assert!(
        m.contains(r#"afterlog_decode_errors_total{kind="object"} "#),
        "{m}"
    );
    assert!(m.contains("afterlog_http_requests_total{method=\"GET\",route=\"/v1/tool/{tool}/jobs/{job}/logs\",status=\"200\"}"), "{m}");
    assert!(m.contains("afterlog_lines_served_total 6"), "{m}");
}
