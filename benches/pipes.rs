//! Pipes over HTTP, two measurements in one run:
//!
//! 1. Engine overhead: a trivial pipe (`SELECT 1`) over HTTP — parameter
//!    validation, compilation, a read-only statement, encoding — against the
//!    same `SELECT 1` sent straight to PostgreSQL through the pool. The server
//!    runs with the answer cache and the token cache off, so every request does
//!    that work.
//! 2. Polling: a dashboard's repeated `customer_ltv?limit=100` (1,000 customers,
//!    a ~30 kB answer) on a server with the defaults: revalidated with
//!    `If-None-Match` (304) and plain (answered from the cache), p50/p99 and
//!    requests/s with 1 and 32 clients, against the same call computed.
//!
//! Run: `cargo bench --bench pipes` (`-- --requests N --seconds S` to change sizes).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT_ENCODING, ETAG, IF_NONE_MATCH};
use reqwest::StatusCode;

mod common;
use common::{arg, percentile_ms, Server, TOKEN};

const PIPE: &str = "DESCRIPTION >\n    The engine's floor.\n\nNODE one\nSQL >\n    SELECT {{ Int32(x, 1, description=\"any number\") }} AS one\n";
const POLLED: &str = "customer_ltv.json?limit=100&as_of=2025-06-30";
const CUSTOMERS: usize = 1000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let requests = arg("--requests", 3000);
    let seconds = arg("--seconds", 5) as u64;
    let pipes = tempfile::tempdir()?;
    std::fs::write(pipes.path().join("one.pipe"), PIPE)?;
    std::fs::copy(
        "pipes/customer_ltv.pipe",
        pipes.path().join("customer_ltv.pipe"),
    )?;
    let dir = pipes.path().display().to_string();

    let server = Server::start(&[
        ("LTV_PIPES__DIR", dir.clone()),
        ("LTV_CACHE__ENABLED", "false".into()),
        ("LTV_CACHE__TOKEN_TTL_SECS", "0".into()),
    ])
    .await?;
    engine_overhead(&server, requests, seconds).await?;
    seed(&server).await?;
    let computed = latencies(&server, POLLED, None, false, requests / 10).await?;
    server.stop().await?;

    let server = Server::start(&[("LTV_PIPES__DIR", dir)]).await?;
    seed(&server).await?;
    polling(&server, requests, seconds, &computed).await?;
    server.stop().await
}

async fn engine_overhead(server: &Server, requests: usize, seconds: u64) -> anyhow::Result<()> {
    let url = format!("{}/v0/pipes/one.json?x=7", server.base);
    let client = reqwest::Client::new();
    for _ in 0..300 {
        client
            .get(&url)
            .bearer_auth(TOKEN)
            .send()
            .await?
            .bytes()
            .await?;
        sqlx::query("SELECT $1::int8 AS one")
            .bind(7i64)
            .fetch_one(&server.pool)
            .await?;
    }
    let mut http = Vec::with_capacity(requests);
    let mut direct = Vec::with_capacity(requests);
    for _ in 0..requests {
        let t = Instant::now();
        let resp = client.get(&url).bearer_auth(TOKEN).send().await?;
        assert!(resp.status().is_success());
        resp.bytes().await?;
        http.push(t.elapsed());
        let t = Instant::now();
        sqlx::query("SELECT $1::int8 AS one")
            .bind(7i64)
            .fetch_one(&server.pool)
            .await?;
        direct.push(t.elapsed());
    }
    http.sort();
    direct.sort();
    println!(
        "pipe SELECT 1 over HTTP (1 client, {requests} requests): p50 {:.3} ms, p99 {:.3} ms",
        percentile_ms(&http, 0.5),
        percentile_ms(&http, 0.99)
    );
    println!(
        "baseline SELECT 1 through the pool (same run):        p50 {:.3} ms, p99 {:.3} ms; ratio of p50s {:.2}x",
        percentile_ms(&direct, 0.5),
        percentile_ms(&direct, 0.99),
        percentile_ms(&http, 0.5) / percentile_ms(&direct, 0.5)
    );
    for clients in [1usize, 32] {
        let rate = throughput(server, "one.json?x=7", None, false, clients, seconds).await;
        println!("pipe SELECT 1 with {clients:>2} concurrent clients: {rate:.0} requests/s over {seconds} s");
    }
    Ok(())
}

