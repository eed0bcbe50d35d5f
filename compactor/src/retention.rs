//! Keeping a tool within its retention limits: whole runs (pods) are
//! removed, oldest first, meta → merged → raw (DESIGN §5), so that a crash
//! half-way leaves objects that still read correctly (without the meta,
//! consumed raw objects count again and deduplicate against merged ones)
//! and that the next pass removes.

use crate::{CompactError, Compactor, Lease, Report, delete_if_present, names_under, versioned};
use afterlog_contract::layout;
use afterlog_reader::job::JobIndex;
use futures::TryStreamExt;
use object_store::path::Path;

/// A run and what it holds.
#[derive(Debug, Clone)]
struct Run {
    job: String,
    pod: String,
    bytes: u64,
    objects: u64,
    /// Event time (ns) of its newest line, as far as keys and meta tell.
    last_ns: u64,
}

pub async fn apply(
    c: &Compactor,
    lease: &mut Lease,
    tool: &str,
    report: &mut Report,
) -> Result<(), CompactError> {
    let limits = c.config.retention.limits(&c.class, tool);
    if limits.max_bytes.is_none() && limits.max_age_days.is_none() {
        return Ok(());
    }
    let store = c.store.as_ref();
    let mut jobs = std::collections::BTreeSet::new();
    for top in [layout::RAW, layout::DATA, layout::META] {
        jobs.extend(names_under(store, &layout::tool_prefix(top, tool)).await?);
    }
    let mut runs = Vec::new();
    for job in &jobs {
        let ix = JobIndex::load(store, tool, job).await?;
        for r in ix.runs() {
            let meta_last = ix
                .pod_metas(&r.pod)
                .filter_map(|m| m.pod.as_ref()?.last_ts)
                .max();
            let upload = r
                .summary
                .last_upload_secs
                .map(|s| (s.max(0) as u64).saturating_mul(1_000_000_000));
            runs.push(Run {
                job: job.clone(),
                pod: r.pod,
                bytes: r.summary.bytes,
                objects: r.summary.objects,
                last_ns: [r.summary.last_ns, meta_last, upload]
                    .into_iter()
                    .flatten()
                    .max()
                    .unwrap_or(0),
            });
        }
        // Metas of runs whose objects are all gone (a crash after the
        // meta's objects went? no: meta goes first) — nothing to do.
    }
    runs.sort_by(|a, b| (a.last_ns, &a.job, &a.pod).cmp(&(b.last_ns, &b.job, &b.pod)));
    let now = c.now();
    let cutoff = limits
        .max_age_days
        .map(|d| now.saturating_sub(d.saturating_mul(86_400_000_000_000)));
    let mut total: u64 = runs.iter().map(|r| r.bytes).sum();
    for run in runs {
        let too_old = cutoff.is_some_and(|t| run.last_ns < t);
        let too_big = limits.max_bytes.is_some_and(|m| total > m);
        if !too_old && !too_big {
            break;
        }
        lease.keep(store, c.now()).await?;
        tracing::info!(
            class = %c.class,
            tool,
            job = %run.job,
            pod = %run.pod,
            bytes = run.bytes,
            objects = run.objects,
            reason = if too_old { "max_age_days" } else { "max_bytes" },
            "retention: removing run"
        );
        remove_run(c, tool, &run, report).await?;
        total = total.saturating_sub(run.bytes);
    }
    Ok(())
}

async fn remove_run(
    c: &Compactor,
    tool: &str,
    run: &Run,
    report: &mut Report,
) -> Result<(), CompactError> {
    let store = c.store.as_ref();
    versioned::delete(store, &layout::meta_key(tool, &run.job, &run.pod)).await?;
    for top in [layout::DATA, layout::RAW] {
        let prefix = format!(
            "{}{}/",
            layout::job_prefix(top, tool, &run.job),
            afterlog_contract::keys::encode(&run.pod)
        );
        let listed: Vec<_> = match store.list(Some(&Path::from(prefix))).try_collect().await {
            Ok(v) => v,
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        for m in listed {
            let key = m.location.to_string();
            if delete_if_present(store, &key).await? {
                report.objects_expired += 1;
                report.bytes_expired += m.size;
                tracing::info!(key, "retention: deleted");
            }
        }
    }
    report.runs_expired += 1;
    Ok(())
}
