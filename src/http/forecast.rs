//! The forecast over HTTP: `GET /v0/models/forecast` (diagnostics) and the hook
//! that prepares the fit a `ltv_forecast*` pipe reads before it runs.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::State;
use axum::http::Uri;
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::query::Query;
use super::{auth::Caller, AppState};
use crate::auth::Need;
use crate::forecasting::ServiceError;
use crate::pipes::values::parse_date;

/// `GET /v0/models/forecast[?as_of=YYYY-MM-DD]` (ADMIN or
/// PIPES:READ:ltv_forecast): the fit `ltv_forecast` serves with the same
/// `as_of`: without it (or today or later) the fit on the latest data, with
/// a past date that date's pinned fit. One not stored yet is fitted in the
/// background, like a pipe call's.
pub async fn diagnostics(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    caller.require(Need::ReadPipe("ltv_forecast"))?;
    let as_of = match Query::from_uri(&uri).get("as_of") {
        None | Some("") => None,
        Some(raw) => Some(parse_date(raw).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "parameter 'as_of' must be a date (YYYY-MM-DD), got '{raw}'"
            ))
        })?),
    };
    let fit = state
        .forecast
        .ensure_fit(as_of, fit_wait(&state))
        .await
        .map_err(service_error)?
        .ok_or_else(|| {
            ApiError::NotFound("no forecast: no purchase is stored up to the as_of".into())
        })?;
    Ok(Json(json!({
        "model": "BG/NBD + Gamma-Gamma",
        "fit_id": fit.id,
        "kind": fit.kind,
        "as_of": fit.as_of,
        "fitted_at": fit.fitted_at,
        "data_window": { "first_day": fit.data_min_day, "last_day": fit.data_max_day },
        "bgnbd": {
            "r": fit.bgnbd.r, "alpha": fit.bgnbd.alpha, "a": fit.bgnbd.a, "b": fit.bgnbd.b,
            "log_likelihood": fit.log_likelihood,
            "n_customers": fit.n_customers,
            "n_unique": fit.n_unique,
        },
        "gamma_gamma": {
            "p": fit.gamma_gamma.p, "q": fit.gamma_gamma.q, "gamma": fit.gamma_gamma.gamma,
            "log_likelihood": fit.gg_log_likelihood,
            "n_customers": fit.n_spend_customers,
        },
        "converged": fit.converged,
        "iterations": fit.iterations,
        "message": fit.message,
        "transactions": fit.transactions,
        "fit_ms": fit.fit_ms,
    })))
}

/// Why this hook exists: the `ltv_forecast*` pipes are plain SQL over the
/// stored fits and predictions (so validation, formats, auth, listing and
/// OpenAPI are the engine's), but pipes run on read-only sessions and cannot
/// fit. So before such a pipe runs, the forecast service makes sure the fit
/// (or validation) it will read exists. Values are parsed exactly like the
/// pipe's `Date` parameters; a value that does not parse is left for the
/// pipe's own validation to report.
pub async fn prepare(
    state: &AppState,
    pipe: &str,
    params: &BTreeMap<String, Value>,
) -> Result<(), ApiError> {
    let date = |name: &str| {
        params
            .get(name)
            .and_then(Value::as_str)
            .and_then(parse_date)
    };
    if pipe == "ltv_forecast_validation" {
        let (Some(calibration_end), Some(holdout_end)) =
            (date("calibration_end"), date("holdout_end"))
        else {
            return Ok(());
        };
        if holdout_end <= calibration_end {
            return Err(ApiError::BadRequest(
                "parameter 'holdout_end' must be after 'calibration_end'".into(),
            ));
        }
        return state
            .forecast
            .ensure_validation(calibration_end, holdout_end, fit_wait(state))
            .await
            .map_err(service_error);
    }
    if params.contains_key("as_of") && date("as_of").is_none() {
        return Ok(());
    }
    state
        .forecast
        .ensure_fit(date("as_of"), fit_wait(state))
        .await
        .map(|_| ())
        .map_err(service_error)
}

/// How long a call waits for a background fit: `forecast.fit_wait_ms`,
/// but always a second short of the request timeout, so the caller gets the
/// 503 with Retry-After rather than a 408.
fn fit_wait(state: &AppState) -> Duration {
    super::short_of_request_timeout(state, state.config.forecast.fit_wait_ms)
}

fn service_error(e: ServiceError) -> ApiError {
    match e {
        ServiceError::Model { .. } => ApiError::BadRequest(e.to_string()),
        ServiceError::Failed(ref f) if f.bad_data => ApiError::BadRequest(e.to_string()),
        ServiceError::Failed(_) => ApiError::Busy {
            message: format!("{e}; the next call tries again"),
            retry_after_secs: 1,
        },
        ServiceError::Pending {
            retry_after_secs, ..
        } => ApiError::Busy {
            message: e.to_string(),
            retry_after_secs,
        },
        ServiceError::Sql(e) => ApiError::from(e),
        ServiceError::Task(_) => ApiError::Internal(anyhow::anyhow!(e)),
    }
}
