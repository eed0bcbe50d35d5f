//! The demo data set compacted by `afterlog compact` reads the same before
//! and after, and a later pass (grace period over) deletes the consumed raw
//! objects without changing a line either.

mod common;

use afterlog_compactor::{Compactor, Config};
use afterlog_reader::Store;
use afterlog_testkit::log_text::job_ndjson;
use common::{file_store, keys};

async fn outputs(store: &Store, jobs: &[(String, String)]) -> Vec<String> {
    let mut out = Vec::new();
    for (tool, job) in jobs {
        out.push(job_ndjson(store, tool, job).await);
    }
    out
}

async fn count(store: &Store, top: &str) -> usize {
    keys(store, top).await.len()
}

fn now_ns() -> u64 {
    afterlog_compactor::system_clock()
}

fn in_three_hours() -> u64 {
    now_ns() + 3 * 3_600_000_000_000
}

/// A compactor of `store` whose clock is `clock`.
fn at(store: Store, clock: fn() -> u64) -> Compactor {
    Compactor {
        holder: "test".into(),
        clock,
        ..Compactor::new(store, Config::default())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compacting_the_demo_changes_no_line() {
    let dir = tempfile::tempdir().unwrap();
    let summary = afterlog::demo::build(dir.path(), now_ns()).unwrap();
    let jobs: Vec<(String, String)> = summary
        .jobs
        .iter()
        .map(|j| (j.tool.clone(), j.job.clone()))
        .collect();
    let store = file_store(dir.path());
    let before = outputs(&store, &jobs).await;
    let raw_before = count(&store, "raw").await;
    let data_before = count(&store, "chunks").await;

    // The CLI, as a CronJob runs it (real clock: recent uploads are not
    // settled yet and stay raw).
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_afterlog"))
        .args(["compact", "--store", &dir.path().display().to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("merged"), "{report}");
    assert!(count(&store, "chunks").await > data_before, "{report}");
    assert_eq!(
        outputs(&store, &jobs).await,
        before,
        "after `afterlog compact`"
    );

    // Hours later: everything settled and merged, consumed raw objects past
    // their grace period deleted.
    for _ in 0..2 {
        let report = at(store.clone(), in_three_hours).pass().await.unwrap();
        assert_eq!(report.skipped, 0, "{report}");
        assert_eq!(
            outputs(&store, &jobs).await,
            before,
            "after a pass: {report}"
        );
    }
    let report = at(store.clone(), || in_three_hours() + 2 * 3_600_000_000_000)
        .pass()
        .await
        .unwrap();
    assert!(report.raw_deleted > 0, "{report}");
    assert_eq!(
        outputs(&store, &jobs).await,
        before,
        "after cleanup: {report}"
    );
    assert_eq!(
        count(&store, "raw").await,
        0,
        "raw objects left (of {raw_before})"
    );
}
