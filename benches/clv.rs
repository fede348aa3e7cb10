//! CLV pipes benchmark: N customers (default 100,000, ~10 transactions each) with
//! interactions, generated deterministically and loaded through the Events API;
//! then each CLV pipe's default call over HTTP against the same question as plain
//! SQL on the raw tables (indexed), in the same run; and ingest rows/s with the
//! rollups kept current against the same rows inserted without rollups.
//!
//! Run: `cargo bench --bench clv` (`-- --customers N --runs R --seed S`).

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

mod common;
use common::{arg, percentile_ms, Server, TOKEN};

const BATCH: usize = 10_000;
const DAY: i64 = 86_400;
/// 2022-01-01T00:00:00Z and 2025-06-30T00:00:00Z.
const START: i64 = 1_640_995_200;
const END: i64 = 1_751_241_600;

fn ts(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .expect("in range")
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn pick<'a>(rng: &mut StdRng, items: &[&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

struct Data {
    customers: Vec<String>,
    transactions: Vec<String>,
    interactions: Vec<String>,
}

/// Customers register over 3½ years; each buys an exponential number of times
/// (mean ~10) at uniform times after registering, log-normal amounts, ~5% refunds.
fn generate(n: usize, seed: u64) -> Data {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut d = Data {
        customers: Vec::new(),
        transactions: Vec::new(),
        interactions: Vec::new(),
    };
    let (mut tx, mut ix) = (0usize, 0usize);
    for i in 0..n {
        let reg = START + rng.random_range(0..(END - START - DAY));
        let age = if rng.random_bool(0.05) {
            "null".to_string()
        } else {
            rng.random_range(16..80).to_string()
        };
        let gender = pick(&mut rng, &["\"F\"", "\"M\"", "null"]);
        d.customers.push(format!(
            r#"{{"customer_id":"c{i}","registration_date":"{}","country":"{}","city":"x","age":{age},"gender":{gender},"acquisition_source":"{}","segment":"{}","is_active":{}}}"#,
            ts(reg),
            pick(&mut rng, &["US", "US", "US", "DE", "FR", "GB", "ES", "BR"]),
            pick(&mut rng, &["organic_search", "paid_ads", "referral", "social", "email"]),
            pick(&mut rng, &["basic", "basic", "premium", "vip"]),
            u8::from(rng.random_bool(0.8)),
        ));
        let orders = (-(1.0 - rng.random::<f64>()).ln() * 10.0) as usize;
        for _ in 0..orders {
            let at = reg + rng.random_range(0..(END - reg));
            let amount = (3.5 + 0.8 * normal(&mut rng)).exp().min(5_000.0);
            let (kind, refund) = match rng.random_range(0..100) {
                0..=2 => ("purchase", 1),
                3..=4 => ("refund", 0),
                5..=14 => ("subscription", 0),
                15..=19 => ("upgrade", 0),
                _ => ("purchase", 0),
            };
            d.transactions.push(format!(
                r#"{{"transaction_id":"t{tx}","customer_id":"c{i}","transaction_date":"{}","amount":{amount:.2},"product_category":"{}","transaction_type":"{kind}","payment_method":"card","is_refund":{refund}}}"#,
                ts(at),
                pick(&mut rng, &["electronics", "books", "fashion", "home", "toys", "sports"]),
            ));
            tx += 1;
        }
        for _ in 0..rng.random_range(0..6) {
            let at = reg + rng.random_range(0..(END - reg));
            let score = if rng.random_bool(0.4) {
                "null".to_string()
            } else {
                rng.random_range(1..=5).to_string()
            };
            d.interactions.push(format!(
                r#"{{"interaction_id":"i{ix}","customer_id":"c{i}","interaction_date":"{}","interaction_type":"{}","channel":"{}","duration_seconds":{},"satisfaction_score":{score}}}"#,
                ts(at),
                pick(&mut rng, &["login", "support", "purchase_inquiry", "complaint"]),
                pick(&mut rng, &["email", "web", "mobile_app", "phone", "chat"]),
                rng.random_range(5..900),
            ));
            ix += 1;
        }
    }
    d
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut StdRng) -> f64 {
    let (u1, u2): (f64, f64) = (1.0 - rng.random::<f64>(), rng.random());
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

async fn load(
    client: &reqwest::Client,
    base: &str,
    ds: &str,
    lines: &[String],
) -> anyhow::Result<f64> {
    let started = Instant::now();
    for chunk in lines.chunks(BATCH) {
        let resp = client
            .post(format!("{base}/v0/events?name={ds}"))
            .bearer_auth(TOKEN)
            .body(chunk.join("\n"))
            .send()
            .await?;
        anyhow::ensure!(
            resp.status().is_success(),
            "load {ds}: {}",
            resp.text().await?
        );
        let body: serde_json::Value = resp.json().await?;
        anyhow::ensure!(
            body["quarantined_rows"] == 0,
            "load {ds}: rows quarantined: {body}"
        );
    }
    Ok(lines.len() as f64 / started.elapsed().as_secs_f64())
}

/// The plain-SQL questions over the raw tables, as of the end of today ($1).
const RAW_TX: &str = "SELECT *, (is_refund = 1 OR coalesce(transaction_type, '') = 'refund') AS r
                      FROM transactions WHERE transaction_date < $1";
fn raw_totals() -> String {
    format!(
        "SELECT customer_id, count(*) FILTER (WHERE NOT r) AS purchases, count(*) FILTER (WHERE r) AS refunds,
                coalesce(sum(amount) FILTER (WHERE NOT r), 0) AS gross, coalesce(sum(amount) FILTER (WHERE r), 0) AS refunded,
                min(transaction_date) FILTER (WHERE NOT r) AS first_at, max(transaction_date) FILTER (WHERE NOT r) AS last_at
         FROM ({RAW_TX}) x GROUP BY customer_id"
    )
}

fn baselines() -> Vec<(&'static str, String)> {
    let totals = raw_totals();
    let base = format!(
        "SELECT coalesce(c.customer_id, t.customer_id) AS customer_id, c.customer_id IS NOT NULL AS known, c.registration_date,
                c.country, c.segment, c.acquisition_source, c.gender, c.age, c.is_active,
                coalesce(t.purchases, 0) AS purchases, coalesce(t.refunds, 0) AS refunds, coalesce(t.gross, 0) AS gross,
                coalesce(t.refunded, 0) AS refunded, coalesce(t.gross, 0) - coalesce(t.refunded, 0) AS ltv, t.first_at, t.last_at
         FROM (SELECT * FROM customers WHERE registration_date < $1) c FULL JOIN ({totals}) t USING (customer_id)"
    );
    let rfm = format!(
        "SELECT t.customer_id, ($1::timestamptz - interval '1 day')::date - (t.last_at AT TIME ZONE 'UTC')::date AS recency_days,
                t.purchases AS frequency, t.gross - t.refunded AS monetary
         FROM ({totals}) t WHERE t.purchases > 0"
    );
    let scored = format!(
        "SELECT s.*, 1 + (5 * (rank() OVER (ORDER BY recency_days DESC) - 1)) / count(*) OVER () AS r_score,
                1 + (5 * (rank() OVER (ORDER BY frequency) - 1)) / count(*) OVER () AS f_score,
                1 + (5 * (rank() OVER (ORDER BY monetary) - 1)) / count(*) OVER () AS m_score
         FROM ({rfm}) s"
    );
    let raw_ix = "SELECT customer_id, count(*) AS interactions, count(*) FILTER (WHERE interaction_type ILIKE '%support%') AS support,
                         sum(satisfaction_score) AS sat_sum, count(satisfaction_score) AS sat_n
                  FROM customer_interactions WHERE interaction_date < $1 GROUP BY customer_id";
    vec![
        (
            "customer_ltv",
            format!("SELECT * FROM ({base}) b ORDER BY ltv DESC, customer_id LIMIT 100"),
        ),
        (
            "ltv_by_cohort",
            format!(
                "SELECT date_trunc('month', registration_date AT TIME ZONE 'UTC') AS cohort, count(*),
                        count(*) FILTER (WHERE purchases > 0), sum(purchases), sum(gross), sum(ltv), avg(ltv)
                 FROM ({base}) b WHERE known GROUP BY 1 ORDER BY 1"
            ),
        ),
        (
            "customer_retention_analysis",
            format!(
                "WITH m AS (SELECT customer_id, date_trunc('month', registration_date AT TIME ZONE 'UTC')::date AS cohort
                            FROM customers WHERE registration_date < $1),
                      a AS (SELECT m.cohort, m.customer_id,
                                   ltv_period_diff(m.cohort, (t.transaction_date AT TIME ZONE 'UTC')::date, 'month') AS k,
                                   count(*) FILTER (WHERE NOT r) AS purchases, sum(CASE WHEN r THEN -amount ELSE amount END) AS net
                            FROM m JOIN ({RAW_TX}) t USING (customer_id)
                            WHERE t.transaction_date >= m.cohort GROUP BY 1, 2, 3),
                      s AS (SELECT cohort, count(*) AS size FROM m GROUP BY 1)
                 SELECT s.cohort, g.n, s.size, count(a.customer_id) FILTER (WHERE a.purchases > 0), coalesce(sum(a.net), 0)
                 FROM s CROSS JOIN generate_series(0, 23) AS g(n) LEFT JOIN a ON a.cohort = s.cohort AND a.k = g.n
                 GROUP BY 1, 2, 3 ORDER BY 1, 2"
            ),
        ),
        (
            "customer_segmentation",
            format!("SELECT * FROM ({scored}) x ORDER BY monetary DESC, customer_id LIMIT 100"),
        ),
        (
            "customer_segmentation_summary",
            format!(
                "SELECT r_score, f_score, count(*), avg(recency_days), avg(frequency), avg(monetary), sum(monetary)
                 FROM ({scored}) x GROUP BY 1, 2"
            ),
        ),
        (
            "ltv_influencing_factors",
            format!(
                "WITH b AS (SELECT b.*, coalesce(i.interactions, 0) AS interactions, i.sat_sum, i.sat_n
                            FROM ({base}) b LEFT JOIN ({raw_ix}) i USING (customer_id) WHERE b.known),
                      pc AS (SELECT DISTINCT ON (customer_id) customer_id, channel FROM
                               (SELECT customer_id, channel, count(*) AS n FROM customer_interactions
                                WHERE interaction_date < $1 GROUP BY 1, 2) x ORDER BY customer_id, n DESC, channel),
                      tc AS (SELECT DISTINCT ON (customer_id) customer_id, product_category FROM
                               (SELECT customer_id, product_category, sum(amount) AS g FROM ({RAW_TX}) t WHERE NOT r
                                GROUP BY 1, 2) x ORDER BY customer_id, g DESC, product_category)
                 SELECT f, v, count(*), avg(ltv), percentile_cont(0.5) WITHIN GROUP (ORDER BY ltv::float8), avg(purchases),
                        sum(gross) / nullif(sum(purchases), 0), avg(interactions), sum(sat_sum)::numeric / nullif(sum(sat_n), 0)
                 FROM b LEFT JOIN pc USING (customer_id) LEFT JOIN tc USING (customer_id)
                 CROSS JOIN LATERAL (VALUES ('acquisition_source', b.acquisition_source), ('segment', b.segment),
                                            ('country', b.country), ('gender', b.gender), ('age', (b.age / 10)::text),
                                            ('primary_channel', pc.channel), ('top_category', tc.product_category)) AS x(f, v)
                 GROUP BY 1, 2"
            ),
        ),
        (
            "ltv_overview",
            format!(
                "SELECT count(*), count(*) FILTER (WHERE purchases > 0), count(*) FILTER (WHERE is_active = 1), sum(ltv), avg(ltv),
                        percentile_cont(0.5) WITHIN GROUP (ORDER BY ltv::float8), avg(purchases), sum(gross) / nullif(sum(purchases), 0),
                        sum(refunded) / nullif(sum(gross), 0)
                 FROM ({base}) b"
            ),
        ),
    ]
}

