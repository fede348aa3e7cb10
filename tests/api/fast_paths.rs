//! The pre-aggregated answers (customer profile, customer cube) must equal the
//! general computation whatever ingestion did: customers re-registered into
//! another month or country, transaction-only customers, refunds, repeats.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use crate::clv_reference::LTV_ORDER;
use crate::helpers::{assert_derived_exact, TestApp};

fn customer(rng: &mut ChaCha8Rng, id: usize) -> String {
    let month = rng.random_range(1..=12);
    let country = ["US", "DE", "FR"][rng.random_range(0..3)];
    let segment = ["basic", "vip"][rng.random_range(0..2)];
    format!(
        r#"{{"customer_id":"c{id}","registration_date":"2024-{month:02}-15 10:00:00","country":"{country}","segment":"{segment}","acquisition_source":"ads","is_active":{}}}"#,
        rng.random_range(0..2)
    )
}

fn transaction(rng: &mut ChaCha8Rng, id: usize, customers: usize) -> String {
    let refund = rng.random_bool(0.1);
    format!(
        r#"{{"transaction_id":"t{id}","customer_id":"c{}","transaction_date":"2025-{:02}-{:02} 12:00:00","amount":{}.{:02},"transaction_type":"{}"}}"#,
        rng.random_range(0..customers + 5), // a few transaction-only customers
        rng.random_range(1..=12),
        rng.random_range(1..=28),
        rng.random_range(1..500),
        rng.random_range(0..100),
        if refund { "refund" } else { "purchase" }
    )
}

async fn data(app: &TestApp, pipe: &str, query: &str) -> Value {
    let (status, body) = app.get(&format!("/v0/pipes/{pipe}.json?{query}")).await;
    assert!(status.is_success(), "{pipe}?{query}: {body}");
    body["data"].clone()
}

/// The app (answer cache off: the tests skew tables behind the server's
/// back) with `customers` random customers and `transactions` random
/// transactions, a few of them for customers without a registration.
async fn customers_with_transactions(seed: u64, customers: usize, transactions: usize) -> TestApp {
    let app = TestApp::spawn_with(&[("LTV_CACHE__ENABLED", "false")]).await;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let rows: Vec<String> = (0..customers).map(|i| customer(&mut rng, i)).collect();
    let (status, body) = app.post_events("customers", rows.join("\n")).await;
    assert!(status.is_success(), "{body}");
    let txs: Vec<String> = (0..transactions)
        .map(|i| transaction(&mut rng, i, customers))
        .collect();
    let (status, body) = app.post_events("transactions", txs.join("\n")).await;
    assert!(status.is_success(), "{body}");
    app
}

