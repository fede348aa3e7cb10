//! Serving the forecast: the I/O around the pure model code of [`crate::forecast`].
//!
//! [`ForecastService`] reads the per-customer inputs from the rollups
//! (`ltv_forecast_inputs(as_of)`, sql/09_forecast.sql), fits BG/NBD and
//! Gamma-Gamma, and stores the fit (`forecast_fits`) and, in the same
//! transaction, every customer's predictions (`forecast_predictions`: p_alive,
//! expected value per purchase, cumulative expected purchases for months
//! 1..36). The pipes `ltv_forecast*.pipe` are plain SQL over those tables.
//!
//! Two kinds of fit: `current` (the latest data, as_of = the day it was fitted;
//! refit in the background by [`ForecastService::run_refresher`], requests keep
//! using the last good one meanwhile) and `pinned` (an explicit past as_of,
//! fitted once on first use and kept). The holdout validation is stored per
//! (calibration_end, holdout_end) in `forecast_validation`. Requests never
//! fit: what they need and is missing runs as a background job ([`jobs`]).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool, Row};
use tokio::sync::Mutex;

use crate::cache::LiveVersions;
use crate::config::ForecastConfig;
use crate::forecast::{
    fit_bgnbd, fit_gamma_gamma, BgNbdParams, FitOptions, FitReport, ForecastError,
    GammaGammaParams, TriplesBuilder, DAYS_PER_MONTH,
};
use crate::ingest::versions::{self, Source};

mod jobs;
mod predict;
mod refresher;
mod validation;

pub use jobs::Job;

use predict::{encode_predictions, fit};

/// Months of cumulative expected purchases stored per customer (the largest
/// `horizon_months` the pipe accepts).
pub const MAX_HORIZON_MONTHS: usize = 36;

/// Calibration-frequency buckets of the validation: 0..6 and 7+.
const BUCKETS: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The data cannot be fitted (no repeat buyers, no convergence, ...).
    #[error("the forecast cannot be fitted on the data up to {as_of}: {source}")]
    Model {
        as_of: NaiveDate,
        #[source]
        source: ForecastError,
    },
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
    #[error("the forecast task failed: {0}")]
    Task(String),
    /// The fit a call needs is being computed in the background.
    #[error("{what} is being computed in the background (running for {running_secs} s); retry in {retry_after_secs} s")]
    Pending {
        what: String,
        running_secs: u64,
        retry_after_secs: u64,
    },
    /// A background fit failed (on the data, or on the database).
    #[error("{}", .0.message)]
    Failed(jobs::Failure),
}

/// Which fit: the latest data or an explicit past date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Current,
    Pinned,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Current => "current",
            Kind::Pinned => "pinned",
        }
    }
}

/// A stored fit, as `GET /v0/models/forecast` and the CLI show it.
#[derive(Debug, Clone, Serialize)]
pub struct StoredFit {
    pub id: i64,
    pub kind: String,
    pub as_of: NaiveDate,
    pub fitted_at: DateTime<Utc>,
    /// First and last purchase day in the data the fit saw.
    pub data_min_day: Option<NaiveDate>,
    pub data_max_day: Option<NaiveDate>,
    pub transactions: i64,
    pub bgnbd: BgNbdParams,
    pub gamma_gamma: GammaGammaParams,
    pub log_likelihood: f64,
    pub gg_log_likelihood: f64,
    pub n_customers: i64,
    pub n_unique: i64,
    pub n_spend_customers: i64,
    pub converged: bool,
    pub iterations: i32,
    pub message: String,
    pub fit_ms: i64,
}

const FIT_COLUMNS: &str = "id, kind, as_of, fitted_at, data_min_day, data_max_day, transactions, \
    bgnbd, gamma_gamma, log_likelihood, gg_log_likelihood, n_customers, n_unique, \
    n_spend_customers, converged, iterations, message, fit_ms";

