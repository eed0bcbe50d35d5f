//! A job's log as text, to compare what readers get before and after the
//! store changes under them.

use afterlog_reader::{LogRecord, Store, read_job};

/// The stored lines of `records`, each followed by a line break.
pub fn ndjson(records: &[LogRecord]) -> String {
    let mut s = String::new();
    for r in records {
        s.push_str(std::str::from_utf8(&r.line).expect("a stored line is UTF-8"));
        s.push('\n');
    }
    s
}

/// `tool`/`job`'s whole log as the reader serves it (NDJSON of the stored
/// lines); fails if the merge met lines out of order.
pub async fn job_ndjson(store: &Store, tool: &str, job: &str) -> String {
    let log = read_job(store.clone(), tool, job, Default::default())
        .await
        .unwrap_or_else(|e| panic!("reading {tool}/{job}: {e}"));
    assert_eq!(
        log.stats.out_of_order, 0,
        "{tool}/{job}: {:?}",
        log.warnings
    );
    ndjson(&log.records)
}
