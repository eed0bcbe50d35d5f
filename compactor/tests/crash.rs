//! Crash safety of compaction, cleanup and retention (docs/design.md §5), proven by
//! crashing at every mutation of a scenario and checking what readers get,
//! on the local store, a real S3 server and the Azure Storage emulator.
//! Not on the GCS emulator: it takes no PUT from object_store's GCS client
//! (afterlog_testkit::gcs), and compaction writes.

mod common;

use afterlog_compactor::{CompactError, Compactor, Config, LeaseError, Limits};
use afterlog_contract::layout;
use afterlog_reader::Store;
use afterlog_reader::index;
use afterlog_testkit::{AzuriteServer, S3Server, file_store};
use common::*;
use object_store::ObjectStoreExt;
use object_store::memory::InMemory;
use object_store::path::Path;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

fn config() -> Config {
    Config {
        settle_minutes: 6,
        grace_minutes: 10,
        target_mib: 1,
        orphan_hours: 24,
        lease_seconds: 300,
        lease_settle_ms: 0,
        ..Config::default()
    }
}

fn compactor(store: Store, holder: &str) -> Compactor {
    on_test_clock(store, holder, config())
}

/// Merge (settled), delete consumed (grace over), collect orphans (a day on).
fn steps(start: u64) -> [u64; 3] {
    [start, start + 11 * MIN, start + 25 * 60 * MIN]
}

async fn run_steps(store: Store, holder: &str, start: u64) -> Result<(), CompactError> {
    run_steps_late(store, holder, start, None).await
}

/// [`run_steps`], with late uploads (`late`: the store underneath) arriving
/// after the first pass: the day's chunk is merged again with them.
async fn run_steps_late(
    store: Store,
    holder: &str,
    start: u64,
    late: Option<&Store>,
) -> Result<(), CompactError> {
    for (i, t) in steps(start).into_iter().enumerate() {
        set_clock(t);
        compactor(store.clone(), holder).pass().await?;
        if let (0, Some(inner)) = (i, late) {
            populate_late(inner).await;
        }
    }
    Ok(())
}

/// After everything has run: nothing raw or in the per-pod layout left,
/// every chunk named by exactly its job's manifest, nothing pending.
async fn check_settled_state(store: &Store, what: &str) {
    for top in ["raw", "data", "meta"] {
        assert_eq!(
            keys(store, top).await,
            Vec::<String>::new(),
            "{what}: {top} objects left"
        );
    }
    let mut named = HashSet::new();
    let mut periods = HashSet::new();
    for (tool, job) in JOBS {
        let key = layout::manifest_key(tool, job);
        let body = store
            .get(&Path::from(key.as_str()))
            .await
            .unwrap_or_else(|e| panic!("{what}: {key}: {e}"))
            .bytes()
            .await
            .unwrap();
        let m = index::parse_manifest(&key, &body).unwrap();
        assert!(
            m.consumed.is_empty(),
            "{what}: {key} still lists consumed keys: {:?}",
            m.consumed
        );
        assert_eq!(m.kind, "job", "{what}: {key}");
        for p in &m.periods {
            periods.insert(p.key.clone());
            let body = store
                .get(&Path::from(p.key.as_str()))
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            let period = index::parse_period(&p.key, &body).unwrap();
            let keys: Vec<&String> = period.chunks.iter().map(|c| &c.key).collect();
            assert_eq!(keys, p.chunks.iter().collect::<Vec<_>>(), "{what}");
            for r in period.chunks.iter().flat_map(|c| &c.runs) {
                assert_eq!((r.node.as_str(), r.kind.as_str()), ("node-1", "job"));
            }
        }
        named.extend(m.periods.iter().flat_map(|p| p.chunks.clone()));
    }
    let chunks: HashSet<String> = keys(store, "chunks").await.into_iter().collect();
    assert_eq!(
        chunks, named,
        "{what}: chunks and the names in manifests differ"
    );
    let index_files: HashSet<String> = keys(store, "index")
        .await
        .into_iter()
        .filter(|k| k.ends_with(".json.gz"))
        .collect();
    assert_eq!(index_files, periods, "{what}: periods left over");
}

