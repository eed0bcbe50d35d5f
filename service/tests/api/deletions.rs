//! Deletion requests over HTTP: who may ask, list and cancel; what a
//! request hides (at once, in every read format and on every replica);
//! dry runs storing nothing; cancels showing the lines again, or refused
//! once the compactor has taken the request.

use crate::common::*;
use afterlog::api::Settings;
use afterlog::auth::{AuthConfig, DeleteBy};
use afterlog_contract::layout::DeletionPart;
use afterlog_reader::deletion::{DELETION_VERSION, Decision, Verdict};
use afterlog_reader::job::create_deletion_doc;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

/// POST `body` to `url` as the caller `token` ("": no token).
async fn post(c: &Client, url: &str, token: &str, body: &str) -> (StatusCode, Value) {
    let mut r = c.post(url).body(body.to_string());
    if !token.is_empty() {
        r = r.bearer_auth(token);
    }
    let r = r.send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The `log`s foo/batch shows, in each read format (they must agree); a
/// quota event as `[afterlog]`.
async fn batch_logs(c: &Client, s: &TestServer) -> Vec<String> {
    let url = s.url("/v1/tool/foo/jobs/batch/logs");
    let (st, page) = get_json(c, &url, TOK_FOO).await;
    assert_eq!(st, StatusCode::OK, "{page}");
    let event = |l: &str| match l.starts_with("[afterlog]") {
        true => "[afterlog]".to_string(),
        false => l.to_string(),
    };
    let json: Vec<String> = logs_of(&page).iter().map(|l| event(l)).collect();
    let ndjson: Vec<String> = text_ok(c, &format!("{url}?format=ndjson"), TOK_FOO)
        .await
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v.get("messages").is_none())
        .map(|v| match v["afterlog"].get("event") {
            Some(_) => "[afterlog]".to_string(),
            None => v["log"].as_str().unwrap().to_string(),
        })
        .collect();
    assert_eq!(ndjson, json, "ndjson and json agree");
    let text = text_ok(c, &format!("{url}?format=text"), TOK_FOO).await;
    assert_eq!(
        text.lines().count(),
        json.len(),
        "text and json agree: {text}"
    );
    json
}

