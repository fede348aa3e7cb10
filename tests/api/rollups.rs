//! `ltv-pipes rollups verify`: every derived table recomputed from the raw
//! tables. Clean after every write path; a drifted table is named with its
//! rows; the command exits 1 on any difference.

use ltv_pipes::rollups::{self, verify::Side};

use crate::helpers::{fresh_database, scratch_dir, TestApp, ADMIN_TOKEN};

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
    let resp = app
        .client
        .post(app.url("/v0/datasources?name=transactions&mode=append"))
        .bearer_auth(ADMIN_TOKEN)
        .header("Content-Type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    app
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
    let cli = || {
        let dir = scratch_dir("rollups-cli");
        std::process::Command::new(env!("CARGO_BIN_EXE_ltv-pipes"))
            .args(["rollups", "verify"])
            .env("DATABASE_URL", &url)
            .env("LTV_DATA_DIR", &dir)
            .env_remove("LTV_CONFIG")
            .current_dir(&dir)
            .output()
            .expect("run ltv-pipes")
    };
    let clean = cli();
    let stdout = String::from_utf8_lossy(&clean.stdout);
    assert!(clean.status.success(), "{stdout}");
    assert!(
        stdout.contains("customer_summary:") && stdout.contains("ok"),
        "{stdout}"
    );
    assert!(stdout.contains("every derived table equals"), "{stdout}");

    sqlx::query("UPDATE rfm_days SET customers = customers + 5")
        .execute(&app.pool)
        .await
        .unwrap();
    let drifted = cli();
    let stdout = String::from_utf8_lossy(&drifted.stdout);
    assert_eq!(drifted.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("rfm_days:") && stdout.contains("2 differing row(s)"),
        "{stdout}"
    );
    assert!(stdout.contains("stored, not recomputed"), "{stdout}");
}
