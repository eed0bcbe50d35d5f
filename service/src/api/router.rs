//! The service's routes and its OpenAPI document: the one place that names
//! the handlers.

use crate::api::openapi::{self, Security};
use crate::api::state::App;
use crate::api::{deletions, health, jobs, logs, push, search};
use crate::metrics;
use crate::reply::ApiError;
use axum::routing::{get, post};
use axum::{Json, Router};
use utoipa::OpenApi;

/// The service's routes.
pub fn router(app: App) -> Router {
    let metrics = app.metrics.clone();
    Router::new()
        .route("/v1/healthz", get(health::healthz))
        .route("/v1/metrics", get(health::metrics_text))
        .route("/openapi.json", get(openapi_json))
        .route("/v1/tool/{tool}/jobs", get(jobs::jobs))
        .route("/v1/tool/{tool}/jobs/{job}", get(jobs::runs::job))
        .route(
            "/v1/tool/{tool}/jobs/{job}/logs",
            get(logs::get_logs).post(push::push_logs),
        )
        .route(
            "/v1/tool/{tool}/jobs/{job}/volume",
            get(jobs::volume::volume),
        )
        .route("/v1/tool/{tool}/usage", get(jobs::usage))
        .route("/v1/tool/{tool}/search", get(search::search))
        .route(
            "/v1/tool/{tool}/jobs/{job}/deletions",
            get(deletions::list::job_deletions).post(deletions::create::create_deletion),
        )
        .route(
            "/v1/tool/{tool}/jobs/{job}/deletions/{id}",
            get(deletions::list::get_deletion),
        )
        .route(
            "/v1/tool/{tool}/jobs/{job}/deletions/{id}/cancel",
            post(deletions::cancel::cancel_deletion),
        )
        .route(
            "/v1/tool/{tool}/deletions",
            get(deletions::list::tool_deletions),
        )
        .route("/v1/deletions", get(deletions::list::all_deletions))
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
        health::healthz,
        health::metrics_text,
        jobs::jobs,
        jobs::runs::job,
        jobs::volume::volume,
        logs::get_logs,
        push::push_logs,
        jobs::usage,
        search::search,
        deletions::create::create_deletion,
        deletions::list::job_deletions,
        deletions::list::get_deletion,
        deletions::cancel::cancel_deletion,
        deletions::list::tool_deletions,
        deletions::list::all_deletions
    ),
    modifiers(&Security)
)]
pub struct ApiDoc;

async fn openapi_json() -> Json<serde_json::Value> {
    static DOC: std::sync::LazyLock<serde_json::Value> =
        std::sync::LazyLock::new(openapi::document);
    Json(DOC.clone())
}
