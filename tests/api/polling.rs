//! Polling: ETags that move exactly when an answer's inputs move, 304s, the
//! in-memory answer cache, and invalidation across two servers sharing one
//! database (LISTEN/NOTIFY), including after the notification connection
//! was cut.

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, CACHE_CONTROL, ETAG, IF_NONE_MATCH};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{fresh_database, scratch_dir, TestApp, ADMIN_TOKEN};

const CUSTOMER: &str = r#"{"customer_id":"c1","registration_date":"2023-01-01","country":"US"}"#;
const TRANSACTION: &str = r#"{"transaction_id":"t1","customer_id":"c1","transaction_date":"2024-03-01 10:00:00","amount":10.25}"#;
const INTERACTION: &str = r#"{"interaction_id":"i1","customer_id":"c1","interaction_date":"2024-03-02 10:00:00","interaction_type":"support_call","channel":"phone","satisfaction_score":4}"#;

/// One answer as the client sees it.
struct Got {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Got {
    fn etag(&self) -> String {
        self.headers
            .get(ETAG)
            .unwrap_or_else(|| panic!("no ETag ({}): {}", self.status, self.body))
            .to_str()
            .unwrap()
            .to_string()
    }

    fn cache(&self) -> &str {
        self.headers
            .get("x-ltv-cache")
            .map_or("", |v| v.to_str().unwrap())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.body))
    }
}

async fn get(app: &TestApp, path: &str, token: Option<&str>, if_none_match: Option<&str>) -> Got {
    let mut req = app.client.get(app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(tag) = if_none_match {
        req = req.header(IF_NONE_MATCH, tag);
    }
    let resp = req.send().await.expect("request");
    Got {
        status: resp.status(),
        headers: resp.headers().clone(),
        body: resp.text().await.unwrap(),
    }
}

async fn admin_get(app: &TestApp, path: &str) -> Got {
    get(app, path, Some(ADMIN_TOKEN), None).await
}

async fn etag_of(app: &TestApp, path: &str) -> String {
    let got = admin_get(app, path).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.body);
    got.etag()
}

