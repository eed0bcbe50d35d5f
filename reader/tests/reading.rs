//! The streaming job reader against a naive reference, over generated jobs:
//! several pods and containers uploading in pieces, retried uploads,
//! unsorted uploads, Kubernetes events in any order, compacted prefixes with consumed raw objects left or
//! deleted — and every kind of selection, including tails and cursors.

use afterlog_contract::layout::{Origin, meta_key};
use afterlog_reader::deletion::Selected;
use afterlog_reader::job::Stores;
use afterlog_reader::meta::{ConsumedRaw, MergedObject, PodMeta};
use afterlog_reader::{Events, JobLog, Limit, LogRecord, Position, Selection, Store, read_job};
use afterlog_testkit::gz;
use flate2::Compression;
use flate2::write::GzEncoder;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use proptest::prelude::*;
use serde_json::json;
use std::io::Write;
use std::sync::Arc;

const BASE_SECS: u64 = 1_795_618_800;

#[derive(Debug, Clone)]
struct Container {
    pod: usize,
    /// Container `c<name>`; 2 is the Kubernetes events' `@events`.
    name: usize,
    /// Gaps between records, in ms (so uploads span minutes to hours and
    /// the raw objects' time bounds matter).
    gaps: Vec<u64>,
    /// Sizes of the uploads the records are cut into.
    cuts: Vec<usize>,
    /// Uploads that are sent twice.
    retried: Vec<bool>,
    /// How many leading uploads are compacted, and whether their raw
    /// objects are already deleted.
    compacted: usize,
    deleted: bool,
}

fn arb_container() -> impl Strategy<Value = Container> {
    (
        0usize..3,
        0usize..3,
        prop::collection::vec(prop_oneof![Just(0u64), 1u64..400_000], 1..40),
        prop::collection::vec(1usize..8, 1..12),
        prop::collection::vec(any::<bool>(), 12),
        0usize..4,
        any::<bool>(),
    )
        .prop_map(
            |(pod, name, gaps, cuts, retried, compacted, deleted)| Container {
                pod,
                name,
                gaps,
                cuts,
                retried,
                compacted,
                deleted,
            },
        )
}

fn container_name(name: usize) -> String {
    match name {
        2 => "@events".into(),
        n => format!("c{n}"),
    }
}

fn origin(c: &Container) -> Origin {
    Origin {
        tool: "t".into(),
        job: "j".into(),
        pod: format!("pod-{}", c.pod),
        container: container_name(c.name),
    }
}

fn line(o: &Origin, cid: &str, ts: u64, off: u64, stream: &str) -> String {
    json!({
        "ts": ts, "off": off, "stream": stream, "log": format!("{cid}@{off}"),
        "afterlog": {"pod": o.pod, "container": o.container, "container_id": cid}
    })
    .to_string()
}

