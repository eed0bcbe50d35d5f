//! The data set `afterlog demo` serves: what a small Toolforge-like cluster
//! leaves in the bucket after a few hours.
//!
//! Nothing here imitates the filter. Sample CRI lines become the records
//! Fluent Bit 5.1.1 hands the wasm filter (docs/design.md §2), the filter's own core
//! runs on them natively, and its output is grouped and gzipped the way
//! Fluent Bit's `s3` output uploads it (docs/design.md §3). So the demo stores exactly
//! what a deployment would, and follows the filter when its output changes.
//! On top of that come the faults of at-least-once delivery (a retried
//! upload, an upload PUT late) and what the compactor makes of one pod (§5).
//!
//! The parts, in the order the data set is made: `workloads` (what each
//! job writes) on the `cluster` (pods, their CRI files, the records Fluent
//! Bit makes of them), the `filter` on those records, `uploads` (the
//! `s3` output's PUTs) and `store` (the objects written, compacted or not).

mod cluster;
mod filter;
mod store;
mod uploads;
mod workloads;

use afterlog_sim::Rng;
use anyhow::{Context, Result, ensure};
use cluster::Cluster;
use std::path::Path;
use uploads::Upload;

/// What the demo data set contains, for printing URLs to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoSummary {
    pub jobs: Vec<DemoJob>,
    /// Objects written under `raw/`, `data/` and `meta/`.
    pub objects: usize,
    /// Distinct records stored: what the filter emitted for the bucket.
    pub records: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoJob {
    pub tool: String,
    pub job: String,
    pub kind: String,
    /// One line: what to look at.
    pub note: String,
}

const S: u64 = 1_000_000_000;
const MINUTE: u64 = 60 * S;
const HOUR: u64 = 60 * MINUTE;
/// The tool whose small quota the demo spends.
const NOISY: &str = "chatterbox";
const NOISY_BYTES: u64 = 8000;
const NOISY_WINDOW_SECS: u64 = 600;
/// What Fluent Bit's `$UUID` is made of: eight random alphanumerics.
const ALNUM: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// Writes the data set under `dir` (a local directory used as object store
/// root). Deterministic given `now_ns`: records are placed in the hours
/// before it. Replaces `dir/raw`, `dir/data` and `dir/meta`.
pub fn build(dir: &Path, now_ns: u64) -> Result<DemoSummary> {
    ensure!(
        (12 * HOUR..u64::from(u32::MAX) * S).contains(&now_ns),
        "now ({now_ns} ns) is outside the times Fluent Bit can pass the filter"
    );
    let mut c = Cluster::new();
    let mut jobs = vec![workloads::one_off(&mut c, now_ns - 5 * HOUR - 10 * MINUTE)];
    let (cron_job, cron_pods) = workloads::cron(&mut c, now_ns);
    jobs.push(cron_job);
    let (web_job, web_late) = workloads::web(&mut c, now_ns);
    jobs.push(web_job);
    jobs.push(workloads::image_build(
        &mut c,
        now_ns - 3 * HOUR - 25 * MINUTE,
    ));
    jobs.push(workloads::noisy(&mut c, now_ns));
    workloads::not_a_tool(&mut c, now_ns);
    jobs.sort_by(|a, b| (&a.tool, &a.job).cmp(&(&b.tool, &b.job)));

    let routes = filter::run(c)?;
    let records = routes.values().map(|r| r.records.len()).sum();
    let mut ids = Rng::new(0x00af_7e71_06de_0001);
    let mut uploads: Vec<Upload> = routes.values().flat_map(|r| r.uploads(&mut ids)).collect();

    // An upload PUT late: its first PUT failed and the retry came after the
    // next upload had gone through.
    let late: Vec<usize> = positions(&uploads, &web_late);
    ensure!(late.len() >= 3, "{web_late} has too few uploads to reorder");
    uploads[late[1]].put_ns = uploads[late[2]].put_ns + 40 * S;

    // A retried upload: the first PUT succeeded but its answer was lost, so
    // Fluent Bit sent the same records again under a new key.
    let retried = positions(&uploads, &cron_pods[2]);
    let mut again = uploads[retried[0]].clone();
    again.put_ns += 30 * S;
    again.key = again
        .origin
        .raw_key(again.first_secs(), &ids.word(ALNUM, 8));
    uploads.push(again);

    let mut objects = Vec::new();
    let compacted = positions(&uploads, &cron_pods[0]);
    ensure!(compacted.len() >= 2, "{} has too few uploads", cron_pods[0]);
    let consumed: Vec<Upload> = compacted.iter().rev().map(|&i| uploads.remove(i)).collect();
    let route = routes
        .values()
        .find(|r| r.origin.pod == cron_pods[0])
        .context("the compacted pod has no records")?;
    objects.extend(store::compact(route, &consumed)?);

    for u in &uploads {
        let body = store::gzip(u.lines.iter().map(Vec::as_slice))?;
        objects.push((u.put_ns, u.key.clone(), body));
    }
    // Written in upload order, with the upload time as modification time,
    // which is what an object store lists as `last_modified`.
    objects.sort();
    ensure!(
        objects.iter().all(|o| o.0 <= now_ns),
        "the demo would have uploads from the future"
    );
    for sub in ["raw", "data", "meta"] {
        match std::fs::remove_dir_all(dir.join(sub)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing {}", dir.join(sub).display()));
            }
            _ => {}
        }
    }
    for (put_ns, key, body) in &objects {
        store::put(dir, key, body, *put_ns)?;
    }
    Ok(DemoSummary {
        jobs,
        objects: objects.len(),
        records,
    })
}

fn positions(uploads: &[Upload], pod: &str) -> Vec<usize> {
    (0..uploads.len())
        .filter(|&i| uploads[i].origin.pod == pod)
        .collect()
}
