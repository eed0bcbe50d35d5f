//! The HTTP API end to end: the service in-process on 127.0.0.1, objects
//! laid out as Fluent Bit's s3 output and the compactor write them, on the
//! local store and on a real S3 server.

mod common;

use afterlog::api::Settings;
use afterlog::auth::{AuthConfig, hash_token};
use afterlog_contract::layout::meta_key;
use afterlog_reader::Store;
use afterlog_reader::meta::{ConsumedRaw, MergedObject, PodInfo, PodMeta};
use common::*;
use futures::StreamExt;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

const TOK_FOO: &str = "token-of-foo";
const TOK_OTHER: &str = "token-of-other";
const TOK_ADMIN: &str = "token-of-admin";

/// The scenario; returns the expected `log`s of foo/batch in order.
async fn populate(store: &Store) -> Vec<&'static str> {
    let main = origin("foo", "batch", "batch-1", "main");
    let side = origin("foo", "batch", "batch-1", "side");
    fn r(o: &afterlog_contract::layout::Origin, t: u64, log: &str) -> String {
        record(o, t, t * 10, "stdout", log)
    }

    // An upload with unsorted lines, its retried duplicate, a later upload.
    let first = vec![r(&main, 3, "m3"), r(&main, 1, "m1"), r(&main, 2, "m2")];
    upload(store, &main, 0, "u-a1", &first).await;
    upload(store, &main, 0, "u-a1-retry", &first).await;
    let mut later = vec![r(&main, 7, "m7"), record(&main, 5, 50, "stderr", "m5 err")];
    // The filter's quota marker, stored like any record.
    let mut marker: Value = serde_json::from_str(&r(&main, 8, "quota reached")).unwrap();
    marker["afterlog"]["event"] = json!("quota_exceeded");
    marker["afterlog"]["limit_bytes"] = json!(1_048_576);
    marker["afterlog"]["window_seconds"] = json!(3600);
    marker["afterlog"]["resets_at"] = json!(T0 + 3_600_000_000_000);
    later.push(marker.to_string());
    upload(store, &main, 0, "u-a2", &later).await;

    // side: compacted into a merged object; the consumed raw object is
    // still there and holds a line the merged one does not.
    let data_key = side.data_key(T0 + 4, T0 + 6, "m1");
    put(
        store,
        &data_key,
        gz(&[r(&side, 4, "s4"), r(&side, 6, "s6")]),
    )
    .await;
    let consumed = upload(
        store,
        &side,
        0,
        "u-s1",
        &[r(&side, 6, "s6"), r(&side, 4, "s4"), r(&side, 99, "GHOST")],
    )
    .await;
    let meta = PodMeta {
        version: 1,
        merged: vec![MergedObject {
            key: data_key,
            first_ts: T0 + 4,
            last_ts: T0 + 6,
            lines: 2,
            bytes: 100,
        }],
        consumed: vec![ConsumedRaw {
            key: consumed,
            since_ns: T0,
        }],
        pod: Some(PodInfo {
            node: "node-1".into(),
            kind: "job".into(),
            containers: [("side".into(), vec!["cid-batch-1-side".into()])].into(),
            ..PodInfo::default()
        }),
    };
    put(
        store,
        &meta_key("foo", "batch", "batch-1"),
        serde_json::to_vec(&meta).unwrap(),
    )
    .await;

    // A cron job with two runs.
    for (i, pod) in ["cron-100-aaaaa", "cron-200-bbbbb"].into_iter().enumerate() {
        let o = origin("foo", "cron", pod, "job");
        let t = i as u64 * 100;
        upload(store, &o, t, "u-c", &[r(&o, t * 1_000_000_000 + 1, pod)]).await;
    }

    // A tool whose name has foo as a prefix, and another tool.
    let fb = origin("foo-bar", "batch", "batch-1", "main");
    upload(store, &fb, 0, "u-fb", &[r(&fb, 1, "SECRET of foo-bar")]).await;
    let ot = origin("other", "x", "x-1", "main");
    upload(store, &ot, 0, "u-o", &[r(&ot, 1, "other's line")]).await;

    vec!["m1", "m2", "m3", "s4", "m5 err", "s6", "m7", "[afterlog]"]
}

