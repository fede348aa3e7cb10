use reqwest::StatusCode;

use crate::helpers::{split, TestApp};

const ROW: &str = r#"{"customer_id":"c1","registration_date":"2023-01-15"}"#;

async fn token(app: &TestApp, scopes: &[&str], expires: Option<&str>) -> String {
    let scopes: Vec<ltv_pipes::auth::Scope> = scopes.iter().map(|s| s.parse().unwrap()).collect();
    let expires = expires.map(|e| e.parse().unwrap());
    ltv_pipes::auth::create(&app.pool, None, &scopes, expires)
        .await
        .unwrap()
}

async fn post_with(
    app: &TestApp,
    ds: &str,
    token: Option<&str>,
    query_token: bool,
) -> (StatusCode, serde_json::Value) {
    let mut url = app.url(&format!("/v0/events?name={ds}"));
    let mut req = app.client.post(&url).body(ROW);
    if let Some(t) = token {
        if query_token {
            url.push_str(&format!("&token={t}"));
            req = app.client.post(&url).body(ROW);
        } else {
            req = req.bearer_auth(t);
        }
    }
    split(req.send().await.unwrap()).await
}

#[tokio::test]
async fn no_token_is_401_with_www_authenticate_and_a_json_error() {
    let app = TestApp::spawn().await;
    let resp = app
        .client
        .post(app.url("/v0/events?name=customers"))
        .body(ROW)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("token is required"));
    assert_eq!(app.count("SELECT count(*) FROM customers").await, 0);
}

#[tokio::test]
async fn an_unknown_revoked_or_expired_token_is_403() {
    let app = TestApp::spawn().await;
    let (status, body) = post_with(&app, "customers", Some("ltv_nope"), false).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body["error"].as_str().unwrap().contains("invalid token"));

    let expired = token(&app, &["ADMIN"], Some("2020-01-01T00:00:00Z")).await;
    assert_eq!(
        post_with(&app, "customers", Some(&expired), false).await.0,
        StatusCode::FORBIDDEN
    );

    let t = ltv_pipes::auth::create(
        &app.pool,
        Some("to-revoke"),
        &["ADMIN".parse().unwrap()],
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        post_with(&app, "customers", Some(&t), false).await.0,
        StatusCode::ACCEPTED
    );
    assert!(ltv_pipes::auth::revoke(&app.pool, "to-revoke")
        .await
        .unwrap());
    assert_eq!(
        post_with(&app, "customers", Some(&t), false).await.0,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_token_needs_the_append_scope_of_the_datasource() {
    let app = TestApp::spawn().await;
    let only_tx = token(&app, &["DATASOURCES:APPEND:transactions"], None).await;
    let (status, body) = post_with(&app, "customers", Some(&only_tx), false).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("DATASOURCES:APPEND:customers"));
    let read_only = token(&app, &["DATASOURCES:READ:*", "PIPES:READ:*"], None).await;
    assert_eq!(
        post_with(&app, "customers", Some(&read_only), false)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let any = token(&app, &["DATASOURCES:APPEND:*"], None).await;
    assert_eq!(
        post_with(&app, "customers", Some(&any), true).await.0,
        StatusCode::ACCEPTED
    );
    let named = token(&app, &["DATASOURCES:APPEND:customers"], None).await;
    assert_eq!(
        post_with(&app, "customers", Some(&named), false).await.0,
        StatusCode::ACCEPTED
    );
    assert_eq!(app.count("SELECT count(*) FROM customers").await, 1);
}

#[tokio::test]
async fn reading_the_quarantine_needs_the_read_scope() {
    let app = TestApp::spawn().await;
    let append = token(&app, &["DATASOURCES:APPEND:customers"], None).await;
    let resp = app
        .client
        .get(app.url("/v0/datasources/customers/quarantine"))
        .bearer_auth(&append)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let read = token(&app, &["DATASOURCES:READ:customers"], None).await;
    let resp = app
        .client
        .get(app.url(&format!(
            "/v0/datasources/customers/quarantine?token={read}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // The datasource list shows only what the token may read.
    let (_, list) = split(
        app.client
            .get(app.url("/v0/datasources"))
            .bearer_auth(&read)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let names: Vec<&str> = list["datasources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["customers"]);
}
