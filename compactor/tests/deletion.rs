//! Applying deletion requests (docs/design.md §12), proven by crashing at
//! every mutation of a scenario — decide, rewrite, grace, cleanup, applied,
//! with late uploads and compaction passes between — and checking what
//! readers get and, at the end, every byte the store holds.

mod common;

use afterlog_compactor::{CompactError, Compactor, Config};
use afterlog_contract::layout::{DeletionPart, Origin};
use afterlog_reader::deletion::{
    Affected, DELETION_VERSION, Decision, DeletionRequest, DeletionState, DeletionStatus, Selected,
    Verdict,
};
use afterlog_reader::job::{
    DeletionScope, JobIndex, JobReader, create_deletion_doc, gunzip, load_deletions,
};
use afterlog_reader::{Selection, Store};
use afterlog_testkit::{AzuriteServer, S3Server, file_store};
use common::*;
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use object_store::memory::InMemory;
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

const TOOL: &str = "alpha";
const JOB: &str = "batch";
/// The secret: only in the selected lines, never in the request (which
/// greps the prefix before it).
const SECRET: &str = "s3cr3t";
const GREP: &str = "password=";
const DAY: u64 = 86_400_000_000_000;
/// The request's `until`: lines from then on are not its business.
const UNTIL: u64 = BASE + DAY;
const ID: &str = "00000000000000000001-00000000000000aa";

fn config(settle_minutes: u64) -> Config {
    Config {
        settle_minutes,
        grace_minutes: 10,
        target_mib: 1,
        orphan_hours: 24,
        lease_seconds: 300,
        lease_settle_ms: 0,
        ..Config::default()
    }
}

fn origin(pod: &str) -> Origin {
    Origin {
        tool: TOOL.into(),
        job: JOB.into(),
        pod: pod.into(),
        container: "main".into(),
    }
}

fn line(pod: &str, ts: u64, off: u64, log: &str) -> String {
    json!({
        "ts": ts, "off": off, "stream": "stdout", "log": log,
        "afterlog": {"tool": TOOL, "job": JOB, "kind": "job", "namespace": "tool-alpha",
            "pod": pod, "container": "main", "container_id": format!("{pod}-c"), "node": "node-1",
            "route": format!("default.{TOOL}.{JOB}.{pod}.main")}
    })
    .to_string()
}

/// Lines of a pod, cut into uploads of 5 (in file order).
fn pod_lines(p: u64, from: u64, n: u64) -> Vec<Vec<String>> {
    let pod = format!("{JOB}-{p}");
    let lines: Vec<String> = (from..from + n)
        .map(|i| {
            let ts = BASE + p * 600_000_000_000 + i * 20_000_000_000;
            let log = if i % 7 == 3 {
                format!("login ok {GREP}{SECRET}-{p}-{i}")
            } else {
                format!("step {i} of {pod}")
            };
            line(&pod, ts, i * 100, &log)
        })
        .collect();
    lines.chunks(5).map(<[String]>::to_vec).collect()
}

async fn upload(store: &Store, pod: &str, name: &str, lines: &[String]) {
    let ts: u64 = serde_json::from_str::<serde_json::Value>(&lines[0]).unwrap()["ts"]
        .as_u64()
        .unwrap();
    let key = origin(pod).raw_key((ts / 1_000_000_000) as i64, name);
    put(store, &key, gz(lines)).await;
}

/// Two runs, uploaded in pieces, one upload retried at once.
async fn populate(store: &Store) {
    for p in 0..2 {
        for (u, up) in pod_lines(p, 0, 20).iter().enumerate() {
            upload(store, &format!("{JOB}-{p}"), &format!("U{p}{u:06}"), up).await;
            if u == 1 {
                upload(store, &format!("{JOB}-{p}"), &format!("R{p}{u:06}"), up).await;
            }
        }
    }
}

