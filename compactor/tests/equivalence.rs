//! The index-driven read returns exactly what the listing-driven read of
//! the same uploads, never compacted, returns: for generated jobs (runs of
//! one or two containers, restarts, retried uploads, uploads arriving after
//! a compaction, days that end mid-run), after each compaction pass, for
//! full reads, tails, time windows and single runs.

mod common;

use afterlog_compactor::{Compactor, Config};
use afterlog_contract::layout::Origin;
use afterlog_reader::index::Scope;
use afterlog_reader::job::{FirstTimes, JobIndex, Stores};
use afterlog_reader::{JobReader, Limit, Selection, Store, read_job, read_tail};
use common::{MIN, block_on, clock, gz, on_test_clock, put, real_now, set_clock};
use object_store::memory::InMemory;
use proptest::prelude::*;
use std::sync::Arc;

/// A minute before a UTC midnight: runs cross into the next day.
const T0: u64 = 1_795_651_140_000_000_000;

#[derive(Debug, Clone)]
struct Upload {
    /// `(ts, off, stored line)`, in order.
    lines: Vec<(u64, u64, String)>,
    pod: usize,
    container: usize,
    /// Sent again under another key (a retry).
    retried: bool,
    /// Arrives after the first compaction.
    late: bool,
}

fn line(o: &Origin, cid: &str, ts: u64, off: u64) -> String {
    serde_json::json!({
        "ts": ts, "off": off, "stream": if off.is_multiple_of(3) { "stderr" } else { "stdout" },
        "log": format!("{} {} {off}", o.pod, o.container),
        "afterlog": {"tool": "t", "job": "j", "kind": "cronjob", "pod": o.pod,
            "container": o.container, "container_id": cid, "node": "n1"}
    })
    .to_string()
}

fn origin(pod: usize, container: usize) -> Origin {
    Origin {
        tool: "t".into(),
        job: "j".into(),
        pod: format!("j-{pod}"),
        container: ["main", "side"][container].into(),
    }
}

/// Runs one after another, each a few uploads of consecutive lines.
fn arb_uploads() -> impl Strategy<Value = Vec<Upload>> {
    let run = (
        1usize..3,
        prop::collection::vec((1usize..6, any::<bool>(), any::<bool>()), 1..5),
        1u64..40,
        any::<bool>(),
    );
    prop::collection::vec(run, 1..5).prop_map(|runs| {
        let mut out = Vec::new();
        let mut t = T0 - 3 * MIN;
        for (pod, (containers, uploads, gap_s, restart)) in runs.into_iter().enumerate() {
            for container in 0..containers {
                let mut ts = t + container as u64;
                let mut off = 0;
                for (u, (n, retried, late)) in uploads.iter().enumerate() {
                    let instance = if restart && u > 0 && u == uploads.len() - 1 {
                        "b"
                    } else {
                        "a"
                    };
                    let cid = format!("j-{pod}-{container}-{instance}");
                    let o = origin(pod, container);
                    let mut lines = Vec::new();
                    for _ in 0..*n {
                        ts += gap_s * 1_000_000_000;
                        off += 7;
                        lines.push((ts, off, line(&o, &cid, ts, off)));
                    }
                    out.push(Upload {
                        pod,
                        container,
                        lines,
                        retried: *retried,
                        late: *late,
                    });
                }
            }
            t += 40 * MIN / 4;
        }
        out
    })
}

async fn send(store: &Store, u: &Upload, n: usize) {
    let o = origin(u.pod, u.container);
    let text: Vec<String> = u.lines.iter().map(|l| l.2.clone()).collect();
    let secs = (u.lines[0].0 / 1_000_000_000) as i64;
    let body = gz(&text);
    put(store, &o.raw_key(secs, &format!("U{n:05}")), body.clone()).await;
    if u.retried {
        put(store, &o.raw_key(secs + 1, &format!("R{n:05}")), body).await;
    }
}

/// The stored lines of `rs`.
fn text(rs: &[afterlog_reader::LogRecord]) -> Vec<String> {
    rs.iter()
        .map(|r| String::from_utf8(r.line.clone()).unwrap())
        .collect()
}

