//! `GET /v0/datasources` and the quarantine of each datasource.

use axum::extract::{Path, State};
use axum::http::Uri;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};

use super::error::ApiError;
use super::events::unknown_datasource;
use super::query::Query;
use super::{auth::Caller, AppState};
use crate::auth::Need;
use crate::ingest::versions::{self, Source};
use crate::ingest::Datasource;

const QUARANTINE_MAX_LIMIT: i64 = 10_000;

#[derive(Serialize)]
struct DatasourceInfo {
    name: &'static str,
    rows: i64,
    quarantined_rows: i64,
}

/// The datasources this token may read, with row and quarantine counts.
pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let mut out = Vec::new();
    for ds in Datasource::ALL {
        if !caller.allows(Need::ReadDatasource(ds.name())) {
            continue;
        }
        // The table name is one of three constants, never user input.
        let rows: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {}", ds.name()))
            .fetch_one(&state.db)
            .await?;
        let quarantined_rows: i64 =
            sqlx::query_scalar("SELECT count(*) FROM quarantine WHERE datasource = $1")
                .bind(ds.name())
                .fetch_one(&state.db)
                .await?;
        out.push(DatasourceInfo {
            name: ds.name(),
            rows,
            quarantined_rows,
        });
    }
    Ok(Json(json!({ "datasources": out })))
}

#[derive(Serialize, sqlx::FromRow)]
struct QuarantinedRow {
    id: i64,
    received_at: DateTime<Utc>,
    error: String,
    raw: String,
}

/// The newest quarantined rows first, `limit` (default 100) of them.
pub async fn quarantine(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let ds = Datasource::from_name(&name).ok_or_else(|| unknown_datasource(&name))?;
    caller.require(Need::ReadDatasource(ds.name()))?;
    let limit = Query::from_uri(&uri).limit("limit", 100, QUARANTINE_MAX_LIMIT)?;
    let data: Vec<QuarantinedRow> = sqlx::query_as(
        "SELECT id, received_at, error, raw FROM quarantine WHERE datasource = $1
         ORDER BY id DESC LIMIT $2",
    )
    .bind(ds.name())
    .bind(limit)
    .fetch_all(&state.db)
    .await?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM quarantine WHERE datasource = $1")
        .bind(ds.name())
        .fetch_one(&state.db)
        .await?;
    Ok(Json(
        json!({ "datasource": ds.name(), "rows": data.len(), "total": total, "data": data }),
    ))
}

/// `DELETE …/quarantine`: empties it (the append scope of the datasource, or ADMIN).
pub async fn clear_quarantine(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let ds = Datasource::from_name(&name).ok_or_else(|| unknown_datasource(&name))?;
    caller.require(Need::AppendTo(ds.name()))?;
    // A user's pipe may read the quarantine: its version moves with the delete.
    let mut tx = state.db.begin().await?;
    let done = sqlx::query("DELETE FROM quarantine WHERE datasource = $1")
        .bind(ds.name())
        .execute(&mut *tx)
        .await?;
    let version = match done.rows_affected() {
        0 => None,
        _ => Some(versions::bump(&mut tx, Source::Quarantine).await?),
    };
    tx.commit().await?;
    if let Some(v) = version {
        state.polling.versions.observe(Source::Quarantine, v);
    }
    Ok(Json(
        json!({ "datasource": ds.name(), "deleted_rows": done.rows_affected() }),
    ))
}
