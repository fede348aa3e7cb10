//! Least privilege in the database: two roles, created and granted at every
//! start after the migrations.
//!
//! - `ltv_pipes_reader`: pipes' queries. It can read the datasource tables,
//!   the derived state and the forecast, and nothing else: not `tokens`, not
//!   the quarantine (raw rejected lines), not the schema's bookkeeping. It is
//!   no superuser, so PostgreSQL's file and network functions
//!   (`pg_read_file`, `COPY … TO PROGRAM`, `lo_import`, …) are out of its
//!   reach, and the read pool's sessions are read-only besides. With the
//!   embedded cluster the read pool logs in as this role; with
//!   `DATABASE_URL` it logs in as the configured user and takes the role at
//!   connection start (`role` setting).
//! - `ltv_pipes_writer`: ingestion (the Events API and bulk appends). It can
//!   add raw rows (and update customers, which are upserted), queue their keys
//!   for the maintainer, quarantine rejected lines and bump the data versions,
//!   and nothing else: it cannot read tokens, write the derived state or the
//!   forecast, or change the schema. Each ingest transaction takes it with
//!   `SET LOCAL ROLE` ([`WRITER_BEGIN`]); the maintainer, which writes the
//!   derived state, and a bulk load's wholesale recomputation run as the
//!   service's own user.
//!
//! A database user without CREATEROLE keeps both running as itself, and the
//! log says which grants make them least-privileged (README "Security").

use sqlx::PgPool;

/// The role pipes run as.
pub const READER: &str = "ltv_pipes_reader";
/// The role ingestion writes as.
pub const WRITER: &str = "ltv_pipes_writer";
/// How an ingest transaction starts when the writer role is set up: one
/// round trip, like a plain BEGIN. `SET LOCAL` ends with the transaction.
pub const WRITER_BEGIN: &str = "BEGIN; SET LOCAL ROLE ltv_pipes_writer";

/// Tables no pipe may read.
const PRIVATE_TABLES: &[&str] = &["tokens", "quarantine", "_sqlx_migrations", "sql_components"];

/// Everything ingestion writes, with the privileges each statement needs
/// (src/ingest/store.rs, sql/11_ingest.sql): the customer upsert compares
/// the stored row (SELECT) before it updates; inserts return the rows they
/// wrote (SELECT); the queue returns its positions; the versions are bumped
/// in place.
const WRITER_GRANTS: &[(&str, &str)] = &[
    ("customers", "SELECT, INSERT, UPDATE"),
    ("transactions", "SELECT, INSERT"),
    ("customer_interactions", "SELECT, INSERT"),
    ("pending_apply", "SELECT, INSERT"),
    ("quarantine", "INSERT"),
    ("data_versions", "SELECT, UPDATE"),
];

/// Sequences behind the writer's inserts: (table, column).
const WRITER_SEQUENCES: &[(&str, &str)] = &[("pending_apply", "seq"), ("quarantine", "id")];

/// Creates the roles if missing and sets their grants from the lists above,
/// at every start after the migrations (a new table is then readable by
/// pipes, a private one never, and a privilege dropped from a list is
/// revoked). False when this database user cannot manage roles.
pub async fn apply(pool: &PgPool) -> anyhow::Result<bool> {
    let (superuser, can): (bool, bool) = sqlx::query_as(
        "SELECT rolsuper, rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(pool)
    .await?;
    let exist: bool =
        sqlx::query_scalar("SELECT count(*) = 2 FROM pg_roles WHERE rolname IN ($1, $2)")
            .bind(READER)
            .bind(WRITER)
            .fetch_one(pool)
            .await?;
    if !can && !exist {
        tracing::warn!(
            reader = READER,
            writer = WRITER,
            "this database user cannot create roles: pipes and ingestion run as it; \
             see README \"Security\" for the grants"
        );
        return Ok(false);
    }
    let mut tx = pool.begin().await?;
    // One server's start at a time per database. Roles are cluster-wide but
    // advisory locks are not: servers of two databases of one cluster may
    // create a role at once, and the loser's duplicate is ignored.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('ltv_pipes_roles'))")
        .execute(&mut *tx)
        .await?;
    for statement in statements(superuser) {
        sqlx::query(&statement).execute(&mut *tx).await?;
    }
    for (table, column) in WRITER_SEQUENCES {
        let sequence: String = sqlx::query_scalar("SELECT pg_get_serial_sequence($1, $2)")
            .bind(table)
            .bind(column)
            .fetch_one(&mut *tx)
            .await?;
        // The name comes from the catalog, already quoted as needed.
        sqlx::query(&format!("GRANT USAGE ON SEQUENCE {sequence} TO {WRITER}"))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// The DDL of both roles. Identifiers cannot be bind parameters; the role
/// and table names are our own constants. The owner of the tables may grant
/// on them without CREATEROLE; a user that is no superuser must be a member
/// of a role to take it (`SET ROLE`, the read pool's `role` setting).
fn statements(superuser: bool) -> Vec<String> {
    let create = |role: &str, login: &str| {
        format!(
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN \
             CREATE ROLE {role} {login} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS; \
             END IF; \
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        )
    };
    let mut out = vec![
        create(READER, "LOGIN"),
        create(WRITER, "NOLOGIN"),
        format!(
            "DO $$ BEGIN EXECUTE format('GRANT CONNECT ON DATABASE %I TO {READER}', current_database()); END $$"
        ),
        format!("GRANT USAGE ON SCHEMA public TO {READER}, {WRITER}"),
        format!("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {READER}"),
        format!("REVOKE ALL ON {} FROM {READER}", PRIVATE_TABLES.join(", ")),
        format!("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {WRITER}"),
    ];
    out.extend(
        WRITER_GRANTS
            .iter()
            .map(|(table, privileges)| format!("GRANT {privileges} ON {table} TO {WRITER}")),
    );
    if !superuser {
        out.push(format!("GRANT {READER}, {WRITER} TO CURRENT_USER"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writer_begin_statement_takes_the_writer_role() {
        assert!(WRITER_BEGIN.ends_with(&format!("SET LOCAL ROLE {WRITER}")));
    }

    #[test]
    fn the_writer_may_touch_no_private_or_derived_table() {
        let granted: Vec<&str> = WRITER_GRANTS.iter().map(|(t, _)| *t).collect();
        for table in ["tokens", "sql_components", "_sqlx_migrations"] {
            assert!(!granted.contains(&table), "{table}");
        }
        for derived in crate::rollups::DERIVED {
            assert!(!granted.contains(&derived.table), "{}", derived.table);
        }
        let superuser = statements(true);
        assert!(!superuser.iter().any(|s| s.contains("TO CURRENT_USER")));
        assert!(statements(false)
            .last()
            .is_some_and(|s| s.contains("TO CURRENT_USER")));
    }
}
