//! Data versions in PostgreSQL: one counter per [`Source`], bumped by every
//! writer inside its own transaction, with a `NOTIFY` that PostgreSQL delivers
//! at COMMIT (and drops on ROLLBACK). Servers keep the counters in memory
//! (`crate::cache::LiveVersions`) to tag pipe answers (ETag, answer cache)
//! without a query per request.
//!
//! Every code path that changes data a pipe can read calls [`bump`] in its
//! transaction, after its writes: the Events API (`store.rs`), the quarantine
//! clear, the forecast fits. Bumping last keeps the row lock on the counter
//! for the shortest time (it serializes the commits of concurrent writers of
//! the same source, nothing else).

use sqlx::{PgConnection, PgExecutor};

use super::rows::Datasource;

/// The channel that carries `'<source>:<version>'` after each committed bump.
pub const DATA_CHANNEL: &str = "ltv_data_changed";

/// What a pipe answer can depend on, each with its own counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    Customers,
    Transactions,
    CustomerInteractions,
    /// Rejected rows: no shipped pipe reads them, but a user's pipe may.
    Quarantine,
    /// Forecast fits, predictions, validations and tier settings.
    Forecast,
}

impl Source {
    pub const COUNT: usize = 5;
    pub const ALL: [Source; Self::COUNT] = [
        Source::Customers,
        Source::Transactions,
        Source::CustomerInteractions,
        Source::Quarantine,
        Source::Forecast,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Source::Customers => "customers",
            Source::Transactions => "transactions",
            Source::CustomerInteractions => "customer_interactions",
            Source::Quarantine => "quarantine",
            Source::Forecast => "forecast",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Position in [`Source::ALL`] (and in every per-source array).
    pub fn index(self) -> usize {
        self as usize
    }
}

impl From<Datasource> for Source {
    fn from(ds: Datasource) -> Self {
        match ds {
            Datasource::Customers => Source::Customers,
            Datasource::Transactions => Source::Transactions,
            Datasource::CustomerInteractions => Source::CustomerInteractions,
        }
    }
}

/// Versions a transaction bumped, to hand to the in-memory copy after COMMIT
/// (read-your-writes on this server without waiting for the notification).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bumped(pub [Option<i64>; Source::COUNT]);

impl Bumped {
    pub fn set(&mut self, source: Source, version: i64) {
        self.0[source.index()] = Some(version);
    }

    pub fn iter(&self) -> impl Iterator<Item = (Source, i64)> + '_ {
        Source::ALL
            .into_iter()
            .filter_map(|s| self.0[s.index()].map(|v| (s, v)))
    }
}

/// Increments `source`'s version inside the caller's transaction and queues the
/// notification; returns the new version. Call it only when rows really
/// changed, after the writes, just before COMMIT.
pub async fn bump(conn: &mut PgConnection, source: impl Into<Source>) -> Result<i64, sqlx::Error> {
    let source = source.into();
    sqlx::query_scalar(
        "WITH b AS (UPDATE data_versions SET version = version + 1 WHERE source = $1 RETURNING version)
         SELECT b.version FROM b, pg_notify($2, $1 || ':' || b.version)",
    )
    .bind(source.name())
    .bind(DATA_CHANNEL)
    .fetch_one(conn)
    .await
}

/// Every source's current version (a fresh server, or after the listener
/// reconnected and may have missed notifications).
pub async fn read_all(db: impl PgExecutor<'_>) -> Result<[i64; Source::COUNT], sqlx::Error> {
    let rows: Vec<(String, i64)> = sqlx::query_as("SELECT source, version FROM data_versions")
        .fetch_all(db)
        .await?;
    let mut out = [0; Source::COUNT];
    let mut seen = [false; Source::COUNT];
    for (name, version) in rows {
        if let Some(s) = Source::from_name(&name) {
            out[s.index()] = version;
            seen[s.index()] = true;
        }
    }
    match Source::ALL.into_iter().find(|s| !seen[s.index()]) {
        None => Ok(out),
        Some(missing) => Err(sqlx::Error::Protocol(format!(
            "data_versions has no row for '{}' (migrations not applied?)",
            missing.name()
        ))),
    }
}

/// Parses a notification payload `'<source>:<version>'`.
pub fn parse_payload(payload: &str) -> Option<(Source, i64)> {
    let (name, version) = payload.rsplit_once(':')?;
    Some((Source::from_name(name)?, version.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_junk_is_ignored() {
        for s in Source::ALL {
            assert_eq!(parse_payload(&format!("{}:42", s.name())), Some((s, 42)));
            assert_eq!(Source::ALL[s.index()], s);
        }
        assert_eq!(parse_payload("customers"), None);
        assert_eq!(parse_payload("nope:1"), None);
        assert_eq!(parse_payload("customers:x"), None);
    }
}
