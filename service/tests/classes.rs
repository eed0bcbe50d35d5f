//! Routing classes: a job whose objects lie in the stores of two
//! classes — two local directories, or two prefixes of one bucket on a real
//! S3 server — is served as one ordered, deduplicated log through the HTTP
//! API, the CLI and `afterlog serve --class`; each class's store is
//! compacted and expired on its own, and bad class flags are refused.

mod common;

use afterlog::api::Settings;
use afterlog::auth::AuthConfig;
use afterlog::classes::ClassStores;
use afterlog_compactor::{Compactor, Config, DEFAULT_CLASS, Report};
use afterlog_contract::layout::Origin;
use afterlog_reader::Store;
use common::*;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use std::process::Output;
use std::time::Duration;

const LONG: &str = "long-retention";

fn r(o: &Origin, t: u64, log: &str) -> String {
    record(o, t, t * 10, "stdout", log)
}

/// Writes the scenario into the `default` class's store `def` and the
/// `long-retention` class's store `long`; returns foo/nightly's lines in
/// the order they are to be served.
async fn populate(def: &Store, long: &Store) -> Vec<&'static str> {
    // Run 1: in the default class.
    let m1 = origin("foo", "nightly", "nightly-1", "main");
    upload(def, &m1, 0, "u1", &[r(&m1, 3, "r1 b"), r(&m1, 1, "r1 a")]).await;

    // Run 2: in long-retention (the rules changed between runs), partly
    // compacted there: a merged object, its meta, and the raw object it
    // consumed, still there, with a line the merged one does not hold —
    // skipped, because that store's meta lists it.
    let m2 = origin("foo", "nightly", "nightly-2", "main");
    let lines = [r(&m2, 10, "r2 a"), r(&m2, 12, "r2 b")];
    upload(long, &m2, 0, "u2", &lines).await;
    let merged = [r(&m2, 14, "r2 c"), r(&m2, 15, "r2 d")];
    let stale = [r(&m2, 15, "r2 d"), r(&m2, 14, "r2 c"), r(&m2, 99, "GHOST")];
    compacted_pod(long, &m2, "m2", &merged, "u2c", &stale).await;

    // Run 3: split by a rule on container names, the two containers' lines
    // interleaved in time; one upload of main also stored in the other
    // class (retried after the rules changed): served once.
    let m3 = origin("foo", "nightly", "nightly-3", "main");
    let a3 = origin("foo", "nightly", "nightly-3", "audit");
    for (store, o, uuid, lines) in [
        (
            def,
            &m3,
            "u3m",
            vec![r(&m3, 20, "r3 main a"), r(&m3, 22, "r3 main b")],
        ),
        (long, &m3, "u3m-retry", vec![r(&m3, 22, "r3 main b")]),
        (
            long,
            &a3,
            "u3a",
            vec![r(&a3, 21, "r3 audit a"), r(&a3, 23, "r3 audit b")],
        ),
    ] {
        upload(store, o, 0, uuid, &lines).await;
    }

    // A job only the long-retention class holds.
    let o = origin("foo", "archive", "archive-1", "main");
    upload(long, &o, 0, "u4", &[r(&o, 5, "archived")]).await;

    vec![
        "r1 a",
        "r1 b",
        "r2 a",
        "r2 b",
        "r2 c",
        "r2 d",
        "r3 main a",
        "r3 audit a",
        "r3 main b",
        "r3 audit b",
    ]
}

fn classes(def: &Store, long: &Store) -> ClassStores {
    ClassStores::new(def.clone(), vec![(LONG.into(), long.clone())])
}

/// What a client sees of foo/nightly: the JSON page's lines and the NDJSON
/// stream, byte for byte.
async fn served(c: &Client, s: &TestServer) -> (Vec<String>, String) {
    let logs = s.url("/v1/tool/foo/jobs/nightly/logs");
    let (st, v) = get_json(c, &logs, "").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["messages"]["warning"], json!([]), "{v}");
    (
        logs_of(&v),
        text_ok(c, &format!("{logs}?format=ndjson"), "").await,
    )
}

