//! The benchmark harness, one command:
//!
//!     cargo bench --bench harness -- --customers 1000000
//!
//! Loads N demo customers through the bulk path (`ltv-pipes demo`'s code) into a
//! fresh embedded PostgreSQL (durable settings), or, with `--data DIR`, the
//! files `customers.csv`, `transactions.csv` and `interactions.csv` of DIR
//! (header rows, the datasources' column names) through the bulk endpoint.
//! Then, in the same run:
//! - each pipe's default call and its filtered calls (the Tinybird LTV API's six
//!   example calls among them) over HTTP with the
//!   answer cache off (every call recomputed): p50/p95/p99, and requests/s with
//!   1 and 32 concurrent clients for the default call;
//! - the same question for every call as plain SQL over the raw tables
//!   (benches/common/questions.rs), in PostgreSQL (the same tables and indexes)
//!   and in DuckDB in memory (the stored raw rows exported to CSV, driven by
//!   benches/duckdb_baseline.py; `pip install duckdb`), side by side;
//! - the Events API (single-row p50/p99, 10,000-line NDJSON rows/s) and the bulk
//!   endpoint (rows/s), each against plain `COPY` of the same rows into an
//!   unindexed table and into one with the same indexes;
//! - freshness: a new transaction's 2xx to its appearance in customer_ltv.
//!
//! Prints markdown tables with ratios and writes them as JSON (`--json PATH`,
//! default target/bench-harness.json). `BENCH_DATABASE_URL=postgres://…` runs
//! against an already loaded database instead (no load; for tuning);
//! `BENCH_DATA_DIR=/path` keeps the embedded cluster there, and a later run
//! with the same directory skips the load;
//! `--only pipe,pipe`, `--skip TEXT` (the calls containing TEXT),
//! `--skip-ingest`, `--raw-runs 0` (no PostgreSQL
//! baseline) and `--duckdb-runs 0` (no DuckDB baseline) narrow a run.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod common;
use common::questions::question;
use common::{arg, percentile_ms, Server, TOKEN};

/// (pipe, filtered calls). The default call is the pipe without parameters.
/// The Tinybird LTV API's six example calls are here verbatim (marked
/// "example"), and the registration windows dashboards send: one that covers
/// every registration and one cut through months at both ends. `{country}`,
/// `{segment}`, `{source}` and `{customer}` are the data's most common values
/// and one stored customer id (`fill`), so the calls mean the same on any data.
const CALLS: &[(&str, &[&str])] = &[
    (
        "customer_ltv",
        &[
            "segment={segment}&min_ltv=500",
            "min_ltv=500",
            "customer_id={customer}",
            // example
            "start_date=2020-01-01%2000:00:00&country=US&is_active=1",
            "start_date={reg_from}&end_date={reg_to}",
            "order_by=total_orders&offset=5000",
            "order_by=gross_revenue",
            "order_by=avg_order_value",
            "order_by=refunded_amount",
            "order_by=first_purchase_date",
            "order_by=last_purchase_date&order_dir=asc",
            "order_by=tenure_days",
            "order_by=days_since_last_purchase",
            "order_by=registration_date",
            "order_by=customer_id&order_dir=asc",
        ],
    ),
    (
        "ltv_by_cohort",
        &[
            "cohort_period=quarter",
            "cohort_period=year",
            "cohort_basis=first_purchase",
            // example
            "start_date=2020-01-01%2000:00:00&country=US&segment=premium",
            "start_date={reg_from}&end_date={reg_to}",
        ],
    ),
    (
        "customer_retention_analysis",
        &[
            "max_periods=12",
            "cohort_period=quarter",
            "cohort_period=year",
            "cohort_basis=first_purchase",
            // example
            "start_date=2020-01-01%2000:00:00&country=US&segment=premium",
            "start_date={reg_from}&end_date={reg_to}",
        ],
    ),
    (
        "customer_segmentation",
        &[
            // An RFM window that cuts through the data.
            "start_date={tx_from}",
            // example
            "start_date=2020-01-01%2000:00:00&country=US&min_frequency=2&min_monetary=100&segment_filter=Champions&limit=100",
            "segment_filter=At%20Risk&min_frequency=2&min_monetary=100",
            "segment_filter=Hibernating&min_frequency=2&min_monetary=100",
        ],
    ),
    ("customer_segmentation_summary", &["start_date={tx_from}"]),
    (
        "ltv_influencing_factors",
        &[
            // example
            "segment=premium&country=US&min_customers=10",
            "start_date={reg_from}&end_date={reg_to}",
        ],
    ),
    ("ltv_overview", &[]),
    // Last: its first call fits the model (not timed; the warm-up call).
    (
        "ltv_forecast",
        &[
            "min_p_alive=0.5",
            "horizon_months=24",
            // example
            "segment=premium&country=US&min_transactions=3&min_ltv=50&limit=100",
        ],
    ),
];

