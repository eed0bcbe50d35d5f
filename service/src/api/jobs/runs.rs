//! `GET /v1/tool/{tool}/jobs/{job}`: a job's runs (pods), newest pages
//! first, each with its containers and node. Planning the page is pure
//! ([`RunsPlan`], [`page_of`]); describing its runs peeks at the store.

use crate::api::extract::{ApiQuery, JobAccess, JobPath};
use crate::api::load::{ObjectAt, job_index, peek};
use crate::api::openapi::{self, Missing, ToolErrors};
use crate::api::state::{App, AppState};
use crate::clock::rfc3339 as time_of;
use crate::reply::ApiError;
use crate::wire::{ContainerInfo, JobDetail, JobResponse, Messages, RunInfo};
use afterlog_contract::record::k8s_event;
use afterlog_reader::index::Scope;
use afterlog_reader::job::{JobIndex, Listed, RunSummary};
use afterlog_reader::record::tells_kind;
use axum::Json;
use axum::extract::State;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Runs of one page of `GET …/jobs/{job}`.
pub const DEFAULT_RUNS: usize = 100;
pub const MAX_RUNS: usize = 1000;

/// Peeks at most this many objects to describe a job's runs.
const PEEK_BUDGET: usize = 64;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JobQuery {
    /// Runs per page, newest first (default 100, at most 1000).
    #[param(schema_with = openapi::runs_page)]
    pub limit: Option<usize>,
    /// From a previous page's `next_cursor`: the runs that started before.
    #[param(schema_with = openapi::cursor)]
    pub cursor: Option<String>,
}

/// Where a page of runs ends: before the run that started at `first_ns`
/// with pod `pod`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunCursor {
    pub first_ns: u64,
    pub pod: String,
}

impl RunCursor {
    fn of(r: &RunSummary) -> RunCursor {
        RunCursor {
            first_ns: r.summary.first_ns.unwrap_or(0),
            pod: r.pod.clone(),
        }
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}/{}", self.first_ns, self.pod))
    }

    pub fn decode(c: &str) -> Result<RunCursor, ApiError> {
        let bad = || ApiError::bad_request(format!("cursor {c:?} is not one this service gave"));
        let raw = URL_SAFE_NO_PAD.decode(c).map_err(|_| bad())?;
        let text = String::from_utf8(raw).map_err(|_| bad())?;
        let (t, pod) = text.split_once('/').ok_or_else(bad)?;
        Ok(RunCursor {
            first_ns: t.parse().map_err(|_| bad())?,
            pod: pod.to_string(),
        })
    }

    /// Whether run `r` started before this cursor (is on a later page).
    fn after(&self, r: &RunSummary) -> bool {
        (r.summary.first_ns.unwrap_or(0), &r.pod) < (self.first_ns, &self.pod)
    }
}

/// A checked request for a page of runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunsPlan {
    pub limit: usize,
    pub cursor: Option<RunCursor>,
}

impl RunsPlan {
    pub fn check(q: JobQuery) -> Result<RunsPlan, ApiError> {
        let limit = q.limit.unwrap_or(DEFAULT_RUNS);
        if limit == 0 || limit > MAX_RUNS {
            return Err(ApiError::bad_request(format!(
                "limit must be 1 to {MAX_RUNS}, not {limit}"
            )));
        }
        let cursor = q.cursor.as_deref().map(RunCursor::decode).transpose()?;
        Ok(RunsPlan { limit, cursor })
    }

    /// The part of the index to load: the newest runs (before the cursor)
    /// and one more, to know if there are older ones.
    pub fn scope(&self) -> Scope {
        Scope {
            until: self.cursor.as_ref().map(|c| c.first_ns.saturating_add(1)),
            newest_runs: Some(self.limit as u64 + 1),
            ..Scope::ALL
        }
    }
}

/// A page of a job's runs.
#[derive(Debug)]
pub struct RunsPage {
    /// Oldest first.
    pub runs: Vec<RunSummary>,
    /// Where the next (older) page starts, if there is one.
    pub next_cursor: Option<String>,
}

/// The page `plan` asks for of `runs` (all the loaded index holds, which
/// is `partial` if it left older ones out).
pub fn page_of(plan: &RunsPlan, mut runs: Vec<RunSummary>, partial: bool) -> RunsPage {
    if let Some(c) = &plan.cursor {
        runs.retain(|r| c.after(r));
    }
    let more = runs.len() > plan.limit || partial;
    let runs = runs.split_off(runs.len().saturating_sub(plan.limit));
    let next_cursor = more
        .then(|| runs.first().map(|r| RunCursor::of(r).encode()))
        .flatten();
    RunsPage { runs, next_cursor }
}