/// Writes the job; returns every distinct record.
async fn write(store: &Store, containers: &[Container], seed: u64) -> Vec<LogRecord> {
    let mut all = Vec::new();
    let mut metas: std::collections::BTreeMap<String, PodMeta> = Default::default();
    let mut seen = std::collections::HashSet::new();
    let mut ends = std::collections::HashMap::new();
    for (ci, c) in containers.iter().enumerate() {
        let o = origin(c);
        // Two containers generated with the same pod and name are two
        // instances (a restart): distinct ids.
        if !seen.insert((c.pod, c.name, ci)) {
            continue;
        }
        let cid = format!("cid-{ci}");
        // A second instance under the same pod and container name is a
        // restart: it starts after the first one ended, as in Kubernetes.
        let start = BASE_SECS * 1_000_000_000 + (ci as u64) * 7_000_000;
        let mut ts = ends
            .get(&(c.pod, c.name))
            .map_or(start, |&e: &u64| e.max(start));
        let mut recs = Vec::new();
        for (i, g) in c.gaps.iter().enumerate() {
            ts += g * 1_000_000;
            let stream = if c.name == 2 {
                "event"
            } else if (i as u64 + seed).is_multiple_of(3) {
                "stderr"
            } else {
                "stdout"
            };
            recs.push((ts, line(&o, &cid, ts, i as u64 * 100, stream)));
        }
        ends.insert((c.pod, c.name), ts + 1_000_000);
        all.extend(
            recs.iter()
                .map(|(_, l)| LogRecord::parse(l.as_bytes().to_vec()).unwrap()),
        );
        let mut uploads = Vec::new();
        let mut rest = &recs[..];
        let mut k = 0;
        while !rest.is_empty() {
            let n = c.cuts[k % c.cuts.len()].min(rest.len());
            uploads.push(&rest[..n]);
            rest = &rest[n..];
            k += 1;
        }
        let compacted = c.compacted.min(uploads.len());
        let mut consumed = Vec::new();
        let mut merged_lines = Vec::new();
        for (u, up) in uploads.iter().enumerate() {
            // Timer uploads are named after their first record; uploads at
            // shutdown or after a restart after a later time.
            let late = if (u as u64 + seed).is_multiple_of(5) {
                (seed * 7919) % 86_400
            } else {
                0
            };
            let first_secs = (up[0].0 / 1_000_000_000 + late) as i64;
            // Fluent Bit uploads lines in file order, whose times may tie
            // (or step back a little); lines of equal time come reversed
            // here, so the upload is not in merge order.
            let mut lines: Vec<(u64, usize, String)> = up
                .iter()
                .enumerate()
                .map(|(i, (ts, l))| (*ts, usize::MAX - i, l.clone()))
                .collect();
            if (seed + u as u64).is_multiple_of(2) {
                lines.sort();
            }
            // Kubernetes events come in list and watch order: any.
            if c.name == 2 {
                let by = (seed as usize + u) % lines.len().max(1);
                lines.rotate_left(by);
                if seed.is_multiple_of(3) {
                    lines.reverse();
                }
            }
            let lines: Vec<String> = lines.into_iter().map(|(_, _, l)| l).collect();
            let copies = if c.retried[u % c.retried.len()] { 2 } else { 1 };
            for copy in 0..copies {
                let key = o.raw_key(first_secs, &format!("{ci}-{u}-{copy}"));
                if u < compacted {
                    consumed.push(ConsumedRaw {
                        key: key.clone(),
                        since_ns: 0,
                    });
                    if c.deleted {
                        continue;
                    }
                }
                store
                    .put(&Path::from(key), PutPayload::from(gz(&lines)))
                    .await
                    .unwrap();
            }
            if u < compacted {
                merged_lines.extend(up.iter().cloned());
            }
        }
        if compacted > 0 {
            merged_lines.sort_by_key(|(ts, _)| *ts);
            let (first, last) = (merged_lines[0].0, merged_lines[merged_lines.len() - 1].0);
            let key = o.data_key(first, last, &format!("m{ci}"));
            let lines: Vec<String> = merged_lines.iter().map(|(_, l)| l.clone()).collect();
            store
                .put(&Path::from(key.clone()), PutPayload::from(gz(&lines)))
                .await
                .unwrap();
            let m = metas.entry(o.pod.clone()).or_insert_with(|| PodMeta {
                version: 1,
                ..PodMeta::default()
            });
            m.merged.push(MergedObject {
                key,
                first_ts: first,
                last_ts: last,
                lines: lines.len() as u64,
                bytes: 0,
            });
            m.consumed.extend(consumed);
        }
    }
    for (pod, m) in metas {
        store
            .put(
                &Path::from(meta_key("t", "j", &pod)),
                PutPayload::from(serde_json::to_vec(&m).unwrap()),
            )
            .await
            .unwrap();
    }
    all
}

fn reference(mut all: Vec<LogRecord>, f: &Selection) -> Vec<LogRecord> {
    all.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
    all.dedup_by(|a, b| a.identity() == b.identity());
    all.retain(|r| f.accepts(r));
    match f.limit {
        Limit::All => all,
        Limit::Head(n) => all.into_iter().take(n).collect(),
        Limit::Tail(n) => all.split_off(all.len().saturating_sub(n)),
    }
}

