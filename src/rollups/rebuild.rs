//! Recomputing derived tables wholesale from the raw tables: what
//! `ltv-pipes rollups refresh` does after rows were written straight into the
//! raw tables (psql, `COPY`), and what a bulk append does when the file is
//! large against the data already stored (one set-based pass instead of
//! deltas per chunk). Each table gets exactly the rows of its recomputation
//! `ltv_expected_<table>` (sql/10_verify.sql): the definition verify checks
//! against, so a rebuilt state is verified by construction.

use std::time::Instant;

use sqlx::{PgConnection, PgPool};

use super::{Derived, DERIVED};
use crate::ingest::versions::{self, Bumped};
use crate::ingest::Datasource;

/// Replaces every derived table computed from any of `from` with its
/// recomputation, inside the caller's transaction. Writers of the raw tables
/// wait for the transaction (a SHARE lock), so no batch's delta can land
/// between the recomputation and the commit; readers keep reading the old
/// rows until it commits.
pub async fn rebuild(conn: &mut PgConnection, from: &[Datasource]) -> Result<(), sqlx::Error> {
    sqlx::query("LOCK TABLE customers, transactions, customer_interactions IN SHARE MODE")
        .execute(&mut *conn)
        .await?;
    // A recomputation at a million customers is a pass over every raw row:
    // longer than a request may take, and worth more memory per sort.
    sqlx::query("SET LOCAL statement_timeout = 0")
        .execute(&mut *conn)
        .await?;
    sqlx::query("SET LOCAL work_mem = '256MB'")
        .execute(&mut *conn)
        .await?;
    let tables: Vec<&Derived> = DERIVED
        .iter()
        .filter(|d| d.from.iter().any(|ds| from.contains(ds)))
        .collect();
    for d in &tables {
        // Identifiers come from the DERIVED list, never from a request.
        sqlx::query(&format!("DELETE FROM {}", d.table))
            .execute(&mut *conn)
            .await?;
    }
    // In DERIVED's order: a level's recomputation reads the level below.
    for d in &tables {
        let started = Instant::now();
        let cols = columns(conn, d.table).await?;
        let counts = d
            .zero
            .map(|z| format!("WHERE NOT ({z})"))
            .unwrap_or_default();
        let written = sqlx::query(&format!(
            "INSERT INTO {t} ({cols}) SELECT {cols} FROM ltv_expected_{t} {counts}",
            t = d.table
        ))
        .execute(&mut *conn)
        .await?
        .rows_affected();
        tracing::info!(
            table = d.table,
            rows = written,
            ms = started.elapsed().as_millis() as u64,
            "derived table rebuilt"
        );
    }
    // Fresh statistics for the per-customer tables: the planner's estimates
    // were made when they held something else entirely. (The small group
    // tables are left to the compaction after the commit, which rewrites and
    // analyzes them: statistics taken here would hide their bloat from it.)
    for d in tables
        .iter()
        .filter(|d| !crate::ingest::compact::ROLLUP_TABLES.contains(&d.table))
    {
        sqlx::query(&format!("ANALYZE {}", d.table))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// `ltv-pipes rollups refresh`: every derived table recomputed from the raw
/// tables in one transaction, and every data version bumped (cached answers
/// and ETags of every server are invalidated at commit).
pub async fn refresh(pool: &PgPool) -> Result<Bumped, sqlx::Error> {
    let mut tx = pool.begin().await?;
    rebuild(&mut tx, &Datasource::ALL).await?;
    let mut bumped = Bumped::default();
    for ds in Datasource::ALL {
        bumped.set(ds.into(), versions::bump(&mut tx, ds).await?);
    }
    tx.commit().await?;
    Ok(bumped)
}

/// The recomputation's columns (the table's, without generated ones), quoted.
async fn columns(conn: &mut PgConnection, table: &str) -> Result<String, sqlx::Error> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT quote_ident(v.attname::text) FROM pg_attribute v
         JOIN pg_attribute t ON t.attrelid = to_regclass($2) AND t.attname = v.attname
         WHERE v.attrelid = to_regclass($1) AND v.attnum > 0 AND NOT v.attisdropped
           AND t.attgenerated = ''
         ORDER BY v.attnum",
    )
    .bind(format!("ltv_expected_{table}"))
    .bind(table)
    .fetch_all(conn)
    .await?;
    Ok(names.join(", "))
}