/// Calls every pipe gets after its own: each attribute filter alone and the
/// three together, and a past `as_of` on a month end and mid-month.
const EVERY_PIPE: &[&str] = &[
    "country={country}",
    "segment={segment}",
    "acquisition_source={source}",
    "country={country}&segment={segment}&acquisition_source={source}",
    "as_of={month_end}",
    "as_of={mid_month}",
];

/// The placeholders of the calls, from the data: the most common country,
/// segment and source, a stored customer, a registration window cut through
/// months at both ends, a transaction window start cut through the data, a
/// month end three months and a mid-month day eight months before the newest
/// transaction.
async fn placeholders(pool: &sqlx::PgPool) -> anyhow::Result<Vec<(&'static str, String)>> {
    let common = |col: &str| {
        format!(
            "(SELECT {col} FROM customers WHERE {col} IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1)"
        )
    };
    let sql = format!(
        "WITH r AS (SELECT min(registration_date) AT TIME ZONE 'UTC' AS lo,
                           max(registration_date) AT TIME ZONE 'UTC' AS hi FROM customers),
              t AS (SELECT min(transaction_date) AT TIME ZONE 'UTC' AS lo,
                           max(transaction_date) AT TIME ZONE 'UTC' AS hi FROM transactions)
         SELECT coalesce({country}, 'US'), coalesce({segment}, 'premium'), coalesce({source}, 'email'),
                coalesce((SELECT min(customer_id) FROM customers), 'nobody'),
                to_char(date_trunc('month', r.lo + (r.hi - r.lo) * 0.45) + interval '16 days 8 hours', 'YYYY-MM-DD HH24:MI:SS'),
                to_char(date_trunc('month', r.lo + (r.hi - r.lo) * 0.7) + interval '1 day 23:59:59', 'YYYY-MM-DD HH24:MI:SS'),
                to_char(date_trunc('month', t.lo + (t.hi - t.lo) * 0.6), 'YYYY-MM-DD HH24:MI:SS'),
                to_char(date_trunc('month', t.hi) - interval '2 months' - interval '1 day', 'YYYY-MM-DD'),
                to_char(date_trunc('month', t.hi) - interval '8 months' + interval '14 days', 'YYYY-MM-DD')
         FROM r, t",
        country = common("country"),
        segment = common("segment"),
        source = common("acquisition_source"),
    );
    use sqlx::Row as _;
    let row = sqlx::query(&sql).fetch_one(pool).await?;
    let text = |i: usize| -> anyhow::Result<String> {
        row.try_get::<Option<String>, _>(i)?
            .ok_or_else(|| anyhow::anyhow!("no data to benchmark"))
    };
    let names = [
        "country",
        "segment",
        "source",
        "customer",
        "reg_from",
        "reg_to",
        "tx_from",
        "month_end",
        "mid_month",
    ];
    names
        .iter()
        .enumerate()
        .map(|(i, name)| Ok((*name, text(i)?)))
        .collect()
}

/// A call with its placeholders replaced (percent-encoded).
fn fill(call: &str, values: &[(&str, String)]) -> String {
    let mut out = call.to_string();
    for (k, v) in values {
        let enc: String = v
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~:".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        out = out.replace(&format!("{{{k}}}"), &enc);
    }
    out
}

struct Timing {
    p50: f64,
    p95: f64,
    p99: f64,
}

fn timing(mut samples: Vec<Duration>) -> Timing {
    samples.sort();
    Timing {
        p50: percentile_ms(&samples, 0.5),
        p95: percentile_ms(&samples, 0.95),
        p99: percentile_ms(&samples, 0.99),
    }
}

async fn get_ms(client: &reqwest::Client, url: &str) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let resp = client.get(url).bearer_auth(TOKEN).send().await?;
    anyhow::ensure!(resp.status().is_success(), "{url}: {}", resp.text().await?);
    resp.bytes().await?;
    Ok(t.elapsed())
}

