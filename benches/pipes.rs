//! Pipes-engine overhead: a trivial pipe (`SELECT 1`) over HTTP — parameter
//! validation, compilation, a read-only transaction, encoding — against the same
//! `SELECT 1` sent straight to PostgreSQL through the pool, in the same run.
//!
//! Run: `cargo bench --bench pipes` (`-- --requests N --seconds S` to change sizes).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::{arg, percentile_ms, Server, TOKEN};

const PIPE: &str = "DESCRIPTION >\n    The engine's floor.\n\nNODE one\nSQL >\n    SELECT {{ Int32(x, 1, description=\"any number\") }} AS one\n";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let requests = arg("--requests", 3000);
    let seconds = arg("--seconds", 5) as u64;
    let pipes = tempfile::tempdir()?;
    std::fs::write(pipes.path().join("one.pipe"), PIPE)?;
    let server = Server::start(&[("LTV_PIPES__DIR", pipes.path().display().to_string())]).await?;
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
        let done = Arc::new(AtomicUsize::new(0));
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let mut tasks = Vec::new();
        for _ in 0..clients {
            let (client, url, done) = (client.clone(), url.clone(), done.clone());
            tasks.push(tokio::spawn(async move {
                while Instant::now() < deadline {
                    let resp = client
                        .get(&url)
                        .bearer_auth(TOKEN)
                        .send()
                        .await
                        .expect("request");
                    assert!(resp.status().is_success());
                    resp.bytes().await.expect("body");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        for t in tasks {
            t.await?;
        }
        println!(
            "pipe SELECT 1 with {clients:>2} concurrent clients: {:.0} requests/s over {seconds} s",
            done.load(Ordering::Relaxed) as f64 / seconds as f64
        );
    }
    server.stop().await
}