/// A selection of the records [`write`] writes: pod, container, a time
/// window, a cursor and a limit, each maybe.
fn arb_selection() -> impl Strategy<Value = Selection> {
    (
        prop::option::of(0usize..3),
        prop::option::of(0usize..3),
        prop::option::of(0u64..4_000),
        prop::option::of(0u64..8_000),
        prop::option::of((0u64..6_000, 0u64..40)),
        prop_oneof![
            Just(Limit::All),
            (0usize..30).prop_map(Limit::Head),
            (0usize..30).prop_map(Limit::Tail),
        ],
        prop::option::of((prop::sample::select(vec!["1", "2", "37"]), any::<bool>())),
        prop::sample::select(vec![Events::Include, Events::Only, Events::Omit]),
    )
        .prop_map(
            |(pod, container, since, until, after, limit, grep, events)| {
                let t = |s: u64| BASE_SECS * 1_000_000_000 + s * 1_000_000_000;
                Selection {
                    pods: pod.map(|p| vec![format!("pod-{p}")]).unwrap_or_default(),
                    container: container.map(container_name),
                    stream: None,
                    events,
                    since: since.map(t),
                    until: until.map(t),
                    after: after.map(|(s, off)| Position {
                        ts: t(s),
                        container_id: "cid-2".into(),
                        off: Some(off * 100),
                        stream: "stdout".into(),
                    }),
                    before: None,
                    // Tested on the stored bytes first: the read must agree
                    // with the decoded texts the reference tests.
                    lines: grep.map(|(g, invert)| {
                        afterlog_reader::LineMatch::new(&afterlog_reader::LineFilter {
                            grep: vec![g.to_string()],
                            invert,
                            ..Default::default()
                        })
                        .unwrap()
                    }),
                    hidden: Default::default(),
                    limit,
                }
            },
        )
}

/// Writes `containers`, reads them back selected (split over two stores
/// by `split_mode`, see [`split`]) and checks the read against the
/// reference.
fn read_equals_reference(
    containers: &[Container],
    seed: u64,
    split_mode: Option<u64>,
    selection: &Selection,
) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let staging: Store = Arc::new(InMemory::new());
        let all = write(&staging, containers, seed).await;
        let stores = match split_mode {
            None => Stores::from(staging),
            Some(mode) => Stores::new(split(&staging, mode, seed).await.into()),
        };
        let got = read_job(stores, "t", "j", selection.clone()).await.unwrap();
        check_read(&got, all, selection)
    })
}

/// A read of everything [`write`] wrote, selected, equals the reference.
fn check_read(
    got: &JobLog,
    all: Vec<LogRecord>,
    selection: &Selection,
) -> Result<(), TestCaseError> {
    let want = reference(all, selection);
    let keys = |v: &[LogRecord]| v.iter().map(|r| r.log().into_owned()).collect::<Vec<_>>();
    prop_assert_eq!(keys(&got.records), keys(&want), "{:?}", selection);
    prop_assert!(got.warnings.is_empty(), "{:?}", got.warnings);
    prop_assert_eq!(got.stats.out_of_order, 0);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn reader_equals_reference(
        containers in prop::collection::vec(arb_container(), 1..6),
        seed in 0u64..1000,
        selection in arb_selection(),
    ) {
        read_equals_reference(&containers, seed, None, &selection)?;
    }
}

/// Which of two stores (routing classes) an object goes to: by container
/// (a rule on container names), by pod (rules changed between runs), or by
/// object (the worst case: a container's uploads alternate between them).
fn class_of(key: &str, mode: u64, seed: u64) -> usize {
    use std::hash::{Hash, Hasher};
    let parts: Vec<&str> = key.split('/').collect();
    let basis = match mode {
        0 => format!("{}/{}", parts[3], parts[4]),
        1 => key.to_string(),
        _ => parts[3].to_string(),
    };
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (basis, seed).hash(&mut h);
    (h.finish() % 2) as usize
}

