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
    let args = ["--format=custom", "--no-owner", "--no-privileges", "--file"];
    run_tool(
        bin_dir,
        "pg_dump",
        &args,
        [file.as_os_str(), "--dbname".as_ref(), url.as_ref()],
    )
    .context("pg_dump failed")
}

/// Restores `file` into the database at `url`, all or nothing.
pub fn restore(bin_dir: &str, url: &str, file: &Path) -> anyhow::Result<()> {
    if !file.is_file() {
        bail!("{} is not a file", file.display());
    }
    let args = [
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--single-transaction",
        "--dbname",
    ];
    run_tool(
        bin_dir,
        "pg_restore",
        &args,
        [url.as_ref(), file.as_os_str()],
    )
    .context("pg_restore failed (nothing was restored)")
}

/// Runs a PostgreSQL client tool; its stderr is the error when it fails.
fn run_tool<'a>(
    bin_dir: &str,
    name: &str,
    flags: &[&str],
    rest: impl IntoIterator<Item = &'a std::ffi::OsStr>,
) -> anyhow::Result<()> {
    let tool = tool(bin_dir, name)?;
    let out = Command::new(&tool)
        .args(flags)
        .args(rest)
        .output()
        .with_context(|| format!("cannot run {}", tool.display()))?;
    if !out.status.success() {
        bail!("{}", String::from_utf8_lossy(&out.stderr).trim());
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