/// What the test does between the passes (straight to the store, never
/// crashing): 0 makes the request, 1 and 2 bring late uploads — a late
/// retry of an upload holding a selected line, and a new run.
async fn act(i: usize, store: &Store, start: u64) {
    match i {
        0 => make_request(store, start + MIN, start + 3 * MIN).await,
        1 => {
            upload(store, "batch-0", "LATE01", &pod_lines(0, 0, 5)[0]).await;
            upload(store, "batch-2", "NEW001", &pod_lines(2, 0, 10)[0]).await;
        }
        2 => {
            upload(store, "batch-1", "LATE02", &pod_lines(1, 0, 5)[0]).await;
            upload(store, "batch-2", "NEW002", &pod_lines(2, 5, 5)[0]).await;
            // The request's grep, after its `until`: not selected.
            let after = vec![line("batch-2", UNTIL, 9_000, &format!("{GREP}later"))];
            upload(store, "batch-2", "NEW003", &after).await;
        }
        _ => {}
    }
}
const ACTS: usize = 3;

async fn make_request(store: &Store, requested_ns: u64, due_ns: u64) {
    let request = DeletionRequest {
        version: DELETION_VERSION,
        id: ID.into(),
        tool: TOOL.into(),
        job: JOB.into(),
        selected: Selected {
            grep: vec![GREP.into()],
            until: Some(UNTIL),
            ..Selected::default()
        },
        requested_by: "alice".into(),
        requested_ns,
        due_ns,
        affected: Affected::default(),
    };
    let created = create_deletion_doc(
        store.as_ref(),
        TOOL,
        JOB,
        ID,
        DeletionPart::Request,
        &request,
    )
    .await
    .unwrap();
    assert!(created);
}

/// The lines a read must show once the first `acted` of [`act`] are done:
/// every line uploaded, each once, but the selected ones.
fn expected(acted: usize) -> BTreeSet<String> {
    let mut all: Vec<String> = (0..2).flat_map(|p| pod_lines(p, 0, 20).concat()).collect();
    if acted >= 2 {
        all.extend(pod_lines(2, 0, 5).concat());
    }
    if acted >= 3 {
        all.extend(pod_lines(2, 5, 5).concat());
        all.push(line("batch-2", UNTIL, 9_000, &format!("{GREP}later")));
    }
    all.into_iter().filter(|l| !l.contains(SECRET)).collect()
}

/// The job as a reader gets it (the requests hidden), line by line.
async fn read(store: &Store) -> Vec<String> {
    let ix = JobIndex::load(store.as_ref(), TOOL, JOB).await.unwrap();
    let mut rd = JobReader::new(store.clone(), &ix, Selection::default());
    let mut out = Vec::new();
    while let Some(r) = rd.next().await.unwrap() {
        out.push(String::from_utf8(r.line).unwrap());
    }
    assert!(rd.warnings.is_empty(), "{:?}", rd.warnings);
    out
}

/// Reads show every line not selected, each once, and no selected one.
async fn check_reads(store: &Store, acted: usize, what: &str) {
    let got = read(store).await;
    let set: BTreeSet<String> = got.iter().cloned().collect();
    assert_eq!(set.len(), got.len(), "{what}: a line read twice");
    let want = expected(acted);
    let extra: Vec<&String> = set.difference(&want).collect();
    let missing: Vec<&String> = want.difference(&set).collect();
    assert!(
        extra.is_empty() && missing.is_empty(),
        "{what}: reads show {extra:?} and miss {missing:?}"
    );
}

async fn status(store: &Store) -> Option<DeletionStatus> {
    let (mut w, mut s) = (Vec::new(), Default::default());
    let all = load_deletions(
        store.as_ref(),
        0,
        DeletionScope::Job(TOOL, JOB),
        &mut w,
        &mut s,
    )
    .await
    .unwrap();
    assert!(w.is_empty(), "{w:?}");
    all.into_iter().map(|d| d.status).next()
}

