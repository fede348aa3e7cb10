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
//!
//! Writes arriving faster than passes apply them would grow the queue without
//! end, and with it the time before rows are visible. So the task keeps an
//! estimate of the queue's length ([`Maintainer::backlog`]); while it is over
//! `ingest.max_queued_rows`, writes are refused with a 503 and `Retry-After`
//! ([`Maintainer::admit`]) and nothing is written.

use std::sync::atomic::{AtomicU64, Ordering};
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

/// An upper bound of the queue's length from its two ends (two index probes,
/// not a count): keys of rolled-back writes leave gaps.
async fn queue_span(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let span: i64 =
        sqlx::query_scalar("SELECT coalesce(max(seq) - min(seq) + 1, 0)::int8 FROM pending_apply")
            .fetch_one(pool)
            .await?;
    Ok(span.max(0) as u64)
}

/// A write refused because the queue is over its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backlogged {
    /// Rows queued (an upper bound).
    pub queued: u64,
    pub limit: u64,
    /// When the queue should be under its limit again, at the last pass's rate.
    pub retry_after_secs: u64,
}

/// Seconds until `excess` rows are applied at `rows_per_sec`, between 1 and 60.
fn retry_after_secs(excess: u64, rows_per_sec: u64) -> u64 {
    match rows_per_sec {
        0 => 1,
        rate => excess.div_ceil(rate).clamp(1, 60),
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
    max_queued: u64,
    /// Rows queued: measured at the start and after each pass, plus what
    /// this server's writes queued since (other servers' writes show at the
    /// next pass).
    backlog: AtomicU64,
    /// The last non-empty pass's rate, for `Retry-After`.
    rows_per_sec: AtomicU64,
    wake: Notify,
    /// Counts finished passes (empty ones too), so waiters recheck the queue.
    passes: watch::Sender<u64>,
    observer: Option<Observer>,
}

impl Maintainer {
    /// `max_queued`: the backlog over which writes are refused (0: never).
    pub fn new(pool: PgPool, max_rows: u32, max_queued: u64) -> Self {
        Maintainer {
            pool,
            max_rows,
            max_queued,
            backlog: AtomicU64::new(0),
            rows_per_sec: AtomicU64::new(0),
            wake: Notify::new(),
            passes: watch::Sender::new(0),
            observer: None,
        }
    }

    pub fn with_observer(mut self, observer: Observer) -> Self {
        self.observer = Some(observer);
        self
    }

    /// A write committed keys: count them and run a pass soon.
    pub fn queued(&self, pending: Pending) {
        let span = (pending.last - pending.first + 1).max(0) as u64;
        self.backlog.fetch_add(span, Ordering::Relaxed);
        self.wake();
    }

    /// Wakes the task (a waiter rechecking, or keys it was not told of).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Rows queued and not yet applied (an upper bound).
    pub fn backlog(&self) -> u64 {
        self.backlog.load(Ordering::Relaxed)
    }

    /// Whether a write may queue more rows now: not while the backlog is over
    /// `ingest.max_queued_rows`.
    pub fn admit(&self) -> Result<(), Backlogged> {
        let queued = self.backlog();
        if self.max_queued == 0 || queued <= self.max_queued {
            return Ok(());
        }
        Err(Backlogged {
            queued,
            limit: self.max_queued,
            retry_after_secs: retry_after_secs(
                queued - self.max_queued,
                self.rows_per_sec.load(Ordering::Relaxed),
            ),
        })
    }

    async fn measure_backlog(&self) {
        match queue_span(&self.pool).await {
            Ok(span) => self.backlog.store(span, Ordering::Relaxed),
            Err(e) => tracing::warn!(error = %e, "could not measure the maintainer's queue"),
        }
    }

    /// Runs passes for as long as the server runs: back to back while keys
    /// are queued, then on a wake-up or every [`IDLE_POLL`].
    pub async fn run(self: Arc<Self>) {
        // A queue left by a crash counts before its first (long) pass ends.
        self.measure_backlog().await;
        loop {
            let started = Instant::now();
            match pass(&self.pool, self.max_rows).await {
                Ok(pass) => {
                    if let Some(observe) = &self.observer {
                        observe(&pass.bumped);
                    }
                    if pass.claimed > 0 {
                        let secs = started.elapsed().as_secs_f64().max(1e-3);
                        self.rows_per_sec
                            .store((pass.claimed as f64 / secs) as u64, Ordering::Relaxed);
                    }
                    self.measure_backlog().await;
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
    use super::{retry_after_secs, Pending};

    #[test]
    fn retry_after_is_the_excess_at_the_last_rate_within_a_minute() {
        assert_eq!(retry_after_secs(5_000, 2_000), 3);
        assert_eq!(retry_after_secs(1, 2_000), 1);
        assert_eq!(retry_after_secs(10_000_000, 1_000), 60);
        assert_eq!(retry_after_secs(10, 0), 1);
    }

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