fn without(all: &[&str], gone: &str) -> Vec<String> {
    all.iter()
        .filter(|l| **l != gone)
        .map(|l| l.to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_list_get_cancel_and_what_reads_show() {
    let (dir, store, want) = populated().await;
    let s = TestServer::for_tokens(store, tokens(dir.path())).await;
    let c = Client::new();
    let all: Vec<String> = want.iter().map(|l| l.to_string()).collect();
    assert_eq!(batch_logs(&c, &s).await, all);
    let create = s.url("/v1/tool/foo/jobs/batch/deletions");

    // A dry run counts and stores nothing.
    let (st, v) = post(&c, &create, TOK_FOO, r#"{"grep": "m5", "dry_run": true}"#).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["affected"]["lines"], 1, "{v}");
    assert_eq!(v["affected"]["bytes"], "m5 err".len(), "{v}");
    assert_eq!(v["selection"]["grep"], json!(["m5"]));
    let (_, list) = get_json(&c, &create, TOK_FOO).await;
    assert_eq!(list["deletions"], json!([]), "{list}");
    assert_eq!(batch_logs(&c, &s).await, all);

    // Created: hidden at once, in every format.
    let (st, v) = post(
        &c,
        &create,
        TOK_FOO,
        r#"{"grep": ["m5"], "stream": "stderr"}"#,
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let d = &v["deletion"];
    let id = d["id"].as_str().unwrap().to_string();
    assert_eq!(d["state"], "pending");
    assert_eq!(d["requested_by"], "foo ci");
    assert_eq!(d["affected"]["lines"], 1);
    assert_eq!(d["selection"]["until"], d["requested_at"]);
    assert!(d.get("decided_at").is_none(), "{d}");
    assert_eq!(batch_logs(&c, &s).await, without(&want, "m5 err"));

    // Listed by job, by tool and (admins) for every tool; got by id.
    for url in [create.clone(), s.url("/v1/tool/foo/deletions")] {
        let (st, l) = get_json(&c, &url, TOK_FOO).await;
        assert_eq!(st, StatusCode::OK, "{l}");
        assert_eq!(strs(&l["deletions"], "id"), vec![id.clone()], "{url}");
    }
    let one = s.url(&format!("/v1/tool/foo/jobs/batch/deletions/{id}"));
    let (st, g) = get_json(&c, &one, TOK_FOO).await;
    assert_eq!((st, &g["deletion"]), (StatusCode::OK, d), "{g}");
    let every = s.url("/v1/deletions");
    assert_eq!(get_json(&c, &every, TOK_FOO).await.0, StatusCode::FORBIDDEN);
    assert_eq!(get_json(&c, &every, "").await.0, StatusCode::UNAUTHORIZED);
    let (st, l) = get_json(&c, &every, TOK_ADMIN).await;
    assert_eq!(
        (st, strs(&l["deletions"], "id")),
        (StatusCode::OK, vec![id.clone()])
    );

    // Other tools' members neither see nor ask; nobody unknown either.
    assert_eq!(
        get_json(&c, &create, TOK_OTHER).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(&c, &create, TOK_OTHER, "{}").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(&c, &create, "", "{}").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post(&c, &create, "wrong", "{}").await.0,
        StatusCode::UNAUTHORIZED
    );
    let cancel = format!("{one}/cancel");
    assert_eq!(
        post(&c, &cancel, TOK_OTHER, "").await.0,
        StatusCode::FORBIDDEN
    );

    // Cancelled: the line shows again; a second cancel says so.
    let (st, v) = post(&c, &cancel, TOK_FOO, "").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["deletion"]["state"], "cancelled");
    assert_eq!(v["deletion"]["decided_by"], "foo ci");
    assert_eq!(batch_logs(&c, &s).await, all);
    let (st, v) = post(&c, &cancel, TOK_FOO, "").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert!(
        v["messages"]["info"][0]
            .as_str()
            .unwrap()
            .contains("already cancelled"),
        "{v}"
    );

    // Unknown and malformed ids.
    let unknown = s.url("/v1/tool/foo/jobs/batch/deletions/00000000000000000001-0000000000000001");
    assert_eq!(
        get_json(&c, &unknown, TOK_FOO).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        post(&c, &format!("{unknown}/cancel"), TOK_FOO, "").await.0,
        StatusCode::NOT_FOUND
    );
    let (st, v) = post(
        &c,
        &s.url("/v1/tool/foo/jobs/batch/deletions/nope/cancel"),
        TOK_FOO,
        "",
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["messages"]["error"][0]
            .as_str()
            .unwrap()
            .contains("invalid deletion id")
    );

    let metrics = text_ok(&c, &s.url("/v1/metrics"), "").await;
    for line in [
        "afterlog_deletion_requests_total{result=\"created\"} 1",
        "afterlog_deletion_requests_total{result=\"cancelled\"} 1",
        "afterlog_deletion_requested_lines_total 1",
        "afterlog_deletion_requested_bytes_total 6",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line}: {metrics}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_job_up_to_now_and_another_replica_hides_at_once() {
    let (dir, store, _) = populated().await;
    let a = TestServer::for_tokens(store.clone(), tokens(dir.path())).await;
    let b = TestServer::for_tokens(store, tokens(dir.path())).await;
    let c = Client::new();
    let (st, v) = post(
        &c,
        &a.url("/v1/tool/foo/jobs/batch/deletions"),
        TOK_FOO,
        "{}",
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["deletion"]["affected"]["lines"], 8, "{v}");
    assert!(v["deletion"]["selection"].get("grep").is_none());
    assert_eq!(batch_logs(&c, &b).await, Vec::<String>::new());
    // Lines written after the request are not its business.
    let logs = b.url("/v1/tool/foo/jobs/batch/logs");
    let r = c
        .post(&logs)
        .bearer_auth(TOK_FOO)
        .body(r#"{"log": "after"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(batch_logs(&c, &a).await, ["after"]);
    // Another job of the tool is untouched.
    let (_, cron) = get_json(&c, &b.url("/v1/tool/foo/jobs/cron/logs"), TOK_FOO).await;
    assert_eq!(logs_of(&cron).len(), 2, "{cron}");
    // A request selecting what is hidden already counts nothing, and says so.
    let (st, v) = post(
        &c,
        &a.url("/v1/tool/foo/jobs/batch/deletions"),
        TOK_FOO,
        r#"{"grep": "m1"}"#,
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["deletion"]["affected"]["lines"], 0, "{v}");
    assert!(
        v["messages"]["warning"][0]
            .as_str()
            .unwrap()
            .contains("selects no line"),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_name_their_field() {
    let (dir, store, _) = populated().await;
    let s = TestServer::for_tokens(store, tokens(dir.path())).await;
    let c = Client::new();
    let create = s.url("/v1/tool/foo/jobs/batch/deletions");
    for (body, want) in [
        ("", "empty body"),
        (r#"{"pod": "x"}"#, "unknown field `pod`"),
        (r#"{"since": "yesterday"}"#, "since="),
        (
            r#"{"since": "1h", "until": "2h"}"#,
            "since must be before until",
        ),
        (r#"{"ignore_case": true}"#, "ignore_case"),
        (r#"{"regex": "("}"#, "regex:"),
        (r#"{"grep": ""}"#, "grep"),
        (r#"{"stream": "both"}"#, "stream"),
    ] {
        let (st, v) = post(&c, &create, TOK_FOO, body).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {v}");
        let msg = v["messages"]["error"][0].as_str().unwrap();
        assert!(msg.contains(want), "{body}: {msg}");
    }
    let (st, v) = post(&c, &create, TOK_FOO, r#"{"run": "no-such-pod"}"#).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");
    let (st, v) = post(
        &c,
        &s.url("/v1/tool/foo/jobs/nothing/deletions"),
        TOK_FOO,
        "{}",
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");
    // `latest` is the run that started last, stored by its name.
    let cron = s.url("/v1/tool/foo/jobs/cron/deletions");
    let (st, v) = post(&c, &cron, TOK_FOO, r#"{"run": "latest", "dry_run": true}"#).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["selection"]["run"], "cron-200-bbbbb", "{v}");
    assert_eq!(v["affected"]["lines"], 1, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_by_admins_leaves_members_reading() {
    let (dir, store, _) = populated().await;
    let settings = Settings {
        delete_by: DeleteBy::Admins,
        ..Settings::default()
    };
    let auth = AuthConfig::Token {
        tokens: tokens(dir.path()),
    };
    let s = TestServer::start(store, auth, settings).await;
    let c = Client::new();
    let create = s.url("/v1/tool/foo/jobs/batch/deletions");
    let (st, v) = post(&c, &create, TOK_FOO, "{}").await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    assert!(
        v["messages"]["error"][0]
            .as_str()
            .unwrap()
            .contains("admins only"),
        "{v}"
    );
    let (st, v) = post(&c, &create, TOK_ADMIN, r#"{"grep": "m7"}"#).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let id = v["deletion"]["id"].as_str().unwrap().to_string();
    let (st, l) = get_json(&c, &create, TOK_FOO).await;
    assert_eq!(
        (st, strs(&l["deletions"], "id")),
        (StatusCode::OK, vec![id.clone()])
    );
    let cancel = s.url(&format!("/v1/tool/foo/jobs/batch/deletions/{id}/cancel"));
    assert_eq!(
        post(&c, &cancel, TOK_FOO, "").await.0,
        StatusCode::FORBIDDEN
    );
    let metrics = text_ok(&c, &s.url("/v1/metrics"), "").await;
    assert!(
        metrics.contains("afterlog_deletion_requests_total{result=\"refused\"} 2"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_the_compactor_took_is_not_cancelled() {
    let (dir, store, want) = populated().await;
    let s = TestServer::for_tokens(store.clone(), tokens(dir.path())).await;
    let c = Client::new();
    let create = s.url("/v1/tool/foo/jobs/batch/deletions");
    let (st, v) = post(&c, &create, TOK_FOO, r#"{"grep": "m2"}"#).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let id = v["deletion"]["id"].as_str().unwrap().to_string();
    // As the compactor does once the request is due.
    let decision = Decision {
        version: DELETION_VERSION,
        id: id.clone(),
        verdict: Verdict::Apply,
        by: "compactor-x".into(),
        at_ns: 1_795_618_800_000_000_000,
        affected: None,
    };
    let made = create_deletion_doc(
        store.as_ref(),
        "foo",
        "batch",
        &id,
        DeletionPart::Decision,
        &decision,
    )
    .await
    .unwrap();
    assert!(made);
    let cancel = s.url(&format!("/v1/tool/foo/jobs/batch/deletions/{id}/cancel"));
    let (st, v) = post(&c, &cancel, TOK_FOO, "").await;
    assert_eq!(st, StatusCode::CONFLICT, "{v}");
    let msg = v["messages"]["error"][0].as_str().unwrap();
    assert!(
        msg.contains("no longer be cancelled") && msg.contains("2026-11-25T15:00:00"),
        "{msg}"
    );
    assert_eq!(batch_logs(&c, &s).await, without(&want, "m2"));
    let (_, g) = get_json(
        &c,
        &s.url(&format!("/v1/tool/foo/jobs/batch/deletions/{id}")),
        TOK_FOO,
    )
    .await;
    assert_eq!(g["deletion"]["state"], "applying", "{g}");
    assert_eq!(g["deletion"]["decided_by"], "compactor-x", "{g}");
}

/// The total `(stdout, stderr)` lines of foo/batch's volume.
async fn batch_volume(c: &Client, s: &TestServer) -> (u64, u64) {
    let url = s.url("/v1/tool/foo/jobs/batch/volume?step=1d");
    let (st, v) = get_json(c, &url, TOK_FOO).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let sum = |k: &str| {
        v["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b[k].as_u64().unwrap())
            .sum::<u64>()
    };
    (sum("stdout_lines"), sum("stderr_lines"))
}

/// The `log`s a tool-wide search finds.
async fn searched(c: &Client, s: &TestServer, grep: &str) -> Vec<String> {
    let url = s.url(&format!("/v1/tool/foo/search?grep={grep}&since=30d"));
    let (st, v) = get_json(c, &url, TOK_FOO).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let mut logs: Vec<String> = v["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["log"].as_str().unwrap().to_string())
        .collect();
    logs.sort();
    logs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_volume_and_follow_hide_a_request_at_once() {
    let (dir, store, _) = populated().await;
    // Compacted: the volume's counts come from the job index, which still
    // counts the lines until the compactor rewrites them out.
    let report = afterlog_compactor::Compactor {
        clock: || afterlog_compactor::system_clock() + 3_600_000_000_000,
        ..afterlog_compactor::Compactor::new(store.clone(), Default::default())
    }
    .pass()
    .await
    .unwrap();
    assert!(report.jobs_merged > 0, "{report}");
    let settings = Settings {
        follow_poll: std::time::Duration::from_millis(100),
        ..Settings::default()
    };
    let auth = AuthConfig::Token {
        tokens: tokens(dir.path()),
    };
    let s = TestServer::start(store.clone(), auth, settings).await;
    let c = Client::new();
    let before = batch_volume(&c, &s).await;
    assert_eq!(before.1, 1, "m5 err is the one stderr line");
    assert!(searched(&c, &s, "m5").await == vec!["m5 err".to_string()]);
    let follow = s.url("/v1/tool/foo/jobs/batch/logs?format=ndjson&follow=true&tail=0");
    let r = c.get(&follow).bearer_auth(TOK_FOO).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let mut followed = Streamed::new(r);

    let create = s.url("/v1/tool/foo/jobs/batch/deletions");
    let (st, v) = post(&c, &create, TOK_FOO, r#"{"grep": ["m5"]}"#).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");

    assert_eq!(searched(&c, &s, "m5").await, Vec::<String>::new());
    assert!(!searched(&c, &s, "m").await.contains(&"m5 err".to_string()));
    assert_eq!(batch_volume(&c, &s).await, (before.0, 0));

    // A late upload (a retry of an old buffer, another container
    // instance) with a selected line and another: the follow shows only
    // the other.
    let late = origin("foo", "batch", "batch-1", "late");
    let lines = [
        record(&late, 5, 1, "stdout", "late m5 again"),
        record(&late, 6, 2, "stdout", "late and fine"),
    ];
    upload(&store, &late, 0, "u-late", &lines).await;
    let within = std::time::Duration::from_secs(10);
    followed.until("late and fine", within).await;
    assert!(!followed.seen.contains("late m5"), "{}", followed.seen);
    let logs = batch_logs(&c, &s).await;
    assert!(logs.contains(&"late and fine".to_string()), "{logs:?}");
    assert!(!logs.iter().any(|l| l.contains("m5")), "{logs:?}");
}