fn summary(samples: &mut [Duration]) -> (f64, f64) {
    samples.sort();
    (percentile_ms(samples, 0.5), percentile_ms(samples, 0.95))
}

/// The same validated rows inserted plainly (the statement ingestion used before
/// rollups existed) into a copy of the transactions table.
async fn plain_insert_rate(pool: &sqlx::PgPool, lines: &[String]) -> anyhow::Result<f64> {
    use ltv_pipes::ingest::{validate, Datasource, Rows};
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS bench_plain_transactions (LIKE transactions INCLUDING ALL)",
    )
    .execute(pool)
    .await?;
    let mut elapsed = Duration::ZERO;
    for chunk in lines.chunks(BATCH) {
        let (rows, _) = validate(Datasource::Transactions, chunk.join("\n").as_bytes());
        let Rows::Transactions(rows) = rows else {
            unreachable!()
        };
        let t = Instant::now();
        sqlx::query(
            "INSERT INTO bench_plain_transactions (transaction_id, customer_id, transaction_date, amount,
                                                   product_category, transaction_type, payment_method, is_refund)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::numeric[],
                                  $5::text[], $6::text[], $7::text[], $8::int2[])
             ON CONFLICT (transaction_id) DO NOTHING",
        )
        .bind(rows.iter().map(|r| r.transaction_id.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.customer_id.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.transaction_date).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.amount).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.product_category.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.transaction_type.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.payment_method.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.is_refund).collect::<Vec<_>>())
        .execute(pool)
        .await?;
        elapsed += t.elapsed();
    }
    Ok(lines.len() as f64 / elapsed.as_secs_f64())
}

