//! Writing one batch: valid rows and rejections in a single transaction, so a 2xx
//! means everything is committed and an error means nothing was written.
//! Rows go in as arrays through `UNNEST`, one statement per table whatever the
//! batch size.

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
    let changed = write_chunk(&mut tx, ds, rows, rejected).await?;
    let bumped = bump(&mut tx, ds, changed, rejected.len()).await?;
    tx.commit().await?;
    Ok(bumped)
}

/// Writes valid rows (raw rows and rollups) and rejections inside the
/// caller's transaction: one Events API batch, or one chunk of a bulk file.
/// Returns how many rows were inserted or changed.
pub async fn write_chunk(
    conn: &mut PgConnection,
    ds: Datasource,
    rows: &Rows,
    rejected: &[Rejected],
) -> Result<u64, sqlx::Error> {
    let changed = match rows {
        Rows::Customers(v) => upsert_customers(conn, v).await?,
        Rows::Transactions(v) => insert_transactions(conn, v).await?,
        Rows::Interactions(v) => insert_interactions(conn, v).await?,
    };
    quarantine(conn, ds, rejected).await?;
    Ok(changed)
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
/// batch changes nothing. Returns how many rows were inserted or changed.
async fn upsert_customers(conn: &mut PgConnection, rows: &[Customer]) -> Result<u64, sqlx::Error> {
    if rows.is_empty() {
        return Ok(0);
    }
    let mut rows = last_per_key(rows, |c| &c.customer_id);
    // Key order: concurrent batches lock customers in the same order.
    rows.sort_by(|a, b| a.customer_id.cmp(&b.customer_id));
    let done = sqlx::query(
        "INSERT INTO customers (customer_id, registration_date, country, city, age, gender,
                                acquisition_source, segment, is_active)
         SELECT * FROM UNNEST($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::int4[],
                              $6::text[], $7::text[], $8::text[], $9::int2[])
         ON CONFLICT (customer_id) DO UPDATE SET
             registration_date = EXCLUDED.registration_date, country = EXCLUDED.country,
             city = EXCLUDED.city, age = EXCLUDED.age, gender = EXCLUDED.gender,
             acquisition_source = EXCLUDED.acquisition_source, segment = EXCLUDED.segment,
             is_active = EXCLUDED.is_active, updated_at = now()
         WHERE (customers.registration_date, customers.country, customers.city, customers.age,
                customers.gender, customers.acquisition_source, customers.segment, customers.is_active)
               IS DISTINCT FROM
               (EXCLUDED.registration_date, EXCLUDED.country, EXCLUDED.city, EXCLUDED.age,
                EXCLUDED.gender, EXCLUDED.acquisition_source, EXCLUDED.segment, EXCLUDED.is_active)",
    )
    .bind(
        rows.iter()
            .map(|r| r.customer_id.clone())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.registration_date).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.country.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.city.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.age).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.gender.clone()).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.acquisition_source.clone())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.segment.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.is_active).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// A repeated transaction_id keeps the first version stored: retries are no-ops.
/// Only the rows actually inserted (`RETURNING`) feed the rollups, so a retry
/// never counts twice. Rollup rows are written in key order, so concurrent
/// batches lock them in the same order and cannot deadlock each other.
/// Returns how many customers' summaries changed (0: every row was stored
/// already).
async fn insert_transactions(
    conn: &mut PgConnection,
    rows: &[Transaction],
) -> Result<u64, sqlx::Error> {
    if rows.is_empty() {
        return Ok(0);
    }
    // The command's count is the main INSERT's (customer_summary): at least
    // one row exactly when some transaction was new.
    let changed = sqlx::query(
        "WITH ins AS (
           INSERT INTO transactions (transaction_id, customer_id, transaction_date, amount,
                                     product_category, transaction_type, payment_method, is_refund)
           SELECT * FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::numeric[],
                                $5::text[], $6::text[], $7::text[], $8::int2[])
           ON CONFLICT (transaction_id) DO NOTHING
           RETURNING customer_id, transaction_date, amount, product_category, transaction_type, is_refund
         ), t AS (
           SELECT customer_id, ltv_utc_day(transaction_date) AS day, coalesce(product_category, '') AS category,
                  (is_refund = 1 OR coalesce(transaction_type, '') = 'refund') AS r, amount, transaction_date
           FROM ins
         ), daily AS (
           INSERT INTO customer_day_category AS d
           SELECT customer_id, day, category,
                  count(*) FILTER (WHERE NOT r), count(*) FILTER (WHERE r),
                  coalesce(sum(amount) FILTER (WHERE NOT r), 0), coalesce(sum(amount) FILTER (WHERE r), 0),
                  min(transaction_date) FILTER (WHERE NOT r), max(transaction_date) FILTER (WHERE NOT r)
           FROM t GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
           ON CONFLICT (customer_id, day, category) DO UPDATE SET
             purchases = d.purchases + EXCLUDED.purchases, refunds = d.refunds + EXCLUDED.refunds,
             gross = d.gross + EXCLUDED.gross, refunded = d.refunded + EXCLUDED.refunded,
             first_purchase_at = LEAST(d.first_purchase_at, EXCLUDED.first_purchase_at),
             last_purchase_at = GREATEST(d.last_purchase_at, EXCLUDED.last_purchase_at)
         ), categories AS (
           INSERT INTO customer_category_total AS c
           SELECT customer_id, category, count(*), sum(amount)
           FROM t WHERE NOT r GROUP BY 1, 2 ORDER BY 1, 2
           ON CONFLICT (customer_id, category) DO UPDATE SET
             purchases = c.purchases + EXCLUDED.purchases, gross = c.gross + EXCLUDED.gross
         )
         INSERT INTO customer_summary AS s
           (customer_id, purchases, refunds, gross, refunded, first_purchase_at, last_purchase_at)
         SELECT customer_id, count(*) FILTER (WHERE NOT r), count(*) FILTER (WHERE r),
                coalesce(sum(amount) FILTER (WHERE NOT r), 0), coalesce(sum(amount) FILTER (WHERE r), 0),
                min(transaction_date) FILTER (WHERE NOT r), max(transaction_date) FILTER (WHERE NOT r)
         FROM t GROUP BY 1 ORDER BY 1
         ON CONFLICT (customer_id) DO UPDATE SET
           purchases = s.purchases + EXCLUDED.purchases, refunds = s.refunds + EXCLUDED.refunds,
           gross = s.gross + EXCLUDED.gross, refunded = s.refunded + EXCLUDED.refunded,
           first_purchase_at = LEAST(s.first_purchase_at, EXCLUDED.first_purchase_at),
           last_purchase_at = GREATEST(s.last_purchase_at, EXCLUDED.last_purchase_at)",
    )
    .bind(rows.iter().map(|r| r.transaction_id.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.customer_id.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.transaction_date).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.amount).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.product_category.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.transaction_type.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.payment_method.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.is_refund).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if changed == 0 {
        return Ok(0);
    }
    // A separate statement: it must see the totals the statement above wrote.
    sqlx::query("SELECT ltv_refresh_top_category($1)")
        .bind(distinct_customers(
            rows.iter().map(|r| r.customer_id.as_str()),
        ))
        .execute(conn)
        .await?;
    Ok(changed)
}

