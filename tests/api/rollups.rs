//! `ltv-pipes rollups verify`: every derived table recomputed from the raw
//! tables. Clean after every write path; a drifted table is named with its
//! rows; the command exits 1 on any difference.

use ltv_pipes::rollups::{self, verify::Side};

use crate::helpers::{assert_derived_exact, fresh_database, run_cli, TestApp, ADMIN_TOKEN};

/// Customers that move between months, countries and segments, transactions
/// with refunds, duplicates and out-of-order dates, transaction-only and
/// interaction-only customers, through the Events API and a bulk CSV file.
async fn loaded() -> TestApp {
    let app = TestApp::spawn().await;
    let events = [
        (
            "customers",
            r#"{"customer_id":"a","registration_date":"2024-01-15 10:00:00","country":"US","segment":"vip","age":30}
{"customer_id":"b","registration_date":"2024-02-01","country":"DE","gender":"F"}
{"customer_id":"c","registration_date":"2024-03-31 23:59:59","acquisition_source":"ads"}"#,
        ),
        (
            "transactions",
            r#"{"transaction_id":"t1","customer_id":"a","transaction_date":"2024-02-01","amount":10.5,"product_category":"books"}
{"transaction_id":"t2","customer_id":"a","transaction_date":"2024-01-20","amount":4,"product_category":"toys"}
{"transaction_id":"t3","customer_id":"a","transaction_date":"2024-02-03","amount":10.5,"is_refund":1}
{"transaction_id":"t4","customer_id":"x","transaction_date":"2024-05-05 05:05:05","amount":99}
{"transaction_id":"t1","customer_id":"a","transaction_date":"2030-01-01","amount":1000}"#,
        ),
        (
            "customer_interactions",
            r#"{"interaction_id":"i1","customer_id":"b","interaction_date":"2024-02-02","channel":"email","interaction_type":"support_ticket","satisfaction_score":2}
{"interaction_id":"i2","customer_id":"y","interaction_date":"2024-02-03","channel":"chat"}"#,
        ),
        // An upsert that moves a to another month, country and segment.
        (
            "customers",
            r#"{"customer_id":"a","registration_date":"2023-12-31 23:00:00","country":"FR","segment":"basic"}"#,
        ),
        (
            "transactions",
            r#"{"transaction_id":"t5","customer_id":"b","transaction_date":"2024-04-01","amount":7,"transaction_type":"refund"}"#,
        ),
    ];
    for (ds, body) in events {
        let (status, answer) = app.post_events(ds, body).await;
        assert!(status.is_success(), "{ds}: {answer}");
    }
    let csv = "transaction_id,customer_id,transaction_date,amount,product_category\n\
               t6,c,2024-04-02 00:00:00,20,books\nt7,c,2024-06-30 12:00:00,5,\nt2,a,2024-01-20,4,toys\n";
    bulk(&app, "transactions", csv.to_string()).await;
    app
}

#[tokio::test]
async fn rows_written_with_psql_and_queued_are_applied_by_the_maintainer() {
    let app = TestApp::spawn().await;
    // The documented rule for another writer: the raw rows and their keys in
    // the maintainer's queue, in one transaction.
    let mut tx = app.pool.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO transactions (transaction_id, customer_id, transaction_date, amount)
         VALUES ('p1', 'pc', '2024-03-01', 12.5), ('p2', 'pc', '2024-03-02', 7.5)",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO pending_apply (datasource, key) VALUES ('transactions', 'p1'), ('transactions', 'p2')",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let started = std::time::Instant::now();
    while app.count("SELECT count(*) FROM pending_apply").await > 0 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "never applied"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (_, body) = app.get("/v0/pipes/customer_ltv.json?customer_id=pc").await;
    assert_eq!(body["data"][0]["total_orders"], 2, "{body}");
    assert_eq!(body["data"][0]["ltv"], 20.0, "{body}");
    assert_derived_exact(&app.pool, "psql rows through the queue").await;
}