/// Registers a customer 30 days from now: nobody's customer yet, so the
/// profile and the cubes no longer answer today and every pipe computes.
async fn register_after_today(app: &TestApp) {
    let later = (chrono::Utc::now() + chrono::Duration::days(30)).format("%Y-%m-%d %H:%M:%S");
    let (status, body) = app
        .post_events(
            "customers",
            format!(r#"{{"customer_id":"later","registration_date":"{later}","country":"US"}}"#),
        )
        .await;
    assert!(status.is_success(), "{body}");
}

#[tokio::test]
async fn the_cubes_and_the_cohort_and_retention_pipes_stay_exact_through_upserts_and_refunds() {
    // The answer cache off: the tests skew tables behind the server's back.
    let app = TestApp::spawn_with(&[("LTV_CACHE__ENABLED", "false")]).await;
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let n = 60;
    let mut next_tx = 0;
    for round in 0..4 {
        // Every round re-registers a random half of the customers (month,
        // country, segment may move) and adds purchases and refunds.
        let customers: Vec<String> = (0..n)
            .filter(|i| round == 0 || i % 2 == round % 2)
            .map(|i| customer(&mut rng, i))
            .collect();
        let (status, body) = app.post_events("customers", customers.join("\n")).await;
        assert!(status.is_success(), "{body}");
        let txs: Vec<String> = (0..80)
            .map(|_| {
                next_tx += 1;
                transaction(&mut rng, next_tx, n)
            })
            .collect();
        let (status, body) = app.post_events("transactions", txs.join("\n")).await;
        assert!(status.is_success(), "{body}");
        assert_derived_exact(&app.pool, &format!("round {round}")).await;

        // (Cohorts by first purchase have no such twin: a registration window
        // leaves transaction-only customers out. The reference tests check
        // them, clv_reference.rs.)
        // The cube alone (no registration window) against the cube's whole
        // periods plus the customers of a partial first period, read one by
        // one (a window that starts a second into 1900 contains every
        // registration); assert_derived_exact above proves the cubes exact.
        let everyone = "start_date=1900-01-01%2000:00:01";
        for query in [
            "",
            "cohort_period=quarter",
            "country=US",
            "segment=vip&cohort_period=year",
            "as_of=2025-06-30",
            "as_of=2025-06-14&country=US&cohort_period=quarter",
        ] {
            let fast = data(&app, "ltv_by_cohort", query).await;
            let general = data(&app, "ltv_by_cohort", &format!("{query}&{everyone}")).await;
            assert_eq!(fast, general, "ltv_by_cohort?{query}, round {round}");
            assert!(fast.as_array().is_some_and(|rows| !rows.is_empty()));
        }
        for query in [
            "",
            "cohort_period=quarter",
            "cohort_period=year&country=DE",
            "segment=basic&max_periods=6",
            "as_of=2025-06-14&segment=vip",
        ] {
            let fast = data(&app, "customer_retention_analysis", query).await;
            let general = data(
                &app,
                "customer_retention_analysis",
                &format!("{query}&{everyone}"),
            )
            .await;
            assert_eq!(
                fast, general,
                "customer_retention_analysis?{query}, round {round}"
            );
            assert!(fast.as_array().is_some_and(|rows| !rows.is_empty()));
        }
    }
    // And the default calls and past as_of (a month end, mid-month) really
    // read the cubes: skew them and the answers move.
    let calls = [
        ("ltv_by_cohort", ""),
        ("customer_retention_analysis", ""),
        ("ltv_by_cohort", "as_of=2025-06-30"),
        ("ltv_by_cohort", "as_of=2025-06-14&country=US"),
        ("customer_retention_analysis", "as_of=2025-06-14"),
        ("ltv_by_cohort", "cohort_basis=first_purchase"),
        (
            "ltv_by_cohort",
            "cohort_basis=first_purchase&as_of=2025-06-14",
        ),
        ("customer_retention_analysis", "cohort_basis=first_purchase"),
        (
            "customer_retention_analysis",
            "cohort_basis=first_purchase&as_of=2025-06-30",
        ),
    ];
    let mut before = Vec::new();
    for (pipe, query) in calls {
        before.push(data(&app, pipe, query).await);
    }
    sqlx::query(
        "UPDATE customer_cube SET customers = customers + 1 WHERE cohort_month <> 'infinity'",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE cohort_activity SET active = active + 1, gross = gross + 1, first_buyers = first_buyers + 1",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    for ((pipe, query), before) in calls.iter().zip(before) {
        let skewed = data(&app, pipe, query).await;
        assert_ne!(skewed, before, "{pipe}?{query} did not read the cube");
    }
}

#[tokio::test]
async fn a_registration_after_today_is_no_member_of_todays_cohorts() {
    // The answer cache off: the tests skew tables behind the server's back.
    let app = TestApp::spawn_with(&[("LTV_CACHE__ENABLED", "false")]).await;
    let future = (chrono::Utc::now() + chrono::Duration::days(40)).format("%Y-%m-%d %H:%M:%S");
    let body = format!(
        "{}\n{}",
        r#"{"customer_id":"a","registration_date":"2024-01-02 00:00:00","country":"US"}"#,
        format_args!(r#"{{"customer_id":"b","registration_date":"{future}","country":"US"}}"#)
    );
    let (status, reply) = app.post_events("customers", body).await;
    assert!(status.is_success(), "{reply}");
    let rows = data(&app, "ltv_by_cohort", "").await;
    // Customer b has not registered yet as of today: one cohort of one.
    assert_eq!(rows.as_array().map(Vec::len), Some(1), "{rows}");
    assert_eq!(rows[0]["cohort_size"], 1);
}

#[tokio::test]
async fn the_overview_from_the_histogram_equals_the_overview_from_every_customer() {
    // Wide amounts so the median and the top 10% fall inside busy buckets.
    let app = customers_with_transactions(5, 400, 1_500).await;

    let queries = [
        "",
        "country=US",
        "segment=vip&acquisition_source=ads",
        "country=",
        "country=XX",
    ];
    let mut fast = Vec::new();
    for q in queries {
        fast.push(data(&app, "ltv_overview", q).await);
    }
    // The cube really answered: skew it and the default call moves.
    let skew = |d: i64| sqlx::query("UPDATE customer_cube SET active = active + $1").bind(d);
    skew(1_000).execute(&app.pool).await.unwrap();
    assert_ne!(data(&app, "ltv_overview", "").await, fast[0]);
    skew(-1_000).execute(&app.pool).await.unwrap();

    // A registration after today makes the cube step aside (the newcomer is
    // nobody's customer yet): the general computation over every customer.
    register_after_today(&app).await;
    for (q, fast) in queries.iter().zip(&fast) {
        let general = data(&app, "ltv_overview", q).await;
        assert_eq!(fast, &general, "ltv_overview?{q}");
    }
    assert!(
        fast[0][0]["median_ltv"].as_f64().is_some_and(|m| m > 0.0),
        "{}",
        fast[0]
    );
}

#[tokio::test]
async fn customer_ltv_pages_off_the_sort_indexes_equal_the_pages_of_every_customer() {
    // Few transactions: many customers without a purchase (null first/last
    // purchase and average order value), a few without a registration.
    let app = customers_with_transactions(23, 300, 400).await;

    let mut queries = Vec::new();
    for order in LTV_ORDER {
        for dir in ["desc", "asc"] {
            queries.push(format!("order_by={order}&order_dir={dir}&limit=40"));
            queries.push(format!(
                "order_by={order}&order_dir={dir}&limit=15&offset=250"
            ));
        }
        queries.push(format!("order_by={order}&country=US&segment=vip&limit=20"));
        queries.push(format!(
            "order_by={order}&margin=0.003&min_ltv=100&is_active=1&limit=10"
        ));
    }
    let mut fast = Vec::new();
    for q in &queries {
        fast.push(data(&app, "customer_ltv", q).await);
    }
    // The profile really answered: skew one customer's orders and the
    // total_orders page moves.
    let skew = |d: i64| {
        sqlx::query(
            "UPDATE customer_summary SET purchases = purchases + $1 WHERE customer_id = 'c7'",
        )
        .bind(d)
    };
    skew(1_000).execute(&app.pool).await.unwrap();
    assert_eq!(
        data(&app, "customer_ltv", "order_by=total_orders&limit=1").await[0]["customer_id"],
        "c7"
    );
    skew(-1_000).execute(&app.pool).await.unwrap();

    // A registration after today makes the profile step aside: every
    // customer's totals computed from the daily rollup, then sorted.
    register_after_today(&app).await;
    for (q, fast) in queries.iter().zip(&fast) {
        let general = data(&app, "customer_ltv", q).await;
        assert_eq!(fast, &general, "customer_ltv?{q}");
    }
    assert!(fast
        .iter()
        .all(|rows| rows.as_array().is_some_and(|r| !r.is_empty())));
}

#[tokio::test]
async fn the_cube_counts_every_transaction() {
    let app = TestApp::spawn().await;
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let customers: Vec<String> = (0..30).map(|i| customer(&mut rng, i)).collect();
    assert!(app
        .post_events("customers", customers.join("\n"))
        .await
        .0
        .is_success());
    // Refunds, transaction-only customers and a repeated id (a no-op).
    let mut txs: Vec<String> = (0..200).map(|i| transaction(&mut rng, i, 30)).collect();
    txs.push(txs[0].clone());
    assert!(app
        .post_events("transactions", txs.join("\n"))
        .await
        .0
        .is_success());
    assert_eq!(
        app.count("SELECT ltv_transaction_count()").await,
        app.count("SELECT count(*) FROM transactions").await
    );
}

/// Coarse amounts (ties in monetary too), full and partial refunds (zero and
/// negative net), purchases on few distinct days (ties in recency).
fn rfm_transaction(rng: &mut ChaCha8Rng, id: usize, customers: usize) -> String {
    let refund = rng.random_bool(0.15);
    format!(
        r#"{{"transaction_id":"r{id}","customer_id":"c{}","transaction_date":"2025-{:02}-{:02} 12:00:00","amount":{},"transaction_type":"{}"}}"#,
        rng.random_range(0..customers + 5),
        rng.random_range(1..=12),
        [1, 15][rng.random_range(0..2)],
        rng.random_range(1..40) * 5,
        if refund { "refund" } else { "purchase" }
    )
}

#[tokio::test]
async fn rfm_from_the_cuts_equals_rfm_from_ranking_every_customer() {
    // The answer cache off: the test skews tables behind the server's back.
    let app = TestApp::spawn_with(&[("LTV_CACHE__ENABLED", "false")]).await;
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    let n = 300;
    // A window holding all time: the summary takes its general path for any
    // window; segmentation recognises it and reads the cuts.
    let everyone = "start_date=1900-01-01%2000:00:00";
    let mut next_tx = 0;
    for round in 0..3 {
        let customers: Vec<String> = (0..n)
            .filter(|i| round == 0 || i % 3 == round)
            .map(|i| customer(&mut rng, i))
            .collect();
        let (status, body) = app.post_events("customers", customers.join("\n")).await;
        assert!(status.is_success(), "{body}");
        let txs: Vec<String> = (0..400)
            .map(|_| {
                next_tx += 1;
                rfm_transaction(&mut rng, next_tx, n)
            })
            .collect();
        let (status, body) = app.post_events("transactions", txs.join("\n")).await;
        assert!(status.is_success(), "{body}");
        assert_derived_exact(&app.pool, &format!("round {round}")).await;

        for query in [
            "limit=10000",
            "limit=7",
            "segment_filter=At%20Risk&limit=10000",
            "min_frequency=3&limit=10000",
            "min_monetary=100&limit=10000",
        ] {
            let fast = data(&app, "customer_segmentation", query).await;
            let general = data(
                &app,
                "customer_segmentation",
                &format!("{query}&{everyone}"),
            )
            .await;
            assert_eq!(
                fast, general,
                "customer_segmentation?{query}, round {round}"
            );
            assert!(fast.as_array().is_some_and(|rows| !rows.is_empty()));
        }
        // Scores from the cuts (with and without attribute filters) against
        // ranking every customer of the population (ltv_rfm_scores).
        for (query, filters) in [
            ("limit=10000", "NULL, NULL, NULL"),
            ("country=US&limit=10000", "'US', NULL, NULL"),
            ("country=DE&segment=vip&limit=10000", "'DE', 'vip', NULL"),
            ("acquisition_source=ads&limit=10000", "NULL, NULL, 'ads'"),
            (
                &format!("segment=basic&limit=10000&{everyone}"),
                "NULL, 'basic', NULL",
            ),
        ] {
            let fast = data(&app, "customer_segmentation", query).await;
            let mut got: Vec<(String, i64, i64, i64)> = fast
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    let score = |k: &str| r[k].as_i64().unwrap();
                    let id = r["customer_id"].as_str().unwrap().to_string();
                    (id, score("r_score"), score("f_score"), score("m_score"))
                })
                .collect();
            got.sort();
            let ranked: Vec<(String, i64, i64, i64)> = sqlx::query_as(&format!(
                "SELECT customer_id, r_score::int8, f_score::int8, m_score::int8 \
                 FROM ltv_rfm_scores(ltv_today(), NULL, NULL, {filters}) ORDER BY customer_id"
            ))
            .fetch_all(&app.pool)
            .await
            .unwrap();
            assert!(!got.is_empty(), "{query}");
            assert_eq!(got, ranked, "customer_segmentation?{query}, round {round}");
        }
        // The summary (from rfm_cube, or with min_monetary from the scored
        // profiles) against the scores of ranking every customer.
        for (query, filters, kept) in [
            ("", "NULL, NULL, NULL", "TRUE"),
            ("min_frequency=2", "NULL, NULL, NULL", "frequency >= 2"),
            (
                "segment_filter=Champions",
                "NULL, NULL, NULL",
                "rfm_segment = 'Champions'",
            ),
            ("min_monetary=50", "NULL, NULL, NULL", "monetary >= 50"),
            ("country=US", "'US', NULL, NULL", "TRUE"),
            (
                "country=DE&segment=vip&min_frequency=2",
                "'DE', 'vip', NULL",
                "frequency >= 2",
            ),
            (
                "acquisition_source=ads&min_monetary=20",
                "NULL, NULL, 'ads'",
                "monetary >= 20",
            ),
            (everyone, "NULL, NULL, NULL", "TRUE"),
        ] {
            let fast = data(&app, "customer_segmentation_summary", query).await;
            let mut got: Vec<(String, i64, f64, f64)> = fast
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    let f = |k: &str| r[k].as_f64().unwrap();
                    let segment = r["rfm_segment"].as_str().unwrap().to_string();
                    (
                        segment,
                        r["customers"].as_i64().unwrap(),
                        f("total_monetary"),
                        f("avg_recency_days"),
                    )
                })
                .collect();
            got.sort_by(|a, b| a.0.cmp(&b.0));
            let ranked: Vec<(String, i64, f64, f64)> = sqlx::query_as(&format!(
                "SELECT rfm_segment, count(*)::int8, round(sum(monetary), 2)::float8,
                        round(avg(recency_days), 4)::float8
                 FROM ltv_rfm_scores(ltv_today(), NULL, NULL, {filters}) WHERE {kept}
                 GROUP BY 1 ORDER BY 1"
            ))
            .fetch_all(&app.pool)
            .await
            .unwrap();
            assert!(!got.is_empty(), "{query}");
            assert_eq!(
                got, ranked,
                "customer_segmentation_summary?{query}, round {round}"
            );
        }
    }
    // Scores use every dimension's full range on this data.
    let all = data(&app, "customer_segmentation", "limit=10000").await;
    for score in ["r_score", "f_score", "m_score"] {
        let mut seen: Vec<i64> = all
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r[score].as_i64().unwrap())
            .collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen, vec![1, 2, 3, 4, 5], "{score}");
    }
    // And the default calls really read the RFM tables: skew them and the
    // answers move.
    let unskewed = data(&app, "customer_segmentation", "limit=10000").await;
    let summaries = ["", "country=US", "segment=vip&acquisition_source=ads"];
    let mut unskewed_summaries = Vec::new();
    for q in summaries {
        unskewed_summaries.push(data(&app, "customer_segmentation_summary", q).await);
    }
    sqlx::query("UPDATE rfm_cube SET customers = customers + 50 WHERE purchases = 1")
        .execute(&app.pool)
        .await
        .unwrap();
    for (q, unskewed) in summaries.iter().zip(&unskewed_summaries) {
        let skewed = data(&app, "customer_segmentation_summary", q).await;
        assert_ne!(&skewed, unskewed, "the summary?{q} did not read rfm_cube");
    }
    sqlx::query("UPDATE rfm_monetary SET customers = customers + 50 WHERE bucket = (SELECT min(bucket) FROM rfm_monetary WHERE customers > 0)")
        .execute(&app.pool)
        .await
        .unwrap();
    let skewed = data(&app, "customer_segmentation", "limit=10000").await;
    assert_ne!(skewed, unskewed, "segmentation did not read the cuts");
    // The recency and frequency cuts come from the marginals.
    for skew in [
        "UPDATE rfm_monetary SET customers = customers - 50 WHERE bucket = (SELECT min(bucket) FROM rfm_monetary WHERE customers > 0)",
        // Everybody with 2 purchases counted with 1 instead (n unchanged).
        "UPDATE rfm_purchases p SET customers = p.customers + CASE p.purchases WHEN 1 THEN t.n ELSE -t.n END
         FROM (SELECT customers AS n FROM rfm_purchases WHERE purchases = 2 AND kept = 0) t
         WHERE p.purchases IN (1, 2) AND p.kept = 0",
    ] {
        sqlx::query(skew).execute(&app.pool).await.unwrap();
    }
    let skewed = data(&app, "customer_segmentation", "limit=10000").await;
    assert_ne!(skewed, unskewed, "segmentation did not read rfm_purchases");
}