async fn post_ok(app: &TestApp, datasource: &str, body: &str) {
    let (status, answer) = app.post_events(datasource, body.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

const COUNTS: &str = "/v0/pipes/datasource_counts.json";

#[tokio::test]
async fn a_repeated_poll_gets_the_same_etag_the_cached_bytes_and_a_304() {
    let app = TestApp::spawn().await;
    post_ok(&app, "customers", CUSTOMER).await;

    let first = admin_get(&app, COUNTS).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.cache(), "miss");
    let etag = first.etag();
    assert!(etag.starts_with("W/\""), "{etag}");
    assert_eq!(first.headers[CACHE_CONTROL], "no-cache");

    let second = admin_get(&app, COUNTS).await;
    assert_eq!(second.cache(), "hit");
    assert_eq!(second.etag(), etag);
    assert_eq!(
        second.body, first.body,
        "the cache returns the bytes it stored"
    );

    let revalidated = get(&app, COUNTS, Some(ADMIN_TOKEN), Some(&etag)).await;
    assert_eq!(revalidated.status, StatusCode::NOT_MODIFIED);
    assert!(revalidated.body.is_empty());
    assert_eq!(revalidated.etag(), etag);
    assert_eq!(revalidated.headers[CACHE_CONTROL], "no-cache");
    // A list naming it, and the strong form, match too (weak comparison).
    let listed = format!("\"other\", {}", etag.trim_start_matches("W/"));
    let got = get(&app, COUNTS, Some(ADMIN_TOKEN), Some(&listed)).await;
    assert_eq!(got.status, StatusCode::NOT_MODIFIED);
    // An old tag gets the full answer.
    let stale = get(&app, COUNTS, Some(ADMIN_TOKEN), Some("W/\"0123\"")).await;
    assert_eq!(stale.status, StatusCode::OK);
    assert_eq!(stale.body, first.body);
    // `*` is a 304 only once an answer is known to exist (it is cached).
    let csv = "/v0/pipes/datasource_counts.csv";
    let star = get(&app, csv, Some(ADMIN_TOKEN), Some("*")).await;
    assert_eq!((star.status, star.cache()), (StatusCode::OK, "miss"));
    let star = get(&app, csv, Some(ADMIN_TOKEN), Some("*")).await;
    assert_eq!(star.status, StatusCode::NOT_MODIFIED);
    // Other formats have their own tags.
    assert_ne!(etag_of(&app, csv).await, etag);
    assert_ne!(
        etag_of(&app, "/v0/pipes/datasource_counts.ndjson").await,
        etag
    );
}

#[tokio::test]
async fn the_etag_moves_after_a_write_to_each_datasource_and_not_after_a_repeat() {
    let app = TestApp::spawn().await;
    let mut etag = etag_of(&app, COUNTS).await;
    for (datasource, row) in [
        ("customers", CUSTOMER),
        ("transactions", TRANSACTION),
        ("customer_interactions", INTERACTION),
    ] {
        post_ok(&app, datasource, row).await;
        let after = admin_get(&app, COUNTS).await;
        assert_ne!(after.etag(), etag, "after a new {datasource} row");
        assert_eq!(after.cache(), "miss", "{datasource}");
        etag = after.etag();

        // The same row again (a client's retry) changes nothing: same tag, a 304.
        post_ok(&app, datasource, row).await;
        assert_eq!(
            etag_of(&app, COUNTS).await,
            etag,
            "after a repeated {datasource} row"
        );
        let got = get(&app, COUNTS, Some(ADMIN_TOKEN), Some(&etag)).await;
        assert_eq!(got.status, StatusCode::NOT_MODIFIED, "{datasource}");
    }
    // A changed customer attribute is a change; a rejected row changes the
    // quarantine (a pipe may read it), so it moves the tag too.
    post_ok(&app, "customers", &CUSTOMER.replace("US", "FR")).await;
    let after = etag_of(&app, COUNTS).await;
    assert_ne!(after, etag);
    post_ok(&app, "customers", r#"{"customer_id":"bad"}"#).await;
    let quarantined = etag_of(&app, COUNTS).await;
    assert_ne!(quarantined, after);
    let cleared = app
        .client
        .delete(app.url("/v0/datasources/customers/quarantine"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), StatusCode::OK);
    assert_ne!(etag_of(&app, COUNTS).await, quarantined);
}

#[tokio::test]
async fn parameters_decide_the_etag_by_value_not_by_spelling() {
    let app = TestApp::spawn().await;
    post_ok(&app, "customers", CUSTOMER).await;
    let default = etag_of(&app, COUNTS).await;
    let filtered = etag_of(&app, &format!("{COUNTS}?datasource=customers")).await;
    assert_ne!(default, filtered);
    assert_ne!(
        filtered,
        etag_of(&app, &format!("{COUNTS}?datasource=transactions")).await
    );
    // The default spelled out, an unknown parameter, and the token in the
    // query string do not change the answer, so not its tag either.
    assert_eq!(
        etag_of(&app, &format!("{COUNTS}?order_by=datasource")).await,
        default
    );
    assert_eq!(
        etag_of(&app, &format!("{COUNTS}?unrelated=1")).await,
        default
    );
    let by_query_token = get(&app, &format!("{COUNTS}?token={ADMIN_TOKEN}"), None, None).await;
    assert_eq!(by_query_token.etag(), default);
    assert_eq!(by_query_token.cache(), "hit");
}

fn write_pipe(dir: &Path, sql: &str) {
    std::fs::write(
        dir.join("answer.pipe"),
        format!("NODE n\nSQL >\n    {sql}\n"),
    )
    .unwrap();
}

#[tokio::test]
async fn a_reloaded_pipe_with_changed_sql_gets_a_new_etag_and_answer() {
    let dir = scratch_dir("pipes");
    write_pipe(&dir, "SELECT 1 AS answer");
    let app = TestApp::spawn_with(&[("LTV_PIPES__DIR", dir.to_str().unwrap())]).await;
    let before = admin_get(&app, "/v0/pipes/answer.json").await;
    assert_eq!(before.json()["data"], json!([{"answer": 1}]));
    let reload = || async {
        let resp = app
            .client
            .post(app.url("/v0/pipes/reload"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    };
    reload().await;
    assert_eq!(
        etag_of(&app, "/v0/pipes/answer.json").await,
        before.etag(),
        "the same file after a reload keeps its tag"
    );

    write_pipe(&dir, "SELECT 2 AS answer");
    reload().await;
    let after = get(
        &app,
        "/v0/pipes/answer.json",
        Some(ADMIN_TOKEN),
        Some(&before.etag()),
    )
    .await;
    assert_eq!(after.status, StatusCode::OK);
    assert_ne!(after.etag(), before.etag());
    assert_eq!(after.json()["data"], json!([{"answer": 2}]));
}

#[tokio::test]
async fn a_cached_answer_is_the_answer_an_uncached_server_gives() {
    let url = fresh_database().await;
    let cached = TestApp::spawn_on(&url, &[]).await;
    let uncached = TestApp::spawn_on(&url, &[("LTV_CACHE__ENABLED", "false")]).await;
    post_ok(&cached, "customers", CUSTOMER).await;
    post_ok(&cached, "customers", &CUSTOMER.replace("c1", "c2")).await;
    post_ok(&cached, "transactions", TRANSACTION).await;
    post_ok(
        &cached,
        "transactions",
        &TRANSACTION.replace("t1", "t2").replace("c1", "c2"),
    )
    .await;
    for path in [
        "/v0/pipes/customer_ltv.json?limit=10&as_of=2024-06-30",
        "/v0/pipes/customer_ltv.csv?as_of=2024-06-30",
        "/v0/pipes/ltv_overview.ndjson?as_of=2024-06-30",
    ] {
        until_agree(&cached, &uncached, path).await;
        let hit = admin_get(&cached, path).await;
        assert_eq!(hit.cache(), "hit", "{path}");
        let fresh = admin_get(&uncached, path).await;
        assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.body);
        assert_eq!(fresh.cache(), "miss", "{path}");
        // Both servers tag the same answer alike (a load balancer may switch).
        assert_eq!(fresh.etag(), hit.etag(), "{path}");
        if path.contains(".json") {
            // statistics.elapsed is the time of the run that made the answer.
            let strip = |mut v: Value| {
                v.as_object_mut().unwrap().remove("statistics");
                v
            };
            assert_eq!(strip(hit.json()), strip(fresh.json()), "{path}");
        } else {
            assert_eq!(hit.body, fresh.body, "{path}");
        }
    }
    let again = admin_get(&uncached, "/v0/pipes/ltv_overview.ndjson?as_of=2024-06-30").await;
    assert_eq!(
        again.cache(),
        "miss",
        "with cache.enabled=false nothing is kept"
    );
}

#[tokio::test]
async fn a_304_or_a_cached_answer_needs_a_token_that_may_read_the_pipe() {
    let app = TestApp::spawn().await;
    post_ok(&app, "customers", CUSTOMER).await;
    let etag = etag_of(&app, COUNTS).await;
    admin_get(&app, COUNTS).await; // now cached

    let anonymous = get(&app, COUNTS, None, Some(&etag)).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert!(anonymous.headers.get(ETAG).is_none());
    let unknown = get(&app, COUNTS, Some("ltv_nope"), Some(&etag)).await;
    assert_eq!(unknown.status, StatusCode::FORBIDDEN);
    let scopes = vec!["PIPES:READ:customer_ltv".parse().unwrap()];
    let other = ltv_pipes::auth::create(&app.pool, None, &scopes, None)
        .await
        .unwrap();
    let forbidden = get(&app, COUNTS, Some(&other), Some(&etag)).await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    assert!(forbidden.headers.get(ETAG).is_none());
    assert!(!forbidden.body.contains("rows"));

    // A revoked reader is refused within the token cache's bound: the
    // revocation NOTIFYs, so in practice at once.
    let scopes = vec!["PIPES:READ:*".parse().unwrap()];
    ltv_pipes::auth::create(&app.pool, Some("poller"), &scopes, None)
        .await
        .unwrap();
    let reader = ltv_pipes::auth::create(&app.pool, Some("reader"), &scopes, None)
        .await
        .unwrap();
    assert_eq!(
        get(&app, COUNTS, Some(&reader), Some(&etag)).await.status,
        StatusCode::NOT_MODIFIED
    );
    assert!(ltv_pipes::auth::revoke(&app.pool, "reader").await.unwrap());
    let revoked_at = Instant::now();
    loop {
        let status = get(&app, COUNTS, Some(&reader), Some(&etag)).await.status;
        if status == StatusCode::FORBIDDEN {
            break;
        }
        assert_eq!(status, StatusCode::NOT_MODIFIED);
        assert!(
            revoked_at.elapsed() < Duration::from_secs(5),
            "a revoked token still reads after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `path` on `b` until it gives the ETag `a` gives (b heard of a's
/// writes), within 1 s; that ETag.
async fn until_agree(a: &TestApp, b: &TestApp, path: &str) -> String {
    let on_a = etag_of(a, path).await;
    let started = Instant::now();
    while etag_of(b, path).await != on_a {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the servers never agreed on {path}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    on_a
}

/// Polls `path` on `app` until its ETag differs from `old`; the time it took.
async fn until_etag_changes(app: &TestApp, path: &str, old: &str) -> Duration {
    let started = Instant::now();
    loop {
        let got = admin_get(app, path).await;
        if got.status == StatusCode::OK && got.headers.get(ETAG).is_some() && got.etag() != old {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the ETag of {path} did not change within 5 s (last: {} {:?})",
            got.status,
            got.headers.get(ETAG)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_write_through_one_server_invalidates_another_servers_cache_within_a_second() {
    let url = fresh_database().await;
    let a = TestApp::spawn_on(&url, &[]).await;
    let b = TestApp::spawn_on(&url, &[]).await;
    post_ok(&a, "customers", CUSTOMER).await;
    let path = "/v0/pipes/datasource_counts.json?datasource=transactions";
    // B hears of A's write within a second: then both servers agree on the
    // tag, and B has the answer cached.
    let on_a = etag_of(&a, path).await;
    let started = Instant::now();
    while etag_of(&b, path).await != on_a {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "B never agreed with A"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let cached = admin_get(&b, path).await;
    assert_eq!(cached.cache(), "hit");
    assert_eq!(cached.etag(), on_a);
    assert_eq!(
        cached.json()["data"],
        json!([{"datasource": "transactions", "rows": 0}])
    );

    post_ok(&a, "transactions", TRANSACTION).await;
    let took = until_etag_changes(&b, path, &cached.etag()).await;
    assert!(took < Duration::from_secs(1), "took {took:?}");
    let fresh = admin_get(&b, path).await;
    assert_eq!(
        fresh.json()["data"],
        json!([{"datasource": "transactions", "rows": 1}])
    );
    let old = get(&b, path, Some(ADMIN_TOKEN), Some(&cached.etag())).await;
    assert_eq!(
        old.status,
        StatusCode::OK,
        "an old tag is not a 304 any more"
    );
}

#[tokio::test]
async fn after_its_notification_connection_is_cut_a_server_catches_up() {
    let url = fresh_database().await;
    let a = TestApp::spawn_on(&url, &[]).await;
    let b = TestApp::spawn_on(&url, &[]).await;
    let path = "/v0/pipes/datasource_counts.json?datasource=customers";
    let before = etag_of(&b, path).await;
    assert_eq!(admin_get(&b, path).await.cache(), "hit");

    // A version moves with no notification while every LISTENing connection
    // is cut: only the re-read after reconnecting can tell B. The table lock
    // makes that re-read wait for the change, so the order is certain.
    let mut tx = a.pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE data_versions IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("UPDATE data_versions SET version = version + 1 WHERE source = 'customers'")
        .execute(&mut *tx)
        .await
        .unwrap();
    let cut: i64 = sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    assert_eq!(cut, 2, "one LISTEN connection per server");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let during = admin_get(&b, path).await;
    assert_eq!(during.status, StatusCode::OK);
    assert_eq!(
        during.cache(),
        "bypass",
        "untagged while versions are unknown"
    );
    assert!(during.headers.get(ETAG).is_none());
    tx.commit().await.unwrap();
    let took = until_etag_changes(&b, path, &before).await;
    assert!(took < Duration::from_secs(3), "took {took:?}");
    let after = admin_get(&b, path).await;
    assert_ne!(after.cache(), "bypass", "B is tagging again");
    assert!(after.headers.get(ETAG).is_some());
}

#[tokio::test]
async fn a_304_and_a_cache_hit_do_no_database_work() {
    let app = TestApp::spawn().await;
    post_ok(&app, "customers", CUSTOMER).await;
    let etag = etag_of(&app, COUNTS).await; // the answer and the token are now cached
                                            // Every table a poll could read is locked against readers: a request
                                            // that queried any of them would wait for the lock (and time out here).
    let mut tx = app.pool.begin().await.unwrap();
    sqlx::query(
        "LOCK TABLE tokens, customers, transactions, customer_interactions, quarantine, \
         data_versions IN ACCESS EXCLUSIVE MODE",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    let quick = |tag: Option<String>| {
        let mut req = app
            .client
            .get(app.url(COUNTS))
            .bearer_auth(ADMIN_TOKEN)
            .timeout(Duration::from_secs(2));
        if let Some(tag) = tag {
            req = req.header(IF_NONE_MATCH, tag);
        }
        req.send()
    };
    let not_modified = quick(Some(etag.clone()))
        .await
        .expect("a 304 without the database");
    assert_eq!(not_modified.status(), StatusCode::NOT_MODIFIED);
    let hit = quick(None).await.expect("a cache hit without the database");
    assert_eq!(hit.headers()["x-ltv-cache"], "hit");
    // A request that must run the pipe does wait for the lock.
    let miss = app
        .client
        .get(app.url("/v0/pipes/datasource_counts.csv"))
        .bearer_auth(ADMIN_TOKEN)
        .timeout(Duration::from_millis(500))
        .send()
        .await;
    assert!(miss.is_err(), "the uncached request ran despite the lock");
    tx.rollback().await.unwrap();
}

#[tokio::test]
async fn a_client_that_accepts_gzip_gets_the_cached_answer_compressed() {
    let app = TestApp::spawn().await;
    post_ok(&app, "customers", CUSTOMER).await;
    let plain = admin_get(&app, COUNTS).await;
    let gzip_get = || async {
        let resp = app
            .client
            .get(app.url(COUNTS))
            .bearer_auth(ADMIN_TOKEN)
            .header(reqwest::header::ACCEPT_ENCODING, "gzip")
            .send()
            .await
            .unwrap();
        let headers = resp.headers().clone();
        (headers, resp.bytes().await.unwrap())
    };
    for expected in ["hit", "hit"] {
        let (headers, bytes) = gzip_get().await;
        assert_eq!(headers["x-ltv-cache"], expected);
        assert_eq!(headers[reqwest::header::CONTENT_ENCODING], "gzip");
        assert_eq!(headers[ETAG], plain.etag().as_str());
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut text)
            .unwrap();
        assert_eq!(text, plain.body);
    }
    // A fresh answer is compressed too (once: the layer leaves it alone).
    post_ok(&app, "customers", &CUSTOMER.replace("c1", "c2")).await;
    let (headers, bytes) = gzip_get().await;
    assert_eq!(headers["x-ltv-cache"], "miss");
    assert_eq!(headers[reqwest::header::CONTENT_ENCODING], "gzip");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut text)
        .unwrap();
    assert_eq!(admin_get(&app, COUNTS).await.body, text);
}
