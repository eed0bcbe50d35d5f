//! `GET /v1/tool/{tool}/jobs/{job}/volume`: a job's lines and bytes per
//! step and stream, its quota events and runs. Where the job is compacted
//! the counts are the index's per-minute counts (only the periods of the
//! window are loaded); what is not compacted yet is read and counted
//! (`afterlog_reader::volume` puts both together).

use crate::admission::Work;
use crate::api::extract::{ApiQuery, JobAccess, JobPath};
use crate::api::load::job_index;
use crate::api::logs::request::{parse_time, word};
use crate::api::openapi::{self, Busy, Missing, ToolErrors};
use crate::api::state::App;
use crate::clock::now_ns;
use crate::reply::ApiError;
use crate::wire::{Messages, VolumeBucket, VolumeQuotaEvent, VolumeResponse, VolumeRun};
use afterlog_contract::query::Events;
use afterlog_contract::time::rfc3339_nanos;
use afterlog_reader::index::Scope;
use afterlog_reader::volume::{Buckets, NS_PER_SEC, ReadRanges, Volume, VolumeCounts, VolumeError};
use afterlog_reader::{JobReader, Selection};
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use std::collections::HashSet;
use utoipa::IntoParams;

/// Reading more than this many stored bytes of objects not compacted yet
/// makes a volume heavy: it waits for a read's share of the memory budget.
const HEAVY_READ_BYTES: u64 = 8 << 20;

/// The largest default step: the window is loaded in whole ones of them
/// when no step is given.
const DAY_NS: u64 = 86_400 * NS_PER_SEC;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct VolumeQuery {
    /// From (widened to the step): RFC 3339, ns since the epoch, or an
    /// age such as `2h`, `7d`. Default: the job's first record.
    #[param(schema_with = openapi::time)]
    pub since: Option<String>,
    /// Until (widened to the step; same forms). Default: after the job's
    /// last record.
    #[param(schema_with = openapi::time)]
    pub until: Option<String>,
    /// The bucket size: `60s`, `5m`, `1h`, `1d`…, a whole number of
    /// minutes. Default: the smallest of 1m, 5m, 15m, 1h, 6h, 1d giving at
    /// most 200 buckets. At most 10000 buckets.
    #[param(schema_with = openapi::step)]
    pub step: Option<String>,
    /// The job's Kubernetes events, counted on their own (`event_lines`,
    /// `event_bytes`): `include` (default), `only` (no container lines nor
    /// quota events) or `none`.
    #[param(schema_with = openapi::events)]
    pub events: Option<String>,
}

/// A checked volume request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VolumeRequest {
    pub since: Option<u64>,
    pub until: Option<u64>,
    pub step_secs: Option<u64>,
    pub events: Events,
}

/// `step`: a whole number of minutes, in seconds.
fn parse_step(v: &str) -> Result<u64, ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "step={v:?}: expected a duration of whole minutes such as 60s, 5m, 1h, 1d"
        ))
    };
    // The unit is the last character, whatever it is (it may not be ASCII).
    let at = v.char_indices().last().map_or(0, |(i, _)| i);
    let (num, unit) = v.split_at(at);
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u64 = num.parse().map_err(|_| bad())?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    match n.checked_mul(unit) {
        Some(s) if s > 0 && s.is_multiple_of(60) && s <= u64::MAX / NS_PER_SEC => Ok(s),
        _ => Err(bad()),
    }
}

fn bad_window(e: VolumeError, q: &VolumeQuery) -> ApiError {
    let show = |v: &Option<String>| v.as_deref().unwrap_or("").to_string();
    ApiError::bad_request(match e {
        VolumeError::Empty => format!(
            "since={:?} must be before until={:?}",
            show(&q.since),
            show(&q.until)
        ),
        e => e.to_string(),
    })
}

impl VolumeQuery {
    pub fn check(&self, now_ns: u64) -> Result<VolumeRequest, ApiError> {
        let time = |what, v: &Option<String>| {
            v.as_deref()
                .map(|v| parse_time(what, v, now_ns))
                .transpose()
        };
        let req = VolumeRequest {
            since: time("since", &self.since)?,
            until: time("until", &self.until)?,
            step_secs: self.step.as_deref().map(parse_step).transpose()?,
            events: word(self.events.as_deref())?.unwrap_or_default(),
        };
        // Refused before anything is loaded when the window is known.
        if let (Some(since), Some(until)) = (req.since, req.until) {
            if since >= until {
                return Err(bad_window(VolumeError::Empty, self));
            }
            Buckets::new(since, until, req.step_secs).map_err(|e| bad_window(e, self))?;
        }
        Ok(req)
    }
}

impl VolumeRequest {
    /// The periods to load: the window widened to whole steps (whole days
    /// without a step: every default step divides a day).
    pub fn scope(&self) -> Scope {
        let unit = self.step_secs.map_or(DAY_NS, |s| s * NS_PER_SEC);
        Scope {
            since: self.since.map(|t| t - t % unit),
            until: self.until.map(|t| {
                (t - t % unit).saturating_add(if t.is_multiple_of(unit) { 0 } else { unit })
            }),
            ..Scope::ALL
        }
    }

