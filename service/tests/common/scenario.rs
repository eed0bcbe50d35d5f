//! The scenario the API's tests read: tool foo's jobs `batch` (two
//! containers, one compacted; a retried upload; a quota marker) and `cron`
//! (two runs), and two other tools, one named with foo as a prefix.

use super::{compacted_pod, origin, record, upload, write_tokens};
use afterlog_contract::layout::Origin;
use afterlog_reader::Store;
use afterlog_testkit::{T0, file_store};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

pub const TOK_FOO: &str = "token-of-foo";
pub const TOK_OTHER: &str = "token-of-other";
pub const TOK_ADMIN: &str = "token-of-admin";

fn r(o: &Origin, t: u64, log: &str) -> String {
    record(o, t, t * 10, "stdout", log)
}

/// Writes the scenario; returns the expected `log`s of foo/batch in order.
pub async fn populate(store: &Store) -> Vec<&'static str> {
    let main = origin("foo", "batch", "batch-1", "main");
    let side = origin("foo", "batch", "batch-1", "side");

    // An upload with unsorted lines, its retried duplicate, a later upload.
    let first = vec![r(&main, 3, "m3"), r(&main, 1, "m1"), r(&main, 2, "m2")];
    upload(store, &main, 0, "u-a1", &first).await;
    upload(store, &main, 0, "u-a1-retry", &first).await;
    let mut later = vec![r(&main, 7, "m7"), record(&main, 5, 50, "stderr", "m5 err")];
    // The filter's quota marker, stored like any record.
    let mut marker: Value = serde_json::from_str(&r(&main, 8, "quota reached")).unwrap();
    marker["afterlog"]["event"] = json!("quota_exceeded");
    marker["afterlog"]["limit_bytes"] = json!(1_048_576);
    marker["afterlog"]["window_seconds"] = json!(3600);
    marker["afterlog"]["resets_at"] = json!(T0 + 3_600_000_000_000);
    later.push(marker.to_string());
    upload(store, &main, 0, "u-a2", &later).await;

    // side: compacted into a merged object; the consumed raw object is
    // still there and holds a line the merged one does not.
    let merged = [r(&side, 4, "s4"), r(&side, 6, "s6")];
    let stale = [r(&side, 6, "s6"), r(&side, 4, "s4"), r(&side, 99, "GHOST")];
    compacted_pod(store, &side, "m1", &merged, "u-s1", &stale).await;

    // A cron job with two runs.
    for (i, pod) in ["cron-100-aaaaa", "cron-200-bbbbb"].into_iter().enumerate() {
        let o = origin("foo", "cron", pod, "job");
        let t = i as u64 * 100;
        upload(store, &o, t, "u-c", &[r(&o, t * 1_000_000_000 + 1, pod)]).await;
    }

    // A tool whose name has foo as a prefix, and another tool.
    let fb = origin("foo-bar", "batch", "batch-1", "main");
    upload(store, &fb, 0, "u-fb", &[r(&fb, 1, "SECRET of foo-bar")]).await;
    let ot = origin("other", "x", "x-1", "main");
    upload(store, &ot, 0, "u-o", &[r(&ot, 1, "other's line")]).await;

    vec!["m1", "m2", "m3", "s4", "m5 err", "s6", "m7", "[afterlog]"]
}

/// The scenario in a new local directory (removed on drop): the
/// directory, its store, and what [`populate`] returns.
pub async fn populated() -> (tempfile::TempDir, Store, Vec<&'static str>) {
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(dir.path());
    let want = populate(&store).await;
    (dir, store, want)
}

/// `dir/tokens.json` for the scenario: a member of foo, one of other, and
/// an admin.
pub fn tokens(dir: &Path) -> PathBuf {
    write_tokens(
        dir,
        &[
            ("foo ci", TOK_FOO, &["foo"], false),
            ("other ci", TOK_OTHER, &["other"], false),
            ("ops", TOK_ADMIN, &[], true),
        ],
    )
}
