//! The LISTEN task: other servers' writes (and token revocations) arrive as
//! notifications and move this server's [`LiveVersions`]. When the connection
//! is lost, notifications may have been missed: tagging stops
//! ([`LiveVersions::lost`]) until a new connection LISTENs again, the table is
//! re-read and both caches are emptied (in that order, so nothing committed
//! after the re-read can be missed).

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgListener, PgNotification};
use sqlx::PgPool;

use super::Polling;
use crate::auth::cache::TOKENS_CHANNEL;
use crate::ingest::versions::{self, DATA_CHANNEL};

/// LISTENs, then reads the versions: the server is tagging when this returns.
pub async fn connect(pool: &PgPool, polling: &Polling) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    // On a lost connection we open a new listener ourselves (and re-read).
    listener.eager_reconnect(false);
    listener.listen_all([DATA_CHANNEL, TOKENS_CHANNEL]).await?;
    let current = versions::read_all(pool).await?;
    polling.answers.clear();
    polling.tokens.clear();
    polling.versions.resync(current);
    Ok(listener)
}

/// Runs until the pool is closed.
pub async fn run(pool: PgPool, polling: Arc<Polling>, mut listener: PgListener) {
    loop {
        match listener.try_recv().await {
            Ok(Some(n)) => handle(&polling, &n),
            Ok(None) => {
                tracing::warn!("notification connection lost; reconnecting");
                drop(listener);
                let Some(l) = reconnect(&pool, &polling).await else {
                    return;
                };
                listener = l;
            }
            Err(sqlx::Error::PoolClosed) => return,
            Err(e) => {
                tracing::warn!(error = %e, "notification connection failed; reconnecting");
                drop(listener);
                let Some(l) = reconnect(&pool, &polling).await else {
                    return;
                };
                listener = l;
            }
        }
    }
}

fn handle(polling: &Polling, n: &PgNotification) {
    match n.channel() {
        TOKENS_CHANNEL => polling.tokens.clear(),
        DATA_CHANNEL => match versions::parse_payload(n.payload()) {
            Some((source, version)) => polling.versions.observe(source, version),
            None => tracing::warn!(
                payload = n.payload(),
                "unreadable data-version notification"
            ),
        },
        _ => {}
    }
}

/// Retries with backoff (0.1 s doubling to 5 s) until connected; `None` when
/// the pool was closed (shutdown).
async fn reconnect(pool: &PgPool, polling: &Polling) -> Option<PgListener> {
    polling.versions.lost();
    let mut wait = Duration::from_millis(100);
    loop {
        match connect(pool, polling).await {
            Ok(listener) => {
                tracing::info!("notification connection back; versions re-read, caches emptied");
                return Some(listener);
            }
            Err(sqlx::Error::PoolClosed) => return None,
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "cannot listen for data changes");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
        }
    }
}
