//! The maintainer: the one mechanism that brings the derived state up to date
//! with the raw rows. Writers commit raw rows with their keys in the queue
//! `pending_apply` and are acknowledged; a background task here runs passes of
//! `ltv_apply_pending` (sql/11_ingest.sql), each claiming up to
//! `ingest.apply_batch_rows` of the oldest keys, applying their rows and
//! deleting the keys in one transaction. So:
//!
//! - many requests share one pass (group commit): the group tables are
//!   written once per pass, not once per request;
//! - each raw row is applied exactly once, and a crash (of the server or of
//!   PostgreSQL) leaves the unapplied keys to the next pass, after restart;
//! - one pass runs at a time across every server (an advisory lock), and a
//!   recomputation (`rollups::rebuild`) takes the same lock.
//!
//! A pass starts when a write wakes the task, and at least every
//! [`IDLE_POLL`] (rows queued by another server or by psql). A request that
//! must see its rows in the pipes (`wait=true`, a bulk append) waits with
//! [`Maintainer::wait_applied`] until none of its keys is queued.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use super::rows::Datasource;
use super::versions::{self, Bumped};

/// How often an idle maintainer looks for keys nobody woke it for.
pub const IDLE_POLL: Duration = Duration::from_millis(500);

/// Keys per pass when the CLI applies the queue (no server, no config).
pub const DRAIN_ROWS: u32 = 20_000;

/// How long after a failed pass (the database restarting) the next one runs.
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(1);

/// The queue positions of one write's keys: every key it queued lies between
/// `first` and `last` (other writes' keys may lie between them too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    pub first: i64,
    pub last: i64,
}

impl Pending {
    /// The span of both (a bulk append's chunks).
    pub fn merge(a: Option<Pending>, b: Option<Pending>) -> Option<Pending> {
        match (a, b) {
            (Some(a), Some(b)) => Some(Pending {
                first: a.first.min(b.first),
                last: a.last.max(b.last),
            }),
            (a, b) => a.or(b),
        }
    }
}

/// What one pass applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    /// Keys claimed (and applied).
    pub claimed: u64,
    /// The data versions bumped for the datasources it applied.
    pub bumped: Bumped,
}

/// One pass in its own transaction: up to `max_rows` of the oldest keys
/// applied, and the data versions of their datasources bumped (their derived
/// state changed: cached answers and ETags of every server move on at COMMIT).
pub async fn pass(pool: &PgPool, max_rows: u32) -> Result<Pass, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let claimed: Vec<(String, i64)> = sqlx::query_as("SELECT * FROM ltv_apply_pending($1)")
        .bind(max_rows.clamp(1, i32::MAX as u32) as i32)
        .fetch_all(&mut *tx)
        .await?;
    let mut out = Pass::default();
    for (name, n) in claimed {
        let ds = Datasource::from_name(&name).expect("the queue holds datasource names only");
        out.claimed += n as u64;
        out.bumped
            .set(ds.into(), versions::bump(&mut tx, ds).await?);
    }
    tx.commit().await?;
    Ok(out)
}

/// Passes until nothing is queued: what the CLI runs before it verifies the
/// derived state, and after a load without a server. Returns the keys applied.
pub async fn drain(pool: &PgPool, max_rows: u32) -> Result<u64, sqlx::Error> {
    let mut total = 0;
    loop {
        let pass = pass(pool, max_rows).await?;
        if pass.claimed == 0 {
            return Ok(total);
        }
        total += pass.claimed;
    }
}

/// Whether any key of `pending` is still queued.
async fn queued(pool: &PgPool, pending: Pending) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pending_apply WHERE seq BETWEEN $1 AND $2)")
        .bind(pending.first)
        .bind(pending.last)
        .fetch_one(pool)
        .await
}

/// Called with the versions each pass bumped (the server's in-memory copy,
/// so its next answer includes the rows without waiting for the NOTIFY).
pub type Observer = Box<dyn Fn(&Bumped) + Send + Sync>;

/// The background task's handle: wake it, wait for it.
pub struct Maintainer {
    pool: PgPool,
    max_rows: u32,
    wake: Notify,
    /// Counts finished passes (empty ones too), so waiters recheck the queue.
    passes: watch::Sender<u64>,
    observer: Option<Observer>,
}

impl Maintainer {
    pub fn new(pool: PgPool, max_rows: u32) -> Self {
        Maintainer {
            pool,
            max_rows,
            wake: Notify::new(),
            passes: watch::Sender::new(0),
            observer: None,
        }
    }

    pub fn with_observer(mut self, observer: Observer) -> Self {
        self.observer = Some(observer);
        self
    }

    /// A write committed keys: run a pass soon.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Runs passes for as long as the server runs: back to back while keys
    /// are queued, then on a wake-up or every [`IDLE_POLL`].
    pub async fn run(self: Arc<Self>) {
        loop {
            match pass(&self.pool, self.max_rows).await {
                Ok(pass) => {
                    if let Some(observe) = &self.observer {
                        observe(&pass.bumped);
                    }
                    self.passes.send_modify(|n| *n += 1);
                    if pass.claimed > 0 {
                        tracing::debug!(rows = pass.claimed, "maintainer pass applied");
                        continue;
                    }
                    let _ = tokio::time::timeout(IDLE_POLL, self.wake.notified()).await;
                }
                Err(e) => {
                    // The keys stay queued; waiters keep waiting until their deadline.
                    tracing::warn!(error = %e, "maintainer pass failed; retrying");
                    self.passes.send_modify(|n| *n += 1);
                    tokio::time::sleep(RETRY_AFTER_ERROR).await;
                }
            }
        }
    }

    /// Waits until no key of `pending` is queued (its rows are visible in
    /// every pipe), at most `timeout`. Returns whether they are.
    pub async fn wait_applied(
        &self,
        pending: Pending,
        timeout: Duration,
    ) -> Result<bool, sqlx::Error> {
        let deadline = Instant::now() + timeout;
        let mut passes = self.passes.subscribe();
        loop {
            passes.mark_unchanged();
            if !queued(&self.pool, pending).await? {
                return Ok(true);
            }
            self.wake();
            // Another server's maintainer may apply them: recheck now and then.
            let next = (Instant::now() + IDLE_POLL).min(deadline);
            if tokio::time::timeout_at(next, passes.changed())
                .await
                .is_err()
                && Instant::now() >= deadline
            {
                return Ok(false);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Pending;

    #[test]
    fn merged_ranges_span_both() {
        let a = Some(Pending { first: 5, last: 9 });
        let b = Some(Pending { first: 2, last: 6 });
        assert_eq!(Pending::merge(a, b), Some(Pending { first: 2, last: 9 }));
        assert_eq!(Pending::merge(None, b), b);
        assert_eq!(Pending::merge(a, None), a);
        assert_eq!(Pending::merge(None, None), None);
    }
}
