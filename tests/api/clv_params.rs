//! Every CLV pipe parameter is validated: a bad value is a 400 whose message
//! names the parameter, and nothing runs.

use reqwest::StatusCode;

use crate::helpers::TestApp;

#[tokio::test]
async fn bad_clv_parameters_are_400_naming_the_parameter() {
    let app = TestApp::spawn().await;
    let cases = [
        ("customer_ltv", "as_of=2024-13-01", "as_of"),
        ("customer_ltv", "as_of=yesterday", "as_of"),
        (
            "customer_ltv",
            "start_date=2024-02-30%2000:00:00",
            "start_date",
        ),
        ("customer_ltv", "limit=-1", "limit"),
        ("customer_ltv", "limit=10001", "limit"),
        ("customer_ltv", "offset=-5", "offset"),
        ("customer_ltv", "margin=0", "margin"),
        ("customer_ltv", "margin=1.5", "margin"),
        ("customer_ltv", "margin=abc", "margin"),
        ("customer_ltv", "is_active=2", "is_active"),
        ("customer_ltv", "min_ltv=lots", "min_ltv"),
        ("customer_ltv", "order_by=password", "order_by"),
        ("customer_ltv", "order_dir=sideways", "order_dir"),
        ("ltv_by_cohort", "cohort_period=week", "cohort_period"),
        ("ltv_by_cohort", "cohort_basis=signup", "cohort_basis"),
        ("ltv_by_cohort", "end_date=soon", "end_date"),
        (
            "customer_retention_analysis",
            "max_periods=0",
            "max_periods",
        ),
        (
            "customer_retention_analysis",
            "max_periods=241",
            "max_periods",
        ),
        (
            "customer_retention_analysis",
            "cohort_period=day",
            "cohort_period",
        ),
        (
            "customer_segmentation",
            "segment_filter=Whales",
            "segment_filter",
        ),
        ("customer_segmentation", "limit=-1", "limit"),
        ("customer_segmentation", "min_frequency=-1", "min_frequency"),
        ("customer_segmentation", "min_monetary=x", "min_monetary"),
        (
            "customer_segmentation",
            "start_date=2024-01-01T25:00:00",
            "start_date",
        ),
        (
            "customer_segmentation_summary",
            "segment_filter=champions",
            "segment_filter",
        ),
        (
            "ltv_influencing_factors",
            "min_customers=0",
            "min_customers",
        ),
        ("ltv_influencing_factors", "factor=zodiac", "factor"),
        ("ltv_influencing_factors", "as_of=2024/01/01", "as_of"),
        ("ltv_overview", "as_of=0", "as_of"),
    ];
    for (pipe, query, param) in cases {
        let (status, body) = app.get(&format!("/v0/pipes/{pipe}.json?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{pipe}?{query}: {body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(&format!("'{param}'")),
            "{pipe}?{query}: '{error}' does not name {param}"
        );
    }
}

#[tokio::test]
async fn every_clv_pipe_answers_its_default_call_on_an_empty_database() {
    let app = TestApp::spawn().await;
    for &pipe in crate::helpers::CLV_PIPES {
        let (status, body) = app.get(&format!("/v0/pipes/{pipe}.json")).await;
        assert_eq!(status, StatusCode::OK, "{pipe}: {body}");
        let rows = body["rows"].as_u64().unwrap();
        match pipe {
            // One summary row (zeros and nulls) even without data.
            "ltv_overview" => assert_eq!(
                (rows, &body["data"][0]["customers"]),
                (1, &serde_json::json!(0))
            ),
            // The five correlation rows are always there.
            "ltv_influencing_factors" => assert_eq!(rows, 5, "{body}"),
            _ => assert_eq!(rows, 0, "{pipe}: {body}"),
        }
    }
}