/// The crash matrix on one kind of store: `fresh(k)` gives an empty store
/// for crash point `k`; every `stride`-th point is taken, shared out over
/// `threads`.
fn crash_matrix(fresh: impl Fn(usize) -> Store + Sync, stride: usize, threads: usize) {
    // The reference, and how many mutations a clean run makes.
    let (reference, total) = block_on(async {
        let reference = {
            let store = fresh(usize::MAX - 1);
            populate(&store).await;
            populate_late(&store).await;
            outputs(&store).await
        };
        let store = fresh(usize::MAX);
        populate(&store).await;
        let start = real_now() + 7 * MIN;
        let counting = Crashing::new(store.clone(), usize::MAX);
        run_steps_late(counting.clone(), "clean", start, Some(&store))
            .await
            .unwrap();
        let total = counting.count.load(Ordering::SeqCst);
        assert!(counting.violations.lock().unwrap().is_empty());
        assert_eq!(
            outputs(&store).await,
            reference,
            "clean run changed the output"
        );
        check_settled_state(&store, "clean run").await;
        assert!(
            total > 40,
            "only {total} mutations: the scenario does nothing?"
        );

        // A second pass right after changes nothing.
        let again = Crashing::new(store.clone(), usize::MAX);
        set_clock(steps(start)[2]);
        compactor(again.clone(), "again").pass().await.unwrap();
        assert_eq!(
            again.work.load(Ordering::SeqCst),
            0,
            "a second pass mutated"
        );
        (reference, total)
    });

    std::thread::scope(|s| {
        for t in 0..threads {
            let (fresh, reference) = (&fresh, &reference);
            s.spawn(move || {
                block_on(async {
                    for k in (t * stride..total).step_by(threads * stride) {
                        let store = fresh(k);
                        populate(&store).await;
                        let crashing = Crashing::new(store.clone(), k);
                        // Times from now: the matrix takes minutes, and the
                        // uploads must be as settled as in the clean run.
                        let start = real_now() + 7 * MIN;
                        let crashed =
                            run_steps_late(crashing.clone(), "crashing", start, Some(&store)).await;
                        assert!(crashed.is_err(), "k={k}: no crash");
                        let what = format!("crash at mutation {k} of {total}");
                        // The late uploads arrive whenever the crash was.
                        populate_late(&store).await;
                        assert_eq!(
                            &outputs(&store).await,
                            reference,
                            "{what}: readers right after the crash"
                        );
                        // The dead compactor's lease runs out, then a clean run finishes.
                        run_steps(store.clone(), "rescuer", clock() + 6 * MIN)
                            .await
                            .unwrap_or_else(|e| panic!("{what}: rerun: {e}"));
                        assert_eq!(&outputs(&store).await, reference, "{what}: after the rerun");
                        check_settled_state(&store, &what).await;
                        let v = crashing.violations.lock().unwrap();
                        assert!(v.is_empty(), "{what}: {v:?}");
                    }
                })
            });
        }
    });
}

#[test]
fn crash_at_every_mutation_in_memory() {
    crash_matrix(|_| Arc::new(InMemory::new()), 1, 1);
}

#[test]
fn crash_at_every_mutation_local_directory() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().to_path_buf();
    crash_matrix(move |k| file_store(&path.join(k.to_string())), 1, 2);
}

#[test]
fn crash_at_every_mutation_s3() {
    let s3 = S3Server::start(&["logs"]);
    crash_matrix(|k| s3.store(&format!("s3://logs/run-{k}")), 1, 6);
}

/// Azure's conditional writes (`If-None-Match: *`, `If-Match`) as Azurite
/// implements them, at every third crash point: they are the same requests
/// at every point, and the whole matrix takes two minutes there.
#[test]
fn crash_at_every_third_mutation_azurite() {
    let az = AzuriteServer::start(&["logs"]);
    crash_matrix(|k| az.store(&format!("az://logs/run-{k}")), 3, 6);
}

/// Readers running in a loop while compaction merges and deletes always
/// get the whole log.
#[test]
fn readers_during_compaction_get_everything() {
    let root = tempfile::tempdir().unwrap();
    block_on(async {
        let store = file_store(root.path());
        populate(&store).await;
        let reference = outputs(&store).await;
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let (store, done, reference) = (store.clone(), done.clone(), reference.clone());
            tokio::spawn(async move {
                let mut reads = 0;
                while !done.load(Ordering::SeqCst) || reads < 3 {
                    assert_eq!(outputs(&store).await, reference, "a read during compaction");
                    reads += 1;
                    tokio::task::yield_now().await;
                }
                reads
            })
        };
        run_steps(store.clone(), "c", real_now() + 7 * MIN)
            .await
            .unwrap();
        done.store(true, Ordering::SeqCst);
        let reads = reader.await.unwrap();
        assert!(reads >= 3);
        check_settled_state(&store, "with readers").await;
    });
}