/// The stored objects whose bytes (gunzipped where gzip) hold `text`.
async fn holding(store: &Store, text: &str) -> Vec<String> {
    let all: Vec<object_store::ObjectMeta> = store.list(None).try_collect().await.unwrap();
    let mut out = Vec::new();
    for m in all {
        let body = store.get(&m.location).await.unwrap().bytes().await.unwrap();
        let mut plain = body.to_vec();
        if m.location.as_ref().ends_with(".gz") {
            let (text, err) = gunzip(&body);
            assert!(err.is_none(), "{}: {err:?}", m.location);
            plain = text;
        }
        let hay = String::from_utf8_lossy(&plain);
        if hay.contains(text) || String::from_utf8_lossy(&body).contains(text) {
            out.push(m.location.to_string());
        }
    }
    out
}

fn compactor(store: Store, holder: &str, settle_minutes: u64) -> Compactor {
    on_test_clock(store, holder, config(settle_minutes))
}

/// The passes of the scenario: (minutes after the start, settle minutes).
/// 0: merges the uploads; the request is made. 2: not due yet; the first
/// late upload arrives. 4: due: decided and rewritten — with a settle time
/// that leaves the late uploads unsettled, so that the late retry is taken
/// by the rewrite unsettled. 15: the grace period is over: cleanup, then
/// applied. A day on: the late uploads' cleanup, and orphans'.
const PASSES: [(u64, u64); 5] = [(0, 6), (2, 6), (4, 600), (15, 6), (15 + 25 * 60, 6)];

async fn run(
    store: Store,
    inner: &Store,
    holder: &str,
    start: u64,
    acted: &mut usize,
) -> Result<(), CompactError> {
    for (i, (at, settle)) in PASSES.into_iter().enumerate() {
        set_clock(start + at * MIN);
        compactor(store.clone(), holder, settle).pass().await?;
        if i < ACTS {
            act(i, inner, start).await;
            *acted = i + 1;
        }
    }
    Ok(())
}

/// After a crash: the dead lease runs out, then clean passes finish —
/// decide, rewrite and merge what is left; a day on, cleanup (orphans
/// too), then applied.
async fn rescue(store: &Store) {
    let t = clock() + 6 * MIN;
    for at in [t, t + 25 * 60 * MIN] {
        set_clock(at);
        compactor(store.clone(), "rescuer", 6)
            .pass()
            .await
            .unwrap_or_else(|e| panic!("rescue: {e}"));
    }
}

/// Fully applied: the request's state, and no byte of the store (but its
/// request documents, which hold no secret) holds a selected line.
async fn check_applied(store: &Store, what: &str) {
    let s = status(store).await.expect("the request");
    assert_eq!(s.state(), DeletionState::Applied, "{what}: {s:?}");
    let rewritten = s.rewritten.as_ref().unwrap();
    assert_eq!(s.applied.as_ref().unwrap().removed, rewritten.removed);
    // Anywhere: in the request's documents neither (they hold the grep term).
    assert_eq!(holding(store, SECRET).await, Vec::<String>::new(), "{what}");
    assert_eq!(keys(store, "raw").await, Vec::<String>::new(), "{what}");
    check_reads(store, ACTS, what).await;
}

