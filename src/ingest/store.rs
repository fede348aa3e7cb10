//! Writing one batch: valid rows and rejections in a single transaction, so a 2xx
//! means everything is committed and an error means nothing was written.
//! Rows go in as arrays, one statement per batch whatever its size: the SQL
//! functions of sql/11_ingest.sql write the raw rows and keep every derived
//! table; this module binds the typed rows and runs the transaction.

use std::collections::HashMap;

use sqlx::{PgConnection, PgPool};

use super::rows::{Customer, Datasource, Interaction, Rejected, Rows, Transaction};
use super::versions::{self, Bumped, Source};

/// Writes the batch, retrying (a bounded number of times) when PostgreSQL
/// aborted it for a deadlock or a serialization failure: the whole transaction
/// rolled back, so running it again is safe. Returns the data versions it
/// bumped: only for what really changed (a retried batch whose rows are all
/// stored already changes nothing, so cached answers and ETags stay valid).
pub async fn write(
    pool: &PgPool,
    ds: Datasource,
    rows: &Rows,
    rejected: &[Rejected],
) -> Result<Bumped, sqlx::Error> {
    let mut attempt = 1;
    loop {
        match write_once(pool, ds, rows, rejected).await {
            Err(e) if attempt < 4 && is_retryable(&e) => {
                tracing::warn!(attempt, error = %e, "ingest transaction aborted; retrying");
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// 40P01 deadlock_detected, 40001 serialization_failure.
fn is_retryable(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("40P01") | Some("40001")))
}

async fn write_once(
    pool: &PgPool,
    ds: Datasource,
    rows: &Rows,
    rejected: &[Rejected],
) -> Result<Bumped, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let changed = write_chunk(&mut tx, ds, rows, rejected, Mode::Derived).await?;
    let bumped = bump(&mut tx, ds, changed, rejected.len()).await?;
    tx.commit().await?;
    Ok(bumped)
}

/// What a write keeps besides the raw rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The derived state too, in the same statement (Events API batches, and
    /// bulk files small against the data stored).
    Derived,
    /// Raw rows only; the keys written are recorded in the transaction's
    /// `ltv_bulk_written` table, for the derived state to be brought up to
    /// date once at the end of a bulk load (src/ingest/bulk.rs).
    RawOnly,
}

/// Writes valid rows and rejections inside the caller's transaction: one
/// Events API batch, or one chunk of a bulk file. Returns how many rows were
/// inserted or changed.
pub async fn write_chunk(
    conn: &mut PgConnection,
    ds: Datasource,
    rows: &Rows,
    rejected: &[Rejected],
    mode: Mode,
) -> Result<u64, sqlx::Error> {
    let changed = match rows {
        Rows::Customers(v) => upsert_customers(conn, v, mode).await?,
        Rows::Transactions(v) => insert_transactions(conn, v, mode).await?,
        Rows::Interactions(v) => insert_interactions(conn, v, mode).await?,
    };
    quarantine(conn, ds, rejected).await?;
    Ok(changed)
}

/// The statement that writes a batch through the SQL function pair of
/// sql/11_ingest.sql (`ltv_write_<x>` raw and derived, `ltv_insert_<x>` raw
/// only) with the datasource's array arguments; its single result is the
/// number of rows written.
fn statement(mode: Mode, name: &str, args: &str, key: &str) -> String {
    match mode {
        Mode::Derived => format!("SELECT ltv_write_{name}({args})"),
        Mode::RawOnly => format!(
            "WITH w AS (INSERT INTO ltv_bulk_written (key)
                        SELECT (r).{key} FROM unnest(ltv_insert_{name}({args})) r RETURNING 1)
             SELECT count(*) FROM w"
        ),
    }
}

/// Bumps the data versions of what a write changed: the datasource when rows
/// changed, the quarantine when rows were rejected. Last in the transaction.
pub async fn bump(
    conn: &mut PgConnection,
    ds: Datasource,
    changed: u64,
    rejected: usize,
) -> Result<Bumped, sqlx::Error> {
    let mut bumped = Bumped::default();
    if changed > 0 {
        bumped.set(ds.into(), versions::bump(conn, ds).await?);
    }
    if rejected > 0 {
        bumped.set(
            Source::Quarantine,
            versions::bump(conn, Source::Quarantine).await?,
        );
    }
    Ok(bumped)
}

