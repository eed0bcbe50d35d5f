//! The HTTP API (DESIGN §6): routes, shared state, the OpenAPI document, and
//! the handlers that describe a tool's jobs. Logs are read in [`crate::logs`]
//! and pushed in [`crate::push`].

use crate::auth::{Auth, Principal};
use crate::classes::ClassStores;
use crate::metrics::{self, Metrics};
use crate::reply::{ApiError, ErrorBody, Messages};
use afterlog_contract::keys;
use afterlog_contract::time::rfc3339_nanos;
use afterlog_reader::index::Scope;
use afterlog_reader::job::{
    FirstTimes, JobIndex, JobSummary, Listed, ObjectHead, RunSummary, Summary, list_jobs_all,
    read_head,
};
use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::Semaphore;
use utoipa::{OpenApi, ToSchema};

/// Tunables of a running service.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How often a follow looks for new raw objects.
    pub follow_poll: Duration,
    /// A follow with nothing to send sends an empty line this often.
    pub follow_heartbeat: Duration,
    /// Follows open at once; more get 429.
    pub follow_max: usize,
    /// A follow ends after this long (clients reconnect).
    pub follow_timeout: Duration,
    /// Largest body `POST …/logs` accepts.
    pub push_max_bytes: usize,
    /// A job whose last raw object arrived within this is `active`.
    pub active_window: Duration,
    /// The memory budget and the per-caller cap of heavy requests.
    pub admission: crate::admission::Limits,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            follow_poll: Duration::from_secs(2),
            follow_heartbeat: Duration::from_secs(15),
            follow_max: 64,
            follow_timeout: Duration::from_secs(3600),
            push_max_bytes: 1 << 20,
            active_window: Duration::from_secs(15 * 60),
            admission: crate::admission::Limits::default(),
        }
    }
}

/// What every handler shares.
pub struct AppState {
    /// The store of each routing class: reads span them all, pushes go to
    /// the `default` class's.
    pub classes: ClassStores,
    pub auth: Auth,
    pub metrics: Arc<Metrics>,
    pub settings: Settings,
    pub follows: Arc<Semaphore>,
    /// Heavy requests' shares of the memory budget.
    pub admission: crate::admission::Admission,
    /// `true` once the service is shutting down: follows end, health
    /// answers 503, the compactor stops at a safe point.
    pub draining: tokio::sync::watch::Sender<bool>,
    /// Work of the service's own that shutting down waits for.
    pub background: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// First record times of raw objects, read once per object.
    pub first_times: FirstTimes,
}

pub type App = Arc<AppState>;

impl AppState {
    pub fn new(classes: impl Into<ClassStores>, auth: Auth, settings: Settings) -> App {
        let metrics = Arc::new(Metrics::new());
        Arc::new(AppState {
            classes: classes.into(),
            auth,
            admission: crate::admission::Admission::new(
                settings.admission.clone(),
                metrics.admission.clone(),
                crate::memory::give_back,
            ),
            metrics,
            draining: tokio::sync::watch::Sender::new(false),
            background: Default::default(),
            follows: Arc::new(Semaphore::new(settings.follow_max)),
            first_times: FirstTimes::default(),
            settings,
        })
    }
}

/// The service's routes.
pub fn router(app: App) -> Router {
    let metrics = app.metrics.clone();
    Router::new()
        .route("/v1/healthz", get(healthz))
        .route("/v1/metrics", get(metrics_text))
        .route("/openapi.json", get(openapi))
        .route("/v1/tool/{tool}/jobs", get(jobs))
        .route("/v1/tool/{tool}/jobs/{job}", get(job))
        .route(
            "/v1/tool/{tool}/jobs/{job}/logs",
            get(crate::logs::get_logs).post(crate::push::push_logs),
        )
        .route("/v1/tool/{tool}/usage", get(usage))
        .merge(crate::web::routes())
        .fallback(|| async { ApiError::not_found("no such endpoint; see /openapi.json") })
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            metrics::track,
        ))
        .with_state(app)
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "afterlog",
        description = "Logs of a tool's jobs, web services and builds, kept after their pods are gone."
    ),
    paths(
        healthz,
        metrics_text,
        jobs,
        job,
        crate::logs::get_logs,
        crate::push::push_logs,
        usage
    )
)]
pub struct ApiDoc;