fn stored_fit(row: &sqlx::postgres::PgRow) -> Result<StoredFit, sqlx::Error> {
    let json = |name: &str| -> Result<serde_json::Value, sqlx::Error> { row.try_get(name) };
    let decode = |name: &str, e: serde_json::Error| sqlx::Error::ColumnDecode {
        index: name.into(),
        source: Box::new(e),
    };
    Ok(StoredFit {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        as_of: row.try_get("as_of")?,
        fitted_at: row.try_get("fitted_at")?,
        data_min_day: row.try_get("data_min_day")?,
        data_max_day: row.try_get("data_max_day")?,
        transactions: row.try_get("transactions")?,
        bgnbd: serde_json::from_value(json("bgnbd")?).map_err(|e| decode("bgnbd", e))?,
        gamma_gamma: serde_json::from_value(json("gamma_gamma")?)
            .map_err(|e| decode("gamma_gamma", e))?,
        log_likelihood: row.try_get("log_likelihood")?,
        gg_log_likelihood: row.try_get("gg_log_likelihood")?,
        n_customers: row.try_get("n_customers")?,
        n_unique: row.try_get("n_unique")?,
        n_spend_customers: row.try_get("n_spend_customers")?,
        converged: row.try_get("converged")?,
        iterations: row.try_get("iterations")?,
        message: row.try_get("message")?,
        fit_ms: row.try_get("fit_ms")?,
    })
}

/// Progress lines of a long fit (the CLI prints them; the server logs them).
pub type Progress<'a> = &'a (dyn Fn(&str) + Send + Sync);

/// One customer's inputs (docs/METRICS.md "Forecast").
struct Input {
    customer_id: String,
    frequency: i32,
    recency: i32,
    t: i32,
    monetary: f64,
}

/// Both fitted models; the predictions are computed while they are stored.
struct Fitted {
    bg: FitReport<BgNbdParams>,
    gg: FitReport<GammaGammaParams>,
}

/// Customers whose predictions are computed and sent to the COPY at a time.
const PREDICTION_CHUNK: usize = 20_000;

pub struct ForecastService {
    pool: PgPool,
    config: ForecastConfig,
    /// One fit of each kind at a time; requests only take these when the fit
    /// they need does not exist yet.
    current_lock: Mutex<()>,
    pinned_lock: Mutex<()>,
    /// The server's data versions, told about each forecast write after its
    /// COMMIT (the CLI has none: its writes reach servers by NOTIFY).
    live: Option<Arc<LiveVersions>>,
    jobs: jobs::Jobs,
}

impl ForecastService {
    pub fn new(pool: PgPool, config: ForecastConfig) -> Self {
        Self {
            pool,
            config,
            current_lock: Mutex::new(()),
            pinned_lock: Mutex::new(()),
            live: None,
            jobs: jobs::Jobs::default(),
        }
    }

    /// Reports the forecast's version bumps to this server's copy at once, so
    /// the next `ltv_forecast*` answer is computed anew (read-your-writes).
    pub fn with_live_versions(mut self, live: Arc<LiveVersions>) -> Self {
        self.live = Some(live);
        self
    }

    /// Every forecast write (fits, predictions, validations, settings) bumps
    /// the `forecast` data version in its transaction: the `ltv_forecast*`
    /// pipes read them, so their ETags and cached answers must move.
    async fn bump_version(&self, tx: &mut PgConnection) -> Result<i64, sqlx::Error> {
        versions::bump(tx, Source::Forecast).await
    }

    fn observe(&self, version: i64) {
        if let Some(live) = &self.live {
            live.observe(Source::Forecast, version);
        }
    }

