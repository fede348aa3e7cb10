//! Liveness, readiness and the Prometheus metrics.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::auth::Caller;
use super::error::ApiError;
use super::AppState;
use crate::auth::Need;
use crate::{db, prometheus};

/// Prometheus' text exposition format.
const EXPOSITION: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The process is up.
pub async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// 200 only when PostgreSQL answers and every migration is applied; scripts wait on it.
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    if db::is_ready(&state.db).await {
        (StatusCode::OK, Json(json!({ "status": "ready" })))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": "not ready: the database is unreachable or not migrated yet" })),
        )
    }
}

/// `GET /metrics`: every metric of src/prometheus.rs, for a token with
/// `METRICS:READ` (or ADMIN). Gauges are sampled now.
pub async fn metrics(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    caller.require(Need::ReadMetrics)?;
    Ok(render(&state))
}

/// The exposition itself, shared with `metrics.listen` (no token there).
pub fn render(state: &AppState) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    prometheus::sample(&prometheus::Snapshot {
        answer_cache_bytes: state.polling.answers.weight(),
        queued_rows: state.maintainer.backlog(),
        pools: [("owner", &state.db), ("reader", &state.read_db)],
    });
    (
        [(axum::http::header::CONTENT_TYPE, EXPOSITION)],
        state.metrics.render(),
    )
}