/// The caller, authenticated (401 otherwise).
pub struct Caller(pub Principal);

impl FromRequestParts<App> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        app.auth.authenticate(&parts.headers, peer).map(Caller)
    }
}

/// Checks a tool, job, run or container name from a request: it becomes a
/// key part through the shared codec, so nothing in it can reach another
/// tool's keys; this only refuses what no real name is.
pub fn check_name(what: &str, name: &str) -> Result<(), ApiError> {
    keys::encode_name(name)
        .map(drop)
        .map_err(|e| ApiError::bad_request(format!("invalid {what} name {name:?}: {e}")))?;
    if name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "invalid {what} name {name:?}: control characters"
        )));
    }
    Ok(())
}

/// `{tool}` of the path.
pub struct ToolPath(pub String);

impl FromRequestParts<App> for ToolPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let Path(p): Path<BTreeMap<String, String>> = Path::from_request_parts(parts, app)
            .await
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        let tool = p.get("tool").cloned().unwrap_or_default();
        check_name("tool", &tool)?;
        Ok(ToolPath(tool))
    }
}

/// `{tool}` and `{job}` of the path.
pub struct JobPath {
    pub tool: String,
    pub job: String,
}

impl FromRequestParts<App> for JobPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let Path(p): Path<BTreeMap<String, String>> = Path::from_request_parts(parts, app)
            .await
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        let tool = p.get("tool").cloned().unwrap_or_default();
        let job = p.get("job").cloned().unwrap_or_default();
        check_name("tool", &tool)?;
        check_name("job", &job)?;
        Ok(JobPath { tool, job })
    }
}

pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub messages: Messages,
    /// `ok`.
    pub status: String,
}

/// Liveness and readiness: every class's store answers a listing, and the
/// service is not shutting down.
#[utoipa::path(get, path = "/v1/healthz", tag = "service",
    responses((status = 200, body = Health), (status = 503, body = ErrorBody)))]
async fn healthz(State(app): State<App>) -> Result<Json<Health>, ApiError> {
    if *app.draining.borrow() {
        // Out of the Service's endpoints at once, whatever Kubernetes does.
        return Err(ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "shutting down",
        ));
    }
    let probe = object_store::path::Path::from("raw");
    let probes = app.classes.iter().map(|(class, store)| {
        let probe = &probe;
        async move {
            let mut list = store.list(Some(probe));
            match list.next().await {
                Some(Err(e)) => Err(ApiError::store(format!("class {class}: {e}"))),
                _ => Ok(()),
            }
        }
    });
    futures::future::try_join_all(probes).await?;
    Ok(Json(Health {
        messages: Messages::default(),
        status: "ok".into(),
    }))
}

/// Prometheus metrics (text format).
#[utoipa::path(get, path = "/v1/metrics", tag = "service",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain")))]
async fn metrics_text(State(app): State<App>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.metrics.render(),
    )
        .into_response()
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// A job, from the listing of its objects.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobInfo {
    pub job: String,
    /// `job`, `cronjob`, `continuous`, `webservice`, `build`, `custom`, …
    pub kind: Option<String>,
    /// `active` if logs arrived recently, else `archived`.
    pub status: String,
    /// RFC 3339, from object keys (raw keys give whole seconds).
    pub first_time: Option<String>,
    pub last_time: Option<String>,
    pub runs: usize,
    /// Compressed bytes stored.
    pub stored_bytes: u64,
    pub objects: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobsResponse {
    pub messages: Messages,
    pub jobs: Vec<JobInfo>,
}

