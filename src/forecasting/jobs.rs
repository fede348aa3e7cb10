//! Fits run in the background, never inside a request.
//!
//! A request that needs a fit (or a holdout validation) that is not stored
//! yet starts it as a background job, or joins the one already running, and
//! waits at most `forecast.fit_wait_ms` for it. A job that takes longer keeps
//! running; the request answers at once with [`ServiceError::Pending`] (503
//! with `Retry-After`), and a later call finds the stored fit. Cancelling the
//! request (a timeout, a client that hangs up) only stops the waiting, never
//! the shared work. A fit that fails on the data is remembered with the
//! transaction count it saw, so calls answer that failure at once until new
//! transactions arrive instead of refitting for nothing.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Mutex as SyncMutex;

use futures_util::FutureExt;
use tokio::sync::watch;

use super::*;

/// What a background job computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Job {
    /// The first fit on the latest data (later ones come from the refresher).
    Current,
    /// The fit of a past `as_of`.
    Pinned(NaiveDate),
    /// The holdout validation of (calibration_end, holdout_end).
    Validation(NaiveDate, NaiveDate),
}

impl Job {
    fn describe(&self) -> String {
        match self {
            Job::Current => "the forecast fit on the latest data".into(),
            Job::Pinned(day) => format!("the forecast fit as of {day}"),
            Job::Validation(c, h) => format!("the forecast validation {c} .. {h}"),
        }
    }
}

/// How a job ended.
#[derive(Debug, Clone)]
pub struct Failure {
    pub message: String,
    /// The data cannot be fitted (deterministic until the data changes),
    /// as opposed to a database or task failure worth retrying.
    pub bad_data: bool,
    /// `ltv_transaction_count()` before the job read its inputs.
    transactions: i64,
}

type Outcome = Option<Result<(), Failure>>;

struct Running {
    started: Instant,
    done: watch::Receiver<Outcome>,
}

/// The jobs running now and the data failures remembered.
#[derive(Default)]
pub struct Jobs {
    running: SyncMutex<HashMap<Job, Running>>,
    failed: SyncMutex<HashMap<Job, Failure>>,
}

impl Jobs {
    fn failure(&self, job: Job) -> Option<Failure> {
        self.failed.lock().unwrap().get(&job).cloned()
    }
}

impl ForecastService {
    /// Makes sure `job` is done: starts it in the background unless it runs
    /// already, then waits at most `wait` for it.
    pub(super) async fn run_job(
        self: &Arc<Self>,
        job: Job,
        wait: Duration,
    ) -> Result<(), ServiceError> {
        if let Some(failure) = self.jobs.failure(job) {
            let transactions: i64 = sqlx::query_scalar("SELECT ltv_transaction_count()")
                .fetch_one(&self.pool)
                .await?;
            if failure.transactions == transactions {
                return Err(ServiceError::Failed(failure));
            }
        }
        let (mut done, started) = self.start_or_join(job);
        let waited = tokio::time::timeout(wait, done.wait_for(Option::is_some))
            .await
            .map(|seen| seen.map(|outcome| outcome.clone()));
        match waited {
            Ok(Ok(Some(Err(failure)))) => Err(ServiceError::Failed(failure)),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(ServiceError::Task(format!(
                "{} stopped without an answer",
                job.describe()
            ))),
            Err(_) => Err(ServiceError::Pending {
                what: job.describe(),
                running_secs: started.elapsed().as_secs(),
                retry_after_secs: self.retry_after(started.elapsed()).await,
            }),
        }
    }

    /// The running job's outcome channel, starting the job when none runs.
    fn start_or_join(self: &Arc<Self>, job: Job) -> (watch::Receiver<Outcome>, Instant) {
        let mut running = self.jobs.running.lock().unwrap();
        if let Some(r) = running.get(&job) {
            return (r.done.clone(), r.started);
        }
        let (tx, rx) = watch::channel(None);
        let started = Instant::now();
        running.insert(
            job,
            Running {
                started,
                done: rx.clone(),
            },
        );
        let service = self.clone();
        tokio::spawn(async move {
            tracing::info!(job = %job.describe(), "forecast job started in the background");
            // A panic must still end the job, or every later call would
            // join one that never answers.
            let outcome = AssertUnwindSafe(service.job_outcome(job))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| {
                    Err(Failure {
                        message: format!(
                            "{} failed unexpectedly (the server log has the details)",
                            job.describe()
                        ),
                        bad_data: false,
                        transactions: -1,
                    })
                });
            match &outcome {
                Ok(()) => {
                    service.jobs.failed.lock().unwrap().remove(&job);
                }
                Err(f) => {
                    tracing::warn!(job = %job.describe(), error = %f.message, "forecast job failed");
                    if f.bad_data {
                        service.jobs.failed.lock().unwrap().insert(job, f.clone());
                    }
                }
            }
            // Outcome first, then the entry: a request arriving in between
            // joins a finished job and reads its outcome.
            let _ = tx.send(Some(outcome));
            service.jobs.running.lock().unwrap().remove(&job);
        });
        (rx, started)
    }

    async fn job_outcome(&self, job: Job) -> Result<(), Failure> {
        let transactions: i64 = sqlx::query_scalar("SELECT ltv_transaction_count()")
            .fetch_one(&self.pool)
            .await
            .unwrap_or(-1);
        let progress = |line: &str| tracing::debug!(line, "forecast job");
        let result = match job {
            Job::Current => self.first_current_fit(&progress).await.map(|_| ()),
            Job::Pinned(day) => self.ensure_pinned(day, &progress).await.map(|_| ()),
            Job::Validation(c, h) => self.ensure_validation_now(c, h).await,
        };
        result.map_err(|e| Failure {
            bad_data: matches!(e, ServiceError::Model { .. }),
            message: e.to_string(),
            transactions,
        })
    }

    /// Seconds a client should wait before asking again: what the last
    /// stored fit took, less what this job has run, between 1 and 60.
    async fn retry_after(&self, running: Duration) -> u64 {
        let last_ms: Option<i64> =
            sqlx::query_scalar("SELECT fit_ms FROM forecast_fits ORDER BY id DESC LIMIT 1")
                .fetch_optional(&self.pool)
                .await
                .ok()
                .flatten();
        let expected = Duration::from_millis(last_ms.unwrap_or(5_000).max(0) as u64);
        expected.saturating_sub(running).as_secs().clamp(1, 60)
    }
}
