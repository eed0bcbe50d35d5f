//! The storage edge against a local directory, a real S3 server (`s3s-fs`
//! over HTTP on 127.0.0.1), the Azure Storage emulator (Azurite) and a GCS
//! emulator (fake-gcs-server), with objects laid out exactly as Fluent
//! Bit's s3 output writes them.

use afterlog_contract::layout::{Origin, meta_key};
use afterlog_reader::meta::{ConsumedRaw, MergedObject, PodInfo, PodMeta};
use afterlog_reader::{Selection, Store, StoreConfig, job_runs, list_jobs, open, read_job};
use afterlog_testkit::{AzuriteServer, GcsServer, KEY, S3Server, SECRET, file_store, gz};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use serde_json::json;

const TOOL: &str = "foo";
const JOB: &str = "my.job";
const SECS: u64 = 1_795_618_800;
const T0: u64 = SECS * 1_000_000_000;

fn origin(pod: &str, container: &str) -> Origin {
    Origin {
        tool: TOOL.into(),
        job: JOB.into(),
        pod: pod.into(),
        container: container.into(),
    }
}

/// A stored line as the filter writes it; `t` is ns after `T0`.
fn line(pod: &str, container: &str, t: u64, off: u64, log: &str) -> String {
    json!({
        "stream": "stdout", "log": log, "off": off, "ts": T0 + t,
        "afterlog": {
            "tool": TOOL, "job": JOB, "kind": "job", "namespace": "tool-foo",
            "pod": pod, "container": container, "container_id": format!("cid-{pod}-{container}"),
            "node": "node-1", "route": origin(pod, container).route(),
        }
    })
    .to_string()
}

async fn put(store: &Store, key: &str, body: Vec<u8>) {
    store
        .put(&Path::from(key), PutPayload::from(body))
        .await
        .unwrap_or_else(|e| panic!("PUT {key}: {e}"));
}

/// Writes the scenario; returns the expected `log`s in order.
async fn populate(store: &Store) -> Vec<&'static str> {
    let a = |c: &str, t, log| line("run-a", c, t, t * 10, log);
    let b = |c: &str, t, log| line("run-b", c, t, t * 10, log);
    let ra = origin("run-a", "job");
    let sa = origin("run-a", "side");
    let rb = origin("run-b", "job");

    // run-a/job: an upload with unsorted lines, its retried duplicate under
    // a new key, and a later upload whose lines interleave with run-b.
    let first = vec![a("job", 3, "a3"), a("job", 1, "a1"), a("job", 2, "a2")];
    put(store, &ra.raw_key(SECS as i64, "UuidA1"), gz(&first)).await;
    put(store, &ra.raw_key(SECS as i64, "UuidA1retry"), gz(&first)).await;
    let later = vec![a("job", 7, "a7"), a("job", 5, "a5")];
    put(store, &ra.raw_key(SECS as i64, "UuidA2"), gz(&later)).await;

    // run-a/side: compacted. The merged object holds s4, s6; the raw object
    // it consumed is still there (not yet deleted) and would add a line the
    // merged object does not have if it were read.
    let merged = vec![a("side", 4, "s4"), a("side", 6, "s6")];
    let data_key = sa.data_key(T0 + 4, T0 + 6, "m1");
    put(store, &data_key, gz(&merged)).await;
    let consumed = sa.raw_key(SECS as i64, "UuidS1");
    let stale = vec![
        a("side", 6, "s6"),
        a("side", 4, "s4"),
        a("side", 99, "GHOST"),
    ];
    put(store, &consumed, gz(&stale)).await;
    let meta = PodMeta {
        version: 1,
        merged: vec![
            MergedObject {
                key: data_key,
                first_ts: T0 + 4,
                last_ts: T0 + 6,
                lines: 2,
                bytes: 100,
            },
            MergedObject {
                key: sa.data_key(T0 + 50, T0 + 60, "gone"),
                first_ts: T0 + 50,
                last_ts: T0 + 60,
                lines: 1,
                bytes: 10,
            },
        ],
        consumed: vec![ConsumedRaw {
            key: consumed,
            since_ns: T0,
        }],
        pod: Some(PodInfo {
            node: "node-1".into(),
            kind: "job".into(),
            containers: [("job".into(), vec!["cid-run-a-job".into()])].into(),
            ..PodInfo::default()
        }),
    };
    put(
        store,
        &meta_key(TOOL, JOB, "run-a"),
        serde_json::to_vec(&meta).unwrap(),
    )
    .await;

    // run-b/job: a good upload with a garbage line and a record missing
    // fields, and a corrupt one.
    let mut lines = vec![
        b("job", 6, "b6"),
        "{not json".to_string(),
        b("job", 2, "b2"),
    ];
    lines.push(json!({"ts": T0 + 3, "log": "no labels", "stream": "stdout"}).to_string());
    put(store, &rb.raw_key(SECS as i64 + 1, "UuidB1"), gz(&lines)).await;
    let mut bad = gz(&[b("job", 8, "lost")]);
    bad.truncate(12);
    bad.extend_from_slice(b"garbage garbage");
    put(store, &rb.raw_key(SECS as i64 + 2, "UuidB2"), bad).await;

    // Something of another job, which must not show.
    let other = Origin {
        job: "other".into(),
        ..origin("run-x", "job")
    };
    put(
        store,
        &other.raw_key(SECS as i64, "X"),
        gz(&[line("run-x", "job", 1, 0, "x")]),
    )
    .await;

    // Equal times order by container id (docs/design.md §4).
    vec!["a1", "a2", "b2", "a3", "s4", "a5", "s6", "b6", "a7"]
}

