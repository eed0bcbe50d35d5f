//! The demo data set compacted by `afterlog compact` reads the same before
//! and after, and a later pass (grace period over) deletes the consumed raw
//! objects without changing a line either.

use afterlog_compactor::{Compactor, Config};
use afterlog_reader::{Selection, Store, StoreConfig, open, read_job};
use futures::TryStreamExt;
use object_store::path::Path;

async fn outputs(store: &Store, jobs: &[(String, String)]) -> Vec<String> {
    let mut out = Vec::new();
    for (tool, job) in jobs {
        let log = read_job(store.clone(), tool, job, Selection::default())
            .await
            .unwrap();
        assert_eq!(
            log.stats.out_of_order, 0,
            "{tool}/{job}: {:?}",
            log.warnings
        );
        let mut s = String::new();
        for r in &log.records {
            s.push_str(std::str::from_utf8(&r.line).unwrap());
            s.push('\n');
        }
        out.push(s);
    }
    out
}

async fn count(store: &Store, top: &str) -> usize {
    store
        .list(Some(&Path::from(top)))
        .try_collect::<Vec<_>>()
        .await
        .map_or(0, |v| v.len())
}

fn now_ns() -> u64 {
    afterlog_compactor::system_clock()
}

fn in_three_hours() -> u64 {
    now_ns() + 3 * 3_600_000_000_000
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
    let store = open(&StoreConfig::new(format!(
        "file://{}",
        dir.path().display()
    )))
    .unwrap();
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
        let c = Compactor {
            store: store.clone(),
            class: afterlog_compactor::DEFAULT_CLASS.into(),
            config: Config::default(),
            holder: "test".into(),
            clock: in_three_hours,
            stop: Default::default(),
        };
        let report = c.pass().await.unwrap();
        assert_eq!(report.skipped, 0, "{report}");
        assert_eq!(
            outputs(&store, &jobs).await,
            before,
            "after a pass: {report}"
        );
    }
    let c = Compactor {
        store: store.clone(),
        class: afterlog_compactor::DEFAULT_CLASS.into(),
        config: Config::default(),
        holder: "test".into(),
        clock: || in_three_hours() + 2 * 3_600_000_000_000,
        stop: Default::default(),
    };
    let report = c.pass().await.unwrap();
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