/// Like [`insert_transactions`]: returns how many customers' summaries changed.
async fn insert_interactions(
    conn: &mut PgConnection,
    rows: &[Interaction],
) -> Result<u64, sqlx::Error> {
    if rows.is_empty() {
        return Ok(0);
    }
    let changed = sqlx::query(
        "WITH ins AS (
           INSERT INTO customer_interactions (interaction_id, customer_id, interaction_date,
                                              interaction_type, channel, duration_seconds,
                                              satisfaction_score)
           SELECT * FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[],
                                $6::int4[], $7::int2[])
           ON CONFLICT (interaction_id) DO NOTHING
           RETURNING customer_id, interaction_date, channel, interaction_type, satisfaction_score
         ), i AS (
           SELECT customer_id, ltv_utc_day(interaction_date) AS day, coalesce(channel, '') AS channel,
                  interaction_type ILIKE '%support%' AS support, satisfaction_score
           FROM ins
         ), daily AS (
           INSERT INTO interaction_day AS d
           SELECT customer_id, day, channel, count(*), count(*) FILTER (WHERE support),
                  coalesce(sum(satisfaction_score), 0), count(satisfaction_score)
           FROM i GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
           ON CONFLICT (customer_id, day, channel) DO UPDATE SET
             interactions = d.interactions + EXCLUDED.interactions,
             support_contacts = d.support_contacts + EXCLUDED.support_contacts,
             satisfaction_sum = d.satisfaction_sum + EXCLUDED.satisfaction_sum,
             satisfaction_n = d.satisfaction_n + EXCLUDED.satisfaction_n
         ), channels AS (
           INSERT INTO customer_channel_total AS c
           SELECT customer_id, channel, count(*) FROM i GROUP BY 1, 2 ORDER BY 1, 2
           ON CONFLICT (customer_id, channel) DO UPDATE SET interactions = c.interactions + EXCLUDED.interactions
         )
         INSERT INTO customer_summary AS s
           (customer_id, interactions, support_contacts, satisfaction_sum, satisfaction_n)
         SELECT customer_id, count(*), count(*) FILTER (WHERE support),
                coalesce(sum(satisfaction_score), 0), count(satisfaction_score)
         FROM i GROUP BY 1 ORDER BY 1
         ON CONFLICT (customer_id) DO UPDATE SET
           interactions = s.interactions + EXCLUDED.interactions,
           support_contacts = s.support_contacts + EXCLUDED.support_contacts,
           satisfaction_sum = s.satisfaction_sum + EXCLUDED.satisfaction_sum,
           satisfaction_n = s.satisfaction_n + EXCLUDED.satisfaction_n",
    )
    .bind(rows.iter().map(|r| r.interaction_id.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.customer_id.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.interaction_date).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.interaction_type.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.channel.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.duration_seconds).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.satisfaction_score).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if changed == 0 {
        return Ok(0);
    }
    sqlx::query("SELECT ltv_refresh_primary_channel($1)")
        .bind(distinct_customers(
            rows.iter().map(|r| r.customer_id.as_str()),
        ))
        .execute(conn)
        .await?;
    Ok(changed)
}

/// The batch's customer ids, each once, sorted (a stable lock order).
fn distinct_customers<'a>(ids: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut ids: Vec<String> = ids.map(str::to_string).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
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
    .bind(rejected.iter().map(|r| r.error.clone()).collect::<Vec<_>>())
    .bind(rejected.iter().map(|r| r.raw.clone()).collect::<Vec<_>>())
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