/// Requests/s of `url` with `clients` concurrent clients for about `secs`.
async fn throughput(url: &str, clients: usize, secs: f64) -> anyhow::Result<f64> {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, url) = (client.clone(), url.to_string());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while started.elapsed().as_secs_f64() < secs {
                get_ms(&client, &url).await?;
                n += 1;
            }
            anyhow::Ok(n)
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let customers = arg("--customers", 1_000_000) as u64;
    let runs = arg("--runs", 9);
    let raw_runs = arg("--raw-runs", 3);
    let seed = arg("--seed", 42) as u64;
    let duckdb_runs = arg("--duckdb-runs", 3);
    let data_dir = std::env::args().skip_while(|a| a != "--data").nth(1);
    let json_path = std::env::args()
        .skip_while(|a| a != "--json")
        .nth(1)
        .unwrap_or_else(|| "target/bench-harness.json".into());
    let mut extra = vec![
        ("LTV_DATABASE__STATEMENT_TIMEOUT_MS", "900000".to_string()),
        ("LTV_CACHE__ENABLED", "false".to_string()),
        // A plain-SQL-speed pipe can take longer than the API's 30 s default.
        ("LTV_HTTP__REQUEST_TIMEOUT_SECS", "1800".to_string()),
        // One fit (the forecast's first call); a background refit would run
        // during the other pipes' timings.
        ("LTV_FORECAST__REFIT_INTERVAL_SECS", "86400".to_string()),
        (
            "LTV_FORECAST__REFIT_AFTER_TRANSACTIONS",
            "1000000000".to_string(),
        ),
    ];
    let reuse = std::env::var("BENCH_DATABASE_URL").ok();
    if let Some(url) = &reuse {
        extra.push(("DATABASE_URL", url.clone()));
    }
    let server = Server::start(&extra).await?;
    let client = reqwest::Client::new();
    let mut report = json!({
        "machine": machine(),
        "command": std::env::args().collect::<Vec<_>>().join(" "),
        "customers": customers,
    });

    report["counts"] = counts(&server.pool).await?;
    // A kept cluster (BENCH_DATA_DIR) that already holds data is not reloaded.
    if reuse.is_none() && report["counts"]["customers"] == 0 {
        report["load"] = match &data_dir {
            Some(dir) => load_files(&server, &client, dir).await?,
            None => load_demo(&server, customers, seed).await?,
        };
        report["counts"] = counts(&server.pool).await?;
    }
    println!("data: {}", report["counts"]);

    // `--only a,b`: time only these pipes; `--skip TEXT`: leave out the
    // calls containing TEXT; `--skip-ingest`: no ingest part.
    let only: Option<Vec<String>> = std::env::args()
        .skip_while(|a| a != "--only")
        .nth(1)
        .map(|v| v.split(',').map(str::to_string).collect());
    let skip: Option<String> = std::env::args().skip_while(|a| a != "--skip").nth(1);
    if !std::env::args().any(|a| a == "--skip-ingest") {
        report["ingest"] = ingest(&server, &client).await?;
    }
    sqlx::query("VACUUM ANALYZE").execute(&server.pool).await?;
    // New data just arrived: every pipe answer below is recomputed.
    report["freshness_ms"] = json!(freshness(&server, &client).await?);

    let values = placeholders(&server.pool).await?;
    println!("placeholders: {values:?}");
    let mut results = Vec::new();
    for (pipe, own) in CALLS {
        if only.as_ref().is_some_and(|o| !o.iter().any(|p| p == pipe)) {
            continue;
        }
        let base_url = format!("{}/v0/pipes/{pipe}.json", server.base);
        let mut calls = vec![String::from("default")];
        calls.extend(
            own.iter()
                .chain(EVERY_PIPE)
                .map(|q| fill(q, &values))
                .filter(|q| skip.as_ref().is_none_or(|s| !q.contains(s.as_str()))),
        );
        for (i, label) in calls.iter().enumerate() {
            let url = if label == "default" {
                base_url.clone()
            } else {
                format!("{base_url}?{label}")
            };
            let mut r = CallResult::new(pipe, label);
            match time_pipe(&client, &url, runs, i == 0).await {
                Ok(t) => r.pipe = Some(t),
                Err(e) => r.pipe_error = Some(e.to_string()),
            }
            if raw_runs > 0 {
                let sql = question(pipe, label).expect("every pipe of CALLS has a question");
                r.postgres = Some(time_sql(&server.pool, &sql, raw_runs).await);
            }
            r.print_pipe_row();
            results.push(r);
        }
    }
    if duckdb_runs > 0 {
        duckdb_baseline(&server.pool, &mut results, duckdb_runs).await?;
    }
    print_side_by_side(&results);
    report["pipes"] = Value::Array(results.iter().map(CallResult::json).collect());
    report["server_peak_rss_mb"] = json!(peak_rss_mb());
    println!(
        "\npeak RSS of this process (server + harness): {:.0} MB",
        peak_rss_mb()
    );
    std::fs::write(&json_path, serde_json::to_string_pretty(&report)?)?;
    println!("written {json_path}");
    server.stop().await
}

/// One call's timings: the pipe over HTTP, and the same question in plain
/// PostgreSQL and DuckDB (`Err`: the baseline failed or timed out).
struct CallResult {
    name: String,
    call: String,
    pipe: Option<PipeTiming>,
    pipe_error: Option<String>,
    postgres: Option<Result<SqlTiming, String>>,
    duckdb: Option<Result<SqlTiming, String>>,
}

