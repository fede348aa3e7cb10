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
    let tables: Vec<&Derived> = DERIVED
        .iter()
        .filter(|d| d.from.iter().any(|ds| from.contains(ds)))
        .collect();
    recompute(conn, &tables).await
}

/// Recomputes every derived table a migration emptied and named in
/// `derived_stale` (migrations/README.md), then removes the marks, in one
/// transaction: run at start, after the migrations and the SQL components.
/// A second server starting at the same time waits for the first and finds
/// nothing left to do.
pub async fn rebuild_stale(pool: &PgPool) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let stale: Vec<String> =
        sqlx::query_scalar("SELECT table_name FROM derived_stale ORDER BY 1 FOR UPDATE")
            .fetch_all(&mut *tx)
            .await?;
    if stale.is_empty() {
        return Ok(());
    }
    tracing::info!(tables = ?stale, "recomputing the derived tables a migration emptied");
    let tables: Vec<&Derived> = DERIVED
        .iter()
        .filter(|d| stale.iter().any(|s| s == d.table))
        .collect();
    recompute(&mut tx, &tables).await?;
    sqlx::query("DELETE FROM derived_stale")
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// Replaces each of `tables` (in DERIVED's order) with its recomputation.
async fn recompute(conn: &mut PgConnection, tables: &[&Derived]) -> Result<(), sqlx::Error> {
    sqlx::query("LOCK TABLE customers, transactions, customer_interactions IN SHARE MODE")
        .execute(&mut *conn)
        .await?;
    settle_pending(conn, tables).await?;
    // A recomputation at a million customers is a pass over every raw row:
    // longer than a request may take, and worth more memory per sort.
    sqlx::query("SET LOCAL statement_timeout = 0")
        .execute(&mut *conn)
        .await?;
    sqlx::query("SET LOCAL work_mem = '256MB'")
        .execute(&mut *conn)
        .await?;
    sqlx::query("SET LOCAL maintenance_work_mem = '512MB'")
        .execute(&mut *conn)
        .await?;
    // An empty table (a first load) is filled without its indexes, which are
    // built afterwards from sorted data: about 4x faster than inserting into
    // them (1M rows of customer_day_category: 5 s against 19 s here). Dropping
    // an index locks the table until commit, which only readers of an empty
    // table notice.
    let mut empty = Vec::with_capacity(tables.len());
    for d in tables {
        empty.push(is_empty(conn, d.table).await?);
    }
    for (d, &empty) in tables.iter().zip(&empty) {
        if !empty {
            // Identifiers come from the DERIVED list, never from a request.
            sqlx::query(&format!("DELETE FROM {}", d.table))
                .execute(&mut *conn)
                .await?;
        }
    }
    // In DERIVED's order: a level's recomputation reads the level below.
    for (d, &empty) in tables.iter().zip(&empty) {
        let started = Instant::now();
        // Into indexes that stay, rows in key order: each index page is
        // written once instead of at random (half the time). The group
        // tables always: a filtered call reads a prefix of the key (its
        // attributes' rows), which then lies on a run of pages. (The key is
        // read before a first load drops it.)
        let group = crate::ingest::compact::ROLLUP_TABLES.contains(&d.table);
        let order = match d.cluster {
            Some(cluster) => format!("ORDER BY {cluster}"),
            None if empty && !group => String::new(),
            None => format!("ORDER BY {}", key_columns(conn, d.table).await?),
        };
        let indexes = if empty {
            Some(drop_indexes(conn, d.table).await?)
        } else {
            None
        };
        let cols = columns(conn, d.table).await?;
        let counts = d
            .zero
            .map(|z| format!("WHERE NOT ({z})"))
            .unwrap_or_default();
        let written = sqlx::query(&format!(
            "INSERT INTO {t} ({cols}) SELECT {cols} FROM ltv_expected_{t} {counts} {order}",
            t = d.table
        ))
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if let Some(indexes) = indexes {
            for statement in indexes {
                sqlx::query(&statement).execute(&mut *conn).await?;
            }
        }
        // Debug: a bulk load rebuilds a dozen tables, and the bulk append's
        // own line says how long the whole derived state took.
        tracing::debug!(
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

/// The maintainer's queue against a recomputation of `tables`, after the raw
/// tables are locked (no new keys): takes the maintainer's lock (a running
/// pass finishes first, none starts until the commit); drops the keys of each
/// datasource all of whose derived tables are recomputed (the recomputation
/// reads their rows: applying them too would count them twice); applies every
/// other key first, so the tables left alone and the recomputed ones describe
/// the same raw rows.
async fn settle_pending(conn: &mut PgConnection, tables: &[&Derived]) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT ltv_lock_maintainer()")
        .execute(&mut *conn)
        .await?;
    let covered: Vec<&str> = Datasource::ALL
        .into_iter()
        .filter(|ds| {
            DERIVED
                .iter()
                .filter(|d| d.from.contains(ds))
                .all(|d| tables.iter().any(|t| t.table == d.table))
        })
        .map(|ds| ds.name())
        .collect();
    sqlx::query("DELETE FROM pending_apply WHERE datasource = ANY ($1)")
        .bind(&covered)
        .execute(&mut *conn)
        .await?;
    sqlx::query("SELECT count(*) FROM ltv_apply_pending(2147483647)")
        .execute(&mut *conn)
        .await?;
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

async fn is_empty(conn: &mut PgConnection, table: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(&format!("SELECT NOT EXISTS (SELECT 1 FROM {table})"))
        .fetch_one(conn)
        .await
}

/// Drops the table's primary key and indexes, returning the statements that
/// create them again, exactly as they were (names included).
async fn drop_indexes(conn: &mut PgConnection, table: &str) -> Result<Vec<String>, sqlx::Error> {
    // (quoted name, definition)
    let primary: Option<(String, String)> = sqlx::query_as(
        "SELECT quote_ident(conname), pg_get_constraintdef(oid) FROM pg_constraint
         WHERE conrelid = to_regclass($1) AND contype = 'p'",
    )
    .bind(table)
    .fetch_optional(&mut *conn)
    .await?;
    let others: Vec<(String, String)> = sqlx::query_as(
        "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index
         WHERE indrelid = to_regclass($1) AND NOT indisprimary ORDER BY indexrelid",
    )
    .bind(table)
    .fetch_all(&mut *conn)
    .await?;
    let mut create = Vec::new();
    if let Some((name, def)) = primary {
        sqlx::query(&format!("ALTER TABLE {table} DROP CONSTRAINT {name}"))
            .execute(&mut *conn)
            .await?;
        create.push(format!("ALTER TABLE {table} ADD CONSTRAINT {name} {def}"));
    }
    for (name, def) in others {
        sqlx::query(&format!("DROP INDEX {name}"))
            .execute(&mut *conn)
            .await?;
        create.push(def);
    }
    Ok(create)
}

/// The primary key's columns, in order, quoted.
async fn key_columns(conn: &mut PgConnection, table: &str) -> Result<String, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT string_agg(quote_ident(a.attname::text), ', ' ORDER BY k.ord)
         FROM pg_index i, unnest(i.indkey) WITH ORDINALITY k(attnum, ord), pg_attribute a
         WHERE i.indrelid = to_regclass($1) AND i.indisprimary
           AND a.attrelid = i.indrelid AND a.attnum = k.attnum",
    )
    .bind(table)
    .fetch_one(conn)
    .await
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
