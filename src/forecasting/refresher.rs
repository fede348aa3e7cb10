//! The background refit of the latest data.

use super::*;

impl ForecastService {
    /// Refits the latest data in the background when it changed (new
    /// transactions, or a new day) and either `refit_interval_secs` passed since
    /// the last fit or `refit_after_transactions` were added. Never returns.
    pub async fn run_refresher(self: Arc<Self>) {
        let poll = Duration::from_secs(self.config.refit_interval_secs.clamp(1, 30));
        loop {
            tokio::time::sleep(poll).await;
            if let Err(e) = self.refresh_once().await {
                tracing::warn!(error = %e, "background forecast refit failed; the last good fit stays in service");
            }
        }
    }

    /// One check of the refresher; true when it refitted.
    pub async fn refresh_once(&self) -> Result<bool, ServiceError> {
        let transactions: i64 = sqlx::query_scalar("SELECT ltv_transaction_count()")
            .fetch_one(&self.pool)
            .await?;
        if transactions == 0 {
            return Ok(false);
        }
        let today = self.today().await?;
        let due = match self.latest().await? {
            // Nobody has asked for a forecast yet: fitting now would spend a
            // core for nothing (the first call starts a fit in the background).
            None => false,
            Some(last) => {
                let added = (transactions - last.transactions).unsigned_abs();
                let changed = added > 0 || last.as_of != today;
                let age = (Utc::now() - last.fitted_at).num_seconds().max(0) as u64;
                changed
                    && (age >= self.config.refit_interval_secs
                        || added >= self.config.refit_after_transactions)
            }
        };
        if !due {
            return Ok(false);
        }
        // A fit already under way (a first request's) makes this one needless.
        let Ok(_guard) = self.current_lock.try_lock() else {
            return Ok(false);
        };
        Ok(self
            .fit_and_store(Kind::Current, today, &|line: &str| {
                tracing::debug!(line, "background forecast refit")
            })
            .await?
            .is_some())
    }
}