struct PipeTiming {
    t: Timing,
    rows: u64,
    rps1: Option<f64>,
    rps32: Option<f64>,
}

struct SqlTiming {
    p50: f64,
    rows: u64,
}

impl CallResult {
    fn new(pipe: &str, call: &str) -> Self {
        CallResult {
            name: pipe.to_string(),
            call: call.to_string(),
            pipe: None,
            pipe_error: None,
            postgres: None,
            duckdb: None,
        }
    }

    fn print_pipe_row(&self) {
        static HEADER: std::sync::Once = std::sync::Once::new();
        HEADER.call_once(|| {
            println!("\n| pipe | call | p50 ms | p95 ms | p99 ms | rows | req/s (1) | req/s (32) | PostgreSQL p50 ms |");
            println!("|---|---|---|---|---|---|---|---|---|");
        });
        let f = |v: Option<f64>| v.map(|v| format!("{v:.0}")).unwrap_or_default();
        let pg = sql_cell(&self.postgres);
        match (&self.pipe, &self.pipe_error) {
            (Some(p), _) => println!(
                "| {} | {} | {:.1} | {:.1} | {:.1} | {} | {} | {} | {pg} |",
                self.name,
                self.call,
                p.t.p50,
                p.t.p95,
                p.t.p99,
                p.rows,
                f(p.rps1),
                f(p.rps32)
            ),
            (None, e) => println!(
                "| {} | {} | failed: {} | | | | | | {pg} |",
                self.name,
                self.call,
                e.as_deref().unwrap_or("?")
            ),
        }
    }

    fn json(&self) -> Value {
        let sql = |r: &Option<Result<SqlTiming, String>>| match r {
            Some(Ok(t)) => json!({"p50_ms": t.p50, "rows": t.rows}),
            Some(Err(e)) => json!({"error": e}),
            None => Value::Null,
        };
        json!({
            "pipe": self.name, "call": self.call,
            "p50_ms": self.pipe.as_ref().map(|p| p.t.p50),
            "p95_ms": self.pipe.as_ref().map(|p| p.t.p95),
            "p99_ms": self.pipe.as_ref().map(|p| p.t.p99),
            "rows": self.pipe.as_ref().map(|p| p.rows),
            "rps_1": self.pipe.as_ref().and_then(|p| p.rps1),
            "rps_32": self.pipe.as_ref().and_then(|p| p.rps32),
            "error": self.pipe_error,
            "postgres": sql(&self.postgres),
            "duckdb": sql(&self.duckdb),
        })
    }
}

fn sql_cell(r: &Option<Result<SqlTiming, String>>) -> String {
    match r {
        Some(Ok(t)) => format!("{:.0}", t.p50),
        Some(Err(e)) => format!("failed: {}", e.chars().take(60).collect::<String>()),
        None => String::new(),
    }
}

/// Times a pipe call: one warm-up call (which also counts the rows), then
/// `runs` calls (3 when the call takes over a second), and requests/s with 1
/// and 32 clients for a default call that answers in under half a second.
async fn time_pipe(
    client: &reqwest::Client,
    url: &str,
    runs: usize,
    default: bool,
) -> anyhow::Result<PipeTiming> {
    let started = Instant::now();
    let resp = client.get(url).bearer_auth(TOKEN).send().await?;
    let status = resp.status();
    let body: Value = resp.json().await?;
    anyhow::ensure!(status.is_success(), "{status} {body}");
    let warm = started.elapsed();
    let rows = body["rows"].as_u64().unwrap_or(0);
    // Slow calls get fewer runs, so a run at 1M customers ends in minutes.
    let n = if warm > Duration::from_secs(1) {
        runs.min(3)
    } else {
        runs
    };
    let mut samples = Vec::new();
    for _ in 0..n {
        samples.push(get_ms(client, url).await?);
    }
    let t = timing(samples);
    // Requests/s only where it means something: 32 clients of a
    // multi-second query on 2 cores would just queue for minutes.
    let (rps1, rps32) = if default && t.p50 < 500.0 {
        let budget = (t.p50 * 20.0 / 1000.0).clamp(2.0, 10.0);
        (
            Some(throughput(url, 1, budget).await?),
            Some(throughput(url, 32, budget).await?),
        )
    } else {
        (None, None)
    };
    Ok(PipeTiming {
        t,
        rows,
        rps1,
        rps32,
    })
}

