//! Writing one batch: valid rows and rejections in a single transaction, so a 2xx
//! means everything is committed and an error means nothing was written.
//! Rows go in as arrays, one statement per batch whatever its size: the SQL
//! functions of sql/11_ingest.sql write the raw rows, and the keys of the rows
//! really written go into the maintainer's queue (`pending_apply`) in the same
//! statement; the derived state follows in the maintainer's next pass
//! (src/ingest/maintainer.rs). This module binds the typed rows and runs the
//! transaction.

use std::collections::HashMap;

use sqlx::PgConnection;

use super::maintainer::Pending;
use super::rows::{Customer, Datasource, Interaction, Rejected, Rows, Transaction};
use super::versions::{self, Bumped, Source};
use crate::db::Writer;

/// What a committed write did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    /// The data versions it bumped: only for what really changed (a retried
    /// batch whose rows are all stored already changes nothing, so cached
    /// answers and ETags stay valid).
    pub bumped: Bumped,
    /// The queue positions of its rows, for a caller that waits until they
    /// are applied (None: nothing to apply).
    pub pending: Option<Pending>,
}

/// Rows written by one statement.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Chunk {
    /// Rows inserted or changed.
    pub changed: u64,
    pub pending: Option<Pending>,
}

/// Writes the batch, retrying (a bounded number of times) when PostgreSQL
/// aborted it for a deadlock or a serialization failure: the whole transaction
/// rolled back, so running it again is safe.
pub async fn write(
    writer: &Writer,
    ds: Datasource,
    rows: &Rows,
    rejected: &[Rejected],
) -> Result<Written, sqlx::Error> {
    let mut attempt = 1;
    loop {
        match write_once(writer, ds, rows, rejected).await {
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
    writer: &Writer,
    ds: Datasource,
    rows: &Rows,
    rejected: &[Rejected],
) -> Result<Written, sqlx::Error> {
    let mut tx = writer.begin().await?;
    let chunk = write_chunk(&mut tx, ds, rows, rejected).await?;
    let bumped = bump(&mut tx, ds, chunk.changed, rejected.len()).await?;
    tx.commit().await?;
    Ok(Written {
        bumped,
        pending: chunk.pending,
    })
}

/// Writes valid rows, their keys in the maintainer's queue, and rejections,
/// inside the caller's transaction: one Events API batch, or one chunk of a
/// bulk file.
pub async fn write_chunk(
    conn: &mut PgConnection,
    ds: Datasource,
    rows: &Rows,
    rejected: &[Rejected],
) -> Result<Chunk, sqlx::Error> {
    let chunk = match rows {
        Rows::Customers(v) => upsert_customers(conn, v).await?,
        Rows::Transactions(v) => insert_transactions(conn, v).await?,
        Rows::Interactions(v) => insert_interactions(conn, v).await?,
    };
    quarantine(conn, ds, rejected).await?;
    Ok(chunk)
}

/// The statement that writes a batch through `ltv_insert_<x>`
/// (sql/11_ingest.sql) with the datasource's array arguments and queues the
/// key of each row it really wrote; its result is how many, and their first
/// and last queue positions. `ds` and `key` come from the datasource list,
/// never from a request.
fn statement(ds: Datasource, name: &str, args: &str, key: &str) -> String {
    format!(
        "WITH w AS (INSERT INTO pending_apply (datasource, key)
                    SELECT '{ds}', (r).{key} FROM unnest(ltv_insert_{name}({args})) r RETURNING seq)
         SELECT count(*), min(seq), max(seq) FROM w",
        ds = ds.name()
    )
}

/// Runs a [`statement`] with its binds.
async fn run(
    conn: &mut PgConnection,
    query: sqlx::query::QueryAs<
        '_,
        sqlx::Postgres,
        (i64, Option<i64>, Option<i64>),
        sqlx::postgres::PgArguments,
    >,
) -> Result<Chunk, sqlx::Error> {
    let (changed, first, last) = query.fetch_one(conn).await?;
    Ok(Chunk {
        changed: changed as u64,
        pending: first.zip(last).map(|(first, last)| Pending { first, last }),
    })
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
/// maintainer's pass (`ltv_apply_customers`, sql/11_ingest.sql).
async fn upsert_customers(
    conn: &mut PgConnection,
    rows: &[Customer],
) -> Result<Chunk, sqlx::Error> {
    if rows.is_empty() {
        return Ok(Chunk::default());
    }
    let rows = last_per_key(rows, |c| &c.customer_id);
    let sql = statement(
        Datasource::Customers,
        "customers",
        "$1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::int4[], $6::text[], $7::text[], \
         $8::text[], $9::int2[]",
        "customer_id",
    );
    let query = sqlx::query_as(&sql)
        .bind(column(&rows, |r| r.customer_id.clone()))
        .bind(column(&rows, |r| r.registration_date))
        .bind(column(&rows, |r| r.country.clone()))
        .bind(column(&rows, |r| r.city.clone()))
        .bind(column(&rows, |r| r.age))
        .bind(column(&rows, |r| r.gender.clone()))
        .bind(column(&rows, |r| r.acquisition_source.clone()))
        .bind(column(&rows, |r| r.segment.clone()))
        .bind(column(&rows, |r| r.is_active));
    run(conn, query).await
}

/// A repeated transaction_id keeps the first version stored: retries are
/// no-ops. Only the rows actually inserted are queued for the derived tables,
/// so a retry never counts twice.
async fn insert_transactions(
    conn: &mut PgConnection,
    rows: &[Transaction],
) -> Result<Chunk, sqlx::Error> {
    if rows.is_empty() {
        return Ok(Chunk::default());
    }
    let rows: Vec<&Transaction> = rows.iter().collect();
    let sql = statement(
        Datasource::Transactions,
        "transactions",
        "$1::text[], $2::text[], $3::timestamptz[], $4::numeric[], $5::text[], $6::text[], $7::text[], \
         $8::int2[]",
        "transaction_id",
    );
    let query = sqlx::query_as(&sql)
        .bind(column(&rows, |r| r.transaction_id.clone()))
        .bind(column(&rows, |r| r.customer_id.clone()))
        .bind(column(&rows, |r| r.transaction_date))
        .bind(column(&rows, |r| r.amount))
        .bind(column(&rows, |r| r.product_category.clone()))
        .bind(column(&rows, |r| r.transaction_type.clone()))
        .bind(column(&rows, |r| r.payment_method.clone()))
        .bind(column(&rows, |r| r.is_refund));
    run(conn, query).await
}

/// Like [`insert_transactions`], through `ltv_insert_interactions`.
async fn insert_interactions(
    conn: &mut PgConnection,
    rows: &[Interaction],
) -> Result<Chunk, sqlx::Error> {
    if rows.is_empty() {
        return Ok(Chunk::default());
    }
    let rows: Vec<&Interaction> = rows.iter().collect();
    let sql = statement(
        Datasource::CustomerInteractions,
        "interactions",
        "$1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::int4[], $7::int2[]",
        "interaction_id",
    );
    let query = sqlx::query_as(&sql)
        .bind(column(&rows, |r| r.interaction_id.clone()))
        .bind(column(&rows, |r| r.customer_id.clone()))
        .bind(column(&rows, |r| r.interaction_date))
        .bind(column(&rows, |r| r.interaction_type.clone()))
        .bind(column(&rows, |r| r.channel.clone()))
        .bind(column(&rows, |r| r.duration_seconds))
        .bind(column(&rows, |r| r.satisfaction_score));
    run(conn, query).await
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
