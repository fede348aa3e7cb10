//! The HTTP surface: the whole URL map in [`router`], the shared state, and the
//! middleware. Only this module knows status codes.

mod auth;
mod bulk;
mod datasources;
pub mod error;
mod events;
mod forecast;
mod ops;
mod pipes;
mod polling;
mod query;
pub mod serve;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Request};
use axum::routing::{get, post};
use axum::Router;
use sqlx::PgPool;
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::auth::rate::RateLimiter;
use crate::cache::Polling;
use crate::config::Config;
use crate::forecasting::ForecastService;
use crate::ingest::maintainer::Maintainer;
use crate::pipes::registry::Registry;
use crate::prometheus;
use error::ApiError;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    /// Ingestion's connections, as the writer role (src/db/roles.rs).
    pub writer: crate::db::Writer,
    /// Read-only sessions, for pipes.
    pub read_db: PgPool,
    pub config: Arc<Config>,
    pub pipes: Arc<Registry>,
    pub forecast: Arc<ForecastService>,
    /// Data versions, answer cache, token cache (src/cache/).
    pub polling: Arc<Polling>,
    /// Per-token requests per second (src/auth/rate.rs).
    pub rate_limits: Arc<RateLimiter>,
    /// The key JWTs are signed and verified with (src/auth/jwt.rs).
    pub jwt_key: Arc<Vec<u8>>,
    /// Applies written rows to the derived state (src/ingest/maintainer.rs).
    pub maintainer: Arc<Maintainer>,
    /// Renders the process's metrics (src/prometheus.rs).
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// `wait_ms`, but always a second short of `http.request_timeout_secs`: a
/// handler that waits on background work (a fit, the maintainer) must answer
/// before the deadline middleware's 408, which would say nothing happened.
fn short_of_request_timeout(state: &AppState, wait_ms: u64) -> Duration {
    let timeout = Duration::from_secs(state.config.http.request_timeout_secs.max(1));
    Duration::from_millis(wait_ms).min(timeout.saturating_sub(Duration::from_secs(1)))
}

/// Every route of the API, with the middleware around them.
pub fn router(state: AppState) -> Router {
    let config = state.config.clone();
    let observed = state.clone();
    let api = Router::new()
        .route("/health", get(ops::health))
        .route("/metrics", get(ops::metrics))
        .route("/ready", get(ops::ready))
        .route("/v0/events", post(events::post))
        .route("/v0/datasources", get(datasources::list).post(bulk::append))
        .route(
            "/v0/datasources/{name}/quarantine",
            get(datasources::quarantine).delete(datasources::clear_quarantine),
        )
        .route("/v0/models/forecast", get(forecast::diagnostics))
        .route("/v0/pipes", get(pipes::list))
        .route("/v0/pipes/openapi.json", get(pipes::openapi))
        .route("/v0/pipes/reload", post(pipes::reload))
        .route(
            "/v0/pipes/{file}",
            get(pipes::run_pipe).post(pipes::run_pipe),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state);
    // Outermost, so that 408s and 503s of the other layers are counted too.
    with_middleware(api, &config).layer(axum::middleware::from_fn_with_state(observed, observe))
}

/// The router `metrics.listen` serves: `/metrics` only, no token (the
/// address is meant to be reachable by the scraper alone).
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|axum::extract::State(s): axum::extract::State<AppState>| async move {
                ops::render(&s)
            }),
        )
        .fallback(not_found)
        .with_state(state)
}

/// Counts and times every request by route, pipe and status, and how pipe
/// answers and writes went (src/prometheus.rs).
async fn observe(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: Request<axum::body::Body>,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let started = std::time::Instant::now();
    // `/v0/pipes/:file`, not axum's `{file}`: braces inside label values
    // trip simple exposition parsers.
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().replace('{', ":").replace('}', ""))
        .unwrap_or_else(|| "unmatched".into());
    let pipe = pipe_label(&state, &route, req.uri().path());
    let write = write_label(req.method(), req.uri());
    let response = next.run(req).await;
    let status = response.status();
    prometheus::request(&route, &pipe, status.as_u16(), started.elapsed());
    if !pipe.is_empty() {
        let cache = response
            .headers()
            .get(&polling::CACHE_STATUS)
            .and_then(|v| v.to_str().ok());
        match (status, cache) {
            (axum::http::StatusCode::NOT_MODIFIED, _) => prometheus::answer("not_modified"),
            (_, Some("hit")) => prometheus::answer("hit"),
            (_, Some("miss")) => prometheus::answer("miss"),
            (_, Some("bypass")) => prometheus::answer("bypass"),
            _ => {}
        }
    }
    if let Some((path, datasource)) = write {
        if status.is_client_error() || status.is_server_error() {
            prometheus::write_rejected(datasource, path, status.as_u16());
        }
    }
    response
}

