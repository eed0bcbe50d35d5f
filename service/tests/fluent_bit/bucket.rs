//! The bucket: what Fluent Bit uploaded, read back and checked against
//! what was written.

use crate::NS;
use crate::config::Mode;
use crate::world::{LONG, Logs, Written};
use afterlog_contract::layout::{self, ObjectKind};
use afterlog_contract::nf;
use afterlog_contract::record::{self as field, label};
use afterlog_harness::expect::{field_names, record_fields};
use flate2::read::MultiGzDecoder;
use object_store::ObjectStore;
use object_store::path::Path as StorePath;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::path::Path;

/// The raw objects of both classes: `raw/…` (default) and `long-retention/raw/…`.
pub async fn all_raw_keys(store: &dyn ObjectStore) -> Vec<String> {
    let mut keys = list_keys(store, layout::RAW).await;
    keys.extend(list_keys(store, &format!("{LONG}/{}", layout::RAW)).await);
    keys
}

/// Every key under `prefix`.
pub async fn list_keys(store: &dyn ObjectStore, prefix: &str) -> Vec<String> {
    use futures::TryStreamExt;
    let mut keys: Vec<String> = store
        .list(Some(&StorePath::from(prefix)))
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("LIST {prefix}: {e}"));
    keys.sort();
    keys
}

pub async fn get(store: &dyn ObjectStore, key: &str) -> Vec<u8> {
    use object_store::ObjectStoreExt;
    let got = store
        .get(&StorePath::from(key))
        .await
        .unwrap_or_else(|e| panic!("GET {key}: {e}"));
    got.bytes().await.unwrap().to_vec()
}

pub fn gunzip(body: &[u8]) -> std::io::Result<String> {
    let mut text = String::new();
    MultiGzDecoder::new(body).read_to_string(&mut text)?;
    Ok(text)
}

pub fn count_files(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            if e.path().is_dir() {
                count_files(&e.path())
            } else {
                1
            }
        })
        .sum()
}

/// Checks every raw object against what was written: layout, gzip JSON
/// lines, exactly the filter's fields and labels, only tool lines, key time
/// not before the first record. Returns (objects, log records, distinct ones).
pub async fn check_bucket(
    store: &dyn ObjectStore,
    logs: &Logs,
    mode: Mode,
) -> (usize, usize, usize) {
    let by_place: BTreeMap<(&str, &str, u64, u64), &Written> = logs
        .lines
        .iter()
        .map(|w| {
            (
                (w.container_id.as_str(), w.container.as_str(), w.ts, w.off),
                w,
            )
        })
        .collect();
    let fields = record_fields();
    let keys = all_raw_keys(store).await;
    let (mut records, mut distinct) = (0, BTreeSet::new());
    for full_key in &keys {
        // Each class's objects under its own prefix (the drop-in's outputs).
        let (class, key) = match full_key.strip_prefix(&format!("{LONG}/")) {
            Some(k) => (LONG, k),
            None => ("default", full_key.as_str()),
        };
        let parsed = layout::parse_object_key(key)
            .unwrap_or_else(|e| panic!("{key} is not in the layout: {e}"));
        let ObjectKind::Raw { first_secs, uuid } = &parsed.kind else {
            panic!("{key} is not a raw key");
        };
        assert_eq!(&parsed.origin.raw_key(*first_secs, uuid), key, "canonical");
        let body = get(store, full_key).await;
        let text = gunzip(&body).unwrap_or_else(|e| panic!("{key}: {e}"));
        assert!(text.ends_with('\n'), "{key}: JSON lines end with a newline");
        let mut first_ts = None;
        for line in text.lines() {
            let rec: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{key}: {e}: {line}"));
            // The msgpack mode's records are NF1: the reader decodes them.
            assert_eq!(
                nf::is_nf_line(line.as_bytes()),
                mode == Mode::Msgpack,
                "{key}: {line}"
            );
            let rec = if mode == Mode::Msgpack {
                nf::decode_record(rec).unwrap_or_else(|e| panic!("{key}: {e}: {line}"))
            } else {
                rec
            };
            let afterlog = &rec[field::AFTERLOG];
            let ts = rec[field::TS].as_u64().expect("ts");
            let off = rec[field::OFF].as_u64().expect("off");
            first_ts.get_or_insert(ts);
            if afterlog.get(label::EVENT).is_some() {
                assert_eq!(afterlog[label::TOOL], "noisy-tool", "{key}: {line}");
                continue;
            }
            let got = field_names(&rec);
            assert_eq!(got, fields, "{key}: fields of {line}");
            let cid = afterlog[label::CONTAINER_ID]
                .as_str()
                .expect("container_id");
            let place = (cid, parsed.origin.container.as_str(), ts, off);
            let w = by_place
                .get(&place)
                .unwrap_or_else(|| panic!("{key}: a record nobody wrote: {line}"));
            assert!(w.expect.is_some(), "{key}: a non-tool line was uploaded");
            assert_eq!(rec[field::LOG], w.log.as_str(), "{key}: {line}");
            assert_eq!(rec[field::STREAM], w.stream.as_str(), "{key}: {line}");
            assert_eq!(*afterlog, w.labels(), "{key}: {line}");
            assert_eq!(
                afterlog[label::CLASS],
                class,
                "{full_key}: stored by its class's output"
            );
            records += 1;
            distinct.insert((cid.to_string(), ts, off));
        }
        let first_ts = first_ts.unwrap_or_else(|| panic!("{key} is empty"));
        // Timer uploads are keyed by the first record's time, shutdown and
        // restart uploads later (docs/fluent-bit-facts.md): never earlier.
        assert!(
            u64::try_from(*first_secs).unwrap() >= first_ts / NS,
            "{key}: keyed before its first record ({first_ts})"
        );
    }
    (keys.len(), records, distinct.len())
}