/// Every read path over the two classes' stores, then a follow that gets a
/// pushed line (stored in the default class) and a new upload of the other
/// class. Returns the server and foo/nightly's lines by then.
async fn reads(def: &Store, long: &Store) -> (TestServer, Vec<String>) {
    let want = populate(def, long).await;
    let settings = Settings {
        follow_poll: Duration::from_millis(200),
        follow_heartbeat: Duration::from_millis(500),
        ..Settings::default()
    };
    let s = TestServer::start(classes(def, long), AuthConfig::InsecureNone, settings).await;
    let c = Client::new();
    let logs = s.url("/v1/tool/foo/jobs/nightly/logs");

    // One ordered log, each line once, whatever store it is in.
    let (got, ndjson) = served(&c, &s).await;
    assert_eq!(got, want);
    assert_eq!(ndjson.lines().count(), want.len(), "{ndjson}");
    let paged: Vec<String> = pages(&c, &logs, "", 3)
        .await
        .iter()
        .flat_map(logs_of)
        .collect();
    assert_eq!(paged, want);
    let text = text_ok(&c, &format!("{logs}?format=text"), "").await;
    assert_eq!(
        text.lines().nth(7),
        Some("2026-11-25T15:00:00.000000021Z [nightly-3/audit] r3 audit a"),
        "{text}"
    );
    for (q, expect) in [
        ("tail=3", &want[7..]),
        ("head=2", &want[..2]),
        ("run=latest", &want[6..]),
        ("run=nightly-2", &want[2..6]),
        ("container=audit", &["r3 audit a", "r3 audit b"][..]),
        (
            "since=1795618800000000012&until=1795618800000000022",
            &want[3..8],
        ),
    ] {
        let (st, v) = get_json(&c, &format!("{logs}?{q}"), "").await;
        assert_eq!(st, StatusCode::OK, "{q}: {v}");
        assert_eq!(logs_of(&v), expect, "{q}");
    }
    let tail = text_ok(&c, &format!("{logs}?format=ndjson&tail=2"), "").await;
    assert_eq!(tail.lines().count(), 2, "{tail}");

    // Jobs and runs: the union of both stores.
    let (st, v) = get_json(&c, &s.url("/v1/tool/foo/jobs"), "").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(strs(&v["jobs"], "job"), ["archive", "nightly"]);
    assert_eq!(v["jobs"][1]["runs"], 3, "{v}");
    assert_eq!(v["jobs"][0]["kind"], "job", "{v}");
    let (st, v) = get_json(&c, &s.url("/v1/tool/foo/jobs/nightly"), "").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let runs = &v["job"]["runs"];
    assert_eq!(strs(runs, "pod"), ["nightly-1", "nightly-2", "nightly-3"]);
    assert_eq!(strs(&runs[2]["containers"], "name"), ["audit", "main"]);
    assert_eq!(
        runs[2]["containers"][0]["container_ids"],
        json!(["cid-nightly-3-audit"])
    );
    assert_eq!(
        runs[1]["containers"][0]["container_ids"],
        json!(["cid-nightly-2-main"])
    );
    assert_eq!(runs[1]["node"], "node-1");

    // Usage, in total and by class.
    let (st, v) = get_json(&c, &s.url("/v1/tool/foo/usage"), "").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (d, l) = (
        v["classes"]["default"].as_u64().unwrap(),
        v["classes"][LONG].as_u64().unwrap(),
    );
    assert!(d > 0 && l > 0, "{v}");
    assert_eq!(v["total_bytes"].as_u64(), Some(d + l), "{v}");
    assert_eq!(
        v["jobs"][0]["classes"],
        json!({LONG: v["jobs"][0]["stored_bytes"]})
    );
    let (st, v) = get_json(&c, &s.url("/v1/healthz"), "").await;
    assert_eq!(st, StatusCode::OK, "{v}");

    // A follow sees what arrives in either class's store.
    let mut followed = Streamed::open(&c, &format!("{logs}?format=text&follow=true&tail=1")).await;
    let within = Duration::from_secs(20);
    followed.until("r3 audit b", within).await;
    let pushed: Value = c
        .post(&logs)
        .body(json!({"log": "pushed line"}).to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = Path::from(pushed["key"].as_str().unwrap());
    assert!(def.head(&key).await.is_ok(), "pushed lines go to default");
    assert!(long.head(&key).await.is_err());
    let a3 = origin("foo", "nightly", "nightly-3", "audit");
    upload(long, &a3, 30, "u3a-late", &[r(&a3, 30, "late audit")]).await;
    followed.until("pushed line", within).await;
    followed.until("late audit", within).await;
    drop(followed);

    let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    want.extend(["late audit".to_string(), "pushed line".to_string()]);
    assert_eq!(served(&c, &s).await.0, want);
    (s, want)
}

const HOUR: u64 = 3_600_000_000_000;
const DAY: u64 = 24 * HOUR;

fn now() -> u64 {
    afterlog_compactor::system_clock()
}

/// One pass of `holder` over class `class`'s `store`, at `clock`.
async fn pass(
    class: &str,
    store: &Store,
    config: &Config,
    holder: &str,
    clock: fn() -> u64,
) -> Report {
    Compactor {
        holder: holder.into(),
        clock,
        ..Compactor::for_class(class, store.clone(), config.clone())
    }
    .pass()
    .await
    .unwrap()
}

/// The default class's store at the bucket's root, long-retention's under
/// `long/` in the same bucket (`s3://logs/long/raw/…`): served as one, each
/// compacted on its own (output unchanged), then expired by its own class's
/// retention.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_prefixes_of_one_s3_bucket() {
    let s3 = S3Server::start(&["logs"]);
    let def = s3.store("s3://logs");
    let long = s3.store("s3://logs/long");
    let (s, want) = reads(&def, &long).await;
    let c = Client::new();
    let before = served(&c, &s).await;
    assert!(before.1.contains("\"r3 main b\""));

    // Merge (everything settled three hours on), then clean up after the
    // grace period: the same output after each pass.
    let in_three_hours: fn() -> u64 = || now() + 3 * HOUR;
    for clock in [in_three_hours, || now() + 5 * HOUR] {
        for (class, store) in [(DEFAULT_CLASS, &def), (LONG, &long)] {
            let holder = format!("test-{class}");
            let report = pass(class, store, &Config::default(), &holder, clock).await;
            assert_eq!(report.skipped, 0, "{class}: {report}");
            assert_eq!(served(&c, &s).await, before, "{class}: after {report}");
        }
    }
    for store in [&def, &long] {
        assert_eq!(keys(store, "raw").await, Vec::<String>::new());
        assert!(!keys(store, "chunks").await.is_empty());
        assert!(!keys(store, "lease").await.is_empty(), "a lease of its own");
    }
    // The job, split over two classes, has an index in each class's store.
    let m3 = Path::from(afterlog_contract::layout::manifest_key("foo", "nightly"));
    assert!(def.head(&m3).await.is_ok() && long.head(&m3).await.is_ok());

    // Retention by class: ten days on, the default class keeps a day, the
    // long-retention class ten years.
    let cfg: Config = serde_json::from_value(json!({"retention": {
        "max_age_days": 1, "classes": {LONG: {"max_age_days": 3650}}}}))
    .unwrap();
    let mut expired = Vec::new();
    for (class, store) in [(DEFAULT_CLASS, &def), (LONG, &long)] {
        let report = pass(class, store, &cfg, "retention", || now() + 10 * DAY).await;
        expired.push(report.runs_expired);
    }
    // default: nightly-1, its part of nightly-3, the pushed lines.
    assert_eq!(expired, [3, 0]);
    let kept: Vec<&str> = want
        .iter()
        .map(String::as_str)
        .filter(|l| l.starts_with("r2") || l.contains("audit") || *l == "r3 main b")
        .collect();
    assert_eq!(served(&c, &s).await.0, kept);
    // The expired days' objects go a grace period later.
    pass(DEFAULT_CLASS, &def, &cfg, "retention", || now() + 11 * DAY).await;
    assert_eq!(served(&c, &s).await.0, kept);
    assert!(keys(&def, "raw").await.is_empty() && keys(&def, "chunks").await.is_empty());
    let (_, v) = get_json(&c, &s.url("/v1/tool/foo/jobs/nightly"), "").await;
    assert_eq!(strs(&v["job"]["runs"], "pod"), ["nightly-2", "nightly-3"]);
    let (_, v) = get_json(&c, &s.url("/v1/tool/foo/jobs"), "").await;
    assert_eq!(strs(&v["jobs"], "job"), ["archive", "nightly"]);
}

