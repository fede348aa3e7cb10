//! Ingest benchmark: single-event POST latency and NDJSON rows/s, over HTTP, against
//! a fresh embedded PostgreSQL with durable settings (fsync on).
//!
//! Run: `cargo bench --bench ingest` (add `-- --events 5000` etc. to change sizes).
//! Prints medians and percentiles; nothing here is asserted (timings are noisy).

use std::time::Instant;

mod common;
use common::{arg, percentile_ms as percentile, Server, TOKEN};

fn tx(id: usize) -> String {
    format!(
        r#"{{"transaction_id":"tx_{id}","customer_id":"cust_{}","transaction_date":"2024-03-01 12:00:00","amount":{}.99,"product_category":"electronics","transaction_type":"purchase","payment_method":"credit_card","is_refund":0}}"#,
        id % 50_000,
        id % 300
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let events = arg("--events", 3000);
    let batches = arg("--batches", 20);
    let server = Server::start(&[]).await?;
    let base = server.base.clone();
    let client = reqwest::Client::new();
    let url = format!("{base}/v0/events?name=transactions");
    let mut next_id = 0usize;

    // Warm-up: connections, prepared statements.
    for _ in 0..200 {
        client
            .post(&url)
            .bearer_auth(TOKEN)
            .body(tx(next_id))
            .send()
            .await?;
        next_id += 1;
    }

    let mut latencies = Vec::with_capacity(events);
    for _ in 0..events {
        let body = tx(next_id);
        next_id += 1;
        latencies.push(timed_post(&client, &url, body).await?);
    }
    latencies.sort();
    println!(
        "single-event POST (1 client, {events} requests): p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.9),
        percentile(&latencies, 0.99)
    );

    for lines in [1_000usize, 10_000] {
        let bodies: Vec<String> = (0..batches)
            .map(|_| {
                let body = (next_id..next_id + lines)
                    .map(tx)
                    .collect::<Vec<_>>()
                    .join("\n");
                next_id += lines;
                body
            })
            .collect();
        let mut per_batch = Vec::with_capacity(batches);
        let t = Instant::now();
        for body in bodies {
            per_batch.push(timed_post(&client, &url, body).await?);
        }
        let total = t.elapsed().as_secs_f64();
        per_batch.sort();
        let median_rate = lines as f64 / per_batch[per_batch.len() / 2].as_secs_f64();
        println!(
            "NDJSON {lines}-line batches (1 client, {batches} batches): {:.0} rows/s overall, median batch {:.1} ms = {:.0} rows/s",
            (lines * batches) as f64 / total,
            per_batch[per_batch.len() / 2].as_secs_f64() * 1000.0,
            median_rate
        );
    }

    server.stop().await
}

/// One POST of `body`, checked for success, and how long it took to the last byte.
async fn timed_post(
    client: &reqwest::Client,
    url: &str,
    body: String,
) -> anyhow::Result<std::time::Duration> {
    let t = Instant::now();
    let resp = client
        .post(url)
        .bearer_auth(TOKEN)
        .body(body)
        .send()
        .await?;
    anyhow::ensure!(resp.status().is_success(), "POST failed: {}", resp.status());
    resp.bytes().await?;
    Ok(t.elapsed())
}
