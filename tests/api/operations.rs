use reqwest::StatusCode;

use crate::helpers::{split, TestApp, ADMIN_TOKEN};

/// The Dockerfile's HEALTHCHECK command, run as the container runs it (the
/// image's LTV_LISTEN is 0.0.0.0:7181; here the test server's port): healthy
/// while the server answers, unhealthy when nothing listens.
#[tokio::test]
async fn the_dockerfile_health_check_command_works() {
    let dockerfile =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile")).unwrap();
    let line = dockerfile
        .lines()
        .find(|l| l.starts_with("HEALTHCHECK"))
        .expect("the Dockerfile has a HEALTHCHECK");
    let command: Vec<String> =
        serde_json::from_str(line.split_once(" CMD ").expect("CMD in exec form").1).unwrap();
    assert_eq!(
        command[0], "ltv-pipes",
        "the check runs the binary itself: {line}"
    );
    let run = move |listen: String| {
        let args = command[1..].to_vec();
        move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_ltv-pipes"))
                .args(args)
                .env_clear()
                .env("LTV_LISTEN", listen)
                .current_dir(crate::helpers::scratch_dir("health"))
                .output()
                .unwrap()
        }
    };
    let app = TestApp::spawn().await;
    let port = app.base.rsplit(':').next().unwrap().to_string();
    let listen = format!("0.0.0.0:{port}");
    let out = tokio::task::spawn_blocking(run(listen)).await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(app);
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = tokio::task::spawn_blocking(run(closed.to_string()))
        .await
        .unwrap();
    assert!(
        !out.status.success(),
        "nothing listens on {closed}, yet healthy"
    );
}

/// `docker build` sees only what the Dockerfile copies: every input of the
/// crate's build (build.rs embeds `sql/`, `sqlx::migrate!` embeds
/// `migrations/`, config.rs embeds `config.yml`) must be among them.
#[test]
fn the_dockerfile_copies_every_input_of_the_build() {
    let dockerfile =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile")).unwrap();
    let copied: Vec<&str> = dockerfile
        .lines()
        .take_while(|l| !l.starts_with("RUN cargo build"))
        .filter_map(|l| l.strip_prefix("COPY "))
        .flat_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words[..words.len() - 1].to_vec()
        })
        .collect();
    for input in [
        "Cargo.toml",
        "Cargo.lock",
        "build.rs",
        "config.yml",
        "src",
        "migrations",
        "sql",
        "benches",
    ] {
        assert!(
            copied.contains(&input),
            "the Dockerfile's build stage does not copy {input}: {copied:?}"
        );
    }
}

#[tokio::test]
async fn health_and_ready_answer_200_when_migrated() {
    let app = TestApp::spawn().await;
    let (status, body) = split(app.client.get(app.url("/health")).send().await.unwrap()).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let (status, body) = split(app.client.get(app.url("/ready")).send().await.unwrap()).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ready"))
    );
}