/// Moves the objects of `staging` into two stores as two routing classes
/// would hold them: each object in its class's store, some raw objects in
/// both (a record stored twice across classes), and each pod's meta split
/// so that a store's meta lists only that store's keys, as each store's own
/// compactor writes it.
async fn split(staging: &Store, mode: u64, seed: u64) -> [Store; 2] {
    use futures::TryStreamExt;
    let stores: [Store; 2] = [Arc::new(InMemory::new()), Arc::new(InMemory::new())];
    let listed: Vec<_> = staging.list(None).try_collect().await.unwrap();
    for m in listed {
        let key = m.location.to_string();
        let body = staging
            .get(&m.location)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        if key.starts_with("meta/") {
            let meta: PodMeta = serde_json::from_slice(&body).unwrap();
            for (i, store) in stores.iter().enumerate() {
                let part = PodMeta {
                    merged: meta
                        .merged
                        .iter()
                        .filter(|o| class_of(&o.key, mode, seed) == i)
                        .cloned()
                        .collect(),
                    consumed: meta
                        .consumed
                        .iter()
                        .filter(|c| class_of(&c.key, mode, seed) == i)
                        .cloned()
                        .collect(),
                    ..meta.clone()
                };
                if !part.merged.is_empty() || !part.consumed.is_empty() {
                    let body = serde_json::to_vec(&part).unwrap();
                    store
                        .put(&m.location, PutPayload::from(body))
                        .await
                        .unwrap();
                }
            }
            continue;
        }
        let i = class_of(&key, mode, seed);
        stores[i]
            .put(&m.location, PutPayload::from(body.clone()))
            .await
            .unwrap();
        if key.starts_with("raw/") && class_of(&key, 1, seed + 1) == 0 && seed.is_multiple_of(2) {
            stores[1 - i]
                .put(&m.location, PutPayload::from(body))
                .await
                .unwrap();
        }
    }
    stores
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// A job split over two stores (routing classes) reads exactly as the
    /// reference: one ordered log, each record once, whatever the split.
    #[test]
    fn reader_across_stores_equals_reference(
        containers in prop::collection::vec(arb_container(), 1..6),
        seed in 0u64..1000,
        mode in 0u64..3,
        selection in arb_selection(),
    ) {
        read_equals_reference(&containers, seed, Some(mode), &selection)?;
    }
}

/// A tail or a recent window opens the newest objects only, a head the
/// oldest only: the cost follows what is asked, not the job's size.
#[tokio::test]
async fn reads_only_the_objects_it_needs() {
    let store: Store = Arc::new(InMemory::new());
    let o = Origin {
        tool: "t".into(),
        job: "j".into(),
        pod: "p".into(),
        container: "c".into(),
    };
    // 200 uploads, one every 10 minutes, 20 lines each.
    let mut n = 0u64;
    for u in 0..200u64 {
        let secs = BASE_SECS + u * 600;
        let lines: Vec<String> = (0..20)
            .map(|i| {
                n += 1;
                line(
                    &o,
                    "cid",
                    secs * 1_000_000_000 + i * 1_000_000_000,
                    n,
                    "stdout",
                )
            })
            .collect();
        store
            .put(
                &Path::from(o.raw_key(secs as i64, &format!("u{u}"))),
                PutPayload::from(gz(&lines)),
            )
            .await
            .unwrap();
    }
    let read = |f: Selection| read_job(store.clone(), "t", "j", f);
    let tail = read(Selection {
        limit: Limit::Tail(50),
        ..Selection::default()
    })
    .await
    .unwrap();
    assert_eq!(tail.records.len(), 50);
    assert_eq!(tail.records[49].off, Some(4000));
    assert!(tail.stats.objects_read <= 8, "{:?}", tail.stats);

    let head = read(Selection {
        limit: Limit::Head(30),
        ..Selection::default()
    })
    .await
    .unwrap();
    assert_eq!(head.records.len(), 30);
    assert!(head.stats.objects_read <= 2 + 2, "{:?}", head.stats);

    let since = read(Selection {
        since: Some((BASE_SECS + 199 * 600) * 1_000_000_000),
        ..Selection::default()
    })
    .await
    .unwrap();
    assert_eq!(since.records.len(), 20);
    assert!(since.stats.objects_read <= 3, "{:?}", since.stats);

    let all = read(Selection::default()).await.unwrap();
    assert_eq!(all.records.len(), 4000);
    assert_eq!(all.stats.objects_read, 200);
}

