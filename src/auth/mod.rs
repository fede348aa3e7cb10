//! Tokens: creation, storage (SHA-256 only) and lookup. HTTP-free: `http::auth`
//! turns the outcome into 401/403.

pub mod cache;
mod scope;

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

pub use scope::{Need, Scope, Target};

/// Name of the file under the data directory that holds the generated admin token.
pub const ADMIN_TOKEN_FILE: &str = "admin_token";
const TOKEN_PREFIX: &str = "ltv_";

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", hex::encode(bytes))
}

/// Creates a token with `scopes` and returns its text (the only time it is known).
pub async fn create(
    pool: &PgPool,
    name: Option<&str>,
    scopes: &[Scope],
    expires_at: Option<DateTime<Utc>>,
) -> anyhow::Result<String> {
    let token = generate();
    insert(pool, &token, name, scopes, expires_at).await?;
    Ok(token)
}

async fn insert(
    pool: &PgPool,
    token: &str,
    name: Option<&str>,
    scopes: &[Scope],
    expires_at: Option<DateTime<Utc>>,
) -> anyhow::Result<()> {
    let name = name
        .map(str::to_string)
        .unwrap_or_else(|| format!("token_{}", &hex::encode(hash(token))[..12]));
    let scopes: Vec<String> = scopes.iter().map(Scope::to_string).collect();
    sqlx::query(
        "INSERT INTO tokens (name, token_hash, scopes, expires_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (token_hash) DO NOTHING",
    )
    .bind(&name)
    .bind(hash(token))
    .bind(&scopes)
    .bind(expires_at)
    .execute(pool)
    .await
    .with_context(|| format!("cannot store token '{name}' (is the name taken?)"))?;
    Ok(())
}

/// The scopes of a live token; `None` when the token is unknown, revoked or expired.
pub async fn scopes_of(pool: &PgPool, token: &str) -> Result<Option<Vec<Scope>>, sqlx::Error> {
    Ok(lookup(pool, token).await?.map(|(scopes, _)| scopes))
}

/// A live token's scopes and expiry.
async fn lookup(
    pool: &PgPool,
    token: &str,
) -> Result<Option<(Vec<Scope>, Option<DateTime<Utc>>)>, sqlx::Error> {
    let row: Option<(Vec<String>, Option<DateTime<Utc>>)> = sqlx::query_as(
        "SELECT scopes, expires_at FROM tokens
         WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())",
    )
    .bind(hash(token))
    .fetch_optional(pool)
    .await?;
    // A scope this build cannot parse grants nothing rather than failing the request.
    Ok(row.map(|(scopes, expires_at)| {
        let scopes = scopes.iter().filter_map(|s| s.parse().ok()).collect();
        (scopes, expires_at)
    }))
}

/// Revokes a token by name; true if one was revoked. Servers that cache token
/// lookups drop them when the notification arrives (`auth::cache`).
pub async fn revoke(pool: &PgPool, name: &str) -> anyhow::Result<bool> {
    let mut tx = pool.begin().await?;
    let done =
        sqlx::query("UPDATE tokens SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL")
            .bind(name)
            .execute(&mut *tx)
            .await?;
    if done.rows_affected() > 0 {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(cache::TOKENS_CHANNEL)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(done.rows_affected() > 0)
}

/// Admin tokens are named after their hash, so a changed token never collides.
fn admin_name(token: &str) -> String {
    format!("admin_{}", &hex::encode(hash(token))[..8])
}

/// Makes sure an admin token works: the configured one, else the one in
/// `<data_dir>/admin_token`, else a new one written there (mode 0600).
/// Returns the token when it was created now, so the caller prints it once.
pub async fn ensure_admin(
    pool: &PgPool,
    data_dir: &Path,
    fixed: Option<&str>,
) -> anyhow::Result<Option<String>> {
    if let Some(token) = fixed {
        insert(pool, token, Some(&admin_name(token)), &[Scope::Admin], None).await?;
        return Ok(None);
    }
    let file = data_dir.join(ADMIN_TOKEN_FILE);
    if let Ok(text) = std::fs::read_to_string(&file) {
        let token = text.trim();
        if !token.is_empty() {
            // The database may be new (or external) while the file is old: re-register.
            insert(pool, token, Some(&admin_name(token)), &[Scope::Admin], None).await?;
            return Ok(None);
        }
    }
    let token = generate();
    std::fs::create_dir_all(data_dir)?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&file)
        .with_context(|| format!("cannot write {}", file.display()))?;
    writeln!(f, "{token}")?;
    f.sync_all()?;
    insert(
        pool,
        &token,
        Some(&admin_name(&token)),
        &[Scope::Admin],
        None,
    )
    .await?;
    Ok(Some(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_prefixed() {
        let a = generate();
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 64);
        assert_ne!(a, generate());
        assert_eq!(hash(&a).len(), 32);
    }
}
