//! Compaction seen the same however it runs: `afterlog compact` (as a
//! CronJob runs it) records each pass in its store's status object,
//! `afterlog compact --status` prints it, and `afterlog serve` exports it
//! as `afterlog_compaction_last_*` metrics, per class, including a class
//! whose store no pass has compacted yet.

mod common;

use afterlog_compactor::Report;
use afterlog_compactor::status::{self, Pass, PassResult, Status};
use common::*;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use reqwest::Client;
use std::time::Duration;

/// The value of the sample `series` (name and labels) in a text exposition.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn now_secs() -> f64 {
    afterlog_compactor::system_clock() as f64 / 1e9
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_status_from_the_cli_to_the_metrics() {
    let home = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    afterlog::demo::build(data.path(), afterlog_compactor::system_clock()).unwrap();
    let store_dir = data.path().display().to_string();
    let class = format!("long-retention={}", other.path().display());

    // Before any pass: told, and not a success.
    let out = afterlog(home.path())
        .args(["compact", "--status", "--store", &store_dir])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("default: no compaction status: no pass has run on this store yet"),
        "{stdout}"
    );

    let before = now_secs();
    ok(&afterlog(home.path())
        .args(["compact", "--store", &store_dir, "--class", &class])
        .output()
        .unwrap());
    let out = ok(&afterlog(home.path())
        .args([
            "compact", "--status", "--store", &store_dir, "--class", &class,
        ])
        .output()
        .unwrap());
    assert!(out.contains("default: latest pass ok at "), "{out}");
    assert!(out.contains("long-retention: latest pass ok at "), "{out}");
    assert!(out.contains(" tools, "), "{out}");

    let served = Served::start(
        home.path(),
        &[
            "--store",
            &store_dir,
            "--compaction-status-seconds",
            "1",
            "--class",
            &format!("empty={}", tempfile::tempdir().unwrap().keep().display()),
        ],
    );
    let c = Client::new();
    let url = format!("{}/v1/metrics", served.base);
    let m = eventually(
        Duration::from_secs(20),
        Duration::from_millis(200),
        async || {
            let m = text_ok(&c, &url, "").await;
            match sample(
                &m,
                r#"afterlog_compaction_last_pass_result{class="default",result="ok"}"#,
            ) {
                Some(_) => Ok(m),
                None => Err(format!("no status exported yet:\n{m}")),
            }
        },
    )
    .await;
    let series = |s: &str| sample(&m, s).unwrap_or_else(|| panic!("no {s} in\n{m}"));
    let success = series(r#"afterlog_compaction_last_success_timestamp_seconds{class="default"}"#);
    assert!(
        success >= before - 1.0 && success <= now_secs() + 1.0,
        "{success} not between {before} and now"
    );
    assert_eq!(
        series(r#"afterlog_compaction_last_pass_timestamp_seconds{class="default"}"#),
        success
    );
    assert_eq!(
        series(r#"afterlog_compaction_last_pass_result{class="default",result="ok"}"#),
        1.0
    );
    assert_eq!(
        series(r#"afterlog_compaction_last_pass_result{class="default",result="error"}"#),
        0.0
    );
    assert!(series(r#"afterlog_compaction_last_pass_duration_seconds{class="default"}"#) >= 0.0);
    assert!(
        series(r#"afterlog_compaction_last_pass{class="default",what="raw_objects_read"}"#) > 0.0
    );
    // A class no pass has compacted: the alert's metric is there, at 0.
    assert_eq!(
        series(r#"afterlog_compaction_last_success_timestamp_seconds{class="empty"}"#),
        0.0
    );
    assert!(
        series(r#"afterlog_compaction_status_reads_total{class="empty",result="missing"}"#) >= 1.0
    );
    assert!(
        series(r#"afterlog_compaction_status_reads_total{class="default",result="ok"}"#) >= 1.0
    );

    // A failed pass (as a CronJob whose store went away would record):
    // the error shows, the latest success stays.
    let store = file_store(data.path());
    let previous = status::read(store.as_ref()).await.unwrap().unwrap();
    let ended = afterlog_compactor::system_clock();
    let failed = Status::after(
        Some(previous.clone()),
        "default",
        Pass {
            holder: "cronjob-x/1/0".into(),
            started_ns: ended - 2_000_000_000,
            ended_ns: ended,
            result: PassResult::Error,
            error: Some("the lease was lost to expiry".into()),
            report: Report::default(),
        },
    );
    store
        .put(
            &Path::from(status::key()),
            PutPayload::from(serde_json::to_vec(&failed).unwrap()),
        )
        .await
        .unwrap();
    let m = eventually(
        Duration::from_secs(20),
        Duration::from_millis(200),
        async || {
            let m = text_ok(&c, &url, "").await;
            match sample(
                &m,
                r#"afterlog_compaction_last_pass_result{class="default",result="error"}"#,
            ) {
                Some(1.0) => Ok(m),
                _ => Err(format!("the failed pass not exported yet:\n{m}")),
            }
        },
    )
    .await;
    assert_eq!(
        sample(
            &m,
            r#"afterlog_compaction_last_success_timestamp_seconds{class="default"}"#
        ),
        Some(success),
        "{m}"
    );
    assert_eq!(
        sample(
            &m,
            r#"afterlog_compaction_last_pass_duration_seconds{class="default"}"#
        ),
        Some(2.0),
        "{m}"
    );
    let out = afterlog(home.path())
        .args(["compact", "--status", "--store", &store_dir])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("default: latest pass error at ")
            && stdout
                .contains("by cronjob-x/1/0: the lease was lost to expiry; latest success at "),
        "{stdout}"
    );

    // A status object that cannot be read: counted, the last one read kept.
    store
        .put(
            &Path::from(status::key()),
            PutPayload::from_static(b"{not json"),
        )
        .await
        .unwrap();
    let m = eventually(
        Duration::from_secs(20),
        Duration::from_millis(200),
        async || {
            let m = text_ok(&c, &url, "").await;
            match sample(
                &m,
                r#"afterlog_compaction_status_reads_total{class="default",result="error"}"#,
            ) {
                Some(v) if v >= 1.0 => Ok(m),
                _ => Err(format!("the unreadable status not counted:\n{m}")),
            }
        },
    )
    .await;
    assert_eq!(
        sample(
            &m,
            r#"afterlog_compaction_last_pass_result{class="default",result="error"}"#
        ),
        Some(1.0),
        "{m}"
    );
    // … and told by `compact --status`, which goes on to the next class
    // and needs no compactor config.
    let out = afterlog(home.path())
        .args([
            "compact", "--status", "--store", &store_dir, "--class", &class,
        ])
        .args(["--compactor-config", "/nonexistent/compactor.json"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("default: compaction status unreadable: ")
            && stdout.contains("long-retention: latest pass ok at "),
        "{stdout}"
    );
}
