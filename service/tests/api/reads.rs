//! Reading a job's log in every format and selection, its runs, the
//! tool's jobs and usage; the API's description of itself.

use crate::common::*;
use afterlog_reader::Store;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

/// Checks the read paths of the scenario against whatever store it is in.
async fn reads(store: Store) {
    let want = populate(&store).await;
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::for_tokens(store, tokens(dir.path())).await;
    let c = Client::new();
    let logs = s.url("/v1/tool/foo/jobs/batch/logs");

    // JSON: ordered, deduplicated, consumed raw skipped, event in words.
    let (st, v) = get_json(&c, &logs, TOK_FOO).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let got = logs_of(&v);
    assert_eq!(got.len(), want.len(), "{got:?}");
    for (g, w) in got.iter().zip(&want) {
        assert!(g.starts_with(w), "{got:?}");
    }
    assert_eq!(v["messages"]["warning"], json!([]), "{v}");
    assert_eq!(v["logs"][7]["event"], "quota_exceeded");
    assert!(
        v["logs"][7]["log"]
            .as_str()
            .unwrap()
            .contains("quota of 1.0 MiB")
    );
    assert_eq!(v["logs"][4]["stream"], "stderr");
    assert_eq!(v["next_cursor"], Value::Null);

    // Pages through the cursor add up to the whole.
    let paged: Vec<String> = pages(&c, &logs, TOK_FOO, 3)
        .await
        .iter()
        .flat_map(logs_of)
        .collect();
    assert_eq!(paged, got);

    // NDJSON: the stored records as stored.
    let (st, body) = get_text(&c, &format!("{logs}?format=ndjson"), TOK_FOO).await;
    assert_eq!(st, StatusCode::OK);
    let lines: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), want.len(), "{body}");
    assert_eq!(lines[0]["log"], "m1");
    assert_eq!(lines[0]["afterlog"]["container_id"], "cid-batch-1-main");

    // Text: one readable line each.
    let (st, body) = get_text(&c, &format!("{logs}?format=text"), TOK_FOO).await;
    assert_eq!(st, StatusCode::OK);
    let text: Vec<&str> = body.lines().collect();
    assert_eq!(
        text[0], "2026-11-25T15:00:00.000000001Z [batch-1/main] m1",
        "{body}"
    );
    assert_eq!(
        text[4],
        "2026-11-25T15:00:00.000000005Z [batch-1/main stderr] m5 err"
    );
    assert!(
        text[7].contains("[afterlog] log quota of 1.0 MiB per 3600 s reached"),
        "{body}"
    );

    // Selections.
    let sel = |q: &str| format!("{logs}?{q}");
    let (_, v) = get_json(&c, &sel("tail=2"), TOK_FOO).await;
    assert_eq!(logs_of(&v)[0], "m7");
    let (_, v) = get_json(&c, &sel("head=2"), TOK_FOO).await;
    assert_eq!(logs_of(&v), ["m1", "m2"]);
    let (_, v) = get_json(&c, &sel("container=side"), TOK_FOO).await;
    assert_eq!(logs_of(&v), ["s4", "s6"]);
    let (_, v) = get_json(&c, &sel("stream=stderr"), TOK_FOO).await;
    assert_eq!(logs_of(&v), ["m5 err"]);
    let (_, v) = get_json(
        &c,
        &sel("since=2026-11-25T15:00:00.000000003Z&until=1795618800000000006"),
        TOK_FOO,
    )
    .await;
    assert_eq!(logs_of(&v), ["m3", "s4", "m5 err"]);
    let (_, body) = get_text(&c, &sel("format=text&tail=1"), TOK_FOO).await;
    assert_eq!(body.lines().count(), 1, "{body}");

    // Runs of a cron job.
    let cron = s.url("/v1/tool/foo/jobs/cron/logs");
    let (_, v) = get_json(&c, &format!("{cron}?run=latest"), TOK_FOO).await;
    assert_eq!(logs_of(&v), ["cron-200-bbbbb"]);
    let (_, v) = get_json(&c, &format!("{cron}?run=cron-100-aaaaa"), TOK_FOO).await;
    assert_eq!(logs_of(&v), ["cron-100-aaaaa"]);
    let (st, v) = get_json(&c, &format!("{cron}?run=cron-999-zzzzz"), TOK_FOO).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");

    // Jobs, job, usage.
    let (st, v) = get_json(&c, &s.url("/v1/tool/foo/jobs"), TOK_FOO).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(strs(&v["jobs"], "job"), ["batch", "cron"]);
    assert_eq!(v["jobs"][1]["runs"], 2);
    assert_eq!(v["jobs"][0]["kind"], "job");
    assert_eq!(v["jobs"][0]["status"], "active");
    let (st, v) = get_json(&c, &s.url("/v1/tool/foo/jobs/cron"), TOK_FOO).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["job"]["runs"][0]["pod"], "cron-100-aaaaa");
    assert_eq!(v["job"]["runs"][1]["containers"][0]["name"], "job");
    assert_eq!(
        v["job"]["runs"][1]["containers"][0]["container_ids"],
        json!(["cid-cron-200-bbbbb-job"])
    );
    let (st, v) = get_json(&c, &s.url("/v1/tool/foo/usage"), TOK_FOO).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let total: u64 = v["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["stored_bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(v["total_bytes"].as_u64().unwrap(), total);
    assert!(total > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_from_a_local_directory() {
    let dir = tempfile::tempdir().unwrap();
    reads(file_store(dir.path())).await;
}

/// A cron job of many one-upload runs, compacted: its runs come in pages,
/// newest first, each a few store requests whatever the job's size, and
/// `run=latest` and `tail` read from the job index.
#[tokio::test]
async fn runs_page_through_the_job_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(dir.path());
    let mut want = Vec::new();
    for run in 0..25u64 {
        let o = origin(
            "foo",
            "every-minute",
            &format!("every-minute-{run:03}"),
            "job",
        );
        let lines: Vec<String> = (0..4)
            .map(|i| {
                record(
                    &o,
                    run * 60_000_000_000 + i,
                    i * 10,
                    "stdout",
                    &format!("run {run} line {i}"),
                )
            })
            .collect();
        upload(&store, &o, run * 60, &format!("u{run}"), &lines).await;
        want.push(format!("every-minute-{run:03}"));
    }
    let report = afterlog_compactor::Compactor {
        clock: || afterlog_compactor::system_clock() + 3_600_000_000_000,
        ..afterlog_compactor::Compactor::new(store.clone(), Default::default())
    }
    .pass()
    .await
    .unwrap();
    assert_eq!(report.jobs_merged, 1, "{report}");
    let s = TestServer::for_tokens(store, tokens(dir.path())).await;
    let c = Client::new();
    let job = s.url("/v1/tool/foo/jobs/every-minute");

    let mut runs_paged = Vec::new();
    for v in pages(&c, &job, TOK_FOO, 10).await {
        let runs = strs(&v["job"]["runs"], "pod");
        assert!(runs.len() <= 10, "{v}");
        assert_eq!(
            v["job"]["runs"][0]["containers"][0]["container_ids"][0],
            json!(format!("cid-{}-job", runs[0])),
            "{v}"
        );
        runs_paged.push(runs);
    }
    assert_eq!(runs_paged.len(), 3, "{runs_paged:?}");
    let all: Vec<String> = runs_paged.into_iter().rev().flatten().collect();
    assert_eq!(all, want, "every run once, oldest first within the pages");
    for bad in ["limit=0", "limit=5000", "cursor=%21%21"] {
        let (st, v) = get_json(&c, &format!("{job}?{bad}"), TOK_FOO).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }

    let logs = s.url("/v1/tool/foo/jobs/every-minute/logs");
    let (_, v) = get_json(&c, &format!("{logs}?run=latest"), TOK_FOO).await;
    assert_eq!(logs_of(&v).len(), 4, "{v}");
    assert!(logs_of(&v)[0].starts_with("run 24 line 0"), "{v}");
    let (_, v) = get_json(&c, &format!("{logs}?tail=6"), TOK_FOO).await;
    let tail = logs_of(&v);
    assert_eq!(tail.len(), 6, "{v}");
    assert!(
        tail[0].starts_with("run 23 line 2") && tail[5].starts_with("run 24 line 3"),
        "{tail:?}"
    );
    let (_, v) = get_json(&c, &s.url("/v1/tool/foo/jobs"), TOK_FOO).await;
    assert_eq!(v["jobs"][0]["runs"], 25, "{v}");
    assert_eq!(v["jobs"][0]["kind"], "job", "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describes_itself() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::open(file_store(dir.path())).await;
    let c = Client::new();
    let (st, v) = get_json(&c, &s.url("/openapi.json"), "").await;
    assert_eq!(st, StatusCode::OK);
    assert!(v["openapi"].as_str().unwrap().starts_with("3."));
    for p in [
        "/v1/healthz",
        "/v1/metrics",
        "/v1/tool/{tool}/jobs",
        "/v1/tool/{tool}/jobs/{job}",
        "/v1/tool/{tool}/jobs/{job}/logs",
        "/v1/tool/{tool}/usage",
    ] {
        assert!(v["paths"][p].is_object(), "{p} missing");
    }
    assert!(v["paths"]["/v1/tool/{tool}/jobs/{job}/logs"]["post"].is_object());
    let (st, v) = get_json(&c, &s.url("/v1/healthz"), "").await;
    assert_eq!((st, v["status"].as_str()), (StatusCode::OK, Some("ok")));
    assert_eq!(
        v["messages"],
        json!({"info": [], "warning": [], "error": []})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_from_s3_over_http() {
    let s3 = S3Server::start(&["logs"]);
    reads(s3.store("s3://logs/cluster-a")).await;
}