fn factor_customer(rng: &mut ChaCha8Rng, id: usize) -> String {
    let age = match rng.random_range(0..10) {
        0 => "null".to_string(),
        _ => rng.random_range(16..80).to_string(),
    };
    format!(
        r#"{{"customer_id":"c{id}","registration_date":"2024-{:02}-15 10:00:00","country":"{}","segment":"{}","acquisition_source":"{}","gender":"{}","age":{age}}}"#,
        rng.random_range(1..=12),
        ["US", "DE", "FR"][rng.random_range(0..3)],
        ["basic", "vip"][rng.random_range(0..2)],
        ["ads", "organic"][rng.random_range(0..2)],
        ["female", "male"][rng.random_range(0..2)],
    )
}

fn interaction(rng: &mut ChaCha8Rng, id: usize, customers: usize) -> String {
    let satisfaction = match rng.random_range(0..3) {
        0 => "null".to_string(),
        _ => rng.random_range(1..=5).to_string(),
    };
    format!(
        r#"{{"interaction_id":"i{id}","customer_id":"c{}","interaction_date":"2025-{:02}-10 09:00:00","interaction_type":"{}","channel":"{}","satisfaction_score":{satisfaction}}}"#,
        rng.random_range(0..customers),
        rng.random_range(1..=12),
        ["support_call", "visit"][rng.random_range(0..2)],
        ["email", "phone", "chat"][rng.random_range(0..3)],
    )
}

