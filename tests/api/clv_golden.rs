//! Golden tests for the seven CLV pipes: a dozen hand-designed customers whose
//! every expected number is derived from the rules (`docs/METRICS.md`), never
//! copied from a pipe's answer.
//!
//! Every request uses a fixed `as_of` (2024-06-30, and 2024-03-31 for the
//! "earlier point of view" tests) so nothing depends on today's date.
//!
//! # The fixture (as_of = 2024-06-30 unless said otherwise)
//!
//! | id  | registered          | country | age  | gender | source   | segment | active | purchases by as_of (net)                      |
//! |-----|---------------------|---------|------|--------|----------|---------|--------|-----------------------------------------------|
//! | c01 | 2024-01-10 08:00    | US      | 30   | F      | ads      | premium | 1      | 100 el + 50 books (subscription) − 60 refund = 90 |
//! | c02 | 2024-01-20          | US→DE   | 17   | M      | organic  | basic   | 1      | 40 (upgrade) + 40 − 10 (type 'refund', is_refund 0) = 70 |
//! | c03 | 2024-02-05          | DE      | null | F      | ads      | basic   | 0      | none                                          |
//! | c04 | 2024-04-10          | US      | 45   | M      | referral | premium | 1      | 30 on 03-20 (before registration) + 70 = 100; 500 on 07-05 ignored |
//! | c05 | 2024-02-14          | FR      | 18   | F      | organic  | basic   | 1      | 90                                            |
//! | c06 | 2024-03-03          | US      | 67   | M      | ads      | premium | 0      | 3 × 20 (last at 2024-06-30 23:59:59) = 60     |
//! | c07 | 2024-05-01          | DE      | 55   | F      | referral | basic   | 1      | 200 − 200 (fully refunded) = 0                |
//! | c08 | 2024-05-20          | FR      | 35   | null   | organic  | premium | 1      | none                                          |
//! | c09 | 2024-06-15          | US      | 25   | F      | ads      | basic   | 1      | 25; 999 at 2024-07-01 00:00:00 ignored        |
//! | c10 | 2024-07-10 (after)  | US      | 40   | M      | ads      | basic   | 1      | 75 on 07-12 (after as_of): absent at 06-30    |
//! | c11 | 2023-11-05          | US      | 60   | M      | referral | premium | 1      | 3 × 80 (subscription) = 240                   |
//! | x01 | — (no customers row)|         |      |        |          |         |        | 60 (no transaction_type)                      |
//!
//! The expected values were computed from the rules by hand and re-checked with
//! a small independent Python script (exact fractions, `ROUND_HALF_UP`); the
//! derivation of each non-obvious number is in a comment next to it.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::TestApp;

const AS_OF: &str = "as_of=2024-06-30";
const EARLIER: &str = "as_of=2024-03-31";

const CUSTOMERS: &[&str] = &[
    r#"{"customer_id":"c01","registration_date":"2024-01-10 08:00:00","country":"US","city":"New York","age":30,"gender":"F","acquisition_source":"ads","segment":"premium","is_active":1}"#,
    // c02 is sent first as US (Boston) and replaced below by a second row: DE, Berlin.
    r#"{"customer_id":"c02","registration_date":"2024-01-20 00:00:00","country":"US","city":"Boston","age":17,"gender":"M","acquisition_source":"organic","segment":"basic","is_active":1}"#,
    r#"{"customer_id":"c03","registration_date":"2024-02-05 00:00:00","country":"DE","city":"","age":null,"gender":"F","acquisition_source":"ads","segment":"basic","is_active":0}"#,
    r#"{"customer_id":"c04","registration_date":"2024-04-10 00:00:00","country":"US","age":45,"gender":"M","acquisition_source":"referral","segment":"premium","is_active":1}"#,
    r#"{"customer_id":"c05","registration_date":"2024-02-14T00:00:00Z","country":"FR","age":18,"gender":"F","acquisition_source":"organic","segment":"basic","is_active":"true"}"#,
    r#"{"customer_id":"c06","registration_date":"2024-03-03","country":"US","age":67,"gender":"M","acquisition_source":"ads","segment":"premium","is_active":0}"#,
    r#"{"customer_id":"c07","registration_date":"2024-05-01 00:00:00","country":"DE","age":55,"gender":"F","acquisition_source":"referral","segment":"basic","is_active":1}"#,
    r#"{"customer_id":"c08","registration_date":"2024-05-20 00:00:00","country":"FR","age":35,"acquisition_source":"organic","segment":"premium","is_active":1}"#,
    r#"{"customer_id":"c09","registration_date":"2024-06-15 00:00:00","country":"US","age":25,"gender":"F","acquisition_source":"ads","segment":"basic","is_active":1}"#,
    r#"{"customer_id":"c10","registration_date":"2024-07-10 00:00:00","country":"US","age":40,"gender":"M","acquisition_source":"ads","segment":"basic","is_active":1}"#,
    r#"{"customer_id":"c11","registration_date":"2023-11-05 00:00:00","country":"US","age":60,"gender":"M","acquisition_source":"referral","segment":"premium","is_active":1}"#,
];

const C02_UPSERT: &str = r#"{"customer_id":"c02","registration_date":"2024-01-20 00:00:00","country":"DE","city":"Berlin","age":17,"gender":"M","acquisition_source":"organic","segment":"basic","is_active":1}"#;

const TRANSACTIONS: &[&str] = &[
    r#"{"transaction_id":"t01","customer_id":"c01","transaction_date":"2024-01-15 10:00:00","amount":100,"product_category":"electronics","transaction_type":"purchase","is_refund":0}"#,
    r#"{"transaction_id":"t02","customer_id":"c01","transaction_date":"2024-02-01 12:00:00","amount":60,"product_category":"electronics","transaction_type":"purchase","is_refund":1}"#,
    r#"{"transaction_id":"t03","customer_id":"c01","transaction_date":"2024-03-01 10:00:00","amount":50,"product_category":"books","transaction_type":"subscription","is_refund":0}"#,
    r#"{"transaction_id":"t04","customer_id":"c02","transaction_date":"2024-02-10 09:00:00","amount":40,"product_category":"books","transaction_type":"upgrade","is_refund":0}"#,
    r#"{"transaction_id":"t05","customer_id":"c02","transaction_date":"2024-02-15 09:00:00","amount":10,"product_category":"books","transaction_type":"refund","is_refund":0}"#,
    r#"{"transaction_id":"t06","customer_id":"c02","transaction_date":"2024-05-10 09:00:00","amount":40,"product_category":"books","transaction_type":"purchase","is_refund":0}"#,
    r#"{"transaction_id":"t07","customer_id":"c04","transaction_date":"2024-03-20 12:00:00","amount":30,"product_category":"toys","transaction_type":"purchase","is_refund":0}"#,
    r#"{"transaction_id":"t08","customer_id":"c04","transaction_date":"2024-04-15 12:00:00","amount":70,"product_category":"home","transaction_type":"purchase","is_refund":0}"#,
    r#"{"transaction_id":"t09","customer_id":"c04","transaction_date":"2024-07-05 12:00:00","amount":500,"product_category":"electronics","transaction_type":"purchase","is_refund":0}"#,
    r#"{"transaction_id":"t10","customer_id":"c05","transaction_date":"2024-03-01 15:00:00","amount":90,"product_category":"toys","transaction_type":"purchase","is_refund":0}"#,
    r#"{"transaction_id":"t11","customer_id":"c06","transaction_date":"2024-03-05 08:00:00","amount":20,"product_category":"clothing","transaction_type":"purchase","is_refund":0}"#,
    r#"{"transaction_id":"t12","customer_id":"c06","transaction_date":"2024-04-05 08:00:00","amount":20,"product_category":"books","transaction_type":"purchase","is_refund":0}"#,
    r#"{"transaction_id":"t13","customer_id":"c06","transaction_date":"2024-06-30 23:59:59","amount":20,"transaction_type":"purchase","is_refund":0}"#,
    r#"{"transaction_id":"t14","customer_id":"c07","transaction_date":"2024-05-02 10:00:00","amount":200,"product_category":"electronics","transaction_type":"purchase","is_refund":0}"#,
    r#"{"transaction_id":"t15","customer_id":"c07","transaction_date":"2024-05-03 10:00:00","amount":200,"product_category":"electronics","transaction_type":"refund","is_refund":1}"#,
    r#"{"transaction_id":"t16","customer_id":"c09","transaction_date":"2024-06-20T12:00:00+02:00","amount":25,"product_category":"","transaction_type":"purchase","is_refund":0}"#,
    r#"{"transaction_id":"t17","customer_id":"c09","transaction_date":"2024-07-01 00:00:00","amount":999,"product_category":"electronics","transaction_type":"purchase","is_refund":0}"#,
    r#"{"transaction_id":"t18","customer_id":"c10","transaction_date":"2024-07-12 10:00:00","amount":75,"product_category":"books","transaction_type":"purchase","is_refund":0}"#,
    r#"{"transaction_id":"t19","customer_id":"c11","transaction_date":"2023-11-20 10:00:00","amount":80,"product_category":"home","transaction_type":"subscription","is_refund":0}"#,
    r#"{"transaction_id":"t20","customer_id":"c11","transaction_date":"2024-01-05 10:00:00","amount":80,"product_category":"home","transaction_type":"subscription","is_refund":0}"#,
    r#"{"transaction_id":"t21","customer_id":"c11","transaction_date":"2024-04-01 10:00:00","amount":80,"product_category":"home","transaction_type":"subscription","is_refund":0}"#,
    r#"{"transaction_id":"t22","customer_id":"x01","transaction_date":"2024-05-05 10:00:00","amount":60,"product_category":"toys"}"#,
];

const INTERACTIONS: &[&str] = &[
    r#"{"interaction_id":"i01","customer_id":"c01","interaction_date":"2024-01-12 10:00:00","interaction_type":"login","channel":"web","satisfaction_score":5}"#,
    r#"{"interaction_id":"i02","customer_id":"c01","interaction_date":"2024-02-02 10:00:00","interaction_type":"support_ticket","channel":"email","satisfaction_score":2}"#,
    r#"{"interaction_id":"i03","customer_id":"c01","interaction_date":"2024-03-02 10:00:00","interaction_type":"chat","channel":"web"}"#,
    r#"{"interaction_id":"i04","customer_id":"c02","interaction_date":"2024-02-16 10:00:00","interaction_type":"Support call","channel":"phone","satisfaction_score":4}"#,
    r#"{"interaction_id":"i05","customer_id":"c02","interaction_date":"2024-02-20 10:00:00","interaction_type":"login","channel":"mobile_app","satisfaction_score":null}"#,
    r#"{"interaction_id":"i06","customer_id":"c03","interaction_date":"2024-03-01 10:00:00","interaction_type":"login","channel":"email","satisfaction_score":3}"#,
    r#"{"interaction_id":"i07","customer_id":"c04","interaction_date":"2024-04-20 10:00:00","interaction_type":"chat","channel":"web"}"#,
    r#"{"interaction_id":"i08","customer_id":"c06","interaction_date":"2024-04-01 10:00:00","interaction_type":"login","satisfaction_score":5}"#,
    r#"{"interaction_id":"i09","customer_id":"c06","interaction_date":"2024-04-02 10:00:00","interaction_type":"login","channel":"","satisfaction_score":4}"#,
    r#"{"interaction_id":"i10","customer_id":"c07","interaction_date":"2024-05-05 10:00:00","interaction_type":"support","channel":"email","satisfaction_score":1}"#,
    r#"{"interaction_id":"i11","customer_id":"c07","interaction_date":"2024-07-02 10:00:00","interaction_type":"support","channel":"email","satisfaction_score":5}"#,
    r#"{"interaction_id":"i12","customer_id":"c11","interaction_date":"2023-12-01 10:00:00","interaction_type":"login","channel":"web","satisfaction_score":4}"#,
    r#"{"interaction_id":"i13","customer_id":"x01","interaction_date":"2024-05-06 10:00:00","interaction_type":"support","channel":"phone","satisfaction_score":2}"#,
];

/// The app on a fresh database with the fixture loaded (every row accepted).
async fn golden() -> TestApp {
    let app = TestApp::spawn().await;
    for (ds, rows) in [
        ("customers", CUSTOMERS.join("\n")),
        ("customers", C02_UPSERT.to_string()),
        ("transactions", TRANSACTIONS.join("\n")),
        ("customer_interactions", INTERACTIONS.join("\n")),
    ] {
        let n = rows.lines().count();
        let (status, body) = app.post_events(ds, rows).await;
        assert!(status.is_success(), "{ds}: {status} {body}");
        assert_eq!(body["successful_rows"], n, "{ds}: {body}");
        assert_eq!(body["quarantined_rows"], 0, "{ds}: {body}");
    }
    app
}

/// GET a pipe as JSON; any status but 200 fails the test.
async fn pipe(app: &TestApp, name: &str, params: &str) -> Vec<Value> {
    let (status, body) = app.get(&format!("/v0/pipes/{name}.json?{params}")).await;
    assert_eq!(status, StatusCode::OK, "{name}?{params}: {body}");
    body["data"].as_array().expect("data is an array").clone()
}

/// Numbers equal within 1e-9 (they are rounded by the pipe, so the exact
/// decimals are expected); everything else equal as JSON.
fn same(got: &Value, exp: &Value) -> bool {
    match (got, exp) {
        (Value::Number(a), Value::Number(b)) => {
            (a.as_f64().unwrap() - b.as_f64().unwrap()).abs() <= 1e-9
        }
        _ => got == exp,
    }
}

