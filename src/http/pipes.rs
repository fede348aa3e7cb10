//! The Pipes API: run a pipe (`/v0/pipes/<name>.json|.csv|.ndjson`, GET or POST),
//! list the pipes, the OpenAPI document, and reload.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::auth::{Caller, PipeReader};
use super::error::ApiError;
use super::events::read_limited;
use super::{polling, AppState};
use crate::auth::Need;
use crate::cache::answers::{Answer, RequestKey};
use crate::pipes::format::{self, Format, Stats};
use crate::pipes::run::{self, RunError};
use crate::pipes::{catalog, PipeError};

/// Parameter names Tinybird clients send that are never pipe parameters.
const IGNORED_HEADER: &str = "x-ltv-ignored-params";
/// POST bodies carry parameters only; this is plenty.
const PARAMS_BODY_LIMIT: usize = 1024 * 1024;

/// `GET|POST /v0/pipes/<name>.<format>`.
///
/// Polling (src/cache/): once the token is checked and the parameters compiled
/// (no database work), a GET whose `If-None-Match` names the current ETag is
/// answered 304, and an answer computed at the current data versions is served
/// from memory; otherwise the pipe runs and its answer is kept.
pub async fn run_pipe(
    State(state): State<AppState>,
    PipeReader(caller): PipeReader,
    Path(file): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let (name, format) = split_file(&file)?;
    let pipe = state.pipes.get(name).ok_or_else(|| {
        ApiError::NotFound(format!(
            "pipe '{}' not found; GET /v0/pipes lists the pipes",
            clip(name)
        ))
    })?;
    caller.require(Need::ReadPipe(name))?;
    let mut params = query_params(&uri);
    if method == Method::POST {
        params.extend(body_params(&headers, body).await?);
    }
    // Last, over every source of parameters: a JWT's fixed values win.
    caller.apply_fixed(name, &mut params);
    let compiled = pipe.compile(&params).map_err(pipe_error)?;
    let key = RequestKey::new(&pipe, format, &compiled);
    let cache_control = state.config.cache.cache_control.as_str();
    if let Some(response) = from_memory(&state, &key, &method, &headers) {
        return Ok(with_ignored(response, &compiled.unknown_params));
    }
    if name.starts_with("ltv_forecast") {
        // The forecast pipes read stored fits; see `forecast::prepare` for why.
        super::forecast::prepare(&state, name, &params).await?;
    }
    // Read before the query runs: its snapshot holds at least these versions,
    // so the tag never claims data the answer lacks.
    let stamp = state.polling.versions.stamp();
    let result = run::run(&state.read_db, &compiled, state.config.pipes.max_rows)
        .await
        .map_err(run_error)?;
    let stats = Stats {
        elapsed_secs: started.elapsed().as_secs_f64(),
    };
    let body = Bytes::from(format::encode(format, &result, &stats));
    let response = match stamp {
        Some(stamp) => {
            let compress = state.config.http.compression && polling::accepts_gzip(&headers);
            let etag = key.etag(&stamp);
            let answer = Answer::new(stamp, etag, format.content_type(), body, compress);
            let response = polling::tagged(&answer, &headers, cache_control, "miss");
            state.polling.answers.put(key, Arc::new(answer));
            response
        }
        None => polling::answer(format.content_type(), body, None, cache_control, "bypass"),
    };
    Ok(with_ignored(response, &compiled.unknown_params))
}

/// A 304 when `If-None-Match` names the current ETag (GET/HEAD), else the
/// cached answer at the current versions; `None`: the pipe must run. No
/// database work either way.
fn from_memory(
    state: &AppState,
    key: &RequestKey,
    method: &Method,
    headers: &HeaderMap,
) -> Option<Response> {
    let stamp = state.polling.versions.stamp()?;
    let cache_control = state.config.cache.cache_control.as_str();
    let etag = key.etag(&stamp);
    let hit = state.polling.answers.get(key, &stamp);
    let conditional = method == Method::GET || method == Method::HEAD;
    if conditional && polling::none_match(headers, &etag, hit.is_some()) {
        return Some(polling::not_modified(&etag, cache_control));
    }
    let mut hit = hit?;
    if state.config.http.compression && polling::accepts_gzip(headers) {
        // The first client that takes gzip has the cached copy compressed, once.
        if let Some(compressed) = hit.with_gzip() {
            hit = Arc::new(compressed);
            state.polling.answers.put(*key, Arc::clone(&hit));
        }
    }
    Some(polling::tagged(&hit, headers, cache_control, "hit"))
}

