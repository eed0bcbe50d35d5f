//! What a request says, checked before a handler runs: who asks (401), the
//! tool and job of its path (400 for a name no tool or job has, 403 for a
//! tool the caller is no member of), and its query (400).

use super::state::App;
use crate::auth::Principal;
use crate::reply::ApiError;
use afterlog_contract::keys;
use axum::extract::{ConnectInfo, FromRequestParts, Path};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// The caller, authenticated (401 otherwise).
pub struct Caller(pub Principal);

impl FromRequestParts<App> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        app.auth
            .authenticate(&parts.headers, peer)
            .await
            .map(Caller)
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

/// The caller and the names `names` of the path, each checked, then the
/// caller's membership of the path's tool.
async fn member_of<const N: usize>(
    parts: &mut Parts,
    app: &App,
    names: [&str; N],
) -> Result<(Principal, [String; N]), ApiError> {
    let Caller(who) = Caller::from_request_parts(parts, app).await?;
    let Path(p): Path<BTreeMap<String, String>> = Path::from_request_parts(parts, app)
        .await
        .map_err(|e| ApiError::bad_request(e.body_text()))?;
    let values = names.map(|what| p.get(what).cloned().unwrap_or_default());
    for (what, value) in names.iter().zip(&values) {
        check_name(what, value)?;
    }
    who.check_tool(&values[0])?;
    Ok((who, values))
}

/// A caller and the `{tool}` of the path they are a member of.
pub struct ToolAccess {
    pub who: Principal,
    pub tool: String,
}

impl FromRequestParts<App> for ToolAccess {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let (who, [tool]) = member_of(parts, app, ["tool"]).await?;
        Ok(ToolAccess { who, tool })
    }
}

/// A caller, the `{tool}` of the path they are a member of, and its `{job}`.
pub struct JobAccess {
    pub who: Principal,
    pub tool: String,
    pub job: String,
}

impl FromRequestParts<App> for JobAccess {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let (who, [tool, job]) = member_of(parts, app, ["tool", "job"]).await?;
        Ok(JobAccess { who, tool, job })
    }
}

/// The query string as `T`; 400 with serde's reason if it is not one. A
/// key given more than once fills a list (`grep=a&grep=b`).
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<App> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _app: &App) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        serde_html_form::from_str(query)
            .map(ApiQuery)
            .map_err(|e| ApiError::bad_request(format!("invalid query: {e}")))
    }
}