/// The rows, in order, must be exactly `expected` on every column `expected`
/// names (a column absent from the answer is a mismatch). All mismatches are
/// reported at once.
#[track_caller]
fn expect_rows(what: &str, got: &[Value], expected: Value) {
    let expected = expected.as_array().expect("expected rows").clone();
    let mut problems = Vec::new();
    if got.len() != expected.len() {
        problems.push(format!("{} rows, expected {}", got.len(), expected.len()));
    }
    for (i, (g, e)) in got.iter().zip(expected.iter()).enumerate() {
        for (k, ev) in e.as_object().unwrap() {
            match g.get(k) {
                None => problems.push(format!("row {i}: no column '{k}'")),
                Some(gv) if !same(gv, ev) => {
                    problems.push(format!("row {i} ({}): {k} = {gv}, expected {ev}", label(g)))
                }
                _ => {}
            }
        }
    }
    if !problems.is_empty() {
        panic!(
            "{what}:\n  {}\nanswer:\n{}",
            problems.join("\n  "),
            got.iter()
                .map(|r| format!("  {r}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// What identifies a row in a failure message.
fn label(row: &Value) -> String {
    [
        "customer_id",
        "cohort",
        "period_number",
        "rfm_segment",
        "factor",
        "value",
    ]
    .iter()
    .filter_map(|k| row.get(*k).map(|v| format!("{k}={v}")))
    .collect::<Vec<_>>()
    .join(" ")
}

/// Just the ids (or any text column), in order.
fn column(rows: &[Value], name: &str) -> Vec<String> {
    rows.iter()
        .map(|r| match &r[name] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

// ─────────────────────────────── customer_ltv ───────────────────────────────

#[tokio::test]
async fn customer_ltv_reports_every_customer_with_hand_computed_totals() {
    let app = golden().await;
    let rows = pipe(&app, "customer_ltv", AS_OF).await;
    // Population: the ten known customers registered by 2024-06-30 (c10 registers
    // on 07-10) plus the transaction-only x01. Order: ltv desc, then customer_id
    // (c01/c05 tie at 90, c06/x01 at 60, c03/c07/c08 at 0).
    // c01: purchases 100 + 50 (a 'subscription' is a purchase) = 150 gross,
    //      refund 60 (is_refund=1) → ltv 90; aov 150/2 = 75;
    //      lifespan 2024-01-15 → 03-01 = 16 + 29 + 1 = 46 days (2024 is a leap year);
    //      tenure 2024-01-10 → 06-30 = 21+29+31+30+31+30 = 172; since last 03-01 → 06-30 = 121.
    // c02: 40 ('upgrade') + 40 = 80 gross; the row with transaction_type 'refund' and
    //      is_refund=0 is a refund of 10 → ltv 70, refund_count 1; lifespan 02-10 → 05-10 = 90.
    // c04: 30 (dated before its registration, still counted) + 70 = 100; the 500 of
    //      07-05 is after as_of; tenure 04-10 → 06-30 = 81.
    // c06: last purchase at 2024-06-30 23:59:59 is inside as_of → 3 orders, since-last 0,
    //      lifespan 03-05 → 06-30 = 117.
    // c07: 200 bought, 200 refunded → ltv 0 but gross 200, aov 200.
    // c09: 2024-06-20T12:00:00+02:00 is 10:00 UTC; the 999 at 2024-07-01 00:00:00 is
    //      after the end of as_of.
    // c11: tenure 2023-11-05 → 2024-06-30 = 25+31+31+29+31+30+31+30 = 238;
    //      lifespan 2023-11-20 → 2024-04-01 = 10+31+31+29+31+1 = 133.
    // x01: no customers row → null attributes and tenure; a missing transaction_type is a purchase.
    // c03, c08: never bought → ltv 0, avg_order_value and purchase dates null.
    expect_rows(
        "customer_ltv default",
        &rows,
        json!([
            {"customer_id": "c11", "registration_date": "2023-11-05 00:00:00", "country": "US", "city": null, "age": 60, "gender": "M", "acquisition_source": "referral", "segment": "premium", "is_active": 1, "total_orders": 3, "refund_count": 0, "gross_revenue": 240.0, "refunded_amount": 0.0, "ltv": 240.0, "historical_clv": 240.0, "avg_order_value": 80.0, "first_purchase_date": "2023-11-20 10:00:00", "last_purchase_date": "2024-04-01 10:00:00", "lifespan_days": 133, "tenure_days": 238, "days_since_last_purchase": 90},
            {"customer_id": "c04", "registration_date": "2024-04-10 00:00:00", "country": "US", "city": null, "age": 45, "gender": "M", "acquisition_source": "referral", "segment": "premium", "is_active": 1, "total_orders": 2, "refund_count": 0, "gross_revenue": 100.0, "refunded_amount": 0.0, "ltv": 100.0, "historical_clv": 100.0, "avg_order_value": 50.0, "first_purchase_date": "2024-03-20 12:00:00", "last_purchase_date": "2024-04-15 12:00:00", "lifespan_days": 26, "tenure_days": 81, "days_since_last_purchase": 76},
            {"customer_id": "c01", "registration_date": "2024-01-10 08:00:00", "country": "US", "city": "New York", "age": 30, "gender": "F", "acquisition_source": "ads", "segment": "premium", "is_active": 1, "total_orders": 2, "refund_count": 1, "gross_revenue": 150.0, "refunded_amount": 60.0, "ltv": 90.0, "historical_clv": 90.0, "avg_order_value": 75.0, "first_purchase_date": "2024-01-15 10:00:00", "last_purchase_date": "2024-03-01 10:00:00", "lifespan_days": 46, "tenure_days": 172, "days_since_last_purchase": 121},
            {"customer_id": "c05", "registration_date": "2024-02-14 00:00:00", "country": "FR", "city": null, "age": 18, "gender": "F", "acquisition_source": "organic", "segment": "basic", "is_active": 1, "total_orders": 1, "refund_count": 0, "gross_revenue": 90.0, "refunded_amount": 0.0, "ltv": 90.0, "historical_clv": 90.0, "avg_order_value": 90.0, "first_purchase_date": "2024-03-01 15:00:00", "last_purchase_date": "2024-03-01 15:00:00", "lifespan_days": 0, "tenure_days": 137, "days_since_last_purchase": 121},
            {"customer_id": "c02", "registration_date": "2024-01-20 00:00:00", "country": "DE", "city": "Berlin", "age": 17, "gender": "M", "acquisition_source": "organic", "segment": "basic", "is_active": 1, "total_orders": 2, "refund_count": 1, "gross_revenue": 80.0, "refunded_amount": 10.0, "ltv": 70.0, "historical_clv": 70.0, "avg_order_value": 40.0, "first_purchase_date": "2024-02-10 09:00:00", "last_purchase_date": "2024-05-10 09:00:00", "lifespan_days": 90, "tenure_days": 162, "days_since_last_purchase": 51},
            {"customer_id": "c06", "registration_date": "2024-03-03 00:00:00", "country": "US", "city": null, "age": 67, "gender": "M", "acquisition_source": "ads", "segment": "premium", "is_active": 0, "total_orders": 3, "refund_count": 0, "gross_revenue": 60.0, "refunded_amount": 0.0, "ltv": 60.0, "historical_clv": 60.0, "avg_order_value": 20.0, "first_purchase_date": "2024-03-05 08:00:00", "last_purchase_date": "2024-06-30 23:59:59", "lifespan_days": 117, "tenure_days": 119, "days_since_last_purchase": 0},
            {"customer_id": "x01", "registration_date": null, "country": null, "city": null, "age": null, "gender": null, "acquisition_source": null, "segment": null, "is_active": null, "total_orders": 1, "refund_count": 0, "gross_revenue": 60.0, "refunded_amount": 0.0, "ltv": 60.0, "historical_clv": 60.0, "avg_order_value": 60.0, "first_purchase_date": "2024-05-05 10:00:00", "last_purchase_date": "2024-05-05 10:00:00", "lifespan_days": 0, "tenure_days": null, "days_since_last_purchase": 56},
            {"customer_id": "c09", "registration_date": "2024-06-15 00:00:00", "country": "US", "city": null, "age": 25, "gender": "F", "acquisition_source": "ads", "segment": "basic", "is_active": 1, "total_orders": 1, "refund_count": 0, "gross_revenue": 25.0, "refunded_amount": 0.0, "ltv": 25.0, "historical_clv": 25.0, "avg_order_value": 25.0, "first_purchase_date": "2024-06-20 10:00:00", "last_purchase_date": "2024-06-20 10:00:00", "lifespan_days": 0, "tenure_days": 15, "days_since_last_purchase": 10},
            {"customer_id": "c03", "registration_date": "2024-02-05 00:00:00", "country": "DE", "city": null, "age": null, "gender": "F", "acquisition_source": "ads", "segment": "basic", "is_active": 0, "total_orders": 0, "refund_count": 0, "gross_revenue": 0.0, "refunded_amount": 0.0, "ltv": 0.0, "historical_clv": 0.0, "avg_order_value": null, "first_purchase_date": null, "last_purchase_date": null, "lifespan_days": null, "tenure_days": 146, "days_since_last_purchase": null},
            {"customer_id": "c07", "registration_date": "2024-05-01 00:00:00", "country": "DE", "city": null, "age": 55, "gender": "F", "acquisition_source": "referral", "segment": "basic", "is_active": 1, "total_orders": 1, "refund_count": 1, "gross_revenue": 200.0, "refunded_amount": 200.0, "ltv": 0.0, "historical_clv": 0.0, "avg_order_value": 200.0, "first_purchase_date": "2024-05-02 10:00:00", "last_purchase_date": "2024-05-02 10:00:00", "lifespan_days": 0, "tenure_days": 60, "days_since_last_purchase": 59},
            {"customer_id": "c08", "registration_date": "2024-05-20 00:00:00", "country": "FR", "city": null, "age": 35, "gender": null, "acquisition_source": "organic", "segment": "premium", "is_active": 1, "total_orders": 0, "refund_count": 0, "gross_revenue": 0.0, "refunded_amount": 0.0, "ltv": 0.0, "historical_clv": 0.0, "avg_order_value": null, "first_purchase_date": null, "last_purchase_date": null, "lifespan_days": null, "tenure_days": 41, "days_since_last_purchase": null},
        ]),
    );
}

#[tokio::test]
async fn refunds_reduce_ltv_but_not_gross_revenue() {
    let app = golden().await;
    for (id, exp) in [
        // is_refund = 1 with transaction_type 'purchase'
        (
            "c01",
            json!({"total_orders": 2, "refund_count": 1, "gross_revenue": 150.0, "refunded_amount": 60.0, "ltv": 90.0, "avg_order_value": 75.0}),
        ),
        // transaction_type 'refund' with is_refund = 0 is a refund too
        (
            "c02",
            json!({"total_orders": 2, "refund_count": 1, "gross_revenue": 80.0, "refunded_amount": 10.0, "ltv": 70.0, "avg_order_value": 40.0}),
        ),
        // both flags on one row: one refund, not two
        (
            "c07",
            json!({"total_orders": 1, "refund_count": 1, "gross_revenue": 200.0, "refunded_amount": 200.0, "ltv": 0.0, "avg_order_value": 200.0}),
        ),
        // no purchase: avg_order_value is null, not 0
        (
            "c03",
            json!({"total_orders": 0, "refund_count": 0, "gross_revenue": 0.0, "refunded_amount": 0.0, "ltv": 0.0, "avg_order_value": null}),
        ),
    ] {
        let rows = pipe(&app, "customer_ltv", &format!("{AS_OF}&customer_id={id}")).await;
        expect_rows(
            &format!("customer_ltv customer_id={id}"),
            &rows,
            json!([exp]),
        );
    }
}

#[tokio::test]
async fn margin_scales_historical_clv_only() {
    let app = golden().await;
    // historical_clv = ltv × 0.35: 240→84, 100→35, 90→31.5, 70→24.5, 60→21, 25→8.75, 0→0.
    // Ordered by historical_clv desc, ties by customer_id; ltv and gross unchanged.
    let rows = pipe(
        &app,
        "customer_ltv",
        &format!("{AS_OF}&margin=0.35&order_by=historical_clv"),
    )
    .await;
    expect_rows(
        "customer_ltv margin=0.35",
        &rows,
        json!([
            {"customer_id": "c11", "ltv": 240.0, "gross_revenue": 240.0, "historical_clv": 84.0},
            {"customer_id": "c04", "ltv": 100.0, "gross_revenue": 100.0, "historical_clv": 35.0},
            {"customer_id": "c01", "ltv": 90.0, "gross_revenue": 150.0, "historical_clv": 31.5},
            {"customer_id": "c05", "ltv": 90.0, "gross_revenue": 90.0, "historical_clv": 31.5},
            {"customer_id": "c02", "ltv": 70.0, "gross_revenue": 80.0, "historical_clv": 24.5},
            {"customer_id": "c06", "ltv": 60.0, "gross_revenue": 60.0, "historical_clv": 21.0},
            {"customer_id": "x01", "ltv": 60.0, "gross_revenue": 60.0, "historical_clv": 21.0},
            {"customer_id": "c09", "ltv": 25.0, "gross_revenue": 25.0, "historical_clv": 8.75},
            {"customer_id": "c03", "ltv": 0.0, "gross_revenue": 0.0, "historical_clv": 0.0},
            {"customer_id": "c07", "ltv": 0.0, "gross_revenue": 200.0, "historical_clv": 0.0},
            {"customer_id": "c08", "ltv": 0.0, "gross_revenue": 0.0, "historical_clv": 0.0},
        ]),
    );
}

#[tokio::test]
async fn historical_clv_ties_that_ltv_does_not_have_are_ordered_by_customer_id() {
    let app = golden().await;
    // margin 0.0001: 240→0.024→0.02; 100, 90, 70, 60 → 0.01 (0.010, 0.009, 0.007,
    // 0.006); 25→0.0025→0.00; 0→0. The ties cross ltv's order: desc is c11, then
    // c01 c02 c04 c05 c06 x01 (0.01, by id), then c03 c07 c08 c09 (0.00, by id).
    let page = |params: &'static str| {
        let app = &app;
        async move {
            let rows = pipe(
                app,
                "customer_ltv",
                &format!("{AS_OF}&margin=0.0001&order_by=historical_clv&{params}"),
            )
            .await;
            column(&rows, "customer_id")
        }
    };
    // By ltv the first three are c11, c04, c01: c02 (ltv 70) ties c01 and comes first.
    assert_eq!(page("limit=3").await, ["c11", "c01", "c02"]);
    assert_eq!(page("limit=2&offset=2").await, ["c02", "c04"]);
    // Ascending: the four 0.00s, then the first of the 0.01s by id (c01, ltv 90),
    // not c06 (ltv 60), which is fifth by ltv.
    assert_eq!(
        page("order_dir=asc&limit=5").await,
        ["c03", "c07", "c08", "c09", "c01"]
    );
}

#[tokio::test]
async fn attribute_filters_exclude_transaction_only_customers() {
    let app = golden().await;
    // country=US: c01, c04, c06, c09, c11 (c02 moved to DE; x01 has no country).
    let rows = pipe(&app, "customer_ltv", &format!("{AS_OF}&country=US")).await;
    expect_rows(
        "customer_ltv country=US",
        &rows,
        json!([
            {"customer_id": "c11", "ltv": 240.0},
            {"customer_id": "c04", "ltv": 100.0},
            {"customer_id": "c01", "ltv": 90.0},
            {"customer_id": "c06", "ltv": 60.0},
            {"customer_id": "c09", "ltv": 25.0},
        ]),
    );
    // segment=premium & is_active=1: c01, c04, c08, c11 (c06 is inactive).
    let rows = pipe(
        &app,
        "customer_ltv",
        &format!("{AS_OF}&segment=premium&is_active=1"),
    )
    .await;
    assert_eq!(column(&rows, "customer_id"), ["c11", "c04", "c01", "c08"]);
    // is_active=0: c06 (60), c03 (0).
    let rows = pipe(&app, "customer_ltv", &format!("{AS_OF}&is_active=0")).await;
    assert_eq!(column(&rows, "customer_id"), ["c06", "c03"]);
    // acquisition_source=ads: c01 90, c06 60, c09 25, c03 0.
    let rows = pipe(
        &app,
        "customer_ltv",
        &format!("{AS_OF}&acquisition_source=ads"),
    )
    .await;
    assert_eq!(column(&rows, "customer_id"), ["c01", "c06", "c09", "c03"]);
    // start_date/end_date bound registration_date inclusively: 2024-02-01 … 2024-03-03 00:00:00
    // takes c03 (02-05), c05 (02-14) and c06 (exactly 03-03 00:00:00); not c01/c02 (January).
    let rows = pipe(
        &app,
        "customer_ltv",
        &format!("{AS_OF}&start_date=2024-02-01%2000:00:00&end_date=2024-03-03%2000:00:00"),
    )
    .await;
    assert_eq!(column(&rows, "customer_id"), ["c05", "c06", "c03"]);
    // Without a filter the transaction-only customer is there.
    let rows = pipe(&app, "customer_ltv", &format!("{AS_OF}&customer_id=x01")).await;
    expect_rows(
        "customer_ltv x01",
        &rows,
        json!([{"customer_id": "x01", "registration_date": null, "country": null, "segment": null, "is_active": null, "ltv": 60.0, "tenure_days": null}]),
    );
}

#[tokio::test]
async fn the_last_customers_row_received_wins() {
    let app = golden().await;
    let rows = pipe(&app, "customer_ltv", &format!("{AS_OF}&customer_id=c02")).await;
    expect_rows(
        "c02 after the upsert",
        &rows,
        json!([{"customer_id": "c02", "country": "DE", "city": "Berlin", "ltv": 70.0}]),
    );
    let rows = pipe(&app, "customer_ltv", &format!("{AS_OF}&country=DE")).await;
    // DE: c02 (70), then c03 and c07 tie at 0 → customer_id.
    assert_eq!(column(&rows, "customer_id"), ["c02", "c03", "c07"]);
    let rows = pipe(&app, "customer_ltv", &format!("{AS_OF}&country=US")).await;
    assert!(!column(&rows, "customer_id").contains(&"c02".to_string()));
    // The upsert moves c02's revenue between the country overviews too.
    let de = pipe(&app, "ltv_overview", &format!("{AS_OF}&country=DE")).await;
    // DE = c02 70, c03 0, c07 0 (bought 200, refunded 200):
    // total 70, avg 70/3 = 23.333…, median 0, orders 3/3 = 1, aov (80+200)/3 = 93.333…,
    // refund_rate (10+200)/280 = 0.75, top ceil(0.3) = 1 customer: 70/70 = 1.
    expect_rows(
        "ltv_overview country=DE",
        &de,
        json!([
            {"customers": 3, "paying_customers": 2, "active_customers": 2, "total_revenue": 70.0, "avg_ltv": 23.33, "median_ltv": 0.0, "avg_orders": 1.0, "avg_order_value": 93.33, "refund_rate": 0.75, "top_10pct_revenue_share": 1.0},
        ]),
    );
}

#[tokio::test]
async fn min_ltv_and_order_by_put_nulls_last_then_customer_id() {
    let app = golden().await;
    // min_ltv keeps ltv >= 90: c11 240, c04 100, c01 90, c05 90 (tie → id).
    let rows = pipe(&app, "customer_ltv", &format!("{AS_OF}&min_ltv=90")).await;
    assert_eq!(column(&rows, "customer_id"), ["c11", "c04", "c01", "c05"]);
    // avg_order_value asc: 20 c06, 25 c09, 40 c02, 50 c04, 60 x01, 75 c01, 80 c11,
    // 90 c05, 200 c07, then the nulls (c03, c08) by id.
    let rows = pipe(
        &app,
        "customer_ltv",
        &format!("{AS_OF}&order_by=avg_order_value&order_dir=asc"),
    )
    .await;
    assert_eq!(
        column(&rows, "customer_id"),
        ["c06", "c09", "c02", "c04", "x01", "c01", "c11", "c05", "c07", "c03", "c08"]
    );
    // tenure_days desc: 238 c11, 172 c01, 162 c02, 146 c03, 137 c05, 119 c06, 81 c04,
    // 60 c07, 41 c08, 15 c09, null x01 last.
    let rows = pipe(
        &app,
        "customer_ltv",
        &format!("{AS_OF}&order_by=tenure_days"),
    )
    .await;
    assert_eq!(
        column(&rows, "customer_id"),
        ["c11", "c01", "c02", "c03", "c05", "c06", "c04", "c07", "c08", "c09", "x01"]
    );
    // days_since_last_purchase asc: 0 c06, 10 c09, 51 c02, 56 x01, 59 c07, 76 c04, 90 c11,
    // 121 c01 and c05 (tie → id), nulls c03, c08.
    let rows = pipe(
        &app,
        "customer_ltv",
        &format!("{AS_OF}&order_by=days_since_last_purchase&order_dir=asc"),
    )
    .await;
    assert_eq!(
        column(&rows, "customer_id"),
        ["c06", "c09", "c02", "x01", "c07", "c04", "c11", "c01", "c05", "c03", "c08"]
    );
    // total_orders desc: 3 (c06, c11), 2 (c01, c02, c04), 1 (c05, c07, c09, x01), 0 (c03, c08).
    let rows = pipe(
        &app,
        "customer_ltv",
        &format!("{AS_OF}&order_by=total_orders"),
    )
    .await;
    assert_eq!(
        column(&rows, "customer_id"),
        ["c06", "c11", "c01", "c02", "c04", "c05", "c07", "c09", "x01", "c03", "c08"]
    );
    // first_purchase_date asc: c11 2023-11-20, c01 01-15, c02 02-10, c05 03-01, c06 03-05,
    // c04 03-20, c07 05-02, x01 05-05, c09 06-20, nulls c03, c08.
    let rows = pipe(
        &app,
        "customer_ltv",
        &format!("{AS_OF}&order_by=first_purchase_date&order_dir=asc"),
    )
    .await;
    assert_eq!(
        column(&rows, "customer_id"),
        ["c11", "c01", "c02", "c05", "c06", "c04", "c07", "x01", "c09", "c03", "c08"]
    );
    // refunded_amount desc: 200 c07, 60 c01, 10 c02, then the zeros by id.
    let rows = pipe(
        &app,
        "customer_ltv",
        &format!("{AS_OF}&order_by=refunded_amount&limit=4"),
    )
    .await;
    assert_eq!(column(&rows, "customer_id"), ["c07", "c01", "c02", "c03"]);
}

#[tokio::test]
async fn limit_and_offset_page_through_the_default_order() {
    let app = golden().await;
    // Default order: c11, c04, c01, c05, c02, c06, x01, c09, c03, c07, c08.
    let rows = pipe(&app, "customer_ltv", &format!("{AS_OF}&limit=3&offset=2")).await;
    assert_eq!(column(&rows, "customer_id"), ["c01", "c05", "c02"]);
    let rows = pipe(&app, "customer_ltv", &format!("{AS_OF}&limit=5&offset=9")).await;
    assert_eq!(column(&rows, "customer_id"), ["c07", "c08"]);
}

#[tokio::test]
async fn events_after_as_of_are_ignored() {
    let app = golden().await;
    // At 2024-06-30: c04's 500 (07-05), c09's 999 (07-01 00:00:00) and c10 (registered
    // 07-10, bought 07-12) do not exist yet.
    let rows = pipe(&app, "customer_ltv", &format!("{AS_OF}&customer_id=c04")).await;
    expect_rows(
        "c04 at 06-30",
        &rows,
        json!([{"customer_id": "c04", "total_orders": 2, "ltv": 100.0, "last_purchase_date": "2024-04-15 12:00:00"}]),
    );
    let rows = pipe(&app, "customer_ltv", &format!("{AS_OF}&customer_id=c09")).await;
    expect_rows(
        "c09 at 06-30",
        &rows,
        json!([{"customer_id": "c09", "total_orders": 1, "ltv": 25.0, "last_purchase_date": "2024-06-20 10:00:00"}]),
    );
    let rows = pipe(&app, "customer_ltv", &format!("{AS_OF}&customer_id=c10")).await;
    assert!(rows.is_empty(), "c10 registered after as_of: {rows:?}");
    // One month later they all count (proof that the fixture holds them).
    let later = "as_of=2024-07-31";
    let rows = pipe(&app, "customer_ltv", &format!("{later}&customer_id=c04")).await;
    // 30 + 70 + 500 = 600; lifespan 03-20 → 07-05 = 11+30+31+30+5 = 107.
    expect_rows(
        "c04 at 07-31",
        &rows,
        json!([{"customer_id": "c04", "total_orders": 3, "ltv": 600.0, "lifespan_days": 107}]),
    );
    let rows = pipe(&app, "customer_ltv", &format!("{later}&customer_id=c09")).await;
    // 25 + 999 = 1024; aov 512.
    expect_rows(
        "c09 at 07-31",
        &rows,
        json!([{"customer_id": "c09", "total_orders": 2, "ltv": 1024.0, "avg_order_value": 512.0}]),
    );
    let rows = pipe(&app, "customer_ltv", &format!("{later}&customer_id=c10")).await;
    // tenure 07-10 → 07-31 = 21; since last 07-12 → 07-31 = 19.
    expect_rows(
        "c10 at 07-31",
        &rows,
        json!([{"customer_id": "c10", "country": "US", "ltv": 75.0, "tenure_days": 21, "days_since_last_purchase": 19}]),
    );
}

#[tokio::test]
async fn an_earlier_as_of_treats_a_later_registration_as_transaction_only() {
    let app = golden().await;
    // At 2024-03-31: c11 has 2 purchases (160), c02 one purchase and its refund (40 − 10),
    // c06 one (20). c04 registers on 04-10, after as_of, but bought on 03-20: it is a
    // transaction-only customer (null attributes, null tenure).
    // tenure: c01 01-10 → 03-31 = 81, c11 2023-11-05 → 2024-03-31 = 147, c03 55, c05 46, c06 28, c02 71.
    let rows = pipe(&app, "customer_ltv", EARLIER).await;
    expect_rows(
        "customer_ltv as_of=2024-03-31",
        &rows,
        json!([
            {"customer_id": "c11", "country": "US", "segment": "premium", "total_orders": 2, "refund_count": 0, "gross_revenue": 160.0, "refunded_amount": 0.0, "ltv": 160.0, "avg_order_value": 80.0, "lifespan_days": 46, "tenure_days": 147, "days_since_last_purchase": 86},
            {"customer_id": "c01", "country": "US", "segment": "premium", "total_orders": 2, "refund_count": 1, "gross_revenue": 150.0, "refunded_amount": 60.0, "ltv": 90.0, "avg_order_value": 75.0, "lifespan_days": 46, "tenure_days": 81, "days_since_last_purchase": 30},
            {"customer_id": "c05", "country": "FR", "segment": "basic", "total_orders": 1, "refund_count": 0, "gross_revenue": 90.0, "refunded_amount": 0.0, "ltv": 90.0, "avg_order_value": 90.0, "lifespan_days": 0, "tenure_days": 46, "days_since_last_purchase": 30},
            {"customer_id": "c02", "country": "DE", "segment": "basic", "total_orders": 1, "refund_count": 1, "gross_revenue": 40.0, "refunded_amount": 10.0, "ltv": 30.0, "avg_order_value": 40.0, "lifespan_days": 0, "tenure_days": 71, "days_since_last_purchase": 50},
            {"customer_id": "c04", "country": null, "segment": null, "total_orders": 1, "refund_count": 0, "gross_revenue": 30.0, "refunded_amount": 0.0, "ltv": 30.0, "avg_order_value": 30.0, "lifespan_days": 0, "tenure_days": null, "days_since_last_purchase": 11},
            {"customer_id": "c06", "country": "US", "segment": "premium", "total_orders": 1, "refund_count": 0, "gross_revenue": 20.0, "refunded_amount": 0.0, "ltv": 20.0, "avg_order_value": 20.0, "lifespan_days": 0, "tenure_days": 28, "days_since_last_purchase": 26},
            {"customer_id": "c03", "country": "DE", "segment": "basic", "total_orders": 0, "refund_count": 0, "gross_revenue": 0.0, "refunded_amount": 0.0, "ltv": 0.0, "avg_order_value": null, "lifespan_days": null, "tenure_days": 55, "days_since_last_purchase": null},
        ]),
    );
    // With an attribute filter the not-yet-registered c04 is left out.
    let rows = pipe(&app, "customer_ltv", &format!("{EARLIER}&country=US")).await;
    assert_eq!(column(&rows, "customer_id"), ["c11", "c01", "c06"]);
    // ltv_overview at 03-31: 7 customers (6 known + c04), 6 paying, active: c01, c02, c05, c11 = 4;
    // total 160+90+90+30+30+20 = 420, avg 60, median of 0,20,30,30,90,90,160 = 30,
    // orders 8/7 = 1.142857…, aov 490/8 = 61.25, refund_rate 70/490 = 0.142857…,
    // top ceil(0.7) = 1 customer: 160/420 = 0.380952….
    let rows = pipe(&app, "ltv_overview", EARLIER).await;
    expect_rows(
        "ltv_overview as_of=2024-03-31",
        &rows,
        json!([
            {"customers": 7, "paying_customers": 6, "active_customers": 4, "total_revenue": 420.0, "avg_ltv": 60.0, "median_ltv": 30.0, "avg_orders": 1.1429, "avg_order_value": 61.25, "refund_rate": 0.1429, "top_10pct_revenue_share": 0.381},
        ]),
    );
}

// ─────────────────────────────── ltv_by_cohort ──────────────────────────────

#[tokio::test]
async fn ltv_by_cohort_counts_customers_who_never_bought() {
    let app = golden().await;
    let rows = pipe(&app, "ltv_by_cohort", AS_OF).await;
    // Monthly registration cohorts of the known customers (x01 has no registration):
    // 2023-11 c11; 2024-01 c01, c02; 2024-02 c03 (never bought), c05; 2024-03 c06;
    // 2024-04 c04 (its 30 of March, before the cohort, is in the lifetime total 100);
    // 2024-05 c07 (0 net), c08 (never bought); 2024-06 c09.
    // 2024-01: orders 2 + 2 = 4, gross 150 + 80 = 230, net 90 + 70 = 160 → avg 80, aov 57.5.
    // 2024-02: size 2, paying 1 → avg_ltv 45, avg_ltv_paying 90, orders/customer 0.5.
    // 2024-05: net 0 → avg_ltv 0, avg_ltv_paying 0/1 = 0, aov 200.
    expect_rows(
        "ltv_by_cohort month",
        &rows,
        json!([
            {"cohort": "2023-11-01", "cohort_size": 1, "paying_customers": 1, "total_orders": 3, "gross_revenue": 240.0, "total_revenue": 240.0, "avg_ltv": 240.0, "avg_ltv_paying": 240.0, "avg_orders_per_customer": 3.0, "avg_order_value": 80.0},
            {"cohort": "2024-01-01", "cohort_size": 2, "paying_customers": 2, "total_orders": 4, "gross_revenue": 230.0, "total_revenue": 160.0, "avg_ltv": 80.0, "avg_ltv_paying": 80.0, "avg_orders_per_customer": 2.0, "avg_order_value": 57.5},
            {"cohort": "2024-02-01", "cohort_size": 2, "paying_customers": 1, "total_orders": 1, "gross_revenue": 90.0, "total_revenue": 90.0, "avg_ltv": 45.0, "avg_ltv_paying": 90.0, "avg_orders_per_customer": 0.5, "avg_order_value": 90.0},
            {"cohort": "2024-03-01", "cohort_size": 1, "paying_customers": 1, "total_orders": 3, "gross_revenue": 60.0, "total_revenue": 60.0, "avg_ltv": 60.0, "avg_ltv_paying": 60.0, "avg_orders_per_customer": 3.0, "avg_order_value": 20.0},
            {"cohort": "2024-04-01", "cohort_size": 1, "paying_customers": 1, "total_orders": 2, "gross_revenue": 100.0, "total_revenue": 100.0, "avg_ltv": 100.0, "avg_ltv_paying": 100.0, "avg_orders_per_customer": 2.0, "avg_order_value": 50.0},
            {"cohort": "2024-05-01", "cohort_size": 2, "paying_customers": 1, "total_orders": 1, "gross_revenue": 200.0, "total_revenue": 0.0, "avg_ltv": 0.0, "avg_ltv_paying": 0.0, "avg_orders_per_customer": 0.5, "avg_order_value": 200.0},
            {"cohort": "2024-06-01", "cohort_size": 1, "paying_customers": 1, "total_orders": 1, "gross_revenue": 25.0, "total_revenue": 25.0, "avg_ltv": 25.0, "avg_ltv_paying": 25.0, "avg_orders_per_customer": 1.0, "avg_order_value": 25.0},
        ]),
    );
}

#[tokio::test]
async fn ltv_by_cohort_by_quarter_and_by_year() {
    let app = golden().await;
    let rows = pipe(
        &app,
        "ltv_by_cohort",
        &format!("{AS_OF}&cohort_period=quarter"),
    )
    .await;
    // Q4-2023 c11; Q1-2024 c01 c02 c03 c05 c06: net 90+70+0+90+60 = 310, gross 150+80+90+60 = 380,
    //   orders 2+2+1+3 = 8 → avg_ltv 62, paying 4 → 77.5, 8/5 = 1.6, aov 380/8 = 47.5;
    // Q2-2024 c04 c07 c08 c09: net 100+0+0+25 = 125, gross 100+200+25 = 325, orders 2+1+1 = 4
    //   → avg_ltv 31.25, avg_ltv_paying 125/3 = 41.666… → 41.67, aov 325/4 = 81.25.
    expect_rows(
        "ltv_by_cohort quarter",
        &rows,
        json!([
            {"cohort": "2023-10-01", "cohort_size": 1, "paying_customers": 1, "total_orders": 3, "gross_revenue": 240.0, "total_revenue": 240.0, "avg_ltv": 240.0, "avg_ltv_paying": 240.0, "avg_orders_per_customer": 3.0, "avg_order_value": 80.0},
            {"cohort": "2024-01-01", "cohort_size": 5, "paying_customers": 4, "total_orders": 8, "gross_revenue": 380.0, "total_revenue": 310.0, "avg_ltv": 62.0, "avg_ltv_paying": 77.5, "avg_orders_per_customer": 1.6, "avg_order_value": 47.5},
            {"cohort": "2024-04-01", "cohort_size": 4, "paying_customers": 3, "total_orders": 4, "gross_revenue": 325.0, "total_revenue": 125.0, "avg_ltv": 31.25, "avg_ltv_paying": 41.67, "avg_orders_per_customer": 1.0, "avg_order_value": 81.25},
        ]),
    );
    let rows = pipe(
        &app,
        "ltv_by_cohort",
        &format!("{AS_OF}&cohort_period=year"),
    )
    .await;
    // 2024: the nine known 2024 registrations: net 435 → 435/9 = 48.333…, paying 7 → 62.142…,
    // orders 12/9 = 1.3333, aov 705/12 = 58.75.
    expect_rows(
        "ltv_by_cohort year",
        &rows,
        json!([
            {"cohort": "2023-01-01", "cohort_size": 1, "paying_customers": 1, "total_orders": 3, "gross_revenue": 240.0, "total_revenue": 240.0, "avg_ltv": 240.0, "avg_ltv_paying": 240.0, "avg_orders_per_customer": 3.0, "avg_order_value": 80.0},
            {"cohort": "2024-01-01", "cohort_size": 9, "paying_customers": 7, "total_orders": 12, "gross_revenue": 705.0, "total_revenue": 435.0, "avg_ltv": 48.33, "avg_ltv_paying": 62.14, "avg_orders_per_customer": 1.3333, "avg_order_value": 58.75},
        ]),
    );
}

#[tokio::test]
async fn first_purchase_cohorts_leave_out_non_buyers_and_take_transaction_only_customers() {
    let app = golden().await;
    let rows = pipe(
        &app,
        "ltv_by_cohort",
        &format!("{AS_OF}&cohort_basis=first_purchase"),
    )
    .await;
    // By month of first purchase: c11 2023-11; c01 2024-01; c02 2024-02;
    // c04 (03-20), c05, c06 2024-03; c07 and x01 2024-05; c09 2024-06. c03, c08 have no cohort.
    // 2024-03: net 100+90+60 = 250 → 83.333…; orders 2+1+3 = 6; aov 250/6 = 41.666….
    // 2024-05: net 0 + 60 = 60 → 30; gross 260 / 2 orders = 130.
    expect_rows(
        "ltv_by_cohort first_purchase",
        &rows,
        json!([
            {"cohort": "2023-11-01", "cohort_size": 1, "paying_customers": 1, "total_orders": 3, "gross_revenue": 240.0, "total_revenue": 240.0, "avg_ltv": 240.0, "avg_ltv_paying": 240.0, "avg_orders_per_customer": 3.0, "avg_order_value": 80.0},
            {"cohort": "2024-01-01", "cohort_size": 1, "paying_customers": 1, "total_orders": 2, "gross_revenue": 150.0, "total_revenue": 90.0, "avg_ltv": 90.0, "avg_ltv_paying": 90.0, "avg_orders_per_customer": 2.0, "avg_order_value": 75.0},
            {"cohort": "2024-02-01", "cohort_size": 1, "paying_customers": 1, "total_orders": 2, "gross_revenue": 80.0, "total_revenue": 70.0, "avg_ltv": 70.0, "avg_ltv_paying": 70.0, "avg_orders_per_customer": 2.0, "avg_order_value": 40.0},
            {"cohort": "2024-03-01", "cohort_size": 3, "paying_customers": 3, "total_orders": 6, "gross_revenue": 250.0, "total_revenue": 250.0, "avg_ltv": 83.33, "avg_ltv_paying": 83.33, "avg_orders_per_customer": 2.0, "avg_order_value": 41.67},
            {"cohort": "2024-05-01", "cohort_size": 2, "paying_customers": 2, "total_orders": 2, "gross_revenue": 260.0, "total_revenue": 60.0, "avg_ltv": 30.0, "avg_ltv_paying": 30.0, "avg_orders_per_customer": 1.0, "avg_order_value": 130.0},
            {"cohort": "2024-06-01", "cohort_size": 1, "paying_customers": 1, "total_orders": 1, "gross_revenue": 25.0, "total_revenue": 25.0, "avg_ltv": 25.0, "avg_ltv_paying": 25.0, "avg_orders_per_customer": 1.0, "avg_order_value": 25.0},
        ]),
    );
    // An attribute filter drops x01; by quarter, US only: Q4-2023 c11; Q1 c01, c04, c06
    // (net 90+100+60 = 250, orders 7, gross 310 → aov 44.2857… → 44.29); Q2 c09.
    let rows = pipe(
        &app,
        "ltv_by_cohort",
        &format!("{AS_OF}&cohort_basis=first_purchase&cohort_period=quarter&country=US"),
    )
    .await;
    expect_rows(
        "ltv_by_cohort first_purchase quarter US",
        &rows,
        json!([
            {"cohort": "2023-10-01", "cohort_size": 1, "paying_customers": 1, "total_orders": 3, "gross_revenue": 240.0, "total_revenue": 240.0, "avg_ltv": 240.0, "avg_ltv_paying": 240.0, "avg_orders_per_customer": 3.0, "avg_order_value": 80.0},
            {"cohort": "2024-01-01", "cohort_size": 3, "paying_customers": 3, "total_orders": 7, "gross_revenue": 310.0, "total_revenue": 250.0, "avg_ltv": 83.33, "avg_ltv_paying": 83.33, "avg_orders_per_customer": 2.3333, "avg_order_value": 44.29},
            {"cohort": "2024-04-01", "cohort_size": 1, "paying_customers": 1, "total_orders": 1, "gross_revenue": 25.0, "total_revenue": 25.0, "avg_ltv": 25.0, "avg_ltv_paying": 25.0, "avg_orders_per_customer": 1.0, "avg_order_value": 25.0},
        ]),
    );
}

#[tokio::test]
async fn ltv_by_cohort_filters_and_an_earlier_as_of() {
    let app = golden().await;
    // segment=premium: 2023-11 c11 (240); 2024-01 c01 (90); 2024-03 c06 (60); 2024-04 c04 (100);
    // 2024-05 c08 (0, never bought → avg_ltv_paying null, avg_order_value null).
    let rows = pipe(&app, "ltv_by_cohort", &format!("{AS_OF}&segment=premium")).await;
    expect_rows(
        "ltv_by_cohort premium",
        &rows,
        json!([
            {"cohort": "2023-11-01", "cohort_size": 1, "paying_customers": 1, "total_orders": 3, "gross_revenue": 240.0, "total_revenue": 240.0, "avg_ltv": 240.0, "avg_ltv_paying": 240.0, "avg_orders_per_customer": 3.0, "avg_order_value": 80.0},
            {"cohort": "2024-01-01", "cohort_size": 1, "paying_customers": 1, "total_orders": 2, "gross_revenue": 150.0, "total_revenue": 90.0, "avg_ltv": 90.0, "avg_ltv_paying": 90.0, "avg_orders_per_customer": 2.0, "avg_order_value": 75.0},
            {"cohort": "2024-03-01", "cohort_size": 1, "paying_customers": 1, "total_orders": 3, "gross_revenue": 60.0, "total_revenue": 60.0, "avg_ltv": 60.0, "avg_ltv_paying": 60.0, "avg_orders_per_customer": 3.0, "avg_order_value": 20.0},
            {"cohort": "2024-04-01", "cohort_size": 1, "paying_customers": 1, "total_orders": 2, "gross_revenue": 100.0, "total_revenue": 100.0, "avg_ltv": 100.0, "avg_ltv_paying": 100.0, "avg_orders_per_customer": 2.0, "avg_order_value": 50.0},
            {"cohort": "2024-05-01", "cohort_size": 1, "paying_customers": 0, "total_orders": 0, "gross_revenue": 0.0, "total_revenue": 0.0, "avg_ltv": 0.0, "avg_ltv_paying": null, "avg_orders_per_customer": 0.0, "avg_order_value": null},
        ]),
    );
    // At 2024-03-31 only cohorts up to 2024-03 exist and c04 (registered later) is in none;
    // 2024-01: c01 90 + c02 (40 − 10) = 120 over 2 → 60; 3 orders, gross 190 → 63.333….
    let rows = pipe(&app, "ltv_by_cohort", EARLIER).await;
    expect_rows(
        "ltv_by_cohort as_of=2024-03-31",
        &rows,
        json!([
            {"cohort": "2023-11-01", "cohort_size": 1, "paying_customers": 1, "total_orders": 2, "gross_revenue": 160.0, "total_revenue": 160.0, "avg_ltv": 160.0, "avg_ltv_paying": 160.0, "avg_orders_per_customer": 2.0, "avg_order_value": 80.0},
            {"cohort": "2024-01-01", "cohort_size": 2, "paying_customers": 2, "total_orders": 3, "gross_revenue": 190.0, "total_revenue": 120.0, "avg_ltv": 60.0, "avg_ltv_paying": 60.0, "avg_orders_per_customer": 1.5, "avg_order_value": 63.33},
            {"cohort": "2024-02-01", "cohort_size": 2, "paying_customers": 1, "total_orders": 1, "gross_revenue": 90.0, "total_revenue": 90.0, "avg_ltv": 45.0, "avg_ltv_paying": 90.0, "avg_orders_per_customer": 0.5, "avg_order_value": 90.0},
            {"cohort": "2024-03-01", "cohort_size": 1, "paying_customers": 1, "total_orders": 1, "gross_revenue": 20.0, "total_revenue": 20.0, "avg_ltv": 20.0, "avg_ltv_paying": 20.0, "avg_orders_per_customer": 1.0, "avg_order_value": 20.0},
        ]),
    );
}

// ───────────────────────── customer_retention_analysis ──────────────────────

#[tokio::test]
async fn retention_matrix_by_month_reports_every_period_up_to_as_of() {
    let app = golden().await;
    let rows = pipe(&app, "customer_retention_analysis", AS_OF).await;
    // Every cohort has a row for every month from its own to June 2024 (the month of
    // as_of, is_complete = false), also months where nobody bought.
    // 2024-01 (c01, c02; size 2):
    //   p0 Jan: c01 100 → active 1, rate 0.5, revenue 100, cumulative 100/2 = 50
    //   p1 Feb: c01 refund −60, c02 +40 −10 → revenue −30, active 1 (c02 only: a refund
    //           alone does not make c01 active), cumulative 70/2 = 35
    //   p2 Mar: c01 50 → 120/2 = 60;  p3 Apr: nothing;  p4 May: c02 40 → 160/2 = 80;  p5 Jun: 0.
    // 2024-04 (c04): c04's 30 of 2024-03-20 is before the cohort's month: in no period,
    //   so cumulative stays 70 (while ltv_by_cohort's lifetime total is 100).
    // 2024-05 (c07, c08): p0 c07 buys 200 and refunds 200 → active 1, revenue 0.
    // 2023-11 (c11): 80 in Nov, Jan, Apr → periods 0, 2, 5; period 7 = June 2024.
    expect_rows(
        "retention month",
        &rows,
        json!([
            {"cohort": "2023-11-01", "period_number": 0, "period_start": "2023-11-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 80.0, "cumulative_ltv": 80.0, "is_complete": true},
            {"cohort": "2023-11-01", "period_number": 1, "period_start": "2023-12-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 80.0, "is_complete": true},
            {"cohort": "2023-11-01", "period_number": 2, "period_start": "2024-01-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 80.0, "cumulative_ltv": 160.0, "is_complete": true},
            {"cohort": "2023-11-01", "period_number": 3, "period_start": "2024-02-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 160.0, "is_complete": true},
            {"cohort": "2023-11-01", "period_number": 4, "period_start": "2024-03-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 160.0, "is_complete": true},
            {"cohort": "2023-11-01", "period_number": 5, "period_start": "2024-04-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 80.0, "cumulative_ltv": 240.0, "is_complete": true},
            {"cohort": "2023-11-01", "period_number": 6, "period_start": "2024-05-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 240.0, "is_complete": true},
            {"cohort": "2023-11-01", "period_number": 7, "period_start": "2024-06-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 240.0, "is_complete": false},
            {"cohort": "2024-01-01", "period_number": 0, "period_start": "2024-01-01", "cohort_size": 2, "active_customers": 1, "retention_rate": 0.5, "revenue": 100.0, "cumulative_ltv": 50.0, "is_complete": true},
            {"cohort": "2024-01-01", "period_number": 1, "period_start": "2024-02-01", "cohort_size": 2, "active_customers": 1, "retention_rate": 0.5, "revenue": -30.0, "cumulative_ltv": 35.0, "is_complete": true},
            {"cohort": "2024-01-01", "period_number": 2, "period_start": "2024-03-01", "cohort_size": 2, "active_customers": 1, "retention_rate": 0.5, "revenue": 50.0, "cumulative_ltv": 60.0, "is_complete": true},
            {"cohort": "2024-01-01", "period_number": 3, "period_start": "2024-04-01", "cohort_size": 2, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 60.0, "is_complete": true},
            {"cohort": "2024-01-01", "period_number": 4, "period_start": "2024-05-01", "cohort_size": 2, "active_customers": 1, "retention_rate": 0.5, "revenue": 40.0, "cumulative_ltv": 80.0, "is_complete": true},
            {"cohort": "2024-01-01", "period_number": 5, "period_start": "2024-06-01", "cohort_size": 2, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 80.0, "is_complete": false},
            {"cohort": "2024-02-01", "period_number": 0, "period_start": "2024-02-01", "cohort_size": 2, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 0.0, "is_complete": true},
            {"cohort": "2024-02-01", "period_number": 1, "period_start": "2024-03-01", "cohort_size": 2, "active_customers": 1, "retention_rate": 0.5, "revenue": 90.0, "cumulative_ltv": 45.0, "is_complete": true},
            {"cohort": "2024-02-01", "period_number": 2, "period_start": "2024-04-01", "cohort_size": 2, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 45.0, "is_complete": true},
            {"cohort": "2024-02-01", "period_number": 3, "period_start": "2024-05-01", "cohort_size": 2, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 45.0, "is_complete": true},
            {"cohort": "2024-02-01", "period_number": 4, "period_start": "2024-06-01", "cohort_size": 2, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 45.0, "is_complete": false},
            {"cohort": "2024-03-01", "period_number": 0, "period_start": "2024-03-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 20.0, "cumulative_ltv": 20.0, "is_complete": true},
            {"cohort": "2024-03-01", "period_number": 1, "period_start": "2024-04-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 20.0, "cumulative_ltv": 40.0, "is_complete": true},
            {"cohort": "2024-03-01", "period_number": 2, "period_start": "2024-05-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 40.0, "is_complete": true},
            {"cohort": "2024-03-01", "period_number": 3, "period_start": "2024-06-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 20.0, "cumulative_ltv": 60.0, "is_complete": false},
            {"cohort": "2024-04-01", "period_number": 0, "period_start": "2024-04-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 70.0, "cumulative_ltv": 70.0, "is_complete": true},
            {"cohort": "2024-04-01", "period_number": 1, "period_start": "2024-05-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 70.0, "is_complete": true},
            {"cohort": "2024-04-01", "period_number": 2, "period_start": "2024-06-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 70.0, "is_complete": false},
            {"cohort": "2024-05-01", "period_number": 0, "period_start": "2024-05-01", "cohort_size": 2, "active_customers": 1, "retention_rate": 0.5, "revenue": 0.0, "cumulative_ltv": 0.0, "is_complete": true},
            {"cohort": "2024-05-01", "period_number": 1, "period_start": "2024-06-01", "cohort_size": 2, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 0.0, "is_complete": false},
            {"cohort": "2024-06-01", "period_number": 0, "period_start": "2024-06-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 25.0, "cumulative_ltv": 25.0, "is_complete": false},
        ]),
    );
}

#[tokio::test]
async fn activity_before_the_cohort_period_counts_in_lifetime_totals_but_in_no_period() {
    let app = golden().await;
    let cohorts = pipe(
        &app,
        "ltv_by_cohort",
        &format!("{AS_OF}&segment=premium&country=US"),
    )
    .await;
    let apr = cohorts
        .iter()
        .find(|r| r["cohort"] == "2024-04-01")
        .expect("the 2024-04 cohort");
    // c04: 30 (2024-03-20, before registration) + 70 = 100 lifetime.
    expect_rows(
        "lifetime",
        std::slice::from_ref(apr),
        json!([{"cohort": "2024-04-01", "cohort_size": 1, "total_revenue": 100.0, "total_orders": 2}]),
    );
    let rows = pipe(
        &app,
        "customer_retention_analysis",
        &format!("{AS_OF}&segment=premium&country=US"),
    )
    .await;
    let apr: Vec<Value> = rows
        .into_iter()
        .filter(|r| r["cohort"] == "2024-04-01")
        .collect();
    // Periods: Apr (70), May (0), Jun (0, incomplete); the March purchase is in none.
    expect_rows(
        "retention of the 2024-04 cohort",
        &apr,
        json!([
            {"period_number": 0, "period_start": "2024-04-01", "active_customers": 1, "retention_rate": 1.0, "revenue": 70.0, "cumulative_ltv": 70.0, "is_complete": true},
            {"period_number": 1, "period_start": "2024-05-01", "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 70.0, "is_complete": true},
            {"period_number": 2, "period_start": "2024-06-01", "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 70.0, "is_complete": false},
        ]),
    );
}

#[tokio::test]
async fn retention_by_quarter_and_by_first_purchase() {
    let app = golden().await;
    let rows = pipe(
        &app,
        "customer_retention_analysis",
        &format!("{AS_OF}&cohort_period=quarter"),
    )
    .await;
    // Q1-2024 (c01 c02 c03 c05 c06, size 5):
    //   p0 Q1: active c01, c02, c05, c06 = 4 → 0.8; revenue 90 + 30 + 90 + 20 = 230 → 46
    //   p1 Q2: c02 40, c06 40 → 2 → 0.4; 80 → 310/5 = 62 (incomplete)
    // Q2-2024 (c04 c07 c08 c09, size 4): p0 active c04, c07, c09 = 3 → 0.75;
    //   revenue 70 + 0 + 25 = 95 (c04's Q1 purchase is before the cohort) → 23.75.
    expect_rows(
        "retention quarter",
        &rows,
        json!([
            {"cohort": "2023-10-01", "period_number": 0, "period_start": "2023-10-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 80.0, "cumulative_ltv": 80.0, "is_complete": true},
            {"cohort": "2023-10-01", "period_number": 1, "period_start": "2024-01-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 80.0, "cumulative_ltv": 160.0, "is_complete": true},
            {"cohort": "2023-10-01", "period_number": 2, "period_start": "2024-04-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 80.0, "cumulative_ltv": 240.0, "is_complete": false},
            {"cohort": "2024-01-01", "period_number": 0, "period_start": "2024-01-01", "cohort_size": 5, "active_customers": 4, "retention_rate": 0.8, "revenue": 230.0, "cumulative_ltv": 46.0, "is_complete": true},
            {"cohort": "2024-01-01", "period_number": 1, "period_start": "2024-04-01", "cohort_size": 5, "active_customers": 2, "retention_rate": 0.4, "revenue": 80.0, "cumulative_ltv": 62.0, "is_complete": false},
            {"cohort": "2024-04-01", "period_number": 0, "period_start": "2024-04-01", "cohort_size": 4, "active_customers": 3, "retention_rate": 0.75, "revenue": 95.0, "cumulative_ltv": 23.75, "is_complete": false},
        ]),
    );
    let rows = pipe(
        &app,
        "customer_retention_analysis",
        &format!("{AS_OF}&cohort_period=quarter&cohort_basis=first_purchase"),
    )
    .await;
    // Q1-2024 by first purchase: c01, c02, c04, c05, c06 (size 5, all active in Q1):
    //   p0: 90 + 30 + 30 + 90 + 20 = 260 → 52;  p1: c02 40, c04 70, c06 40 = 150, 3 active → 0.6, 410/5 = 82
    // Q2-2024: c07, x01, c09: revenue 0 + 60 + 25 = 85 → 28.333… → 28.33.
    expect_rows(
        "retention quarter first_purchase",
        &rows,
        json!([
            {"cohort": "2023-10-01", "period_number": 0, "period_start": "2023-10-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 80.0, "cumulative_ltv": 80.0, "is_complete": true},
            {"cohort": "2023-10-01", "period_number": 1, "period_start": "2024-01-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 80.0, "cumulative_ltv": 160.0, "is_complete": true},
            {"cohort": "2023-10-01", "period_number": 2, "period_start": "2024-04-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 80.0, "cumulative_ltv": 240.0, "is_complete": false},
            {"cohort": "2024-01-01", "period_number": 0, "period_start": "2024-01-01", "cohort_size": 5, "active_customers": 5, "retention_rate": 1.0, "revenue": 260.0, "cumulative_ltv": 52.0, "is_complete": true},
            {"cohort": "2024-01-01", "period_number": 1, "period_start": "2024-04-01", "cohort_size": 5, "active_customers": 3, "retention_rate": 0.6, "revenue": 150.0, "cumulative_ltv": 82.0, "is_complete": false},
            {"cohort": "2024-04-01", "period_number": 0, "period_start": "2024-04-01", "cohort_size": 3, "active_customers": 3, "retention_rate": 1.0, "revenue": 85.0, "cumulative_ltv": 28.33, "is_complete": false},
        ]),
    );
}

#[tokio::test]
async fn max_periods_caps_the_periods_reported() {
    let app = golden().await;
    let rows = pipe(
        &app,
        "customer_retention_analysis",
        &format!("{AS_OF}&max_periods=3"),
    )
    .await;
    // Periods 0…2 only; a period 2 before as_of's month is complete.
    expect_rows(
        "retention max_periods=3",
        &rows,
        json!([
            {"cohort": "2023-11-01", "period_number": 0, "period_start": "2023-11-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 80.0, "cumulative_ltv": 80.0, "is_complete": true},
            {"cohort": "2023-11-01", "period_number": 1, "period_start": "2023-12-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 80.0, "is_complete": true},
            {"cohort": "2023-11-01", "period_number": 2, "period_start": "2024-01-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 80.0, "cumulative_ltv": 160.0, "is_complete": true},
            {"cohort": "2024-01-01", "period_number": 0, "period_start": "2024-01-01", "cohort_size": 2, "active_customers": 1, "retention_rate": 0.5, "revenue": 100.0, "cumulative_ltv": 50.0, "is_complete": true},
            {"cohort": "2024-01-01", "period_number": 1, "period_start": "2024-02-01", "cohort_size": 2, "active_customers": 1, "retention_rate": 0.5, "revenue": -30.0, "cumulative_ltv": 35.0, "is_complete": true},
            {"cohort": "2024-01-01", "period_number": 2, "period_start": "2024-03-01", "cohort_size": 2, "active_customers": 1, "retention_rate": 0.5, "revenue": 50.0, "cumulative_ltv": 60.0, "is_complete": true},
            {"cohort": "2024-02-01", "period_number": 0, "period_start": "2024-02-01", "cohort_size": 2, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 0.0, "is_complete": true},
            {"cohort": "2024-02-01", "period_number": 1, "period_start": "2024-03-01", "cohort_size": 2, "active_customers": 1, "retention_rate": 0.5, "revenue": 90.0, "cumulative_ltv": 45.0, "is_complete": true},
            {"cohort": "2024-02-01", "period_number": 2, "period_start": "2024-04-01", "cohort_size": 2, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 45.0, "is_complete": true},
            {"cohort": "2024-03-01", "period_number": 0, "period_start": "2024-03-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 20.0, "cumulative_ltv": 20.0, "is_complete": true},
            {"cohort": "2024-03-01", "period_number": 1, "period_start": "2024-04-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 20.0, "cumulative_ltv": 40.0, "is_complete": true},
            {"cohort": "2024-03-01", "period_number": 2, "period_start": "2024-05-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 40.0, "is_complete": true},
            {"cohort": "2024-04-01", "period_number": 0, "period_start": "2024-04-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 70.0, "cumulative_ltv": 70.0, "is_complete": true},
            {"cohort": "2024-04-01", "period_number": 1, "period_start": "2024-05-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 70.0, "is_complete": true},
            {"cohort": "2024-04-01", "period_number": 2, "period_start": "2024-06-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 70.0, "is_complete": false},
            {"cohort": "2024-05-01", "period_number": 0, "period_start": "2024-05-01", "cohort_size": 2, "active_customers": 1, "retention_rate": 0.5, "revenue": 0.0, "cumulative_ltv": 0.0, "is_complete": true},
            {"cohort": "2024-05-01", "period_number": 1, "period_start": "2024-06-01", "cohort_size": 2, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 0.0, "is_complete": false},
            {"cohort": "2024-06-01", "period_number": 0, "period_start": "2024-06-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 25.0, "cumulative_ltv": 25.0, "is_complete": false},
        ]),
    );
    let rows = pipe(
        &app,
        "customer_retention_analysis",
        &format!("{AS_OF}&max_periods=1&cohort_period=year"),
    )
    .await;
    // Year cohorts: 2023 (c11: 80 in 2023), 2024 (nine customers, period 0 contains as_of).
    // 2024 p0: active c01 c02 c04 c05 c06 c07 c09 = 7 → 7/9 = 0.7778; revenue = every 2024-registered
    // customer's net in 2024 = 435 → 48.333… → 48.33.
    expect_rows(
        "retention year max_periods=1",
        &rows,
        json!([
            {"cohort": "2023-01-01", "period_number": 0, "period_start": "2023-01-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 80.0, "cumulative_ltv": 80.0, "is_complete": true},
            {"cohort": "2024-01-01", "period_number": 0, "period_start": "2024-01-01", "cohort_size": 9, "active_customers": 7, "retention_rate": 0.7778, "revenue": 435.0, "cumulative_ltv": 48.33, "is_complete": false},
        ]),
    );
}

#[tokio::test]
async fn retention_at_an_earlier_as_of_stops_at_its_month() {
    let app = golden().await;
    let rows = pipe(
        &app,
        "customer_retention_analysis",
        &format!("{EARLIER}&country=US"),
    )
    .await;
    // US known customers registered by 03-31: c11 (2023-11), c01 (2024-01), c06 (2024-03).
    // March 2024 is the last period reported, incomplete.
    expect_rows(
        "retention as_of=2024-03-31 US",
        &rows,
        json!([
            {"cohort": "2023-11-01", "period_number": 0, "period_start": "2023-11-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 80.0, "cumulative_ltv": 80.0, "is_complete": true},
            {"cohort": "2023-11-01", "period_number": 1, "period_start": "2023-12-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 80.0, "is_complete": true},
            {"cohort": "2023-11-01", "period_number": 2, "period_start": "2024-01-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 80.0, "cumulative_ltv": 160.0, "is_complete": true},
            {"cohort": "2023-11-01", "period_number": 3, "period_start": "2024-02-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 160.0, "is_complete": true},
            {"cohort": "2023-11-01", "period_number": 4, "period_start": "2024-03-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 160.0, "is_complete": false},
            {"cohort": "2024-01-01", "period_number": 0, "period_start": "2024-01-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 100.0, "cumulative_ltv": 100.0, "is_complete": true},
            {"cohort": "2024-01-01", "period_number": 1, "period_start": "2024-02-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": -60.0, "cumulative_ltv": 40.0, "is_complete": true},
            {"cohort": "2024-01-01", "period_number": 2, "period_start": "2024-03-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 50.0, "cumulative_ltv": 90.0, "is_complete": false},
            {"cohort": "2024-03-01", "period_number": 0, "period_start": "2024-03-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 20.0, "cumulative_ltv": 20.0, "is_complete": false},
        ]),
    );
}

#[tokio::test]
async fn first_purchase_retention_with_an_attribute_filter() {
    let app = golden().await;
    let rows = pipe(
        &app,
        "customer_retention_analysis",
        &format!("{AS_OF}&cohort_basis=first_purchase&segment=basic"),
    )
    .await;
    // basic buyers: c02 (first purchase 2024-02: +40 −10 in Feb, +40 in May), c05 (2024-03: 90),
    // c07 (2024-05: 200 − 200: active, revenue 0), c09 (2024-06: 25). c03 never bought; x01 is filtered out.
    expect_rows(
        "retention first_purchase basic",
        &rows,
        json!([
            {"cohort": "2024-02-01", "period_number": 0, "period_start": "2024-02-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 30.0, "cumulative_ltv": 30.0, "is_complete": true},
            {"cohort": "2024-02-01", "period_number": 1, "period_start": "2024-03-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 30.0, "is_complete": true},
            {"cohort": "2024-02-01", "period_number": 2, "period_start": "2024-04-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 30.0, "is_complete": true},
            {"cohort": "2024-02-01", "period_number": 3, "period_start": "2024-05-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 40.0, "cumulative_ltv": 70.0, "is_complete": true},
            {"cohort": "2024-02-01", "period_number": 4, "period_start": "2024-06-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 70.0, "is_complete": false},
            {"cohort": "2024-03-01", "period_number": 0, "period_start": "2024-03-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 90.0, "cumulative_ltv": 90.0, "is_complete": true},
            {"cohort": "2024-03-01", "period_number": 1, "period_start": "2024-04-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 90.0, "is_complete": true},
            {"cohort": "2024-03-01", "period_number": 2, "period_start": "2024-05-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 90.0, "is_complete": true},
            {"cohort": "2024-03-01", "period_number": 3, "period_start": "2024-06-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 90.0, "is_complete": false},
            {"cohort": "2024-05-01", "period_number": 0, "period_start": "2024-05-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 0.0, "cumulative_ltv": 0.0, "is_complete": true},
            {"cohort": "2024-05-01", "period_number": 1, "period_start": "2024-06-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 0.0, "is_complete": false},
            {"cohort": "2024-06-01", "period_number": 0, "period_start": "2024-06-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 25.0, "cumulative_ltv": 25.0, "is_complete": false},
        ]),
    );
}

// ─────────────────────────── customer_segmentation ──────────────────────────

#[tokio::test]
async fn rfm_scores_follow_the_strictly_lower_rule_with_ties() {
    let app = golden().await;
    let rows = pipe(&app, "customer_segmentation", AS_OF).await;
    // Scored: the nine customers with a purchase by as_of (x01 included, no filter), n = 9.
    // frequency: 1 (c05 c07 c09 x01), 2 (c01 c02 c04), 3 (c06 c11)
    //   f = 1 + floor(5·lower/9): freq 1 → lower 0 → 1; freq 2 → lower 4 → 1+floor(20/9) = 3;
    //   freq 3 → lower 7 → 1+floor(35/9) = 4.
    // monetary (net): c07 0, c09 25, c06 60, x01 60, c02 70, c01 90, c05 90, c04 100, c11 240
    //   m: 0 → 1; 25 → 1+floor(5/9) = 1; 60 → lower 2 → 1+floor(10/9) = 2; 70 → lower 4 → 3;
    //   90 → lower 5 → 1+floor(25/9) = 3; 100 → lower 7 → 4; 240 → lower 8 → 1+floor(40/9) = 5.
    // recency_days: c01 121, c05 121 (same day, other hour), c11 90, c04 76, c07 59, x01 56,
    //   c02 51, c09 10, c06 0 (bought 2024-06-30 23:59:59)
    //   r = 1 + floor(5·larger/9): 121 → 1; 90 → 2 larger → 2; 76 → 3 → 2; 59 → 4 → 3;
    //   56 → 5 → 3; 51 → 6 → 4; 10 → 7 → 4; 0 → 8 → 5.
    // Segments (R, F): c11 (2,4) At Risk; c04 (2,3) At Risk; c01 (1,3) At Risk;
    //   c05 (1,1) Hibernating; c02 (4,3) Potential Loyalist; c06 (5,4) Champions;
    //   x01 (3,1) About To Sleep; c09 (4,1) Promising; c07 (3,1) About To Sleep.
    // Order: monetary desc, then customer_id (c01 before c05, c06 before x01).
    expect_rows(
        "segmentation default",
        &rows,
        json!([
            {"customer_id": "c11", "country": "US", "segment": "premium", "acquisition_source": "referral", "recency_days": 90, "frequency": 3, "monetary": 240.0, "r_score": 2, "f_score": 4, "m_score": 5, "rfm_score": "245", "rfm_segment": "At Risk", "last_purchase_date": "2024-04-01 10:00:00"},
            {"customer_id": "c04", "country": "US", "segment": "premium", "acquisition_source": "referral", "recency_days": 76, "frequency": 2, "monetary": 100.0, "r_score": 2, "f_score": 3, "m_score": 4, "rfm_score": "234", "rfm_segment": "At Risk", "last_purchase_date": "2024-04-15 12:00:00"},
            {"customer_id": "c01", "country": "US", "segment": "premium", "acquisition_source": "ads", "recency_days": 121, "frequency": 2, "monetary": 90.0, "r_score": 1, "f_score": 3, "m_score": 3, "rfm_score": "133", "rfm_segment": "At Risk", "last_purchase_date": "2024-03-01 10:00:00"},
            {"customer_id": "c05", "country": "FR", "segment": "basic", "acquisition_source": "organic", "recency_days": 121, "frequency": 1, "monetary": 90.0, "r_score": 1, "f_score": 1, "m_score": 3, "rfm_score": "113", "rfm_segment": "Hibernating", "last_purchase_date": "2024-03-01 15:00:00"},
            {"customer_id": "c02", "country": "DE", "segment": "basic", "acquisition_source": "organic", "recency_days": 51, "frequency": 2, "monetary": 70.0, "r_score": 4, "f_score": 3, "m_score": 3, "rfm_score": "433", "rfm_segment": "Potential Loyalist", "last_purchase_date": "2024-05-10 09:00:00"},
            {"customer_id": "c06", "country": "US", "segment": "premium", "acquisition_source": "ads", "recency_days": 0, "frequency": 3, "monetary": 60.0, "r_score": 5, "f_score": 4, "m_score": 2, "rfm_score": "542", "rfm_segment": "Champions", "last_purchase_date": "2024-06-30 23:59:59"},
            {"customer_id": "x01", "country": null, "segment": null, "acquisition_source": null, "recency_days": 56, "frequency": 1, "monetary": 60.0, "r_score": 3, "f_score": 1, "m_score": 2, "rfm_score": "312", "rfm_segment": "About To Sleep", "last_purchase_date": "2024-05-05 10:00:00"},
            {"customer_id": "c09", "country": "US", "segment": "basic", "acquisition_source": "ads", "recency_days": 10, "frequency": 1, "monetary": 25.0, "r_score": 4, "f_score": 1, "m_score": 1, "rfm_score": "411", "rfm_segment": "Promising", "last_purchase_date": "2024-06-20 10:00:00"},
            {"customer_id": "c07", "country": "DE", "segment": "basic", "acquisition_source": "referral", "recency_days": 59, "frequency": 1, "monetary": 0.0, "r_score": 3, "f_score": 1, "m_score": 1, "rfm_score": "311", "rfm_segment": "About To Sleep", "last_purchase_date": "2024-05-02 10:00:00"},
        ]),
    );
}

#[tokio::test]
async fn output_filters_never_change_scores() {
    let app = golden().await;
    // Same scores as the unfiltered answer, fewer rows.
    let rows = pipe(
        &app,
        "customer_segmentation",
        &format!("{AS_OF}&min_frequency=2"),
    )
    .await;
    expect_rows(
        "segmentation min_frequency=2",
        &rows,
        json!([
            {"customer_id": "c11", "frequency": 3, "monetary": 240.0, "r_score": 2, "f_score": 4, "m_score": 5, "rfm_score": "245", "rfm_segment": "At Risk"},
            {"customer_id": "c04", "frequency": 2, "monetary": 100.0, "r_score": 2, "f_score": 3, "m_score": 4, "rfm_score": "234", "rfm_segment": "At Risk"},
            {"customer_id": "c01", "frequency": 2, "monetary": 90.0, "r_score": 1, "f_score": 3, "m_score": 3, "rfm_score": "133", "rfm_segment": "At Risk"},
            {"customer_id": "c02", "frequency": 2, "monetary": 70.0, "r_score": 4, "f_score": 3, "m_score": 3, "rfm_score": "433", "rfm_segment": "Potential Loyalist"},
            {"customer_id": "c06", "frequency": 3, "monetary": 60.0, "r_score": 5, "f_score": 4, "m_score": 2, "rfm_score": "542", "rfm_segment": "Champions"},
        ]),
    );
    let rows = pipe(
        &app,
        "customer_segmentation",
        &format!("{AS_OF}&segment_filter=At%20Risk"),
    )
    .await;
    expect_rows(
        "segmentation segment_filter=At Risk",
        &rows,
        json!([
            {"customer_id": "c11", "rfm_score": "245", "rfm_segment": "At Risk"},
            {"customer_id": "c04", "rfm_score": "234", "rfm_segment": "At Risk"},
            {"customer_id": "c01", "rfm_score": "133", "rfm_segment": "At Risk"},
        ]),
    );
    let rows = pipe(
        &app,
        "customer_segmentation",
        &format!("{AS_OF}&min_monetary=90"),
    )
    .await;
    expect_rows(
        "segmentation min_monetary=90",
        &rows,
        json!([
            {"customer_id": "c11", "monetary": 240.0, "rfm_score": "245"},
            {"customer_id": "c04", "monetary": 100.0, "rfm_score": "234"},
            {"customer_id": "c01", "monetary": 90.0, "rfm_score": "133"},
            {"customer_id": "c05", "monetary": 90.0, "rfm_score": "113"},
        ]),
    );
    let rows = pipe(
        &app,
        "customer_segmentation",
        &format!("{AS_OF}&segment_filter=About%20To%20Sleep&min_frequency=1"),
    )
    .await;
    expect_rows(
        "segmentation About To Sleep",
        &rows,
        json!([
            {"customer_id": "x01", "monetary": 60.0, "rfm_score": "312"},
            {"customer_id": "c07", "monetary": 0.0, "rfm_score": "311"},
        ]),
    );
    let rows = pipe(&app, "customer_segmentation", &format!("{AS_OF}&limit=2")).await;
    expect_rows(
        "segmentation limit=2",
        &rows,
        json!([{"customer_id": "c11", "rfm_score": "245"}, {"customer_id": "c04", "rfm_score": "234"}]),
    );
    // A segment nobody is in: an empty answer, not an error.
    let rows = pipe(
        &app,
        "customer_segmentation",
        &format!("{AS_OF}&segment_filter=Can't%20Lose%20Them"),
    )
    .await;
    assert!(rows.is_empty(), "{rows:?}");
}

#[tokio::test]
async fn attribute_filters_change_the_scored_population() {
    let app = golden().await;
    let rows = pipe(
        &app,
        "customer_segmentation",
        &format!("{AS_OF}&country=US"),
    )
    .await;
    // n = 5: c01, c04, c06, c09, c11 (c02 is DE after its upsert, x01 has no country).
    // f: freq 1 (c09) → 1; 2 (c01 c04) → lower 1 → 1+floor(5/5) = 2; 3 (c06 c11) → lower 3 → 1+3 = 4.
    // m: 25 → 1; 60 → 2; 90 → 3; 100 → 4; 240 → 5.
    // r: 121 c01 → 1; 90 c11 → 2; 76 c04 → 3; 10 c09 → 4; 0 c06 → 5.
    // c04 (3,2) About To Sleep; c01 (1,2) Hibernating.
    expect_rows(
        "segmentation US",
        &rows,
        json!([
            {"customer_id": "c11", "country": "US", "segment": "premium", "acquisition_source": "referral", "recency_days": 90, "frequency": 3, "monetary": 240.0, "r_score": 2, "f_score": 4, "m_score": 5, "rfm_score": "245", "rfm_segment": "At Risk", "last_purchase_date": "2024-04-01 10:00:00"},
            {"customer_id": "c04", "country": "US", "segment": "premium", "acquisition_source": "referral", "recency_days": 76, "frequency": 2, "monetary": 100.0, "r_score": 3, "f_score": 2, "m_score": 4, "rfm_score": "324", "rfm_segment": "About To Sleep", "last_purchase_date": "2024-04-15 12:00:00"},
            {"customer_id": "c01", "country": "US", "segment": "premium", "acquisition_source": "ads", "recency_days": 121, "frequency": 2, "monetary": 90.0, "r_score": 1, "f_score": 2, "m_score": 3, "rfm_score": "123", "rfm_segment": "Hibernating", "last_purchase_date": "2024-03-01 10:00:00"},
            {"customer_id": "c06", "country": "US", "segment": "premium", "acquisition_source": "ads", "recency_days": 0, "frequency": 3, "monetary": 60.0, "r_score": 5, "f_score": 4, "m_score": 2, "rfm_score": "542", "rfm_segment": "Champions", "last_purchase_date": "2024-06-30 23:59:59"},
            {"customer_id": "c09", "country": "US", "segment": "basic", "acquisition_source": "ads", "recency_days": 10, "frequency": 1, "monetary": 25.0, "r_score": 4, "f_score": 1, "m_score": 1, "rfm_score": "411", "rfm_segment": "Promising", "last_purchase_date": "2024-06-20 10:00:00"},
        ]),
    );
}

#[tokio::test]
async fn the_rfm_window_bounds_transaction_dates() {
    let app = golden().await;
    let rows = pipe(
        &app,
        "customer_segmentation",
        &format!("{AS_OF}&start_date=2024-04-01%2000:00:00&end_date=2024-06-30%2023:59:59"),
    )
    .await;
    // In Q2: c11 80 (04-01), c04 70, x01 60, c02 40 (its February refund is outside),
    // c06 20 + 20 = 40 (2 purchases), c09 25, c07 200 − 200 = 0. c01, c05 have no purchase → not scored. n = 7.
    // f: c06 lower 6 → 1+floor(30/7) = 5, others 1.
    // m: 0 → 1; 25 → 1+floor(5/7) = 1; 40 (c02, c06) → lower 2 → 1+floor(10/7) = 2; 60 → lower 4 → 3;
    //    70 → 5 → 1+floor(25/7) = 4; 80 → 6 → 5.
    // r: c11 90 → 1; c04 76 → 1+floor(5/7) = 1; c07 59 → 1+floor(10/7) = 2; x01 56 → 3;
    //    c02 51 → 1+floor(20/7) = 3; c09 10 → 4; c06 0 → 5.
    expect_rows(
        "segmentation Q2 window",
        &rows,
        json!([
            {"customer_id": "c11", "country": "US", "segment": "premium", "acquisition_source": "referral", "recency_days": 90, "frequency": 1, "monetary": 80.0, "r_score": 1, "f_score": 1, "m_score": 5, "rfm_score": "115", "rfm_segment": "Hibernating", "last_purchase_date": "2024-04-01 10:00:00"},
            {"customer_id": "c04", "country": "US", "segment": "premium", "acquisition_source": "referral", "recency_days": 76, "frequency": 1, "monetary": 70.0, "r_score": 1, "f_score": 1, "m_score": 4, "rfm_score": "114", "rfm_segment": "Hibernating", "last_purchase_date": "2024-04-15 12:00:00"},
            {"customer_id": "x01", "country": null, "segment": null, "acquisition_source": null, "recency_days": 56, "frequency": 1, "monetary": 60.0, "r_score": 3, "f_score": 1, "m_score": 3, "rfm_score": "313", "rfm_segment": "About To Sleep", "last_purchase_date": "2024-05-05 10:00:00"},
            {"customer_id": "c02", "country": "DE", "segment": "basic", "acquisition_source": "organic", "recency_days": 51, "frequency": 1, "monetary": 40.0, "r_score": 3, "f_score": 1, "m_score": 2, "rfm_score": "312", "rfm_segment": "About To Sleep", "last_purchase_date": "2024-05-10 09:00:00"},
            {"customer_id": "c06", "country": "US", "segment": "premium", "acquisition_source": "ads", "recency_days": 0, "frequency": 2, "monetary": 40.0, "r_score": 5, "f_score": 5, "m_score": 2, "rfm_score": "552", "rfm_segment": "Champions", "last_purchase_date": "2024-06-30 23:59:59"},
            {"customer_id": "c09", "country": "US", "segment": "basic", "acquisition_source": "ads", "recency_days": 10, "frequency": 1, "monetary": 25.0, "r_score": 4, "f_score": 1, "m_score": 1, "rfm_score": "411", "rfm_segment": "Promising", "last_purchase_date": "2024-06-20 10:00:00"},
            {"customer_id": "c07", "country": "DE", "segment": "basic", "acquisition_source": "referral", "recency_days": 59, "frequency": 1, "monetary": 0.0, "r_score": 2, "f_score": 1, "m_score": 1, "rfm_score": "211", "rfm_segment": "Hibernating", "last_purchase_date": "2024-05-02 10:00:00"},
        ]),
    );
}

#[tokio::test]
async fn segmentation_at_an_earlier_as_of() {
    let app = golden().await;
    let rows = pipe(&app, "customer_segmentation", EARLIER).await;
    // At 2024-03-31: c11 2×80, c01 90, c05 90, c02 40−10 = 30, c04 30 (not yet registered:
    // null attributes), c06 20. n = 6.
    // recency: c11 86, c02 50, c01 30, c05 30, c06 26, c04 11 → r: 1, 1+floor(5/6) = 1, 2, 2, 1+floor(20/6) = 4, 5.
    // f: freq 2 (c01 c11) lower 4 → 1+floor(20/6) = 4; others 1.
    // m: 20 → 1; 30 (c02 c04) → lower 1 → 1; 90 → lower 3 → 1+floor(15/6) = 3; 160 → lower 5 → 5.
    // c04 (5,1) New Customers; c06 (4,1) Promising; c01 (2,4) At Risk; c11 (1,4) At Risk.
    expect_rows(
        "segmentation as_of=2024-03-31",
        &rows,
        json!([
            {"customer_id": "c11", "country": "US", "segment": "premium", "acquisition_source": "referral", "recency_days": 86, "frequency": 2, "monetary": 160.0, "r_score": 1, "f_score": 4, "m_score": 5, "rfm_score": "145", "rfm_segment": "At Risk", "last_purchase_date": "2024-01-05 10:00:00"},
            {"customer_id": "c01", "country": "US", "segment": "premium", "acquisition_source": "ads", "recency_days": 30, "frequency": 2, "monetary": 90.0, "r_score": 2, "f_score": 4, "m_score": 3, "rfm_score": "243", "rfm_segment": "At Risk", "last_purchase_date": "2024-03-01 10:00:00"},
            {"customer_id": "c05", "country": "FR", "segment": "basic", "acquisition_source": "organic", "recency_days": 30, "frequency": 1, "monetary": 90.0, "r_score": 2, "f_score": 1, "m_score": 3, "rfm_score": "213", "rfm_segment": "Hibernating", "last_purchase_date": "2024-03-01 15:00:00"},
            {"customer_id": "c02", "country": "DE", "segment": "basic", "acquisition_source": "organic", "recency_days": 50, "frequency": 1, "monetary": 30.0, "r_score": 1, "f_score": 1, "m_score": 1, "rfm_score": "111", "rfm_segment": "Hibernating", "last_purchase_date": "2024-02-10 09:00:00"},
            {"customer_id": "c04", "country": null, "segment": null, "acquisition_source": null, "recency_days": 11, "frequency": 1, "monetary": 30.0, "r_score": 5, "f_score": 1, "m_score": 1, "rfm_score": "511", "rfm_segment": "New Customers", "last_purchase_date": "2024-03-20 12:00:00"},
            {"customer_id": "c06", "country": "US", "segment": "premium", "acquisition_source": "ads", "recency_days": 26, "frequency": 1, "monetary": 20.0, "r_score": 4, "f_score": 1, "m_score": 1, "rfm_score": "411", "rfm_segment": "Promising", "last_purchase_date": "2024-03-05 08:00:00"},
        ]),
    );
}

#[tokio::test]
async fn recency_is_measured_to_as_of_not_to_the_window_end() {
    let app = golden().await;
    let rows = pipe(
        &app,
        "customer_segmentation",
        &format!("{AS_OF}&end_date=2024-03-31%2023:59:59"),
    )
    .await;
    // Window up to 2024-03-31, point of view 2024-06-30: c11 (2 × 80, last 01-05 → 177 days),
    // c01 (90, 03-01 → 121), c05 (90, 121), c02 (40 − 10 in the window = 30, last 02-10 → 141),
    // c04 (30, 03-20 → 102), c06 (20, 03-05 → 117). n = 6.
    // r: 177 → 1; 141 → 1+floor(5/6) = 1; 121 → 1+floor(10/6) = 2; 117 → 1+floor(20/6) = 4; 102 → 5.
    // f: freq 2 (c01, c11) → lower 4 → 1+floor(20/6) = 4.  m: 20 → 1; 30 → 1+floor(5/6) = 1;
    //    90 → lower 3 → 1+floor(15/6) = 3; 160 → 1+floor(25/6) = 5.
    expect_rows(
        "segmentation end_date only",
        &rows,
        json!([
            {"customer_id": "c11", "country": "US", "segment": "premium", "acquisition_source": "referral", "recency_days": 177, "frequency": 2, "monetary": 160.0, "r_score": 1, "f_score": 4, "m_score": 5, "rfm_score": "145", "rfm_segment": "At Risk", "last_purchase_date": "2024-01-05 10:00:00"},
            {"customer_id": "c01", "country": "US", "segment": "premium", "acquisition_source": "ads", "recency_days": 121, "frequency": 2, "monetary": 90.0, "r_score": 2, "f_score": 4, "m_score": 3, "rfm_score": "243", "rfm_segment": "At Risk", "last_purchase_date": "2024-03-01 10:00:00"},
            {"customer_id": "c05", "country": "FR", "segment": "basic", "acquisition_source": "organic", "recency_days": 121, "frequency": 1, "monetary": 90.0, "r_score": 2, "f_score": 1, "m_score": 3, "rfm_score": "213", "rfm_segment": "Hibernating", "last_purchase_date": "2024-03-01 15:00:00"},
            {"customer_id": "c02", "country": "DE", "segment": "basic", "acquisition_source": "organic", "recency_days": 141, "frequency": 1, "monetary": 30.0, "r_score": 1, "f_score": 1, "m_score": 1, "rfm_score": "111", "rfm_segment": "Hibernating", "last_purchase_date": "2024-02-10 09:00:00"},
            {"customer_id": "c04", "country": "US", "segment": "premium", "acquisition_source": "referral", "recency_days": 102, "frequency": 1, "monetary": 30.0, "r_score": 5, "f_score": 1, "m_score": 1, "rfm_score": "511", "rfm_segment": "New Customers", "last_purchase_date": "2024-03-20 12:00:00"},
            {"customer_id": "c06", "country": "US", "segment": "premium", "acquisition_source": "ads", "recency_days": 117, "frequency": 1, "monetary": 20.0, "r_score": 4, "f_score": 1, "m_score": 1, "rfm_score": "411", "rfm_segment": "Promising", "last_purchase_date": "2024-03-05 08:00:00"},
        ]),
    );
    let rows = pipe(
        &app,
        "customer_segmentation",
        &format!("{AS_OF}&start_date=2024-05-01%2000:00:00"),
    )
    .await;
    // From 2024-05-01: x01 60, c02 40, c09 25, c06 20 (06-30 23:59:59), c07 200 − 200 = 0; all frequency 1.
    // m: 0 → 1; 20 → 1+floor(5/5) = 2; 25 → 3; 40 → 4; 60 → 5.  r: 59 → 1; 56 → 2; 51 → 3; 10 → 4; 0 → 5.
    expect_rows(
        "segmentation start_date only",
        &rows,
        json!([
            {"customer_id": "x01", "country": null, "segment": null, "acquisition_source": null, "recency_days": 56, "frequency": 1, "monetary": 60.0, "r_score": 2, "f_score": 1, "m_score": 5, "rfm_score": "215", "rfm_segment": "Hibernating", "last_purchase_date": "2024-05-05 10:00:00"},
            {"customer_id": "c02", "country": "DE", "segment": "basic", "acquisition_source": "organic", "recency_days": 51, "frequency": 1, "monetary": 40.0, "r_score": 3, "f_score": 1, "m_score": 4, "rfm_score": "314", "rfm_segment": "About To Sleep", "last_purchase_date": "2024-05-10 09:00:00"},
            {"customer_id": "c09", "country": "US", "segment": "basic", "acquisition_source": "ads", "recency_days": 10, "frequency": 1, "monetary": 25.0, "r_score": 4, "f_score": 1, "m_score": 3, "rfm_score": "413", "rfm_segment": "Promising", "last_purchase_date": "2024-06-20 10:00:00"},
            {"customer_id": "c06", "country": "US", "segment": "premium", "acquisition_source": "ads", "recency_days": 0, "frequency": 1, "monetary": 20.0, "r_score": 5, "f_score": 1, "m_score": 2, "rfm_score": "512", "rfm_segment": "New Customers", "last_purchase_date": "2024-06-30 23:59:59"},
            {"customer_id": "c07", "country": "DE", "segment": "basic", "acquisition_source": "referral", "recency_days": 59, "frequency": 1, "monetary": 0.0, "r_score": 1, "f_score": 1, "m_score": 1, "rfm_score": "111", "rfm_segment": "Hibernating", "last_purchase_date": "2024-05-02 10:00:00"},
        ]),
    );
}

// ────────────────────── customer_segmentation_summary ───────────────────────

#[tokio::test]
async fn segmentation_summary_aggregates_the_scored_customers() {
    let app = golden().await;
    let rows = pipe(&app, "customer_segmentation_summary", AS_OF).await;
    // At Risk: c11, c04, c01 → 3/9 = 0.3333; recency (90+76+121)/3 = 95.666…; freq 7/3 = 2.3333;
    //   monetary 430 → 143.333… → 143.33.
    // About To Sleep (x01 60, c07 0) and Champions (c06 60) tie on total 60 → by name.
    expect_rows(
        "summary default",
        &rows,
        json!([
            {"rfm_segment": "At Risk", "customers": 3, "share": 0.3333, "avg_recency_days": 95.6667, "avg_frequency": 2.3333, "avg_monetary": 143.33, "total_monetary": 430.0},
            {"rfm_segment": "Hibernating", "customers": 1, "share": 0.1111, "avg_recency_days": 121.0, "avg_frequency": 1.0, "avg_monetary": 90.0, "total_monetary": 90.0},
            {"rfm_segment": "Potential Loyalist", "customers": 1, "share": 0.1111, "avg_recency_days": 51.0, "avg_frequency": 2.0, "avg_monetary": 70.0, "total_monetary": 70.0},
            {"rfm_segment": "About To Sleep", "customers": 2, "share": 0.2222, "avg_recency_days": 57.5, "avg_frequency": 1.0, "avg_monetary": 30.0, "total_monetary": 60.0},
            {"rfm_segment": "Champions", "customers": 1, "share": 0.1111, "avg_recency_days": 0.0, "avg_frequency": 3.0, "avg_monetary": 60.0, "total_monetary": 60.0},
            {"rfm_segment": "Promising", "customers": 1, "share": 0.1111, "avg_recency_days": 10.0, "avg_frequency": 1.0, "avg_monetary": 25.0, "total_monetary": 25.0},
        ]),
    );
    // After output filters the share is over the customers passing them (5 with min_frequency=2).
    let rows = pipe(
        &app,
        "customer_segmentation_summary",
        &format!("{AS_OF}&min_frequency=2"),
    )
    .await;
    expect_rows(
        "summary min_frequency=2",
        &rows,
        json!([
            {"rfm_segment": "At Risk", "customers": 3, "share": 0.6, "avg_recency_days": 95.6667, "avg_frequency": 2.3333, "avg_monetary": 143.33, "total_monetary": 430.0},
            {"rfm_segment": "Potential Loyalist", "customers": 1, "share": 0.2, "avg_recency_days": 51.0, "avg_frequency": 2.0, "avg_monetary": 70.0, "total_monetary": 70.0},
            {"rfm_segment": "Champions", "customers": 1, "share": 0.2, "avg_recency_days": 0.0, "avg_frequency": 3.0, "avg_monetary": 60.0, "total_monetary": 60.0},
        ]),
    );
    let rows = pipe(
        &app,
        "customer_segmentation_summary",
        &format!("{AS_OF}&segment_filter=Champions"),
    )
    .await;
    expect_rows(
        "summary Champions",
        &rows,
        json!([
            {"rfm_segment": "Champions", "customers": 1, "share": 1.0, "avg_recency_days": 0.0, "avg_frequency": 3.0, "avg_monetary": 60.0, "total_monetary": 60.0},
        ]),
    );
    let rows = pipe(
        &app,
        "customer_segmentation_summary",
        &format!("{AS_OF}&country=US"),
    )
    .await;
    expect_rows(
        "summary US",
        &rows,
        json!([
            {"rfm_segment": "At Risk", "customers": 1, "share": 0.2, "avg_recency_days": 90.0, "avg_frequency": 3.0, "avg_monetary": 240.0, "total_monetary": 240.0},
            {"rfm_segment": "About To Sleep", "customers": 1, "share": 0.2, "avg_recency_days": 76.0, "avg_frequency": 2.0, "avg_monetary": 100.0, "total_monetary": 100.0},
            {"rfm_segment": "Hibernating", "customers": 1, "share": 0.2, "avg_recency_days": 121.0, "avg_frequency": 2.0, "avg_monetary": 90.0, "total_monetary": 90.0},
            {"rfm_segment": "Champions", "customers": 1, "share": 0.2, "avg_recency_days": 0.0, "avg_frequency": 3.0, "avg_monetary": 60.0, "total_monetary": 60.0},
            {"rfm_segment": "Promising", "customers": 1, "share": 0.2, "avg_recency_days": 10.0, "avg_frequency": 1.0, "avg_monetary": 25.0, "total_monetary": 25.0},
        ]),
    );
    let rows = pipe(
        &app,
        "customer_segmentation_summary",
        &format!("{AS_OF}&start_date=2024-04-01%2000:00:00&end_date=2024-06-30%2023:59:59"),
    )
    .await;
    // Hibernating: c11 (1,1), c04 (1,1), c07 (2,1): recency (90+76+59)/3 = 75, monetary 150 → 50;
    // share 3/7 = 0.428571… → 0.4286.
    expect_rows(
        "summary Q2 window",
        &rows,
        json!([
            {"rfm_segment": "Hibernating", "customers": 3, "share": 0.4286, "avg_recency_days": 75.0, "avg_frequency": 1.0, "avg_monetary": 50.0, "total_monetary": 150.0},
            {"rfm_segment": "About To Sleep", "customers": 2, "share": 0.2857, "avg_recency_days": 53.5, "avg_frequency": 1.0, "avg_monetary": 50.0, "total_monetary": 100.0},
            {"rfm_segment": "Champions", "customers": 1, "share": 0.1429, "avg_recency_days": 0.0, "avg_frequency": 2.0, "avg_monetary": 40.0, "total_monetary": 40.0},
            {"rfm_segment": "Promising", "customers": 1, "share": 0.1429, "avg_recency_days": 10.0, "avg_frequency": 1.0, "avg_monetary": 25.0, "total_monetary": 25.0},
        ]),
    );
}

// ─────────────────────────── ltv_influencing_factors ────────────────────────

// Per known customer at 2024-06-30 (x01 is not part of this population):
//   id   ltv  orders gross  interactions  sats     support  primary_channel  top_category  age_band  tenure
//   c01   90  2      150    3             5, 2     1        web (2 of 3)     electronics   25-34     172
//   c02   70  2       80    2             4        1        mobile_app (tie with phone) books  <18   162
//   c03    0  0        0    1             3        0        email            none          unknown   146
//   c04  100  2      100    1             —        0        web              home (70 > 30 toys) 45-54  81
//   c05   90  1       90    0             —        0        none             toys          18-24     137
//   c06   60  3       60    2             5, 4     0        unknown (null/blank) books (tie of 20s with clothing, unknown) 65+ 119
//   c07    0  1      200    1 (07-02 ignored) 1    1        email            electronics (gross) 55-64 60
//   c08    0  0        0    0             —        0        none             none          35-44     41
//   c09   25  1       25    0             —        0        none             unknown (blank) 25-34    15
//   c11  240  3      240    1             4        0        web              home          55-64     238
// Population: 10 customers, net 675, avg_ltv 67.5.
// avg_satisfaction of a group is the mean of all its non-null scores (not of per-customer means).

#[tokio::test]
async fn influencing_factors_default_min_customers_leaves_only_correlations() {
    let app = golden().await;
    // No group reaches the default min_customers = 10 (the largest has 5), and the five
    // correlation rows are always there, ordered by value (their avg_ltv is null).
    // age: 9 customers (c03 unknown); avg_satisfaction: 6 (c01 3.5, c02 4, c03 3, c06 4.5, c07 1, c11 4).
    // Pearson r computed exactly (see the module comment): age 0.24685, interactions 0.19638,
    // support_contacts −0.13476, avg_satisfaction 0.52814, tenure_days 0.73936.
    let rows = pipe(&app, "ltv_influencing_factors", AS_OF).await;
    expect_rows(
        "factors default",
        &rows,
        json!([
            {"factor": "correlation", "value": "age", "customers": 9, "avg_ltv": null, "median_ltv": null, "avg_orders": null, "avg_order_value": null, "avg_interactions": null, "avg_satisfaction": null, "revenue_share": null, "ltv_index": null, "correlation": 0.2468},
            {"factor": "correlation", "value": "avg_satisfaction", "customers": 6, "avg_ltv": null, "median_ltv": null, "avg_orders": null, "avg_order_value": null, "avg_interactions": null, "avg_satisfaction": null, "revenue_share": null, "ltv_index": null, "correlation": 0.5281},
            {"factor": "correlation", "value": "interactions", "customers": 10, "avg_ltv": null, "median_ltv": null, "avg_orders": null, "avg_order_value": null, "avg_interactions": null, "avg_satisfaction": null, "revenue_share": null, "ltv_index": null, "correlation": 0.1964},
            {"factor": "correlation", "value": "support_contacts", "customers": 10, "avg_ltv": null, "median_ltv": null, "avg_orders": null, "avg_order_value": null, "avg_interactions": null, "avg_satisfaction": null, "revenue_share": null, "ltv_index": null, "correlation": -0.1348},
            {"factor": "correlation", "value": "tenure_days", "customers": 10, "avg_ltv": null, "median_ltv": null, "avg_orders": null, "avg_order_value": null, "avg_interactions": null, "avg_satisfaction": null, "revenue_share": null, "ltv_index": null, "correlation": 0.7394},
        ]),
    );
}

#[tokio::test]
async fn influencing_factors_group_every_factor_value() {
    let app = golden().await;
    let rows = pipe(
        &app,
        "ltv_influencing_factors",
        &format!("{AS_OF}&min_customers=1"),
    )
    .await;
    // e.g. acquisition_source=referral (c04 100, c07 0, c11 240): avg 340/3 = 113.33, median 100,
    //   orders 6/3 = 2, aov 540/6 = 90, interactions 3/3 = 1, satisfaction (1+4)/2 = 2.5,
    //   share 340/675 = 0.5037, index 100·113.333/67.5 = 167.9012.
    // ads (c01 c03 c06 c09): median of 0, 25, 60, 90 = 42.5; satisfaction (5+2+3+5+4)/5 = 3.8;
    //   aov 235/6 = 39.1667 → 39.17.
    // gender unknown = c08 (no gender); age_band: 17 → <18, 18 → 18-24, 25 → 25-34, 35 → 35-44,
    //   45 → 45-54, 55 → 55-64, 67 → 65+, null → unknown. Equal avg_ltv → value order
    //   ('35-44' before 'unknown').
    // top_category 'none' (c03, c08) has no purchase: avg_order_value null; satisfaction 3 (c03 only).
    expect_rows(
        "factors min_customers=1",
        &rows,
        json!([
            {"factor": "acquisition_source", "value": "referral", "customers": 3, "avg_ltv": 113.33, "median_ltv": 100.0, "avg_orders": 2.0, "avg_order_value": 90.0, "avg_interactions": 1.0, "avg_satisfaction": 2.5, "revenue_share": 0.5037, "ltv_index": 167.9012, "correlation": null},
            {"factor": "acquisition_source", "value": "organic", "customers": 3, "avg_ltv": 53.33, "median_ltv": 70.0, "avg_orders": 1.0, "avg_order_value": 56.67, "avg_interactions": 0.6667, "avg_satisfaction": 4.0, "revenue_share": 0.237, "ltv_index": 79.0123, "correlation": null},
            {"factor": "acquisition_source", "value": "ads", "customers": 4, "avg_ltv": 43.75, "median_ltv": 42.5, "avg_orders": 1.5, "avg_order_value": 39.17, "avg_interactions": 1.5, "avg_satisfaction": 3.8, "revenue_share": 0.2593, "ltv_index": 64.8148, "correlation": null},
            {"factor": "segment", "value": "premium", "customers": 5, "avg_ltv": 98.0, "median_ltv": 90.0, "avg_orders": 2.0, "avg_order_value": 55.0, "avg_interactions": 1.4, "avg_satisfaction": 4.0, "revenue_share": 0.7259, "ltv_index": 145.1852, "correlation": null},
            {"factor": "segment", "value": "basic", "customers": 5, "avg_ltv": 37.0, "median_ltv": 25.0, "avg_orders": 1.0, "avg_order_value": 79.0, "avg_interactions": 0.8, "avg_satisfaction": 2.6667, "revenue_share": 0.2741, "ltv_index": 54.8148, "correlation": null},
            {"factor": "country", "value": "US", "customers": 5, "avg_ltv": 103.0, "median_ltv": 90.0, "avg_orders": 2.2, "avg_order_value": 52.27, "avg_interactions": 1.4, "avg_satisfaction": 4.0, "revenue_share": 0.763, "ltv_index": 152.5926, "correlation": null},
            {"factor": "country", "value": "FR", "customers": 2, "avg_ltv": 45.0, "median_ltv": 45.0, "avg_orders": 0.5, "avg_order_value": 90.0, "avg_interactions": 0.0, "avg_satisfaction": null, "revenue_share": 0.1333, "ltv_index": 66.6667, "correlation": null},
            {"factor": "country", "value": "DE", "customers": 3, "avg_ltv": 23.33, "median_ltv": 0.0, "avg_orders": 1.0, "avg_order_value": 93.33, "avg_interactions": 1.3333, "avg_satisfaction": 2.6667, "revenue_share": 0.1037, "ltv_index": 34.5679, "correlation": null},
            {"factor": "gender", "value": "M", "customers": 4, "avg_ltv": 117.5, "median_ltv": 85.0, "avg_orders": 2.5, "avg_order_value": 48.0, "avg_interactions": 1.5, "avg_satisfaction": 4.25, "revenue_share": 0.6963, "ltv_index": 174.0741, "correlation": null},
            {"factor": "gender", "value": "F", "customers": 5, "avg_ltv": 41.0, "median_ltv": 25.0, "avg_orders": 1.0, "avg_order_value": 93.0, "avg_interactions": 1.0, "avg_satisfaction": 2.75, "revenue_share": 0.3037, "ltv_index": 60.7407, "correlation": null},
            {"factor": "gender", "value": "unknown", "customers": 1, "avg_ltv": 0.0, "median_ltv": 0.0, "avg_orders": 0.0, "avg_order_value": null, "avg_interactions": 0.0, "avg_satisfaction": null, "revenue_share": 0.0, "ltv_index": 0.0, "correlation": null},
            {"factor": "age_band", "value": "55-64", "customers": 2, "avg_ltv": 120.0, "median_ltv": 120.0, "avg_orders": 2.0, "avg_order_value": 110.0, "avg_interactions": 1.0, "avg_satisfaction": 2.5, "revenue_share": 0.3556, "ltv_index": 177.7778, "correlation": null},
            {"factor": "age_band", "value": "45-54", "customers": 1, "avg_ltv": 100.0, "median_ltv": 100.0, "avg_orders": 2.0, "avg_order_value": 50.0, "avg_interactions": 1.0, "avg_satisfaction": null, "revenue_share": 0.1481, "ltv_index": 148.1481, "correlation": null},
            {"factor": "age_band", "value": "18-24", "customers": 1, "avg_ltv": 90.0, "median_ltv": 90.0, "avg_orders": 1.0, "avg_order_value": 90.0, "avg_interactions": 0.0, "avg_satisfaction": null, "revenue_share": 0.1333, "ltv_index": 133.3333, "correlation": null},
            {"factor": "age_band", "value": "<18", "customers": 1, "avg_ltv": 70.0, "median_ltv": 70.0, "avg_orders": 2.0, "avg_order_value": 40.0, "avg_interactions": 2.0, "avg_satisfaction": 4.0, "revenue_share": 0.1037, "ltv_index": 103.7037, "correlation": null},
            {"factor": "age_band", "value": "65+", "customers": 1, "avg_ltv": 60.0, "median_ltv": 60.0, "avg_orders": 3.0, "avg_order_value": 20.0, "avg_interactions": 2.0, "avg_satisfaction": 4.5, "revenue_share": 0.0889, "ltv_index": 88.8889, "correlation": null},
            {"factor": "age_band", "value": "25-34", "customers": 2, "avg_ltv": 57.5, "median_ltv": 57.5, "avg_orders": 1.5, "avg_order_value": 58.33, "avg_interactions": 1.5, "avg_satisfaction": 3.5, "revenue_share": 0.1704, "ltv_index": 85.1852, "correlation": null},
            {"factor": "age_band", "value": "35-44", "customers": 1, "avg_ltv": 0.0, "median_ltv": 0.0, "avg_orders": 0.0, "avg_order_value": null, "avg_interactions": 0.0, "avg_satisfaction": null, "revenue_share": 0.0, "ltv_index": 0.0, "correlation": null},
            {"factor": "age_band", "value": "unknown", "customers": 1, "avg_ltv": 0.0, "median_ltv": 0.0, "avg_orders": 0.0, "avg_order_value": null, "avg_interactions": 1.0, "avg_satisfaction": 3.0, "revenue_share": 0.0, "ltv_index": 0.0, "correlation": null},
            {"factor": "primary_channel", "value": "web", "customers": 3, "avg_ltv": 143.33, "median_ltv": 100.0, "avg_orders": 2.3333, "avg_order_value": 70.0, "avg_interactions": 1.6667, "avg_satisfaction": 3.6667, "revenue_share": 0.637, "ltv_index": 212.3457, "correlation": null},
            {"factor": "primary_channel", "value": "mobile_app", "customers": 1, "avg_ltv": 70.0, "median_ltv": 70.0, "avg_orders": 2.0, "avg_order_value": 40.0, "avg_interactions": 2.0, "avg_satisfaction": 4.0, "revenue_share": 0.1037, "ltv_index": 103.7037, "correlation": null},
            {"factor": "primary_channel", "value": "unknown", "customers": 1, "avg_ltv": 60.0, "median_ltv": 60.0, "avg_orders": 3.0, "avg_order_value": 20.0, "avg_interactions": 2.0, "avg_satisfaction": 4.5, "revenue_share": 0.0889, "ltv_index": 88.8889, "correlation": null},
            {"factor": "primary_channel", "value": "none", "customers": 3, "avg_ltv": 38.33, "median_ltv": 25.0, "avg_orders": 0.6667, "avg_order_value": 57.5, "avg_interactions": 0.0, "avg_satisfaction": null, "revenue_share": 0.1704, "ltv_index": 56.7901, "correlation": null},
            {"factor": "primary_channel", "value": "email", "customers": 2, "avg_ltv": 0.0, "median_ltv": 0.0, "avg_orders": 0.5, "avg_order_value": 200.0, "avg_interactions": 1.0, "avg_satisfaction": 2.0, "revenue_share": 0.0, "ltv_index": 0.0, "correlation": null},
            {"factor": "top_category", "value": "home", "customers": 2, "avg_ltv": 170.0, "median_ltv": 170.0, "avg_orders": 2.5, "avg_order_value": 68.0, "avg_interactions": 1.0, "avg_satisfaction": 4.0, "revenue_share": 0.5037, "ltv_index": 251.8519, "correlation": null},
            {"factor": "top_category", "value": "toys", "customers": 1, "avg_ltv": 90.0, "median_ltv": 90.0, "avg_orders": 1.0, "avg_order_value": 90.0, "avg_interactions": 0.0, "avg_satisfaction": null, "revenue_share": 0.1333, "ltv_index": 133.3333, "correlation": null},
            {"factor": "top_category", "value": "books", "customers": 2, "avg_ltv": 65.0, "median_ltv": 65.0, "avg_orders": 2.5, "avg_order_value": 28.0, "avg_interactions": 2.0, "avg_satisfaction": 4.3333, "revenue_share": 0.1926, "ltv_index": 96.2963, "correlation": null},
            {"factor": "top_category", "value": "electronics", "customers": 2, "avg_ltv": 45.0, "median_ltv": 45.0, "avg_orders": 1.5, "avg_order_value": 116.67, "avg_interactions": 2.0, "avg_satisfaction": 2.6667, "revenue_share": 0.1333, "ltv_index": 66.6667, "correlation": null},
            {"factor": "top_category", "value": "unknown", "customers": 1, "avg_ltv": 25.0, "median_ltv": 25.0, "avg_orders": 1.0, "avg_order_value": 25.0, "avg_interactions": 0.0, "avg_satisfaction": null, "revenue_share": 0.037, "ltv_index": 37.037, "correlation": null},
            {"factor": "top_category", "value": "none", "customers": 2, "avg_ltv": 0.0, "median_ltv": 0.0, "avg_orders": 0.0, "avg_order_value": null, "avg_interactions": 0.5, "avg_satisfaction": 3.0, "revenue_share": 0.0, "ltv_index": 0.0, "correlation": null},
            {"factor": "correlation", "value": "age", "customers": 9, "avg_ltv": null, "median_ltv": null, "avg_orders": null, "avg_order_value": null, "avg_interactions": null, "avg_satisfaction": null, "revenue_share": null, "ltv_index": null, "correlation": 0.2468},
            {"factor": "correlation", "value": "avg_satisfaction", "customers": 6, "avg_ltv": null, "median_ltv": null, "avg_orders": null, "avg_order_value": null, "avg_interactions": null, "avg_satisfaction": null, "revenue_share": null, "ltv_index": null, "correlation": 0.5281},
            {"factor": "correlation", "value": "interactions", "customers": 10, "avg_ltv": null, "median_ltv": null, "avg_orders": null, "avg_order_value": null, "avg_interactions": null, "avg_satisfaction": null, "revenue_share": null, "ltv_index": null, "correlation": 0.1964},
            {"factor": "correlation", "value": "support_contacts", "customers": 10, "avg_ltv": null, "median_ltv": null, "avg_orders": null, "avg_order_value": null, "avg_interactions": null, "avg_satisfaction": null, "revenue_share": null, "ltv_index": null, "correlation": -0.1348},
            {"factor": "correlation", "value": "tenure_days", "customers": 10, "avg_ltv": null, "median_ltv": null, "avg_orders": null, "avg_order_value": null, "avg_interactions": null, "avg_satisfaction": null, "revenue_share": null, "ltv_index": null, "correlation": 0.7394},
        ]),
    );
}

#[tokio::test]
async fn min_customers_leaves_out_small_groups() {
    let app = golden().await;
    let rows = pipe(
        &app,
        "ltv_influencing_factors",
        &format!("{AS_OF}&min_customers=2"),
    )
    .await;
    let got: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{}={}",
                r["factor"].as_str().unwrap(),
                r["value"].as_str().unwrap()
            )
        })
        .collect();
    let exp: Vec<String> = json!([
        {"k": "acquisition_source=referral"},
        {"k": "acquisition_source=organic"},
        {"k": "acquisition_source=ads"},
        {"k": "segment=premium"},
        {"k": "segment=basic"},
        {"k": "country=US"},
        {"k": "country=FR"},
        {"k": "country=DE"},
        {"k": "gender=M"},
        {"k": "gender=F"},
        {"k": "age_band=55-64"},
        {"k": "age_band=25-34"},
        {"k": "primary_channel=web"},
        {"k": "primary_channel=none"},
        {"k": "primary_channel=email"},
        {"k": "top_category=home"},
        {"k": "top_category=books"},
        {"k": "top_category=electronics"},
        {"k": "top_category=none"},
        {"k": "correlation=age"},
        {"k": "correlation=avg_satisfaction"},
        {"k": "correlation=interactions"},
        {"k": "correlation=support_contacts"},
        {"k": "correlation=tenure_days"},
    ])
    .as_array()
    .unwrap()
    .iter()
    .map(|r| r["k"].as_str().unwrap().to_string())
    .collect();
    assert_eq!(got, exp);
}

#[tokio::test]
async fn factor_selects_one_factor() {
    let app = golden().await;
    let rows = pipe(
        &app,
        "ltv_influencing_factors",
        &format!("{AS_OF}&factor=primary_channel&min_customers=1"),
    )
    .await;
    // web: c01, c04, c11 → 430/3 = 143.33; median 100; interactions 5/3 = 1.6667;
    //   satisfaction (5+2+4)/3 = 3.6667. unknown = c06 (both channels null/blank).
    //   c02's phone/mobile_app tie goes to mobile_app.
    expect_rows(
        "factors primary_channel",
        &rows,
        json!([
            {"factor": "primary_channel", "value": "web", "customers": 3, "avg_ltv": 143.33, "median_ltv": 100.0, "avg_orders": 2.3333, "avg_order_value": 70.0, "avg_interactions": 1.6667, "avg_satisfaction": 3.6667, "revenue_share": 0.637, "ltv_index": 212.3457, "correlation": null},
            {"factor": "primary_channel", "value": "mobile_app", "customers": 1, "avg_ltv": 70.0, "median_ltv": 70.0, "avg_orders": 2.0, "avg_order_value": 40.0, "avg_interactions": 2.0, "avg_satisfaction": 4.0, "revenue_share": 0.1037, "ltv_index": 103.7037, "correlation": null},
            {"factor": "primary_channel", "value": "unknown", "customers": 1, "avg_ltv": 60.0, "median_ltv": 60.0, "avg_orders": 3.0, "avg_order_value": 20.0, "avg_interactions": 2.0, "avg_satisfaction": 4.5, "revenue_share": 0.0889, "ltv_index": 88.8889, "correlation": null},
            {"factor": "primary_channel", "value": "none", "customers": 3, "avg_ltv": 38.33, "median_ltv": 25.0, "avg_orders": 0.6667, "avg_order_value": 57.5, "avg_interactions": 0.0, "avg_satisfaction": null, "revenue_share": 0.1704, "ltv_index": 56.7901, "correlation": null},
            {"factor": "primary_channel", "value": "email", "customers": 2, "avg_ltv": 0.0, "median_ltv": 0.0, "avg_orders": 0.5, "avg_order_value": 200.0, "avg_interactions": 1.0, "avg_satisfaction": 2.0, "revenue_share": 0.0, "ltv_index": 0.0, "correlation": null},
        ]),
    );
    let rows = pipe(
        &app,
        "ltv_influencing_factors",
        &format!("{AS_OF}&factor=top_category&min_customers=1"),
    )
    .await;
    // home: c04 (home 70 beats toys 30; the electronics 500 is after as_of), c11 → 170;
    // books: c02 and c06 (20 clothing, 20 books, 20 unknown: alphabetical → books);
    // electronics: c01 (gross 100 beats books 50 although 60 of it was refunded), c07.
    expect_rows(
        "factors top_category",
        &rows,
        json!([
            {"factor": "top_category", "value": "home", "customers": 2, "avg_ltv": 170.0, "median_ltv": 170.0, "avg_orders": 2.5, "avg_order_value": 68.0, "avg_interactions": 1.0, "avg_satisfaction": 4.0, "revenue_share": 0.5037, "ltv_index": 251.8519, "correlation": null},
            {"factor": "top_category", "value": "toys", "customers": 1, "avg_ltv": 90.0, "median_ltv": 90.0, "avg_orders": 1.0, "avg_order_value": 90.0, "avg_interactions": 0.0, "avg_satisfaction": null, "revenue_share": 0.1333, "ltv_index": 133.3333, "correlation": null},
            {"factor": "top_category", "value": "books", "customers": 2, "avg_ltv": 65.0, "median_ltv": 65.0, "avg_orders": 2.5, "avg_order_value": 28.0, "avg_interactions": 2.0, "avg_satisfaction": 4.3333, "revenue_share": 0.1926, "ltv_index": 96.2963, "correlation": null},
            {"factor": "top_category", "value": "electronics", "customers": 2, "avg_ltv": 45.0, "median_ltv": 45.0, "avg_orders": 1.5, "avg_order_value": 116.67, "avg_interactions": 2.0, "avg_satisfaction": 2.6667, "revenue_share": 0.1333, "ltv_index": 66.6667, "correlation": null},
            {"factor": "top_category", "value": "unknown", "customers": 1, "avg_ltv": 25.0, "median_ltv": 25.0, "avg_orders": 1.0, "avg_order_value": 25.0, "avg_interactions": 0.0, "avg_satisfaction": null, "revenue_share": 0.037, "ltv_index": 37.037, "correlation": null},
            {"factor": "top_category", "value": "none", "customers": 2, "avg_ltv": 0.0, "median_ltv": 0.0, "avg_orders": 0.0, "avg_order_value": null, "avg_interactions": 0.5, "avg_satisfaction": 3.0, "revenue_share": 0.0, "ltv_index": 0.0, "correlation": null},
        ]),
    );
    let rows = pipe(
        &app,
        "ltv_influencing_factors",
        &format!("{AS_OF}&factor=correlation&min_customers=1"),
    )
    .await;
    expect_rows(
        "factors correlation",
        &rows,
        json!([
            {"factor": "correlation", "value": "age", "customers": 9, "avg_ltv": null, "median_ltv": null, "avg_orders": null, "avg_order_value": null, "avg_interactions": null, "avg_satisfaction": null, "revenue_share": null, "ltv_index": null, "correlation": 0.2468},
            {"factor": "correlation", "value": "avg_satisfaction", "customers": 6, "avg_ltv": null, "median_ltv": null, "avg_orders": null, "avg_order_value": null, "avg_interactions": null, "avg_satisfaction": null, "revenue_share": null, "ltv_index": null, "correlation": 0.5281},
            {"factor": "correlation", "value": "interactions", "customers": 10, "avg_ltv": null, "median_ltv": null, "avg_orders": null, "avg_order_value": null, "avg_interactions": null, "avg_satisfaction": null, "revenue_share": null, "ltv_index": null, "correlation": 0.1964},
            {"factor": "correlation", "value": "support_contacts", "customers": 10, "avg_ltv": null, "median_ltv": null, "avg_orders": null, "avg_order_value": null, "avg_interactions": null, "avg_satisfaction": null, "revenue_share": null, "ltv_index": null, "correlation": -0.1348},
            {"factor": "correlation", "value": "tenure_days", "customers": 10, "avg_ltv": null, "median_ltv": null, "avg_orders": null, "avg_order_value": null, "avg_interactions": null, "avg_satisfaction": null, "revenue_share": null, "ltv_index": null, "correlation": 0.7394},
        ]),
    );
}

#[tokio::test]
async fn influencing_factors_with_a_country_filter() {
    let app = golden().await;
    let rows = pipe(
        &app,
        "ltv_influencing_factors",
        &format!("{AS_OF}&country=US&min_customers=1"),
    )
    .await;
    // Population: c01, c04, c06, c09, c11: net 515, avg 103.
    // segment=premium (c01 c04 c06 c11): 490/4 = 122.5, median (90+100)/2 = 95, share 490/515 = 0.9515,
    //   index 100·122.5/103 = 118.932.
    expect_rows(
        "factors US",
        &rows,
        json!([
            {"factor": "acquisition_source", "value": "referral", "customers": 2, "avg_ltv": 170.0, "median_ltv": 170.0, "avg_orders": 2.5, "avg_order_value": 68.0, "avg_interactions": 1.0, "avg_satisfaction": 4.0, "revenue_share": 0.6602, "ltv_index": 165.0485, "correlation": null},
            {"factor": "acquisition_source", "value": "ads", "customers": 3, "avg_ltv": 58.33, "median_ltv": 60.0, "avg_orders": 2.0, "avg_order_value": 39.17, "avg_interactions": 1.6667, "avg_satisfaction": 4.0, "revenue_share": 0.3398, "ltv_index": 56.6343, "correlation": null},
            {"factor": "segment", "value": "premium", "customers": 4, "avg_ltv": 122.5, "median_ltv": 95.0, "avg_orders": 2.5, "avg_order_value": 55.0, "avg_interactions": 1.75, "avg_satisfaction": 4.0, "revenue_share": 0.9515, "ltv_index": 118.932, "correlation": null},
            {"factor": "segment", "value": "basic", "customers": 1, "avg_ltv": 25.0, "median_ltv": 25.0, "avg_orders": 1.0, "avg_order_value": 25.0, "avg_interactions": 0.0, "avg_satisfaction": null, "revenue_share": 0.0485, "ltv_index": 24.2718, "correlation": null},
            {"factor": "country", "value": "US", "customers": 5, "avg_ltv": 103.0, "median_ltv": 90.0, "avg_orders": 2.2, "avg_order_value": 52.27, "avg_interactions": 1.4, "avg_satisfaction": 4.0, "revenue_share": 1.0, "ltv_index": 100.0, "correlation": null},
            {"factor": "gender", "value": "M", "customers": 3, "avg_ltv": 133.33, "median_ltv": 100.0, "avg_orders": 2.6667, "avg_order_value": 50.0, "avg_interactions": 1.3333, "avg_satisfaction": 4.3333, "revenue_share": 0.7767, "ltv_index": 129.4498, "correlation": null},
            {"factor": "gender", "value": "F", "customers": 2, "avg_ltv": 57.5, "median_ltv": 57.5, "avg_orders": 1.5, "avg_order_value": 58.33, "avg_interactions": 1.5, "avg_satisfaction": 3.5, "revenue_share": 0.2233, "ltv_index": 55.8252, "correlation": null},
            {"factor": "age_band", "value": "55-64", "customers": 1, "avg_ltv": 240.0, "median_ltv": 240.0, "avg_orders": 3.0, "avg_order_value": 80.0, "avg_interactions": 1.0, "avg_satisfaction": 4.0, "revenue_share": 0.466, "ltv_index": 233.0097, "correlation": null},
            {"factor": "age_band", "value": "45-54", "customers": 1, "avg_ltv": 100.0, "median_ltv": 100.0, "avg_orders": 2.0, "avg_order_value": 50.0, "avg_interactions": 1.0, "avg_satisfaction": null, "revenue_share": 0.1942, "ltv_index": 97.0874, "correlation": null},
            {"factor": "age_band", "value": "65+", "customers": 1, "avg_ltv": 60.0, "median_ltv": 60.0, "avg_orders": 3.0, "avg_order_value": 20.0, "avg_interactions": 2.0, "avg_satisfaction": 4.5, "revenue_share": 0.1165, "ltv_index": 58.2524, "correlation": null},
            {"factor": "age_band", "value": "25-34", "customers": 2, "avg_ltv": 57.5, "median_ltv": 57.5, "avg_orders": 1.5, "avg_order_value": 58.33, "avg_interactions": 1.5, "avg_satisfaction": 3.5, "revenue_share": 0.2233, "ltv_index": 55.8252, "correlation": null},
            {"factor": "primary_channel", "value": "web", "customers": 3, "avg_ltv": 143.33, "median_ltv": 100.0, "avg_orders": 2.3333, "avg_order_value": 70.0, "avg_interactions": 1.6667, "avg_satisfaction": 3.6667, "revenue_share": 0.835, "ltv_index": 139.1586, "correlation": null},
            {"factor": "primary_channel", "value": "unknown", "customers": 1, "avg_ltv": 60.0, "median_ltv": 60.0, "avg_orders": 3.0, "avg_order_value": 20.0, "avg_interactions": 2.0, "avg_satisfaction": 4.5, "revenue_share": 0.1165, "ltv_index": 58.2524, "correlation": null},
            {"factor": "primary_channel", "value": "none", "customers": 1, "avg_ltv": 25.0, "median_ltv": 25.0, "avg_orders": 1.0, "avg_order_value": 25.0, "avg_interactions": 0.0, "avg_satisfaction": null, "revenue_share": 0.0485, "ltv_index": 24.2718, "correlation": null},
            {"factor": "top_category", "value": "home", "customers": 2, "avg_ltv": 170.0, "median_ltv": 170.0, "avg_orders": 2.5, "avg_order_value": 68.0, "avg_interactions": 1.0, "avg_satisfaction": 4.0, "revenue_share": 0.6602, "ltv_index": 165.0485, "correlation": null},
            {"factor": "top_category", "value": "electronics", "customers": 1, "avg_ltv": 90.0, "median_ltv": 90.0, "avg_orders": 2.0, "avg_order_value": 75.0, "avg_interactions": 3.0, "avg_satisfaction": 3.5, "revenue_share": 0.1748, "ltv_index": 87.3786, "correlation": null},
            {"factor": "top_category", "value": "books", "customers": 1, "avg_ltv": 60.0, "median_ltv": 60.0, "avg_orders": 3.0, "avg_order_value": 20.0, "avg_interactions": 2.0, "avg_satisfaction": 4.5, "revenue_share": 0.1165, "ltv_index": 58.2524, "correlation": null},
            {"factor": "top_category", "value": "unknown", "customers": 1, "avg_ltv": 25.0, "median_ltv": 25.0, "avg_orders": 1.0, "avg_order_value": 25.0, "avg_interactions": 0.0, "avg_satisfaction": null, "revenue_share": 0.0485, "ltv_index": 24.2718, "correlation": null},
            {"factor": "correlation", "value": "age", "customers": 5, "avg_ltv": null, "median_ltv": null, "avg_orders": null, "avg_order_value": null, "avg_interactions": null, "avg_satisfaction": null, "revenue_share": null, "ltv_index": null, "correlation": 0.4784},
            {"factor": "correlation", "value": "avg_satisfaction", "customers": 3, "avg_ltv": null, "median_ltv": null, "avg_orders": null, "avg_order_value": null, "avg_interactions": null, "avg_satisfaction": null, "revenue_share": null, "ltv_index": null, "correlation": -0.1555},
            {"factor": "correlation", "value": "interactions", "customers": 5, "avg_ltv": null, "median_ltv": null, "avg_orders": null, "avg_order_value": null, "avg_interactions": null, "avg_satisfaction": null, "revenue_share": null, "ltv_index": null, "correlation": 0.0241},
            {"factor": "correlation", "value": "support_contacts", "customers": 5, "avg_ltv": null, "median_ltv": null, "avg_orders": null, "avg_order_value": null, "avg_interactions": null, "avg_satisfaction": null, "revenue_share": null, "ltv_index": null, "correlation": -0.0887},
            {"factor": "correlation", "value": "tenure_days", "customers": 5, "avg_ltv": null, "median_ltv": null, "avg_orders": null, "avg_order_value": null, "avg_interactions": null, "avg_satisfaction": null, "revenue_share": null, "ltv_index": null, "correlation": 0.8531},
        ]),
    );
}

#[tokio::test]
async fn correlations_are_null_without_variance_and_always_present() {
    let app = golden().await;
    let rows = pipe(
        &app,
        "ltv_influencing_factors",
        &format!("{AS_OF}&country=FR&min_customers=1"),
    )
    .await;
    // FR = c05 (ltv 90, age 18, tenure 137) and c08 (ltv 0, age 35, tenure 41), no interactions:
    // age r = −1 and tenure r = +1 exactly (two points); interactions and support contacts have
    // zero variance → null (customers 2); no satisfaction score → customers 0, null.
    // Groups: the population's avg_ltv is 45, so FR's ltv_index is 100 and revenue_share 1.
    expect_rows(
        "factors FR",
        &rows,
        json!([
            {"factor": "acquisition_source", "value": "organic", "customers": 2, "avg_ltv": 45.0, "median_ltv": 45.0, "avg_orders": 0.5, "avg_order_value": 90.0, "avg_interactions": 0.0, "avg_satisfaction": null, "revenue_share": 1.0, "ltv_index": 100.0, "correlation": null},
            {"factor": "segment", "value": "basic", "customers": 1, "avg_ltv": 90.0, "median_ltv": 90.0, "avg_orders": 1.0, "avg_order_value": 90.0, "avg_interactions": 0.0, "avg_satisfaction": null, "revenue_share": 1.0, "ltv_index": 200.0, "correlation": null},
            {"factor": "segment", "value": "premium", "customers": 1, "avg_ltv": 0.0, "median_ltv": 0.0, "avg_orders": 0.0, "avg_order_value": null, "avg_interactions": 0.0, "avg_satisfaction": null, "revenue_share": 0.0, "ltv_index": 0.0, "correlation": null},
            {"factor": "country", "value": "FR", "customers": 2, "avg_ltv": 45.0, "median_ltv": 45.0, "avg_orders": 0.5, "avg_order_value": 90.0, "avg_interactions": 0.0, "avg_satisfaction": null, "revenue_share": 1.0, "ltv_index": 100.0, "correlation": null},
            {"factor": "gender", "value": "F", "customers": 1, "avg_ltv": 90.0, "median_ltv": 90.0, "avg_orders": 1.0, "avg_order_value": 90.0, "avg_interactions": 0.0, "avg_satisfaction": null, "revenue_share": 1.0, "ltv_index": 200.0, "correlation": null},
            {"factor": "gender", "value": "unknown", "customers": 1, "avg_ltv": 0.0, "median_ltv": 0.0, "avg_orders": 0.0, "avg_order_value": null, "avg_interactions": 0.0, "avg_satisfaction": null, "revenue_share": 0.0, "ltv_index": 0.0, "correlation": null},
            {"factor": "age_band", "value": "18-24", "customers": 1, "avg_ltv": 90.0, "median_ltv": 90.0, "avg_orders": 1.0, "avg_order_value": 90.0, "avg_interactions": 0.0, "avg_satisfaction": null, "revenue_share": 1.0, "ltv_index": 200.0, "correlation": null},
            {"factor": "age_band", "value": "35-44", "customers": 1, "avg_ltv": 0.0, "median_ltv": 0.0, "avg_orders": 0.0, "avg_order_value": null, "avg_interactions": 0.0, "avg_satisfaction": null, "revenue_share": 0.0, "ltv_index": 0.0, "correlation": null},
            {"factor": "primary_channel", "value": "none", "customers": 2, "avg_ltv": 45.0, "median_ltv": 45.0, "avg_orders": 0.5, "avg_order_value": 90.0, "avg_interactions": 0.0, "avg_satisfaction": null, "revenue_share": 1.0, "ltv_index": 100.0, "correlation": null},
            {"factor": "top_category", "value": "toys", "customers": 1, "avg_ltv": 90.0, "median_ltv": 90.0, "avg_orders": 1.0, "avg_order_value": 90.0, "avg_interactions": 0.0, "avg_satisfaction": null, "revenue_share": 1.0, "ltv_index": 200.0, "correlation": null},
            {"factor": "top_category", "value": "none", "customers": 1, "avg_ltv": 0.0, "median_ltv": 0.0, "avg_orders": 0.0, "avg_order_value": null, "avg_interactions": 0.0, "avg_satisfaction": null, "revenue_share": 0.0, "ltv_index": 0.0, "correlation": null},
            {"factor": "correlation", "value": "age", "customers": 2, "avg_ltv": null, "median_ltv": null, "avg_orders": null, "avg_order_value": null, "avg_interactions": null, "avg_satisfaction": null, "revenue_share": null, "ltv_index": null, "correlation": -1.0},
            {"factor": "correlation", "value": "avg_satisfaction", "customers": 0, "avg_ltv": null, "median_ltv": null, "avg_orders": null, "avg_order_value": null, "avg_interactions": null, "avg_satisfaction": null, "revenue_share": null, "ltv_index": null, "correlation": null},
            {"factor": "correlation", "value": "interactions", "customers": 2, "avg_ltv": null, "median_ltv": null, "avg_orders": null, "avg_order_value": null, "avg_interactions": null, "avg_satisfaction": null, "revenue_share": null, "ltv_index": null, "correlation": null},
            {"factor": "correlation", "value": "support_contacts", "customers": 2, "avg_ltv": null, "median_ltv": null, "avg_orders": null, "avg_order_value": null, "avg_interactions": null, "avg_satisfaction": null, "revenue_share": null, "ltv_index": null, "correlation": null},
            {"factor": "correlation", "value": "tenure_days", "customers": 2, "avg_ltv": null, "median_ltv": null, "avg_orders": null, "avg_order_value": null, "avg_interactions": null, "avg_satisfaction": null, "revenue_share": null, "ltv_index": null, "correlation": 1.0},
        ]),
    );
}

#[tokio::test]
async fn registration_bounds_filter_cohorts_and_factors() {
    let app = golden().await;
    let range = "start_date=2024-02-01%2000:00:00&end_date=2024-04-10%2000:00:00";
    // Registered in [2024-02-01, 2024-04-10 00:00:00]: c03, c05 (Feb), c06 (Mar), c04 (exactly the end).
    let rows = pipe(&app, "ltv_by_cohort", &format!("{AS_OF}&{range}")).await;
    expect_rows(
        "ltv_by_cohort registration range",
        &rows,
        json!([
            {"cohort": "2024-02-01", "cohort_size": 2, "paying_customers": 1, "total_orders": 1, "gross_revenue": 90.0, "total_revenue": 90.0, "avg_ltv": 45.0, "avg_ltv_paying": 90.0, "avg_orders_per_customer": 0.5, "avg_order_value": 90.0},
            {"cohort": "2024-03-01", "cohort_size": 1, "paying_customers": 1, "total_orders": 3, "gross_revenue": 60.0, "total_revenue": 60.0, "avg_ltv": 60.0, "avg_ltv_paying": 60.0, "avg_orders_per_customer": 3.0, "avg_order_value": 20.0},
            {"cohort": "2024-04-01", "cohort_size": 1, "paying_customers": 1, "total_orders": 2, "gross_revenue": 100.0, "total_revenue": 100.0, "avg_ltv": 100.0, "avg_ltv_paying": 100.0, "avg_orders_per_customer": 2.0, "avg_order_value": 50.0},
        ]),
    );
    // segment: premium = c04 (100), c06 (60) → 80, orders 5/2 = 2.5, aov 160/5 = 32, interactions 3/2,
    // satisfaction (5+4)/2 = 4.5 (c04's only score is null), share 160/250 = 0.64, index 128;
    // basic = c03 (0), c05 (90) → 45, satisfaction 3.
    let rows = pipe(
        &app,
        "ltv_influencing_factors",
        &format!("{AS_OF}&{range}&factor=segment&min_customers=1"),
    )
    .await;
    expect_rows(
        "factors registration range",
        &rows,
        json!([
            {"factor": "segment", "value": "premium", "customers": 2, "avg_ltv": 80.0, "median_ltv": 80.0, "avg_orders": 2.5, "avg_order_value": 32.0, "avg_interactions": 1.5, "avg_satisfaction": 4.5, "revenue_share": 0.64, "ltv_index": 128.0, "correlation": null},
            {"factor": "segment", "value": "basic", "customers": 2, "avg_ltv": 45.0, "median_ltv": 45.0, "avg_orders": 0.5, "avg_order_value": 90.0, "avg_interactions": 0.5, "avg_satisfaction": 3.0, "revenue_share": 0.36, "ltv_index": 72.0, "correlation": null},
        ]),
    );
}

// ──────────────────────────────── ltv_overview ──────────────────────────────

#[tokio::test]
async fn overview_sums_up_known_and_transaction_only_customers() {
    let app = golden().await;
    let rows = pipe(&app, "ltv_overview", AS_OF).await;
    // 11 customers (10 known + x01), paying 9 (not c03, c08), active 8 (not c03, c06; x01 null).
    // total 240+100+90+90+70+60+60+25 = 735 → avg 66.8181… → 66.82;
    // median of 0,0,0,25,60,60,70,90,90,100,240 = 60; orders 16/11 = 1.4545;
    // aov 1005/16 = 62.8125 → 62.81; refund_rate 270/1005 = 0.26866 → 0.2687;
    // top ceil(1.1) = 2 customers: (240+100)/735 = 0.46259 → 0.4626.
    expect_rows(
        "overview default",
        &rows,
        json!([
            {"customers": 11, "paying_customers": 9, "active_customers": 8, "total_revenue": 735.0, "avg_ltv": 66.82, "median_ltv": 60.0, "avg_orders": 1.4545, "avg_order_value": 62.81, "refund_rate": 0.2687, "top_10pct_revenue_share": 0.4626},
        ]),
    );
    let rows = pipe(&app, "ltv_overview", &format!("{AS_OF}&country=US")).await;
    // US: c01 90, c04 100, c06 60, c09 25, c11 240 = 515; median 90; orders 11/5 = 2.2;
    // aov 575/11 = 52.2727 → 52.27; refund 60/575 = 0.10435 → 0.1043; top 1: 240/515 = 0.46602 → 0.466.
    expect_rows(
        "overview US",
        &rows,
        json!([
            {"customers": 5, "paying_customers": 5, "active_customers": 4, "total_revenue": 515.0, "avg_ltv": 103.0, "median_ltv": 90.0, "avg_orders": 2.2, "avg_order_value": 52.27, "refund_rate": 0.1043, "top_10pct_revenue_share": 0.466},
        ]),
    );
    let rows = pipe(
        &app,
        "ltv_overview",
        &format!("{AS_OF}&segment=premium&acquisition_source=organic"),
    )
    .await;
    // Only c08: no purchase → avg_order_value, refund_rate and top share divide by zero → null.
    expect_rows(
        "overview premium organic",
        &rows,
        json!([
            {"customers": 1, "paying_customers": 0, "active_customers": 1, "total_revenue": 0.0, "avg_ltv": 0.0, "median_ltv": 0.0, "avg_orders": 0.0, "avg_order_value": null, "refund_rate": null, "top_10pct_revenue_share": null},
        ]),
    );
}

#[tokio::test]
async fn overview_of_nobody_is_one_row_of_zero_customers() {
    let app = golden().await;
    let rows = pipe(&app, "ltv_overview", &format!("{AS_OF}&country=ZZ")).await;
    // Averages over no customer divide by zero → null.
    expect_rows(
        "overview of nobody",
        &rows,
        json!([{"customers": 0, "paying_customers": 0, "active_customers": 0, "avg_ltv": null, "median_ltv": null, "avg_orders": null, "avg_order_value": null, "refund_rate": null, "top_10pct_revenue_share": null}]),
    );
}

#[tokio::test]
async fn factor_rows_are_ordered_by_the_exact_average() {
    let app = TestApp::spawn().await;
    let customers = [
        r#"{"customer_id":"z1","registration_date":"2024-01-01","country":"ZZ"}"#,
        r#"{"customer_id":"z2","registration_date":"2024-01-01","country":"ZZ"}"#,
        r#"{"customer_id":"z3","registration_date":"2024-01-01","country":"ZZ"}"#,
        r#"{"customer_id":"a1","registration_date":"2024-01-01","country":"AA"}"#,
    ];
    let tx = [
        r#"{"transaction_id":"v1","customer_id":"z1","transaction_date":"2024-02-01","amount":10.00}"#,
        r#"{"transaction_id":"v2","customer_id":"z2","transaction_date":"2024-02-01","amount":10.00}"#,
        r#"{"transaction_id":"v3","customer_id":"z3","transaction_date":"2024-02-01","amount":10.01}"#,
        r#"{"transaction_id":"v4","customer_id":"a1","transaction_date":"2024-02-01","amount":10.00}"#,
    ];
    assert!(app
        .post_events("customers", customers.join("\n"))
        .await
        .0
        .is_success());
    assert!(app
        .post_events("transactions", tx.join("\n"))
        .await
        .0
        .is_success());
    let rows = pipe(
        &app,
        "ltv_influencing_factors",
        &format!("{AS_OF}&factor=country&min_customers=1"),
    )
    .await;
    // ZZ: 30.01/3 = 10.00333… (shown 10.0) ranks above AA: 10.00 (also 10.0) although 'AA' < 'ZZ'.
    // Population 40.01/4 = 10.0025: ZZ share 30.01/40.01 = 0.75006 → 0.7501, index 100.0083;
    // AA share 0.24994 → 0.2499, index 99.97501 → 99.975.
    expect_rows(
        "factors exact order",
        &rows,
        json!([
            {"factor": "country", "value": "ZZ", "customers": 3, "avg_ltv": 10.0, "median_ltv": 10.0, "avg_order_value": 10.0, "revenue_share": 0.7501, "ltv_index": 100.0083},
            {"factor": "country", "value": "AA", "customers": 1, "avg_ltv": 10.0, "median_ltv": 10.0, "avg_order_value": 10.0, "revenue_share": 0.2499, "ltv_index": 99.975},
        ]),
    );
}

// ─────────────────────────────── contract shape ─────────────────────────────

#[tokio::test]
async fn every_clv_pipe_answers_the_contract_columns_in_order() {
    let app = golden().await;
    for (name, columns) in [
        ("customer_ltv", "customer_id registration_date country city age gender acquisition_source segment is_active total_orders refund_count gross_revenue refunded_amount ltv historical_clv avg_order_value first_purchase_date last_purchase_date lifespan_days tenure_days days_since_last_purchase"),
        ("ltv_by_cohort", "cohort cohort_size paying_customers total_orders gross_revenue total_revenue avg_ltv avg_ltv_paying avg_orders_per_customer avg_order_value"),
        ("customer_retention_analysis", "cohort period_number period_start cohort_size active_customers retention_rate revenue cumulative_ltv is_complete"),
        ("customer_segmentation", "customer_id country segment acquisition_source recency_days frequency monetary r_score f_score m_score rfm_score rfm_segment last_purchase_date"),
        ("customer_segmentation_summary", "rfm_segment customers share avg_recency_days avg_frequency avg_monetary total_monetary"),
        ("ltv_influencing_factors", "factor value customers avg_ltv median_ltv avg_orders avg_order_value avg_interactions avg_satisfaction revenue_share ltv_index correlation"),
        ("ltv_overview", "customers paying_customers active_customers total_revenue avg_ltv median_ltv avg_orders avg_order_value refund_rate top_10pct_revenue_share"),
    ] {
        let (status, body) = app.get(&format!("/v0/pipes/{name}.json?{AS_OF}")).await;
        assert_eq!(status, StatusCode::OK, "{name}: {body}");
        let got: Vec<&str> = body["meta"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap())
            .collect();
        assert_eq!(got, columns.split(' ').collect::<Vec<_>>(), "{name}");
    }
}

#[tokio::test]
async fn invalid_parameters_are_400s_naming_the_parameter() {
    let app = golden().await;
    for (pipe_name, query, param) in [
        ("customer_ltv", "as_of=2024-13-01", "as_of"),
        ("ltv_overview", "as_of=yesterday", "as_of"),
        (
            "customer_segmentation",
            "as_of=2024-06-30&segment_filter=Sleepers",
            "segment_filter",
        ),
        (
            "customer_segmentation_summary",
            "as_of=2024-06-30&segment_filter=champions",
            "segment_filter",
        ),
        ("customer_ltv", "as_of=2024-06-30&limit=-1", "limit"),
        (
            "customer_segmentation",
            "as_of=2024-06-30&limit=-5",
            "limit",
        ),
        ("customer_ltv", "as_of=2024-06-30&margin=0", "margin"),
        ("customer_ltv", "as_of=2024-06-30&margin=1.5", "margin"),
        (
            "ltv_by_cohort",
            "as_of=2024-06-30&cohort_period=week",
            "cohort_period",
        ),
        (
            "customer_retention_analysis",
            "as_of=2024-06-30&cohort_period=week",
            "cohort_period",
        ),
        (
            "ltv_by_cohort",
            "as_of=2024-06-30&cohort_basis=signup",
            "cohort_basis",
        ),
        (
            "customer_retention_analysis",
            "as_of=2024-06-30&max_periods=0",
            "max_periods",
        ),
        (
            "customer_ltv",
            "as_of=2024-06-30&order_by=password",
            "order_by",
        ),
        ("customer_ltv", "as_of=2024-06-30&offset=-1", "offset"),
        (
            "ltv_influencing_factors",
            "as_of=2024-06-30&factor=shoe_size",
            "factor",
        ),
        (
            "ltv_influencing_factors",
            "as_of=2024-06-30&min_customers=0",
            "min_customers",
        ),
        (
            "customer_segmentation",
            "as_of=2024-06-30&start_date=2024-02-30",
            "start_date",
        ),
    ] {
        let (status, body) = app
            .get(&format!("/v0/pipes/{pipe_name}.json?{query}"))
            .await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{pipe_name}?{query}: {body}"
        );
        let error = body["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(&format!("'{param}'")),
            "{pipe_name}?{query}: '{error}' does not name '{param}'"
        );
    }
    // The boundary margin = 1 is allowed.
    let rows = pipe(
        &app,
        "customer_ltv",
        &format!("{AS_OF}&margin=1&customer_id=c01"),
    )
    .await;
    expect_rows(
        "margin=1",
        &rows,
        json!([{"customer_id": "c01", "historical_clv": 90.0}]),
    );
}

// ───────────────────── ingestion order, retries, late rows ───────────────────

#[tokio::test]
async fn an_as_of_after_every_event_sees_all_of_them() {
    let app = golden().await;
    let later = "as_of=2024-07-31";
    // At 2024-07-31 nothing is in the future any more (newest event: 2024-07-12).
    // c04: electronics 500 now beats home 70; c09: electronics 999 beats unknown 25;
    // c10 (registered 07-10) is known: books 75, no interactions; c07 has 2 email interactions.
    // electronics = c01 90, c04 600, c07 0, c09 1024: avg 1714/4 = 428.5, median (90+600)/2 = 345,
    //   orders 8/4 = 2, aov (150+600+200+1024)/8 = 246.75, satisfaction (5+2+1+5)/4 = 3.25,
    //   population net 2249 over 11 known customers → share 1714/2249 = 0.76212, index 209.582.
    let rows = pipe(
        &app,
        "ltv_influencing_factors",
        &format!("{later}&factor=top_category&min_customers=1"),
    )
    .await;
    expect_rows(
        "factors top_category at 07-31",
        &rows,
        json!([
            {"factor": "top_category", "value": "electronics", "customers": 4, "avg_ltv": 428.5, "median_ltv": 345.0, "avg_orders": 2.0, "avg_order_value": 246.75, "avg_interactions": 1.5, "avg_satisfaction": 3.25, "revenue_share": 0.7621, "ltv_index": 209.582, "correlation": null},
            {"factor": "top_category", "value": "home", "customers": 1, "avg_ltv": 240.0, "median_ltv": 240.0, "avg_orders": 3.0, "avg_order_value": 80.0, "avg_interactions": 1.0, "avg_satisfaction": 4.0, "revenue_share": 0.1067, "ltv_index": 117.3855, "correlation": null},
            {"factor": "top_category", "value": "toys", "customers": 1, "avg_ltv": 90.0, "median_ltv": 90.0, "avg_orders": 1.0, "avg_order_value": 90.0, "avg_interactions": 0.0, "avg_satisfaction": null, "revenue_share": 0.04, "ltv_index": 44.0196, "correlation": null},
            {"factor": "top_category", "value": "books", "customers": 3, "avg_ltv": 68.33, "median_ltv": 70.0, "avg_orders": 2.0, "avg_order_value": 35.83, "avg_interactions": 1.3333, "avg_satisfaction": 4.3333, "revenue_share": 0.0912, "ltv_index": 33.4223, "correlation": null},
            {"factor": "top_category", "value": "none", "customers": 2, "avg_ltv": 0.0, "median_ltv": 0.0, "avg_orders": 0.0, "avg_order_value": null, "avg_interactions": 0.5, "avg_satisfaction": 3.0, "revenue_share": 0.0, "ltv_index": 0.0, "correlation": null},
        ]),
    );
    let rows = pipe(
        &app,
        "ltv_influencing_factors",
        &format!("{later}&factor=primary_channel&min_customers=1"),
    )
    .await;
    expect_rows(
        "factors primary_channel at 07-31",
        &rows,
        json!([
            {"factor": "primary_channel", "value": "web", "customers": 3, "avg_ltv": 310.0, "median_ltv": 240.0, "avg_orders": 2.6667, "avg_order_value": 123.75, "avg_interactions": 1.6667, "avg_satisfaction": 3.6667, "revenue_share": 0.4135, "ltv_index": 151.6229, "correlation": null},
            {"factor": "primary_channel", "value": "none", "customers": 4, "avg_ltv": 297.25, "median_ltv": 82.5, "avg_orders": 1.0, "avg_order_value": 297.25, "avg_interactions": 0.0, "avg_satisfaction": null, "revenue_share": 0.5287, "ltv_index": 145.3868, "correlation": null},
            {"factor": "primary_channel", "value": "mobile_app", "customers": 1, "avg_ltv": 70.0, "median_ltv": 70.0, "avg_orders": 2.0, "avg_order_value": 40.0, "avg_interactions": 2.0, "avg_satisfaction": 4.0, "revenue_share": 0.0311, "ltv_index": 34.2374, "correlation": null},
            {"factor": "primary_channel", "value": "unknown", "customers": 1, "avg_ltv": 60.0, "median_ltv": 60.0, "avg_orders": 3.0, "avg_order_value": 20.0, "avg_interactions": 2.0, "avg_satisfaction": 4.5, "revenue_share": 0.0267, "ltv_index": 29.3464, "correlation": null},
            {"factor": "primary_channel", "value": "email", "customers": 2, "avg_ltv": 0.0, "median_ltv": 0.0, "avg_orders": 0.5, "avg_order_value": 200.0, "avg_interactions": 1.5, "avg_satisfaction": 3.0, "revenue_share": 0.0, "ltv_index": 0.0, "correlation": null},
        ]),
    );
    // Overview at 07-31: 11 known + x01 = 12; total 735 + 500 + 999 + 75 = 2309.
    let rows = pipe(&app, "ltv_overview", later).await;
    expect_rows(
        "overview at 07-31",
        &rows,
        json!([
            {"customers": 12, "paying_customers": 10, "active_customers": 9, "total_revenue": 2309.0, "avg_ltv": 192.42, "median_ltv": 72.5, "avg_orders": 1.5833, "avg_order_value": 135.74, "refund_rate": 0.1047, "top_10pct_revenue_share": 0.7033},
        ]),
    );
}

#[tokio::test]
async fn retried_events_are_counted_once() {
    let app = golden().await;
    // Retries of stored ids, with other contents: the first version received stays.
    let retries = [
        r#"{"transaction_id":"t11","customer_id":"c06","transaction_date":"2024-03-05 08:00:00","amount":999,"product_category":"clothing","transaction_type":"purchase","is_refund":0}"#,
        r#"{"transaction_id":"t02","customer_id":"c01","transaction_date":"2024-02-01 12:00:00","amount":1,"product_category":"electronics","transaction_type":"purchase","is_refund":0}"#,
        r#"{"transaction_id":"t21","customer_id":"c11","transaction_date":"2024-04-01 10:00:00","amount":80,"product_category":"home","transaction_type":"subscription","is_refund":0}"#,
    ];
    let (status, body) = app.post_events("transactions", retries.join("\n")).await;
    assert!(status.is_success(), "{status} {body}");
    let (status, body) = app
        .post_events("customer_interactions", r#"{"interaction_id":"i04","customer_id":"c02","interaction_date":"2024-02-16 10:00:00","interaction_type":"Support call","channel":"phone","satisfaction_score":4}"#)
        .await;
    assert!(status.is_success(), "{status} {body}");
    for (id, exp) in [
        (
            "c06",
            json!({"total_orders": 3, "gross_revenue": 60.0, "ltv": 60.0}),
        ),
        (
            "c01",
            json!({"total_orders": 2, "refund_count": 1, "gross_revenue": 150.0, "ltv": 90.0}),
        ),
        ("c11", json!({"total_orders": 3, "ltv": 240.0})),
    ] {
        let rows = pipe(&app, "customer_ltv", &format!("{AS_OF}&customer_id={id}")).await;
        expect_rows(&format!("{id} after retries"), &rows, json!([exp]));
    }
    // c06 stays books (not clothing 999 or 40), c02 stays mobile_app (not phone ×2), before and after
    // the newest event.
    let rows = pipe(
        &app,
        "ltv_influencing_factors",
        &format!("{AS_OF}&factor=top_category&min_customers=1"),
    )
    .await;
    expect_rows(
        "top_category after retries",
        &rows,
        json!([
            {"factor": "top_category", "value": "home", "customers": 2, "avg_ltv": 170.0, "median_ltv": 170.0, "avg_orders": 2.5, "avg_order_value": 68.0, "avg_interactions": 1.0, "avg_satisfaction": 4.0, "revenue_share": 0.5037, "ltv_index": 251.8519, "correlation": null},
            {"factor": "top_category", "value": "toys", "customers": 1, "avg_ltv": 90.0, "median_ltv": 90.0, "avg_orders": 1.0, "avg_order_value": 90.0, "avg_interactions": 0.0, "avg_satisfaction": null, "revenue_share": 0.1333, "ltv_index": 133.3333, "correlation": null},
            {"factor": "top_category", "value": "books", "customers": 2, "avg_ltv": 65.0, "median_ltv": 65.0, "avg_orders": 2.5, "avg_order_value": 28.0, "avg_interactions": 2.0, "avg_satisfaction": 4.3333, "revenue_share": 0.1926, "ltv_index": 96.2963, "correlation": null},
            {"factor": "top_category", "value": "electronics", "customers": 2, "avg_ltv": 45.0, "median_ltv": 45.0, "avg_orders": 1.5, "avg_order_value": 116.67, "avg_interactions": 2.0, "avg_satisfaction": 2.6667, "revenue_share": 0.1333, "ltv_index": 66.6667, "correlation": null},
            {"factor": "top_category", "value": "unknown", "customers": 1, "avg_ltv": 25.0, "median_ltv": 25.0, "avg_orders": 1.0, "avg_order_value": 25.0, "avg_interactions": 0.0, "avg_satisfaction": null, "revenue_share": 0.037, "ltv_index": 37.037, "correlation": null},
            {"factor": "top_category", "value": "none", "customers": 2, "avg_ltv": 0.0, "median_ltv": 0.0, "avg_orders": 0.0, "avg_order_value": null, "avg_interactions": 0.5, "avg_satisfaction": 3.0, "revenue_share": 0.0, "ltv_index": 0.0, "correlation": null},
        ]),
    );
    let rows = pipe(
        &app,
        "ltv_influencing_factors",
        &format!("{AS_OF}&factor=primary_channel&min_customers=1"),
    )
    .await;
    expect_rows(
        "primary_channel after retries",
        &rows,
        json!([
            {"factor": "primary_channel", "value": "web", "customers": 3, "avg_ltv": 143.33, "median_ltv": 100.0, "avg_orders": 2.3333, "avg_order_value": 70.0, "avg_interactions": 1.6667, "avg_satisfaction": 3.6667, "revenue_share": 0.637, "ltv_index": 212.3457, "correlation": null},
            {"factor": "primary_channel", "value": "mobile_app", "customers": 1, "avg_ltv": 70.0, "median_ltv": 70.0, "avg_orders": 2.0, "avg_order_value": 40.0, "avg_interactions": 2.0, "avg_satisfaction": 4.0, "revenue_share": 0.1037, "ltv_index": 103.7037, "correlation": null},
            {"factor": "primary_channel", "value": "unknown", "customers": 1, "avg_ltv": 60.0, "median_ltv": 60.0, "avg_orders": 3.0, "avg_order_value": 20.0, "avg_interactions": 2.0, "avg_satisfaction": 4.5, "revenue_share": 0.0889, "ltv_index": 88.8889, "correlation": null},
            {"factor": "primary_channel", "value": "none", "customers": 3, "avg_ltv": 38.33, "median_ltv": 25.0, "avg_orders": 0.6667, "avg_order_value": 57.5, "avg_interactions": 0.0, "avg_satisfaction": null, "revenue_share": 0.1704, "ltv_index": 56.7901, "correlation": null},
            {"factor": "primary_channel", "value": "email", "customers": 2, "avg_ltv": 0.0, "median_ltv": 0.0, "avg_orders": 0.5, "avg_order_value": 200.0, "avg_interactions": 1.0, "avg_satisfaction": 2.0, "revenue_share": 0.0, "ltv_index": 0.0, "correlation": null},
        ]),
    );
    let rows = pipe(
        &app,
        "ltv_influencing_factors",
        "as_of=2024-07-31&factor=top_category&min_customers=1",
    )
    .await;
    expect_rows(
        "top_category at 07-31 after retries",
        &rows,
        json!([
            {"factor": "top_category", "value": "electronics", "customers": 4, "avg_ltv": 428.5, "median_ltv": 345.0, "avg_orders": 2.0, "avg_order_value": 246.75, "avg_interactions": 1.5, "avg_satisfaction": 3.25, "revenue_share": 0.7621, "ltv_index": 209.582, "correlation": null},
            {"factor": "top_category", "value": "home", "customers": 1, "avg_ltv": 240.0, "median_ltv": 240.0, "avg_orders": 3.0, "avg_order_value": 80.0, "avg_interactions": 1.0, "avg_satisfaction": 4.0, "revenue_share": 0.1067, "ltv_index": 117.3855, "correlation": null},
            {"factor": "top_category", "value": "toys", "customers": 1, "avg_ltv": 90.0, "median_ltv": 90.0, "avg_orders": 1.0, "avg_order_value": 90.0, "avg_interactions": 0.0, "avg_satisfaction": null, "revenue_share": 0.04, "ltv_index": 44.0196, "correlation": null},
            {"factor": "top_category", "value": "books", "customers": 3, "avg_ltv": 68.33, "median_ltv": 70.0, "avg_orders": 2.0, "avg_order_value": 35.83, "avg_interactions": 1.3333, "avg_satisfaction": 4.3333, "revenue_share": 0.0912, "ltv_index": 33.4223, "correlation": null},
            {"factor": "top_category", "value": "none", "customers": 2, "avg_ltv": 0.0, "median_ltv": 0.0, "avg_orders": 0.0, "avg_order_value": null, "avg_interactions": 0.5, "avg_satisfaction": 3.0, "revenue_share": 0.0, "ltv_index": 0.0, "correlation": null},
        ]),
    );
    let rows = pipe(
        &app,
        "ltv_influencing_factors",
        "as_of=2024-07-31&factor=primary_channel&min_customers=1",
    )
    .await;
    expect_rows(
        "primary_channel at 07-31 after retries",
        &rows,
        json!([
            {"factor": "primary_channel", "value": "web", "customers": 3, "avg_ltv": 310.0, "median_ltv": 240.0, "avg_orders": 2.6667, "avg_order_value": 123.75, "avg_interactions": 1.6667, "avg_satisfaction": 3.6667, "revenue_share": 0.4135, "ltv_index": 151.6229, "correlation": null},
            {"factor": "primary_channel", "value": "none", "customers": 4, "avg_ltv": 297.25, "median_ltv": 82.5, "avg_orders": 1.0, "avg_order_value": 297.25, "avg_interactions": 0.0, "avg_satisfaction": null, "revenue_share": 0.5287, "ltv_index": 145.3868, "correlation": null},
            {"factor": "primary_channel", "value": "mobile_app", "customers": 1, "avg_ltv": 70.0, "median_ltv": 70.0, "avg_orders": 2.0, "avg_order_value": 40.0, "avg_interactions": 2.0, "avg_satisfaction": 4.0, "revenue_share": 0.0311, "ltv_index": 34.2374, "correlation": null},
            {"factor": "primary_channel", "value": "unknown", "customers": 1, "avg_ltv": 60.0, "median_ltv": 60.0, "avg_orders": 3.0, "avg_order_value": 20.0, "avg_interactions": 2.0, "avg_satisfaction": 4.5, "revenue_share": 0.0267, "ltv_index": 29.3464, "correlation": null},
            {"factor": "primary_channel", "value": "email", "customers": 2, "avg_ltv": 0.0, "median_ltv": 0.0, "avg_orders": 0.5, "avg_order_value": 200.0, "avg_interactions": 1.5, "avg_satisfaction": 3.0, "revenue_share": 0.0, "ltv_index": 0.0, "correlation": null},
        ]),
    );
    let rows = pipe(&app, "customer_retention_analysis", AS_OF).await;
    expect_rows(
        "retention after retries",
        &rows,
        json!([
            {"cohort": "2023-11-01", "period_number": 0, "period_start": "2023-11-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 80.0, "cumulative_ltv": 80.0, "is_complete": true},
            {"cohort": "2023-11-01", "period_number": 1, "period_start": "2023-12-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 80.0, "is_complete": true},
            {"cohort": "2023-11-01", "period_number": 2, "period_start": "2024-01-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 80.0, "cumulative_ltv": 160.0, "is_complete": true},
            {"cohort": "2023-11-01", "period_number": 3, "period_start": "2024-02-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 160.0, "is_complete": true},
            {"cohort": "2023-11-01", "period_number": 4, "period_start": "2024-03-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 160.0, "is_complete": true},
            {"cohort": "2023-11-01", "period_number": 5, "period_start": "2024-04-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 80.0, "cumulative_ltv": 240.0, "is_complete": true},
            {"cohort": "2023-11-01", "period_number": 6, "period_start": "2024-05-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 240.0, "is_complete": true},
            {"cohort": "2023-11-01", "period_number": 7, "period_start": "2024-06-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 240.0, "is_complete": false},
            {"cohort": "2024-01-01", "period_number": 0, "period_start": "2024-01-01", "cohort_size": 2, "active_customers": 1, "retention_rate": 0.5, "revenue": 100.0, "cumulative_ltv": 50.0, "is_complete": true},
            {"cohort": "2024-01-01", "period_number": 1, "period_start": "2024-02-01", "cohort_size": 2, "active_customers": 1, "retention_rate": 0.5, "revenue": -30.0, "cumulative_ltv": 35.0, "is_complete": true},
            {"cohort": "2024-01-01", "period_number": 2, "period_start": "2024-03-01", "cohort_size": 2, "active_customers": 1, "retention_rate": 0.5, "revenue": 50.0, "cumulative_ltv": 60.0, "is_complete": true},
            {"cohort": "2024-01-01", "period_number": 3, "period_start": "2024-04-01", "cohort_size": 2, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 60.0, "is_complete": true},
            {"cohort": "2024-01-01", "period_number": 4, "period_start": "2024-05-01", "cohort_size": 2, "active_customers": 1, "retention_rate": 0.5, "revenue": 40.0, "cumulative_ltv": 80.0, "is_complete": true},
            {"cohort": "2024-01-01", "period_number": 5, "period_start": "2024-06-01", "cohort_size": 2, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 80.0, "is_complete": false},
            {"cohort": "2024-02-01", "period_number": 0, "period_start": "2024-02-01", "cohort_size": 2, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 0.0, "is_complete": true},
            {"cohort": "2024-02-01", "period_number": 1, "period_start": "2024-03-01", "cohort_size": 2, "active_customers": 1, "retention_rate": 0.5, "revenue": 90.0, "cumulative_ltv": 45.0, "is_complete": true},
            {"cohort": "2024-02-01", "period_number": 2, "period_start": "2024-04-01", "cohort_size": 2, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 45.0, "is_complete": true},
            {"cohort": "2024-02-01", "period_number": 3, "period_start": "2024-05-01", "cohort_size": 2, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 45.0, "is_complete": true},
            {"cohort": "2024-02-01", "period_number": 4, "period_start": "2024-06-01", "cohort_size": 2, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 45.0, "is_complete": false},
            {"cohort": "2024-03-01", "period_number": 0, "period_start": "2024-03-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 20.0, "cumulative_ltv": 20.0, "is_complete": true},
            {"cohort": "2024-03-01", "period_number": 1, "period_start": "2024-04-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 20.0, "cumulative_ltv": 40.0, "is_complete": true},
            {"cohort": "2024-03-01", "period_number": 2, "period_start": "2024-05-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 40.0, "is_complete": true},
            {"cohort": "2024-03-01", "period_number": 3, "period_start": "2024-06-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 20.0, "cumulative_ltv": 60.0, "is_complete": false},
            {"cohort": "2024-04-01", "period_number": 0, "period_start": "2024-04-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 70.0, "cumulative_ltv": 70.0, "is_complete": true},
            {"cohort": "2024-04-01", "period_number": 1, "period_start": "2024-05-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 70.0, "is_complete": true},
            {"cohort": "2024-04-01", "period_number": 2, "period_start": "2024-06-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 70.0, "is_complete": false},
            {"cohort": "2024-05-01", "period_number": 0, "period_start": "2024-05-01", "cohort_size": 2, "active_customers": 1, "retention_rate": 0.5, "revenue": 0.0, "cumulative_ltv": 0.0, "is_complete": true},
            {"cohort": "2024-05-01", "period_number": 1, "period_start": "2024-06-01", "cohort_size": 2, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 0.0, "is_complete": false},
            {"cohort": "2024-06-01", "period_number": 0, "period_start": "2024-06-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 25.0, "cumulative_ltv": 25.0, "is_complete": false},
        ]),
    );
    let rows = pipe(&app, "ltv_overview", AS_OF).await;
    expect_rows(
        "overview after retries",
        &rows,
        json!([
            {"customers": 11, "paying_customers": 9, "active_customers": 8, "total_revenue": 735.0, "avg_ltv": 66.82, "median_ltv": 60.0, "avg_orders": 1.4545, "avg_order_value": 62.81, "refund_rate": 0.2687, "top_10pct_revenue_share": 0.4626},
        ]),
    );
}

#[tokio::test]
async fn a_customers_row_that_arrives_after_its_transactions_takes_them_over() {
    let app = golden().await;
    let (status, body) = app
        .post_events("customers", r#"{"customer_id":"x01","registration_date":"2024-05-01 00:00:00","country":"FR","age":40,"gender":"F","acquisition_source":"organic","segment":"basic","is_active":1}"#)
        .await;
    assert!(status.is_success(), "{status} {body}");
    // x01 is now a known FR customer: tenure 05-01 → 06-30 = 60.
    let rows = pipe(&app, "customer_ltv", &format!("{AS_OF}&country=FR")).await;
    expect_rows(
        "customer_ltv FR with x01",
        &rows,
        json!([
            {"customer_id": "c05", "country": "FR", "ltv": 90.0, "tenure_days": 137},
            {"customer_id": "x01", "country": "FR", "ltv": 60.0, "tenure_days": 60},
            {"customer_id": "c08", "country": "FR", "ltv": 0.0, "tenure_days": 41},
        ]),
    );
    // Cohort 2024-05 becomes c07, c08, x01: size 3, paying 2, net 0 + 60 = 60 → 20, paying 30, gross 260 / 2 = 130.
    let rows = pipe(&app, "ltv_by_cohort", AS_OF).await;
    expect_rows(
        "ltv_by_cohort with x01",
        &rows,
        json!([
            {"cohort": "2023-11-01", "cohort_size": 1, "paying_customers": 1, "total_orders": 3, "gross_revenue": 240.0, "total_revenue": 240.0, "avg_ltv": 240.0, "avg_ltv_paying": 240.0, "avg_orders_per_customer": 3.0, "avg_order_value": 80.0},
            {"cohort": "2024-01-01", "cohort_size": 2, "paying_customers": 2, "total_orders": 4, "gross_revenue": 230.0, "total_revenue": 160.0, "avg_ltv": 80.0, "avg_ltv_paying": 80.0, "avg_orders_per_customer": 2.0, "avg_order_value": 57.5},
            {"cohort": "2024-02-01", "cohort_size": 2, "paying_customers": 1, "total_orders": 1, "gross_revenue": 90.0, "total_revenue": 90.0, "avg_ltv": 45.0, "avg_ltv_paying": 90.0, "avg_orders_per_customer": 0.5, "avg_order_value": 90.0},
            {"cohort": "2024-03-01", "cohort_size": 1, "paying_customers": 1, "total_orders": 3, "gross_revenue": 60.0, "total_revenue": 60.0, "avg_ltv": 60.0, "avg_ltv_paying": 60.0, "avg_orders_per_customer": 3.0, "avg_order_value": 20.0},
            {"cohort": "2024-04-01", "cohort_size": 1, "paying_customers": 1, "total_orders": 2, "gross_revenue": 100.0, "total_revenue": 100.0, "avg_ltv": 100.0, "avg_ltv_paying": 100.0, "avg_orders_per_customer": 2.0, "avg_order_value": 50.0},
            {"cohort": "2024-05-01", "cohort_size": 3, "paying_customers": 2, "total_orders": 2, "gross_revenue": 260.0, "total_revenue": 60.0, "avg_ltv": 20.0, "avg_ltv_paying": 30.0, "avg_orders_per_customer": 0.6667, "avg_order_value": 130.0},
            {"cohort": "2024-06-01", "cohort_size": 1, "paying_customers": 1, "total_orders": 1, "gross_revenue": 25.0, "total_revenue": 25.0, "avg_ltv": 25.0, "avg_ltv_paying": 25.0, "avg_orders_per_customer": 1.0, "avg_order_value": 25.0},
        ]),
    );
    // Still 11 customers, but now 9 active.
    let rows = pipe(&app, "ltv_overview", AS_OF).await;
    expect_rows(
        "overview with x01",
        &rows,
        json!([
            {"customers": 11, "paying_customers": 9, "active_customers": 9, "total_revenue": 735.0, "avg_ltv": 66.82, "median_ltv": 60.0, "avg_orders": 1.4545, "avg_order_value": 62.81, "refund_rate": 0.2687, "top_10pct_revenue_share": 0.4626},
        ]),
    );
    // x01's interaction (support, phone, 2) now counts: primary_channel phone (ties unknown at 60 → by value).
    let rows = pipe(
        &app,
        "ltv_influencing_factors",
        &format!("{AS_OF}&factor=primary_channel&min_customers=1"),
    )
    .await;
    expect_rows(
        "primary_channel with x01",
        &rows,
        json!([
            {"factor": "primary_channel", "value": "web", "customers": 3, "avg_ltv": 143.33, "median_ltv": 100.0, "avg_orders": 2.3333, "avg_order_value": 70.0, "avg_interactions": 1.6667, "avg_satisfaction": 3.6667, "revenue_share": 0.585, "ltv_index": 214.5125, "correlation": null},
            {"factor": "primary_channel", "value": "mobile_app", "customers": 1, "avg_ltv": 70.0, "median_ltv": 70.0, "avg_orders": 2.0, "avg_order_value": 40.0, "avg_interactions": 2.0, "avg_satisfaction": 4.0, "revenue_share": 0.0952, "ltv_index": 104.7619, "correlation": null},
            {"factor": "primary_channel", "value": "phone", "customers": 1, "avg_ltv": 60.0, "median_ltv": 60.0, "avg_orders": 1.0, "avg_order_value": 60.0, "avg_interactions": 1.0, "avg_satisfaction": 2.0, "revenue_share": 0.0816, "ltv_index": 89.7959, "correlation": null},
            {"factor": "primary_channel", "value": "unknown", "customers": 1, "avg_ltv": 60.0, "median_ltv": 60.0, "avg_orders": 3.0, "avg_order_value": 20.0, "avg_interactions": 2.0, "avg_satisfaction": 4.5, "revenue_share": 0.0816, "ltv_index": 89.7959, "correlation": null},
            {"factor": "primary_channel", "value": "none", "customers": 3, "avg_ltv": 38.33, "median_ltv": 25.0, "avg_orders": 0.6667, "avg_order_value": 57.5, "avg_interactions": 0.0, "avg_satisfaction": null, "revenue_share": 0.1565, "ltv_index": 57.3696, "correlation": null},
            {"factor": "primary_channel", "value": "email", "customers": 2, "avg_ltv": 0.0, "median_ltv": 0.0, "avg_orders": 0.5, "avg_order_value": 200.0, "avg_interactions": 1.0, "avg_satisfaction": 2.0, "revenue_share": 0.0, "ltv_index": 0.0, "correlation": null},
        ]),
    );
    let rows = pipe(
        &app,
        "ltv_influencing_factors",
        "as_of=2024-07-31&factor=primary_channel&min_customers=1",
    )
    .await;
    expect_rows(
        "primary_channel at 07-31 with x01",
        &rows,
        json!([
            {"factor": "primary_channel", "value": "web", "customers": 3, "avg_ltv": 310.0, "median_ltv": 240.0, "avg_orders": 2.6667, "avg_order_value": 123.75, "avg_interactions": 1.6667, "avg_satisfaction": 3.6667, "revenue_share": 0.4028, "ltv_index": 161.1087, "correlation": null},
            {"factor": "primary_channel", "value": "none", "customers": 4, "avg_ltv": 297.25, "median_ltv": 82.5, "avg_orders": 1.0, "avg_order_value": 297.25, "avg_interactions": 0.0, "avg_satisfaction": null, "revenue_share": 0.5149, "ltv_index": 154.4825, "correlation": null},
            {"factor": "primary_channel", "value": "mobile_app", "customers": 1, "avg_ltv": 70.0, "median_ltv": 70.0, "avg_orders": 2.0, "avg_order_value": 40.0, "avg_interactions": 2.0, "avg_satisfaction": 4.0, "revenue_share": 0.0303, "ltv_index": 36.3794, "correlation": null},
            {"factor": "primary_channel", "value": "phone", "customers": 1, "avg_ltv": 60.0, "median_ltv": 60.0, "avg_orders": 1.0, "avg_order_value": 60.0, "avg_interactions": 1.0, "avg_satisfaction": 2.0, "revenue_share": 0.026, "ltv_index": 31.1823, "correlation": null},
            {"factor": "primary_channel", "value": "unknown", "customers": 1, "avg_ltv": 60.0, "median_ltv": 60.0, "avg_orders": 3.0, "avg_order_value": 20.0, "avg_interactions": 2.0, "avg_satisfaction": 4.5, "revenue_share": 0.026, "ltv_index": 31.1823, "correlation": null},
            {"factor": "primary_channel", "value": "email", "customers": 2, "avg_ltv": 0.0, "median_ltv": 0.0, "avg_orders": 0.5, "avg_order_value": 200.0, "avg_interactions": 1.5, "avg_satisfaction": 3.0, "revenue_share": 0.0, "ltv_index": 0.0, "correlation": null},
        ]),
    );
}

#[tokio::test]
async fn an_upsert_that_changes_the_registration_moves_the_customer_between_cohorts() {
    let app = golden().await;
    // After its transactions are stored, c02 is re-sent registered on 2024-03-10 (the last row wins).
    let moved = C02_UPSERT.replace("2024-01-20 00:00:00", "2024-03-10 00:00:00");
    let (status, body) = app.post_events("customers", moved).await;
    assert!(status.is_success(), "{status} {body}");
    // tenure 03-10 → 06-30 = 21 + 30 + 31 + 30 = 112.
    let rows = pipe(&app, "customer_ltv", &format!("{AS_OF}&customer_id=c02")).await;
    expect_rows(
        "c02 moved",
        &rows,
        json!([{"customer_id": "c02", "registration_date": "2024-03-10 00:00:00", "ltv": 70.0, "tenure_days": 112}]),
    );
    // 2024-01 keeps c01 alone (90); 2024-03 is c06 + c02: net 60 + 70 = 130 → 65, orders 3 + 2, gross 140 → 28.
    let rows = pipe(&app, "ltv_by_cohort", AS_OF).await;
    expect_rows(
        "ltv_by_cohort after the move",
        &rows,
        json!([
            {"cohort": "2023-11-01", "cohort_size": 1, "paying_customers": 1, "total_orders": 3, "gross_revenue": 240.0, "total_revenue": 240.0, "avg_ltv": 240.0, "avg_ltv_paying": 240.0, "avg_orders_per_customer": 3.0, "avg_order_value": 80.0},
            {"cohort": "2024-01-01", "cohort_size": 1, "paying_customers": 1, "total_orders": 2, "gross_revenue": 150.0, "total_revenue": 90.0, "avg_ltv": 90.0, "avg_ltv_paying": 90.0, "avg_orders_per_customer": 2.0, "avg_order_value": 75.0},
            {"cohort": "2024-02-01", "cohort_size": 2, "paying_customers": 1, "total_orders": 1, "gross_revenue": 90.0, "total_revenue": 90.0, "avg_ltv": 45.0, "avg_ltv_paying": 90.0, "avg_orders_per_customer": 0.5, "avg_order_value": 90.0},
            {"cohort": "2024-03-01", "cohort_size": 2, "paying_customers": 2, "total_orders": 5, "gross_revenue": 140.0, "total_revenue": 130.0, "avg_ltv": 65.0, "avg_ltv_paying": 65.0, "avg_orders_per_customer": 2.5, "avg_order_value": 28.0},
            {"cohort": "2024-04-01", "cohort_size": 1, "paying_customers": 1, "total_orders": 2, "gross_revenue": 100.0, "total_revenue": 100.0, "avg_ltv": 100.0, "avg_ltv_paying": 100.0, "avg_orders_per_customer": 2.0, "avg_order_value": 50.0},
            {"cohort": "2024-05-01", "cohort_size": 2, "paying_customers": 1, "total_orders": 1, "gross_revenue": 200.0, "total_revenue": 0.0, "avg_ltv": 0.0, "avg_ltv_paying": 0.0, "avg_orders_per_customer": 0.5, "avg_order_value": 200.0},
            {"cohort": "2024-06-01", "cohort_size": 1, "paying_customers": 1, "total_orders": 1, "gross_revenue": 25.0, "total_revenue": 25.0, "avg_ltv": 25.0, "avg_ltv_paying": 25.0, "avg_orders_per_customer": 1.0, "avg_order_value": 25.0},
        ]),
    );
    // In the 2024-03 cohort c02's February purchase and refund are before the cohort: in no period;
    // its May purchase is period 2. Periods: Mar 20 (c06), Apr 20 (c06), May 40 (c02), Jun 20 (c06)
    // → cumulative 100/2 = 50; each period has one active customer of two → 0.5.
    let rows = pipe(&app, "customer_retention_analysis", AS_OF).await;
    expect_rows(
        "retention after the move",
        &rows,
        json!([
            {"cohort": "2023-11-01", "period_number": 0, "period_start": "2023-11-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 80.0, "cumulative_ltv": 80.0, "is_complete": true},
            {"cohort": "2023-11-01", "period_number": 1, "period_start": "2023-12-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 80.0, "is_complete": true},
            {"cohort": "2023-11-01", "period_number": 2, "period_start": "2024-01-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 80.0, "cumulative_ltv": 160.0, "is_complete": true},
            {"cohort": "2023-11-01", "period_number": 3, "period_start": "2024-02-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 160.0, "is_complete": true},
            {"cohort": "2023-11-01", "period_number": 4, "period_start": "2024-03-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 160.0, "is_complete": true},
            {"cohort": "2023-11-01", "period_number": 5, "period_start": "2024-04-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 80.0, "cumulative_ltv": 240.0, "is_complete": true},
            {"cohort": "2023-11-01", "period_number": 6, "period_start": "2024-05-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 240.0, "is_complete": true},
            {"cohort": "2023-11-01", "period_number": 7, "period_start": "2024-06-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 240.0, "is_complete": false},
            {"cohort": "2024-01-01", "period_number": 0, "period_start": "2024-01-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 100.0, "cumulative_ltv": 100.0, "is_complete": true},
            {"cohort": "2024-01-01", "period_number": 1, "period_start": "2024-02-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": -60.0, "cumulative_ltv": 40.0, "is_complete": true},
            {"cohort": "2024-01-01", "period_number": 2, "period_start": "2024-03-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 50.0, "cumulative_ltv": 90.0, "is_complete": true},
            {"cohort": "2024-01-01", "period_number": 3, "period_start": "2024-04-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 90.0, "is_complete": true},
            {"cohort": "2024-01-01", "period_number": 4, "period_start": "2024-05-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 90.0, "is_complete": true},
            {"cohort": "2024-01-01", "period_number": 5, "period_start": "2024-06-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 90.0, "is_complete": false},
            {"cohort": "2024-02-01", "period_number": 0, "period_start": "2024-02-01", "cohort_size": 2, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 0.0, "is_complete": true},
            {"cohort": "2024-02-01", "period_number": 1, "period_start": "2024-03-01", "cohort_size": 2, "active_customers": 1, "retention_rate": 0.5, "revenue": 90.0, "cumulative_ltv": 45.0, "is_complete": true},
            {"cohort": "2024-02-01", "period_number": 2, "period_start": "2024-04-01", "cohort_size": 2, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 45.0, "is_complete": true},
            {"cohort": "2024-02-01", "period_number": 3, "period_start": "2024-05-01", "cohort_size": 2, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 45.0, "is_complete": true},
            {"cohort": "2024-02-01", "period_number": 4, "period_start": "2024-06-01", "cohort_size": 2, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 45.0, "is_complete": false},
            {"cohort": "2024-03-01", "period_number": 0, "period_start": "2024-03-01", "cohort_size": 2, "active_customers": 1, "retention_rate": 0.5, "revenue": 20.0, "cumulative_ltv": 10.0, "is_complete": true},
            {"cohort": "2024-03-01", "period_number": 1, "period_start": "2024-04-01", "cohort_size": 2, "active_customers": 1, "retention_rate": 0.5, "revenue": 20.0, "cumulative_ltv": 20.0, "is_complete": true},
            {"cohort": "2024-03-01", "period_number": 2, "period_start": "2024-05-01", "cohort_size": 2, "active_customers": 1, "retention_rate": 0.5, "revenue": 40.0, "cumulative_ltv": 40.0, "is_complete": true},
            {"cohort": "2024-03-01", "period_number": 3, "period_start": "2024-06-01", "cohort_size": 2, "active_customers": 1, "retention_rate": 0.5, "revenue": 20.0, "cumulative_ltv": 50.0, "is_complete": false},
            {"cohort": "2024-04-01", "period_number": 0, "period_start": "2024-04-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 70.0, "cumulative_ltv": 70.0, "is_complete": true},
            {"cohort": "2024-04-01", "period_number": 1, "period_start": "2024-05-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 70.0, "is_complete": true},
            {"cohort": "2024-04-01", "period_number": 2, "period_start": "2024-06-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 70.0, "is_complete": false},
            {"cohort": "2024-05-01", "period_number": 0, "period_start": "2024-05-01", "cohort_size": 2, "active_customers": 1, "retention_rate": 0.5, "revenue": 0.0, "cumulative_ltv": 0.0, "is_complete": true},
            {"cohort": "2024-05-01", "period_number": 1, "period_start": "2024-06-01", "cohort_size": 2, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 0.0, "is_complete": false},
            {"cohort": "2024-06-01", "period_number": 0, "period_start": "2024-06-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 25.0, "cumulative_ltv": 25.0, "is_complete": false},
        ]),
    );
}

#[tokio::test]
async fn the_order_and_batching_of_ingestion_do_not_change_any_answer() {
    // The same events, interactions first, transactions one request each, customers last.
    // Every answer must equal the answer on the normally loaded fixture (pinned above).
    let normal = golden().await;
    let shuffled = TestApp::spawn().await;
    for line in INTERACTIONS.iter().rev() {
        assert!(shuffled
            .post_events("customer_interactions", line.to_string())
            .await
            .0
            .is_success());
    }
    for line in TRANSACTIONS.iter().rev() {
        assert!(shuffled
            .post_events("transactions", line.to_string())
            .await
            .0
            .is_success());
    }
    assert!(shuffled
        .post_events("customers", CUSTOMERS.join("\n"))
        .await
        .0
        .is_success());
    assert!(shuffled
        .post_events("customers", C02_UPSERT.to_string())
        .await
        .0
        .is_success());
    for (name, params) in [
        ("customer_ltv", AS_OF.to_string()),
        ("customer_ltv", "as_of=2024-07-31".to_string()),
        ("customer_ltv", EARLIER.to_string()),
        ("ltv_by_cohort", AS_OF.to_string()),
        (
            "ltv_by_cohort",
            format!("{AS_OF}&cohort_basis=first_purchase&cohort_period=quarter"),
        ),
        ("customer_retention_analysis", AS_OF.to_string()),
        (
            "customer_retention_analysis",
            format!("{AS_OF}&cohort_basis=first_purchase"),
        ),
        ("customer_segmentation", AS_OF.to_string()),
        ("customer_segmentation_summary", AS_OF.to_string()),
        (
            "ltv_influencing_factors",
            format!("{AS_OF}&min_customers=1"),
        ),
        (
            "ltv_influencing_factors",
            "as_of=2024-07-31&min_customers=1".to_string(),
        ),
        ("ltv_overview", AS_OF.to_string()),
        ("ltv_overview", "as_of=2024-07-31".to_string()),
    ] {
        let a = pipe(&normal, name, &params).await;
        let b = pipe(&shuffled, name, &params).await;
        expect_rows(
            &format!("{name}?{params} loaded in another order"),
            &b,
            Value::Array(a),
        );
    }
}

// ─────────────────────────── edge cases (second fixture) ─────────────────────
//
// A second, tiny fixture for rounding, negative values and day boundaries:
//   e1 registered 2024-06-30 23:00 (the last hour of as_of), buys 0.01 and 10.00 that evening
//   e2 registered 2024-01-10T23:30:00-02:00 (= 2024-01-11 01:30 UTC), only a refund of 30 (is_refund "true")
//   e3 registered 2024-03-15, buys 20 with transaction_type 'Refund' (capitalised: a purchase) and 0.02
//   e4 registered 2024-07-01 00:00:00 (the day after as_of), nothing else
//   e5 registered 2024-05-05, only a refund of 0.01;  e6 registered 2024-05-06, nothing
//   e7 registered 2024-02-01, buys 10 on 06-01 and refunds 50 on 06-02

const EDGE_CUSTOMERS: &[&str] = &[
    r#"{"customer_id":"e1","registration_date":"2024-06-30 23:00:00","country":"US","segment":"premium","is_active":1}"#,
    r#"{"customer_id":"e2","registration_date":"2024-01-10T23:30:00-02:00","country":"US","segment":"basic","is_active":1}"#,
    r#"{"customer_id":"e3","registration_date":"2024-03-15 00:00:00","country":"DE","segment":"basic","is_active":1}"#,
    r#"{"customer_id":"e4","registration_date":"2024-07-01 00:00:00","country":"US","segment":"basic","is_active":1}"#,
    r#"{"customer_id":"e5","registration_date":"2024-05-05 00:00:00","country":"DE","segment":"basic","is_active":1}"#,
    r#"{"customer_id":"e6","registration_date":"2024-05-06 00:00:00","country":"DE","segment":"basic","is_active":1}"#,
    r#"{"customer_id":"e7","registration_date":"2024-02-01 00:00:00","country":"US","segment":"basic","is_active":1}"#,
];

const EDGE_TRANSACTIONS: &[&str] = &[
    r#"{"transaction_id":"u1","customer_id":"e1","transaction_date":"2024-06-30 23:10:00","amount":0.01,"product_category":"books","transaction_type":"purchase","is_refund":0}"#,
    r#"{"transaction_id":"u2","customer_id":"e1","transaction_date":"2024-06-30 23:20:00","amount":10.00,"product_category":"books","transaction_type":"purchase","is_refund":0}"#,
    r#"{"transaction_id":"u3","customer_id":"e2","transaction_date":"2024-03-01 10:00:00","amount":30,"product_category":"books","transaction_type":"purchase","is_refund":"true"}"#,
    r#"{"transaction_id":"u4","customer_id":"e3","transaction_date":"2024-04-01 10:00:00","amount":20,"product_category":"books","transaction_type":"Refund","is_refund":false}"#,
    r#"{"transaction_id":"u5","customer_id":"e3","transaction_date":"2024-04-02 10:00:00","amount":0.02,"product_category":"books","transaction_type":"purchase","is_refund":0}"#,
    r#"{"transaction_id":"u6","customer_id":"e5","transaction_date":"2024-05-06 10:00:00","amount":0.01,"product_category":"books","transaction_type":"purchase","is_refund":1}"#,
    r#"{"transaction_id":"u7","customer_id":"e7","transaction_date":"2024-06-01 10:00:00","amount":10,"product_category":"books","transaction_type":"purchase","is_refund":0}"#,
    r#"{"transaction_id":"u8","customer_id":"e7","transaction_date":"2024-06-02 10:00:00","amount":50,"product_category":"books","transaction_type":"purchase","is_refund":1}"#,
];

async fn edge() -> TestApp {
    let app = TestApp::spawn().await;
    for (ds, rows) in [
        ("customers", EDGE_CUSTOMERS.join("\n")),
        ("transactions", EDGE_TRANSACTIONS.join("\n")),
    ] {
        let n = rows.lines().count();
        let (status, body) = app.post_events(ds, rows).await;
        assert!(status.is_success(), "{ds}: {status} {body}");
        assert_eq!(body["successful_rows"], n, "{ds}: {body}");
        assert_eq!(body["quarantined_rows"], 0, "{ds}: {body}");
    }
    app
}

#[tokio::test]
async fn money_is_rounded_half_away_from_zero_from_the_exact_value() {
    let app = edge().await;
    // e1 aov = 10.01 / 2 = 5.005 exactly → 5.01 (a binary double would give 5.00499… → 5.0).
    // e3: 'Refund' ≠ 'refund' → two purchases, 20.02 / 2 = 10.01; lifespan 04-01 → 04-02 = 1.
    // e1: registered during as_of → tenure 0, bought during as_of → since-last 0.
    // e2: registered 2024-01-11 UTC → tenure 20+29+31+30+31+30 = 171; a refund without purchase →
    //     ltv −30, no orders, null aov and purchase dates.
    // e7: 10 − 50 = −40. e4 registers after as_of: absent.
    let rows = pipe(&app, "customer_ltv", AS_OF).await;
    expect_rows(
        "edge customer_ltv",
        &rows,
        json!([
            {"customer_id": "e3", "total_orders": 2, "refund_count": 0, "gross_revenue": 20.02, "refunded_amount": 0.0, "ltv": 20.02, "historical_clv": 20.02, "avg_order_value": 10.01, "first_purchase_date": "2024-04-01 10:00:00", "last_purchase_date": "2024-04-02 10:00:00", "lifespan_days": 1, "tenure_days": 107, "days_since_last_purchase": 89},
            {"customer_id": "e1", "total_orders": 2, "refund_count": 0, "gross_revenue": 10.01, "refunded_amount": 0.0, "ltv": 10.01, "historical_clv": 10.01, "avg_order_value": 5.01, "first_purchase_date": "2024-06-30 23:10:00", "last_purchase_date": "2024-06-30 23:20:00", "lifespan_days": 0, "tenure_days": 0, "days_since_last_purchase": 0},
            {"customer_id": "e6", "total_orders": 0, "refund_count": 0, "gross_revenue": 0.0, "refunded_amount": 0.0, "ltv": 0.0, "historical_clv": 0.0, "avg_order_value": null, "first_purchase_date": null, "last_purchase_date": null, "lifespan_days": null, "tenure_days": 55, "days_since_last_purchase": null},
            {"customer_id": "e5", "total_orders": 0, "refund_count": 1, "gross_revenue": 0.0, "refunded_amount": 0.01, "ltv": -0.01, "historical_clv": -0.01, "avg_order_value": null, "first_purchase_date": null, "last_purchase_date": null, "lifespan_days": null, "tenure_days": 56, "days_since_last_purchase": null},
            {"customer_id": "e2", "total_orders": 0, "refund_count": 1, "gross_revenue": 0.0, "refunded_amount": 30.0, "ltv": -30.0, "historical_clv": -30.0, "avg_order_value": null, "first_purchase_date": null, "last_purchase_date": null, "lifespan_days": null, "tenure_days": 171, "days_since_last_purchase": null},
            {"customer_id": "e7", "total_orders": 1, "refund_count": 1, "gross_revenue": 10.0, "refunded_amount": 50.0, "ltv": -40.0, "historical_clv": -40.0, "avg_order_value": 10.0, "first_purchase_date": "2024-06-01 10:00:00", "last_purchase_date": "2024-06-01 10:00:00", "lifespan_days": 0, "tenure_days": 150, "days_since_last_purchase": 29},
        ]),
    );
    // Overview: ltv −40, −30, −0.01, 0, 10.01, 20.02 → total −39.98, avg −6.6633… → −6.66,
    // median (−0.01 + 0)/2 = −0.005 → −0.01 (half away from zero), orders 5/6 = 0.8333,
    // aov 40.03/5 = 8.006 → 8.01, refund_rate 80.01/40.03 = 1.99875… → 1.9988,
    // top ceil(0.6) = 1 customer: 20.02 / −39.98 = −0.50075… → −0.5008.
    let rows = pipe(&app, "ltv_overview", AS_OF).await;
    expect_rows(
        "edge overview",
        &rows,
        json!([
            {"customers": 6, "paying_customers": 3, "active_customers": 6, "total_revenue": -39.98, "avg_ltv": -6.66, "median_ltv": -0.01, "avg_orders": 0.8333, "avg_order_value": 8.01, "refund_rate": 1.9988, "top_10pct_revenue_share": -0.5008},
        ]),
    );
}

#[tokio::test]
async fn negative_cohort_values_round_away_from_zero() {
    let app = edge().await;
    // 2024-05 (e5 −0.01, e6 nothing): avg_ltv −0.005 → −0.01; nobody paid → avg_ltv_paying and
    // avg_order_value null. 2024-01 (e2): −30 with no purchase. 2024-06 (e1): aov 5.005 → 5.01.
    let rows = pipe(&app, "ltv_by_cohort", AS_OF).await;
    expect_rows(
        "edge ltv_by_cohort",
        &rows,
        json!([
            {"cohort": "2024-01-01", "cohort_size": 1, "paying_customers": 0, "total_orders": 0, "gross_revenue": 0.0, "total_revenue": -30.0, "avg_ltv": -30.0, "avg_ltv_paying": null, "avg_orders_per_customer": 0.0, "avg_order_value": null},
            {"cohort": "2024-02-01", "cohort_size": 1, "paying_customers": 1, "total_orders": 1, "gross_revenue": 10.0, "total_revenue": -40.0, "avg_ltv": -40.0, "avg_ltv_paying": -40.0, "avg_orders_per_customer": 1.0, "avg_order_value": 10.0},
            {"cohort": "2024-03-01", "cohort_size": 1, "paying_customers": 1, "total_orders": 2, "gross_revenue": 20.02, "total_revenue": 20.02, "avg_ltv": 20.02, "avg_ltv_paying": 20.02, "avg_orders_per_customer": 2.0, "avg_order_value": 10.01},
            {"cohort": "2024-05-01", "cohort_size": 2, "paying_customers": 0, "total_orders": 0, "gross_revenue": 0.0, "total_revenue": -0.01, "avg_ltv": -0.01, "avg_ltv_paying": null, "avg_orders_per_customer": 0.0, "avg_order_value": null},
            {"cohort": "2024-06-01", "cohort_size": 1, "paying_customers": 1, "total_orders": 2, "gross_revenue": 10.01, "total_revenue": 10.01, "avg_ltv": 10.01, "avg_ltv_paying": 10.01, "avg_orders_per_customer": 2.0, "avg_order_value": 5.01},
        ]),
    );
    // Retention: refunds make negative period revenue without making anyone active.
    let rows = pipe(&app, "customer_retention_analysis", AS_OF).await;
    expect_rows(
        "edge retention",
        &rows,
        json!([
            {"cohort": "2024-01-01", "period_number": 0, "period_start": "2024-01-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 0.0, "is_complete": true},
            {"cohort": "2024-01-01", "period_number": 1, "period_start": "2024-02-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 0.0, "is_complete": true},
            {"cohort": "2024-01-01", "period_number": 2, "period_start": "2024-03-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": -30.0, "cumulative_ltv": -30.0, "is_complete": true},
            {"cohort": "2024-01-01", "period_number": 3, "period_start": "2024-04-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": -30.0, "is_complete": true},
            {"cohort": "2024-01-01", "period_number": 4, "period_start": "2024-05-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": -30.0, "is_complete": true},
            {"cohort": "2024-01-01", "period_number": 5, "period_start": "2024-06-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": -30.0, "is_complete": false},
            {"cohort": "2024-02-01", "period_number": 0, "period_start": "2024-02-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 0.0, "is_complete": true},
            {"cohort": "2024-02-01", "period_number": 1, "period_start": "2024-03-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 0.0, "is_complete": true},
            {"cohort": "2024-02-01", "period_number": 2, "period_start": "2024-04-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 0.0, "is_complete": true},
            {"cohort": "2024-02-01", "period_number": 3, "period_start": "2024-05-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 0.0, "is_complete": true},
            {"cohort": "2024-02-01", "period_number": 4, "period_start": "2024-06-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": -40.0, "cumulative_ltv": -40.0, "is_complete": false},
            {"cohort": "2024-03-01", "period_number": 0, "period_start": "2024-03-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 0.0, "is_complete": true},
            {"cohort": "2024-03-01", "period_number": 1, "period_start": "2024-04-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 20.02, "cumulative_ltv": 20.02, "is_complete": true},
            {"cohort": "2024-03-01", "period_number": 2, "period_start": "2024-05-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 20.02, "is_complete": true},
            {"cohort": "2024-03-01", "period_number": 3, "period_start": "2024-06-01", "cohort_size": 1, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": 20.02, "is_complete": false},
            {"cohort": "2024-05-01", "period_number": 0, "period_start": "2024-05-01", "cohort_size": 2, "active_customers": 0, "retention_rate": 0.0, "revenue": -0.01, "cumulative_ltv": -0.01, "is_complete": true},
            {"cohort": "2024-05-01", "period_number": 1, "period_start": "2024-06-01", "cohort_size": 2, "active_customers": 0, "retention_rate": 0.0, "revenue": 0.0, "cumulative_ltv": -0.01, "is_complete": false},
            {"cohort": "2024-06-01", "period_number": 0, "period_start": "2024-06-01", "cohort_size": 1, "active_customers": 1, "retention_rate": 1.0, "revenue": 10.01, "cumulative_ltv": 10.01, "is_complete": false},
        ]),
    );
}

#[tokio::test]
async fn rfm_scores_negative_monetary_and_skips_refund_only_customers() {
    let app = edge().await;
    // Scored: e3 (2 purchases, 20.02, last 04-02 → 89 days), e1 (2, 10.01, 0 days), e7 (1, −40, 29 days);
    // e2 and e5 have refunds only. n = 3.
    // f: e7 → 1; e1, e3 lower 1 → 1 + floor(5/3) = 2.  m: −40 → 1; 10.01 → 2; 20.02 → 1 + floor(10/3) = 4.
    // r: e3 → 1; e7 → 2; e1 → 1 + floor(10/3) = 4.
    let rows = pipe(&app, "customer_segmentation", AS_OF).await;
    expect_rows(
        "edge segmentation",
        &rows,
        json!([
            {"customer_id": "e3", "country": "DE", "segment": "basic", "acquisition_source": null, "recency_days": 89, "frequency": 2, "monetary": 20.02, "r_score": 1, "f_score": 2, "m_score": 4, "rfm_score": "124", "rfm_segment": "Hibernating", "last_purchase_date": "2024-04-02 10:00:00"},
            {"customer_id": "e1", "country": "US", "segment": "premium", "acquisition_source": null, "recency_days": 0, "frequency": 2, "monetary": 10.01, "r_score": 4, "f_score": 2, "m_score": 2, "rfm_score": "422", "rfm_segment": "Potential Loyalist", "last_purchase_date": "2024-06-30 23:20:00"},
            {"customer_id": "e7", "country": "US", "segment": "basic", "acquisition_source": null, "recency_days": 29, "frequency": 1, "monetary": -40.0, "r_score": 2, "f_score": 1, "m_score": 1, "rfm_score": "211", "rfm_segment": "Hibernating", "last_purchase_date": "2024-06-01 10:00:00"},
        ]),
    );
    // Hibernating: e3 + e7 = −19.98 → avg −9.99, recency (89+29)/2 = 59, frequency 1.5.
    let rows = pipe(&app, "customer_segmentation_summary", AS_OF).await;
    expect_rows(
        "edge summary",
        &rows,
        json!([
            {"rfm_segment": "Potential Loyalist", "customers": 1, "share": 0.3333, "avg_recency_days": 0.0, "avg_frequency": 2.0, "avg_monetary": 10.01, "total_monetary": 10.01},
            {"rfm_segment": "Hibernating", "customers": 2, "share": 0.6667, "avg_recency_days": 59.0, "avg_frequency": 1.5, "avg_monetary": -9.99, "total_monetary": -19.98},
        ]),
    );
}

#[tokio::test]
async fn top_category_and_primary_channel_agree_before_and_after_the_newest_event() {
    // k1: null category 30, 'b' 20, a refund of 25 on the null category → by gross: unknown (30 > 20);
    //     channels null, null, web → unknown.
    // k2: 'b' 10 and 'a' 10 → tie → a; channels web, email → tie → email.
    // k3: only a refund (type 'refund') → top_category none, no interactions → none.
    // k4: registered 2025-01-01, buys 1 of 'z' on 2025-01-02 (the newest event).
    let app = TestApp::spawn().await;
    let customers = [
        r#"{"customer_id":"k1","registration_date":"2024-01-01","country":"US"}"#,
        r#"{"customer_id":"k2","registration_date":"2024-01-01","country":"US"}"#,
        r#"{"customer_id":"k3","registration_date":"2024-01-01","country":"US"}"#,
        r#"{"customer_id":"k4","registration_date":"2025-01-01","country":"US"}"#,
    ];
    let tx = [
        r#"{"transaction_id":"w1","customer_id":"k1","transaction_date":"2024-02-01 10:00:00","amount":30,"product_category":""}"#,
        r#"{"transaction_id":"w2","customer_id":"k1","transaction_date":"2024-02-02 10:00:00","amount":20,"product_category":"b"}"#,
        r#"{"transaction_id":"w3","customer_id":"k1","transaction_date":"2024-02-03 10:00:00","amount":25,"is_refund":1}"#,
        r#"{"transaction_id":"w4","customer_id":"k2","transaction_date":"2024-02-01 10:00:00","amount":10,"product_category":"b"}"#,
        r#"{"transaction_id":"w5","customer_id":"k2","transaction_date":"2024-02-02 10:00:00","amount":10,"product_category":"a"}"#,
        r#"{"transaction_id":"w6","customer_id":"k3","transaction_date":"2024-02-01 10:00:00","amount":5,"product_category":"a","transaction_type":"refund"}"#,
        r#"{"transaction_id":"w7","customer_id":"k4","transaction_date":"2025-01-02 10:00:00","amount":1,"product_category":"z"}"#,
    ];
    let interactions = [
        r#"{"interaction_id":"j1","customer_id":"k1","interaction_date":"2024-02-01 10:00:00","interaction_type":"login"}"#,
        r#"{"interaction_id":"j2","customer_id":"k1","interaction_date":"2024-02-02 10:00:00","interaction_type":"login","channel":" "}"#,
        r#"{"interaction_id":"j3","customer_id":"k1","interaction_date":"2024-02-03 10:00:00","interaction_type":"login","channel":"web"}"#,
        r#"{"interaction_id":"j4","customer_id":"k2","interaction_date":"2024-02-01 10:00:00","interaction_type":"login","channel":"web"}"#,
        r#"{"interaction_id":"j5","customer_id":"k2","interaction_date":"2024-02-02 10:00:00","interaction_type":"login","channel":"email"}"#,
    ];
    for (ds, rows) in [
        ("customers", customers.join("\n")),
        ("transactions", tx.join("\n")),
        ("customer_interactions", interactions.join("\n")),
    ] {
        let (status, body) = app.post_events(ds, rows).await;
        assert!(status.is_success(), "{ds}: {status} {body}");
        assert_eq!(body["quarantined_rows"], 0, "{ds}: {body}");
    }
    // as_of 2024-12-31 (before the newest transaction; k4 not registered yet): k1 25, k2 20, k3 −5,
    // population net 40, avg 40/3: index 25 → 187.5, 20 → 150, −5 → −37.5; share 0.625, 0.5, −0.125.
    let rows = pipe(
        &app,
        "ltv_influencing_factors",
        "as_of=2024-12-31&factor=top_category&min_customers=1",
    )
    .await;
    expect_rows(
        "top_category at 2024-12-31",
        &rows,
        json!([
            {"value": "unknown", "customers": 1, "avg_ltv": 25.0, "avg_orders": 2.0, "avg_order_value": 25.0, "avg_interactions": 3.0, "revenue_share": 0.625, "ltv_index": 187.5},
            {"value": "a", "customers": 1, "avg_ltv": 20.0, "avg_orders": 2.0, "avg_order_value": 10.0, "avg_interactions": 2.0, "revenue_share": 0.5, "ltv_index": 150.0},
            {"value": "none", "customers": 1, "avg_ltv": -5.0, "avg_orders": 0.0, "avg_order_value": null, "avg_interactions": 0.0, "revenue_share": -0.125, "ltv_index": -37.5},
        ]),
    );
    let rows = pipe(
        &app,
        "ltv_influencing_factors",
        "as_of=2024-12-31&factor=primary_channel&min_customers=1",
    )
    .await;
    expect_rows(
        "primary_channel at 2024-12-31",
        &rows,
        json!([
            {"value": "unknown", "customers": 1, "avg_ltv": 25.0, "ltv_index": 187.5},
            {"value": "email", "customers": 1, "avg_ltv": 20.0, "ltv_index": 150.0},
            {"value": "none", "customers": 1, "avg_ltv": -5.0, "ltv_index": -37.5},
        ]),
    );
    // as_of 2025-06-30 (after every event): k4 joins with 1 ('z', no interactions). Net 41, avg 10.25:
    // index 25 → 243.9024, 20 → 195.1220, 1 → 9.7561, −5 → −48.7805; share 25/41 = 0.6098,
    // 20/41 = 0.4878, 1/41 = 0.0244, −5/41 = −0.1220. Channel none = k3, k4: avg −2, orders 0.5,
    // aov 1/1 = 1, share −4/41 = −0.0976, index −19.5122.
    let rows = pipe(
        &app,
        "ltv_influencing_factors",
        "as_of=2025-06-30&factor=top_category&min_customers=1",
    )
    .await;
    expect_rows(
        "top_category at 2025-06-30",
        &rows,
        json!([
            {"value": "unknown", "customers": 1, "avg_ltv": 25.0, "avg_order_value": 25.0, "revenue_share": 0.6098, "ltv_index": 243.9024},
            {"value": "a", "customers": 1, "avg_ltv": 20.0, "avg_order_value": 10.0, "revenue_share": 0.4878, "ltv_index": 195.122},
            {"value": "z", "customers": 1, "avg_ltv": 1.0, "avg_order_value": 1.0, "revenue_share": 0.0244, "ltv_index": 9.7561},
            {"value": "none", "customers": 1, "avg_ltv": -5.0, "avg_order_value": null, "revenue_share": -0.122, "ltv_index": -48.7805},
        ]),
    );
    let rows = pipe(
        &app,
        "ltv_influencing_factors",
        "as_of=2025-06-30&factor=primary_channel&min_customers=1",
    )
    .await;
    expect_rows(
        "primary_channel at 2025-06-30",
        &rows,
        json!([
            {"value": "unknown", "customers": 1, "avg_ltv": 25.0, "avg_interactions": 3.0, "revenue_share": 0.6098, "ltv_index": 243.9024},
            {"value": "email", "customers": 1, "avg_ltv": 20.0, "avg_interactions": 2.0, "revenue_share": 0.4878, "ltv_index": 195.122},
            {"value": "none", "customers": 2, "avg_ltv": -2.0, "median_ltv": -2.0, "avg_orders": 0.5, "avg_order_value": 1.0, "avg_interactions": 0.0, "revenue_share": -0.0976, "ltv_index": -19.5122},
        ]),
    );
}

#[tokio::test]
async fn first_purchase_cohorts_mid_month_count_earlier_refunds_and_leave_later_buyers_out() {
    // The cohort of as_of's own month, when events are dated after as_of in
    // it: `a` bought on 03-05 after a refund in January (its cohort is March,
    // and the refund is part of its lifetime total); `b` refunded in
    // February but first bought on 03-20, after as_of: no member of any
    // cohort yet, and its refund counts nowhere.
    let app = TestApp::spawn().await;
    let customers = [
        r#"{"customer_id":"a","registration_date":"2023-12-01 00:00:00","country":"US"}"#,
        r#"{"customer_id":"b","registration_date":"2023-12-01 00:00:00","country":"US"}"#,
    ];
    let transactions = [
        r#"{"transaction_id":"1","customer_id":"a","transaction_date":"2024-01-10 10:00:00","amount":30,"is_refund":1}"#,
        r#"{"transaction_id":"2","customer_id":"a","transaction_date":"2024-03-05 10:00:00","amount":100}"#,
        r#"{"transaction_id":"3","customer_id":"b","transaction_date":"2024-02-01 10:00:00","amount":5,"is_refund":1}"#,
        r#"{"transaction_id":"4","customer_id":"b","transaction_date":"2024-03-20 10:00:00","amount":50}"#,
        r#"{"transaction_id":"5","customer_id":"a","transaction_date":"2024-04-02 10:00:00","amount":7}"#,
    ];
    for (ds, rows) in [
        ("customers", customers.join("\n")),
        ("transactions", transactions.join("\n")),
    ] {
        let (status, body) = app.post_events(ds, rows).await;
        assert!(status.is_success(), "{ds}: {body}");
    }
    for filter in ["", "&country=US"] {
        let rows = pipe(
            &app,
            "ltv_by_cohort",
            &format!("as_of=2024-03-10&cohort_basis=first_purchase{filter}"),
        )
        .await;
        expect_rows(
            "first-purchase cohorts mid-month",
            &rows,
            json!([{"cohort": "2024-03-01", "cohort_size": 1, "paying_customers": 1, "total_orders": 1,
                    "gross_revenue": 100.0, "total_revenue": 70.0}]),
        );
        let rows = pipe(
            &app,
            "customer_retention_analysis",
            &format!("as_of=2024-03-10&cohort_basis=first_purchase{filter}"),
        )
        .await;
        expect_rows(
            "first-purchase retention mid-month",
            &rows,
            json!([{"cohort": "2024-03-01", "period_number": 0, "cohort_size": 1, "active_customers": 1,
                    "revenue": 100.0, "is_complete": false}]),
        );
    }
    // At the end of March both are members; `b`'s February refund counts and
    // `a`'s April purchase does not.
    let rows = pipe(
        &app,
        "ltv_by_cohort",
        "as_of=2024-03-31&cohort_basis=first_purchase",
    )
    .await;
    expect_rows(
        "first-purchase cohorts at the month's end",
        &rows,
        json!([{"cohort": "2024-03-01", "cohort_size": 2, "paying_customers": 2, "total_orders": 2,
                "gross_revenue": 150.0, "total_revenue": 115.0}]),
    );
}