/// What the questions below get from `store`, loading only the part of the
/// index each needs.
async fn answers(store: &Store) -> Vec<Vec<String>> {
    let stores = Stores::from(store.clone());
    let cache = FirstTimes::default();
    let mut out = Vec::new();
    let full = read_job(store.clone(), "t", "j", Selection::default())
        .await
        .unwrap();
    out.push(text(&full.records));
    for n in [1usize, 5, 17] {
        let scope = Scope {
            newest_lines: Some(n as u64),
            ..Scope::ALL
        };
        let ix = JobIndex::load_scoped(&stores, "t", "j", &cache, scope)
            .await
            .unwrap();
        let mut tail = read_tail(stores.clone(), &ix, Selection::default(), n)
            .await
            .unwrap();
        if tail.records.len() < n && ix.partial {
            let all = JobIndex::load_all(&stores, "t", "j", &cache).await.unwrap();
            tail = read_tail(stores.clone(), &all, Selection::default(), n)
                .await
                .unwrap();
        }
        out.push(text(&tail.records));
    }
    for filter in [
        Selection {
            since: Some(T0),
            ..Selection::default()
        },
        Selection {
            since: Some(T0 - 2 * MIN),
            until: Some(T0 + 5 * MIN),
            ..Selection::default()
        },
        Selection {
            pods: vec!["j-1".into()],
            ..Selection::default()
        },
        Selection {
            container: Some("side".into()),
            stream: Some("stderr".into()),
            ..Selection::default()
        },
    ] {
        let ix = JobIndex::load_scoped(&stores, "t", "j", &cache, Scope::of_selection(&filter))
            .await
            .unwrap();
        let mut rd = JobReader::new(stores.clone(), &ix, filter);
        let mut recs = Vec::new();
        while let Some(r) = rd.next().await.unwrap() {
            recs.push(r);
        }
        out.push(text(&recs));
    }
    out
}

/// The listing-driven answers: every upload raw, nothing compacted.
async fn reference(uploads: &[Upload]) -> Vec<Vec<String>> {
    let store: Store = Arc::new(InMemory::new());
    for (n, u) in uploads.iter().enumerate() {
        send(&store, u, n).await;
    }
    let mut a = answers(&store).await;
    // The tails as the plain merge gives them.
    for (i, n) in [1usize, 5, 17].into_iter().enumerate() {
        let t = read_job(
            store.clone(),
            "t",
            "j",
            Selection {
                limit: Limit::Tail(n),
                ..Selection::default()
            },
        )
        .await
        .unwrap();
        a[1 + i] = text(&t.records);
    }
    a
}

fn compactor(store: &Store) -> Compactor {
    let config = Config {
        settle_minutes: 1,
        grace_minutes: 5,
        // Days cut chunks; a day's chunk is reopened by later uploads.
        target_mib: 1,
        lease_settle_ms: 0,
        ..Config::default()
    };
    on_test_clock(store.clone(), "eq", config)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn index_driven_reads_equal_listing_driven(uploads in arb_uploads()) {
        block_on(async {
            let want = reference(&uploads).await;
            let store: Store = Arc::new(InMemory::new());
            for (n, u) in uploads.iter().enumerate().filter(|(_, u)| !u.late) {
                send(&store, u, n).await;
            }
            set_clock(real_now() + 2 * MIN);
            compactor(&store).pass().await.unwrap();
            for (n, u) in uploads.iter().enumerate().filter(|(_, u)| u.late) {
                send(&store, u, n).await;
            }
            // Compacted in part, the rest raw: the same answers.
            assert_eq!(answers(&store).await, want, "after the first pass");
            set_clock(clock() + 3 * MIN);
            compactor(&store).pass().await.unwrap();
            assert_eq!(answers(&store).await, want, "after the second pass");
            let chunks = common::keys(&store, "chunks").await;
            assert!(!chunks.is_empty(), "nothing compacted");
            set_clock(clock() + 10 * MIN);
            compactor(&store).pass().await.unwrap();
            assert_eq!(answers(&store).await, want, "after cleanup");
        });
    }
}
