//! The Pipes API over HTTP: the shipped example pipes, formats, every 4xx, auth,
//! POST bodies, the listing, OpenAPI (checked by a real validator) and reload.

use std::path::Path;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{scratch_dir, split, TestApp, ADMIN_TOKEN};

async fn seeded() -> TestApp {
    let app = TestApp::spawn().await;
    let customers = [
        r#"{"customer_id":"c1","registration_date":"2023-01-01","country":"US"}"#,
        r#"{"customer_id":"c2","registration_date":"2023-01-01","country":"DE"}"#,
    ];
    app.post_events("customers", customers.join("\n")).await;
    let tx = [
        r#"{"transaction_id":"t1","customer_id":"c1","transaction_date":"2024-03-01 10:00:00","amount":10.25}"#,
        r#"{"transaction_id":"t2","customer_id":"c1","transaction_date":"2024-03-01 18:00:00","amount":5}"#,
        r#"{"transaction_id":"t3","customer_id":"c2","transaction_date":"2024-03-02 09:00:00","amount":100}"#,
        r#"{"transaction_id":"t4","customer_id":"c2","transaction_date":"2023-12-31 23:59:59","amount":7}"#,
    ];
    app.post_events("transactions", tx.join("\n")).await;
    app
}

async fn get_text(app: &TestApp, path: &str) -> (StatusCode, String, reqwest::header::HeaderMap) {
    let resp = app
        .client
        .get(app.url(path))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    (status, resp.text().await.unwrap(), headers)
}

#[tokio::test]
async fn a_pipe_answers_json_with_meta_data_rows_and_statistics() {
    let app = seeded().await;
    let (status, body) = app.get("/v0/pipes/transactions_by_day.json").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["meta"],
        json!([{"name":"day","type":"DateTime"},{"name":"transactions","type":"Int64"},{"name":"revenue","type":"Float64"}])
    );
    assert_eq!(
        body["data"],
        json!([
            {"day":"2024-03-01 00:00:00","transactions":2,"revenue":15.25},
            {"day":"2024-03-02 00:00:00","transactions":1,"revenue":100.0}
        ])
    );
    assert_eq!(body["rows"], 2);
    assert_eq!(body["rows_before_limit_at_least"], 2);
    assert!(body["statistics"]["elapsed"].as_f64().unwrap() > 0.0);
    assert_eq!(body["statistics"]["rows_read"], 2);
}

#[tokio::test]
async fn parameters_filter_and_limit_the_answer() {
    let app = seeded().await;
    let (_, body) = app
        .get("/v0/pipes/transactions_by_day.json?country=DE&start_date=2023-01-01%2000:00:00")
        .await;
    assert_eq!(
        body["data"],
        json!([
            {"day":"2023-12-31 00:00:00","transactions":1,"revenue":7.0},
            {"day":"2024-03-02 00:00:00","transactions":1,"revenue":100.0}
        ])
    );
    let (_, body) = app
        .get("/v0/pipes/transactions_by_day.json?start_date=2023-01-01&limit=1")
        .await;
    assert_eq!(body["rows"], 1);
    let (_, body) = app
        .get("/v0/pipes/datasource_counts.json?order_by=rows&datasource=transactions")
        .await;
    assert_eq!(
        body["data"],
        json!([{"datasource":"transactions","rows":4}])
    );
}

#[tokio::test]
async fn csv_and_ndjson_answer_the_same_rows() {
    let app = seeded().await;
    let (status, csv, headers) = get_text(&app, "/v0/pipes/transactions_by_day.csv").await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert_eq!(
        csv,
        "day,transactions,revenue\n2024-03-01 00:00:00,2,15.25\n2024-03-02 00:00:00,1,100.0\n"
    );
    let (status, nd, headers) = get_text(&app, "/v0/pipes/transactions_by_day.ndjson").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/x-ndjson");
    let lines: Vec<Value> = nd
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        lines[1],
        json!({"day":"2024-03-02 00:00:00","transactions":1,"revenue":100.0})
    );
}