/// A job's runs (pods), oldest first, with their containers: a page of
/// the newest `limit` runs (before `cursor`).
#[utoipa::path(get, path = "/v1/tool/{tool}/jobs/{job}", tag = "jobs",
    params(JobPath, JobQuery),
    responses(
        (status = 200, description = "A page of the job's runs", body = JobResponse, links(
            ("logs" = (operation_id = "get_logs", description = "The job's log",
                parameters(("tool" = "$request.path.tool"), ("job" = "$request.path.job")))),
            ("run_logs" = (operation_id = "get_logs", description = "The log of a run",
                parameters(("tool" = "$request.path.tool"), ("job" = "$request.path.job"),
                    ("run" = "$response.body#/job/runs/0/pod")))))),
        ToolErrors, Missing))]
pub async fn job(
    State(app): State<App>,
    JobAccess { tool, job, .. }: JobAccess,
    ApiQuery(q): ApiQuery<JobQuery>,
) -> Result<Json<JobResponse>, ApiError> {
    let plan = RunsPlan::check(q)?;
    let ix = job_index(&app, &tool, &job, plan.scope()).await?;
    let RunsPage { runs, next_cursor } = page_of(&plan, ix.runs(), ix.partial);
    let described = describe(&app, &ix, &runs).await;
    let mut warnings = ix.warnings.clone();
    if described.budget_spent {
        warnings.push("container details of older runs omitted".into());
    }
    let last_upload = runs.iter().filter_map(|r| r.summary.last_upload_secs).max();
    Ok(Json(JobResponse {
        next_cursor,
        messages: Messages::warnings(warnings),
        job: JobDetail {
            job,
            kind: ix
                .indexed_kind()
                .or(described.kind)
                .or(described.pushed_kind),
            status: app.status(last_upload),
            runs: described.runs,
        },
    }))
}

/// What peeking told about a page of runs.
struct Described {
    runs: Vec<RunInfo>,
    /// The job's kind, from its runs' records.
    kind: Option<String>,
    /// The kind pushed lines or Kubernetes events carry, if no run told one.
    pushed_kind: Option<String>,
    /// Some runs went without peeks.
    budget_spent: bool,
}

/// Container ids and node of each run: from meta where the compactor
/// recorded them, else from the first record of each container's objects
/// (one each, newest runs first, within a budget).
async fn describe(app: &AppState, ix: &JobIndex, runs: &[RunSummary]) -> Described {
    let mut peeks: BTreeMap<(&str, &str), Vec<&Listed>> = BTreeMap::new();
    for l in &ix.objects {
        let o = &l.parsed.origin;
        peeks
            .entry((o.pod.as_str(), o.container.as_str()))
            .or_default()
            .push(l);
    }
    let mut kind = None;
    let mut pushed_kind = None;
    let mut infos = Vec::with_capacity(runs.len());
    let mut budget = PEEK_BUDGET;
    for RunSummary { pod, summary } in runs.iter().rev() {
        let meta = ix.pod_info(pod);
        let mut node = meta.as_ref().map(|m| m.node.clone());
        // Pushed lines (`@custom`, `@platform`) and Kubernetes events do
        // not tell the job's kind (docs/design.md §11, §13).
        let pushed = pod.starts_with('@');
        if kind.is_none() && !pushed {
            kind = meta
                .as_ref()
                .map(|m| m.kind.clone())
                .filter(|k| !k.is_empty());
        }
        let mut containers = Vec::new();
        for c in &summary.containers {
            let mut ids: Vec<String> = meta
                .as_ref()
                .and_then(|m| m.containers.get(c).cloned())
                .unwrap_or_default();
            let objs = peeks
                .get(&(pod.as_str(), c.as_str()))
                .map_or(&[][..], |v| v);
            // One peek per distinct upload stream is too many; the first and
            // the last object show a restart in most cases.
            let picks = objs
                .first()
                .into_iter()
                .chain(objs.last().filter(|_| objs.len() > 1));
            for &l in picks {
                if budget == 0 {
                    break;
                }
                budget -= 1;
                let Some(p) = peek(app, &ObjectAt::of(l), Some(l)).await else {
                    continue;
                };
                if let Some(id) = p.container_id
                    && c != k8s_event::CONTAINER
                    && !ids.contains(&id)
                {
                    ids.push(id);
                }
                node = node.or(p.node);
                if !tells_kind(pod, c) {
                    pushed_kind = pushed_kind.or(p.kind);
                } else if kind.is_none() {
                    kind = p.kind;
                }
            }
            containers.push(ContainerInfo {
                name: c.clone(),
                container_ids: ids,
            });
        }
        infos.push(RunInfo {
            pod: pod.clone(),
            node,
            containers,
            first_time: time_of(summary.first_ns),
            last_time: time_of(summary.last_ns),
            stored_bytes: summary.bytes,
            objects: summary.objects,
            status: app.status(summary.last_upload_secs),
        });
    }
    infos.reverse();
    Described {
        runs: infos,
        kind,
        pushed_kind,
        budget_spent: budget == 0,
    }
}