fn tokens_file(dir: &std::path::Path) -> std::path::PathBuf {
    let p = dir.join("tokens.json");
    let t = json!({"tokens": [
        {"name": "foo ci", "sha256": hash_token(TOK_FOO), "tools": ["foo"]},
        {"name": "other ci", "sha256": hash_token(TOK_OTHER), "tools": ["other"]},
        {"name": "ops", "sha256": hash_token(TOK_ADMIN), "admin": true},
    ]});
    std::fs::write(&p, t.to_string()).unwrap();
    p
}

async fn get_json(c: &Client, url: &str, token: &str) -> (StatusCode, Value) {
    let r = c.get(url).bearer_auth(token).send().await.unwrap();
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    (status, v)
}

async fn get_text(c: &Client, url: &str, token: &str) -> (StatusCode, String) {
    let r = c.get(url).bearer_auth(token).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

fn logs_of(v: &Value) -> Vec<String> {
    v["logs"]
        .as_array()
        .unwrap_or_else(|| panic!("no logs in {v}"))
        .iter()
        .map(|l| l["log"].as_str().unwrap().to_string())
        .collect()
}

/// Checks the read paths of the scenario against whatever store it is in.
async fn reads(store: Store) {
    let want = populate(&store).await;
    let dir = tempfile::tempdir().unwrap();
    let auth = AuthConfig::Token {
        tokens: tokens_file(dir.path()),
    };
    let s = TestServer::start(store, auth, Settings::default()).await;
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
    let mut paged = Vec::new();
    let mut url = format!("{logs}?limit=3");
    loop {
        let (st, v) = get_json(&c, &url, TOK_FOO).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        paged.extend(logs_of(&v));
        match v["next_cursor"].as_str() {
            Some(cur) => url = format!("{logs}?limit=3&cursor={cur}"),
            None => break,
        }
    }
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
    let jobs: Vec<&str> = v["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job"].as_str().unwrap())
        .collect();
    assert_eq!(jobs, ["batch", "cron"]);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_from_s3_over_http() {
    let s3 = S3Server::start(&["logs"]);
    reads(s3.store("s3://logs/cluster-a")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_auth_matrix() {
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(dir.path());
    populate(&store).await;
    let auth = AuthConfig::Token {
        tokens: tokens_file(dir.path()),
    };
    let s = TestServer::start(store, auth, Settings::default()).await;
    let c = Client::new();
    let logs = s.url("/v1/tool/foo/jobs/batch/logs");
    for (token, want) in [
        (Some(TOK_FOO), StatusCode::OK),
        (Some(TOK_ADMIN), StatusCode::OK),
        (Some(TOK_OTHER), StatusCode::FORBIDDEN),
        (Some("wrong-token"), StatusCode::UNAUTHORIZED),
        (None, StatusCode::UNAUTHORIZED),
    ] {
        for url in [
            logs.clone(),
            s.url("/v1/tool/foo/jobs"),
            s.url("/v1/tool/foo/jobs/batch"),
            s.url("/v1/tool/foo/usage"),
        ] {
            let mut req = c.get(&url);
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), want, "{url} with {token:?}");
            if want == StatusCode::UNAUTHORIZED {
                assert!(r.headers().contains_key("www-authenticate"));
            }
            let v: Value = r.json().await.unwrap();
            if want != StatusCode::OK {
                assert_eq!(v["messages"]["error"].as_array().unwrap().len(), 1, "{v}");
            }
        }
    }
    // Pushing: members push custom lines; platform events are for admins.
    let push = |token: &'static str, source: &'static str| {
        c.post(format!("{logs}?source={source}"))
            .bearer_auth(token)
            .body(r#"{"log":"pushed"}"#)
            .send()
    };
    assert_eq!(
        push(TOK_FOO, "custom").await.unwrap().status(),
        StatusCode::CREATED
    );
    assert_eq!(
        push(TOK_FOO, "platform").await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        push(TOK_OTHER, "custom").await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        push(TOK_ADMIN, "platform").await.unwrap().status(),
        StatusCode::CREATED
    );
    // Health, metrics and the API description need no token.
    for p in ["/v1/healthz", "/v1/metrics", "/openapi.json"] {
        assert_eq!(
            c.get(s.url(p)).send().await.unwrap().status(),
            StatusCode::OK,
            "{p}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_auth_matrix_and_reload() {
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(dir.path());
    populate(&store).await;
    let members = dir.path().join("members.json");
    std::fs::write(
        &members,
        r#"{"admins": ["root"], "tools": {"foo": ["alice"]}}"#,
    )
    .unwrap();
    let header = "X-SSL-Client-Subject-DN";
    let start = |trusted: &str| {
        let auth = AuthConfig::Gateway {
            header: header.into(),
            members: members.clone(),
            trusted_proxies: vec![trusted.parse().unwrap()],
        };
        TestServer::start(store.clone(), auth, Settings::default())
    };
    let s = start("127.0.0.0/8").await;
    let c = Client::new();
    let url = s.url("/v1/tool/foo/jobs/batch/logs");
    let as_user = |dn: Option<&str>| {
        let mut r = c.get(&url);
        if let Some(dn) = dn {
            r = r.header(header, dn);
        }
        r.send()
    };
    for (dn, want) in [
        (Some("CN=alice,OU=people,O=Example"), StatusCode::OK),
        (Some("alice"), StatusCode::OK),
        (Some("CN=root"), StatusCode::OK),
        (Some("CN=bob"), StatusCode::FORBIDDEN),
        (Some("CN=,O=forged"), StatusCode::UNAUTHORIZED),
        (None, StatusCode::UNAUTHORIZED),
    ] {
        assert_eq!(as_user(dn).await.unwrap().status(), want, "{dn:?}");
    }
    // Membership follows the file.
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(
        &members,
        r#"{"admins": [], "tools": {"foo": ["alice", "bob"]}}"#,
    )
    .unwrap();
    assert_eq!(
        as_user(Some("CN=bob")).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        as_user(Some("CN=root")).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    // A broken edit keeps the last good membership.
    std::fs::write(&members, r#"{"tools": {"foo": ["#).unwrap();
    assert_eq!(
        as_user(Some("CN=bob")).await.unwrap().status(),
        StatusCode::OK
    );
    std::fs::write(&members, r#"{"tools": {"foo": ["alice"]}}"#).unwrap();

    // The header is believed only from the gateway's addresses.
    let s = start("10.0.0.0/8").await;
    let r = c
        .get(s.url("/v1/tool/foo/jobs"))
        .header(header, "CN=alice")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_400_and_unknowns_404() {
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(dir.path());
    populate(&store).await;
    let s = TestServer::start(store, AuthConfig::InsecureNone, Settings::default()).await;
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
    put(
        &store,
        &meta_key("foo", "broken", "b-1"),
        serde_json::to_vec(&meta).unwrap(),
    )
    .await;

    let s = TestServer::start(store, AuthConfig::InsecureNone, Settings::default()).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_lines_merge_into_the_job() {
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(dir.path());
    populate(&store).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_streams_new_uploads_and_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(dir.path());
    populate(&store).await;
    let settings = Settings {
        follow_poll: Duration::from_millis(100),
        follow_heartbeat: Duration::from_millis(300),
        follow_max: 1,
        ..Settings::default()
    };
    let s = TestServer::start(store.clone(), AuthConfig::InsecureNone, settings).await;
    let c = Client::new();
    let logs = s.url("/v1/tool/foo/jobs/batch/logs");
    let r = c
        .get(format!("{logs}?format=text&follow=true&tail=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let mut body = r.bytes_stream();
    let mut seen = String::new();
    let mut read_until = async |needle: &str, seen: &mut String| {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !seen.contains(needle) {
            let chunk = tokio::time::timeout_at(deadline, body.next())
                .await
                .unwrap_or_else(|_| panic!("no {needle:?} in {seen:?}"))
                .expect("stream ended")
                .unwrap();
            seen.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    };
    read_until("[afterlog] log quota", &mut seen).await;
    assert_eq!(seen.lines().count(), 1, "{seen:?}");

    // Only one follow at a time here.
    let r = c
        .get(format!("{logs}?format=ndjson&follow=true"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["messages"]["error"][0]
            .as_str()
            .unwrap()
            .contains("too many")
    );

    // A new upload shows up; a retried one does not repeat it.
    let main = origin("foo", "batch", "batch-1", "main");
    let new = vec![record(&main, 20, 200, "stdout", "fresh line")];
    upload(&store, &main, 1, "u-new", &new).await;
    read_until("fresh line", &mut seen).await;
    upload(&store, &main, 1, "u-new-retry", &new).await;
    // A heartbeat (an empty line) while nothing happens.
    read_until("fresh line\n\n", &mut seen).await;
    assert_eq!(seen.matches("fresh line").count(), 1, "{seen:?}");

    // When the client goes away, its slot frees.
    drop(body);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = c
            .get(format!("{logs}?format=ndjson&follow=true"))
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::OK {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "follow slot never freed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describes_itself() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(
        file_store(dir.path()),
        AuthConfig::InsecureNone,
        Settings::default(),
    )
    .await;
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

#[test]
fn refuses_to_serve_without_auth_off_loopback() {
    use afterlog::serve::check_exposure;
    assert!(check_exposure(&AuthConfig::InsecureNone, "127.0.0.1:8080".parse().unwrap()).is_ok());
    assert!(check_exposure(&AuthConfig::InsecureNone, "[::1]:8080".parse().unwrap()).is_ok());
    let e = check_exposure(&AuthConfig::InsecureNone, "0.0.0.0:8080".parse().unwrap()).unwrap_err();
    assert!(e.to_string().contains("loopback"), "{e}");
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
    let tokens = tokens_file(dir.path());
    let s = TestServer::start(store, AuthConfig::Token { tokens }, Settings::default()).await;
    let c = Client::new();
    let job = s.url("/v1/tool/foo/jobs/every-minute");

    let mut pages = Vec::new();
    let mut url = format!("{job}?limit=10");
    loop {
        let (st, v) = get_json(&c, &url, TOK_FOO).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        let runs: Vec<String> = v["job"]["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["pod"].as_str().unwrap().to_string())
            .collect();
        assert!(runs.len() <= 10, "{v}");
        assert_eq!(
            v["job"]["runs"][0]["containers"][0]["container_ids"][0],
            json!(format!("cid-{}-job", runs[0])),
            "{v}"
        );
        pages.push(runs);
        match v["next_cursor"].as_str() {
            Some(cur) => url = format!("{job}?limit=10&cursor={cur}"),
            None => break,
        }
    }
    assert_eq!(pages.len(), 3, "{pages:?}");
    let all: Vec<String> = pages.into_iter().rev().flatten().collect();
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
async fn heavy_reads_share_a_memory_budget_and_callers_their_cap() {
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(dir.path());
    let want = populate(&store).await;
    let tokens = dir.path().join("tokens.json");
    let callers = ["ann", "bob", "cat"];
    let t = json!({"tokens": callers.iter().map(|n| json!({
        "name": n, "sha256": hash_token(&format!("token-of-{n}")), "tools": ["foo"]
    })).collect::<Vec<_>>()});
    std::fs::write(&tokens, t.to_string()).unwrap();
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
    let follow = async |who: &str| {
        let r = c
            .get(format!("{logs}?format=ndjson&follow=true"))
            .bearer_auth(token(who))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{who}");
        r
    };
    let full = async |who: &str| {
        let r = c
            .get(format!("{logs}?format=ndjson"))
            .bearer_auth(token(who))
            .send()
            .await
            .unwrap();
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
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let got = loop {
        let (st, _, body) = full("cat").await;
        if st == StatusCode::OK {
            break body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still refused: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
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
