//! What the service's reads cost, at `/v1/metrics`: every request to the
//! object store counted by operation (`afterlog_store_requests_total{op}`)
//! and the bytes of the objects fetched (`afterlog_store_bytes_fetched_total`),
//! on a local directory and on S3.

mod common;

use afterlog_reader::Store;
use common::*;
use reqwest::{Client, StatusCode};

/// The value of the sample `series` (name and labels) in a text exposition.
fn sample(text: &str, series: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn requests(text: &str, op: &str) -> u64 {
    let series = format!("afterlog_store_requests_total{{op=\"{op}\"}}");
    sample(text, &series).unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

fn bytes_fetched(text: &str) -> u64 {
    sample(text, "afterlog_store_bytes_fetched_total")
        .unwrap_or_else(|| panic!("no afterlog_store_bytes_fetched_total in\n{text}"))
}

async fn metrics(c: &Client, s: &TestServer) -> String {
    text_ok(c, &s.url("/v1/metrics"), "").await
}

async fn counts_what_reads_cost(store: Store) {
    let o = origin("foo", "batch", "batch-1", "main");
    let lines: Vec<String> = (1..=5)
        .map(|t| record(&o, t, t * 10, "stdout", &format!("line {t}")))
        .collect();
    // Written before the service opens the store: not its requests.
    upload(&store, &o, 0, "u-1", &lines[..3]).await;
    upload(&store, &o, 1, "u-2", &lines[3..]).await;
    let stored = (gz(&lines[..3]).len() + gz(&lines[3..]).len()) as u64;

    let s = TestServer::open(store).await;
    let c = Client::new();
    let m = metrics(&c, &s).await;
    // Nothing yet but the service's own read of the compaction status
    // object, once at start (a GET, of an object not there: no bytes).
    assert!(requests(&m, "get") <= 1, "get: {m}");
    for op in [
        "get_range",
        "head",
        "put",
        "delete",
        "list",
        "list_with_delimiter",
        "copy",
    ] {
        assert_eq!(requests(&m, op), 0, "{op}: {m}");
    }
    assert_eq!(bytes_fetched(&m), 0, "{m}");

    let r = c
        .get(s.url("/v1/tool/foo/jobs/batch/logs?format=text"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body = r.text().await.unwrap();
    for t in 1..=5 {
        assert!(body.contains(&format!("line {t}")), "{body}");
    }

    let m = metrics(&c, &s).await;
    assert!(requests(&m, "get") > 0, "{m}");
    assert!(requests(&m, "list") > 0, "{m}");
    assert_eq!(requests(&m, "put"), 0, "{m}");
    // Both objects, whole.
    assert!(bytes_fetched(&m) >= stored, "{stored} stored: {m}");

    // A push is a PUT.
    let r = c
        .post(s.url("/v1/tool/foo/jobs/batch/logs"))
        .body(r#"{"log": "pushed"}"#)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let m = metrics(&c, &s).await;
    assert!(requests(&m, "put") > 0, "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_the_requests_of_reads_from_a_local_directory() {
    let dir = tempfile::tempdir().unwrap();
    counts_what_reads_cost(file_store(dir.path())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_the_requests_of_reads_from_s3() {
    let s3 = S3Server::start(&["logs"]);
    counts_what_reads_cost(s3.store("s3://logs/cluster-a")).await;
}