/// A loaded pipe's name for `/v0/pipes/{file}` (others: ""), so that labels
/// stay bounded whatever names clients send.
fn pipe_label(state: &AppState, route: &str, path: &str) -> String {
    if route != "/v0/pipes/:file" {
        return String::new();
    }
    let file = path.rsplit('/').next().unwrap_or("");
    let name = file.split('.').next().unwrap_or("");
    match state.pipes.get(name) {
        Some(_) => name.to_string(),
        None => String::new(),
    }
}

/// For a write request, its path and datasource ("" when not one of ours).
fn write_label(
    method: &axum::http::Method,
    uri: &axum::http::Uri,
) -> Option<(prometheus::WritePath, &'static str)> {
    if method != axum::http::Method::POST {
        return None;
    }
    let path = match uri.path() {
        "/v0/events" => prometheus::WritePath::Events,
        "/v0/datasources" => prometheus::WritePath::Bulk,
        _ => return None,
    };
    let datasource = form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "name")
        .and_then(|(_, v)| crate::ingest::rows::Datasource::from_name(&v))
        .map(|d| d.name())
        .unwrap_or("");
    Some((path, datasource))
}

fn with_middleware(router: Router, config: &Config) -> Router {
    let trace = TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
        // The matched route, never the raw URI: `?token=` must stay out of logs.
        let route = req
            .extensions()
            .get::<axum::extract::MatchedPath>()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "unmatched".into());
        let request_id = req
            .headers()
            .get(&REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        tracing::info_span!("request", method = %req.method(), route, request_id)
    });
    let mut router = router
        // Bodies are limited by the handlers themselves, so the 413 is JSON.
        .layer(DefaultBodyLimit::disable())
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(trace)
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(axum::middleware::from_fn_with_state(
                    serve::Concurrency::new(&config.http),
                    serve::concurrency_guard,
                ))
                .layer(axum::middleware::from_fn_with_state(
                    Deadlines::from(config),
                    deadline,
                ))
                .layer(axum::middleware::from_fn_with_state(
                    Duration::from_secs(config.http.body_read_timeout_secs.max(1)),
                    serve::stall_guard,
                )),
        );
    if config.http.compression {
        router = router.layer(CompressionLayer::new());
    }
    if let Some(cors) = cors(&config.http.cors_origins) {
        router = router.layer(cors);
    }
    router
}

/// How long a request may take: bulk appends stream large files and get their
/// own limit (0: none); everything else `http.request_timeout_secs`.
#[derive(Clone, Copy)]
struct Deadlines {
    normal: Duration,
    bulk: Option<Duration>,
}

impl From<&Config> for Deadlines {
    fn from(config: &Config) -> Self {
        Deadlines {
            normal: Duration::from_secs(config.http.request_timeout_secs.max(1)),
            bulk: (config.http.bulk_timeout_secs > 0)
                .then(|| Duration::from_secs(config.http.bulk_timeout_secs)),
        }
    }
}

/// Answers 408 (JSON) when the handler overruns its deadline; dropping the
/// handler's future rolls back whatever transaction it had open.
async fn deadline(
    axum::extract::State(d): axum::extract::State<Deadlines>,
    req: Request<axum::body::Body>,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let bulk = req.method() == axum::http::Method::POST && req.uri().path() == "/v0/datasources";
    let limit = if bulk { d.bulk } else { Some(d.normal) };
    let Some(limit) = limit else {
        return next.run(req).await;
    };
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => error::ApiError::Timeout(format!(
            "the request took longer than {} s and was cancelled; nothing it was writing was kept",
            limit.as_secs()
        ))
        .into_response(),
    }
}

/// CORS is off unless origins are configured.
fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods(tower_http::cors::Any)
            .allow_headers(tower_http::cors::Any),
    )
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint; see the README for the API".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
