//! Token lookups kept in memory for a short time, so that a polling dashboard's
//! request (a cached answer, a 304) costs no database round trip.
//!
//! Only live tokens are kept (an unknown token always asks the database, so a
//! new token works at once and garbage cannot fill the cache), each for at most
//! `ttl` and never past its `expires_at`. A revocation through `auth::revoke`
//! (the CLI) NOTIFYs [`TOKENS_CHANNEL`] and every server empties its cache when
//! the notification arrives (milliseconds); `ttl` bounds the delay when the
//! notification is lost or the token table was changed by hand. Only the
//! Pipes API's read path uses this cache: writes and admin calls ask the
//! database every time, so a revoked token stops writing immediately.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use quick_cache::sync::Cache;
use sqlx::PgPool;

use super::{hash, lookup, TokenInfo};

/// Sent (empty payload) when a token was revoked.
pub const TOKENS_CHANNEL: &str = "ltv_tokens_changed";

/// Tokens remembered at most; more just means more lookups.
const MAX_TOKENS: usize = 10_000;

struct Entry {
    info: TokenInfo,
    fetched: Instant,
}

impl Entry {
    fn fresh(&self, ttl: Duration) -> bool {
        self.fetched.elapsed() < ttl && self.info.expires_at.is_none_or(|t| t > Utc::now())
    }
}

/// Keyed by the token's SHA-256, like the table: the token itself is not kept.
pub struct TokenCache {
    ttl: Duration,
    entries: Option<Cache<Vec<u8>, Arc<Entry>>>,
}

impl TokenCache {
    /// `ttl` zero: no caching, every call asks the database.
    pub fn new(ttl: Duration) -> Self {
        TokenCache {
            ttl,
            entries: (!ttl.is_zero()).then(|| Cache::new(MAX_TOKENS)),
        }
    }

    /// Like `auth::lookup`, from memory when a fresh entry exists.
    pub async fn lookup(
        &self,
        pool: &PgPool,
        token: &str,
    ) -> Result<Option<TokenInfo>, sqlx::Error> {
        let Some(entries) = &self.entries else {
            return lookup(pool, token).await;
        };
        let key = hash(token);
        if let Some(entry) = entries.get(&key).filter(|e| e.fresh(self.ttl)) {
            return Ok(Some(entry.info.clone()));
        }
        let found = lookup(pool, token).await?;
        match &found {
            Some(info) => entries.insert(
                key,
                Arc::new(Entry {
                    info: info.clone(),
                    fetched: Instant::now(),
                }),
            ),
            None => {
                entries.remove(&key);
            }
        }
        Ok(found)
    }

    /// Forgets every token (a revocation, or notifications may have been missed).
    pub fn clear(&self) {
        if let Some(entries) = &self.entries {
            entries.clear();
        }
    }
}
