//! Tokens: creation, storage (SHA-256 only) and lookup. HTTP-free: `http::auth`
//! turns the outcome into 401/403.

pub mod cache;
pub mod jwt;
pub mod rate;
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

/// A live token: what it may do and how often.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub scopes: Vec<Scope>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Its own requests per second, if set (else the configured default).
    pub rate_limit_rps: Option<u32>,
    /// SHA-256 of the token: what the rate limiter counts by.
    pub key: Vec<u8>,
}

/// What a new token is allowed.
#[derive(Debug, Clone, Default)]
pub struct NewToken<'a> {
    pub name: Option<&'a str>,
    pub scopes: &'a [Scope],
    pub expires_at: Option<DateTime<Utc>>,
    pub rate_limit_rps: Option<u32>,
}

/// Creates a token with `scopes` and returns its text (the only time it is known).
pub async fn create(
    pool: &PgPool,
    name: Option<&str>,
    scopes: &[Scope],
    expires_at: Option<DateTime<Utc>>,
) -> anyhow::Result<String> {
    let new = NewToken {
        name,
        scopes,
        expires_at,
        rate_limit_rps: None,
    };
    create_with(pool, new).await
}

/// Creates a token and returns its text (the only time it is known).
pub async fn create_with(pool: &PgPool, new: NewToken<'_>) -> anyhow::Result<String> {
    let token = generate();
    insert(pool, &token, new).await?;
    Ok(token)
}

/// The admin token's row: named after its hash, so a changed token never collides.
async fn insert_admin(pool: &PgPool, token: &str) -> anyhow::Result<()> {
    let name = admin_name(token);
    let new = NewToken {
        name: Some(&name),
        scopes: &[Scope::Admin],
        ..NewToken::default()
    };
    insert(pool, token, new).await
}

async fn insert(pool: &PgPool, token: &str, new: NewToken<'_>) -> anyhow::Result<()> {
    let name = new
        .name
        .map(str::to_string)
        .unwrap_or_else(|| format!("token_{}", &hex::encode(hash(token))[..12]));
    let scopes: Vec<String> = new.scopes.iter().map(Scope::to_string).collect();
    sqlx::query(
        "INSERT INTO tokens (name, token_hash, scopes, expires_at, rate_limit_rps) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (token_hash) DO NOTHING",
    )
    .bind(&name)
    .bind(hash(token))
    .bind(&scopes)
    .bind(new.expires_at)
    .bind(new.rate_limit_rps.map(|r| r as i32))
    .execute(pool)
    .await
    .with_context(|| format!("cannot store token '{name}' (is the name taken?)"))?;
    Ok(())
}

/// A live token; `None` when the token is unknown, revoked or expired.
pub async fn lookup(pool: &PgPool, token: &str) -> Result<Option<TokenInfo>, sqlx::Error> {
    let key = hash(token);
    type Row = (Vec<String>, Option<DateTime<Utc>>, Option<i32>);
    let row: Option<Row> = sqlx::query_as(
        "SELECT scopes, expires_at, rate_limit_rps FROM tokens
         WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())",
    )
    .bind(&key)
    .fetch_optional(pool)
    .await?;
    // A scope this build cannot parse grants nothing rather than failing the request.
    Ok(row.map(|(scopes, expires_at, rps)| TokenInfo {
        scopes: scopes.iter().filter_map(|s| s.parse().ok()).collect(),
        expires_at,
        rate_limit_rps: rps.and_then(|r| u32::try_from(r).ok()),
        key,
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
        insert_admin(pool, token).await?;
        return Ok(None);
    }
    let file = data_dir.join(ADMIN_TOKEN_FILE);
    if let Ok(text) = std::fs::read_to_string(&file) {
        let token = text.trim();
        if !token.is_empty() {
            // The database may be new (or external) while the file is old: re-register.
            insert_admin(pool, token).await?;
            return Ok(None);
        }
    }
    let token = generate();
    write_secret(&file, &token)?;
    insert_admin(pool, &token).await?;
    Ok(Some(token))
}

/// Writes a generated secret to `file` (mode 0600, synced), creating its folder.
pub(crate) fn write_secret(file: &Path, secret: &str) -> anyhow::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(file)
        .with_context(|| format!("cannot write {}", file.display()))?;
    writeln!(f, "{secret}")?;
    f.sync_all()?;
    Ok(())
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
