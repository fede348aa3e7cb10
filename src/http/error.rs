//! The one error type of the HTTP boundary: every failure becomes
//! `{"error": "<what is wrong and how to fix it>"}` with its status, here and only here.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::ingest::BodyError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("a token is required: send 'Authorization: Bearer <token>' or '?token=<token>'")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("this method is not allowed on this endpoint")]
    MethodNotAllowed,
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Timeout(String),
    /// A 4xx a pipe chose with `error(message, code)`.
    #[error("{1}")]
    Status(u16, String),
    #[error("the database is unavailable right now; retry shortly")]
    Unavailable(#[source] sqlx::Error),
    /// The token is over its rate limit: 429 with Tinybird's headers.
    #[error("too many requests: this token may make {limit} per second; retry in {reset_secs} s")]
    TooManyRequests { limit: u32, reset_secs: u64 },
    /// Work the answer needs is under way: 503 with `Retry-After`.
    #[error("{message}")]
    Busy {
        message: String,
        retry_after_secs: u64,
    },
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::PoolTimedOut => {
                crate::prometheus::pool_timed_out();
                ApiError::Unavailable(e)
            }
            sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => ApiError::Unavailable(e),
            // 57014 query_canceled: the statement timeout fired.
            sqlx::Error::Database(db) if db.code().as_deref() == Some("57014") => ApiError::Timeout(
                "the query took longer than the statement timeout (database.statement_timeout_ms); narrow it with filters".into(),
            ),
            // 57P01..57P03: the server is shutting down or restarting.
            sqlx::Error::Database(db) if db.code().as_deref().is_some_and(|c| c.starts_with("57P")) => {
                ApiError::Unavailable(e)
            }
            _ => ApiError::Internal(e.into()),
        }
    }
}

impl From<BodyError> for ApiError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::TooLarge(_) => ApiError::PayloadTooLarge(e.to_string()),
            BodyError::Empty | BodyError::BadGzip(_) => ApiError::BadRequest(e.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Status(code, _) => StatusCode::from_u16(*code)
                .ok()
                .filter(StatusCode::is_client_error)
                .unwrap_or(StatusCode::BAD_REQUEST),
            ApiError::Unavailable(e) => {
                tracing::warn!(error = %e, "database unavailable");
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let retry_after = match &self {
            ApiError::Busy {
                retry_after_secs, ..
            } => HeaderValue::from(*retry_after_secs),
            _ => HeaderValue::from_static("1"),
        };
        let message = match &self {
            ApiError::Internal(e) => {
                let id = uuid::Uuid::new_v4();
                tracing::error!(error_id = %id, error = ?e, "internal error");
                format!("internal error (id {id}); the server log has the details")
            }
            other => other.to_string(),
        };
        let mut response = (status, Json(json!({ "error": message }))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let ApiError::TooManyRequests { limit, reset_secs } = self {
            let headers = response.headers_mut();
            headers.insert("x-ratelimit-limit", HeaderValue::from(limit));
            headers.insert("x-ratelimit-remaining", HeaderValue::from(0u32));
            headers.insert("x-ratelimit-reset", HeaderValue::from(reset_secs));
            headers.insert(header::RETRY_AFTER, HeaderValue::from(reset_secs));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after);
        }
        response
    }
}
