//! Deletion requests (docs/design.md §12): a tool asks for lines of a job
//! to be removed, e.g. a leaked secret. Reads hide them from the moment the
//! request is stored; each class store's compactor removes them once due.
//!
//! [`body`] checks a request's body and [`view`] shows requests, both
//! pure; [`create`], [`list`] and [`cancel`] are the handlers. Every
//! request and decision is a document written once into every class store
//! (`afterlog_reader::job::create_deletion_doc`), so a cancel and a
//! compactor's start can never both win.

pub mod body;
pub mod cancel;
pub mod create;
pub mod list;
pub mod view;

use crate::api::openapi;
use crate::api::state::AppState;
use crate::reply::ApiError;
use afterlog_contract::layout::is_deletion_id;
use afterlog_reader::ReadStats;
use afterlog_reader::job::{DeletionScope, StoredDeletion, load_deletions};
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use std::collections::BTreeMap;
use utoipa::IntoParams;

/// The path of a request about one deletion request, as the OpenAPI
/// document shows it.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct DeletionPath {
    /// The tool.
    #[param(schema_with = openapi::name)]
    pub tool: String,
    /// One of the tool's jobs.
    #[param(schema_with = openapi::name)]
    pub job: String,
    /// The request's id.
    #[param(schema_with = openapi::deletion_id)]
    pub id: String,
}

/// The `{id}` of the path, checked (400 for what no request is named).
pub struct DeletionId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for DeletionId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(p): Path<BTreeMap<String, String>> = Path::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        let id = p.get("id").cloned().unwrap_or_default();
        if !is_deletion_id(&id) {
            return Err(ApiError::bad_request(format!(
                "invalid deletion id {id:?}: expected the id its creation answered, 20 digits, '-' and 16 hex digits"
            )));
        }
        Ok(DeletionId(id))
    }
}

/// Every class store's copies of the requests of `scope`, with what could
/// not be read said in warnings (and counted in the read metrics).
pub async fn load_copies(
    app: &AppState,
    scope: DeletionScope<'_>,
) -> Result<(Vec<StoredDeletion>, Vec<String>), ApiError> {
    let mut warnings = Vec::new();
    let mut stats = ReadStats::default();
    let mut copies = Vec::new();
    for (ix, store) in app.classes.stores().iter().enumerate() {
        copies.extend(
            load_deletions(store.as_ref(), ix, scope, &mut warnings, &mut stats)
                .await
                .map_err(ApiError::store)?,
        );
    }
    app.metrics.read(&stats);
    Ok((copies, warnings))
}
