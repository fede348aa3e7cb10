//! Every validation rule of the Events API, one row each: the line is quarantined
//! with a reason that names the field, and nothing of it is stored.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::TestApp;

fn customer() -> Value {
    json!({"customer_id":"c1","registration_date":"2023-01-15 10:30:00","country":"US","age":35,"is_active":1})
}
fn transaction() -> Value {
    json!({"transaction_id":"t1","customer_id":"c1","transaction_date":"2023-02-20 14:25:00","amount":10.5,"is_refund":0})
}
fn interaction() -> Value {
    json!({"interaction_id":"i1","customer_id":"c1","interaction_date":"2023-03-05","duration_seconds":30,"satisfaction_score":3})
}

fn set(mut base: Value, field: &str, value: Value) -> Value {
    if value.is_null() {
        base.as_object_mut().unwrap().remove(field);
    } else {
        base[field] = value;
    }
    base
}

fn with(base: Value, field: &str, value: Value) -> String {
    set(base, field, value).to_string()
}

#[tokio::test]
async fn each_invalid_field_is_quarantined_with_a_reason_naming_it() {
    let app = TestApp::spawn().await;
    // (datasource, row, words the reason must contain)
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "customers",
            with(customer(), "customer_id", Value::Null),
            "'customer_id' is required",
        ),
        (
            "customers",
            with(customer(), "customer_id", json!("")),
            "'customer_id' must not be empty",
        ),
        (
            "customers",
            with(customer(), "customer_id", json!({"a":1})),
            "'customer_id' must be a string",
        ),
        (
            "customers",
            with(customer(), "registration_date", Value::Null),
            "'registration_date' is required",
        ),
        (
            "customers",
            with(customer(), "registration_date", json!("15/01/2023")),
            "'registration_date' must be a date-time",
        ),
        (
            "customers",
            with(customer(), "registration_date", json!(20230115)),
            "'registration_date' must be a date-time string",
        ),
        (
            "customers",
            with(customer(), "age", json!(-1)),
            "'age' must be between 0 and 150",
        ),
        (
            "customers",
            with(customer(), "age", json!("old")),
            "'age' must be a whole number",
        ),
        (
            "customers",
            with(customer(), "is_active", json!(2)),
            "'is_active' must be 0, 1, true or false",
        ),
        (
            "customers",
            with(customer(), "country", json!(["US"])),
            "'country' must be a string",
        ),
        (
            "customers",
            with(customer(), "city", json!("a\u{0}b")),
            "'city' must not contain NUL",
        ),
        (
            "transactions",
            with(transaction(), "transaction_id", Value::Null),
            "'transaction_id' is required",
        ),
        (
            "transactions",
            with(transaction(), "customer_id", Value::Null),
            "'customer_id' is required",
        ),
        (
            "transactions",
            with(transaction(), "transaction_date", json!("2023-02-30")),
            "'transaction_date' must be a date-time",
        ),
        (
            "transactions",
            with(transaction(), "amount", Value::Null),
            "'amount' is required",
        ),
        (
            "transactions",
            with(transaction(), "amount", json!(-0.01)),
            "send refunds as a positive amount with is_refund=1",
        ),
        (
            "transactions",
            with(transaction(), "amount", json!("ten")),
            "'amount' must be a number",
        ),
        (
            "transactions",
            with(transaction(), "is_refund", json!("maybe")),
            "'is_refund' must be 0, 1, true or false",
        ),
        (
            "customer_interactions",
            with(interaction(), "interaction_id", Value::Null),
            "'interaction_id' is required",
        ),
        (
            "customer_interactions",
            with(interaction(), "interaction_date", json!("yesterday")),
            "'interaction_date' must be a date-time",
        ),
        (
            "customer_interactions",
            with(interaction(), "satisfaction_score", json!(6)),
            "'satisfaction_score' must be between 1 and 5",
        ),
        (
            "customer_interactions",
            with(interaction(), "satisfaction_score", json!(0)),
            "'satisfaction_score' must be between 1 and 5",
        ),
        (
            "customer_interactions",
            with(interaction(), "duration_seconds", json!(-3)),
            "'duration_seconds' must be between 0",
        ),
    ];
    for (ds, row, reason) in &cases {
        let (status, body) = app.post_events(ds, row.clone()).await;
        assert_eq!(status, StatusCode::OK, "{ds} {row}");
        assert_eq!(
            body,
            json!({"successful_rows": 0, "quarantined_rows": 1}),
            "{ds} {row}"
        );
        let (_, q) = app
            .get(&format!("/v0/datasources/{ds}/quarantine?limit=1"))
            .await;
        let error = q["data"][0]["error"].as_str().unwrap();
        assert!(
            error.contains(reason),
            "{ds} {row}: got '{error}', want '{reason}'"
        );
    }
    for table in ["customers", "transactions", "customer_interactions"] {
        assert_eq!(
            app.count(&format!("SELECT count(*) FROM {table}")).await,
            0,
            "{table}"
        );
    }
}

#[tokio::test]
async fn valid_variants_are_accepted_and_stored_in_utc() {
    let app = TestApp::spawn().await;
    let rows = [
        with(
            customer(),
            "registration_date",
            json!("2023-01-15T12:30:00+02:00"),
        ),
        with(
            set(customer(), "customer_id", json!(42)),
            "is_active",
            json!("true"),
        ),
        with(
            set(customer(), "customer_id", json!("c3")),
            "registration_date",
            json!("2023-01-15"),
        ),
    ]
    .join("\n");
    let (_, body) = app.post_events("customers", rows).await;
    assert_eq!(body, json!({"successful_rows": 3, "quarantined_rows": 0}));
    let dates: Vec<(String, String)> = sqlx::query_as(
        "SELECT customer_id, to_char(registration_date AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') FROM customers ORDER BY 1",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        dates,
        vec![
            ("42".into(), "2023-01-15 10:30:00".into()),
            ("c1".into(), "2023-01-15 10:30:00".into()),
            ("c3".into(), "2023-01-15 00:00:00".into())
        ]
    );
    // Unknown fields are ignored; null optional fields are fine; satisfaction may be null.
    let extra = with(
        set(interaction(), "satisfaction_score", Value::Null),
        "mood",
        json!("happy"),
    );
    let (_, body) = app.post_events("customer_interactions", extra).await;
    assert_eq!(body["successful_rows"], 1);
}