/// Latest received wins: within the batch the last row per customer_id, and
/// across batches the newer write replaces the stored one. A row identical to
/// the stored one is left alone (not even `updated_at` moves), so a repeated
/// batch changes nothing. The profiles and every derived table follow in the
/// same statement (`ltv_write_customers`, sql/11_ingest.sql). Returns how many
/// rows were inserted or changed.
async fn upsert_customers(
    conn: &mut PgConnection,
    rows: &[Customer],
    mode: Mode,
) -> Result<u64, sqlx::Error> {
    if rows.is_empty() {
        return Ok(0);
    }
    let rows = last_per_key(rows, |c| &c.customer_id);
    let sql = statement(
        mode,
        "customers",
        "$1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::int4[], $6::text[], $7::text[], \
         $8::text[], $9::int2[]",
        "customer_id",
    );
    let changed: i64 = sqlx::query_scalar(&sql)
        .bind(column(&rows, |r| r.customer_id.clone()))
        .bind(column(&rows, |r| r.registration_date))
        .bind(column(&rows, |r| r.country.clone()))
        .bind(column(&rows, |r| r.city.clone()))
        .bind(column(&rows, |r| r.age))
        .bind(column(&rows, |r| r.gender.clone()))
        .bind(column(&rows, |r| r.acquisition_source.clone()))
        .bind(column(&rows, |r| r.segment.clone()))
        .bind(column(&rows, |r| r.is_active))
        .fetch_one(conn)
        .await?;
    Ok(changed as u64)
}

/// A repeated transaction_id keeps the first version stored: retries are
/// no-ops. Only the rows actually inserted feed the derived tables
/// (`ltv_write_transactions`, sql/11_ingest.sql), so a retry never counts
/// twice. Returns how many transactions were new.
async fn insert_transactions(
    conn: &mut PgConnection,
    rows: &[Transaction],
    mode: Mode,
) -> Result<u64, sqlx::Error> {
    if rows.is_empty() {
        return Ok(0);
    }
    let rows: Vec<&Transaction> = rows.iter().collect();
    let sql = statement(
        mode,
        "transactions",
        "$1::text[], $2::text[], $3::timestamptz[], $4::numeric[], $5::text[], $6::text[], $7::text[], \
         $8::int2[]",
        "transaction_id",
    );
    let changed: i64 = sqlx::query_scalar(&sql)
        .bind(column(&rows, |r| r.transaction_id.clone()))
        .bind(column(&rows, |r| r.customer_id.clone()))
        .bind(column(&rows, |r| r.transaction_date))
        .bind(column(&rows, |r| r.amount))
        .bind(column(&rows, |r| r.product_category.clone()))
        .bind(column(&rows, |r| r.transaction_type.clone()))
        .bind(column(&rows, |r| r.payment_method.clone()))
        .bind(column(&rows, |r| r.is_refund))
        .fetch_one(conn)
        .await?;
    Ok(changed as u64)
}

/// Like [`insert_transactions`], through `ltv_write_interactions`.
async fn insert_interactions(
    conn: &mut PgConnection,
    rows: &[Interaction],
    mode: Mode,
) -> Result<u64, sqlx::Error> {
    if rows.is_empty() {
        return Ok(0);
    }
    let rows: Vec<&Interaction> = rows.iter().collect();
    let sql = statement(
        mode,
        "interactions",
        "$1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::int4[], $7::int2[]",
        "interaction_id",
    );
    let changed: i64 = sqlx::query_scalar(&sql)
        .bind(column(&rows, |r| r.interaction_id.clone()))
        .bind(column(&rows, |r| r.customer_id.clone()))
        .bind(column(&rows, |r| r.interaction_date))
        .bind(column(&rows, |r| r.interaction_type.clone()))
        .bind(column(&rows, |r| r.channel.clone()))
        .bind(column(&rows, |r| r.duration_seconds))
        .bind(column(&rows, |r| r.satisfaction_score))
        .fetch_one(conn)
        .await?;
    Ok(changed as u64)
}

/// One field of every row, as the array bound for `UNNEST`.
fn column<T, V>(rows: &[&T], field: impl Fn(&T) -> V) -> Vec<V> {
    rows.iter().map(|r| field(r)).collect()
}

async fn quarantine(
    conn: &mut PgConnection,
    ds: Datasource,
    rejected: &[Rejected],
) -> Result<(), sqlx::Error> {
    if rejected.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO quarantine (datasource, error, raw)
         SELECT $1, e, r FROM UNNEST($2::text[], $3::text[]) AS t(e, r)",
    )
    .bind(ds.name())
    .bind(rejected.iter().map(|r| r.error()).collect::<Vec<_>>())
    .bind(rejected.iter().map(|r| r.raw()).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

/// The last row for each key, in order of first appearance of the key (one
/// INSERT … ON CONFLICT DO UPDATE may not touch the same key twice).
fn last_per_key<T>(rows: &[T], key: impl Fn(&T) -> &str) -> Vec<&T> {
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(rows.len());
    let mut out: Vec<&T> = Vec::with_capacity(rows.len());
    for row in rows {
        match index.get(key(row)) {
            Some(&i) => out[i] = row,
            None => {
                index.insert(key(row), out.len());
                out.push(row);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::last_per_key;

    #[test]
    fn the_last_row_per_key_wins() {
        let rows = [("a", 1), ("b", 2), ("a", 3)];
        let kept: Vec<_> = last_per_key(&rows, |r| r.0).into_iter().copied().collect();
        assert_eq!(kept, vec![("a", 3), ("b", 2)]);
    }
}