/// The crash matrix on one kind of store: `fresh(k)` gives an empty store
/// for crash point `k`; every `stride`-th point is taken, shared out over
/// `threads`.
fn crash_matrix(fresh: impl Fn(usize) -> Store + Sync, stride: usize, threads: usize) {
    let total = block_on(async {
        let store = fresh(usize::MAX);
        populate(&store).await;
        let counting = Crashing::new(store.clone(), usize::MAX);
        let start = real_now() + 7 * MIN;
        let mut acted = 0;
        // Step by step, checking the states on the way.
        for (i, (at, settle)) in PASSES.into_iter().enumerate() {
            set_clock(start + at * MIN);
            let report = compactor(counting.clone(), "clean", settle)
                .pass()
                .await
                .unwrap();
            let state = status(&store).await.map(|s| s.state());
            match i {
                0 => assert_eq!(state, None),
                1 => {
                    assert_eq!(state, Some(DeletionState::Pending), "not due yet");
                    assert!(!holding(&store, SECRET).await.is_empty());
                }
                2 => {
                    assert_eq!(state, Some(DeletionState::Applying), "{report}");
                    assert_eq!(
                        (report.deletions_decided, report.deletions_rewritten),
                        (1, 1),
                        "{report}"
                    );
                    // 3 selected lines in each first run, 1 in the new one
                    // (its upload unsettled, taken by the rewrite).
                    assert_eq!(report.deletion_lines_removed, 7, "{report}");
                    assert!(report.to_string().contains("1 decided, 1 rewritten"));
                    // Nothing the index names holds a selected line, and the
                    // late retry was taken unsettled.
                    let ix = JobIndex::load(store.as_ref(), TOOL, JOB).await.unwrap();
                    assert!(ix.objects.iter().all(|l| !l.key.contains("LATE01")));
                    let s = status(&store).await.unwrap();
                    assert!(s.rewritten.is_some() && s.applied.is_none());
                }
                3 => {
                    assert_eq!(state, Some(DeletionState::Applied), "{report}");
                    assert_eq!(report.deletions_applied, 1, "{report}");
                }
                _ => assert_eq!(state, Some(DeletionState::Applied)),
            }
            if i < ACTS {
                act(i, &store, start).await;
                acted = i + 1;
            }
            if i >= 1 {
                check_reads(&store, acted, &format!("clean run, after pass {i}")).await;
            }
        }
        assert_eq!(acted, ACTS);
        check_applied(&store, "clean run").await;
        let v = counting.violations.lock().unwrap();
        assert!(v.is_empty(), "{v:?}");
        let total = counting.count.load(Ordering::SeqCst);
        assert!(total > 30, "only {total} mutations");
        total
    });

    std::thread::scope(|s| {
        for t in 0..threads {
            let fresh = &fresh;
            s.spawn(move || {
                block_on(async {
                    for k in (t * stride..total).step_by(threads * stride) {
                        let store = fresh(k);
                        populate(&store).await;
                        let crashing = Crashing::new(store.clone(), k);
                        let start = real_now() + 7 * MIN;
                        let mut acted = 0;
                        let crashed =
                            run(crashing.clone(), &store, "crashing", start, &mut acted).await;
                        assert!(crashed.is_err(), "k={k}: no crash");
                        let what = format!("crash at mutation {k} of {total}");
                        // What the test does arrives whenever the crash was.
                        for i in acted..ACTS {
                            act(i, &store, start).await;
                        }
                        check_reads(&store, ACTS, &format!("{what}: right after")).await;
                        rescue(&store).await;
                        check_applied(&store, &format!("{what}: after the rescue")).await;
                        let v = crashing.violations.lock().unwrap();
                        assert!(v.is_empty(), "{what}: {v:?}");
                    }
                })
            });
        }
    });
}

#[test]
fn applying_survives_a_crash_at_every_mutation_in_memory() {
    crash_matrix(|_| Arc::new(InMemory::new()), 1, 1);
}

#[test]
fn applying_survives_a_crash_at_every_mutation_local_directory() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().to_path_buf();
    crash_matrix(move |k| file_store(&path.join(k.to_string())), 1, 2);
}

/// On a real S3 API (its conditional writes: the decision's create-only
/// PUT, the manifest's `If-Match`), every sixth crash point: they are the
/// same requests at every point, and a pass there takes a few hundred ms.
#[test]
fn applying_survives_a_crash_at_every_sixth_mutation_s3() {
    let s3 = S3Server::start(&["logs"]);
    crash_matrix(|k| s3.store(&format!("s3://logs/del-{k}")), 6, 4);
}

/// The same on Azure's API as Azurite implements it. Not on the GCS
/// emulator, which takes no PUT from object_store (afterlog_testkit::gcs).
#[test]
fn applying_survives_a_crash_at_every_sixth_mutation_azurite() {
    let az = AzuriteServer::start(&["logs"]);
    crash_matrix(|k| az.store(&format!("az://logs/del-{k}")), 6, 4);
}

