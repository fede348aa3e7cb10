//! Start-up in one place: database (embedded or external), migrations, the admin
//! token, the listener and the router. `serve` and the tests both use it.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::auth;
use crate::auth::rate::RateLimiter;
use crate::cache::{listener, Polling};
use crate::config::Config;
use crate::db::{self, Database};
use crate::forecasting::ForecastService;
use crate::http::{self, AppState};
use crate::ingest::maintainer::Maintainer;
use crate::pipes::registry::Registry;

pub struct Application {
    listener: TcpListener,
    db: Database,
    config: Arc<Config>,
    pipes: Arc<Registry>,
    forecast: Arc<ForecastService>,
    polling: Arc<Polling>,
    /// LISTENing for other servers' writes since before the versions were read.
    notifications: sqlx::postgres::PgListener,
    jwt_key: Arc<Vec<u8>>,
    /// `metrics.listen`: `/metrics` without a token.
    metrics_listener: Option<TcpListener>,
}

impl Application {
    /// Opens and migrates the database, makes sure an admin token exists (printing
    /// it when it was just created) and binds the listen address (port 0: any).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let mut db = Database::open(&config).await?;
        db::migrate(&db.pool).await?;
        db.use_roles(&config).await?;
        if let Some(token) =
            auth::ensure_admin(&db.pool, &config.data_dir, config.auth.fixed_admin_token()).await?
        {
            let file = config.data_dir.join(auth::ADMIN_TOKEN_FILE);
            println!(
                "Admin token (shown once; also saved in {}):\n{token}",
                file.display()
            );
        }
        let jwt_key = Arc::new(auth::jwt::signing_key(
            config.auth.fixed_jwt_secret(),
            &config.data_dir,
        )?);
        let (pipes, report) = Registry::load(&config.pipes.dir).with_context(|| {
            format!(
                "cannot read the pipes folder {}",
                config.pipes.dir.display()
            )
        })?;
        tracing::info!(
            loaded = report.loaded.len(),
            failed = report.errors.len(),
            "pipes loaded"
        );
        axum::http::HeaderValue::from_str(&config.cache.cache_control)
            .context("cache.cache_control is not a valid header value")?;
        let polling = Arc::new(Polling::new(&config.cache));
        let notifications = listener::connect(&db.pool, &polling)
            .await
            .context("cannot LISTEN for data changes")?;
        let forecast = Arc::new(
            ForecastService::new(db.pool.clone(), config.forecast.clone())
                .with_live_versions(polling.versions.clone()),
        );
        forecast.store_settings().await?;
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let metrics_listener = match config.metrics.listen_addr()? {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr} (metrics.listen)"))?,
            ),
            None => None,
        };
        Ok(Application {
            metrics_listener,
            listener,
            db,
            config: Arc::new(config),
            pipes: Arc::new(pipes),
            forecast,
            polling,
            notifications,
            jwt_key,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn pool(&self) -> &sqlx::PgPool {
        &self.db.pool
    }

    /// The maintainer, reporting each pass's versions to this server's copy.
    fn maintainer(&self) -> Arc<Maintainer> {
        let versions = self.polling.versions.clone();
        Arc::new(
            Maintainer::new(
                self.db.pool.clone(),
                self.config.ingest.apply_batch_rows,
                self.config.ingest.max_queued_rows,
            )
            .with_observer(Box::new(move |bumped| versions.observe_all(bumped))),
        )
    }

    /// Serves until `shutdown` completes, lets in-flight requests finish, then
    /// closes the pool and stops the embedded cluster.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let state = AppState {
            db: self.db.pool.clone(),
            writer: self.db.writer(),
            read_db: self.db.read_pool.clone(),
            config: self.config.clone(),
            pipes: self.pipes.clone(),
            forecast: self.forecast.clone(),
            polling: self.polling.clone(),
            rate_limits: Arc::new(RateLimiter::new(self.config.auth.rate_limit_rps)),
            jwt_key: self.jwt_key.clone(),
            maintainer: self.maintainer(),
            metrics: crate::prometheus::install(),
        };
        let maintainer = tokio::spawn(state.maintainer.clone().run());
        let reloader = tokio::spawn(reload_on_sighup(self.pipes.clone()));
        let refresher = tokio::spawn(self.forecast.clone().run_refresher());
        let notifications = tokio::spawn(listener::run(
            self.db.pool.clone(),
            self.polling.clone(),
            self.notifications,
        ));
        let scrape = match self.metrics_listener {
            Some(listener) => {
                tracing::info!(addr = %listener.local_addr()?, "metrics listening (no token)");
                let router = http::metrics_router(state.clone());
                Some(tokio::spawn(async move {
                    if let Err(e) = axum::serve(listener, router).await {
                        tracing::error!(error = %e, "the metrics listener failed");
                    }
                }))
            }
            None => None,
        };
        tracing::info!(addr = %self.listener.local_addr()?, "ltv-pipes listening");
        let served = http::serve::serve(
            self.listener,
            http::router(state),
            &self.config.http,
            shutdown,
        )
        .await;
        reloader.abort();
        refresher.abort();
        if let Some(scrape) = scrape {
            scrape.abort();
        }
        // A pass cut short rolls back: its rows stay queued for the next start.
        maintainer.abort();
        // It holds a pooled connection, which closing the pool waits for.
        notifications.abort();
        self.db.close().await;
        served.context("HTTP server failed")
    }
}

/// SIGHUP re-reads the pipes folder, like `POST /v0/pipes/reload`.
async fn reload_on_sighup(pipes: Arc<Registry>) {
    let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        return;
    };
    while hup.recv().await.is_some() {
        match pipes.reload() {
            Ok(report) => tracing::info!(
                loaded = report.loaded.len(),
                failed = report.errors.len(),
                "pipes reloaded (SIGHUP)"
            ),
            Err(e) => tracing::error!(error = %e, "cannot read the pipes folder"),
        }
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler cannot fail");
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
