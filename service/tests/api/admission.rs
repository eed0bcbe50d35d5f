//! Heavy reads (full logs, follows) share a memory budget, each caller
//! has a cap, and cheap requests are never held back.

use crate::common::*;
use afterlog::api::Settings;
use afterlog::auth::AuthConfig;
use reqwest::{Client, StatusCode};
use serde_json::Value;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heavy_reads_share_a_memory_budget_and_callers_their_cap() {
    let (dir, store, want) = populated().await;
    let tokens = write_tokens(
        dir.path(),
        &[
            ("ann", "token-of-ann", &["foo"], false),
            ("bob", "token-of-bob", &["foo"], false),
            ("cat", "token-of-cat", &["foo"], false),
        ],
    );
    let settings = Settings {
        follow_poll: Duration::from_millis(50),
        follow_heartbeat: Duration::from_millis(100),
        admission: afterlog::admission::Limits {
            budget_mib: 2,
            read_mib: 1,
            follow_mib: 1,
            per_caller: 1,
            wait: Duration::from_millis(300),
            queue_max: 4,
            ..Default::default()
        },
        ..Settings::default()
    };
    let s = TestServer::start(store, AuthConfig::Token { tokens }, settings).await;
    let c = Client::new();
    let logs = s.url("/v1/tool/foo/jobs/batch/logs");
    let token = |n: &str| format!("token-of-{n}");
    let ndjson = async |who: &str, query: &str| {
        let url = format!("{logs}?format=ndjson{query}");
        get(&c, &url, &token(who)).send().await.unwrap()
    };
    let follow = async |who: &str| {
        let r = ndjson(who, "&follow=true").await;
        assert_eq!(r.status(), StatusCode::OK, "{who}");
        r
    };
    let full = async |who: &str| {
        let r = ndjson(who, "").await;
        let status = r.status();
        let retry = r.headers().get("retry-after").cloned();
        (status, retry, r.text().await.unwrap())
    };

    // ann follows: her one heavy request; a second is refused at once.
    let ann = follow("ann").await;
    let (st, retry, body) = full("ann").await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(retry.unwrap(), "1");
    assert!(body.contains("ann already has 1"), "{body}");
    // Cheap requests are never held back: small tails, pages, job lists.
    for url in [
        format!("{logs}?format=ndjson&tail=5"),
        format!("{logs}?limit=3"),
        s.url("/v1/tool/foo/jobs"),
    ] {
        let r = c.get(&url).bearer_auth(token("ann")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{url}");
    }

    // bob's follow takes the rest of the budget: cat's read waits, then is
    // refused with a time to retry.
    let bob = follow("bob").await;
    let t = std::time::Instant::now();
    let (st, retry, body) = full("cat").await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    assert!(retry.is_some());
    assert!(body.contains("memory budget (2 MiB"), "{body}");

    // The CLI, refused for ann's cap, waits as told and tries again.
    let home = tempfile::tempdir().unwrap();
    let cli = afterlog(home.path())
        .env("AFTERLOG_SERVER", &s.base)
        .env("AFTERLOG_TOKEN", token("ann"))
        .args(["logs", "-t", "foo", "batch"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // Once ann's follow ends, cat's retry is admitted and complete.
    drop(ann);
    let out = tokio::task::spawn_blocking(|| cli.wait_with_output().unwrap())
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("trying again in 1 s"), "{err}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        want.len(),
        "{err}"
    );
    let got = eventually(
        Duration::from_secs(10),
        Duration::from_millis(100),
        async || {
            let (st, _, body) = full("cat").await;
            (st == StatusCode::OK)
                .then_some(body.clone())
                .ok_or_else(|| format!("still refused: {body}"))
        },
    )
    .await;
    let lines: Vec<Value> = got
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), want.len(), "{got}");
    drop(bob);

    let (_, m) = get_text(&c, &s.url("/v1/metrics"), "").await;
    for counted in [
        r#"afterlog_admission_refused_total{reason="caller"} "#,
        r#"afterlog_admission_refused_total{reason="budget"} "#,
    ] {
        assert!(m.contains(counted), "{counted}: {m}");
    }
    assert!(m.contains("afterlog_admission_budget_mib 2"), "{m}");
}
