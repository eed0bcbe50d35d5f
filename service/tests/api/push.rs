//! Pushing lines into a job: they merge into its log by time.

use crate::common::*;
use afterlog::api::Settings;
use afterlog::auth::AuthConfig;
use reqwest::{Client, StatusCode};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_lines_merge_into_the_job() {
    let (_dir, store, _) = populated().await;
    let settings = Settings {
        push_max_bytes: 4096,
        ..Settings::default()
    };
    let s = TestServer::start(store, AuthConfig::InsecureNone, settings).await;
    let c = Client::new();
    let logs = s.url("/v1/tool/foo/jobs/batch/logs");
    // NDJSON and an array; times as RFC 3339 or ns.
    let r = c
        .post(&logs)
        .body(concat!(
            r#"{"log": "deploy started", "ts": "2026-11-25T15:00:00.000000002Z"}"#,
            "\n",
            r#"{"log": "deploy done", "ts": 1795618800000000009, "stream": "stderr"}"#,
            "\n"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
    let r = c
        .post(&logs)
        .body(r#"[{"log": "a note", "ts": "2026-11-25T15:00:00.000000004Z"}]"#)
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["lines"], 1, "{v}");
    assert!(
        v["key"]
            .as_str()
            .unwrap()
            .starts_with("raw/foo/batch/_40custom/custom/20261125T150000Z-"),
        "{v}"
    );
    let (_, v) = get_json(&c, &logs, "").await;
    let got = logs_of(&v);
    let at = |s: &str| {
        got.iter()
            .position(|g| g == s)
            .unwrap_or_else(|| panic!("{s} not in {got:?}"))
    };
    assert!(
        at("m2") < at("deploy started") && at("deploy started") < at("m3"),
        "{got:?}"
    );
    assert!(
        at("s4") < at("a note") && at("a note") < at("m5 err"),
        "{got:?}"
    );
    assert!(
        at(
            "[afterlog] log quota of 1.0 MiB per 3600 s reached; lines are dropped until 2026-11-25T16:00:00.000000000Z"
        ) < at("deploy done"),
        "{got:?}"
    );
    // Pushed runs are not "latest".
    let (_, v) = get_json(&c, &format!("{logs}?run=latest"), "").await;
    assert_eq!(logs_of(&v)[0], "m1");

    for (body, want) in [
        ("", StatusCode::BAD_REQUEST),
        ("[]", StatusCode::BAD_REQUEST),
        (r#"{"msg": "x"}"#, StatusCode::BAD_REQUEST),
        (
            r#"{"log": "x", "stream": "stdlog"}"#,
            StatusCode::BAD_REQUEST,
        ),
        (r#"{"log": "x", "ts": "noon"}"#, StatusCode::BAD_REQUEST),
        (r#"{"log": "x", "extra": 1}"#, StatusCode::BAD_REQUEST),
    ] {
        let r = c.post(&logs).body(body).send().await.unwrap();
        assert_eq!(r.status(), want, "{body}");
        let v: Value = r.json().await.unwrap();
        assert!(!v["messages"]["error"][0].as_str().unwrap().is_empty());
    }
    let big = format!(r#"{{"log": "{}"}}"#, "x".repeat(5000));
    let r = c.post(&logs).body(big).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let r = c
        .post(format!("{logs}?source=elsewhere"))
        .body(r#"{"log":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}