/// Names the request parameters the pipe does not declare (they changed nothing).
fn with_ignored(mut response: Response, unknown: &[String]) -> Response {
    if !unknown.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&unknown.join(",")) {
            response.headers_mut().insert(IGNORED_HEADER, v);
        }
    }
    response
}

/// `customer_ltv.json` → (`customer_ltv`, JSON).
fn split_file(file: &str) -> Result<(&str, Format), ApiError> {
    let not_found = || {
        ApiError::NotFound(format!(
            "'{}' is not a pipe endpoint: use /v0/pipes/<name>.json, .csv or .ndjson",
            clip(file)
        ))
    };
    let (name, ext) = file.rsplit_once('.').ok_or_else(not_found)?;
    let format = Format::from_extension(ext).ok_or_else(not_found)?;
    Ok((name, format))
}

fn query_params(uri: &Uri) -> BTreeMap<String, Value> {
    uri.query()
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// A JSON object or a form body; its values override the query string's.
async fn body_params(headers: &HeaderMap, body: Body) -> Result<BTreeMap<String, Value>, ApiError> {
    let bytes = read_limited(body, PARAMS_BODY_LIMIT).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(BTreeMap::new());
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with("application/x-www-form-urlencoded") {
        return Ok(form_urlencoded::parse(&bytes)
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect());
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map.into_iter().collect()),
        Ok(_) => Err(ApiError::BadRequest(
            "the request body must be a JSON object of parameters".into(),
        )),
        Err(e) => Err(ApiError::BadRequest(format!(
            "the request body is not valid JSON ({e}); send a JSON object or a form"
        ))),
    }
}

fn pipe_error(e: PipeError) -> ApiError {
    match e.status() {
        400 => ApiError::BadRequest(e.to_string()),
        status => ApiError::Status(status, e.to_string()),
    }
}

fn run_error(e: RunError) -> ApiError {
    match e {
        RunError::Sql(e) if run::is_caused_by_values(&e) => {
            let message = match &e {
                sqlx::Error::Database(db) => db.message().to_string(),
                other => other.to_string(),
            };
            ApiError::BadRequest(format!("PostgreSQL rejected a parameter value: {message}"))
        }
        // 42501 insufficient_privilege: the pipe reads what pipes may not.
        RunError::Sql(sqlx::Error::Database(db)) if db.code().as_deref() == Some("42501") => {
            ApiError::Forbidden(format!(
                "pipes may read only the datasources, the derived state and the forecast: {}",
                db.message()
            ))
        }
        // 25006 read_only_sql_transaction: the pipe's SQL tries to write.
        RunError::Sql(sqlx::Error::Database(db)) if db.code().as_deref() == Some("25006") => {
            ApiError::BadRequest("pipes are read-only: this pipe's SQL tries to modify data".into())
        }
        RunError::Sql(e) => ApiError::from(e),
        RunError::TooManyRows(_) => ApiError::BadRequest(e.to_string()),
        RunError::UnsupportedType { .. } => ApiError::Internal(anyhow::anyhow!(e)),
    }
}

/// `GET /v0/pipes`: the pipes this token may read.
pub async fn list(State(state): State<AppState>, caller: Caller) -> Json<Value> {
    let pipes: Vec<Value> = state
        .pipes
        .snapshot()
        .values()
        .filter(|p| caller.allows(Need::ReadPipe(p.name())))
        .map(|p| catalog::describe(p))
        .collect();
    Json(json!({ "pipes": pipes }))
}

/// `GET /v0/pipes/openapi.json`: the pipes this token may read.
pub async fn openapi(State(state): State<AppState>, caller: Caller) -> Json<Value> {
    let snapshot = state.pipes.snapshot();
    let readable = snapshot
        .values()
        .filter(|p| caller.allows(Need::ReadPipe(p.name())))
        .map(|p| p.as_ref());
    Json(catalog::openapi(readable))
}

/// `POST /v0/pipes/reload` (ADMIN): re-reads the folder; 400 when a file failed
/// (the previous good version of that pipe stays in service).
pub async fn reload(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(Need::Admin)?;
    let report = state
        .pipes
        .reload()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("cannot read the pipes folder: {e}")))?;
    if report.errors.is_empty() {
        return Ok(Json(json!({ "loaded": report.loaded, "errors": [] })).into_response());
    }
    let summary = report
        .errors
        .iter()
        .map(|e| e.error.clone())
        .collect::<Vec<_>>()
        .join("; ");
    Ok((
        axum::http::StatusCode::BAD_REQUEST,
        Json(json!({
            "error": format!("some pipe files do not load (their previous versions stay in service): {summary}"),
            "loaded": report.loaded,
            "errors": report.errors,
        })),
    )
        .into_response())
}

fn clip(s: &str) -> String {
    s.chars().take(100).collect()
}
