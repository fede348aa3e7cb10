//! `ltv-pipes demo`: the same seed loads the same data, another seed other
//! data, and everything it generates passes validation.

use crate::helpers::TestApp;

/// A fingerprint of every stored row (ids, dates, amounts, attributes).
const FINGERPRINT: &str = "
    SELECT md5(coalesce((SELECT string_agg(concat_ws('|', customer_id, registration_date, country, city, age,
                                                       gender, acquisition_source, segment, is_active), ';' ORDER BY customer_id)
                         FROM customers), '')
            || coalesce((SELECT string_agg(concat_ws('|', transaction_id, customer_id, transaction_date, amount,
                                                       product_category, transaction_type, payment_method, is_refund), ';'
                                           ORDER BY transaction_id) FROM transactions), '')
            || coalesce((SELECT string_agg(concat_ws('|', interaction_id, customer_id, interaction_date, interaction_type,
                                                       channel, duration_seconds, satisfaction_score), ';'
                                           ORDER BY interaction_id) FROM customer_interactions), ''))";

async fn load(seed: u64) -> (TestApp, String, Vec<u64>) {
    let app = TestApp::spawn().await;
    let spec = ltv_pipes::demo::Spec::new(300, seed);
    let passes = ltv_pipes::demo::load(
        &ltv_pipes::db::Writer::new(app.pool.clone(), true),
        spec,
        |_, _| {},
    )
    .await
    .unwrap();
    let generated: Vec<u64> = passes.iter().map(|p| p.rows_generated).collect();
    for p in &passes {
        assert_eq!(p.report.quarantined_rows, 0, "{p:?}");
        assert_eq!(p.report.rows, p.rows_generated, "{p:?}");
    }
    let fingerprint: String = sqlx::query_scalar(FINGERPRINT)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    (app, fingerprint, generated)
}

#[tokio::test]
async fn the_same_seed_loads_the_same_data() {
    let (a, fa, ga) = load(7).await;
    let (_b, fb, gb) = load(7).await;
    let (_c, fc, _) = load(8).await;
    assert_eq!(fa, fb);
    assert_eq!(ga, gb);
    assert_ne!(fa, fc);
    assert_eq!(a.count("SELECT count(*) FROM customers").await, 300);
    assert_eq!(
        a.count("SELECT count(*) FROM transactions").await as u64,
        ga[1]
    );
    assert!(ga[1] > 300 * 5, "transactions {}", ga[1]);
    // The pipes have something to say about it.
    let (status, body) = a.get("/v0/pipes/ltv_overview.json").await;
    assert!(status.is_success(), "{body}");
    assert_eq!(body["data"][0]["customers"], 300);
    assert!(
        body["data"][0]["refund_rate"]
            .as_f64()
            .is_some_and(|r| r > 0.0 && r < 0.15),
        "{body}"
    );
    // Loading the same seed again is an idempotent no-op.
    let again = ltv_pipes::demo::load(
        &ltv_pipes::db::Writer::new(a.pool.clone(), true),
        ltv_pipes::demo::Spec::new(300, 7),
        |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(again.len(), 3);
    let f_again: String = sqlx::query_scalar(FINGERPRINT)
        .fetch_one(&a.pool)
        .await
        .unwrap();
    assert_eq!(f_again, fa);
}

/// `ltv-pipes demo` from the command line prints its progress (one line per
/// datasource, then a summary) and never SQL text, whatever the logs say.
#[tokio::test]
async fn the_demo_prints_progress_not_sql() {
    let url = crate::helpers::fresh_database().await;
    let out = crate::helpers::run_cli(&url, &["demo", "--customers", "200"]).await;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for datasource in ["customers", "transactions", "customer_interactions"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{datasource}: "))
                    && l.contains("rows in")),
            "no progress line for {datasource}:\n{stdout}"
        );
    }
    assert!(stdout.contains("demo data loaded"), "{stdout}");
    let all = format!("{stdout}{stderr}");
    for sql in ["SELECT ", "INSERT INTO", "slow statement", "db.statement"] {
        assert!(!all.contains(sql), "the demo printed {sql:?}:\n{all}");
    }
}