/// A raw object uploaded before a read's window holds none of its records:
/// a read from `since` neither opens it nor reads its first record, and
/// still returns every record in the window.
#[test]
fn uploads_before_the_window_are_not_opened() {
    let dir = tempfile::tempdir().unwrap();
    let store = afterlog_reader::open(&afterlog_reader::StoreConfig::new(format!(
        "file://{}",
        dir.path().display()
    )))
    .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let o = Origin {
        tool: "t".into(),
        job: "j".into(),
        pod: "j-1".into(),
        container: "c".into(),
    };
    let rec = |secs: u64, off: u64| {
        json!({"ts": secs * 1_000_000_000, "off": off, "stream": "stdout", "log": format!("at {secs}"),
            "afterlog": {"tool": "t", "job": "j", "pod": "j-1", "container": "c", "container_id": "cid"}})
        .to_string()
    };
    let old = o.raw_key((now - 3 * 3600) as i64, "old");
    let new = o.raw_key((now - 60) as i64, "new");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for (key, lines) in [
            (
                &old,
                vec![rec(now - 3 * 3600, 1), rec(now - 3 * 3600 + 30, 2)],
            ),
            (&new, vec![rec(now - 60, 3), rec(now - 30, 4)]),
        ] {
            let mut e = GzEncoder::new(Vec::new(), Compression::fast());
            for l in lines {
                e.write_all(l.as_bytes()).unwrap();
                e.write_all(b"\n").unwrap();
            }
            store
                .put(
                    &Path::from(key.as_str()),
                    PutPayload::from(e.finish().unwrap()),
                )
                .await
                .unwrap();
        }
    });
    // The old upload arrived three hours ago.
    let f = std::fs::File::options()
        .write(true)
        .open(dir.path().join(&old))
        .unwrap();
    f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(now - 3 * 3600 + 60))
        .unwrap();
    rt.block_on(async {
        let since = Selection {
            since: Some((now - 3600) * 1_000_000_000),
            ..Selection::default()
        };
        let stores = Stores::from(store.clone());
        let cache = afterlog_reader::job::FirstTimes::default();
        let ix = afterlog_reader::JobIndex::load_scoped(
            &stores,
            "t",
            "j",
            &cache,
            afterlog_reader::index::Scope::of_selection(&since),
        )
        .await
        .unwrap();
        assert_eq!(
            ix.objects.len(),
            1,
            "the old upload is not even listed for the read"
        );
        let mut rd = afterlog_reader::JobReader::new(stores.clone(), &ix, since);
        let mut got = Vec::new();
        while let Some(r) = rd.next().await.unwrap() {
            got.push(r.log().into_owned());
        }
        assert_eq!(
            got,
            [format!("at {}", now - 60), format!("at {}", now - 30)]
        );
        assert_eq!(rd.stats.objects_read, 1);
        // A full read still has both.
        let all = read_job(store.clone(), "t", "j", Selection::default())
            .await
            .unwrap();
        assert_eq!(all.records.len(), 4);
    });
}

/// A deletion request over the records [`write`] writes: any of run,
/// stream, time window and a grep term.
fn arb_request() -> impl Strategy<Value = Selected> {
    (
        prop::option::of(0usize..3),
        prop::option::of(prop::sample::select(vec!["stdout", "stderr"])),
        prop::option::of(0u64..4_000),
        prop::option::of(0u64..8_000),
        prop::option::of(prop::sample::select(vec!["@1", "@2", "-2@", "37"])),
    )
        .prop_map(|(pod, stream, since, until, grep)| {
            let t = |s: u64| BASE_SECS * 1_000_000_000 + s * 1_000_000_000;
            Selected {
                run: pod.map(|p| format!("pod-{p}")),
                stream: stream.map(String::from),
                since: since.map(t),
                until: Some(until.map_or(u64::MAX, t)),
                grep: grep.map(String::from).into_iter().collect(),
                ..Selected::default()
            }
        })
}