/// The same through the real ingestion path (validation excluded from the timing
/// as above, rollups included).
async fn rollup_insert_rate(pool: &sqlx::PgPool, lines: &[String]) -> anyhow::Result<f64> {
    use ltv_pipes::ingest::{ingest, Datasource};
    let mut elapsed = Duration::ZERO;
    for chunk in lines.chunks(BATCH) {
        let body = chunk.join("\n");
        let t = Instant::now();
        ingest(pool, Datasource::Transactions, body.as_bytes()).await?;
        elapsed += t.elapsed();
    }
    Ok(lines.len() as f64 / elapsed.as_secs_f64())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let customers = arg("--customers", 100_000);
    let runs = arg("--runs", 15);
    let seed = arg("--seed", 42) as u64;
    let server = Server::start(&[("LTV_DATABASE__STATEMENT_TIMEOUT_MS", "600000".into())]).await?;
    let client = reqwest::Client::new();

    let t = Instant::now();
    let data = generate(customers, seed);
    println!(
        "generated {} customers, {} transactions, {} interactions in {:.1} s (seed {seed})",
        data.customers.len(),
        data.transactions.len(),
        data.interactions.len(),
        t.elapsed().as_secs_f64()
    );
    let c = load(&client, &server.base, "customers", &data.customers).await?;
    let tx = load(&client, &server.base, "transactions", &data.transactions).await?;
    let ix = load(
        &client,
        &server.base,
        "customer_interactions",
        &data.interactions,
    )
    .await?;
    println!("Events API load ({BATCH}-line NDJSON): customers {c:.0} rows/s, transactions {tx:.0} rows/s, interactions {ix:.0} rows/s");
    sqlx::query("VACUUM ANALYZE").execute(&server.pool).await?;

    // New data arrives: 100,000 more transactions (or 10% of them), through the
    // real path with rollups, and the same rows inserted plainly.
    let extra = generate(customers / 10, seed + 1).transactions;
    let extra: Vec<String> = extra
        .iter()
        .map(|l| l.replace("\"transaction_id\":\"t", "\"transaction_id\":\"n"))
        .collect();
    let plain = plain_insert_rate(&server.pool, &extra).await?;
    let rolled = rollup_insert_rate(&server.pool, &extra).await?;
    println!(
        "ingest of {} transactions in {BATCH}-row batches: with rollups {rolled:.0} rows/s, plain insert {plain:.0} rows/s (ratio {:.2})",
        extra.len(),
        rolled / plain
    );
    sqlx::query("ANALYZE").execute(&server.pool).await?;

    if std::env::args().any(|a| a == "--serve") {
        // For tuning: keep the loaded server up (Ctrl-C ends it; the cluster stops with it).
        println!(
            "serving {} (token {TOKEN}); database: {:?}",
            server.base,
            server.pool.connect_options().get_host()
        );
        tokio::signal::ctrl_c().await?;
        return server.stop().await;
    }
    if std::env::args().any(|a| a == "--explain") {
        explain_pipes(&server.pool).await?;
    }
    let day_end = ltv_day_end_today();
    println!("\n| pipe (default call) | ltv-pipes p50 ms | p95 ms | plain SQL p50 ms | p95 ms | plain ÷ pipe |");
    println!("|---|---|---|---|---|---|");
    for (name, sql) in baselines() {
        let url = format!("{}/v0/pipes/{name}.json", server.base);
        let mut pipe = Vec::new();
        let mut raw = Vec::new();
        for i in 0..runs + 2 {
            let t = Instant::now();
            let resp = client.get(&url).bearer_auth(TOKEN).send().await?;
            anyhow::ensure!(resp.status().is_success(), "{name}: {}", resp.text().await?);
            resp.bytes().await?;
            let p = t.elapsed();
            let t = Instant::now();
            sqlx::query(&sql)
                .bind(day_end)
                .fetch_all(&server.pool)
                .await?;
            let r = t.elapsed();
            if i >= 2 {
                pipe.push(p);
                raw.push(r);
            }
        }
        let (p50, p95) = summary(&mut pipe);
        let (r50, r95) = summary(&mut raw);
        println!(
            "| {name} | {p50:.1} | {p95:.1} | {r50:.1} | {r95:.1} | {:.1}× |",
            r50 / p50
        );
    }
    server.stop().await
}

fn ltv_day_end_today() -> chrono::DateTime<chrono::Utc> {
    let today = chrono::Utc::now().date_naive();
    (today + chrono::Days::new(1))
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
}

/// `--explain`: the plan of each CLV pipe's default call (for tuning).
async fn explain_pipes(pool: &sqlx::PgPool) -> anyhow::Result<()> {
    for (name, _) in baselines() {
        let text = std::fs::read_to_string(format!("pipes/{name}.pipe"))?;
        let pipe = ltv_pipes::pipes::Pipe::load(name, &text)?;
        let compiled = pipe.compile(&Default::default())?;
        let sql = format!("EXPLAIN (ANALYZE, BUFFERS) {}", compiled.sql);
        let mut query = sqlx::query(&sql);
        for b in &compiled.binds {
            query = ltv_pipes::pipes::run::bind_value(query, b);
        }
        let plan: Vec<String> = query
            .fetch_all(pool)
            .await?
            .iter()
            .map(|row| sqlx::Row::get::<String, _>(row, 0))
            .collect();
        println!("--- {name}\n{}", plan.join("\n"));
    }
    Ok(())
}