/// The final table: each call in ltv-pipes, plain PostgreSQL and DuckDB,
/// with the ratios the targets are stated in, and the row counts (the same
/// question should give the same number of rows).
fn print_side_by_side(results: &[CallResult]) {
    println!("\n| pipe | call | ltv-pipes p50 ms | PostgreSQL p50 ms | DuckDB p50 ms | DuckDB ÷ ltv-pipes | rows (ltv-pipes / PostgreSQL / DuckDB) |");
    println!("|---|---|---|---|---|---|---|");
    for r in results {
        let p50 = r.pipe.as_ref().map(|p| p.t.p50);
        let ratio = match (&r.duckdb, p50) {
            (Some(Ok(d)), Some(p)) => format!("{:.1}×", d.p50 / p),
            _ => String::new(),
        };
        let rows = |x: &Option<Result<SqlTiming, String>>| match x {
            Some(Ok(t)) => t.rows.to_string(),
            _ => "–".into(),
        };
        println!(
            "| {} | {} | {} | {} | {} | {ratio} | {} / {} / {} |",
            r.name,
            r.call,
            p50.map(|v| format!("{v:.1}"))
                .unwrap_or_else(|| "failed".into()),
            sql_cell(&r.postgres),
            sql_cell(&r.duckdb),
            r.pipe
                .as_ref()
                .map(|p| p.rows.to_string())
                .unwrap_or_else(|| "–".into()),
            rows(&r.postgres),
            rows(&r.duckdb),
        );
    }
}

/// The same question as plain SQL over the raw tables in PostgreSQL, on one
/// connection in UTC, bounded by `RAW_TIMEOUT`.
async fn time_sql(pool: &sqlx::PgPool, sql: &str, runs: usize) -> Result<SqlTiming, String> {
    let run = async {
        let mut conn = pool.acquire().await?;
        sqlx::query("SET TimeZone = 'UTC'")
            .execute(&mut *conn)
            .await?;
        sqlx::query(&format!(
            "SET statement_timeout = {}",
            RAW_TIMEOUT.as_millis()
        ))
        .execute(&mut *conn)
        .await?;
        let mut samples = Vec::new();
        let mut rows = 0;
        for _ in 0..runs {
            let t = Instant::now();
            rows = sqlx::query(sql).fetch_all(&mut *conn).await?.len() as u64;
            samples.push(t.elapsed());
        }
        sqlx::query("RESET statement_timeout")
            .execute(&mut *conn)
            .await?;
        anyhow::Ok(SqlTiming {
            p50: timing(samples).p50,
            rows,
        })
    };
    run.await.map_err(|e| e.to_string())
}

/// A plain-SQL question slower than this is reported as failed.
const RAW_TIMEOUT: Duration = Duration::from_secs(300);

/// Exports the stored raw rows to CSV (UTC timestamps) and runs every
/// question in DuckDB in memory (benches/duckdb_baseline.py). Without
/// python3 or its duckdb package the baseline is reported missing.
async fn duckdb_baseline(
    pool: &sqlx::PgPool,
    results: &mut [CallResult],
    runs: usize,
) -> anyhow::Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("ltv-duckdb-")
        .tempdir_in("/tmp")?;
    let started = Instant::now();
    for (table, cols) in RAW_COLUMNS {
        export_csv(pool, table, cols, &dir.path().join(format!("{table}.csv"))).await?;
    }
    println!(
        "\nraw rows exported for DuckDB in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let queries: Vec<Value> = results
        .iter()
        .enumerate()
        .map(|(i, r)| json!({"id": i.to_string(), "sql": question(&r.name, &r.call)}))
        .collect();
    let job = json!({"dir": dir.path(), "runs": runs, "queries": queries});
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/duckdb_baseline.py");
    let child = std::process::Command::new("python3")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            println!("DuckDB baseline skipped: python3: {e}");
            return Ok(());
        }
    };
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().expect("piped");
        stdin.write_all(job.to_string().as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        println!(
            "DuckDB baseline failed (pip install duckdb?): {}",
            out.status
        );
        return Ok(());
    }
    let answer: Value = serde_json::from_slice(&out.stdout)?;
    println!(
        "DuckDB {} loaded the rows in {:.1} s",
        answer["version"].as_str().unwrap_or("?"),
        answer["load_seconds"].as_f64().unwrap_or(f64::NAN)
    );
    for (i, r) in results.iter_mut().enumerate() {
        let a = &answer["results"][i.to_string()];
        r.duckdb = Some(match a["p50_ms"].as_f64() {
            Some(p50) => Ok(SqlTiming {
                p50,
                rows: a["rows"].as_u64().unwrap_or(0),
            }),
            None => Err(a["error"].as_str().unwrap_or("no answer").to_string()),
        });
    }
    Ok(())
}

/// The raw tables and the columns both baselines read (the file names are
/// the table names, as benches/duckdb_baseline.py expects).
const RAW_COLUMNS: &[(&str, &str)] = &[
    (
        "customers",
        "customer_id, registration_date, country, city, age, gender, acquisition_source, segment, is_active",
    ),
    (
        "transactions",
        "transaction_id, customer_id, transaction_date, amount, product_category, transaction_type, payment_method, is_refund",
    ),
    (
        "customer_interactions",
        "interaction_id, customer_id, interaction_date, interaction_type, channel, duration_seconds, satisfaction_score",
    ),
];

