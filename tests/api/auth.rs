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

/// Sends `n` GETs of `path` with `token` back to back; their statuses and
/// the last answer's headers.
async fn burst(
    app: &TestApp,
    token: &str,
    path: &str,
    n: usize,
) -> (Vec<u16>, reqwest::header::HeaderMap, serde_json::Value) {
    let mut statuses = Vec::new();
    let mut last = None;
    for _ in 0..n {
        let resp = app
            .client
            .get(app.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        statuses.push(resp.status().as_u16());
        let headers = resp.headers().clone();
        last = Some((headers, split(resp).await.1));
    }
    let (headers, body) = last.unwrap();
    (statuses, headers, body)
}

/// Per-token rate limits: a token's own limit wins over the default, both
/// the Pipes read path (token cache) and the other endpoints count, a 429
/// carries Tinybird's headers, and the next window serves again.
#[tokio::test]
async fn tokens_over_their_rate_limit_get_429_with_the_headers() {
    let app = TestApp::spawn_with(&[("LTV_AUTH__RATE_LIMIT_RPS", "4")]).await;
    let scopes: Vec<ltv_pipes::auth::Scope> = vec!["ADMIN".parse().unwrap()];
    let own = ltv_pipes::auth::create_with(
        &app.pool,
        ltv_pipes::auth::NewToken {
            scopes: &scopes,
            rate_limit_rps: Some(2),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let plain = token(&app, &["ADMIN"], None).await;
    for path in ["/v0/pipes", "/v0/datasources"] {
        // A fresh window for each path's burst.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let (statuses, headers, body) = burst(&app, &own, path, 3).await;
        assert_eq!(statuses, [200, 200, 429], "{path}: {body}");
        assert_eq!(headers["x-ratelimit-limit"], "2");
        assert_eq!(headers["x-ratelimit-remaining"], "0");
        assert_eq!(headers["x-ratelimit-reset"], "1");
        assert_eq!(headers["retry-after"], "1");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("too many requests"),
            "{body}"
        );
        let (statuses, headers, _) = burst(&app, &plain, path, 5).await;
        assert_eq!(statuses, [200, 200, 200, 200, 429], "{path}: the default");
        assert_eq!(headers["x-ratelimit-limit"], "4");
    }
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (statuses, _, _) = burst(&app, &own, "/v0/pipes", 1).await;
    assert_eq!(statuses, [200], "the next window serves again");
    // Probes carry no token and are never limited.
    for _ in 0..10 {
        let resp = app.client.get(app.url("/health")).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn the_cli_stores_a_tokens_own_rate_limit() {
    let url = crate::helpers::fresh_database().await;
    let out = crate::helpers::run_cli(
        &url,
        &[
            "token", "create", "--scope", "ADMIN", "--name", "limited", "--rps", "7",
        ],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let rps: Option<i32> =
        sqlx::query_scalar("SELECT rate_limit_rps FROM tokens WHERE name = 'limited'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(rps, Some(7));
    let out =
        crate::helpers::run_cli(&url, &["token", "create", "--scope", "ADMIN", "--rps", "0"]).await;
    assert!(!out.status.success(), "--rps 0 must be refused");
}

const JWT_SECRET: &str = "test-jwt-signing-key";

fn jwt(
    pipes: &[&str],
    fixed: &[(&str, &str)],
    exp_in: i64,
    rps: Option<u32>,
    secret: &str,
) -> String {
    use ltv_pipes::auth::jwt::{sign, Claims, JwtScope, Limits};
    let claims = Claims {
        name: "tenant".into(),
        exp: chrono::Utc::now().timestamp() + exp_in,
        scopes: pipes
            .iter()
            .map(|p| JwtScope {
                kind: "PIPES:READ".into(),
                resource: p.to_string(),
                fixed_params: fixed
                    .iter()
                    .map(|(k, v)| (k.to_string(), serde_json::json!(v)))
                    .collect(),
            })
            .collect(),
        limits: rps.map(|rps| Limits { rps: Some(rps) }),
    };
    sign(secret.as_bytes(), &claims).unwrap()
}

/// The countries of a customer_ltv answer for `token`, sent the way `how` says.
async fn countries(app: &TestApp, token: &str, how: &str) -> (StatusCode, Vec<String>) {
    let base = app.url("/v0/pipes/customer_ltv.json");
    let req = match how {
        "plain" => app.client.get(&base),
        "query" => app.client.get(format!("{base}?country=DE")),
        "repeated" => app
            .client
            .get(format!("{base}?country=US&country=DE&country=DE")),
        "json" => app
            .client
            .post(&base)
            .json(&serde_json::json!({"country": "DE"})),
        "form" => app
            .client
            .post(format!("{base}?country=US"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("country=DE"),
        "token-in-query" => app.client.get(format!("{base}?country=DE&token={token}")),
        other => panic!("{other}"),
    };
    let req = if how == "token-in-query" {
        req
    } else {
        req.bearer_auth(token)
    };
    let (status, body) = split(req.send().await.unwrap()).await;
    let found = body["data"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| r["country"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default();
    (status, found)
}

/// JWTs for embeds: verified without the database, fixed_params beat every
/// way a caller can send a parameter, only the named pipes are readable,
/// expired, tampered or foreign tokens are 403, limits.rps is enforced, and
/// `ltv-pipes token jwt` signs tokens the server accepts.
#[tokio::test]
async fn jwts_read_only_their_pipes_with_their_fixed_params() {
    let app = TestApp::spawn_with(&[("LTV_AUTH__JWT_SECRET", JWT_SECRET)]).await;
    let customers = r#"{"customer_id":"us1","registration_date":"2024-01-01","country":"US"}
{"customer_id":"de1","registration_date":"2024-01-01","country":"DE"}
{"customer_id":"de2","registration_date":"2024-01-01","country":"DE"}"#;
    assert!(app
        .post_events("customers", customers.to_string())
        .await
        .0
        .is_success());
    let tenant = jwt(
        &["customer_ltv"],
        &[("country", "US")],
        600,
        None,
        JWT_SECRET,
    );
    for how in [
        "plain",
        "query",
        "repeated",
        "json",
        "form",
        "token-in-query",
    ] {
        let (status, found) = countries(&app, &tenant, how).await;
        assert_eq!(status, StatusCode::OK, "{how}");
        assert_eq!(found, ["US"], "{how}: the fixed country must win");
    }
    // Without fixed params the caller chooses.
    let open = jwt(&["customer_ltv"], &[], 600, None, JWT_SECRET);
    assert_eq!(countries(&app, &open, "query").await.1, ["DE", "DE"]);
    // Only the named pipe, and nothing but pipes.
    let (status, body) = split(
        app.client
            .get(app.url("/v0/datasources"))
            .bearer_auth(&tenant)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, &body["datasources"]),
        (StatusCode::OK, &serde_json::json!([])),
        "{body}"
    );
    for (method, path) in [
        ("GET", "/v0/pipes/ltv_overview.json"),
        ("GET", "/v0/datasources/customers/quarantine"),
        ("POST", "/v0/events?name=customers"),
    ] {
        let req = match method {
            "GET" => app.client.get(app.url(path)),
            _ => app.client.post(app.url(path)).body(customers),
        };
        let (status, body) = split(req.bearer_auth(&tenant).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
    }
    // Expired, signed with another key, tampered.
    let expired = jwt(
        &["customer_ltv"],
        &[("country", "US")],
        -5,
        None,
        JWT_SECRET,
    );
    let foreign = jwt(&["customer_ltv"], &[], 600, None, "another-key");
    let parts: Vec<&str> = tenant.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        open.split('.').nth(1).unwrap(),
        parts[2]
    );
    for (token, why) in [
        (&expired, "expired"),
        (&foreign, "signature"),
        (&tampered, "signature"),
    ] {
        let (status, body) = split(
            app.client
                .get(app.url("/v0/pipes/customer_ltv.json"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{why}: {body}");
        assert!(body["error"].as_str().unwrap().contains(why), "{body}");
    }
    // limits.rps.
    let limited = jwt(&["customer_ltv"], &[], 600, Some(2), JWT_SECRET);
    let (statuses, headers, _) = burst(&app, &limited, "/v0/pipes/customer_ltv.json", 3).await;
    assert_eq!(statuses, [200, 200, 429]);
    assert_eq!(headers["x-ratelimit-limit"], "2");

    // The CLI signs with the same key.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ltv-pipes"))
        .args([
            "token",
            "jwt",
            "--pipe",
            "customer_ltv",
            "--fixed-param",
            "country=DE",
            "--expires-in-secs",
            "60",
        ])
        .env("LTV_AUTH__JWT_SECRET", JWT_SECRET)
        .env("LTV_DATA_DIR", crate::helpers::scratch_dir("jwt"))
        .env_remove("LTV_CONFIG")
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let signed = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert_eq!(countries(&app, &signed, "plain").await.1, ["DE", "DE"]);
    assert_eq!(countries(&app, &signed, "form").await.1, ["DE", "DE"]);
}
