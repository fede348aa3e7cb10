//! The SQL components: the current definition of every function and trigger,
//! one file per component under `sql/`, embedded at build time. Tables live in
//! `migrations/` (append-only); components are re-applied whole at start
//! whenever any file's text changed, so a function is edited in its one file
//! instead of being redefined by a new migration.
//!
//! Every file must be safe to run again: `CREATE OR REPLACE FUNCTION`, and
//! `DROP TRIGGER IF EXISTS` before `CREATE TRIGGER`. All files run, in name
//! order, in one transaction, whenever one changed: a changed function may
//! need a trigger of another file re-created, and running all is milliseconds.

use anyhow::Context;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

/// `(file name, text)` of every `sql/*.sql` file, in name order (build.rs).
pub static COMPONENTS: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/sql_components.rs"));

/// Serialises concurrent starts (two servers on one database): an arbitrary
/// constant, the same in every build.
const APPLY_LOCK: i64 = 0x6c74_7670_6970_6573; // "ltvpipes"

/// The checksum stored for a component's text.
fn checksum(text: &str) -> Vec<u8> {
    Sha256::digest(text.as_bytes()).to_vec()
}

/// True when the stored checksums are exactly this build's files.
fn up_to_date(stored: &[(String, Vec<u8>)]) -> bool {
    stored.len() == COMPONENTS.len()
        && COMPONENTS.iter().all(|(name, text)| {
            stored
                .iter()
                .any(|(n, c)| n == name && *c == checksum(text))
        })
}

/// Applies every component when any changed since the last start (or when
/// none was ever applied). Runs after the migrations.
pub async fn apply(pool: &PgPool) -> anyhow::Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(APPLY_LOCK)
        .execute(&mut *tx)
        .await?;
    let stored: Vec<(String, Vec<u8>)> =
        sqlx::query_as("SELECT name, checksum FROM sql_components")
            .fetch_all(&mut *tx)
            .await?;
    if up_to_date(&stored) {
        return Ok(());
    }
    // "does not exist, skipping" from every DROP … IF EXISTS on a new database
    // is no news.
    sqlx::query("SET LOCAL client_min_messages = warning")
        .execute(&mut *tx)
        .await?;
    for (name, text) in COMPONENTS {
        sqlx::raw_sql(text)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("cannot apply sql/{name}"))?;
    }
    sqlx::query("DELETE FROM sql_components")
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO sql_components (name, checksum) SELECT * FROM UNNEST($1::text[], $2::bytea[])",
    )
    .bind(
        COMPONENTS
            .iter()
            .map(|(n, _)| n.to_string())
            .collect::<Vec<_>>(),
    )
    .bind(
        COMPONENTS
            .iter()
            .map(|(_, t)| checksum(t))
            .collect::<Vec<_>>(),
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(components = COMPONENTS.len(), "SQL components applied");
    Ok(())
}

/// True when every component of this build is applied as it is.
pub async fn applied(pool: &PgPool) -> bool {
    let stored: Result<Vec<(String, Vec<u8>)>, _> =
        sqlx::query_as("SELECT name, checksum FROM sql_components")
            .fetch_all(pool)
            .await;
    stored.is_ok_and(|s| up_to_date(&s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_components_are_embedded_in_name_order() {
        let names: Vec<_> = COMPONENTS.iter().map(|(n, _)| *n).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        assert!(names.len() >= 9, "{names:?}");
        assert!(COMPONENTS.iter().all(|(_, t)| !t.trim().is_empty()));
    }

    #[test]
    fn a_changed_text_is_not_up_to_date() {
        let stored: Vec<_> = COMPONENTS
            .iter()
            .map(|(n, t)| (n.to_string(), checksum(t)))
            .collect();
        assert!(up_to_date(&stored));
        let mut changed = stored.clone();
        changed[0].1 = checksum("-- edited");
        assert!(!up_to_date(&changed));
        assert!(!up_to_date(&stored[1..]));
    }
}