async fn export_csv(
    pool: &sqlx::PgPool,
    table: &str,
    cols: &str,
    path: &std::path::Path,
) -> anyhow::Result<()> {
    use futures_util::TryStreamExt as _;
    use tokio::io::AsyncWriteExt as _;
    let mut conn = pool.acquire().await?;
    sqlx::query("SET TimeZone = 'UTC'")
        .execute(&mut *conn)
        .await?;
    let mut file = tokio::io::BufWriter::new(tokio::fs::File::create(path).await?);
    {
        let mut stream = conn
            .copy_out_raw(&format!(
                "COPY (SELECT {cols} FROM {table}) TO STDOUT WITH (FORMAT csv, HEADER)"
            ))
            .await?;
        while let Some(chunk) = stream.try_next().await? {
            file.write_all(&chunk).await?;
        }
    }
    file.flush().await?;
    Ok(())
}

/// `--data DIR`: the three files of DIR through the bulk endpoint (rows/s each).
async fn load_files(server: &Server, client: &reqwest::Client, dir: &str) -> anyhow::Result<Value> {
    let mut out = serde_json::Map::new();
    for (file, ds) in [
        ("customers.csv", "customers"),
        ("transactions.csv", "transactions"),
        ("interactions.csv", "customer_interactions"),
    ] {
        let path = std::path::Path::new(dir).join(file);
        if !path.exists() {
            println!("{}: not there, skipped", path.display());
            continue;
        }
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(
            tokio::fs::File::open(&path).await?,
        ));
        let t = Instant::now();
        let resp = client
            .post(format!(
                "{}/v0/datasources?name={ds}&mode=append&format=csv",
                server.base
            ))
            .bearer_auth(TOKEN)
            .body(body)
            .send()
            .await?;
        let status = resp.status();
        let answer: Value = resp.json().await?;
        anyhow::ensure!(status.is_success(), "{}: {status} {answer}", path.display());
        let secs = t.elapsed().as_secs_f64();
        let rows = answer["successful_rows"].as_u64().unwrap_or(0);
        println!(
            "bulk load {file}: {rows} rows in {secs:.1} s ({:.0} rows/s), quarantined {}",
            rows as f64 / secs,
            answer["quarantined_rows"]
        );
        out.insert(ds.into(), json!({"answer": answer, "seconds": secs}));
    }
    Ok(Value::Object(out))
}

async fn load_demo(server: &Server, customers: u64, seed: u64) -> anyhow::Result<Value> {
    let spec = ltv_pipes::demo::Spec::new(customers, seed);
    let started = Instant::now();
    let passes = ltv_pipes::demo::load(
        &ltv_pipes::db::Writer::new(server.pool.clone(), true),
        spec,
        |_, _| {},
    )
    .await?;
    let mut out = serde_json::Map::new();
    for p in &passes {
        println!(
            "demo load {}: {} rows in {:.1} s ({:.0} rows/s)",
            p.datasource.name(),
            p.rows_generated,
            p.seconds,
            p.rows_generated as f64 / p.seconds
        );
        out.insert(
            p.datasource.name().into(),
            json!({"rows": p.rows_generated, "seconds": p.seconds}),
        );
    }
    out.insert("seconds".into(), json!(started.elapsed().as_secs_f64()));
    Ok(Value::Object(out))
}

async fn counts(pool: &sqlx::PgPool) -> anyhow::Result<Value> {
    let (c, t, i): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM transactions),
                (SELECT count(*) FROM customer_interactions)",
    )
    .fetch_one(pool)
    .await?;
    Ok(json!({"customers": c, "transactions": t, "interactions": i}))
}

/// New transactions for existing customers, as CSV and as NDJSON lines.
fn new_transactions(n: usize, tag: &str, customers: i64) -> (String, Vec<String>) {
    let mut csv = String::from(
        "transaction_id,customer_id,transaction_date,amount,product_category,transaction_type,payment_method,is_refund\n",
    );
    let mut ndjson = Vec::with_capacity(n);
    for i in 0..n {
        let customer = format!("cust_{:07}", 1 + (i as i64 * 7919) % customers.max(1));
        let day = 1 + i % 28;
        let amount = format!("{}.{:02}", 5 + i % 300, i % 100);
        let _ = writeln!(
            csv,
            "{tag}{i},{customer},2026-10-{day:02} 12:00:00,{amount},books,purchase,credit_card,0"
        );
        ndjson.push(format!(
            r#"{{"transaction_id":"{tag}{i}","customer_id":"{customer}","transaction_date":"2026-10-{day:02} 12:00:00","amount":{amount},"product_category":"books","transaction_type":"purchase","payment_method":"credit_card","is_refund":0}}"#
        ));
    }
    (csv, ndjson)
}

