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

use chrono::{DateTime, Utc};
use quick_cache::sync::Cache;
use sqlx::PgPool;

use super::{hash, lookup, Scope};

/// Sent (empty payload) when a token was revoked.
pub const TOKENS_CHANNEL: &str = "ltv_tokens_changed";

/// Tokens remembered at most; more just means more lookups.
const MAX_TOKENS: usize = 10_000;

struct Entry {
    scopes: Vec<Scope>,
    expires_at: Option<DateTime<Utc>>,
    fetched: Instant,
}

impl Entry {
    fn fresh(&self, ttl: Duration) -> bool {
        self.fetched.elapsed() < ttl && self.expires_at.is_none_or(|t| t > Utc::now())
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

    /// Like `auth::scopes_of`, from memory when a fresh entry exists.
    pub async fn scopes_of(
        &self,
        pool: &PgPool,
        token: &str,
    ) -> Result<Option<Vec<Scope>>, sqlx::Error> {
        let Some(entries) = &self.entries else {
            return super::scopes_of(pool, token).await;
        };
        let key = hash(token);
        if let Some(entry) = entries.get(&key).filter(|e| e.fresh(self.ttl)) {
            return Ok(Some(entry.scopes.clone()));
        }
        let found = lookup(pool, token).await?;
        match &found {
            Some((scopes, expires_at)) => entries.insert(
                key,
                Arc::new(Entry {
                    scopes: scopes.clone(),
                    expires_at: *expires_at,
                    fetched: Instant::now(),
                }),
            ),
            None => {
                entries.remove(&key);
            }
        }
        Ok(found.map(|(scopes, _)| scopes))
    }

    /// Forgets every token (a revocation, or notifications may have been missed).
    pub fn clear(&self) {
        if let Some(entries) = &self.entries {
            entries.clear();
        }
    }
}