    /// The buckets, once what the job holds is counted: a bound not given
    /// is the job's first or last record.
    fn buckets(&self, extent: Option<(u64, u64)>, q: &VolumeQuery) -> Result<Buckets, ApiError> {
        let since = self
            .since
            .or(extent.map(|e| e.0))
            .or(self.until)
            .unwrap_or(0);
        let until = self
            .until
            .or(extent.map(|e| e.1.saturating_add(1)))
            .unwrap_or(since)
            .max(since);
        Buckets::new(since, until, self.step_secs).map_err(|e| bad_window(e, q))
    }
}

/// A job's lines and bytes per step and stream (Kubernetes events on their
/// own), its quota events and runs.
#[utoipa::path(get, path = "/v1/tool/{tool}/jobs/{job}/volume", tag = "jobs",
    params(JobPath, VolumeQuery),
    responses((status = 200, body = VolumeResponse, content_type = "application/json"),
        ToolErrors, Missing, Busy))]
pub async fn volume(
    State(app): State<App>,
    JobAccess { who, tool, job }: JobAccess,
    ApiQuery(q): ApiQuery<VolumeQuery>,
) -> Result<Json<VolumeResponse>, ApiError> {
    let req = q.check(now_ns())?;
    let scope = req.scope();
    let index = job_index(&app, &tool, &job, scope).await?;
    let (lo, hi) = (scope.since.unwrap_or(0), scope.until.unwrap_or(u64::MAX));
    let plan = index.plan(&Selection {
        since: scope.since,
        until: scope.until,
        events: req.events,
        ..Selection::default()
    });
    // Objects not compacted yet, chunks indexed before the counts were,
    // chunks that overlap in time (a late upload, or a Kubernetes events
    // collector's re-list after a restart, compacted after its time: copies
    // of one line may be counted in both), and chunks that may hold lines
    // of a deletion request not rewritten yet:
    // their records are read (with whatever else overlaps them, so that
    // the merge drops copies and hides what is deleted).
    let pending = index.counted_hidden();
    let unindexed = plan
        .objects
        .iter()
        .filter(|p| p.lines.is_none())
        .map(|p| (p.lower, p.upper.unwrap_or(u64::MAX)))
        .chain(
            index
                .chunks
                .iter()
                .filter(|c| {
                    !c.chunk.has_volume()
                        || pending.overlaps(c.chunk.first_ts, c.chunk.last_ts.saturating_add(1))
                })
                .map(|c| (c.chunk.first_ts, c.chunk.last_ts)),
        )
        .chain(overlapping(
            index
                .chunks
                .iter()
                .map(|c| (c.chunk.first_ts, c.chunk.last_ts)),
        ));
    let read = ReadRanges::new(unindexed, lo, hi);
    let to_read: u64 = plan
        .objects
        .iter()
        .filter(|p| {
            read.ranges()
                .iter()
                .any(|&(a, b)| p.lower < b && p.upper.is_none_or(|u| u >= a))
        })
        .map(|p| p.size)
        .sum();
    let _ticket = if to_read > HEAVY_READ_BYTES {
        Some(
            app.admission
                .admit(Some(&who.name), Work::Read)
                .await
                .map_err(|e| ApiError::too_many(e.to_string(), e.retry_after()))?,
        )
    } else {
        None
    };

    let mut vol = Volume::new(read.clone()).of_events(req.events);
    for c in &index.chunks {
        if c.chunk.has_volume() {
            vol.add_minutes(&c.chunk.volume);
            vol.add_event_minutes(&c.chunk.events);
            vol.add_quota(c.chunk.quota.as_deref().unwrap_or_default());
        }
        for r in &c.chunk.runs {
            if vol.takes_run(r.containers.keys()) {
                vol.add_run(&r.pod, r.first_ts, r.last_ts);
            }
        }
    }
    let mut warnings = index.warnings.clone();
    for &(since, until) in read.ranges() {
        let mut rd = JobReader::new(
            app.classes.stores().clone(),
            &index,
            Selection {
                since: Some(since),
                until: Some(until),
                events: req.events,
                ..Selection::default()
            },
        );
        while let Some(r) = rd.next().await.map_err(ApiError::store)? {
            vol.add_record(&r);
        }
        warnings.extend(rd.warnings);
    }
    let mut seen = HashSet::new();
    warnings.retain(|w| seen.insert(w.clone()));

    let buckets = req.buckets(vol.extent(), &q)?;
    let counts = vol.finish(&buckets);
    Ok(Json(response(&buckets, counts, warnings)))
}

