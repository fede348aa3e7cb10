//! Least privilege for pipes: their queries run as `ltv_pipes_reader`, a
//! role that can read the datasource tables, the derived state and the
//! forecast, and nothing else: not `tokens`, not the quarantine (raw rejected
//! lines), not the schema's bookkeeping. It is no superuser, so PostgreSQL's
//! file and network functions (`pg_read_file`, `COPY … TO PROGRAM`,
//! `lo_import`, …) are out of its reach, and the read pool's sessions are
//! read-only besides.
//!
//! With the embedded cluster the read pool logs in as this role. With
//! `DATABASE_URL` it logs in as the configured user and takes the role at
//! connection start (`role` setting), when the user may create it; a user
//! without CREATEROLE keeps pipes running as itself, and the log says which
//! grants make them least-privileged (README "Security").

use sqlx::PgPool;

/// The role pipes run as.
pub const READER: &str = "ltv_pipes_reader";

/// Tables no pipe may read.
const PRIVATE_TABLES: &[&str] = &["tokens", "quarantine", "_sqlx_migrations", "sql_components"];

/// Creates the role if missing and grants it SELECT on every table but the
/// private ones, at every start after the migrations (a new table is then
/// readable by pipes, a private one never). False when this database user
/// cannot manage roles.
pub async fn apply(pool: &PgPool) -> anyhow::Result<bool> {
    let can: bool = sqlx::query_scalar(
        "SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(pool)
    .await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
            .bind(READER)
            .fetch_one(pool)
            .await?;
    if !can && !exists {
        tracing::warn!(
            role = READER,
            "this database user cannot create roles: pipes run as it and can read every table; \
             see README \"Security\" for the grants"
        );
        return Ok(false);
    }
    let mut tx = pool.begin().await?;
    // Roles are cluster-wide: one server's start at a time.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('ltv_pipes_reader'))")
        .execute(&mut *tx)
        .await?;
    // Identifiers cannot be bind parameters; READER and the table names are
    // our own constants.
    // The owner of the tables may grant on them without CREATEROLE.
    let statements = [
        format!(
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{READER}') THEN \
             CREATE ROLE {READER} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS; \
             END IF; END $$"
        ),
        format!(
            "DO $$ BEGIN EXECUTE format('GRANT CONNECT ON DATABASE %I TO {READER}', current_database()); END $$"
        ),
        format!("GRANT USAGE ON SCHEMA public TO {READER}"),
        format!("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {READER}"),
        format!("REVOKE ALL ON {} FROM {READER}", PRIVATE_TABLES.join(", ")),
    ];
    for statement in &statements {
        sqlx::query(statement).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(true)
}