/// Stores `selected` as request number `n` in `store`, cancelled or not.
async fn store_request(store: &Store, n: u64, selected: &Selected, cancelled: bool) {
    use afterlog_contract::layout::{DeletionPart, deletion_id};
    use afterlog_reader::deletion::*;
    let id = deletion_id(BASE_SECS * 1_000_000_000 + n, n);
    let request = DeletionRequest {
        version: DELETION_VERSION,
        id: id.clone(),
        tool: "t".into(),
        job: "j".into(),
        selected: selected.clone(),
        requested_by: "alice".into(),
        requested_ns: 1,
        due_ns: 2,
        affected: Affected::default(),
    };
    let put = |part, doc: Vec<u8>| {
        let store = store.clone();
        let id = id.clone();
        async move {
            let doc: serde_json::Value = serde_json::from_slice(&doc).unwrap();
            let created = afterlog_reader::job::create_deletion_doc(
                store.as_ref(),
                "t",
                "j",
                &id,
                part,
                &doc,
            )
            .await
            .unwrap();
            assert!(created);
        }
    };
    put(DeletionPart::Request, serde_json::to_vec(&request).unwrap()).await;
    if cancelled {
        let decision = Decision {
            version: DELETION_VERSION,
            id: id.clone(),
            verdict: Verdict::Cancel,
            by: "alice".into(),
            at_ns: 3,
            affected: None,
        };
        put(
            DeletionPart::Decision,
            serde_json::to_vec(&decision).unwrap(),
        )
        .await;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Stored deletion requests hide exactly the lines they select, from
    /// every read (heads and tails count what is left), whichever store
    /// holds them; a cancelled one hides nothing; and counting a request
    /// finds exactly the lines it selects.
    #[test]
    fn deletion_requests_hide_exactly_their_lines(
        containers in prop::collection::vec(arb_container(), 1..5),
        seed in 0u64..1000,
        split_mode in prop::option::of(0u64..3),
        selection in arb_selection(),
        requests in prop::collection::vec((arb_request(), any::<bool>(), 0usize..2), 1..3),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let staging: Store = Arc::new(InMemory::new());
            let all = write(&staging, &containers, seed).await;
            let stores: Vec<Store> = match split_mode {
                None => vec![staging],
                Some(mode) => split(&staging, mode, seed).await.into(),
            };
            let mut hiding = Vec::new();
            for (n, (selected, cancelled, at)) in requests.iter().enumerate() {
                let store = &stores[at % stores.len()];
                store_request(store, n as u64, selected, *cancelled).await;
                if !cancelled {
                    hiding.push(selected.selection().unwrap());
                }
            }
            let stores = Stores::new(stores);
            let got = read_job(stores.clone(), "t", "j", selection.clone()).await.unwrap();
            let left: Vec<LogRecord> = all
                .iter()
                .filter(|r| !hiding.iter().any(|h| h.accepts(r)))
                .cloned()
                .collect();
            check_read(&got, left, &selection)?;

            let index = afterlog_reader::JobIndex::load_all(
                &stores, "t", "j", &Default::default(),
            )
            .await
            .unwrap();
            let (first, ..) = &requests[0];
            let counted = afterlog_reader::job::count_affected(
                stores.clone(),
                &index,
                first.selection().unwrap(),
            )
            .await
            .unwrap();
            let want = reference(all.clone(), &first.selection().unwrap());
            prop_assert_eq!(counted.lines, want.len() as u64);
            prop_assert_eq!(counted.bytes, want.iter().map(|r| r.log_len as u64).sum::<u64>());
            prop_assert_eq!(counted.objects > 0, !want.is_empty());
            Ok(())
        })?;
    }
}
