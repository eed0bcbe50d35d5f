//! The objects the demo writes: raw uploads, and what the compactor makes
//! of one pod's, in a local directory used as the object store's root.

use crate::uploads::{Route, Upload};
use crate::{MINUTE, S};
use afterlog_contract::layout::meta_key;
use afterlog_reader::merge::sort_records;
use afterlog_reader::meta::{ConsumedRaw, META_VERSION, MergedObject, PodInfo, PodMeta};
use afterlog_reader::record::LogRecord;
use afterlog_sim::k8s::hex_id;
use anyhow::{Context, Result, bail};
use flate2::Compression;
use flate2::write::GzEncoder;
use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

/// What the compactor leaves of a pod's settled raw objects (docs/design.md §5): the
/// merged `data/` object, the pod's meta listing the raw keys as consumed,
/// and one of those raw objects, as if the compactor had stopped while
/// deleting them, so readers must skip it. Returns the objects to write as
/// `(put_ns, key, body)`.
pub(crate) fn compact(route: &Route, consumed: &[Upload]) -> Result<Vec<(u64, String, Vec<u8>)>> {
    let mut records = Vec::new();
    for u in consumed {
        for line in &u.lines {
            records.push(LogRecord::parse(line.clone()).context("parsing the filter's output")?);
        }
    }
    sort_records(&mut records);
    records.dedup_by(|a, b| a.identity() == b.identity());
    let (Some(first), Some(last)) = (records.first(), records.last()) else {
        bail!("nothing to compact for {}", route.origin.pod);
    };
    let (first_ts, last_ts) = (first.ts, last.ts);
    let body = gzip(records.iter().map(|r| r.line.as_slice()))?;
    let id = &hex_id(&format!("{}/{first_ts}/{last_ts}", route.origin.route()))[..16];
    let data_key = route.origin.data_key(first_ts, last_ts, id);
    let settled = consumed.iter().map(|u| u.put_ns).max().unwrap_or(last_ts);
    let since_ns = settled + 20 * MINUTE;
    let mut keys: Vec<&Upload> = consumed.iter().collect();
    keys.sort_by(|a, b| a.key.cmp(&b.key));
    let meta = PodMeta {
        version: META_VERSION,
        merged: vec![MergedObject {
            key: data_key.clone(),
            first_ts,
            last_ts,
            lines: records.len() as u64,
            bytes: body.len() as u64,
        }],
        consumed: keys
            .iter()
            .map(|u| ConsumedRaw {
                key: u.key.clone(),
                since_ns,
            })
            .collect(),
        pod: Some(PodInfo {
            node: route.node.clone(),
            kind: route.kind.clone(),
            containers: [(
                route.origin.container.clone(),
                vec![route.container_id.clone()],
            )]
            .into(),
            ..PodInfo::default()
        }),
    };
    let o = &route.origin;
    let mut meta_body = serde_json::to_vec_pretty(&meta)?;
    meta_body.push(b'\n');
    // The deletion of the consumed objects was interrupted after all but the newest.
    let kept = keys.last().context("no consumed uploads")?;
    Ok(vec![
        (since_ns - S, data_key, body),
        (since_ns, meta_key(&o.tool, &o.job, &o.pod), meta_body),
        (
            kept.put_ns,
            kept.key.clone(),
            gzip(kept.lines.iter().map(Vec::as_slice))?,
        ),
    ])
}

/// An object body: JSON lines, gzipped as a whole.
pub(crate) fn gzip<'a>(lines: impl IntoIterator<Item = &'a [u8]>) -> Result<Vec<u8>> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    for line in lines {
        e.write_all(line)?;
        e.write_all(b"\n")?;
    }
    Ok(e.finish()?)
}

pub(crate) fn put(dir: &Path, key: &str, body: &[u8], put_ns: u64) -> Result<()> {
    let path = dir.join(key);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(&path, body).with_context(|| format!("writing {}", path.display()))?;
    std::fs::File::options()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_modified(UNIX_EPOCH + Duration::from_nanos(put_ns)))
        .with_context(|| format!("setting the time of {}", path.display()))
}
