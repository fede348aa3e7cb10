//! `POST /v0/events?name=<datasource>`: Tinybird's Events API.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::Json;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::error::ApiError;
use super::query::Query;
use super::{auth::Caller, AppState};
use crate::auth::Need;
use crate::ingest::{self, body, Datasource, Outcome};
use crate::prometheus;

/// Answers only after the rows are committed: 202, or with `wait=true` 200
/// once they are applied to the derived state too (visible in every pipe), or
/// 202 when that takes longer than `ingest.wait_ms`. Tinybird's extra
/// parameters (`mode`, `format`, `wait`) are accepted; others ignored.
pub async fn post(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Outcome>), ApiError> {
    let query = Query::from_uri(&uri);
    let ds = datasource(&query)?;
    caller.require(Need::AppendTo(ds.name()))?;
    let limit = state.config.http.body_limit_bytes;
    let raw = read_limited(body, limit).await?;
    let decoded = body::decode(&raw, is_gzip(&headers)?, limit)?;
    admit(&state)?;
    let outcome = ingest::ingest(&state.writer, ds, &decoded).await?;
    // Committed: this server's next pipe answer must include these rows,
    // without waiting for its own notification.
    state.polling.versions.observe_all(&outcome.bumped);
    prometheus::rows_written(
        ds.name(),
        prometheus::WritePath::Events,
        outcome.successful_rows as u64,
        outcome.quarantined_rows as u64,
    );
    let applied = match outcome.pending {
        None => true,
        Some(pending) => {
            state.maintainer.queued(pending);
            query.flag("wait")
                && state
                    .maintainer
                    .wait_applied(pending, wait_for_apply(&state))
                    .await?
        }
    };
    let status = if query.flag("wait") && applied {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((status, Json(outcome)))
}

/// 503 with `Retry-After` while the maintainer's queue is over
/// `ingest.max_queued_rows`: the write would only make the pipes fall further
/// behind. Nothing is written.
pub fn admit(state: &AppState) -> Result<(), ApiError> {
    state.maintainer.admit().map_err(|b| ApiError::Busy {
        message: format!(
            "{} rows are waiting to be applied to the derived state, more than ingest.max_queued_rows ({}): \
             nothing was written; retry in {} s",
            b.queued, b.limit, b.retry_after_secs
        ),
        retry_after_secs: b.retry_after_secs,
    })
}

/// `ingest.wait_ms`, a second short of the request timeout (the rows are
/// committed: the caller must get its 202, not a 408 saying nothing was).
fn wait_for_apply(state: &AppState) -> Duration {
    super::short_of_request_timeout(state, state.config.ingest.wait_ms)
}

/// The `name` parameter as a known datasource: 400 when missing, 404 when unknown.
pub fn datasource(query: &Query) -> Result<Datasource, ApiError> {
    let name = query.get("name").filter(|n| !n.is_empty()).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "parameter 'name' is required: the datasource to append to ({})",
            Datasource::names()
        ))
    })?;
    Datasource::from_name(name).ok_or_else(|| unknown_datasource(name))
}

pub fn unknown_datasource(name: &str) -> ApiError {
    ApiError::NotFound(format!(
        "datasource '{}' not found; the datasources are: {}",
        name.chars().take(100).collect::<String>(),
        Datasource::names()
    ))
}

/// Reads at most `limit` bytes of body; more is 413.
pub async fn read_limited(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(ApiError::PayloadTooLarge(
            format!("the request body is larger than {limit} bytes: split it into smaller batches"),
        )),
        Err(e) if super::serve::is_stalled(e.as_ref()) => {
            Err(ApiError::Timeout(format!("{e}; nothing was written")))
        }
        Err(e) => Err(ApiError::BadRequest(format!(
            "could not read the request body: {e}"
        ))),
    }
}

fn is_gzip(headers: &HeaderMap) -> Result<bool, ApiError> {
    match headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or(""))
    {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("gzip") || v.eq_ignore_ascii_case("x-gzip") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("identity") || v.is_empty() => Ok(false),
        Some(v) => Err(ApiError::UnsupportedMediaType(format!(
            "Content-Encoding '{v}' is not supported: send the body plain or gzip-compressed"
        ))),
    }
}
