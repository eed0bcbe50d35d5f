//! The store reads handlers share: a tool's jobs, a job's index (404 when
//! nothing is stored), and the first record of an object.

use super::state::AppState;
use crate::classes::StoreId;
use crate::reply::ApiError;
use afterlog_reader::index::Scope;
use afterlog_reader::job::{JobIndex, JobSummary, Listed, ObjectHead, list_jobs_all, read_head};

/// The jobs of a tool from the listing of every class's store: 404 if
/// nothing is stored for it.
pub async fn tool_jobs(app: &AppState, tool: &str) -> Result<Vec<JobSummary>, ApiError> {
    let listed = list_jobs_all(app.classes.stores(), tool)
        .await
        .map_err(ApiError::store)?;
    found(listed.is_empty(), listed, format_args!("tool {tool:?}"))
}

/// `v`, or 404 if it is `empty`: nothing stored for `what`.
fn found<T>(empty: bool, v: T, what: std::fmt::Arguments) -> Result<T, ApiError> {
    if empty {
        return Err(ApiError::not_found(format!("no logs stored for {what}")));
    }
    Ok(v)
}

/// Loads the part of a job's index `scope` selects from every class's
/// store: 404 if nothing is stored for the job in any.
pub async fn job_index(
    app: &AppState,
    tool: &str,
    job: &str,
    scope: Scope,
) -> Result<JobIndex, ApiError> {
    let ix = JobIndex::load_scoped(app.classes.stores(), tool, job, &app.first_times, scope)
        .await
        .map_err(ApiError::store)?;
    found(
        ix.is_empty(),
        ix,
        format_args!("job {job:?} of tool {tool:?}"),
    )
}

/// Where an object to peek at is.
#[derive(Debug, Clone)]
pub struct ObjectAt {
    pub store: StoreId,
    pub key: String,
    pub size: u64,
}

impl ObjectAt {
    pub fn of(l: &Listed) -> ObjectAt {
        ObjectAt {
            store: StoreId(l.store),
            key: l.key.clone(),
            size: l.size,
        }
    }
}

/// The first record's labels of a stored object: remembered from the read
/// that placed the object, else read from its first few KiB (and then
/// remembered). A store failure is logged here and counted by the store's
/// metrics (`afterlog_store_failures_total`); the page goes without.
pub async fn peek(app: &AppState, at: &ObjectAt, listed: Option<&Listed>) -> Option<ObjectHead> {
    if let Some(h) = listed.and_then(|l| app.first_times.head(l)) {
        return Some(h);
    }
    let s = app.classes.store(at.store)?;
    match read_head(s.as_ref(), &at.key, at.size).await {
        Ok(h) => {
            if let Some(l) = listed {
                app.first_times.put(l, h.clone());
            }
            Some(h)
        }
        Err(e) => {
            tracing::warn!(key = at.key, error = %e, "reading an object's first record failed");
            None
        }
    }
}