/// The first record's labels of a stored object: remembered from the read
/// that placed the object, else read from its first few KiB (and then
/// remembered). A store failure is logged here and counted by the store's
/// metrics (`afterlog_store_failures_total`); the page goes without.
async fn peek(
    app: &AppState,
    store: usize,
    key: &str,
    size: u64,
    listed: Option<&Listed>,
) -> Option<ObjectHead> {
    if let Some(h) = listed.and_then(|l| app.first_times.head(l)) {
        return Some(h);
    }
    let s = app.classes.stores().get(store)?;
    match read_head(s.as_ref(), key, size).await {
        Ok(h) => {
            if let Some(l) = listed {
                app.first_times.put(l, h.clone());
            }
            Some(h)
        }
        Err(e) => {
            tracing::warn!(key, error = %e, "reading an object's first record failed");
            None
        }
    }
}

fn status(app: &AppState, s: &Summary) -> String {
    let active = s
        .last_upload_secs
        .is_some_and(|t| now_secs() - t <= app.settings.active_window.as_secs() as i64);
    if active { "active" } else { "archived" }.to_string()
}

fn time_of(ns: Option<u64>) -> Option<String> {
    ns.map(rfc3339_nanos)
}

/// The jobs of a tool from the listing of every class's store: 404 if
/// nothing is stored for it.
async fn tool_jobs(app: &AppState, tool: &str) -> Result<Vec<JobSummary>, ApiError> {
    let listed = list_jobs_all(app.classes.stores(), tool)
        .await
        .map_err(ApiError::store)?;
    if listed.is_empty() {
        return Err(ApiError::not_found(format!(
            "no logs stored for tool {tool:?}"
        )));
    }
    Ok(listed)
}

