//! The per-pod layout, which readers still read and the compactor migrates
//! to the job index: merged objects under `data/`, and a meta per pod
//! listing them and the raw objects they consumed.

use crate::store::put;
use crate::{SECS, T0, gz};
use afterlog_contract::layout::{Origin, meta_key};
use afterlog_reader::Store;
use afterlog_reader::meta::{ConsumedRaw, MergedObject, PodInfo, PodMeta};

/// The `ts` of a stored line.
fn ts(line: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(line).expect("a stored line is JSON");
    v["ts"].as_u64().expect("a stored line has a ts")
}

/// Writes `o`'s container compacted in the per-pod layout: `merged` (its
/// stored lines, in order) in the merged object `name`; the raw object
/// `uuid`, uploaded at [`SECS`], that they came from, still there and
/// holding `consumed` (a reader skips it: the meta lists it); and the pod's
/// meta listing both, with the container id `cid-<pod>-<container>` on
/// node-1. Returns that meta, for a test to add to and write again.
pub async fn compacted_pod(
    store: &Store,
    o: &Origin,
    name: &str,
    merged: &[String],
    uuid: &str,
    consumed: &[String],
) -> PodMeta {
    let (first_ts, last_ts) = (ts(&merged[0]), ts(&merged[merged.len() - 1]));
    let data_key = o.data_key(first_ts, last_ts, name);
    let body = gz(merged);
    let bytes = body.len() as u64;
    put(store, &data_key, body).await;
    let raw_key = o.raw_key(SECS as i64, uuid);
    put(store, &raw_key, gz(consumed)).await;
    let meta = PodMeta {
        version: 1,
        merged: vec![MergedObject {
            key: data_key,
            first_ts,
            last_ts,
            lines: merged.len() as u64,
            bytes,
        }],
        consumed: vec![ConsumedRaw {
            key: raw_key,
            since_ns: T0,
        }],
        pod: Some(PodInfo {
            node: "node-1".into(),
            kind: "job".into(),
            containers: [(
                o.container.clone(),
                vec![format!("cid-{}-{}", o.pod, o.container)],
            )]
            .into(),
            ..PodInfo::default()
        }),
    };
    put_meta(store, o, &meta).await;
    meta
}

/// Writes `meta` as the meta of `o`'s pod.
pub async fn put_meta(store: &Store, o: &Origin, meta: &PodMeta) {
    let body = serde_json::to_vec(meta).expect("a meta serializes");
    put(store, &meta_key(&o.tool, &o.job, &o.pod), body).await;
}
