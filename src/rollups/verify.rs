//! `ltv-pipes rollups verify`: every derived table compared, row by row, with
//! its recomputation (`ltv_expected_<table>`). Rows are compared on the
//! view's columns with `EXCEPT ALL` both ways, so a missing row, an extra row
//! and a wrong number all show up, each as the row itself.

use sqlx::PgPool;

use super::{Derived, DERIVED};
use crate::ingest::maintainer;

/// How many differing rows per table are returned (the count is exact).
const SHOWN_PER_TABLE: i64 = 20;

/// One row that differs: stored but not recomputed (`extra`), or recomputed
/// but not stored (`missing`); two rows with the same key and different
/// numbers show as one of each.
#[derive(Debug, Clone)]
pub struct Difference {
    pub table: &'static str,
    pub side: Side,
    pub row: serde_json::Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// In the table, not in its recomputation.
    Extra,
    /// In the recomputation, not in the table.
    Missing,
}

/// What verify found: per table, rows compared and differences.
#[derive(Debug, Default)]
pub struct Report {
    pub tables: Vec<TableReport>,
    /// Keys still queued for the maintainer in the snapshot compared (writes
    /// went on during every attempt): their rows are in the raw tables but not
    /// yet in the derived state, so differences are expected.
    pub queued: i64,
}

#[derive(Debug)]
pub struct TableReport {
    pub table: &'static str,
    /// Rows of the table that count (not all zero).
    pub rows: i64,
    /// Differing rows, exactly counted.
    pub differences: i64,
    /// At most [`SHOWN_PER_TABLE`] of them.
    pub shown: Vec<Difference>,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.queued == 0 && self.tables.iter().all(|t| t.differences == 0)
    }

    pub fn differences(&self) -> impl Iterator<Item = &Difference> {
        self.tables.iter().flat_map(|t| t.shown.iter())
    }
}

/// How many times verify applies the queue and looks again before it
/// compares a snapshot with keys still queued.
const ATTEMPTS: usize = 3;

/// Applies whatever the maintainer's queue holds, then compares every derived
/// table with its recomputation in one repeatable-read snapshot with nothing
/// queued (so concurrent ingestion cannot make a difference appear). Under
/// writes that never pause, the last attempt's snapshot is compared and its
/// queued keys reported.
pub async fn verify(pool: &PgPool) -> Result<Report, sqlx::Error> {
    let mut attempt = 1;
    loop {
        maintainer::drain(pool, maintainer::DRAIN_ROWS).await?;
        let mut tx = pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let queued: i64 = sqlx::query_scalar("SELECT count(*) FROM pending_apply")
            .fetch_one(&mut *tx)
            .await?;
        if queued > 0 && attempt < ATTEMPTS {
            attempt += 1;
            continue;
        }
        return compare(&mut tx, queued).await;
    }
}

async fn compare(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    queued: i64,
) -> Result<Report, sqlx::Error> {
    // Recomputing a 1M-customer database takes longer than a request may.
    sqlx::query("SET LOCAL statement_timeout = 0")
        .execute(&mut **tx)
        .await?;
    let mut report = Report {
        queued,
        ..Report::default()
    };
    for derived in DERIVED {
        report.tables.push(verify_table(tx, derived).await?);
    }
    Ok(report)
}

async fn verify_table(
    conn: &mut sqlx::PgConnection,
    derived: &Derived,
) -> Result<TableReport, sqlx::Error> {
    let columns = expected_columns(conn, derived.table).await?;
    // Identifiers come from the DERIVED list and the catalog, never a request.
    let cols = columns
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let counts = match derived.zero {
        Some(zero) => format!("WHERE NOT ({zero})"),
        None => String::new(),
    };
    let sql = format!(
        "WITH stored AS MATERIALIZED (SELECT {cols} FROM {t} {counts}),
              expected AS MATERIALIZED (SELECT {cols} FROM ltv_expected_{t} {counts}),
              extra AS (SELECT * FROM stored EXCEPT ALL SELECT * FROM expected),
              missing AS (SELECT * FROM expected EXCEPT ALL SELECT * FROM stored),
              diff AS (SELECT 'extra' AS side, to_jsonb(x) AS row FROM extra x
                       UNION ALL SELECT 'missing', to_jsonb(m) FROM missing m)
         SELECT (SELECT count(*) FROM stored), (SELECT count(*) FROM diff),
                coalesce((SELECT jsonb_agg(d) FROM (SELECT * FROM diff ORDER BY row::text LIMIT $1) d), '[]')",
        t = derived.table
    );
    let (rows, differences, shown): (i64, i64, serde_json::Value) = sqlx::query_as(&sql)
        .bind(SHOWN_PER_TABLE)
        .fetch_one(&mut *conn)
        .await?;
    let shown = shown
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|d| Difference {
            table: derived.table,
            side: if d["side"] == "extra" {
                Side::Extra
            } else {
                Side::Missing
            },
            row: d["row"].clone(),
        })
        .collect();
    Ok(TableReport {
        table: derived.table,
        rows,
        differences,
        shown,
    })
}

/// The recomputation's columns, in order (every one is a column of the table).
async fn expected_columns(
    conn: &mut sqlx::PgConnection,
    table: &str,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT attname::text FROM pg_attribute
         WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped
         ORDER BY attnum",
    )
    .bind(format!("ltv_expected_{table}"))
    .fetch_all(conn)
    .await
}