#[tokio::test]
async fn post_takes_parameters_from_a_json_or_form_body() {
    let app = seeded().await;
    let url = app.url("/v0/pipes/transactions_by_day.json");
    let resp = app
        .client
        .post(&url)
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"country":"US","limit":5}))
        .send()
        .await
        .unwrap();
    let (status, body) = split(resp).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["rows"], 1);
    let resp = app
        .client
        .post(&url)
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("country=DE")
        .send()
        .await
        .unwrap();
    assert_eq!(split(resp).await.1["rows"], 1);
    let resp = app
        .client
        .post(&url)
        .bearer_auth(ADMIN_TOKEN)
        .body("{not json")
        .send()
        .await
        .unwrap();
    let (status, body) = split(resp).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("not valid JSON"));
}

#[tokio::test]
async fn bad_parameters_are_400_naming_the_parameter_and_the_expected_type() {
    let app = seeded().await;
    for (query, words) in [
        (
            "transactions_by_day.json?limit=abc",
            ["'limit'", "Int32", "abc"],
        ),
        ("transactions_by_day.json?limit=0", ["'limit'", "1", "0"]),
        (
            "transactions_by_day.json?limit=10001",
            ["'limit'", "10000", "10001"],
        ),
        (
            "transactions_by_day.json?start_date=yesterday",
            ["'start_date'", "DateTime", "yesterday"],
        ),
        (
            "datasource_counts.json?datasource=orders",
            ["'datasource'", "customers", "orders"],
        ),
        (
            "datasource_counts.json?order_by=amount;drop",
            ["'order_by'", "rows", "amount;drop"],
        ),
    ] {
        let (status, body) = app.get(&format!("/v0/pipes/{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        let error = body["error"].as_str().unwrap();
        for w in words {
            assert!(error.contains(w), "{query}: '{error}' lacks {w}");
        }
    }
}

#[tokio::test]
async fn unknown_parameters_are_ignored_and_listed_in_a_header() {
    let app = seeded().await;
    let (status, _, headers) =
        get_text(&app, "/v0/pipes/datasource_counts.json?foo=1&bar=2&token=x").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-ltv-ignored-params"], "bar,foo");
}

#[tokio::test]
async fn pipes_need_a_token_with_their_read_scope() {
    let app = seeded().await;
    let resp = app
        .client
        .get(app.url("/v0/pipes/datasource_counts.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let other: Vec<ltv_pipes::auth::Scope> =
        vec!["PIPES:READ:transactions_by_day".parse().unwrap()];
    let token = ltv_pipes::auth::create(&app.pool, None, &other, None)
        .await
        .unwrap();
    let get = |path: &str| app.client.get(app.url(path)).bearer_auth(&token).send();
    assert_eq!(
        get("/v0/pipes/datasource_counts.json")
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get("/v0/pipes/transactions_by_day.csv")
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let resp = app
        .client
        .get(app.url(&format!("/v0/pipes/transactions_by_day.json?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // The listing and the OpenAPI document show only what the token may read.
    let (_, list) = split(get("/v0/pipes").await.unwrap()).await;
    let names: Vec<&str> = list["pipes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["transactions_by_day"]);
    let (_, doc) = split(get("/v0/pipes/openapi.json").await.unwrap()).await;
    assert!(doc["paths"]
        .get("/v0/pipes/datasource_counts.json")
        .is_none());
    assert!(doc["paths"]
        .get("/v0/pipes/transactions_by_day.json")
        .is_some());
}

#[tokio::test]
async fn unknown_pipes_and_formats_are_404() {
    let app = seeded().await;
    for path in [
        "/v0/pipes/nope.json",
        "/v0/pipes/datasource_counts.xml",
        "/v0/pipes/datasource_counts",
    ] {
        let (status, body) = app.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(body["error"].is_string());
    }
}

#[tokio::test]
async fn the_listing_documents_every_parameter() {
    let app = seeded().await;
    let (status, body) = app.get("/v0/pipes").await;
    assert_eq!(status, StatusCode::OK);
    let pipe = body["pipes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "transactions_by_day")
        .unwrap();
    assert_eq!(pipe["url"], "/v0/pipes/transactions_by_day.json");
    assert!(pipe["description"].as_str().unwrap().contains("Revenue"));
    let limit = pipe["params"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap();
    assert_eq!(limit["type"], "Int32");
    assert_eq!(limit["default"], 100);
    assert_eq!(limit["min"], 1);
    assert_eq!(limit["max"], 10000);
    assert_eq!(limit["required"], false);
    assert!(limit["description"].is_string());
}

#[tokio::test]
async fn the_openapi_document_is_valid_openapi() {
    let app = seeded().await;
    let (status, doc) = app.get("/v0/pipes/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let (_, list) = app.get("/v0/pipes").await;
    let pipes = list["pipes"].as_array().unwrap().len();
    assert!(pipes >= 2);
    assert_eq!(
        doc["paths"].as_object().unwrap().len(),
        3 * pipes,
        "one path per pipe and format"
    );
    let dir = scratch_dir("openapi");
    let file = dir.join("openapi.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    let out = std::process::Command::new("python3")
        .args(["-m", "openapi_spec_validator", file.to_str().unwrap()])
        .output()
        .expect("python3 with openapi-spec-validator (bash .ci/install-deps installs it)");
    assert!(
        out.status.success(),
        "openapi-spec-validator rejected the document (run bash .ci/install-deps if it is missing): {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn write_pipe(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(format!("{name}.pipe")), text).unwrap();
}

#[tokio::test]
async fn reload_keeps_the_previous_version_of_a_broken_file() {
    let dir = scratch_dir("pipes");
    write_pipe(
        &dir,
        "answer",
        "NODE n\nSQL >\n    SELECT {{ Int32(x, 41) }} + 1 AS answer\n",
    );
    let app = TestApp::spawn_with(&[("LTV_PIPES__DIR", dir.to_str().unwrap())]).await;
    let (_, body) = app.get("/v0/pipes/answer.json").await;
    assert_eq!(body["data"], json!([{"answer": 42}]));

    write_pipe(&dir, "answer", "NODE n\nSQL >\n    SELECT {{ Nope(x) }}\n");
    write_pipe(&dir, "fresh", "NODE n\nSQL >\n    SELECT 'new' AS v\n");
    let reload = || {
        app.client
            .post(app.url("/v0/pipes/reload"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
    };
    let (status, body) = split(reload().await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"].as_str().unwrap().contains("answer.pipe:3"),
        "{body}"
    );
    assert_eq!(body["errors"][0]["kept_previous"], true);
    assert_eq!(
        app.get("/v0/pipes/answer.json").await.1["data"],
        json!([{"answer": 42}])
    );
    assert_eq!(
        app.get("/v0/pipes/fresh.json").await.1["data"],
        json!([{"v": "new"}])
    );

    write_pipe(
        &dir,
        "answer",
        "NODE n\nSQL >\n    SELECT {{ Int32(x, 1) }} + 1 AS answer\n",
    );
    let (status, body) = split(reload().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        app.get("/v0/pipes/answer.json").await.1["data"],
        json!([{"answer": 2}])
    );

    // Reload is for ADMIN tokens only.
    let scopes = vec!["PIPES:READ:*".parse().unwrap()];
    let reader = ltv_pipes::auth::create(&app.pool, None, &scopes, None)
        .await
        .unwrap();
    let resp = app
        .client
        .post(app.url("/v0/pipes/reload"))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn pipe_errors_values_postgres_rejects_and_timeouts_are_clear_4xx() {
    let dir = scratch_dir("pipes");
    write_pipe(
        &dir,
        "guarded",
        "NODE n\nSQL >\n    %\n    {% if not defined(id) %}{{ error('id is required here', 422) }}{% end %}\n    SELECT {{ String(id) }} AS id\n",
    );
    write_pipe(
        &dir,
        "divide",
        "NODE n\nSQL >\n    SELECT 10 / {{ Int32(d, 1) }} AS q\n",
    );
    write_pipe(
        &dir,
        "required",
        "NODE n\nSQL >\n    SELECT {{ Date(day, required=True) }} AS day\n",
    );
    write_pipe(
        &dir,
        "slow",
        "NODE n\nSQL >\n    SELECT pg_sleep({{ Float64(s, 2) }})::text AS slept\n",
    );
    write_pipe(
        &dir,
        "writer",
        "NODE n\nSQL >\n    INSERT INTO quarantine (datasource, error, raw) VALUES ('x', 'y', 'z') RETURNING id\n",
    );
    write_pipe(
        &dir,
        "big",
        "NODE n\nSQL >\n    SELECT g FROM generate_series(1, {{ Int32(n, 10) }}) g\n",
    );
    let app = TestApp::spawn_with(&[
        ("LTV_PIPES__DIR", dir.to_str().unwrap()),
        ("LTV_DATABASE__STATEMENT_TIMEOUT_MS", "300"),
        ("LTV_PIPES__MAX_ROWS", "50"),
    ])
    .await;
    let (status, body) = app.get("/v0/pipes/guarded.json").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("id is required here")
        )
    );
    assert_eq!(
        app.get("/v0/pipes/guarded.json?id=x").await.1["data"],
        json!([{"id": "x"}])
    );

    let (status, body) = app.get("/v0/pipes/divide.json?d=0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"].as_str().unwrap().contains("division by zero"),
        "{body}"
    );

    let (status, body) = app.get("/v0/pipes/required.json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("'day' is required"),
        "{body}"
    );
    assert_eq!(
        app.get("/v0/pipes/required.json?day=2024-02-29").await.1["data"],
        json!([{"day": "2024-02-29"}])
    );

    let (status, body) = app.get("/v0/pipes/slow.json").await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("statement timeout"));

    let (status, body) = app.get("/v0/pipes/writer.json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"].as_str().unwrap().contains("read-only"),
        "{body}"
    );
    assert_eq!(app.count("SELECT count(*) FROM quarantine").await, 0);

    assert_eq!(app.get("/v0/pipes/big.json?n=50").await.1["rows"], 50);
    let (status, body) = app.get("/v0/pipes/big.json?n=51").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("more than 50 rows"));
}

/// Hostile values for every parameter of every shipped pipe: the answer is a
/// 200 or a 4xx, never a 5xx, and nothing is written.
#[tokio::test]
async fn no_shipped_pipe_answers_5xx_whatever_the_parameters() {
    let app = seeded().await;
    let hostile = [
        "",
        "'",
        "\"",
        "';DROP TABLE transactions;--",
        "1; SELECT pg_sleep(5)",
        "/*",
        "-1",
        "0",
        "99999999999999999999",
        "1e400",
        "NaN",
        "2024-02-30",
        "9999-12-31 23:59:59",
        "ünïcödé ✓",
        "\u{0}",
        "a,b,c",
        "[1,2]",
        "true",
        &"x".repeat(20_000),
    ];
    let (_, list) = app.get("/v0/pipes").await;
    for pipe in list["pipes"].as_array().unwrap() {
        let name = pipe["name"].as_str().unwrap();
        let (status, body) = app.get(&format!("/v0/pipes/{name}.json")).await;
        // A pipe with a required parameter cannot answer with defaults alone.
        let requires = pipe["params"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["required"] == true);
        if requires {
            assert_eq!(
                status,
                StatusCode::BAD_REQUEST,
                "{name} with defaults: {body}"
            );
        } else {
            assert_eq!(status, StatusCode::OK, "{name} with defaults: {body}");
        }
        for param in pipe["params"].as_array().unwrap() {
            let p = param["name"].as_str().unwrap();
            for value in hostile {
                let url = reqwest::Url::parse_with_params(
                    &app.url(&format!("/v0/pipes/{name}.json")),
                    &[(p, value)],
                )
                .unwrap();
                let resp = app
                    .client
                    .get(url)
                    .bearer_auth(ADMIN_TOKEN)
                    .send()
                    .await
                    .unwrap();
                let status = resp.status();
                let text = resp.text().await.unwrap();
                assert!(
                    status == StatusCode::OK || status.is_client_error(),
                    "{name}?{p}={value:.40}: {status} {text}"
                );
                let body: Value = serde_json::from_str(&text).unwrap();
                assert!(status == StatusCode::OK || body["error"].is_string());
            }
            // Over the 64 KiB string limit, and non-string JSON values, through POST.
            for value in [
                json!("x".repeat(70_000)),
                json!(null),
                json!([1, "a"]),
                json!({"a": 1}),
                json!(1.5),
            ] {
                let resp = app
                    .client
                    .post(app.url(&format!("/v0/pipes/{name}.json")))
                    .bearer_auth(ADMIN_TOKEN)
                    .json(&json!({ p: value }))
                    .send()
                    .await
                    .unwrap();
                let status = resp.status();
                assert!(
                    status == StatusCode::OK || status.is_client_error(),
                    "{name} POST {p}: {status}"
                );
            }
        }
    }
    assert_eq!(app.count("SELECT count(*) FROM transactions").await, 4);
}

/// Property: arbitrary generated strings as any parameter of any shipped pipe
/// never produce a 5xx (the compile-level property that they never change the
/// SQL text lives beside the compiler).
#[tokio::test]
async fn generated_parameter_strings_never_produce_a_5xx() {
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::TestRunner;

    let app = seeded().await;
    let (_, list) = app.get("/v0/pipes").await;
    let mut runner = TestRunner::deterministic();
    let strategy = proptest::string::string_regex("(?s).{0,300}").unwrap();
    for pipe in list["pipes"].as_array().unwrap() {
        let name = pipe["name"].as_str().unwrap();
        for param in pipe["params"].as_array().unwrap() {
            let p = param["name"].as_str().unwrap();
            for _ in 0..40 {
                let value = strategy.new_tree(&mut runner).unwrap().current();
                let resp = app
                    .client
                    .post(app.url(&format!("/v0/pipes/{name}.json")))
                    .bearer_auth(ADMIN_TOKEN)
                    .json(&json!({ p: value }))
                    .send()
                    .await
                    .unwrap();
                let status = resp.status();
                assert!(
                    status == StatusCode::OK || status.is_client_error(),
                    "{name} {p}={value:?}: {status}"
                );
            }
        }
    }
}

#[tokio::test]
async fn pipes_are_planned_with_their_parameters_every_time() {
    // From a prepared statement's sixth execution PostgreSQL may reuse a
    // generic plan, made without the parameters' values: the branches that
    // the CLV pipes skip by a test on a parameter would be planned as if they
    // ran (ltv_forecast's default call at 1M: 10 ms, then 345-920 ms).
    let dir = scratch_dir("pipes");
    write_pipe(
        &dir,
        "plan_mode",
        "NODE n\nSQL >\n    SELECT current_setting('plan_cache_mode') AS mode, {{ Int32(x, 1) }} AS x\n",
    );
    let app = TestApp::spawn_with(&[("LTV_PIPES__DIR", dir.to_str().unwrap())]).await;
    for x in 0..8 {
        let (status, body) = app.get(&format!("/v0/pipes/plan_mode.json?x={x}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"], json!([{"mode": "force_custom_plan", "x": x}]));
    }
}

/// Pipes run as a role that reads only the datasources and the derived
/// state: a pipe that selects from `tokens` or the quarantine, or calls a
/// file function, fails with a clear 403, while ordinary pipes answer.
#[tokio::test]
async fn pipes_cannot_read_tokens_or_files() {
    let dir = crate::helpers::scratch_dir("private-pipes");
    let pipes = [
        ("secrets", "SELECT name FROM tokens"),
        ("rejected", "SELECT raw FROM quarantine"),
        ("file", "SELECT pg_read_file('/etc/passwd') AS f"),
        ("fine", "SELECT count(*) AS n FROM transactions"),
    ];
    for (name, sql) in pipes {
        std::fs::write(
            dir.join(format!("{name}.pipe")),
            format!("NODE n\nSQL >\n    {sql}\n"),
        )
        .unwrap();
    }
    let app = TestApp::spawn_with(&[("LTV_PIPES__DIR", dir.to_str().unwrap())]).await;
    for name in ["secrets", "rejected", "file"] {
        let (status, body) = app.get(&format!("/v0/pipes/{name}.json")).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}: {body}");
        let message = body["error"].as_str().unwrap();
        assert!(message.contains("permission denied"), "{name}: {message}");
    }
    let (status, body) = app.get("/v0/pipes/fine.json").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"][0]["n"], 0);
}
