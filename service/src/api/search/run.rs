//! A search under way: window after window ([`Slices`]), the jobs that
//! may hold lines in it read several at once, their matches ordered and
//! handed out a window at a time, until the limit.

use super::slices::Slices;
use super::{Place, Search};
use crate::api::load::job_index;
use crate::api::state::App;
use crate::reply::ApiError;
use afterlog_reader::index::Scope;
use afterlog_reader::job::{JobIndex, RAW_SLACK_NS};
use afterlog_reader::{JobReader, Limit, LogRecord, Selection, read_tail};
use axum::http::StatusCode;
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::Arc;

/// Jobs read at once: enough to keep both cores and the store busy.
const JOBS_AT_ONCE: usize = 4;

/// A job to search, with the times its listing knows: its oldest key's,
/// and the newest time a record of it can have (give or take the slack).
#[derive(Debug, Clone)]
pub struct JobAt {
    pub job: String,
    pub first_ns: Option<u64>,
    pub last_ns: Option<u64>,
}

impl JobAt {
    /// Whether the job may have records at or after `t`: a listing's times
    /// of raw objects are upload times, and a record may be up to the
    /// slack newer than its upload (never surely older).
    fn may_reach(&self, t: u64) -> bool {
        self.last_ns
            .is_none_or(|l| l.saturating_add(RAW_SLACK_NS) >= t)
    }
}

/// A job, its matches in a window, and what their read skipped.
type JobMatches = (String, Vec<LogRecord>, Vec<String>);

/// One match: where it is in the search's order, and the record.
pub type Found = (Place, LogRecord);

pub struct SearchRun<'a> {
    app: &'a App,
    tool: &'a str,
    s: &'a Search,
    jobs: Vec<JobAt>,
    slices: Slices,
    /// Each job's index, loaded for the whole window when first needed;
    /// `None` for a job gone since the listing.
    indexes: HashMap<String, Option<Arc<JobIndex>>>,
    /// Matches still to hand out; one more than the limit tells whether a
    /// next page exists.
    remaining: usize,
    pub warnings: Vec<String>,
}

impl<'a> SearchRun<'a> {
    pub fn new(app: &'a App, tool: &'a str, s: &'a Search, jobs: Vec<JobAt>) -> SearchRun<'a> {
        let window = s.selection();
        let (lo, hi) = (window.since.unwrap_or(0), window.until.unwrap_or(u64::MAX));
        let near = if s.newest {
            jobs.iter()
                .filter_map(|j| j.last_ns)
                .max()
                .map(|l| l.saturating_add(RAW_SLACK_NS))
        } else {
            jobs.iter().filter_map(|j| j.first_ns).min()
        };
        SearchRun {
            app,
            tool,
            s,
            jobs,
            slices: Slices::new(s.newest, lo, hi, near),
            indexes: HashMap::new(),
            remaining: s.limit + 1,
            warnings: Vec::new(),
        }
    }

    /// The matches of the next window that has any, in the search's order;
    /// `None` when the window is searched or the limit reached.
    pub async fn next_batch(&mut self) -> Result<Option<Vec<Found>>, ApiError> {
        while self.remaining > 0 {
            let Some((a, b)) = self.slices.next() else {
                return Ok(None);
            };
            let jobs: Vec<JobAt> = self
                .jobs
                .iter()
                .filter(|j| j.may_reach(a))
                .cloned()
                .collect();
            self.load(&jobs).await?;
            let batch = self.read(&jobs, a, b).await?;
            if !batch.is_empty() {
                self.remaining -= batch.len();
                return Ok(Some(batch));
            }
        }
        Ok(None)
    }

    /// Loads the indexes of `jobs` not loaded yet.
    async fn load(&mut self, jobs: &[JobAt]) -> Result<(), ApiError> {
        let scope = Scope::of_selection(&self.s.selection());
        let missing: Vec<String> = jobs
            .iter()
            .filter(|j| !self.indexes.contains_key(&j.job))
            .map(|j| j.job.clone())
            .collect();
        let loaded: Vec<(String, Result<JobIndex, ApiError>)> = futures::stream::iter(missing)
            .map(|job| {
                // Owned: the futures run on a stream the compiler must see
                // as valid for any lifetime.
                let (app, tool) = (self.app.clone(), self.tool.to_string());
                async move {
                    let ix = job_index(&app, &tool, &job, scope).await;
                    (job, ix)
                }
            })
            .buffer_unordered(JOBS_AT_ONCE)
            .collect()
            .await;
        for (job, ix) in loaded {
            let ix = match ix {
                Ok(ix) => Some(Arc::new(ix)),
                // Gone since the listing (retention, deletion): nothing to find.
                Err(e) if e.status == StatusCode::NOT_FOUND => None,
                Err(e) => return Err(e),
            };
            self.indexes.insert(job, ix);
        }
        Ok(())
    }

    /// The matches of `jobs` in `[a, b)`, at most `remaining`, ordered.
    async fn read(&mut self, jobs: &[JobAt], a: u64, b: u64) -> Result<Vec<Found>, ApiError> {
        let n = self.remaining;
        let s = self.s;
        let window = Selection {
            since: Some(a),
            until: Some(b),
            ..s.selection()
        };
        // Each job's part of the window past the cursor, decided here: the
        // futures below own what they use.
        let work: Vec<(String, Arc<JobIndex>, Selection)> = jobs
            .iter()
            .filter_map(|j| {
                let ix = self.indexes.get(&j.job).and_then(Option::clone)?;
                let sel = s.past_cursor_of(&j.job, window.clone())?;
                Some((j.job.clone(), ix, sel))
            })
            .collect();
        let per_job: Vec<Result<JobMatches, ApiError>> = futures::stream::iter(work)
            .map(|(job, index, sel)| {
                let (app, newest) = (self.app.clone(), s.newest);
                async move {
                    let (records, warnings) = job_matches(&app, &index, sel, newest, n).await?;
                    Ok((job, records, warnings))
                }
            })
            .buffer_unordered(JOBS_AT_ONCE)
            .collect()
            .await;
        let mut found: Vec<Found> = Vec::new();
        for r in per_job {
            let (job, records, warnings) = r?;
            for w in warnings {
                if !self.warnings.contains(&w) {
                    self.warnings.push(w);
                }
            }
            found.extend(
                records
                    .into_iter()
                    .map(|r| (Place::of(&job, &r), r))
                    .filter(|(p, _)| s.past_cursor(p)),
            );
        }
        if s.newest {
            found.sort_by(|x, y| y.0.cmp(&x.0));
        } else {
            found.sort_by(|x, y| x.0.cmp(&y.0));
        }
        found.truncate(n);
        Ok(found)
    }
}

/// Up to `n` matches of one job in `window`: its newest for a newest-first
/// search, else its oldest; with what the read skipped.
async fn job_matches(
    app: &App,
    index: &JobIndex,
    window: Selection,
    newest: bool,
    n: usize,
) -> Result<(Vec<LogRecord>, Vec<String>), ApiError> {
    let stores = app.classes.stores().clone();
    if newest {
        let log = read_tail(stores, index, window, n)
            .await
            .map_err(ApiError::store)?;
        app.metrics.read(&log.stats);
        return Ok((log.records, log.warnings));
    }
    let mut rd = JobReader::new(
        stores,
        index,
        Selection {
            limit: Limit::Head(n),
            ..window
        },
    );
    let mut records = Vec::new();
    while let Some(r) = rd.next().await.map_err(ApiError::store)? {
        records.push(r);
    }
    app.metrics.read(&rd.stats);
    Ok((records, rd.warnings))
}
