//! `POST /v0/datasources?name=<datasource>&mode=append`: Tinybird's bulk append.
//! The body (CSV with a header row, or NDJSON; gzip or not) is streamed into
//! `ingest::bulk`, never held in memory.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::Json;
use futures_util::TryStreamExt;
use tokio_util::io::StreamReader;

use super::error::ApiError;
use super::events::datasource;
use super::query::Query;
use super::{auth::Caller, AppState};
use crate::auth::Need;
use crate::ingest::bulk::{self, BulkError, BulkFormat, BulkReport, DerivedUpdate};
use crate::prometheus;

/// Marks the io error raised when the body passes `http.bulk_body_limit_bytes`.
#[derive(Debug, thiserror::Error)]
#[error("the body is larger than the limit")]
struct TooLarge;

pub async fn append(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<BulkReport>), ApiError> {
    let started = Instant::now();
    let query = Query::from_uri(&uri);
    match query.get("mode") {
        Some("append") => {}
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "mode '{}' is not supported: use mode=append (this endpoint only appends)",
                other.chars().take(40).collect::<String>()
            )))
        }
        None => {
            return Err(ApiError::BadRequest(
                "parameter 'mode' is required: mode=append".into(),
            ))
        }
    }
    let ds = datasource(&query)?;
    caller.require(Need::AppendTo(ds.name()))?;
    let format = format(&query, &headers)?;
    super::events::admit(&state)?;
    let limit = state.config.http.bulk_body_limit_bytes;
    let mut seen = 0u64;
    let stream = body
        .into_data_stream()
        .map_err(std::io::Error::other)
        .and_then(move |chunk| {
            seen += chunk.len() as u64;
            futures_util::future::ready(if limit > 0 && seen > limit {
                Err(std::io::Error::other(TooLarge))
            } else {
                Ok(chunk)
            })
        });
    let mut report = bulk::append(&state.writer, ds, format, StreamReader::new(stream))
        .await
        .map_err(|e| bulk_error(e, limit))?;
    state.polling.versions.observe_all(&report.bumped);
    prometheus::rows_written(
        ds.name(),
        prometheus::WritePath::Bulk,
        report.successful_rows,
        report.quarantined_rows,
    );
    if let Some(pending) = report.pending {
        state.maintainer.queued(pending);
        if !state
            .maintainer
            .wait_applied(pending, wait_for_apply(&state, started))
            .await?
        {
            report.derived_state = DerivedUpdate::Queued;
        } else {
            bulk::compact_rollups(&state.db).await;
        }
    }
    tracing::info!(
        datasource = ds.name(),
        rows = report.rows,
        rows_per_sec = report.rows_per_sec as u64,
        "bulk append committed"
    );
    Ok((StatusCode::OK, Json(report)))
}

/// What is left of `http.bulk_timeout_secs` (none: a day), less a second:
/// the file is committed, so the caller must get its answer, not a 408.
fn wait_for_apply(state: &AppState, started: Instant) -> Duration {
    let timeout = match state.config.http.bulk_timeout_secs {
        0 => Duration::from_secs(86_400),
        secs => Duration::from_secs(secs),
    };
    timeout
        .saturating_sub(started.elapsed())
        .saturating_sub(Duration::from_secs(1))
}

/// `format=csv|ndjson`, else the Content-Type, else NDJSON (Tinybird's default).
fn format(query: &Query, headers: &HeaderMap) -> Result<BulkFormat, ApiError> {
    if let Some(name) = query.get("format") {
        return BulkFormat::from_name(name).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "format '{}' is not supported: use format=csv or format=ndjson",
                name.chars().take(40).collect::<String>()
            ))
        });
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    Ok(if content_type.starts_with("text/csv") {
        BulkFormat::Csv
    } else {
        BulkFormat::Ndjson
    })
}

fn bulk_error(e: BulkError, limit: u64) -> ApiError {
    match e {
        BulkError::Malformed { line, message } if line > 0 => {
            ApiError::BadRequest(format!("malformed file at line {line}: {message}; nothing was appended"))
        }
        BulkError::Malformed { message, .. } => {
            ApiError::BadRequest(format!("malformed file: {message}; nothing was appended"))
        }
        BulkError::Read(io) if io.get_ref().is_some_and(|r| r.is::<TooLarge>()) => {
            ApiError::PayloadTooLarge(format!(
                "the body is larger than {limit} bytes (http.bulk_body_limit_bytes); nothing was appended"
            ))
        }
        BulkError::Read(io) if super::serve::is_stalled(&io) => {
            ApiError::Timeout(format!("{io}; nothing was appended"))
        }
        BulkError::Read(io) => ApiError::BadRequest(format!(
            "could not read the request body: {io}; nothing was appended"
        )),
        BulkError::Db(db) => db.into(),
    }
}