    /// Writes the settings the pipes read (`forecast.tiers`); the forecast
    /// version moves only when they changed.
    pub async fn store_settings(&self) -> Result<(), sqlx::Error> {
        let t = self.config.tiers;
        let mut tx = self.pool.begin().await?;
        let changed = sqlx::query(
            "INSERT INTO forecast_settings AS s (id, platinum, gold, silver) VALUES (1, $1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET platinum = $1, gold = $2, silver = $3 \
             WHERE (s.platinum, s.gold, s.silver) IS DISTINCT FROM ($1, $2, $3)",
        )
        .bind(t.platinum)
        .bind(t.gold)
        .bind(t.silver)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let version = match changed {
            0 => None,
            _ => {
                // Every stored fit's tier cuts, for the new shares.
                sqlx::query("SELECT ltv_forecast_store_all_tiers()")
                    .execute(&mut *tx)
                    .await?;
                Some(self.bump_version(&mut tx).await?)
            }
        };
        tx.commit().await?;
        if let Some(v) = version {
            self.observe(v);
        }
        Ok(())
    }

    async fn today(&self) -> Result<NaiveDate, sqlx::Error> {
        sqlx::query_scalar("SELECT ltv_today()")
            .fetch_one(&self.pool)
            .await
    }

    /// The newest fit on the latest data, if any.
    pub async fn latest(&self) -> Result<Option<StoredFit>, sqlx::Error> {
        let sql = format!(
            "SELECT {FIT_COLUMNS} FROM forecast_fits WHERE kind = 'current' ORDER BY id DESC LIMIT 1"
        );
        sqlx::query(&sql)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| stored_fit(&r))
            .transpose()
    }

    async fn pinned(&self, as_of: NaiveDate) -> Result<Option<StoredFit>, sqlx::Error> {
        let sql =
            format!("SELECT {FIT_COLUMNS} FROM forecast_fits WHERE kind = 'pinned' AND as_of = $1");
        sqlx::query(&sql)
            .bind(as_of)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| stored_fit(&r))
            .transpose()
    }

    /// The fit a request with this `as_of` uses: no as_of (or today or later)
    /// → the latest good fit on the latest data; a past as_of → its pinned
    /// fit. One that is not stored yet is fitted in the background (see
    /// [`jobs`]) and waited for at most `wait`. `None`: there is no purchase
    /// to fit on.
    pub async fn ensure_fit(
        self: &Arc<Self>,
        as_of: Option<NaiveDate>,
        wait: Duration,
    ) -> Result<Option<StoredFit>, ServiceError> {
        let today = self.today().await?;
        match as_of {
            Some(day) if day < today => {
                if let Some(fit) = self.pinned(day).await? {
                    return Ok(Some(fit));
                }
                self.run_job(Job::Pinned(day), wait).await?;
                Ok(self.pinned(day).await?)
            }
            _ => {
                if let Some(fit) = self.latest().await? {
                    return Ok(Some(fit));
                }
                self.run_job(Job::Current, wait).await?;
                Ok(self.latest().await?)
            }
        }
    }

    /// The first fit on the latest data, unless one was stored meanwhile.
    async fn first_current_fit(
        &self,
        progress: Progress<'_>,
    ) -> Result<Option<StoredFit>, ServiceError> {
        let _guard = self.current_lock.lock().await;
        if let Some(fit) = self.latest().await? {
            return Ok(Some(fit));
        }
        let today = self.today().await?;
        self.fit_and_store(Kind::Current, today, progress).await
    }

    /// The pinned fit for `as_of`, fitted now if missing (the CLI, and the
    /// background jobs).
    pub async fn ensure_pinned(
        &self,
        as_of: NaiveDate,
        progress: Progress<'_>,
    ) -> Result<Option<StoredFit>, ServiceError> {
        if let Some(fit) = self.pinned(as_of).await? {
            return Ok(Some(fit));
        }
        let _guard = self.pinned_lock.lock().await;
        if let Some(fit) = self.pinned(as_of).await? {
            return Ok(Some(fit));
        }
        self.fit_and_store(Kind::Pinned, as_of, progress).await
    }

    /// A new fit on the latest data (the CLI and the background refresher).
    pub async fn refit_current(
        &self,
        progress: Progress<'_>,
    ) -> Result<Option<StoredFit>, ServiceError> {
        let _guard = self.current_lock.lock().await;
        let today = self.today().await?;
        self.fit_and_store(Kind::Current, today, progress).await
    }

    /// A transaction whose statements may take `forecast.fit_timeout_secs`
    /// instead of a request's statement timeout.
    async fn fit_transaction(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let ms = self
            .config
            .fit_timeout_secs
            .saturating_mul(1000)
            .to_string();
        sqlx::query("SELECT set_config('statement_timeout', $1, true)")
            .bind(ms)
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    /// Every customer's model inputs, decoded row by row as they arrive (the
    /// rows are never all held at once: about a million at 1M customers),
    /// sorted by history so [`encode_predictions`] computes each one once.
    async fn read_inputs(&self, as_of: NaiveDate) -> Result<Vec<Input>, sqlx::Error> {
        use futures_util::TryStreamExt;
        let mut tx = self.fit_transaction().await?;
        let mut inputs = Vec::new();
        {
            let mut rows = sqlx::query(
                "SELECT customer_id, frequency, recency, t, monetary_value FROM ltv_forecast_inputs($1)",
            )
            .bind(as_of)
            .fetch(&mut *tx);
            while let Some(r) = rows.try_next().await? {
                inputs.push(Input {
                    customer_id: r.try_get(0)?,
                    frequency: r.try_get(1)?,
                    recency: r.try_get(2)?,
                    t: r.try_get(3)?,
                    monetary: r.try_get(4)?,
                });
            }
        }
        tx.commit().await?;
        inputs.sort_unstable_by_key(|i| (i.frequency, i.recency, i.t));
        Ok(inputs)
    }

    /// Reads the inputs, fits both models, computes the predictions and stores
    /// everything in one transaction. `None` when there is no purchase up to as_of.
    async fn fit_and_store(
        &self,
        kind: Kind,
        as_of: NaiveDate,
        progress: Progress<'_>,
    ) -> Result<Option<StoredFit>, ServiceError> {
        let started = Instant::now();
        // Counted before reading the inputs, so rows added meanwhile trigger a
        // refit. From the customer cube: exact, and milliseconds at 10M rows.
        let transactions: i64 = sqlx::query_scalar("SELECT ltv_transaction_count()")
            .fetch_one(&self.pool)
            .await?;
        progress(&format!("reading the customers' histories up to {as_of}"));
        let inputs = self.read_inputs(as_of).await?;
        if inputs.is_empty() {
            return Ok(None);
        }
        progress(&format!(
            "{} customers read in {:.1}s; fitting",
            inputs.len(),
            started.elapsed().as_secs_f64()
        ));
        let options = FitOptions {
            penalizer_coef: self.config.penalizer_coef,
            ..FitOptions::default()
        };
        let inputs = Arc::new(inputs);
        let fitting = inputs.clone();
        let computed = tokio::task::spawn_blocking(move || {
            fit(&fitting, &options, &|line: &str| {
                tracing::debug!(line, "forecast fit")
            })
        })
        .await
        .map_err(|e| ServiceError::Task(e.to_string()))?
        .map_err(|source| ServiceError::Model { as_of, source })?;
        progress(&format!(
            "fitted in {:.1}s (BG/NBD {} iterations, converged: {}; Gamma-Gamma converged: {}); storing predictions",
            started.elapsed().as_secs_f64(),
            computed.bg.iterations,
            computed.bg.converged,
            computed.gg.converged
        ));
        let max_t = inputs.iter().map(|i| i.t).max().unwrap_or(0);
        let min_gap = inputs.iter().map(|i| i.t - i.recency).min().unwrap_or(0);
        let data_min_day = as_of - chrono::Days::new(max_t as u64);
        let data_max_day = as_of - chrono::Days::new(min_gap as u64);
        let mut message = format!(
            "BG/NBD: {}; Gamma-Gamma: {}",
            computed.bg.message, computed.gg.message
        );
        let mut tx = self.fit_transaction().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO forecast_fits (kind, as_of, data_min_day, data_max_day, transactions, bgnbd, \
             gamma_gamma, log_likelihood, gg_log_likelihood, n_customers, n_unique, n_spend_customers, \
             converged, iterations, message, fit_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING id",
        )
        .bind(kind.as_str())
        .bind(as_of)
        .bind(data_min_day)
        .bind(data_max_day)
        .bind(transactions)
        .bind(serde_json::to_value(computed.bg.params).expect("params serialize"))
        .bind(serde_json::to_value(computed.gg.params).expect("params serialize"))
        .bind(computed.bg.log_likelihood)
        .bind(computed.gg.log_likelihood)
        .bind(computed.bg.n_customers as i64)
        .bind(computed.bg.n_unique as i64)
        .bind(computed.gg.n_customers as i64)
        .bind(computed.bg.converged && computed.gg.converged)
        .bind((computed.bg.iterations + computed.gg.iterations) as i32)
        .bind(&message)
        .bind(0i64)
        .fetch_one(&mut *tx)
        .await?;
        let mut copy = tx
            .copy_in_raw(
                "COPY forecast_predictions (fit_id, customer_id, frequency, recency, t, monetary_value, \
                 p_alive, expected_avg_value, cum_purchases) FROM STDIN",
            )
            .await?;
        // Two chunks are computed (one per core) while PostgreSQL ingests
        // the one before them.
        let (bg, gg) = (computed.bg.params, computed.gg.params);
        let predict = |start: usize| {
            let chunk = inputs.clone();
            tokio::task::spawn_blocking(move || {
                let end = (start + PREDICTION_CHUNK).min(chunk.len());
                encode_predictions(id, &chunk[start..end], &bg, &gg)
            })
        };
        let mut skipped = 0;
        let mut starts = (0..inputs.len()).step_by(PREDICTION_CHUNK);
        let mut pending: std::collections::VecDeque<_> =
            starts.by_ref().take(2).map(predict).collect();
        while let Some(task) = pending.pop_front() {
            let (rows, left_out) = task.await.map_err(|e| ServiceError::Task(e.to_string()))?;
            pending.extend(starts.next().map(predict));
            skipped += left_out;
            copy.send(rows.into_bytes()).await?;
        }
        copy.finish().await?;
        // The default page's tier cuts for this fit (sql/09_forecast.sql).
        sqlx::query("SELECT ltv_forecast_store_tiers($1)")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if kind == Kind::Current {
            // Older current fits keep their row (history) but not their predictions.
            sqlx::query(
                "DELETE FROM forecast_predictions WHERE fit_id IN \
                 (SELECT id FROM forecast_fits WHERE kind = 'current' AND id < $1)",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        if skipped > 0 {
            let _ = write!(
                message,
                "; {skipped} customer(s) left out: their prediction is not finite"
            );
        }
        let fit_ms = started.elapsed().as_millis() as i64;
        sqlx::query("UPDATE forecast_fits SET fit_ms = $2, message = $3 WHERE id = $1")
            .bind(id)
            .bind(fit_ms)
            .bind(&message)
            .execute(&mut *tx)
            .await?;
        let version = self.bump_version(&mut tx).await?;
        tx.commit().await?;
        self.observe(version);
        crate::prometheus::fit_stored(kind.as_str(), started.elapsed());
        progress(&format!(
            "stored fit {id} in {:.1}s",
            started.elapsed().as_secs_f64()
        ));
        tracing::info!(
            id,
            kind = kind.as_str(),
            %as_of,
            customers = computed.bg.n_customers,
            unique = computed.bg.n_unique,
            fit_ms,
            "forecast fitted"
        );
        let sql = format!("SELECT {FIT_COLUMNS} FROM forecast_fits WHERE id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_one(&self.pool).await?;
        Ok(Some(stored_fit(&row)?))
    }
}
