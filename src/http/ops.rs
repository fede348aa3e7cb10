//! Liveness and readiness.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::AppState;
use crate::db;

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
