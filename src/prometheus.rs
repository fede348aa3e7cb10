//! Prometheus metrics (`GET /metrics`): every metric's name and labels are
//! written here, once, and the rest of the crate calls the functions below.
//! The recorder is process-wide (the `metrics` facade has one global), so it
//! is installed once however many servers a process starts (the tests start
//! many); counters then add up across them.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Request latency buckets, in seconds: a 304 takes well under a millisecond,
/// a cold filtered pipe at a million customers seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Forecast fits take from milliseconds (a few customers) to minutes.
const FIT_BUCKETS: &[f64] = &[0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the recorder (once per process) and returns the handle that
/// renders it. Keeps histograms bounded by draining them every few seconds.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("ltv_http_request_duration_seconds".into()),
                    LATENCY_BUCKETS,
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("ltv_forecast_fit_duration_seconds".into()),
                        FIT_BUCKETS,
                    )
                })
                .expect("bucket lists are not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Fails only when another recorder was installed first, which
            // this crate never does: the handle then renders nothing of ours.
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
            }
            gauge!("ltv_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || loop {
                    std::thread::sleep(Duration::from_secs(5));
                    upkeep.run_upkeep();
                })
                .expect("spawning a thread");
            handle
        })
        .clone()
}

/// One HTTP request: `route` is the matched route template (never the raw
/// path, which carries ids), `pipe` a loaded pipe's name or "".
pub fn request(route: &str, pipe: &str, status: u16, elapsed: Duration) {
    let labels = [
        ("route", route.to_string()),
        ("pipe", pipe.to_string()),
        ("status", status.to_string()),
    ];
    counter!("ltv_http_requests_total", &labels).increment(1);
    histogram!("ltv_http_request_duration_seconds", &labels).record(elapsed.as_secs_f64());
}

/// Where written rows came from: the Events API or a bulk append.
#[derive(Debug, Clone, Copy)]
pub enum WritePath {
    Events,
    Bulk,
}

impl WritePath {
    fn as_str(self) -> &'static str {
        match self {
            WritePath::Events => "events",
            WritePath::Bulk => "bulk",
        }
    }
}

/// Rows a committed write stored and quarantined.
pub fn rows_written(datasource: &'static str, path: WritePath, stored: u64, quarantined: u64) {
    let labels = [("datasource", datasource), ("path", path.as_str())];
    counter!("ltv_rows_ingested_total", &labels).increment(stored);
    counter!("ltv_rows_quarantined_total", &labels).increment(quarantined);
}

/// A write request refused whole (nothing written): `datasource` is the
/// `name` parameter when it names a datasource, else "".
pub fn write_rejected(datasource: &'static str, path: WritePath, status: u16) {
    counter!(
        "ltv_write_requests_rejected_total",
        "datasource" => datasource,
        "path" => path.as_str(),
        "status" => status.to_string()
    )
    .increment(1);
}

/// How a pipe answer was served: the `x-ltv-cache` header's value (`hit`,
/// `miss`, `bypass`) or `not_modified` for a 304.
pub fn answer(outcome: &'static str) {
    counter!("ltv_pipe_answers_total", "cache" => outcome).increment(1);
}

/// Sampled when `/metrics` is read: the answer cache's size, the queue and
/// the pools.
pub struct Snapshot<'a> {
    pub answer_cache_bytes: u64,
    pub queued_rows: u64,
    pub pools: [(&'static str, &'a sqlx::PgPool); 2],
}

pub fn sample(s: &Snapshot<'_>) {
    gauge!("ltv_answer_cache_bytes").set(s.answer_cache_bytes as f64);
    gauge!("ltv_ingest_queued_rows").set(s.queued_rows as f64);
    for (name, pool) in s.pools {
        gauge!("ltv_db_pool_connections", "pool" => name).set(pool.size() as f64);
        gauge!("ltv_db_pool_idle_connections", "pool" => name).set(pool.num_idle() as f64);
        gauge!("ltv_db_pool_max_connections", "pool" => name)
            .set(pool.options().get_max_connections() as f64);
    }
}

/// A request that waited for a database connection longer than the pool's
/// acquire timeout (answered 503).
pub fn pool_timed_out() {
    counter!("ltv_db_pool_timeouts_total").increment(1);
}

/// A stored forecast fit: how long it took, and when it succeeded.
pub fn fit_stored(kind: &'static str, elapsed: Duration) {
    histogram!("ltv_forecast_fit_duration_seconds", "kind" => kind).record(elapsed.as_secs_f64());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    gauge!("ltv_forecast_last_fit_timestamp_seconds", "kind" => kind).set(now.as_secs_f64());
}