/// The jobs of a tool that have logs stored.
#[utoipa::path(get, path = "/v1/tool/{tool}/jobs", tag = "jobs",
    params(("tool" = String, Path, description = "Tool name")),
    responses((status = 200, body = JobsResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn jobs(
    State(app): State<App>,
    Caller(who): Caller,
    ToolPath(tool): ToolPath,
) -> Result<Json<JobsResponse>, ApiError> {
    who.check_tool(&tool)?;
    let listed = tool_jobs(&app, &tool).await?;
    // The kind rides on every record: one peek per job, at the object the
    // listing already found.
    // A job's index records it: no peek.
    // Key, size and store of the object to peek at.
    type Sample = (String, u64, usize);
    let samples: Vec<(Option<String>, Option<Sample>)> = listed
        .iter()
        .map(|j| {
            let s = &j.summary;
            let sample = s
                .sample
                .clone()
                .map(|(key, size)| (key, size, s.sample_store));
            (s.kind.clone(), sample)
        })
        .collect();
    let kinds: Vec<Option<String>> = futures::stream::iter(samples)
        .map(|(kind, sample)| {
            let app = app.clone();
            async move {
                if let Some(kind) = kind {
                    return Some(kind);
                }
                let (key, size, store) = sample?;
                peek(&app, store, &key, size, None).await?.kind
            }
        })
        .buffered(8)
        .collect()
        .await;
    let jobs = listed
        .iter()
        .zip(kinds)
        .map(|(j, kind)| JobInfo {
            job: j.job.clone(),
            kind,
            status: status(&app, &j.summary),
            first_time: time_of(j.summary.first_ns),
            last_time: time_of(j.summary.last_ns),
            runs: j.summary.runs() as usize,
            stored_bytes: j.summary.bytes,
            objects: j.summary.objects,
        })
        .collect();
    Ok(Json(JobsResponse {
        messages: Messages::default(),
        jobs,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContainerInfo {
    pub name: String,
    /// Each id is one container instance: a restart adds one.
    pub container_ids: Vec<String>,
}

/// One run (pod) of a job.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunInfo {
    pub pod: String,
    pub node: Option<String>,
    pub containers: Vec<ContainerInfo>,
    pub first_time: Option<String>,
    pub last_time: Option<String>,
    pub stored_bytes: u64,
    pub objects: u64,
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobDetail {
    pub job: String,
    pub kind: Option<String>,
    pub status: String,
    pub runs: Vec<RunInfo>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobResponse {
    pub messages: Messages,
    pub job: JobDetail,
    /// Pass as `cursor` for the next (older) runs; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Runs of one page of `GET …/jobs/{job}`.
pub const DEFAULT_RUNS: usize = 100;
pub const MAX_RUNS: usize = 1000;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JobQuery {
    /// Runs per page, newest first (default 100, at most 1000).
    pub limit: Option<usize>,
    /// From a previous page's `next_cursor`: the runs that started before.
    pub cursor: Option<String>,
}

/// A page of runs ends before this run: its first time and pod.
fn encode_run_cursor(first_ns: u64, pod: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{first_ns}/{pod}"))
}

fn decode_run_cursor(c: &str) -> Result<(u64, String), ApiError> {
    use base64::Engine;
    let bad = || ApiError::bad_request(format!("cursor {c:?} is not one this service gave"));
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (t, pod) = text.split_once('/').ok_or_else(bad)?;
    Ok((t.parse().map_err(|_| bad())?, pod.to_string()))
}

/// Loads a job's index from every class's store: 404 if nothing is
/// stored for it in any.
pub async fn load_job(app: &AppState, tool: &str, job: &str) -> Result<JobIndex, ApiError> {
    load_job_scoped(app, tool, job, Scope::ALL).await
}

/// [`load_job`] of only the part of the job index `scope` selects.
pub async fn load_job_scoped(
    app: &AppState,
    tool: &str,
    job: &str,
    scope: Scope,
) -> Result<JobIndex, ApiError> {
    let ix = JobIndex::load_scoped(app.classes.stores(), tool, job, &app.first_times, scope)
        .await
        .map_err(ApiError::store)?;
    if ix.is_empty() {
        return Err(ApiError::not_found(format!(
            "no logs stored for job {job:?} of tool {tool:?}"
        )));
    }
    Ok(ix)
}

/// Peeks at most this many objects to describe a job's runs.
const PEEK_BUDGET: usize = 64;

/// A job's runs (pods), oldest first, with their containers: a page of
/// the newest `limit` runs (before `cursor`).
#[utoipa::path(get, path = "/v1/tool/{tool}/jobs/{job}", tag = "jobs",
    params(("tool" = String, Path, description = "Tool name"), ("job" = String, Path, description = "Job name"), JobQuery),
    responses((status = 200, body = JobResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn job(
    State(app): State<App>,
    Caller(who): Caller,
    JobPath { tool, job }: JobPath,
    q: Result<axum::extract::Query<JobQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<JobResponse>, ApiError> {
    who.check_tool(&tool)?;
    let axum::extract::Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = q.limit.unwrap_or(DEFAULT_RUNS);
    if limit == 0 || limit > MAX_RUNS {
        return Err(ApiError::bad_request(format!(
            "limit must be 1 to {MAX_RUNS}, not {limit}"
        )));
    }
    let cursor = q.cursor.as_deref().map(decode_run_cursor).transpose()?;
    // The newest runs (before the cursor) and one more, to know if there
    // are older ones.
    let scope = Scope {
        until: cursor.as_ref().map(|(t, _)| t.saturating_add(1)),
        newest_runs: Some(limit as u64 + 1),
        ..Scope::ALL
    };
    let ix = load_job_scoped(&app, &tool, &job, scope).await?;
    let mut warnings = ix.warnings.clone();
    let mut runs = ix.runs();
    if let Some((t, pod)) = &cursor {
        runs.retain(|r| (r.summary.first_ns.unwrap_or(0), &r.pod) < (*t, pod));
    }
    let more = runs.len() > limit || ix.partial;
    let runs = runs.split_off(runs.len().saturating_sub(limit));
    let next_cursor = more
        .then(|| {
            runs.first()
                .map(|r| encode_run_cursor(r.summary.first_ns.unwrap_or(0), &r.pod))
        })
        .flatten();
    // Container ids and node: from meta where the compactor recorded them,
    // else from the first record of each container's objects (one each,
    // newest runs first, within a budget).
    let mut peeks: BTreeMap<(String, String), Vec<&Listed>> = BTreeMap::new();
    for l in &ix.objects {
        let o = &l.parsed.origin;
        peeks
            .entry((o.pod.clone(), o.container.clone()))
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
        // Pushed lines (`@custom`, `@platform`) do not tell the job's kind.
        let pushed = pod.starts_with('@');
        if kind.is_none() && !pushed {
            kind = meta.as_ref().map(|m| m.kind.clone());
        }
        let mut containers = Vec::new();
        for c in &summary.containers {
            let mut ids: Vec<String> = meta
                .as_ref()
                .and_then(|m| m.containers.get(c).cloned())
                .unwrap_or_default();
            let objs = peeks.get(&(pod.clone(), c.clone())).map_or(&[][..], |v| v);
            // One peek per distinct upload stream is too many; the first and
            // the last object show a restart in most cases.
            let mut picks: Vec<&Listed> = objs.iter().copied().take(1).collect();
            if objs.len() > 1 {
                picks.push(objs[objs.len() - 1]);
            }
            for l in picks {
                if budget == 0 {
                    break;
                }
                budget -= 1;
                if let Some(p) = peek(&app, l.store, &l.key, l.size, Some(l)).await {
                    if let Some(id) = p.container_id
                        && !ids.contains(&id)
                    {
                        ids.push(id);
                    }
                    node = node.or(p.node);
                    if pushed {
                        pushed_kind = pushed_kind.or(p.kind);
                    } else if kind.is_none() {
                        kind = p.kind;
                    }
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
            status: status(&app, summary),
        });
    }
    if budget == 0 {
        warnings.push("container details of older runs omitted".into());
    }
    infos.reverse();
    let mut all = Summary::default();
    for r in &runs {
        all.last_upload_secs = all.last_upload_secs.max(r.summary.last_upload_secs);
    }
    Ok(Json(JobResponse {
        next_cursor,
        messages: Messages::warnings(warnings),
        job: JobDetail {
            job,
            kind: ix.indexed_kind().or(kind).or(pushed_kind),
            status: status(&app, &all),
            runs: infos,
        },
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobUsage {
    pub job: String,
    pub stored_bytes: u64,
    pub objects: u64,
    /// Stored bytes by routing class (only classes that hold some).
    pub classes: BTreeMap<String, u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsageResponse {
    pub messages: Messages,
    pub jobs: Vec<JobUsage>,
    pub total_bytes: u64,
    /// `total_bytes` by routing class (only classes that hold some).
    pub classes: BTreeMap<String, u64>,
}

/// Stored bytes per job and in total (compressed, as the store bills them),
/// also by routing class (each class may be billed or kept differently).
#[utoipa::path(get, path = "/v1/tool/{tool}/usage", tag = "jobs",
    params(("tool" = String, Path, description = "Tool name")),
    responses((status = 200, body = UsageResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn usage(
    State(app): State<App>,
    Caller(who): Caller,
    ToolPath(tool): ToolPath,
) -> Result<Json<UsageResponse>, ApiError> {
    who.check_tool(&tool)?;
    let listed = tool_jobs(&app, &tool).await?;
    let mut classes: BTreeMap<String, u64> = BTreeMap::new();
    let jobs: Vec<JobUsage> = listed
        .into_iter()
        .map(|j| {
            let by_class: BTreeMap<String, u64> = j
                .summary
                .store_bytes
                .iter()
                .map(|(&i, &n)| (app.classes.name(i).to_string(), n))
                .collect();
            for (c, n) in &by_class {
                *classes.entry(c.clone()).or_default() += n;
            }
            JobUsage {
                job: j.job,
                stored_bytes: j.summary.bytes,
                objects: j.summary.objects,
                classes: by_class,
            }
        })
        .collect();
    Ok(Json(UsageResponse {
        messages: Messages::default(),
        total_bytes: jobs.iter().map(|j| j.stored_bytes).sum(),
        jobs,
        classes,
    }))
}