async fn scenario(store: Store) {
    let want = populate(&store).await;
    check(store, want).await;
}

/// What reads of the populated store give.
async fn check(store: Store, want: Vec<&'static str>) {
    let got = read_job(store.clone(), TOOL, JOB, Selection::default())
        .await
        .unwrap();
    let logs: Vec<String> = got.records.iter().map(|r| r.log().into_owned()).collect();
    assert_eq!(
        logs, want,
        "ordered, deduplicated; warnings: {:#?}",
        got.warnings
    );
    let ts: Vec<u64> = got.records.iter().map(|r| r.ts).collect();
    assert!(ts.is_sorted());

    let s = &got.stats;
    assert_eq!(s.consumed_skipped, 1, "{s:?}");
    assert_eq!(s.objects_read, 6, "{s:?}");
    assert_eq!(s.bad_objects, 1, "{s:?}");
    assert_eq!(s.bad_lines, 2, "{s:?}");
    let w = got.warnings.join("\n");
    assert!(w.contains("UuidB2") && w.contains("damaged gzip"), "{w}");
    assert!(w.contains("UuidB1.gz line 2"), "{w}");
    assert!(w.contains("UuidB1.gz line 4"), "{w}");
    assert!(w.contains("gone.gz: listed in meta but missing"), "{w}");
    assert_eq!(got.warnings.len(), 4, "{w}");

    // Filters reach the store edge: one pod, one container.
    let f = Selection {
        pods: vec!["run-a".into()],
        container: Some("side".into()),
        ..Selection::default()
    };
    let got = read_job(store.clone(), TOOL, JOB, f).await.unwrap();
    let logs: Vec<String> = got.records.iter().map(|r| r.log().into_owned()).collect();
    assert_eq!(logs, ["s4", "s6"]);
    assert_eq!(got.stats.objects_read, 1);

    // Summaries from the listing alone.
    let jobs = list_jobs(store.as_ref(), TOOL).await.unwrap();
    let names: Vec<&str> = jobs.iter().map(|j| j.job.as_str()).collect();
    assert_eq!(names, ["my.job", "other"]);
    let j = &jobs[0].summary;
    assert_eq!(j.objects, 7);
    assert_eq!(
        j.pods.iter().map(String::as_str).collect::<Vec<_>>(),
        ["run-a", "run-b"]
    );
    assert_eq!(
        j.containers.iter().map(String::as_str).collect::<Vec<_>>(),
        ["job", "side"]
    );
    assert_eq!(j.first_ns, Some(T0));
    assert_eq!(j.last_ns, Some((SECS + 2) * 1_000_000_000));
    assert!(j.bytes > 0);

    let runs = job_runs(store.as_ref(), TOOL, JOB).await.unwrap();
    let pods: Vec<&str> = runs.iter().map(|r| r.pod.as_str()).collect();
    assert_eq!(pods, ["run-a", "run-b"]);
    assert_eq!(runs[0].summary.objects, 5);
    assert_eq!(runs[1].summary.first_ns, Some((SECS + 1) * 1_000_000_000));

    // A job with nothing stored is empty, not an error.
    let none = read_job(store.clone(), TOOL, "nothing", Selection::default())
        .await
        .unwrap();
    assert!(none.records.is_empty() && none.warnings.is_empty());
}

#[tokio::test]
async fn local_directory() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store/not/yet/there");
    let store = open(&StoreConfig::new(format!("file://{}", root.display()))).unwrap();
    assert!(root.is_dir(), "the directory is created");
    scenario(store).await;
}

#[tokio::test]
async fn s3_over_http() {
    let server = S3Server::start(&["afterlog"]);
    let cfg = StoreConfig {
        endpoint: Some(server.endpoint()),
        region: Some("us-east-1".into()),
        allow_http: true,
        access_key_id: Some(KEY.into()),
        secret_access_key: Some(SECRET.into()),
        ..StoreConfig::new("s3://afterlog/some/prefix")
    };
    scenario(open(&cfg).unwrap()).await;
}

#[tokio::test]
async fn azure_on_azurite() {
    let az = AzuriteServer::start(&["afterlog"]);
    scenario(az.store("az://afterlog/some/prefix")).await;
}

/// The emulator takes no PUT from object_store's GCS client (see
/// afterlog_testkit::gcs): the scenario is written to a directory it
/// starts from, then read over its XML API as from GCS.
#[tokio::test]
async fn gcs_on_fake_gcs_server() {
    let seed = tempfile::tempdir().unwrap();
    let want = populate(&file_store(&seed.path().join("afterlog/some/prefix"))).await;
    let gcs = GcsServer::start(seed.path());
    check(gcs.store("gs://afterlog/some/prefix"), want).await;
}
