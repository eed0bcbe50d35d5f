//! Every pass that takes the lease records how it went in the store's
//! status object (`status/compaction.json`): a clean pass as the latest
//! success, a failed one with its error (the latest success kept), and a
//! pass that found the lease held not at all.

mod common;

use afterlog_compactor::status::{self, PassResult};
use afterlog_compactor::{CompactError, Compactor, Config, LeaseError};
use afterlog_reader::Store;
use afterlog_testkit::file_store;
use common::*;
use object_store::ObjectStoreExt;
use object_store::memory::InMemory;
use object_store::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

fn config() -> Config {
    Config {
        settle_minutes: 6,
        grace_minutes: 10,
        lease_seconds: 300,
        lease_settle_ms: 0,
        ..Config::default()
    }
}

async fn stored(store: &Store) -> Vec<u8> {
    store
        .get(&Path::from(status::key()))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec()
}

static RACING: AtomicU64 = AtomicU64::new(0);

/// A clock that runs ten minutes on at each look: the lease (five minutes)
/// has run out by the time the pass first renews it.
fn racing_clock() -> u64 {
    RACING.fetch_add(10 * MIN, Ordering::SeqCst)
}

#[test]
fn passes_are_recorded_with_their_result() {
    block_on(async {
        let store: Store = Arc::new(InMemory::new());
        populate(&store).await;
        assert!(status::read(store.as_ref()).await.unwrap().is_none());

        let start = real_now() + 30 * MIN;
        set_clock(start);
        let report = on_test_clock(store.clone(), "first", config())
            .pass()
            .await
            .unwrap();
        assert_eq!(report.status_error, None);
        let ok = status::read(store.as_ref()).await.unwrap().unwrap();
        assert_eq!(ok.class, "default");
        assert_eq!(ok.last.holder, "first");
        assert_eq!(ok.last.result, PassResult::Ok);
        assert_eq!(ok.last.started_ns, start);
        assert_eq!(ok.last.error, None);
        assert_eq!(ok.last.report.jobs, JOBS.len() as u64);
        assert_eq!(ok.last.report.jobs_merged, report.jobs_merged);
        assert!(ok.last.report.jobs_merged > 0, "{report}");
        assert_eq!(ok.last_success.as_ref(), Some(&ok.last));
        assert_eq!(keys(&store, "status").await, [status::key()]);

        // Another compactor while "first" holds the lease (taken again
        // here, as by a pass under way): nothing recorded.
        let held = afterlog_compactor::Lease::acquire(
            store.as_ref(),
            "first",
            config().lease_ttl().as_nanos() as u64,
            start + 10 * MIN,
            config().lease_settle(),
        )
        .await
        .unwrap();
        let before = stored(&store).await;
        set_clock(start + 11 * MIN);
        let e = on_test_clock(store.clone(), "second", config())
            .pass()
            .await
            .unwrap_err();
        assert!(
            matches!(e, CompactError::Lease(LeaseError::Held { .. })),
            "{e}"
        );
        assert_eq!(stored(&store).await, before, "a held lease records nothing");
        held.release(store.as_ref()).await.unwrap();

        // A pass that loses its lease fails: recorded as an error, with the
        // latest success kept.
        RACING.store(start + 30 * MIN, Ordering::SeqCst);
        let racing = Compactor {
            holder: "late".into(),
            clock: racing_clock,
            ..Compactor::new(store.clone(), config())
        };
        let e = racing.pass().await.unwrap_err();
        assert!(matches!(e, CompactError::Lease(LeaseError::Lost(_))), "{e}");
        let failed = status::read(store.as_ref()).await.unwrap().unwrap();
        assert_eq!(failed.last.holder, "late");
        assert_eq!(failed.last.result, PassResult::Error);
        assert_eq!(failed.last.error.as_deref(), Some(e.to_string().as_str()));
        assert_eq!(failed.last_success, ok.last_success);
    });
}

#[test]
fn a_status_that_cannot_be_written_is_told_not_fatal() {
    block_on(async {
        let dir = tempfile::tempdir().unwrap();
        // A file where the status object's directory goes: it cannot be
        // written.
        std::fs::write(dir.path().join("status"), b"in the way").unwrap();
        let store = file_store(dir.path());
        populate(&store).await;
        set_clock(real_now() + 30 * MIN);
        let report = on_test_clock(store.clone(), "h", config())
            .pass()
            .await
            .unwrap();
        let e = report.status_error.as_deref().expect("status error told");
        assert!(e.contains("status/compaction.json"), "{e}");
        assert!(
            report.to_string().contains("status not written"),
            "{report}"
        );
        assert!(report.jobs_merged > 0, "{report}");
    });
}
