//! Compacting the small rollup tables after a bulk append.
//!
//! A bulk append is one transaction, and every chunk of it updates the same
//! cube rows again: each update leaves a row version that stays until the
//! transaction ends, and VACUUM can later reuse that space but not give it
//! back. After loading 1M demo customers, `cohort_activity` held 87,943 rows in
//! 413 MB (7 MB when rewritten) and `customer_cube` 4,301 rows in 57 MB, and
//! the pipes that sum them per request read every one of those pages
//! (docs/PERFORMANCE.md, "Bloat after a bulk load"). Rewriting such a table
//! in its key's order (`CLUSTER … USING` its primary key) takes milliseconds
//! to seconds, so a bulk append does it for the tables that need it, after
//! its commit.
//!
//! The rewrite locks the table exclusively while it runs. It never waits
//! for a lock: a table another writer holds (a concurrent append) is skipped
//! and left to the next append, so readers are never queued behind a long
//! ingest transaction.

use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection, PgPool};

/// The cube tables the pipes read per request (all of them small: thousands to
/// a few hundred thousand rows whatever the customer count). The per-customer
/// rollups are large by nature and left to autovacuum.
pub const ROLLUP_TABLES: [&str; 10] = [
    "customer_cube",
    "cohort_activity",
    "ltv_histogram",
    "rfm_cube",
    "rfm_monetary",
    "rfm_days",
    "rfm_purchases",
    "factor_cube",
    "factor_histogram",
    "factor_correlation",
];

/// A table is rewritten when its heap is over 1 MB and over this many bytes per
/// live row (rewritten, these tables take 60–80 bytes a row): roughly 7× its
/// compact size.
const BYTES_PER_LIVE_ROW: i64 = 512;
const MIN_BYTES: i64 = 1 << 20;
/// How long a rewrite may wait for its table's lock before skipping it.
const LOCK_WAIT: &str = "100ms";
/// The longest one rewrite may hold its lock (413 MB took about 2 s here).
const REWRITE_LIMIT: &str = "60s";

/// What [`rollups`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Compacted {
    /// Tables rewritten, with their heap bytes before and after.
    pub rewritten: Vec<(String, i64, i64)>,
    /// Tables that needed it but were locked by another transaction.
    pub skipped: Vec<String>,
}

/// Rewrites the bloated tables of [`ROLLUP_TABLES`]. The check runs on a
/// pooled connection; rewrites, only when some table needs one, on a
/// connection of their own (closed afterwards, so their lock and statement
/// timeouts never reach the pool).
pub async fn rollups(pool: &PgPool) -> Result<Compacted, sqlx::Error> {
    let bloated = bloated_tables(pool).await?;
    if bloated.is_empty() {
        return Ok(Compacted::default());
    }
    let mut conn = pool.acquire().await?.detach();
    let result = rewrite(&mut conn, bloated).await;
    conn.close().await.ok();
    result
}

/// The tables to rewrite, with their heap bytes: those over [`MIN_BYTES`],
/// counted exactly (they are small by design, so a count is milliseconds; the
/// statistics' live-row estimate may not include the commit just made).
async fn bloated_tables(pool: &PgPool) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let big: Vec<(String, i64)> = sqlx::query_as(
        "SELECT t, pg_relation_size(to_regclass(t)) FROM unnest($1::text[]) t
         WHERE pg_relation_size(to_regclass(t)) > $2 ORDER BY t",
    )
    .bind(ROLLUP_TABLES.as_slice())
    .bind(MIN_BYTES)
    .fetch_all(pool)
    .await?;
    let mut bloated = Vec::new();
    for (table, bytes) in big {
        // The name comes from ROLLUP_TABLES, never from a request.
        let live: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(pool)
            .await?;
        if bytes > BYTES_PER_LIVE_ROW * live.max(1) {
            bloated.push((table, bytes));
        }
    }
    Ok(bloated)
}

async fn rewrite(
    conn: &mut PgConnection,
    bloated: Vec<(String, i64)>,
) -> Result<Compacted, sqlx::Error> {
    let mut done = Compacted::default();
    for setting in [
        format!("SET lock_timeout = '{LOCK_WAIT}'"),
        format!("SET statement_timeout = '{REWRITE_LIMIT}'"),
    ] {
        sqlx::query(&setting).execute(&mut *conn).await?;
    }
    for (table, before) in bloated {
        let started = Instant::now();
        // The name comes from ROLLUP_TABLES (bloated_tables selects only those), never
        // from a request. Rewritten in key order: a filtered call reads a
        // prefix of the key (the rows of its attributes), which then lies on
        // a run of pages instead of one row on each of thousands.
        match sqlx::query(&format!("CLUSTER {table} USING {table}_pkey"))
            .execute(&mut *conn)
            .await
        {
            Ok(_) => {
                sqlx::query(&format!("ANALYZE {table}"))
                    .execute(&mut *conn)
                    .await?;
                let after: i64 = sqlx::query_scalar("SELECT pg_relation_size($1::regclass)")
                    .bind(&table)
                    .fetch_one(&mut *conn)
                    .await?;
                log_rewrite(&table, before, after, started.elapsed());
                done.rewritten.push((table, before, after));
            }
            Err(e) if is_lock_timeout(&e) => {
                tracing::info!(
                    table,
                    "rollup table busy; compacting it after a later append"
                );
                done.skipped.push(table);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

fn is_lock_timeout(e: &sqlx::Error) -> bool {
    // 55P03: lock_not_available.
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "55P03")
}

fn log_rewrite(table: &str, before: i64, after: i64, took: Duration) {
    tracing::info!(
        table,
        before_bytes = before,
        after_bytes = after,
        took_ms = took.as_millis() as u64,
        "rollup table compacted after a bulk append"
    );
}
