//! Writing one batch: valid rows and rejections in a single transaction, so a 2xx
//! means everything is committed and an error means nothing was written.
//! Rows go in as arrays through `UNNEST`, one statement per table whatever the
//! batch size.

use std::collections::HashMap;

use sqlx::{PgConnection, PgPool};

use super::rows::{Customer, Datasource, Interaction, Rejected, Rows, Transaction};

pub async fn write(
    pool: &PgPool,
    ds: Datasource,
    rows: &Rows,
    rejected: &[Rejected],
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    match rows {
        Rows::Customers(v) => upsert_customers(&mut tx, v).await?,
        Rows::Transactions(v) => insert_transactions(&mut tx, v).await?,
        Rows::Interactions(v) => insert_interactions(&mut tx, v).await?,
    }
    quarantine(&mut tx, ds, rejected).await?;
    tx.commit().await
}

/// Latest received wins: within the batch the last row per customer_id, and
/// across batches the newer write replaces the stored one.
async fn upsert_customers(conn: &mut PgConnection, rows: &[Customer]) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let rows = last_per_key(rows, |c| &c.customer_id);
    sqlx::query(
        "INSERT INTO customers (customer_id, registration_date, country, city, age, gender,
                                acquisition_source, segment, is_active)
         SELECT * FROM UNNEST($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::int4[],
                              $6::text[], $7::text[], $8::text[], $9::int2[])
         ON CONFLICT (customer_id) DO UPDATE SET
             registration_date = EXCLUDED.registration_date, country = EXCLUDED.country,
             city = EXCLUDED.city, age = EXCLUDED.age, gender = EXCLUDED.gender,
             acquisition_source = EXCLUDED.acquisition_source, segment = EXCLUDED.segment,
             is_active = EXCLUDED.is_active, updated_at = now()",
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
    Ok(())
}

/// A repeated transaction_id keeps the first version stored: retries are no-ops.
async fn insert_transactions(
    conn: &mut PgConnection,
    rows: &[Transaction],
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO transactions (transaction_id, customer_id, transaction_date, amount,
                                   product_category, transaction_type, payment_method, is_refund)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::numeric[],
                              $5::text[], $6::text[], $7::text[], $8::int2[])
         ON CONFLICT (transaction_id) DO NOTHING",
    )
    .bind(
        rows.iter()
            .map(|r| r.transaction_id.clone())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.customer_id.clone())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.transaction_date).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.amount).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.product_category.clone())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.transaction_type.clone())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.payment_method.clone())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.is_refund).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_interactions(
    conn: &mut PgConnection,
    rows: &[Interaction],
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO customer_interactions (interaction_id, customer_id, interaction_date,
                                            interaction_type, channel, duration_seconds,
                                            satisfaction_score)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[],
                              $6::int4[], $7::int2[])
         ON CONFLICT (interaction_id) DO NOTHING",
    )
    .bind(
        rows.iter()
            .map(|r| r.interaction_id.clone())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.customer_id.clone())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.interaction_date).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.interaction_type.clone())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.channel.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.duration_seconds).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.satisfaction_score)
            .collect::<Vec<_>>(),
    )
    .execute(conn)
    .await?;
    Ok(())
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
