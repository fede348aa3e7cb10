//! Answers for polling dashboards: what every pipe answer is tagged with
//! ([`Stamp`]: the data versions and the UTC day), the in-memory copy of the
//! data versions ([`LiveVersions`], kept current by [`listener`]), and the
//! answer cache ([`answers`]).
//!
//! The rule: **every pipe answer depends on every data version and on the UTC
//! day** (pipes default `as_of` to today). It is coarse (a new interaction also
//! refreshes `ltv_by_cohort`, which does not read interactions) but needs no
//! knowledge of what a pipe's SQL reads, so a user's pipe is always correct.

pub mod answers;
pub mod listener;

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, Utc};

use crate::auth::cache::TokenCache;
use crate::config::CacheConfig;
use crate::ingest::versions::{Bumped, Source};
use answers::AnswerCache;

/// Everything polling needs, shared by the handlers and the LISTEN task.
pub struct Polling {
    pub versions: Arc<LiveVersions>,
    pub answers: AnswerCache,
    pub tokens: TokenCache,
}

impl Polling {
    pub fn new(config: &CacheConfig) -> Self {
        Polling {
            versions: Arc::new(LiveVersions::new()),
            answers: AnswerCache::new(config.enabled, config.max_bytes),
            tokens: TokenCache::new(Duration::from_secs(config.token_ttl_secs)),
        }
    }
}

/// What an answer was computed from: equal stamps (and the same request) mean
/// the same answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Stamp {
    pub versions: [i64; Source::COUNT],
    /// `ltv_today()`: the default `as_of` of the CLV pipes.
    pub day: NaiveDate,
}

/// This server's copy of the data versions. A version only moves forward, and
/// only after the write it stands for was committed (the local writer reports
/// it after COMMIT; other servers' writes arrive by NOTIFY, sent at COMMIT), so
/// a stamp read *before* a query never claims more than the query sees.
pub struct LiveVersions {
    versions: [AtomicI64; Source::COUNT],
    /// False until the first read of the table, and again from a lost
    /// listener connection until it is back and the table re-read: while
    /// notifications may have been missed nothing is tagged or cached.
    synced: AtomicBool,
}

impl Default for LiveVersions {
    fn default() -> Self {
        Self::new()
    }
}

impl LiveVersions {
    pub fn new() -> Self {
        LiveVersions {
            versions: std::array::from_fn(|_| AtomicI64::new(i64::MIN)),
            synced: AtomicBool::new(false),
        }
    }

    /// The current stamp, or `None` while the versions are not known.
    pub fn stamp(&self) -> Option<Stamp> {
        if !self.synced.load(Ordering::Acquire) {
            return None;
        }
        Some(Stamp {
            versions: std::array::from_fn(|i| self.versions[i].load(Ordering::Acquire)),
            day: Utc::now().date_naive(),
        })
    }

    /// A committed version of `source` (from a local write or a notification).
    pub fn observe(&self, source: Source, version: i64) {
        self.versions[source.index()].fetch_max(version, Ordering::AcqRel);
    }

    /// Everything a local transaction bumped, right after its COMMIT.
    pub fn observe_all(&self, bumped: &Bumped) {
        for (source, version) in bumped.iter() {
            self.observe(source, version);
        }
    }

    /// The versions just read from the table; tagging resumes.
    pub fn resync(&self, versions: [i64; Source::COUNT]) {
        for (source, version) in Source::ALL.into_iter().zip(versions) {
            self.observe(source, version);
        }
        self.synced.store(true, Ordering::Release);
    }

    /// Notifications may be missed from now on: stop tagging until [`resync`](Self::resync).
    pub fn lost(&self) {
        self.synced.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_only_move_forward_and_are_unknown_until_synced() {
        let live = LiveVersions::new();
        assert!(live.stamp().is_none());
        live.resync([1, 2, 3, 4, 5]);
        let a = live.stamp().unwrap();
        assert_eq!(a.versions, [1, 2, 3, 4, 5]);
        live.observe(Source::Transactions, 7);
        live.observe(Source::Transactions, 6); // a late notification
        assert_eq!(live.stamp().unwrap().versions, [1, 7, 3, 4, 5]);
        live.lost();
        assert!(live.stamp().is_none());
        live.resync([1, 8, 3, 4, 5]);
        assert_eq!(live.stamp().unwrap().versions, [1, 8, 3, 4, 5]);
    }
}