/// A pass asked to stop ends at its next safe point, between two jobs, with
/// the lease given back and every read as before; the next passes finish.
// Thread-local clock: a current-thread runtime keeps the pass on it.
#[tokio::test(flavor = "current_thread")]
async fn a_stopped_pass_ends_between_jobs() {
    let store: Store = Arc::new(InMemory::new());
    populate(&store).await;
    let reference = outputs(&store).await;
    let start = real_now() + 7 * MIN;
    set_clock(start);
    let c = compactor(store.clone(), "stopping");
    c.stop.store(true, Ordering::SeqCst);
    let report = c.pass().await.unwrap();
    assert!(report.stopped, "{report}");
    assert!(report.to_string().ends_with("stopped early"), "{report}");
    assert_eq!((report.jobs, report.jobs_merged), (0, 0), "{report}");
    assert_eq!(outputs(&store).await, reference);
    // The lease was given back: another compactor starts at once.
    run_steps(store.clone(), "next", start).await.unwrap();
    check_settled_state(&store, "after a stopped pass").await;
    assert_eq!(outputs(&store).await, reference);
}

/// Two compactors started at once: one works, the other is told who holds
/// the lease and mutates nothing.
#[test]
fn two_compactors_never_both_mutate() {
    block_on(async {
        let s3 = S3Server::start(&["logs"]);
        let az = AzuriteServer::start(&["logs"]);
        for store in [
            Arc::new(InMemory::new()) as Store,
            s3.store("s3://logs/two"),
            az.store("az://logs/two"),
        ] {
            populate(&store).await;
            set_clock(real_now() + 7 * MIN);
            let (a, b) = (
                Crashing::new(store.clone(), usize::MAX),
                Crashing::new(store.clone(), usize::MAX),
            );
            let (mut ca, mut cb) = (compactor(a.clone(), "a"), compactor(b.clone(), "b"));
            // s3s-fs checks If-None-Match before writing, not atomically
            // (Azurite is given the same settle time).
            ca.config.lease_settle_ms = 300;
            cb.config.lease_settle_ms = 300;
            let (ra, rb) = tokio::join!(ca.pass(), cb.pass());
            let (wa, wb) = (a.work.load(Ordering::SeqCst), b.work.load(Ordering::SeqCst));
            match (&ra, &rb) {
                (Ok(_), Err(CompactError::Lease(LeaseError::Held { holder, .. }))) => {
                    assert_eq!(holder, "a");
                    assert!(wa > 0 && wb == 0, "{wa} {wb}");
                }
                (Err(CompactError::Lease(LeaseError::Held { holder, .. })), Ok(_)) => {
                    assert_eq!(holder, "b");
                    assert!(wb > 0 && wa == 0, "{wa} {wb}");
                }
                other => panic!("expected one pass and one refusal: {other:?}"),
            }
            // A live lease holds others off; an expired one does not.
            let store2 = store.clone();
            let held = afterlog_compactor::Lease::acquire(
                store2.as_ref(),
                "x",
                300 * 1_000_000_000,
                clock(),
                std::time::Duration::ZERO,
            )
            .await
            .unwrap();
            let err = compactor(store.clone(), "y").pass().await.unwrap_err();
            assert!(
                matches!(err, CompactError::Lease(LeaseError::Held { .. })),
                "{err}"
            );
            set_clock(held.expires_ns + 1);
            compactor(store.clone(), "y").pass().await.unwrap();
        }
    });
}

/// What [`outputs`] gives for a job with nothing stored.
const NOTHING: &str = "-- tail 7\n-- since 30m\n";

