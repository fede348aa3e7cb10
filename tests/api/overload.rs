//! Slow and numerous clients are answered or cut off, never allowed to hold
//! the server: the header read timeout, the connection cap, the body stall
//! timeout and the concurrency cap (config.yml `http.*`).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TestApp, ADMIN_TOKEN};

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_string()
}

/// Reads until the server closes the connection; what it sent, and when.
async fn read_to_close(
    stream: &mut TcpStream,
    patience: Duration,
    what: &str,
) -> (String, Duration) {
    let started = Instant::now();
    let mut seen = Vec::new();
    let read = tokio::time::timeout(patience, stream.read_to_end(&mut seen)).await;
    assert!(
        read.is_ok(),
        "{what}: the server kept the connection open for {patience:?}"
    );
    (
        String::from_utf8_lossy(&seen).into_owned(),
        started.elapsed(),
    )
}

async fn health(app: &TestApp) -> StatusCode {
    app.client
        .get(app.url("/health"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn a_client_that_sends_half_a_request_line_is_cut_off() {
    let app = TestApp::spawn_with(&[("LTV_HTTP__HEADER_READ_TIMEOUT_SECS", "1")]).await;
    let mut slow = TcpStream::connect(addr(&app)).await.unwrap();
    slow.write_all(b"GET /hea").await.unwrap();
    let mut silent = TcpStream::connect(addr(&app)).await.unwrap();
    // Others are served meanwhile.
    assert_eq!(health(&app).await, StatusCode::OK);
    let (_, after) = read_to_close(&mut slow, Duration::from_secs(10), "half a request line").await;
    assert!(after < Duration::from_secs(5), "cut after {after:?}");
    let (_, after) = read_to_close(&mut silent, Duration::from_secs(10), "a silent client").await;
    assert!(
        after < Duration::from_secs(5),
        "a silent connection was cut after {after:?}"
    );
    // An idle keep-alive connection, after a request it was answered.
    let mut idle = TcpStream::connect(addr(&app)).await.unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (answer, after) = read_to_close(
        &mut idle,
        Duration::from_secs(10),
        "an idle keep-alive client",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        after < Duration::from_secs(5),
        "an idle connection was cut after {after:?}"
    );
    assert_eq!(health(&app).await, StatusCode::OK);
}

#[tokio::test]
async fn at_the_connection_cap_new_clients_wait_for_a_free_connection() {
    let app = TestApp::spawn_with(&[
        ("LTV_HTTP__MAX_CONNECTIONS", "2"),
        ("LTV_HTTP__HEADER_READ_TIMEOUT_SECS", "2"),
    ])
    .await;
    let mut hogs = Vec::new();
    for _ in 0..2 {
        let mut hog = TcpStream::connect(addr(&app)).await.unwrap();
        hog.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        hogs.push(hog);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    // Served once the header timeout frees a connection, not before.
    assert_eq!(health(&app).await, StatusCode::OK);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1000),
        "served after {waited:?} with both connections taken"
    );
    assert!(
        waited < Duration::from_secs(8),
        "served only after {waited:?}"
    );
    for mut hog in hogs {
        read_to_close(&mut hog, Duration::from_secs(10), "a hog").await;
    }
}

#[tokio::test]
async fn a_body_that_stalls_is_answered_408_and_nothing_is_written() {
    let app = TestApp::spawn_with(&[("LTV_HTTP__BODY_READ_TIMEOUT_SECS", "1")]).await;
    for path in [
        "/v0/events?name=transactions",
        "/v0/datasources?mode=append&name=transactions",
    ] {
        let mut stream = TcpStream::connect(addr(&app)).await.unwrap();
        let row = r#"{"transaction_id":"t1","customer_id":"c","transaction_date":"2024-01-01","amount":1}"#;
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\
             Content-Type: application/x-ndjson\r\nContent-Length: 100000\r\nConnection: close\r\n\r\n{row}\n"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let (answer, after) = read_to_close(&mut stream, Duration::from_secs(15), path).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
        assert!(
            answer.contains("http.body_read_timeout_secs"),
            "{path}: {answer}"
        );
        assert!(
            after < Duration::from_secs(8),
            "{path}: answered after {after:?}"
        );
    }
    assert_eq!(app.count("SELECT count(*) FROM transactions").await, 0);
}

#[tokio::test]
async fn beyond_the_concurrency_cap_requests_answer_503_with_retry_after() {
    let app = TestApp::spawn_with(&[
        ("LTV_HTTP__MAX_CONCURRENT_REQUESTS", "1"),
        ("LTV_HTTP__QUEUE_WAIT_MS", "100"),
        ("LTV_HTTP__BODY_READ_TIMEOUT_SECS", "3"),
    ])
    .await;
    // A request whose body stalls holds the one slot.
    let mut holder = TcpStream::connect(addr(&app)).await.unwrap();
    let head = format!(
        "POST /v0/events?name=transactions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\
         Content-Length: 1000\r\nConnection: close\r\n\r\n{{"
    );
    holder.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let resp = app
        .client
        .get(app.url("/v0/pipes"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers()["retry-after"], "1");
    let (_, body) = crate::helpers::split(resp).await;
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("http.max_concurrent_requests"),
        "{body}"
    );
    // Probes are never turned away.
    assert_eq!(health(&app).await, StatusCode::OK);
    // Once the slot is free, requests are served again.
    read_to_close(&mut holder, Duration::from_secs(15), "the holder").await;
    let (status, body) = app.get("/v0/pipes").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