// ------------------------------------------------- the binary, as deployed

/// Sets every file's modification time under `dir` `secs` back: what the
/// compactor takes as the upload time, so the objects count as settled.
fn backdate(dir: &std::path::Path, secs: u64) {
    let when = std::time::SystemTime::now() - Duration::from_secs(secs);
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            backdate(&path, secs);
        } else {
            std::fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(when)
                .unwrap();
        }
    }
}

/// Two local directories as the two classes' stores: the API (in-process),
/// then `afterlog serve --class` and the CLI over them; `afterlog compact`
/// compacts both stores (output unchanged) and applies each class's
/// retention from compactor.json.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_local_directories_through_the_binary() {
    let tmp = tempfile::tempdir().unwrap();
    let (d1, d2) = (tmp.path().join("default"), tmp.path().join("long"));
    let (def, long) = (file_store(&d1), file_store(&d2));
    let (s, want) = reads(&def, &long).await;
    let c = Client::new();
    let api_ndjson = served(&c, &s).await.1;

    let class_flag = format!("{LONG}={}", d2.display());
    let store_args = ["--store", d1.to_str().unwrap(), "--class", &class_flag];
    let srv = Served::start(tmp.path(), &store_args);
    let cli_logs = |srv: &Served| srv.cli(tmp.path(), &["logs", "-t", "foo", "nightly"]);
    assert_eq!(cli_logs(&srv).lines().collect::<Vec<_>>(), want);
    assert_eq!(
        srv.cli(tmp.path(), &["logs", "-t", "foo", "nightly", "--json"]),
        api_ndjson
    );
    assert_eq!(
        srv.cli(tmp.path(), &["logs", "-t", "foo", "nightly", "--tail", "2"])
            .lines()
            .collect::<Vec<_>>(),
        want[want.len() - 2..]
    );
    let jobs = srv.cli(tmp.path(), &["jobs", "-t", "foo"]);
    assert!(
        jobs.contains("archive") && jobs.contains("nightly"),
        "{jobs}"
    );

    // Uploads two days old: settled. One pass per class, each reported.
    backdate(&d1, 2 * 86_400);
    backdate(&d2, 2 * 86_400);
    let out = ok(&afterlog(tmp.path())
        .arg("compact")
        .args(store_args)
        .output()
        .unwrap());
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with("class default: ") && lines[0].contains("merged 1 jobs"),
        "{out}"
    );
    assert!(lines[1].starts_with(&format!("class {LONG}: ")), "{out}");
    for store in [&def, &long] {
        assert!(!keys(store, "chunks").await.is_empty(), "{out}");
        assert!(!keys(store, "lease").await.is_empty(), "{out}");
    }
    assert_eq!(served(&c, &s).await.1, api_ndjson, "after compaction");
    assert_eq!(cli_logs(&srv).lines().collect::<Vec<_>>(), want);

    // Retention by class, from compactor.json: the default class keeps a
    // day (the pushed line, written just now, stays), long-retention ten
    // years.
    let cfg = tmp.path().join("compactor.json");
    std::fs::write(
        &cfg,
        json!({"retention": {"max_age_days": 1,
            "classes": {LONG: {"max_age_days": 3650}}}})
        .to_string(),
    )
    .unwrap();
    let out = ok(&afterlog(tmp.path())
        .arg("compact")
        .args(store_args)
        .arg("--compactor-config")
        .arg(&cfg)
        .output()
        .unwrap());
    assert!(out.contains("retention removed 2 runs"), "{out}");
    assert!(
        out.lines()
            .nth(1)
            .unwrap()
            .contains("retention removed 0 runs"),
        "{out}"
    );
    let kept: Vec<&str> = want
        .iter()
        .map(String::as_str)
        .filter(|l| {
            l.starts_with("r2") || l.contains("audit") || *l == "r3 main b" || *l == "pushed line"
        })
        .collect();
    assert_eq!(cli_logs(&srv).lines().collect::<Vec<_>>(), kept);
    let runs = srv.cli(
        tmp.path(),
        &["logs", "-t", "foo", "nightly", "--run", "nightly-2"],
    );
    assert_eq!(runs.lines().count(), 4, "{runs}");
}