/// A request cancelled before it was due (the cancel's decision written
/// first) changes nothing: its lines show again and stay stored.
#[tokio::test(flavor = "current_thread")]
async fn a_cancelled_request_changes_nothing() {
    let store: Store = Arc::new(InMemory::new());
    populate(&store).await;
    let start = real_now() + 7 * MIN;
    make_request(&store, start, start).await;
    let cancel = Decision {
        version: DELETION_VERSION,
        id: ID.into(),
        verdict: Verdict::Cancel,
        by: "bob".into(),
        at_ns: start,
        affected: None,
    };
    create_deletion_doc(
        store.as_ref(),
        TOOL,
        JOB,
        ID,
        DeletionPart::Decision,
        &cancel,
    )
    .await
    .unwrap();
    let lines = read(&store).await;
    assert_eq!(lines.iter().filter(|l| l.contains(SECRET)).count(), 6);
    for at in [0, 11, 30] {
        set_clock(start + at * MIN);
        let r = compactor(store.clone(), "c", 6).pass().await.unwrap();
        assert_eq!(
            (
                r.deletions_decided,
                r.deletions_rewritten,
                r.deletions_applied
            ),
            (0, 0, 0),
            "{r}"
        );
    }
    assert_eq!(read(&store).await, lines, "the lines show as before");
    let s = status(&store).await.unwrap();
    assert_eq!(s.state(), DeletionState::Cancelled);
    assert!(s.rewritten.is_none() && s.applied.is_none());
    assert!(
        holding(&store, SECRET)
            .await
            .iter()
            .any(|k| k.starts_with("chunks/"))
    );
}

/// A request not due yet is left pending (hidden, not removed), however
/// many passes run.
#[tokio::test(flavor = "current_thread")]
async fn a_request_not_due_is_not_applied() {
    let store: Store = Arc::new(InMemory::new());
    populate(&store).await;
    let start = real_now() + 7 * MIN;
    make_request(&store, start, start + 24 * 60 * MIN).await;
    for at in [0, 11, 60, 23 * 60] {
        set_clock(start + at * MIN);
        let r = compactor(store.clone(), "c", 6).pass().await.unwrap();
        assert_eq!(r.deletions_decided, 0, "{r}");
    }
    assert_eq!(
        status(&store).await.unwrap().state(),
        DeletionState::Pending
    );
    assert!(read(&store).await.iter().all(|l| !l.contains(SECRET)));
    assert!(
        holding(&store, SECRET)
            .await
            .iter()
            .any(|k| k.starts_with("chunks/"))
    );
}

/// `delete_after_hours: 0`: due when made, applied by the next pass — here
/// the job's first (no index yet, nothing settled): the merge with the
/// filter takes the raw objects holding its lines.
#[tokio::test(flavor = "current_thread")]
async fn delete_after_hours_0_applies_at_the_next_pass() {
    let store: Store = Arc::new(InMemory::new());
    populate(&store).await;
    let cfg: Config =
        serde_json::from_str(r#"{"delete_after_hours": 0, "lease_settle_ms": 0}"#).unwrap();
    // Still unsettled to the compactor: only the request's objects go.
    let start = real_now() + MIN;
    make_request(&store, start, cfg.deletion_due_ns(start)).await;
    set_clock(start);
    let r = on_test_clock(store.clone(), "c", cfg.clone())
        .pass()
        .await
        .unwrap();
    assert_eq!((r.deletions_decided, r.deletions_rewritten), (1, 1), "{r}");
    assert_eq!(r.deletion_lines_removed, 6, "{r}");
    assert_eq!(
        status(&store).await.unwrap().state(),
        DeletionState::Applying
    );
    assert_eq!(read(&store).await.len(), 34);
    // A grace period on: the replaced raw objects are deleted, applied.
    set_clock(start + 61 * MIN);
    let r = on_test_clock(store.clone(), "c", cfg).pass().await.unwrap();
    assert_eq!(r.deletions_applied, 1, "{r}");
    assert_eq!(
        status(&store).await.unwrap().state(),
        DeletionState::Applied
    );
    assert_eq!(holding(&store, SECRET).await, Vec::<String>::new());
    assert_eq!(read(&store).await.len(), 34);
}
