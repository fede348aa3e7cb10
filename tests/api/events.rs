use std::io::Write;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{split, TestApp, ADMIN_TOKEN};

const CUSTOMER: &str = r#"{"customer_id":"cust_123456","registration_date":"2023-01-15 10:30:00","country":"US","city":"New York","age":35,"gender":"F","acquisition_source":"organic_search","segment":"premium","is_active":1}"#;
const TRANSACTION: &str = r#"{"transaction_id":"tx_789012","customer_id":"cust_123456","transaction_date":"2023-02-20 14:25:00","amount":89.99,"product_category":"electronics","transaction_type":"purchase","payment_method":"credit_card","is_refund":0}"#;
const INTERACTION: &str = r#"{"interaction_id":"int_456789","customer_id":"cust_123456","interaction_date":"2023-03-05 09:15:00","interaction_type":"login","channel":"mobile_app","duration_seconds":240,"satisfaction_score":5}"#;

#[tokio::test]
async fn the_readme_customer_event_is_stored_with_every_field() {
    let app = TestApp::spawn().await;
    let (status, body) = app.post_events("customers", CUSTOMER).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"successful_rows": 1, "quarantined_rows": 0}));
    let row: (String, String, String, String, i32, String, String, String, i16) = sqlx::query_as(
        "SELECT customer_id, to_char(registration_date AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
                country, city, age, gender, acquisition_source, segment, is_active FROM customers",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        row,
        (
            "cust_123456".into(),
            "2023-01-15 10:30:00".into(),
            "US".into(),
            "New York".into(),
            35,
            "F".into(),
            "organic_search".into(),
            "premium".into(),
            1
        )
    );
}

#[tokio::test]
async fn the_readme_transaction_event_is_stored_with_an_exact_amount() {
    let app = TestApp::spawn().await;
    let (status, body) = app.post_events("transactions", TRANSACTION).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["successful_rows"], 1);
    let row: (String, String, String, String, String, String, String, i16) = sqlx::query_as(
        "SELECT transaction_id, customer_id, to_char(transaction_date AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
                amount::text, product_category, transaction_type, payment_method, is_refund FROM transactions",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(row.0, "tx_789012");
    assert_eq!(row.1, "cust_123456");
    assert_eq!(row.2, "2023-02-20 14:25:00");
    assert_eq!(row.3, "89.99");
    assert_eq!(
        (row.4.as_str(), row.5.as_str(), row.6.as_str(), row.7),
        ("electronics", "purchase", "credit_card", 0)
    );
}

#[tokio::test]
async fn the_readme_interaction_event_is_stored() {
    let app = TestApp::spawn().await;
    let (status, body) = app.post_events("customer_interactions", INTERACTION).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["successful_rows"], 1);
    let row: (String, String, String, String, i32, i16) = sqlx::query_as(
        "SELECT interaction_id, to_char(interaction_date AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
                interaction_type, channel, duration_seconds, satisfaction_score FROM customer_interactions",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        row,
        (
            "int_456789".into(),
            "2023-03-05 09:15:00".into(),
            "login".into(),
            "mobile_app".into(),
            240,
            5
        )
    );
}

#[tokio::test]
async fn wait_true_answers_200_and_tinybird_extra_parameters_are_accepted() {
    let app = TestApp::spawn().await;
    let resp = app
        .client
        .post(app.url("/v0/events?name=transactions&wait=true&mode=append&format=ndjson&unknown=1"))
        .bearer_auth(ADMIN_TOKEN)
        .body(TRANSACTION)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(app.count("SELECT count(*) FROM transactions").await, 1);
    // 200 means applied: in the profile the CLV pipes read, nothing queued.
    assert_eq!(
        app.count("SELECT purchases FROM customer_summary WHERE customer_id = 'cust_123456'")
            .await,
        1
    );
    assert_eq!(app.count("SELECT count(*) FROM pending_apply").await, 0);
}

