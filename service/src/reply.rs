//! Errors as HTTP responses: a status, and the reason in the envelope of
//! docs/design.md §6 ([`ErrorBody`]).

use crate::wire::{ErrorBody, Messages};
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// An error that becomes an HTTP response: a status and what to tell the
/// client. Details that would help an attacker (store errors) are logged,
/// not sent.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// Sent as `WWW-Authenticate` on 401.
    pub challenge: Option<&'static str>,
    /// Sent as `Retry-After` (seconds) on 429.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            challenge: None,
            retry_after: None,
        }
    }

    /// 429: the request may succeed `retry_after` seconds later.
    pub fn too_many(message: impl Into<String>, retry_after: u64) -> ApiError {
        ApiError {
            retry_after: Some(retry_after),
            ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, message)
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, message)
    }

    pub fn unauthorized(message: impl Into<String>, challenge: Option<&'static str>) -> ApiError {
        ApiError {
            challenge,
            ..ApiError::new(StatusCode::UNAUTHORIZED, message)
        }
    }

    /// The store failed: logged in full, reported without detail.
    pub fn store(e: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %e, "object store request failed");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the log store is not reachable right now; try again later",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            messages: Messages::errors(vec![self.message]),
        };
        let mut r = (self.status, Json(body)).into_response();
        if let Some(c) = self.challenge {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(c));
        }
        if let Some(s) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        r
    }
}
