//! Listing a job's (or a tool's) objects, parsed, with keys outside the
//! layout counted and warned.

use super::fetch::list;
use super::stats::ReadStats;
use super::stores::Stores;
use crate::store::StoreError;
use afterlog_contract::layout::{self, ObjectKey, ObjectKind};
use object_store::ObjectStore;

/// A listed object of the job, parsed.
#[derive(Debug, Clone)]
pub struct Listed {
    pub key: String,
    pub parsed: ObjectKey,
    /// Stored (compressed) size.
    pub size: u64,
    /// When the store received it, seconds since the epoch.
    pub modified_secs: i64,
    /// Raw objects: the event time of the first record, read from the
    /// object's head by [`JobIndex::load`](super::JobIndex::load); `None` if it could not be read.
    pub first_ts: Option<u64>,
    /// Raw objects of Kubernetes events read whole with their head: the
    /// earliest time of their records (see [`ObjectHead::lowest_ts`](super::ObjectHead::lowest_ts)).
    pub lowest_ts: Option<u64>,
    /// Which of the read's [`Stores`] holds it (0 for a single store).
    pub store: usize,
}

impl Listed {
    pub fn is_raw(&self) -> bool {
        matches!(self.parsed.kind, ObjectKind::Raw { .. })
    }

    /// A raw object's earliest possible record time, as a read places it
    /// (`None`: its head was not read or is unreadable).
    pub fn lower_ts(&self) -> Option<u64> {
        super::bounds::raw_lower(self)
    }
}

/// Lists `raw/` and `data/` of a job (or of a tool, with `job` = `None`)
/// in store number `store_ix` of a read.
pub(super) async fn list_objects(
    store: &dyn ObjectStore,
    store_ix: usize,
    tool: &str,
    job: Option<&str>,
    warnings: &mut Vec<String>,
    stats: &mut ReadStats,
) -> Result<Vec<Listed>, StoreError> {
    list_objects_in(
        store,
        store_ix,
        tool,
        job,
        &[layout::RAW, layout::DATA],
        warnings,
        stats,
    )
    .await
}

/// [`list_objects`] under the tops named (`raw`, `data`).
pub(super) async fn list_objects_in(
    store: &dyn ObjectStore,
    store_ix: usize,
    tool: &str,
    job: Option<&str>,
    tops: &[&str],
    warnings: &mut Vec<String>,
    stats: &mut ReadStats,
) -> Result<Vec<Listed>, StoreError> {
    let mut out = Vec::new();
    for &top in tops {
        let prefix = match job {
            Some(job) => layout::job_prefix(top, tool, job),
            None => layout::tool_prefix(top, tool),
        };
        for m in list(store, &prefix).await? {
            let key = m.location.to_string();
            match layout::parse_object_key(&key) {
                // Encoding is exact, so these hold unless the key is foreign.
                Ok(parsed)
                    if parsed.origin.tool == tool && job.is_none_or(|j| parsed.origin.job == j) =>
                {
                    out.push(Listed {
                        key,
                        parsed,
                        size: m.size,
                        modified_secs: m.last_modified.timestamp(),
                        first_ts: None,
                        lowest_ts: None,
                        store: store_ix,
                    })
                }
                Ok(_) => {
                    stats.foreign_keys += 1;
                    warnings.push(format!("{key}: not under {prefix}"));
                }
                Err(e) => {
                    stats.foreign_keys += 1;
                    warnings.push(format!("skipped {e}"));
                }
            }
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

/// The raw objects of a job in every one of `stores`, by key (a follow's
/// view of what arrived), with keys outside the layout counted and warned.
pub async fn list_raw(
    stores: &Stores,
    tool: &str,
    job: &str,
) -> Result<(Vec<Listed>, Vec<String>, ReadStats), StoreError> {
    let (mut warnings, mut stats) = (Vec::new(), ReadStats::default());
    let mut all = Vec::new();
    for (i, s) in stores.iter().enumerate() {
        all.extend(
            list_objects_in(
                s.as_ref(),
                i,
                tool,
                Some(job),
                &[layout::RAW],
                &mut warnings,
                &mut stats,
            )
            .await?,
        );
    }
    all.sort_by(|a, b| (&a.key, a.store).cmp(&(&b.key, b.store)));
    Ok((all, warnings, stats))
}