#[tokio::test]
async fn a_recomputation_counts_rows_still_queued_once() {
    let app = TestApp::spawn().await;
    // Rows queued and a refresh at once, again and again: whichever runs
    // first, each row must count once (a refresh drops the keys of what it
    // recomputes, a pass applies only what is still queued).
    for round in 0..5 {
        let body: Vec<String> = (0..50)
            .map(|i| format!(r#"{{"transaction_id":"r{round}_{i}","customer_id":"c{}","transaction_date":"2024-02-{:02}","amount":3}}"#, i % 7, 1 + i % 28))
            .collect();
        let resp = app
            .client
            .post(app.url("/v0/events?name=transactions"))
            .bearer_auth(ADMIN_TOKEN)
            .body(body.join("\n"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), reqwest::StatusCode::ACCEPTED);
        rollups::refresh(&app.pool).await.unwrap();
    }
    assert_derived_exact(&app.pool, "refreshes with queued rows").await;
    assert_eq!(
        app.count("SELECT sum(purchases)::bigint FROM customer_summary")
            .await,
        250
    );
}

#[tokio::test]
async fn verify_is_clean_after_every_write_path() {
    let app = loaded().await;
    let report = rollups::verify(&app.pool).await.unwrap();
    assert!(
        report.is_clean(),
        "{:?}",
        report.differences().collect::<Vec<_>>()
    );
    let rows = |t: &str| report.tables.iter().find(|r| r.table == t).unwrap().rows;
    // Every table was compared on real rows, not vacuously.
    assert_eq!(rows("customer_summary"), 5); // a, b, c, x, y
    assert_eq!(rows("customer_day_category"), 7);
    for derived in rollups::DERIVED {
        assert!(rows(derived.table) > 0, "{} is empty", derived.table);
    }
}

#[tokio::test]
async fn a_drifted_table_is_named_with_its_rows() {
    let app = loaded().await;
    sqlx::query("UPDATE customer_cube SET gross = gross + 1 WHERE country = 'FR'")
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM customer_day_category WHERE customer_id = 'x'")
        .execute(&app.pool)
        .await
        .unwrap();
    let report = rollups::verify(&app.pool).await.unwrap();
    assert!(!report.is_clean());
    let diffs = |t: &str| report.tables.iter().find(|r| r.table == t).unwrap();
    // The changed cube cell: the stored row and the recomputed one.
    let cube = diffs("customer_cube");
    assert_eq!(cube.differences, 2);
    let sides: Vec<_> = cube
        .shown
        .iter()
        .map(|d| (d.side, d.row["country"].clone()))
        .collect();
    assert!(sides.contains(&(Side::Extra, "FR".into())), "{sides:?}");
    assert!(sides.contains(&(Side::Missing, "FR".into())), "{sides:?}");
    // The deleted daily row is missing, with its numbers.
    let daily = diffs("customer_day_category");
    assert_eq!(daily.differences, 1);
    assert_eq!(daily.shown[0].side, Side::Missing);
    assert_eq!(daily.shown[0].row["customer_id"], "x");
    assert_eq!(daily.shown[0].row["gross"], 99);
    // Tables that did not drift stay clean.
    assert_eq!(diffs("rfm_cube").differences, 0);
}

#[tokio::test]
async fn a_row_written_straight_into_a_raw_table_is_a_difference() {
    let app = loaded().await;
    sqlx::query(
        "INSERT INTO transactions (transaction_id, customer_id, transaction_date, amount)
         VALUES ('psql1', 'b', '2024-07-01', 3)",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let report = rollups::verify(&app.pool).await.unwrap();
    let drifted: Vec<_> = report
        .tables
        .iter()
        .filter(|t| t.differences > 0)
        .map(|t| t.table)
        .collect();
    assert_eq!(
        drifted,
        [
            "customer_day_category",
            "customer_category_total",
            "customer_summary"
        ],
        "level 1 misses the row; the levels above match what level 1 holds"
    );

    // `rollups refresh` brings everything up to date, and the pipes see it.
    for sql in [
        "UPDATE customers SET country = 'SE' WHERE customer_id = 'b'",
        "DELETE FROM customer_interactions WHERE interaction_id = 'i2'",
    ] {
        sqlx::query(sql).execute(&app.pool).await.unwrap();
    }
    rollups::refresh(&app.pool).await.unwrap();
    assert_derived_exact(&app.pool, "after refresh").await;
    let (status, body) = app.get("/v0/pipes/customer_ltv.json?customer_id=b").await;
    assert_eq!(status.as_u16(), 200, "{body}");
    let b = &body["data"][0];
    assert_eq!(
        (b["country"].as_str(), b["gross_revenue"].as_f64()),
        (Some("SE"), Some(3.0)),
        "{body}"
    );
    // The removed interaction-only customer is gone from every table.
    assert_eq!(
        app.count("SELECT count(*) FROM customer_summary WHERE customer_id = 'y'")
            .await,
        0
    );
}

async fn bulk(app: &TestApp, ds: &str, csv: String) -> serde_json::Value {
    let resp = app
        .client
        .post(app.url(&format!("/v0/datasources?name={ds}&mode=append")))
        .bearer_auth(ADMIN_TOKEN)
        .header("Content-Type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    let (status, answer) = crate::helpers::split(resp).await;
    assert!(status.is_success(), "{ds}: {answer}");
    answer
}

/// A file large against the data stored is recomputed wholesale; a small one
/// after it gets deltas; both leave every derived table exact, and the same
/// rows through the Events API give the same answers.
#[tokio::test]
async fn bulk_files_rebuild_or_apply_deltas_and_stay_exact() {
    let app = TestApp::spawn().await;
    let customers = |from: usize, to: usize, country: &str| {
        let mut csv = String::from("customer_id,registration_date,country,segment\n");
        for i in from..to {
            csv.push_str(&format!(
                "c{i},2024-{:02}-10 08:00:00,{country},s{}\n",
                1 + i % 12,
                i % 3
            ));
        }
        csv
    };
    let transactions = |from: usize, to: usize| {
        let mut csv =
            String::from("transaction_id,customer_id,transaction_date,amount,is_refund\n");
        for i in from..to {
            csv.push_str(&format!(
                "t{i},c{},2024-{:02}-{:02} 12:00:00,{}.5,{}\n",
                i % 250,
                1 + i % 12,
                1 + i % 28,
                i % 90,
                (i % 11 == 0) as u8
            ));
        }
        csv
    };
    let indexes = || async {
        let defs: Vec<(String, String)> = sqlx::query_as(
            "SELECT indexname::text, indexdef FROM pg_indexes WHERE schemaname = current_schema() ORDER BY 1",
        )
        .fetch_all(&app.pool)
        .await
        .unwrap();
        defs
    };
    let before = indexes().await;
    let first = bulk(&app, "customers", customers(0, 200, "US")).await;
    assert_eq!(first["derived_state"], "rebuilt", "{first}");
    let first = bulk(&app, "transactions", transactions(0, 1000)).await;
    assert_eq!(first["derived_state"], "rebuilt", "{first}");
    assert_derived_exact(&app.pool, "after the first loads").await;
    // A first load builds the empty tables' indexes afterwards: all of them,
    // exactly as they were.
    assert_eq!(indexes().await, before);

    // Small files: new customers and upserts that move 10 of them, more
    // transactions (some repeated).
    let small = bulk(&app, "customers", customers(190, 230, "DE")).await;
    assert_eq!(small["derived_state"], "deltas", "{small}");
    let small = bulk(&app, "transactions", transactions(950, 1100)).await;
    assert_eq!(small["derived_state"], "deltas", "{small}");
    assert_eq!(small["successful_rows"], 150);
    assert_derived_exact(&app.pool, "after the small loads").await;
    let again = bulk(&app, "transactions", transactions(950, 1100)).await;
    assert_eq!(again["derived_state"], "unchanged", "{again}");

    // The same rows through the Events API answer the same.
    let events = TestApp::spawn().await;
    for (ds, csv) in [
        ("customers", customers(0, 200, "US")),
        ("transactions", transactions(0, 1000)),
        ("customers", customers(190, 230, "DE")),
        ("transactions", transactions(950, 1100)),
    ] {
        let ndjson: Vec<String> = csv_to_ndjson(&csv);
        let (status, body) = events.post_events(ds, ndjson.join("\n")).await;
        assert!(status.is_success(), "{body}");
    }
    for pipe in [
        "ltv_overview.json",
        "ltv_by_cohort.json?country=DE",
        "customer_retention_analysis.json",
        "customer_segmentation_summary.json",
        "ltv_influencing_factors.json?min_customers=1",
        "customer_ltv.json?limit=50&order_by=gross_revenue",
    ] {
        let (_, a) = app.get(&format!("/v0/pipes/{pipe}")).await;
        let (_, b) = events.get(&format!("/v0/pipes/{pipe}")).await;
        assert_eq!(a["data"], b["data"], "{pipe}");
        assert!(
            a["data"].as_array().is_some_and(|d| !d.is_empty()),
            "{pipe}"
        );
    }
}

/// A header row and data rows as NDJSON objects (every value a string).
fn csv_to_ndjson(csv: &str) -> Vec<String> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|l| {
            let obj: serde_json::Map<String, serde_json::Value> = header
                .iter()
                .zip(l.split(','))
                .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
                .collect();
            serde_json::Value::Object(obj).to_string()
        })
        .collect()
}

/// The command an operator runs: exit 0 and "ok" per table when clean, exit 1
/// and the differing rows otherwise.
#[tokio::test]
async fn the_cli_prints_each_table_and_fails_on_a_difference() {
    let url = fresh_database().await;
    let app = TestApp::spawn_on(&url, &[]).await;
    let (status, body) = app
        .post_events(
            "transactions",
            r#"{"transaction_id":"t1","customer_id":"a","transaction_date":"2024-02-01","amount":10}"#,
        )
        .await;
    assert!(status.is_success(), "{body}");
    let cli = || run_cli(&url, &["rollups", "verify"]);
    let clean = cli().await;
    let stdout = String::from_utf8_lossy(&clean.stdout);
    assert!(clean.status.success(), "{stdout}");
    assert!(
        stdout.contains("customer_summary:") && stdout.contains("ok"),
        "{stdout}"
    );
    assert!(stdout.contains("every derived table equals"), "{stdout}");

    // One customer: one row under each of the 8 combinations of kept
    // attributes, each differing as stored and as recomputed.
    sqlx::query("UPDATE rfm_days SET customers = customers + 5")
        .execute(&app.pool)
        .await
        .unwrap();
    let drifted = cli().await;
    let stdout = String::from_utf8_lossy(&drifted.stdout);
    assert_eq!(drifted.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("rfm_days:") && stdout.contains("16 differing row(s)"),
        "{stdout}"
    );
    assert!(stdout.contains("stored, not recomputed"), "{stdout}");
}

#[tokio::test]
async fn a_table_a_migration_emptied_is_recomputed_at_the_next_start() {
    // What migration 0004 does to an existing database: the derived tables
    // whose shape changed are made again empty and named in derived_stale.
    let app = loaded().await;
    let before = app.count("SELECT count(*) FROM cohort_activity").await;
    assert!(before > 0);
    for sql in [
        "TRUNCATE customer_period, cohort_activity",
        "INSERT INTO derived_stale VALUES ('customer_period'), ('cohort_activity')",
    ] {
        sqlx::query(sql).execute(&app.pool).await.unwrap();
    }
    ltv_pipes::db::migrate(&app.pool).await.unwrap();
    assert_derived_exact(&app.pool, "after the stale tables were recomputed").await;
    assert_eq!(
        app.count("SELECT count(*) FROM cohort_activity").await,
        before
    );
    assert_eq!(app.count("SELECT count(*) FROM derived_stale").await, 0);
}