fn response(b: &Buckets, c: VolumeCounts, warnings: Vec<String>) -> VolumeResponse {
    VolumeResponse {
        messages: Messages::warnings(warnings),
        since: rfc3339_nanos(b.since),
        until: rfc3339_nanos(b.until),
        step_seconds: b.step_ns / NS_PER_SEC,
        buckets: c
            .buckets
            .iter()
            .enumerate()
            .map(|(i, n)| VolumeBucket {
                start: rfc3339_nanos(b.start(i)),
                stdout_lines: n.stdout_lines,
                stdout_bytes: n.stdout_bytes,
                stderr_lines: n.stderr_lines,
                stderr_bytes: n.stderr_bytes,
                event_lines: n.event_lines,
                event_bytes: n.event_bytes,
            })
            .collect(),
        quota_events: c
            .quota
            .into_iter()
            .map(|q| VolumeQuotaEvent {
                time: rfc3339_nanos(q.ts),
                ts: q.ts,
                event: q.event,
                records: q.records,
                bytes: q.bytes,
            })
            .collect(),
        runs: c
            .runs
            .into_iter()
            .map(|r| VolumeRun {
                run: r.run,
                first_time: rfc3339_nanos(r.first_ts),
                last_time: rfc3339_nanos(r.last_ts),
            })
            .collect(),
    }
}

/// Where spans of `spans` (`[first, last]`, inclusive) overlap: the
/// stretches of time more than one of them covers.
fn overlapping(spans: impl Iterator<Item = (u64, u64)>) -> Vec<(u64, u64)> {
    let mut v: Vec<(u64, u64)> = spans.collect();
    v.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::new();
    let mut reach: Option<u64> = None;
    for (first, last) in v {
        if let Some(r) = reach
            && first <= r
        {
            out.push((first, last.min(r)));
        }
        reach = Some(reach.map_or(last, |r| r.max(last)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use afterlog_reader::volume::MINUTE_NS;

    #[test]
    fn overlapping_chunks_are_told() {
        assert!(overlapping([(0, 9), (10, 19)].into_iter()).is_empty());
        assert_eq!(
            overlapping([(10, 19), (0, 9), (5, 12), (30, 40)].into_iter()),
            [(5, 9), (10, 12)]
        );
        // One long chunk under two short ones.
        assert_eq!(
            overlapping([(0, 100), (10, 20), (30, 40), (200, 300)].into_iter()),
            [(10, 20), (30, 40)]
        );
    }

    fn query(since: Option<&str>, until: Option<&str>, step: Option<&str>) -> VolumeQuery {
        VolumeQuery {
            since: since.map(String::from),
            until: until.map(String::from),
            step: step.map(String::from),
            events: None,
        }
    }

    #[test]
    fn steps_are_whole_minutes() {
        assert_eq!(parse_step("60s").unwrap(), 60);
        assert_eq!(parse_step("5m").unwrap(), 300);
        assert_eq!(parse_step("1h").unwrap(), 3600);
        assert_eq!(parse_step("1d").unwrap(), 86_400);
        for bad in [
            "",
            "0m",
            "90s",
            "1",
            "1w",
            "-1h",
            "h",
            "99999999999999999999d",
            "èô\u{4d004}",
            "5é",
            " 5m",
        ] {
            let e = parse_step(bad).unwrap_err();
            assert!(e.message.contains("step="), "{bad}: {}", e.message);
        }
    }

    #[test]
    fn windows_are_checked_before_loading() {
        let now = 100 * DAY_NS;
        let e = query(Some("1h"), Some("2h"), None).check(now).unwrap_err();
        assert!(e.message.contains("must be before until"), "{}", e.message);
        // Without until the window is known after loading.
        assert!(query(Some("30d"), None, Some("1m")).check(now).is_ok());
        let e = query(Some("30d"), Some("0s"), Some("1m"))
            .check(now)
            .unwrap_err();
        assert!(e.message.contains("at most 10000"), "{}", e.message);
        let e = query(Some("yesterday"), None, None).check(now).unwrap_err();
        assert!(e.message.starts_with("since="), "{}", e.message);
    }

    #[test]
    fn the_scope_is_the_window_in_whole_steps() {
        let r = VolumeRequest {
            since: Some(DAY_NS + 5),
            until: Some(2 * DAY_NS + 5),
            step_secs: None,
            events: Events::Include,
        };
        let s = r.scope();
        assert_eq!((s.since, s.until), (Some(DAY_NS), Some(3 * DAY_NS)));
        let r = VolumeRequest {
            step_secs: Some(60),
            ..r
        };
        let s = r.scope();
        assert_eq!(
            (s.since, s.until),
            (Some(DAY_NS), Some(2 * DAY_NS + MINUTE_NS))
        );
    }

    #[test]
    fn a_default_bound_is_the_jobs_first_or_last_record() {
        let q = query(None, None, None);
        let r = VolumeRequest {
            since: None,
            until: None,
            step_secs: None,
            events: Events::Include,
        };
        let b = r.buckets(Some((MINUTE_NS + 1, 3 * MINUTE_NS)), &q).unwrap();
        assert_eq!((b.since, b.until), (MINUTE_NS, 4 * MINUTE_NS));
        let empty = r.buckets(None, &q).unwrap();
        assert!(empty.is_empty());
        let after = VolumeRequest {
            since: Some(10 * MINUTE_NS),
            ..r
        };
        assert!(after.buckets(Some((0, MINUTE_NS)), &q).unwrap().is_empty());
    }
}