/// 1,000 customers with 1–9 purchases each, through the Events API.
async fn seed(server: &Server) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let (mut customers, mut transactions) = (String::new(), String::new());
    for c in 0..CUSTOMERS {
        customers.push_str(&format!(
            "{{\"customer_id\":\"c{c}\",\"registration_date\":\"2024-01-01\",\"country\":\"{}\"}}\n",
            ["US", "DE", "FR"][c % 3]
        ));
        for t in 0..(1 + c % 9) {
            transactions.push_str(&format!(
                "{{\"transaction_id\":\"t{c}_{t}\",\"customer_id\":\"c{c}\",\"transaction_date\":\"2024-{:02}-10 12:00:00\",\"amount\":{}.5}}\n",
                1 + t, 10 + (c * 7 + t * 13) % 90
            ));
        }
    }
    for (ds, body) in [("customers", customers), ("transactions", transactions)] {
        let resp = client
            .post(format!("{}/v0/events?name={ds}", server.base))
            .bearer_auth(TOKEN)
            .body(body)
            .send()
            .await?;
        anyhow::ensure!(
            resp.status().is_success(),
            "seeding {ds}: {}",
            resp.status()
        );
    }
    Ok(())
}

async fn polling(
    server: &Server,
    requests: usize,
    seconds: u64,
    computed: &[Duration],
) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let first = client
        .get(format!("{}/v0/pipes/{POLLED}", server.base))
        .bearer_auth(TOKEN)
        .send()
        .await?;
    let etag = first.headers()[ETAG].to_str()?.to_string();
    let bytes = first.bytes().await?.len();
    println!(
        "polling {POLLED} ({bytes} bytes): computed (cache off, same data) p50 {:.3} ms, p99 {:.3} ms",
        percentile_ms(computed, 0.5),
        percentile_ms(computed, 0.99)
    );
    let modes = [
        ("If-None-Match → 304", Some(etag.as_str()), false),
        ("cache hit → 200", None, false),
        ("cache hit → 200 gzip", None, true),
    ];
    for (what, tag, gzip) in modes {
        let sorted = latencies(server, POLLED, tag, gzip, requests).await?;
        println!(
            "polling, {what}: p50 {:.3} ms, p99 {:.3} ms (1 client, {requests} requests)",
            percentile_ms(&sorted, 0.5),
            percentile_ms(&sorted, 0.99)
        );
        for clients in [1usize, 32] {
            let rate = throughput(server, POLLED, tag, gzip, clients, seconds).await;
            println!("polling, {what}, {clients:>2} concurrent clients: {rate:.0} requests/s over {seconds} s");
        }
    }
    Ok(())
}

/// One client, one request after another: sorted latencies. `gzip` asks for
/// a compressed answer, as browsers do.
async fn latencies(
    server: &Server,
    path: &str,
    etag: Option<&str>,
    gzip: bool,
    requests: usize,
) -> anyhow::Result<Vec<Duration>> {
    let client = reqwest::Client::new();
    let url = format!("{}/v0/pipes/{path}", server.base);
    for _ in 0..50 {
        get(&client, &url, etag, gzip).await;
    }
    let mut out = Vec::with_capacity(requests);
    for _ in 0..requests {
        let t = Instant::now();
        get(&client, &url, etag, gzip).await;
        out.push(t.elapsed());
    }
    out.sort();
    Ok(out)
}

/// `clients` clients requesting as fast as they are answered for `seconds`.
async fn throughput(
    server: &Server,
    path: &str,
    etag: Option<&str>,
    gzip: bool,
    clients: usize,
    seconds: u64,
) -> f64 {
    let client = reqwest::Client::new();
    let url = format!("{}/v0/pipes/{path}", server.base);
    let done = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, url, done) = (client.clone(), url.clone(), done.clone());
        let etag = etag.map(str::to_string);
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                get(&client, &url, etag.as_deref(), gzip).await;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.expect("client task");
    }
    done.load(Ordering::Relaxed) as f64 / seconds as f64
}

/// One request, read to the end; a 304 is expected exactly when a tag is sent.
async fn get(client: &reqwest::Client, url: &str, etag: Option<&str>, gzip: bool) {
    let mut req = client.get(url).bearer_auth(TOKEN);
    if let Some(tag) = etag {
        req = req.header(IF_NONE_MATCH, tag);
    }
    if gzip {
        req = req.header(ACCEPT_ENCODING, "gzip");
    }
    let resp = req.send().await.expect("request");
    let expected = if etag.is_some() {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::OK
    };
    assert_eq!(resp.status(), expected, "{url}");
    resp.bytes().await.expect("body");
}