#[tokio::test]
async fn ready_is_503_when_migrations_are_missing() {
    let app = TestApp::spawn().await;
    sqlx::query("DELETE FROM _sqlx_migrations")
        .execute(&app.pool)
        .await
        .unwrap();
    let (status, body) = split(app.client.get(app.url("/ready")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body["error"].as_str().unwrap().contains("not ready"));
}

#[tokio::test]
async fn an_unknown_datasource_is_404_listing_the_datasources() {
    let app = TestApp::spawn().await;
    let (status, body) = app.post_events("orders", "{}").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("'orders'")
            && error.contains("customers, transactions, customer_interactions"),
        "{error}"
    );
    let (status, _) = app.get("/v0/datasources/orders/quarantine").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_missing_name_or_an_empty_body_is_400() {
    let app = TestApp::spawn().await;
    let resp = app
        .client
        .post(app.url("/v0/events"))
        .bearer_auth(ADMIN_TOKEN)
        .body("{}")
        .send()
        .await
        .unwrap();
    let (status, body) = split(resp).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("'name' is required"));
    for empty in ["", "\n \n"] {
        let (status, body) = app.post_events("customers", empty).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{empty:?}");
        assert!(body["error"].as_str().unwrap().contains("empty"));
    }
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_and_nothing_is_stored() {
    let app = TestApp::spawn_with(&[("LTV_HTTP__BODY_LIMIT_BYTES", "2000")]).await;
    let line = r#"{"customer_id":"c","registration_date":"2023-01-15"}"#;
    let big: String = (0..100).map(|_| line).collect::<Vec<_>>().join("\n");
    let (status, body) = app.post_events("customers", big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(body["error"].as_str().unwrap().contains("2000 bytes"));
    assert_eq!(app.count("SELECT count(*) FROM customers").await, 0);
    // A small gzip body that expands past the limit is refused too.
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(" ".repeat(100_000).as_bytes()).unwrap();
    let resp = app
        .client
        .post(app.url("/v0/events?name=customers"))
        .bearer_auth(ADMIN_TOKEN)
        .header("Content-Encoding", "gzip")
        .body(enc.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(split(resp).await.0, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn an_unsupported_encoding_is_415_and_bad_gzip_is_400() {
    let app = TestApp::spawn().await;
    let send = |enc: &'static str| {
        app.client
            .post(app.url("/v0/events?name=customers"))
            .bearer_auth(ADMIN_TOKEN)
            .header("Content-Encoding", enc)
            .body("{}")
            .send()
    };
    assert_eq!(
        split(send("br").await.unwrap()).await.0,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    let (status, body) = split(send("gzip").await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("gzip"));
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_json_errors() {
    let app = TestApp::spawn().await;
    let (status, _) = split(app.client.get(app.url("/v0/nothing")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = split(
        app.client
            .get(app.url("/v0/events?name=customers"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::spawn().await;
    let resp = app.client.get(app.url("/health")).send().await.unwrap();
    assert!(!resp.headers()["x-request-id"].is_empty());
    let resp = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "abc-123");
}

/// `ltv-pipes backup` then `restore` into an empty database: every pipe
/// answers the same, the derived state is exact, tokens still work; a
/// restore into a database that holds data is refused and changes nothing.
#[tokio::test]
async fn backup_then_restore_gives_the_same_answers() {
    let source_url = crate::helpers::fresh_database().await;
    let source = TestApp::spawn_on(&source_url, &[]).await;
    let spec = ltv_pipes::demo::Spec::new(300, 5);
    ltv_pipes::demo::load(
        &ltv_pipes::db::Writer::new(source.pool.clone(), true),
        spec,
        |_, _| {},
    )
    .await
    .unwrap();
    let calls: Vec<String> = crate::helpers::CLV_PIPES
        .iter()
        .map(|p| format!("/v0/pipes/{p}.json"))
        .chain([
            "/v0/pipes/customer_ltv.json?country=US&order_by=customer_id&limit=50".to_string(),
            "/v0/pipes/ltv_forecast.json?limit=20".to_string(),
        ])
        .collect();
    let mut before = Vec::new();
    for call in &calls {
        let (status, body) = source.get(call).await;
        assert_eq!(status, StatusCode::OK, "{call}: {body}");
        before.push(body["data"].clone());
    }

    let file = crate::helpers::scratch_dir("backup").join("ltv.dump");
    let out =
        crate::helpers::run_cli(&source_url, &["backup", "--output", file.to_str().unwrap()]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let target_url = crate::helpers::fresh_database().await;
    let out =
        crate::helpers::run_cli(&target_url, &["restore", "--input", file.to_str().unwrap()]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let target = TestApp::spawn_on(&target_url, &[]).await;
    for (call, expected) in calls.iter().zip(&before) {
        let (status, body) = target.get(call).await;
        assert_eq!(status, StatusCode::OK, "{call}: {body}");
        assert_eq!(&body["data"], expected, "{call} differs after the restore");
    }
    crate::helpers::assert_derived_exact(&target.pool, "after restore").await;

    // Into a database that holds data: refused, and nothing changes.
    let rows = target.count("SELECT count(*) FROM transactions").await;
    let out =
        crate::helpers::run_cli(&target_url, &["restore", "--input", file.to_str().unwrap()]).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("already holds"), "{stderr}");
    assert_eq!(
        target.count("SELECT count(*) FROM transactions").await,
        rows
    );
}
