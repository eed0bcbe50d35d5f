//! Kubernetes events in a job's log (docs/design.md §13): inline in every
//! format, selected by `events=`, counted on their own by the volume, a
//! pod with only events a run, and the job's kind its containers' — the
//! same from raw uploads and after compaction.

use crate::common::*;
use afterlog_testkit::file_store;
use reqwest::{Client, StatusCode};
use serde_json::Value;

const SEC: u64 = 1_000_000_000;

fn event_lines(v: &Value) -> Vec<u64> {
    v["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["event_lines"].as_u64().unwrap())
        .collect()
}

fn stdout_lines(v: &Value) -> u64 {
    v["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["stdout_lines"].as_u64().unwrap() + b["stderr_lines"].as_u64().unwrap())
        .sum()
}

/// What every read of `evjob` shows, whether it is compacted or not.
async fn check_reads(s: &TestServer, c: &Client) {
    let logs = s.url("/v1/tool/foo/jobs/evjob/logs");
    let (st, v) = get_json(c, &logs, TOK_FOO).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(logs_of(&v), EVENTS_JOB, "{v}");
    // JSON: the event's own fields as stored.
    let backoff = &v["logs"][5];
    assert_eq!(
        (&backoff["pod"], &backoff["container"], &backoff["stream"]),
        (&"evjob-1".into(), &"@events".into(), &"event".into()),
        "{backoff}"
    );
    assert_eq!(backoff["k8s_event"]["reason"], "BackOff", "{backoff}");
    assert_eq!(backoff["k8s_event"]["count"], 3, "{backoff}");
    assert!(v["logs"][0].get("k8s_event").is_none(), "{v}");

    // Text: the stored line after the pod and the events' pseudo-container.
    let text = text_ok(c, &format!("{logs}?format=text"), TOK_FOO).await;
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows.len(), 7, "{text}");
    assert!(
        rows[5].ends_with(
            "Z [evjob-1/@events] Warning BackOff (3×): Back-off restarting failed container job in pod evjob-1"
        ),
        "{text}"
    );
    assert!(rows[1].ends_with("Z [evjob-1/job stderr] crash"), "{text}");

    // NDJSON: the stored records, the event's object with them.
    let nd = text_ok(c, &format!("{logs}?format=ndjson&events=only"), TOK_FOO).await;
    let recs: Vec<Value> = nd
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 4, "{nd}");
    assert!(
        recs.iter()
            .all(|r| r["afterlog"]["container"] == "@events" && r["k8s_event"].is_object()),
        "{nd}"
    );

    let page = |q: &'static str| {
        let url = format!("{logs}?{q}");
        async move {
            let (st, v) = get_json(c, &url, TOK_FOO).await;
            assert_eq!(st, StatusCode::OK, "{url}: {v}");
            logs_of(&v)
        }
    };
    assert_eq!(
        page("events=none").await,
        ["starting", "crash", "starting again"]
    );
    assert_eq!(
        page("events=only").await,
        [EVENTS_JOB[2], EVENTS_JOB[3], EVENTS_JOB[5], EVENTS_JOB[6]]
    );
    assert_eq!(page("events=include").await, EVENTS_JOB);
    assert_eq!(page("stream=stdout").await, ["starting", "starting again"]);
    assert_eq!(page("tail=2").await, &EVENTS_JOB[5..]);
    assert_eq!(
        page("events=only&tail=1&since=1796000000000000000").await,
        Vec::<String>::new()
    );
    assert_eq!(page("events=only&head=1").await, [EVENTS_JOB[2]]);
    assert_eq!(
        page("grep=BackOff&context=1").await,
        [
            EVENTS_JOB[1],
            EVENTS_JOB[2],
            EVENTS_JOB[3],
            EVENTS_JOB[4],
            EVENTS_JOB[5],
            EVENTS_JOB[6]
        ]
    );
    // A run never scheduled is a run: the latest, its events its log.
    assert_eq!(page("run=latest").await, [EVENTS_JOB[6]]);
    assert_eq!(
        page("run=evjob-1&events=only").await,
        [EVENTS_JOB[2], EVENTS_JOB[5]]
    );

    let (st, bad) = get_json(c, &format!("{logs}?events=all"), TOK_FOO).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}");
    assert_eq!(
        bad["messages"]["error"][0], "events=\"all\": expected include, only or none",
        "{bad}"
    );

    // The job's runs: the pod that never started too; its kind is its
    // containers', not the events' guess.
    let (_, j) = get_json(c, &s.url("/v1/tool/foo/jobs/evjob"), TOK_FOO).await;
    let pods = strs(&j["job"]["runs"], "pod");
    assert!(pods.contains(&"evjob-2".to_string()), "{j}");
    assert_eq!(j["job"]["kind"], "job", "{j}");
    let (_, jobs) = get_json(c, &s.url("/v1/tool/foo/jobs"), TOK_FOO).await;
    let listed = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["job"] == "evjob")
        .unwrap_or_else(|| panic!("{jobs}"));
    assert_eq!(listed["kind"], "job", "{jobs}");

    // Search: events match like lines, and are left out on request.
    let search = s.url("/v1/tool/foo/search?grep=FailedScheduling");
    let (st, found) = get_json(c, &search, TOK_FOO).await;
    assert_eq!(st, StatusCode::OK, "{found}");
    assert_eq!(found["matches"].as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found["matches"][0]["container"], "@events", "{found}");
    assert_eq!(found["matches"][0]["run"], "evjob-2", "{found}");
    assert_eq!(
        found["matches"][0]["k8s_event"]["reason"],
        "FailedScheduling"
    );
    let (_, none) = get_json(c, &format!("{search}&events=none"), TOK_FOO).await;
    assert_eq!(none["matches"].as_array().unwrap().len(), 0, "{none}");
    let (st, bad) = get_json(c, &format!("{search}&events=x"), TOK_FOO).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}");

    // Volume: events on their own, each occurrence once.
    let volume = s.url("/v1/tool/foo/jobs/evjob/volume?step=1h");
    let (st, vol) = get_json(c, &volume, TOK_FOO).await;
    assert_eq!(st, StatusCode::OK, "{vol}");
    assert_eq!(event_lines(&vol), [4], "{vol}");
    assert_eq!(stdout_lines(&vol), 3, "{vol}");
    let (_, only) = get_json(c, &format!("{volume}&events=only"), TOK_FOO).await;
    assert_eq!(
        (event_lines(&only), stdout_lines(&only)),
        (vec![4], 0),
        "{only}"
    );
    let (_, none) = get_json(c, &format!("{volume}&events=none"), TOK_FOO).await;
    assert_eq!(
        (event_lines(&none), stdout_lines(&none)),
        (vec![0], 3),
        "{none}"
    );
    let runs = strs(&none["runs"], "run");
    assert!(!runs.contains(&"evjob-2".to_string()), "{none}");
    let (st, bad) = get_json(c, &format!("{volume}&events=some"), TOK_FOO).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_show_inline_and_are_selected_before_and_after_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(dir.path());
    events_job(&store).await;
    let s = TestServer::for_tokens(store.clone(), tokens(dir.path())).await;
    let c = Client::new();
    check_reads(&s, &c).await;

    compact(&store, &dir).await;
    check_reads(&s, &c).await;

    // A collector restarted without its db lists the same events again,
    // the latest first, after they were compacted: still once each, read
    // from the upload and the chunk, and once the upload is compacted too
    // (the compactor leaves out what the chunks hold: the index's counts
    // do not double).
    let ev = origin("foo", "evjob", "evjob-1", "@events");
    let first = k8s_event(&ev, "e-1", 10 * SEC, 1, BACKOFF);
    let third = k8s_event(&ev, "e-1", 50 * SEC, 3, BACKOFF);
    upload(&store, &ev, 3000, "e1-restart", &[third, first]).await;
    check_reads(&s, &c).await;
    compact(&store, &dir).await;
    check_reads(&s, &c).await;
}

/// A compaction pass an hour from now (every upload settled); the job's
/// kind is its containers'.
async fn compact(store: &afterlog_reader::Store, dir: &tempfile::TempDir) {
    let report = afterlog_compactor::Compactor {
        clock: || afterlog_compactor::system_clock() + 3_600_000_000_000,
        ..afterlog_compactor::Compactor::new(store.clone(), Default::default())
    }
    .pass()
    .await
    .unwrap();
    assert_eq!(report.jobs_merged, 1, "{report}");
    let manifest = afterlog_reader::index::parse_manifest(
        "m",
        &std::fs::read(dir.path().join("index/foo/evjob.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest.kind, "job");
}