// ------------------------------------------------------------- the flags

/// Bad `--class` values, a class named in compactor.json that no store
/// serves: a clear error naming the flag or key, exit 1, before anything
/// is opened or served.
#[test]
fn bad_class_flags_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let d1 = tmp.path().join("d1").display().to_string();
    let d2 = tmp.path().join("d2").display().to_string();
    let run = |args: &[&str], env: Option<&str>| -> Output {
        let mut c = afterlog(tmp.path());
        c.args(args);
        if let Some(v) = env {
            c.env("AFTERLOG_CLASSES", v);
        }
        c.output().unwrap()
    };
    let refused = |o: &Output, want: &[&str]| {
        assert_eq!(o.status.code(), Some(1), "{o:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        for w in want {
            assert!(err.contains(w), "{w:?} not in: {err}");
        }
    };
    let compact = |class: &str| run(&["compact", "--store", &d1, "--class", class], None);
    let serve = |flag: &str, value: &str, env: Option<&str>| {
        run(
            &["serve", "--insecure-no-auth", "--store", &d1, flag, value],
            env,
        )
    };
    refused(&compact("Long=/x"), &["--class \"Long=/x\"", "a-z, 0-9"]);
    let long_name = format!("{}=/x", "a".repeat(64));
    refused(&compact(&long_name), &["--class", "63"]);
    refused(
        &compact("long"),
        &["--class \"long\"", "expected NAME=STORE"],
    );
    refused(
        &compact(&format!("default={d2}")),
        &["--class \"default=", "--store"],
    );
    refused(
        &run(
            &[
                "compact",
                "--store",
                &d1,
                "--class",
                &format!("a={d2}"),
                "--class",
                &format!("a={d1}x"),
            ],
            None,
        ),
        &["class \"a\" is given twice"],
    );
    refused(
        &compact(&format!("a={d1}/")),
        &["--class \"a=", "already stores class \"default\""],
    );
    refused(&compact(&format!("a={d1}/raw/x")), &["inside the raw/"]);
    refused(
        &compact("a=ftp://x/y"),
        &["--class \"a=ftp://x/y\"", "unknown scheme"],
    );
    // The environment, comma-separated, is checked the same way.
    refused(
        &run(&["compact", "--store", &d1], Some("a=/x,b")),
        &["--class \"b\""],
    );
    // serve checks before it listens.
    refused(&serve("--class", "B=/x", None), &["--class \"B=/x\""]);
    // Retention for a class no store serves.
    let cfg = tmp.path().join("compactor.json");
    std::fs::write(
        &cfg,
        json!({"retention": {"classes": {"ghost": {"max_age_days": 1}}}}).to_string(),
    )
    .unwrap();
    let cfg = cfg.display().to_string();
    refused(
        &run(
            &["compact", "--store", &d1, "--compactor-config", &cfg],
            None,
        ),
        &[
            "compactor.json",
            "retention.classes.ghost",
            "--class ghost=",
        ],
    );
    refused(
        &serve("--compactor-config", &cfg, Some(&format!("long={d2}"))),
        &["retention.classes.ghost", "known: default, long"],
    );
    assert!(
        !tmp.path().join("d1").exists(),
        "nothing opened before the checks"
    );
    // Known, through the environment: one pass per class.
    let out = ok(&run(
        &["compact", "--store", &d1, "--compactor-config", &cfg],
        Some(&format!(" ghost={d2} , ")),
    ));
    assert!(
        out.starts_with("class default: ") && out.contains("\nclass ghost: "),
        "{out}"
    );
}
