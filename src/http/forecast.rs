//! The forecast over HTTP: `GET /v0/models/forecast` (diagnostics) and the hook
//! that prepares the fit a `ltv_forecast*` pipe reads before it runs.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::{auth::Caller, AppState};
use crate::auth::Need;
use crate::forecasting::ServiceError;
use crate::pipes::values::parse_date;

/// `GET /v0/models/forecast` (ADMIN or PIPES:READ:ltv_forecast): the fit on
/// the latest data that `ltv_forecast` serves (fitted now if none exists yet).
pub async fn diagnostics(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    caller.require(Need::ReadPipe("ltv_forecast"))?;
    let fit = state
        .forecast
        .ensure_fit(None)
        .await
        .map_err(service_error)?
        .ok_or_else(|| ApiError::NotFound("no forecast yet: no purchase is stored".into()))?;
    Ok(Json(json!({
        "model": "BG/NBD + Gamma-Gamma",
        "fit_id": fit.id,
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
            .ensure_validation(calibration_end, holdout_end)
            .await
            .map_err(service_error);
    }
    if params.contains_key("as_of") && date("as_of").is_none() {
        return Ok(());
    }
    state
        .forecast
        .ensure_fit(date("as_of"))
        .await
        .map(|_| ())
        .map_err(service_error)
}

fn service_error(e: ServiceError) -> ApiError {
    match e {
        ServiceError::Model { .. } => ApiError::BadRequest(e.to_string()),
        ServiceError::Sql(e) => ApiError::from(e),
        ServiceError::Task(_) => ApiError::Internal(anyhow::anyhow!(e)),
    }
}