/// Retention removes whole days of jobs, oldest first, and only what is over.
#[test]
fn retention_removes_oldest_runs() {
    block_on(async {
        let store: Store = Arc::new(InMemory::new());
        populate(&store).await;
        let start = real_now() + 7 * MIN;
        run_steps(store.clone(), "c", start).await.unwrap();
        let before = outputs(&store).await;
        // alpha keeps 1 byte: every run goes but... by age: beta's runs are
        // "old" once the clock passes BASE + max age.
        let mut cfg = config();
        cfg.retention.tools.insert(
            "alpha".into(),
            Limits {
                max_bytes: Some(1),
                max_age_days: None,
            },
        );
        set_clock(start + 26 * 60 * MIN);
        let report = on_test_clock(store.clone(), "r", cfg.clone())
            .pass()
            .await
            .unwrap();
        assert_eq!(report.runs_expired, 4, "{report}");
        let after = outputs(&store).await;
        assert_eq!(after[0], NOTHING);
        assert_eq!(after[1], NOTHING);
        assert_eq!(after[2], before[2], "beta untouched");
        // By age: the scenario's lines are from 2026-11-25; a day later
        // than the newest of them with max_age_days 1, beta's runs go too.
        cfg.retention.default.max_age_days = Some(1);
        set_clock(common::BASE + 3 * 86_400_000_000_000);
        let c = on_test_clock(store.clone(), "r", cfg);
        // The uploads' store times are "now": the runs are not old by
        // their upload times until the clock passes them too.
        set_clock(real_now().max(common::BASE) + 3 * 86_400_000_000_000);
        let report = c.pass().await.unwrap();
        assert_eq!(report.runs_expired, 2, "{report}");
        assert!(outputs(&store).await.iter().all(|o| o == NOTHING));
        // A grace period later, the expired days' objects are gone.
        set_clock(real_now().max(common::BASE) + 4 * 86_400_000_000_000);
        c.pass().await.unwrap();
        for top in ["raw", "data", "meta", "chunks"] {
            assert_eq!(keys(&store, top).await, Vec::<String>::new(), "{top}");
        }
    });
}

/// A store in the per-pod layout (merged objects under `data/`, a meta per
/// pod listing them and the raw keys they consumed, some of those already
/// deleted) reads the same before, during and after the compactor migrates
/// it to the job index, and nothing of the old layout is left.
#[test]
fn the_per_pod_layout_is_migrated() {
    block_on(async {
        let store: Store = Arc::new(InMemory::new());
        populate(&store).await;
        let reference = outputs(&store).await;
        // Each pod's containers merged into one object each, as in the
        // per-pod layout; half of the consumed raw objects already deleted.
        for (tool, job) in JOBS {
            let log = afterlog_reader::read_job(store.clone(), tool, job, Default::default())
                .await
                .unwrap();
            let mut by_pod: std::collections::BTreeMap<(String, String), Vec<_>> =
                Default::default();
            for r in log.records {
                by_pod
                    .entry((r.pod.clone(), r.container.clone()))
                    .or_default()
                    .push(r);
            }
            let mut metas: std::collections::BTreeMap<String, afterlog_reader::PodMeta> =
                Default::default();
            for ((pod, container), recs) in by_pod {
                let origin = layout::Origin {
                    tool: tool.into(),
                    job: job.into(),
                    pod: pod.clone(),
                    container: container.clone(),
                };
                let lines: Vec<String> = recs
                    .iter()
                    .map(|r| String::from_utf8(r.line.clone()).unwrap())
                    .collect();
                let (first, last) = (recs[0].ts, recs[recs.len() - 1].ts);
                let key = origin.data_key(first, last, "legacy");
                let body = gz(&lines);
                put(&store, &key, body.clone()).await;
                let meta = metas
                    .entry(pod.clone())
                    .or_insert_with(|| afterlog_reader::PodMeta {
                        version: 1,
                        ..Default::default()
                    });
                meta.merged.push(afterlog_reader::meta::MergedObject {
                    key,
                    first_ts: first,
                    last_ts: last,
                    lines: lines.len() as u64,
                    bytes: body.len() as u64,
                });
                let raw_prefix = format!(
                    "{}{}/{}/",
                    layout::job_prefix("raw", tool, job),
                    afterlog_contract::keys::encode(&pod),
                    afterlog_contract::keys::encode(&container)
                );
                for (i, k) in keys(&store, &raw_prefix).await.into_iter().enumerate() {
                    meta.consumed.push(afterlog_reader::meta::ConsumedRaw {
                        key: k.clone(),
                        since_ns: 1,
                    });
                    if i % 2 == 0 {
                        store.delete(&Path::from(k.as_str())).await.unwrap();
                    }
                }
            }
            for (pod, meta) in metas {
                let meta_key = layout::meta_key(tool, job, &pod);
                put(&store, &meta_key, serde_json::to_vec(&meta).unwrap()).await;
            }
        }
        assert!(!keys(&store, "meta").await.is_empty());
        assert_eq!(outputs(&store).await, reference, "the per-pod layout reads");
        let start = real_now() + 7 * MIN;
        set_clock(start);
        compactor(store.clone(), "m").pass().await.unwrap();
        assert_eq!(outputs(&store).await, reference, "migrated, not cleaned up");
        run_steps(store.clone(), "m", start + MIN).await.unwrap();
        assert_eq!(outputs(&store).await, reference, "migrated");
        check_settled_state(&store, "migrated").await;
    });
}
