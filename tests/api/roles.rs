//! Least privilege for ingestion: the Events API and bulk appends write as
//! `ltv_pipes_writer`, a role that can add raw rows, queue them, quarantine
//! and bump versions, and nothing else. (Pipes' own role is tested in
//! pipes.rs.)

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_derived_exact, TestApp, ADMIN_TOKEN};

const WRITER: &str = "ltv_pipes_writer";

/// A trigger (installed by the test only) that records who wrote each raw
/// row in one of its text columns: the writer role must appear on rows from
/// every ingest path.
async fn record_writers(app: &TestApp) {
    let statements = [
        "CREATE FUNCTION test_writer_customers() RETURNS trigger LANGUAGE plpgsql AS
         $$ BEGIN NEW.city := current_user; RETURN NEW; END $$",
        "CREATE TRIGGER test_writer BEFORE INSERT OR UPDATE ON customers
         FOR EACH ROW EXECUTE FUNCTION test_writer_customers()",
        "CREATE FUNCTION test_writer_transactions() RETURNS trigger LANGUAGE plpgsql AS
         $$ BEGIN NEW.payment_method := current_user; RETURN NEW; END $$",
        "CREATE TRIGGER test_writer BEFORE INSERT ON transactions
         FOR EACH ROW EXECUTE FUNCTION test_writer_transactions()",
        "CREATE FUNCTION test_writer_interactions() RETURNS trigger LANGUAGE plpgsql AS
         $$ BEGIN NEW.interaction_type := current_user; RETURN NEW; END $$",
        "CREATE TRIGGER test_writer BEFORE INSERT ON customer_interactions
         FOR EACH ROW EXECUTE FUNCTION test_writer_interactions()",
    ];
    for sql in statements {
        sqlx::query(sql).execute(&app.pool).await.expect(sql);
    }
}

async fn writers(app: &TestApp, sql: &str) -> Vec<String> {
    sqlx::query_scalar(sql)
        .fetch_all(&app.pool)
        .await
        .expect(sql)
}

async fn bulk(app: &TestApp, name: &str, csv: &str) -> (StatusCode, serde_json::Value) {
    let resp = app
        .client
        .post(app.url(&format!("/v0/datasources?name={name}&mode=append")))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "text/csv")
        .body(csv.to_string())
        .send()
        .await
        .expect("request");
    crate::helpers::split(resp).await
}

#[tokio::test]
async fn every_ingest_path_writes_as_the_writer_role_and_the_derived_state_follows() {
    let app = TestApp::spawn().await;
    record_writers(&app).await;

    // A first bulk load: large against what is stored, so it also
    // recomputes the derived state in its transaction (as the service's
    // user, after the rows were written as the writer).
    let (status, body) = bulk(
        &app,
        "customers",
        "customer_id,registration_date,country,city,segment\n\
         c1,2024-01-01 00:00:00,US,x,premium\nc2,2024-02-01 00:00:00,DE,x,basic\n",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["derived_state"], "rebuilt", "{body}");
    // An Events API upsert of a stored customer (the UPDATE branch).
    let (status, body) = app
        .post_events(
            "customers",
            json!({"customer_id": "c1", "registration_date": "2024-01-01 00:00:00",
                   "country": "FR", "segment": "premium"})
            .to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .post_events(
            "transactions",
            json!({"transaction_id": "t1", "customer_id": "c1",
                   "transaction_date": "2024-03-01 10:00:00", "amount": 40})
            .to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .post_events(
            "customer_interactions",
            json!({"interaction_id": "i1", "customer_id": "c2",
                   "interaction_date": "2024-03-02 10:00:00", "channel": "email"})
            .to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A bulk append of deltas (small against what is stored).
    let (status, body) = bulk(
        &app,
        "transactions",
        "transaction_id,customer_id,transaction_date,amount\nt2,c2,2024-03-05 10:00:00,25\n",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let customers = writers(&app, "SELECT city FROM customers ORDER BY customer_id").await;
    assert_eq!(customers, [WRITER, WRITER]);
    let transactions = writers(
        &app,
        "SELECT payment_method FROM transactions ORDER BY transaction_id",
    )
    .await;
    assert_eq!(transactions, [WRITER, WRITER]);
    let interactions = writers(&app, "SELECT interaction_type FROM customer_interactions").await;
    assert_eq!(interactions, [WRITER]);
    assert_eq!(app.count("SELECT count(*) FROM pending_apply").await, 0);
    assert_derived_exact(&app.pool, "after writes as the writer role").await;
    let (status, body) = app.get("/v0/pipes/ltv_overview.json").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"][0]["customers"], 2, "{body}");
}

/// Runs `sql` as the writer role in a transaction that is rolled back; the
/// error's message when PostgreSQL refuses it.
async fn as_writer(app: &TestApp, sql: &str) -> Result<(), String> {
    let mut tx = app.pool.begin().await.unwrap();
    sqlx::query(&format!("SET LOCAL ROLE {WRITER}"))
        .execute(&mut *tx)
        .await
        .unwrap();
    let outcome = sqlx::query(sql).execute(&mut *tx).await;
    tx.rollback().await.unwrap();
    outcome.map(|_| ()).map_err(|e| e.to_string())
}

#[tokio::test]
async fn the_writer_role_cannot_read_tokens_or_write_the_derived_state_or_the_schema() {
    let app = TestApp::spawn().await;
    let allowed = [
        "INSERT INTO transactions (transaction_id, customer_id, transaction_date, amount)
         VALUES ('t', 'c', now(), 1)",
        "INSERT INTO quarantine (datasource, error, raw) VALUES ('transactions', 'e', 'r')",
        "UPDATE data_versions SET version = version + 1 WHERE source = 'transactions'",
    ];
    for sql in allowed {
        assert_eq!(as_writer(&app, sql).await, Ok(()), "{sql}");
    }
    let refused = [
        "SELECT * FROM tokens",
        "SELECT raw FROM quarantine",
        "DELETE FROM transactions",
        "UPDATE customer_summary SET purchases = 0",
        "INSERT INTO cohort_activity SELECT * FROM cohort_activity",
        "DELETE FROM pending_apply",
        "DELETE FROM forecast_fits",
        "UPDATE sql_components SET checksum = checksum",
        "CREATE TABLE stolen (x int)",
        "SELECT pg_read_file('/etc/passwd')",
    ];
    for sql in refused {
        let error = as_writer(&app, sql).await.expect_err(sql);
        assert!(error.contains("permission denied"), "{sql}: {error}");
    }
}