/// The order total of one customer in customer_ltv (0 when absent).
async fn total_orders(app: &TestApp, customer: &str) -> i64 {
    let (status, body) = app
        .get(&format!(
            "/v0/pipes/customer_ltv.json?customer_id={customer}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"][0]["total_orders"].as_i64().unwrap_or(0)
}

#[tokio::test]
async fn without_wait_the_rows_are_committed_before_the_202_and_reach_every_pipe_by_themselves() {
    let app = TestApp::spawn().await;
    let resp = app
        .client
        .post(app.url("/v0/events?name=transactions"))
        .bearer_auth(ADMIN_TOKEN)
        .body(TRANSACTION)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    assert_eq!(app.count("SELECT count(*) FROM transactions").await, 1);
    // Nobody waits or asks again: the maintainer applies the row on its own.
    let started = std::time::Instant::now();
    while total_orders(&app, "cust_123456").await != 1 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "a 202'd row never reached customer_ltv"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    crate::helpers::assert_derived_exact(&app.pool, "after a 202").await;
}

#[tokio::test]
async fn concurrent_writes_without_wait_are_each_applied_exactly_once() {
    let app = TestApp::spawn().await;
    let mut writes = Vec::new();
    for i in 0..40 {
        let (client, url) = (app.client.clone(), app.url("/v0/events"));
        writes.push(tokio::spawn(async move {
            // Ten customers, four purchases each, and upserts that move them
            // between countries while their purchases are queued.
            let c = i % 10;
            let (name, body) = if i % 4 == 3 {
                (
                    "customers",
                    format!(r#"{{"customer_id":"c{c}","registration_date":"2024-0{}-01","country":"C{i}"}}"#, 1 + i % 9),
                )
            } else {
                (
                    "transactions",
                    format!(r#"{{"transaction_id":"t{i}","customer_id":"c{c}","transaction_date":"2024-05-{:02}","amount":{}.25}}"#, 1 + i % 28, i),
                )
            };
            let resp = client
                .post(format!("{url}?name={name}"))
                .bearer_auth(ADMIN_TOKEN)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::ACCEPTED);
        }));
    }
    for w in writes {
        w.await.unwrap();
    }
    // One write that waits is applied after every write committed before it.
    let (status, _) = app
        .post_events("transactions", r#"{"transaction_id":"last","customer_id":"c0","transaction_date":"2024-06-01","amount":1}"#)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.count("SELECT (sum(gross) * 100)::bigint FROM customer_summary")
            .await,
        app.count("SELECT (sum(amount) * 100)::bigint FROM transactions")
            .await
    );
    crate::helpers::assert_derived_exact(&app.pool, "after concurrent writes").await;
}

#[tokio::test]
async fn ndjson_with_good_and_bad_lines_stores_the_good_and_quarantines_the_bad_with_reasons() {
    let app = TestApp::spawn().await;
    let body = [
        r#"{"transaction_id":"t1","customer_id":"c1","transaction_date":"2024-01-01 10:00:00","amount":10}"#,
        r#"this is not json"#,
        r#"{"transaction_id":"t2","customer_id":"c1","transaction_date":"2024-01-02","amount":-5}"#,
        "",
        r#"{"transaction_id":"t3","customer_id":"c2","transaction_date":"2024-01-03T00:00:00Z","amount":"12.50","is_refund":true}"#,
        r#"[1,2]"#,
    ]
    .join("\n");
    let (status, resp) = app.post_events("transactions", body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(resp, json!({"successful_rows": 2, "quarantined_rows": 3}));
    assert_eq!(app.count("SELECT count(*) FROM transactions").await, 2);
    let (_, q) = app.get("/v0/datasources/transactions/quarantine").await;
    assert_eq!(q["total"], 3);
    let errors: Vec<&str> = q["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["error"].as_str().unwrap())
        .collect();
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("line 2 is not valid JSON")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("'amount' must be >= 0") && e.contains("is_refund")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("line 6: expected a JSON object")),
        "{errors:?}"
    );
    let raws: Vec<&str> = q["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["raw"].as_str().unwrap())
        .collect();
    assert!(raws.contains(&"this is not json"));
}

#[tokio::test]
async fn a_gzip_body_is_decoded() {
    let app = TestApp::spawn().await;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for i in 0..100 {
        writeln!(enc, r#"{{"interaction_id":"i{i}","customer_id":"c","interaction_date":"2024-05-01","channel":"email"}}"#).unwrap();
    }
    let gz = enc.finish().unwrap();
    let resp = app
        .client
        .post(app.url("/v0/events?name=customer_interactions"))
        .bearer_auth(ADMIN_TOKEN)
        .header("Content-Encoding", "gzip")
        .body(gz)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap()["successful_rows"],
        100
    );
    assert_eq!(
        app.count("SELECT count(*) FROM customer_interactions")
            .await,
        100
    );
}

#[tokio::test]
async fn a_retried_transaction_or_interaction_is_stored_once() {
    let app = TestApp::spawn().await;
    for _ in 0..3 {
        let (status, body) = app.post_events("transactions", TRANSACTION).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["successful_rows"], 1);
        app.post_events("customer_interactions", INTERACTION).await;
    }
    // The same id twice inside one batch is stored once as well.
    let twice = format!("{TRANSACTION}\n{TRANSACTION}");
    app.post_events("transactions", twice).await;
    assert_eq!(app.count("SELECT count(*) FROM transactions").await, 1);
    assert_eq!(
        app.count("SELECT count(*) FROM customer_interactions")
            .await,
        1
    );
}

#[tokio::test]
async fn a_later_customer_row_replaces_the_earlier_one() {
    let app = TestApp::spawn().await;
    app.post_events(
        "customers",
        r#"{"customer_id":"c1","registration_date":"2023-01-01","country":"US","segment":"basic"}"#,
    )
    .await;
    app.post_events("customers", r#"{"customer_id":"c1","registration_date":"2023-01-01","country":"DE","segment":"premium","is_active":0}"#)
        .await;
    // Within one batch the last line wins too.
    let batch = [
        r#"{"customer_id":"c2","registration_date":"2023-02-01","country":"FR"}"#,
        r#"{"customer_id":"c2","registration_date":"2023-02-01","country":"ES"}"#,
    ]
    .join("\n");
    let (_, body) = app.post_events("customers", batch).await;
    assert_eq!(body["successful_rows"], 2);
    let rows: Vec<(String, String, Option<String>, i16)> = sqlx::query_as(
        "SELECT customer_id, country, segment, is_active FROM customers ORDER BY customer_id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        rows,
        vec![
            ("c1".into(), "DE".into(), Some("premium".into()), 0),
            ("c2".into(), "ES".into(), None, 1)
        ]
    );
}

#[tokio::test]
async fn the_datasource_list_counts_rows_and_quarantine() {
    let app = TestApp::spawn().await;
    app.post_events("transactions", format!("{TRANSACTION}\nnot json"))
        .await;
    let (status, body) = app.get("/v0/datasources").await;
    assert_eq!(status, StatusCode::OK);
    let tx = body["datasources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "transactions")
        .unwrap();
    assert_eq!(tx["rows"], 1);
    assert_eq!(tx["quarantined_rows"], 1);
}

#[tokio::test]
async fn the_quarantine_can_be_limited_and_cleared() {
    let app = TestApp::spawn().await;
    app.post_events("customers", "a\nb\nc").await;
    let (_, q) = app
        .get("/v0/datasources/customers/quarantine?limit=2")
        .await;
    assert_eq!(q["rows"], 2);
    assert_eq!(q["total"], 3);
    let resp = app
        .client
        .delete(app.url("/v0/datasources/customers/quarantine"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap()["deleted_rows"],
        3
    );
    assert_eq!(app.count("SELECT count(*) FROM quarantine").await, 0);
    let (status, body) = app
        .get("/v0/datasources/customers/quarantine?limit=0")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("'limit'"));
}

#[tokio::test]
async fn a_batch_slower_than_the_pipe_statement_timeout_is_still_stored() {
    // database.statement_timeout_ms bounds pipe queries; a batch's write is
    // bounded by the request timeout instead. 100 ms is far below what 20,000
    // transactions take to write with their derived state.
    let app = TestApp::spawn_with(&[("LTV_DATABASE__STATEMENT_TIMEOUT_MS", "100")]).await;
    let body: Vec<String> = (0..20_000)
        .map(|i| {
            format!(
                r#"{{"transaction_id":"tx_{i}","customer_id":"c_{}","transaction_date":"2024-0{}-1{} 10:00:00","amount":{}.25}}"#,
                i % 3_000,
                1 + i % 9,
                i % 10,
                10 + i % 90
            )
        })
        .collect();
    let (status, reply) = app.post_events("transactions", body.join("\n")).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["successful_rows"], 20_000);
    assert_eq!(app.count("SELECT count(*) FROM transactions").await, 20_000);
    crate::helpers::assert_derived_exact(&app.pool, "after a slow batch").await;
}

#[tokio::test]
async fn writes_are_refused_with_503_while_the_queue_is_over_its_limit_and_accepted_once_it_drains()
{
    let app = TestApp::spawn_with(&[("LTV_INGEST__MAX_QUEUED_ROWS", "5")]).await;
    // Hold the maintainer's lock, as a long pass would: nothing is applied.
    let mut holder = app.pool.begin().await.unwrap();
    sqlx::query("SELECT ltv_lock_maintainer()")
        .execute(&mut *holder)
        .await
        .unwrap();
    let batch: String = (0..10)
        .map(|i| format!(r#"{{"transaction_id":"q{i}","customer_id":"c{i}","transaction_date":"2024-05-01","amount":2}}"#))
        .collect::<Vec<_>>()
        .join("\n");
    let post = |name: &str, body: String| {
        app.client
            .post(format!("{}?name={name}", app.url("/v0/events")))
            .bearer_auth(ADMIN_TOKEN)
            .body(body)
            .send()
    };
    // Under the limit when it arrives: committed, queued.
    let resp = post("transactions", batch).await.unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);

    // Ten queued rows are over the limit of five: refused, nothing written.
    let resp = post(
        "transactions",
        r#"{"transaction_id":"refused","customer_id":"c1","transaction_date":"2024-05-02","amount":3}"#.into(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let retry: u64 = resp.headers()[reqwest::header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    let (_, body) = split(resp).await;
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("ingest.max_queued_rows") && error.contains("nothing was written"),
        "{error}"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM transactions WHERE transaction_id = 'refused'")
            .await,
        0
    );
    // The bulk endpoint follows the same rule.
    let resp = app
        .client
        .post(format!("{}?name=transactions&mode=append&format=ndjson", app.url("/v0/datasources")))
        .bearer_auth(ADMIN_TOKEN)
        .body(r#"{"transaction_id":"refused-bulk","customer_id":"c1","transaction_date":"2024-05-02","amount":3}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);

    // Once the maintainer applies the queue, writes are accepted again.
    holder.rollback().await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let resp = post(
            "transactions",
            r#"{"transaction_id":"after","customer_id":"c1","transaction_date":"2024-05-03","amount":4}"#.into(),
        )
        .await
        .unwrap();
        if resp.status() == StatusCode::ACCEPTED {
            break;
        }
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            std::time::Instant::now() < deadline,
            "the queue never drained"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (status, _) = app
        .post_events("transactions", r#"{"transaction_id":"last","customer_id":"c2","transaction_date":"2024-05-04","amount":1}"#)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.count("SELECT count(*) FROM pending_apply").await, 0);
    assert_eq!(
        app.count("SELECT sum(purchases)::bigint FROM customer_summary")
            .await,
        12
    );
}
