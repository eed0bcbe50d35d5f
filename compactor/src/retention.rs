//! Keeping a tool within its retention limits: whole days of a job's index
//! are removed, oldest first. Removing a day is one conditional write of the
//! job's manifest, which stops naming the day's period and lists it and its
//! chunks as consumed: readers stop reading them at once, and cleanup
//! deletes them a grace period later (a read under way finishes first).

use crate::versioned::{self, Versioned};
use crate::{CompactError, Compactor, Lease, Report, names_under};
use afterlog_contract::layout;
use afterlog_reader::meta::ConsumedRaw;
use std::collections::BTreeMap;

/// A day of a job and what it holds.
#[derive(Debug, Clone)]
struct Day {
    job: String,
    day: u32,
    bytes: u64,
    runs: u64,
    chunks: u64,
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
    let jobs = names_under(store, &layout::tool_prefix(layout::INDEX, tool)).await?;
    let mut manifests: BTreeMap<String, Versioned> = BTreeMap::new();
    let mut days = Vec::new();
    for job in &jobs {
        let v = versioned::read(store, &layout::manifest_key(tool, job)).await?;
        if v.version.is_none() {
            continue;
        }
        for p in &v.manifest.periods {
            days.push(Day {
                job: job.clone(),
                day: p.day,
                bytes: p.bytes,
                runs: p.runs,
                chunks: p.chunks.len() as u64,
                last_ns: p.last_ts,
            });
        }
        manifests.insert(job.clone(), v);
    }
    days.sort_by(|a, b| (a.last_ns, &a.job, a.day).cmp(&(b.last_ns, &b.job, b.day)));
    let now = c.now();
    let cutoff = limits
        .max_age_days
        .map(|d| now.saturating_sub(d.saturating_mul(86_400_000_000_000)));
    let mut total: u64 = days.iter().map(|d| d.bytes).sum();
    let mut expired: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for d in days {
        let too_old = cutoff.is_some_and(|t| d.last_ns < t);
        let too_big = limits.max_bytes.is_some_and(|m| total > m);
        if !too_old && !too_big {
            break;
        }
        tracing::info!(
            class = %c.class,
            tool,
            job = %d.job,
            day = d.day,
            bytes = d.bytes,
            runs = d.runs,
            reason = if too_old { "max_age_days" } else { "max_bytes" },
            "retention: removing a day of a job"
        );
        total = total.saturating_sub(d.bytes);
        report.runs_expired += d.runs;
        report.objects_expired += d.chunks;
        report.bytes_expired += d.bytes;
        expired.entry(d.job).or_default().push(d.day);
    }
    for (job, gone) in expired {
        lease.keep(store, c.now()).await?;
        let Some(mut v) = manifests.remove(&job) else {
            continue;
        };
        let m = &mut v.manifest;
        let (out, keep): (Vec<_>, Vec<_>) =
            m.periods.drain(..).partition(|p| gone.contains(&p.day));
        m.periods = keep;
        for p in out {
            m.consumed.push(ConsumedRaw {
                key: p.key,
                since_ns: now,
            });
            m.consumed.extend(
                p.chunks
                    .into_iter()
                    .map(|key| ConsumedRaw { key, since_ns: now }),
            );
        }
        m.generation += 1;
        versioned::write(store, &layout::manifest_key(tool, &job), &v).await?;
    }
    Ok(())
}