/// Plain COPY of a CSV into an unindexed copy of transactions: rows/s.
/// Plain `COPY` of the CSV into an empty copy of `transactions`: without
/// indexes (`like` = "INCLUDING DEFAULTS"), or with the same primary key and
/// indexes ("INCLUDING ALL"), the issue's baseline for the write path.
async fn plain_copy(
    pool: &sqlx::PgPool,
    csv: &str,
    rows: usize,
    like: &str,
) -> anyhow::Result<f64> {
    sqlx::query("DROP TABLE IF EXISTS bench_copy")
        .execute(pool)
        .await?;
    sqlx::query(&format!(
        "CREATE TABLE bench_copy (LIKE transactions {like})"
    ))
    .execute(pool)
    .await?;
    let mut conn = pool.acquire().await?;
    let t = Instant::now();
    let mut copy = conn
        .copy_in_raw(
            "COPY bench_copy (transaction_id, customer_id, transaction_date, amount, product_category,
                              transaction_type, payment_method, is_refund) FROM STDIN WITH (FORMAT csv, HEADER)",
        )
        .await?;
    copy.send(csv.as_bytes()).await?;
    copy.finish().await?;
    let rate = rows as f64 / t.elapsed().as_secs_f64();
    sqlx::query("DROP TABLE bench_copy").execute(pool).await?;
    Ok(rate)
}

async fn ingest(server: &Server, client: &reqwest::Client) -> anyhow::Result<Value> {
    let customers: i64 = sqlx::query_scalar("SELECT count(*) FROM customers")
        .fetch_one(&server.pool)
        .await?;
    let n = 200_000;
    // Ids new to this run: a run on a kept cluster (BENCH_DATA_DIR) would
    // otherwise send rows an earlier run stored, which are no-ops.
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let (csv, _) = new_transactions(n, &format!("bulk_{run}_"), customers);
    let copy_rate = plain_copy(&server.pool, &csv, n, "INCLUDING DEFAULTS").await?;
    let indexed_copy_rate = plain_copy(&server.pool, &csv, n, "INCLUDING ALL").await?;
    let t = Instant::now();
    let resp = client
        .post(format!(
            "{}/v0/datasources?name=transactions&mode=append&format=csv",
            server.base
        ))
        .bearer_auth(TOKEN)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await?;
    anyhow::ensure!(resp.status().is_success(), "bulk: {}", resp.text().await?);
    resp.bytes().await?;
    let bulk_rate = n as f64 / t.elapsed().as_secs_f64();

    let (_, lines) = new_transactions(100_000, &format!("ev_{run}_"), customers);
    let url = format!("{}/v0/events?name=transactions", server.base);
    let t = Instant::now();
    for chunk in lines.chunks(10_000) {
        let resp = client
            .post(&url)
            .bearer_auth(TOKEN)
            .body(chunk.join("\n"))
            .send()
            .await?;
        anyhow::ensure!(resp.status().is_success(), "events: {}", resp.text().await?);
        resp.bytes().await?;
    }
    // Acknowledged (committed) at once; applied by the maintainer after.
    let events_rate = lines.len() as f64 / t.elapsed().as_secs_f64();
    queue_drained(&server.pool).await?;
    let events_applied_rate = lines.len() as f64 / t.elapsed().as_secs_f64();
    let single_wait =
        single_events(client, server, &format!("one_{run}_"), customers, true).await?;
    let single_ack =
        single_events(client, server, &format!("ack_{run}_"), customers, false).await?;
    queue_drained(&server.pool).await?;
    let concurrent = concurrent_events(client, server, &format!("conc_{run}_"), customers).await?;
    println!(
        "\n| ingest | rows/s or ms | COPY, unindexed | ratio | COPY, same indexes | ratio |\n|---|---|---|---|---|---|"
    );
    for (what, rate) in [
        (
            format!("bulk append, {n} CSV rows (answered once applied)"),
            bulk_rate,
        ),
        (
            "Events API, 10,000-line NDJSON, acknowledged".to_string(),
            events_rate,
        ),
        (
            "Events API, 10,000-line NDJSON, applied".to_string(),
            events_applied_rate,
        ),
        (
            format!("Events API, single rows with wait=true, {CONCURRENT_WRITERS} clients"),
            concurrent,
        ),
    ] {
        println!(
            "| {what} | {rate:.0} rows/s | {copy_rate:.0} | {:.2} | {indexed_copy_rate:.0} | {:.2} |",
            rate / copy_rate,
            rate / indexed_copy_rate
        );
    }
    println!(
        "| Events API, single row, wait=true | p50 {:.2} ms, p99 {:.2} ms | | |",
        single_wait.p50, single_wait.p99
    );
    println!(
        "| Events API, single row, no wait | p50 {:.2} ms, p99 {:.2} ms | | |",
        single_ack.p50, single_ack.p99
    );
    Ok(json!({
        "plain_copy_rows_per_s": copy_rate, "indexed_copy_rows_per_s": indexed_copy_rate,
        "bulk_rows_per_s": bulk_rate, "bulk_ratio": bulk_rate / copy_rate,
        "events_ndjson_rows_per_s": events_rate, "events_ratio": events_rate / copy_rate,
        "events_ndjson_applied_rows_per_s": events_applied_rate,
        "events_single_wait_p50_ms": single_wait.p50, "events_single_wait_p99_ms": single_wait.p99,
        "events_single_p50_ms": single_ack.p50, "events_single_p99_ms": single_ack.p99,
        "events_concurrent_wait_rows_per_s": concurrent,
    }))
}

