//! `ltv-pipes backup` / `restore`: a consistent dump of the whole database
//! (raw rows, derived state, tokens, fits) with PostgreSQL's own `pg_dump`
//! (one snapshot, so the derived state matches the raw rows in it), restored
//! with `pg_restore` into an empty database in one transaction.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use sqlx::PgPool;

use super::binaries::find_bin_dir;

/// Writes a custom-format dump of the database at `url` to `file`.
pub fn dump(bin_dir: &str, url: &str, file: &Path) -> anyhow::Result<()> {
    let tool = tool(bin_dir, "pg_dump")?;
    let out = Command::new(&tool)
        .args(["--format=custom", "--no-owner", "--no-privileges", "--file"])
        .arg(file)
        .arg("--dbname")
        .arg(url)
        .output()
        .with_context(|| format!("cannot run {}", tool.display()))?;
    if !out.status.success() {
        bail!(
            "pg_dump failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Restores `file` into the database at `url`, all or nothing.
pub fn restore(bin_dir: &str, url: &str, file: &Path) -> anyhow::Result<()> {
    if !file.is_file() {
        bail!("{} is not a file", file.display());
    }
    let tool = tool(bin_dir, "pg_restore")?;
    let out = Command::new(&tool)
        .args([
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
            "--dbname",
        ])
        .arg(url)
        .arg(file)
        .output()
        .with_context(|| format!("cannot run {}", tool.display()))?;
    if !out.status.success() {
        bail!(
            "pg_restore failed (nothing was restored): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// A restore goes into a database that holds no ltv-pipes schema yet (a new
/// data directory, or an empty database at DATABASE_URL): it never merges
/// into or overwrites data.
pub async fn ensure_empty(pool: &PgPool) -> anyhow::Result<()> {
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
    )
    .fetch_one(pool)
    .await?;
    if tables > 0 {
        bail!(
            "the target database already holds {tables} table(s): restore into a new data directory \
             (LTV_DATA_DIR) or an empty database (DATABASE_URL)"
        );
    }
    Ok(())
}

/// The client tool next to the server binaries (same major version), else on PATH.
fn tool(bin_dir: &str, name: &str) -> anyhow::Result<PathBuf> {
    if let Ok(dir) = find_bin_dir(bin_dir) {
        let path = dir.join(name);
        if path.is_file() {
            return Ok(path);
        }
    }
    Ok(PathBuf::from(name))
}
