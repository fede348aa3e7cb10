//! `GET /metrics`: who may read it, that a Prometheus parser reads it, and
//! that the counters move with the requests made. The recorder is
//! process-wide and other tests run beside these, so counts are asserted as
//! "at least the requests made here".

use ltv_pipes::auth::Scope;
use prometheus_parse::{Sample, Scrape, Value};
use reqwest::StatusCode;

use crate::helpers::{TestApp, ADMIN_TOKEN};

async fn token(app: &TestApp, scopes: &[&str]) -> String {
    let scopes: Vec<Scope> = scopes.iter().map(|s| s.parse().unwrap()).collect();
    ltv_pipes::auth::create(&app.pool, None, &scopes, None)
        .await
        .unwrap()
}

async fn scrape_at(app: &TestApp, url: &str, token: Option<&str>) -> Scrape {
    let mut req = app.client.get(url);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = resp.text().await.unwrap();
    Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("Prometheus text format")
}

async fn scrape(app: &TestApp) -> Scrape {
    scrape_at(app, &app.url("/metrics"), Some(ADMIN_TOKEN)).await
}

fn find<'a>(scrape: &'a Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<&'a Sample> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
}

/// A counter's or gauge's value (0 when the series does not exist yet).
fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    match find(scrape, metric, labels).map(|s| &s.value) {
        None => 0.0,
        Some(Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v)) => *v,
        Some(other) => panic!("{metric} is not a counter or gauge: {other:?}"),
    }
}

#[tokio::test]
async fn metrics_need_metrics_read_or_admin() {
    let app = TestApp::spawn().await;
    let resp = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let reader = token(&app, &["PIPES:READ:*"]).await;
    let resp = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("METRICS:READ"),
        "{body}"
    );
    let scraper = token(&app, &["METRICS:READ"]).await;
    let scrape = scrape_at(&app, &app.url("/metrics"), Some(&scraper)).await;
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        value(&scrape, "ltv_build_info", &[("version", version)]),
        1.0
    );
}

#[tokio::test]
async fn counters_move_with_requests_writes_and_polls() {
    let app = TestApp::spawn().await;
    let before = scrape(&app).await;
    let pipe_200 = [
        ("route", "/v0/pipes/:file"),
        ("pipe", "ltv_overview"),
        ("status", "200"),
    ];
    let ingested = [("datasource", "transactions"), ("path", "events")];

    let (status, _) = app
        .post_events(
            "transactions",
            concat!(
                r#"{"transaction_id":"m1","customer_id":"c1","transaction_date":"2024-01-02 10:00:00","amount":10}"#,
                "\n",
                r#"{"transaction_id":"m2","customer_id":"c1","transaction_date":"2024-02-02 10:00:00","amount":20}"#,
                "\n",
                r#"{"transaction_id":"m3","customer_id":"c1","transaction_date":"not a date","amount":5}"#,
                "\n"
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let first = app
        .client
        .get(app.url("/v0/pipes/ltv_overview.json"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let etag = first.headers()["etag"].to_str().unwrap().to_string();
    let again = app
        .client
        .get(app.url("/v0/pipes/ltv_overview.json"))
        .bearer_auth(ADMIN_TOKEN)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    // A name that is no pipe is counted without a pipe label.
    let (status, _) = app.get("/v0/pipes/no_such_pipe_xyz.json").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Refused whole: an unknown format parameter is fine, a missing mode is not.
    let resp = app
        .client
        .post(app.url("/v0/datasources?name=transactions"))
        .bearer_auth(ADMIN_TOKEN)
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    let after = scrape(&app).await;
    let moved = |metric: &str, labels: &[(&str, &str)]| {
        value(&after, metric, labels) - value(&before, metric, labels)
    };
    assert!(moved("ltv_http_requests_total", &pipe_200) >= 1.0);
    assert!(
        moved(
            "ltv_http_requests_total",
            &[
                ("route", "/v0/pipes/:file"),
                ("pipe", ""),
                ("status", "404")
            ]
        ) >= 1.0
    );
    assert!(
        after
            .samples
            .iter()
            .all(|s| s.labels.get("pipe") != Some("no_such_pipe_xyz")),
        "unknown pipe names must not become labels"
    );
    assert!(moved("ltv_rows_ingested_total", &ingested) >= 2.0);
    assert!(moved("ltv_rows_quarantined_total", &ingested) >= 1.0);
    assert!(moved("ltv_pipe_answers_total", &[("cache", "not_modified")]) >= 1.0);
    assert!(
        moved("ltv_pipe_answers_total", &[("cache", "miss")])
            + moved("ltv_pipe_answers_total", &[("cache", "hit")])
            >= 1.0
    );
    assert!(
        moved(
            "ltv_write_requests_rejected_total",
            &[
                ("datasource", "transactions"),
                ("path", "bulk"),
                ("status", "400")
            ]
        ) >= 1.0
    );
    match find(&after, "ltv_http_request_duration_seconds", &pipe_200).map(|s| &s.value) {
        Some(Value::Histogram(buckets)) => {
            assert!(buckets.len() > 5, "{buckets:?}");
            assert!(buckets.last().unwrap().count >= 1.0);
        }
        other => panic!("no latency histogram for ltv_overview: {other:?}"),
    }
    for pool in ["owner", "reader"] {
        let max = value(&after, "ltv_db_pool_max_connections", &[("pool", pool)]);
        assert!(max >= 1.0, "{pool} pool: max {max}");
    }
    assert!(find(&after, "ltv_answer_cache_bytes", &[]).is_some());
}

#[tokio::test]
async fn metrics_listen_serves_without_a_token() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let app = TestApp::spawn_with(&[("LTV_METRICS__LISTEN", &listen)]).await;
    let scrape = scrape_at(&app, &format!("http://{listen}/metrics"), None).await;
    assert!(find(&scrape, "ltv_build_info", &[]).is_some());
    let resp = app
        .client
        .get(format!("http://{listen}/v0/pipes"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::NOT_FOUND,
        "only /metrics is open there"
    );
}
