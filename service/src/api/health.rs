//! The service's own state: `GET /v1/healthz` and `GET /v1/metrics`.

use crate::api::state::App;
use crate::reply::ApiError;
use crate::wire::{ErrorBody, Health, Messages};
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

/// Liveness and readiness: every class's store answers a listing, and the
/// service is not shutting down.
#[utoipa::path(get, path = "/v1/healthz", tag = "service",
    responses((status = 200, description = "Ready", body = Health),
        (status = 503, description = "A store does not answer, or the service is shutting down", body = ErrorBody)))]
pub async fn healthz(State(app): State<App>) -> Result<Json<Health>, ApiError> {
    if *app.draining.borrow() {
        // Out of the Service's endpoints at once, whatever Kubernetes does.
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
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
    responses((status = 200, description = "OpenMetrics text exposition", body = String,
        content_type = "application/openmetrics-text")))]
pub async fn metrics_text(State(app): State<App>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.metrics.render(),
    )
        .into_response()
}
