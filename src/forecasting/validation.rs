//! The holdout validation behind `ltv_forecast_validation`: a fit on the
//! calibration period, predictions against what customers actually did.

use super::*;

impl ForecastService {
    /// Fits on the data up to `calibration_end` (the pinned fit of that date)
    /// and stores, per calibration frequency 0..6 and 7+, the customers and
    /// the summed predicted and actual repeat purchases in
    /// (calibration_end, holdout_end]. Done once per pair of dates, in the
    /// background (see [`super::jobs`]), waited for at most `wait`.
    pub async fn ensure_validation(
        self: &Arc<Self>,
        calibration_end: NaiveDate,
        holdout_end: NaiveDate,
        wait: Duration,
    ) -> Result<(), ServiceError> {
        if self.validation_exists(calibration_end, holdout_end).await? {
            return Ok(());
        }
        self.run_job(Job::Validation(calibration_end, holdout_end), wait)
            .await
    }

    async fn validation_exists(
        &self,
        calibration_end: NaiveDate,
        holdout_end: NaiveDate,
    ) -> Result<bool, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM forecast_validation WHERE calibration_end = $1 AND holdout_end = $2)",
        )
        .bind(calibration_end)
        .bind(holdout_end)
        .fetch_one(&self.pool)
        .await
    }

    /// The validation computed now (a background job's work).
    pub(super) async fn ensure_validation_now(
        &self,
        calibration_end: NaiveDate,
        holdout_end: NaiveDate,
    ) -> Result<(), ServiceError> {
        if self.validation_exists(calibration_end, holdout_end).await? {
            return Ok(());
        }
        let Some(fit) = self.ensure_pinned(calibration_end, &|_| {}).await? else {
            return Ok(());
        };
        let _guard = self.pinned_lock.lock().await;
        if self.validation_exists(calibration_end, holdout_end).await? {
            return Ok(());
        }
        let mut tx = self.fit_transaction().await?;
        let rows = sqlx::query(
            "SELECT i.frequency, i.recency, i.t, coalesce(h.days, 0)::integer \
             FROM ltv_forecast_inputs($1) i \
             LEFT JOIN (SELECT customer_id, count(DISTINCT day) AS days FROM customer_day_category \
                        WHERE day > $1 AND day <= $2 AND purchases > 0 GROUP BY customer_id) h \
               ON h.customer_id = i.customer_id",
        )
        .bind(calibration_end)
        .bind(holdout_end)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let holdout_days = (holdout_end - calibration_end).num_days() as f64;
        let bg = fit.bgnbd;
        let mut buckets = [(0i64, 0f64, 0f64); BUCKETS];
        let mut cache: HashMap<(i32, i32, i32), f64> = HashMap::new();
        for r in &rows {
            let (x, t_x, t, actual): (i32, i32, i32, i32) =
                (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
            let predicted = match cache.get(&(x, t_x, t)) {
                Some(p) => *p,
                None => {
                    let p = bg
                        .conditional_expected_purchases(
                            holdout_days,
                            x as u32,
                            t_x as f64,
                            t as f64,
                        )
                        .map_err(|source| ServiceError::Model {
                            as_of: calibration_end,
                            source,
                        })?;
                    cache.insert((x, t_x, t), p);
                    p
                }
            };
            let b = &mut buckets[(x as usize).min(BUCKETS - 1)];
            b.0 += 1;
            b.1 += predicted;
            b.2 += actual as f64;
        }
        let mut tx = self.pool.begin().await?;
        for (i, (customers, predicted, actual)) in buckets.iter().enumerate() {
            let label = if i == BUCKETS - 1 {
                format!("{}+", BUCKETS - 1)
            } else {
                i.to_string()
            };
            sqlx::query(
                "INSERT INTO forecast_validation (calibration_end, holdout_end, fit_id, bucket_order, \
                 bucket, customers, predicted_sum, actual_sum) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(calibration_end)
            .bind(holdout_end)
            .bind(fit.id)
            .bind(i as i32)
            .bind(label)
            .bind(customers)
            .bind(predicted)
            .bind(actual)
            .execute(&mut *tx)
            .await?;
        }
        let version = self.bump_version(&mut tx).await?;
        tx.commit().await?;
        self.observe(version);
        Ok(())
    }
}