#[tokio::test]
async fn influencing_factors_from_the_factor_tables_equal_the_pass_over_every_customer() {
    // The answer cache off: the test skews tables behind the server's back.
    let app = TestApp::spawn_with(&[("LTV_CACHE__ENABLED", "false")]).await;
    let mut rng = ChaCha8Rng::seed_from_u64(23);
    let n = 240;
    // The general path over the same population: a window holding everyone.
    let everyone = "start_date=1900-01-01%2000:00:00";
    let (mut next_tx, mut next_i) = (0, 0);
    for round in 0..3 {
        let customers: Vec<String> = (0..n)
            .filter(|i| round == 0 || i % 3 == round)
            .map(|i| factor_customer(&mut rng, i))
            .collect();
        let (status, body) = app.post_events("customers", customers.join("\n")).await;
        assert!(status.is_success(), "{body}");
        let txs: Vec<String> = (0..300)
            .map(|_| {
                next_tx += 1;
                rfm_transaction(&mut rng, next_tx, n)
            })
            .collect();
        let (status, body) = app.post_events("transactions", txs.join("\n")).await;
        assert!(status.is_success(), "{body}");
        let interactions: Vec<String> = (0..200)
            .map(|_| {
                next_i += 1;
                interaction(&mut rng, next_i, n)
            })
            .collect();
        let (status, body) = app
            .post_events("customer_interactions", interactions.join("\n"))
            .await;
        assert!(status.is_success(), "{body}");
        assert_derived_exact(&app.pool, &format!("round {round}")).await;

        for query in [
            "",
            "min_customers=1",
            "factor=top_category&min_customers=1",
            "factor=correlation",
            "factor=age_band&min_customers=3",
        ] {
            let fast = data(&app, "ltv_influencing_factors", query).await;
            let general = data(
                &app,
                "ltv_influencing_factors",
                &format!("{query}&{everyone}"),
            )
            .await;
            assert_eq!(
                fast, general,
                "ltv_influencing_factors?{query}, round {round}"
            );
            assert!(fast.as_array().is_some_and(|rows| !rows.is_empty()));
        }
    }
    // And the default call really reads the factor tables: skew them and the
    // answer moves.
    sqlx::query("UPDATE factor_correlation SET sxy = sxy + 1000000 WHERE metric = 1")
        .execute(&app.pool)
        .await
        .unwrap();
    let skewed = data(&app, "ltv_influencing_factors", "factor=correlation").await;
    let general = data(
        &app,
        "ltv_influencing_factors",
        &format!("factor=correlation&{everyone}"),
    )
    .await;
    assert_ne!(
        skewed, general,
        "correlations did not read factor_correlation"
    );
    sqlx::query("UPDATE factor_cube SET customers = customers + 7 WHERE factor = 3")
        .execute(&app.pool)
        .await
        .unwrap();
    let skewed = data(&app, "ltv_influencing_factors", "factor=country").await;
    let general = data(
        &app,
        "ltv_influencing_factors",
        &format!("factor=country&{everyone}"),
    )
    .await;
    assert_ne!(skewed, general, "groups did not read factor_cube");
}