/// Clients posting single rows at once in [`concurrent_events`].
const CONCURRENT_WRITERS: usize = 32;

/// 300 single-row posts one after another, with or without `wait=true`.
async fn single_events(
    client: &reqwest::Client,
    server: &Server,
    prefix: &str,
    customers: i64,
    wait: bool,
) -> anyhow::Result<Timing> {
    let url = format!(
        "{}/v0/events?name=transactions{}",
        server.base,
        if wait { "&wait=true" } else { "" }
    );
    let (_, singles) = new_transactions(300, prefix, customers);
    let mut samples = Vec::new();
    for line in singles {
        let t = Instant::now();
        let resp = client
            .post(&url)
            .bearer_auth(TOKEN)
            .body(line)
            .send()
            .await?;
        anyhow::ensure!(resp.status().is_success());
        if wait {
            anyhow::ensure!(
                resp.status() == reqwest::StatusCode::OK,
                "wait=true answered {}",
                resp.status()
            );
        }
        resp.bytes().await?;
        samples.push(t.elapsed());
    }
    Ok(timing(samples))
}

/// [`CONCURRENT_WRITERS`] clients each posting 100 single rows with
/// `wait=true`: rows/s applied (many requests share a maintainer pass).
async fn concurrent_events(
    client: &reqwest::Client,
    server: &Server,
    prefix: &str,
    customers: i64,
) -> anyhow::Result<f64> {
    let url = format!("{}/v0/events?name=transactions&wait=true", server.base);
    let (_, lines) = new_transactions(CONCURRENT_WRITERS * 100, prefix, customers);
    let t = Instant::now();
    let mut writers = Vec::new();
    for part in lines.chunks(100) {
        let (client, url, part) = (client.clone(), url.clone(), part.to_vec());
        writers.push(tokio::spawn(async move {
            for line in part {
                let resp = client
                    .post(&url)
                    .bearer_auth(TOKEN)
                    .body(line)
                    .send()
                    .await?;
                anyhow::ensure!(
                    resp.status() == reqwest::StatusCode::OK,
                    "wait=true answered {}",
                    resp.status()
                );
                resp.bytes().await?;
            }
            anyhow::Ok(())
        }));
    }
    for w in writers {
        w.await??;
    }
    Ok(lines.len() as f64 / t.elapsed().as_secs_f64())
}

/// Returns once the maintainer's queue is empty.
async fn queue_drained(pool: &sqlx::PgPool) -> anyhow::Result<()> {
    while sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM pending_apply)")
        .fetch_one(pool)
        .await?
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// ms from a new transaction's 2xx to customer_ltv showing it.
async fn freshness(server: &Server, client: &reqwest::Client) -> anyhow::Result<f64> {
    let id = format!("fresh_{}", std::process::id());
    let body = format!(
        r#"{{"transaction_id":"{id}","customer_id":"{id}","transaction_date":"2026-10-01 12:00:00","amount":12.5}}"#
    );
    let resp = client
        .post(format!("{}/v0/events?name=transactions", server.base))
        .bearer_auth(TOKEN)
        .body(body)
        .send()
        .await?;
    anyhow::ensure!(resp.status().is_success());
    let acked = Instant::now();
    loop {
        let resp = client
            .get(format!(
                "{}/v0/pipes/customer_ltv.json?customer_id={id}",
                server.base
            ))
            .bearer_auth(TOKEN)
            .send()
            .await?;
        let v: Value = resp.json().await?;
        if v["rows"] == 1 {
            let ms = acked.elapsed().as_secs_f64() * 1000.0;
            println!("freshness: a new transaction was in customer_ltv {ms:.1} ms after its 2xx");
            return Ok(ms);
        }
        anyhow::ensure!(
            acked.elapsed() < Duration::from_secs(10),
            "not visible after 10 s"
        );
    }
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    json!({"cpu": cpu, "cores": cores})
}
