//! The database: a pool to PostgreSQL (an external server from `database.url`, or
//! the embedded cluster), migrations, and readiness.

pub mod backup;
pub mod binaries;
pub mod components;
pub mod embedded;
pub mod roles;

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};

use crate::config::Config;
use embedded::EmbeddedCluster;

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// How long start-up waits for PostgreSQL to accept connections.
const CONNECT_PATIENCE: Duration = Duration::from_secs(30);
/// How often the embedded postmaster is checked.
const SUPERVISE_EVERY: Duration = Duration::from_secs(1);

/// The pools, plus the embedded cluster when we run one (stopped by [`Database::close`]).
#[derive(Clone)]
pub struct Database {
    /// Reads and writes (ingest, tokens, migrations).
    pub pool: PgPool,
    /// Pipes: every session is `default_transaction_read_only`, so a pipe runs as
    /// one read-only statement without BEGIN/COMMIT round trips.
    pub read_pool: PgPool,
    cluster: Option<Arc<EmbeddedCluster>>,
    /// Restarts the embedded cluster when its postmaster dies.
    supervisor: Option<Arc<tokio::task::AbortHandle>>,
    /// True once [`roles::WRITER`] is set up: ingest transactions take it.
    writer_role: bool,
}

/// Ingestion's connections (src/ingest): the read-write pool, each ingest
/// transaction taking [`roles::WRITER`] when the database has it.
#[derive(Clone)]
pub struct Writer {
    pool: PgPool,
    begin: &'static str,
}

impl Writer {
    /// Ingestion through `pool`, as the writer role (which the server makes
    /// at start, [`Database::use_roles`]) or as the pool's own user.
    pub fn new(pool: PgPool, as_writer_role: bool) -> Self {
        let begin = if as_writer_role {
            roles::WRITER_BEGIN
        } else {
            "BEGIN"
        };
        Writer { pool, begin }
    }

    /// An ingest transaction, as the writer role when there is one.
    pub async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        self.pool.begin_with(self.begin).await
    }

    /// The service's own connections, for what follows ingestion and writes
    /// the derived state (compaction, the maintainer's drain).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Back to the service's own user inside an ingest transaction, for a bulk
/// load's wholesale recomputation of the derived state (a no-op when the
/// transaction took no role).
pub async fn leave_writer_role(conn: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SET LOCAL ROLE NONE").execute(conn).await?;
    Ok(())
}

impl Database {
    /// Connects to the configured server, or starts the embedded cluster and
    /// connects to it. Does not migrate.
    pub async fn open(config: &Config) -> anyhow::Result<Self> {
        let (options, cluster) = match config.database.external_url() {
            Some(url) => (
                PgConnectOptions::from_str(url)
                    .context("database.url is not a valid PostgreSQL URL")?,
                None,
            ),
            None => {
                let data_dir = config.data_dir.clone();
                let embedded = config.database.embedded.clone();
                let cluster = tokio::task::spawn_blocking(move || {
                    EmbeddedCluster::start(&data_dir, &embedded)
                })
                .await??;
                create_database_if_missing(&cluster, embedded::ROLE).await?;
                (
                    cluster.connect_options(embedded::ROLE),
                    Some(Arc::new(cluster)),
                )
            }
        };
        let read_pool = build_pool(config, options.clone(), true);
        let pool = pool(config, options).await?;
        let supervisor = cluster.clone().map(|c| Arc::new(supervise(c)));
        Ok(Database {
            pool,
            read_pool,
            cluster,
            supervisor,
            writer_role: false,
        })
    }

    /// Ingestion's connections: as [`roles::WRITER`] after [`Self::use_roles`]
    /// set it up, else as the configured user.
    pub fn writer(&self) -> Writer {
        Writer::new(self.pool.clone(), self.writer_role)
    }

    /// Makes pipes run as [`roles::READER`] and ingestion as
    /// [`roles::WRITER`] (after the migrations, which create the tables they
    /// are granted): the read pool, which has opened no connection yet, is
    /// rebuilt to log in as the reader (embedded) or take it at connection
    /// start (`DATABASE_URL`), and [`Self::writer`] begins its transactions
    /// with the writer role. Unchanged when the roles cannot be made.
    pub async fn use_roles(&mut self, config: &Config) -> anyhow::Result<()> {
        match roles::apply(&self.pool).await {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            // A user that owns the tables but may not grant on the database
            // (an external server): pipes keep running as that user.
            Err(e) => {
                tracing::warn!(error = %e, "cannot set up the roles of pipes and ingestion; both run as the configured user");
                return Ok(());
            }
        }
        self.writer_role = true;
        let options = match (&self.cluster, config.database.external_url()) {
            (Some(cluster), _) => cluster
                .connect_options(embedded::ROLE)
                .username(roles::READER),
            (None, Some(url)) => {
                PgConnectOptions::from_str(url)?.options([("role", roles::READER)])
            }
            (None, None) => unreachable!("without database.url the embedded cluster runs"),
        };
        self.read_pool.close().await;
        self.read_pool = build_pool(config, options, true);
        Ok(())
    }

    /// A libpq URL of the database, for PostgreSQL's own tools.
    pub fn tool_url(&self, config: &Config) -> String {
        match (&self.cluster, config.database.external_url()) {
            (Some(cluster), _) => cluster.url(embedded::ROLE),
            (None, Some(url)) => url.to_string(),
            (None, None) => unreachable!("without database.url the embedded cluster runs"),
        }
    }

    /// For one-off commands: stops the embedded cluster only if this process
    /// started it (a running server's cluster is left alone).
    pub async fn close_if_started_here(mut self) {
        if self.cluster.as_ref().is_some_and(|c| !c.started_here) {
            self.cluster = None;
        }
        self.close().await;
    }

    /// Closes the pool, then stops the embedded cluster if there is one.
    pub async fn close(self) {
        if let Some(supervisor) = &self.supervisor {
            supervisor.abort();
        }
        self.pool.close().await;
        self.read_pool.close().await;
        if let Some(cluster) = self.cluster {
            let stopped = tokio::task::spawn_blocking(move || cluster.stop()).await;
            match stopped {
                Ok(Ok(())) => tracing::info!("embedded PostgreSQL stopped"),
                Ok(Err(e)) => tracing::error!(error = %e, "could not stop the embedded PostgreSQL"),
                Err(e) => tracing::error!(error = %e, "could not stop the embedded PostgreSQL"),
            }
        }
    }
}

/// Checks every second that the embedded postmaster lives and starts the
/// cluster again when it died: the server then recovers from a crash of its
/// database by itself (the pools replace their dead connections).
fn supervise(cluster: Arc<EmbeddedCluster>) -> tokio::task::AbortHandle {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SUPERVISE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let cluster = cluster.clone();
            match tokio::task::spawn_blocking(move || cluster.restart_if_dead()).await {
                Ok(Ok(true)) => tracing::warn!("embedded PostgreSQL restarted after a crash"),
                Ok(Ok(false)) => {}
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "cannot restart the embedded PostgreSQL; retrying")
                }
                Err(e) => tracing::error!(error = %e, "the PostgreSQL supervisor failed"),
            }
        }
    })
    .abort_handle()
}

/// A lazily connecting pool; read-only sessions also get the statement timeout.
fn build_pool(config: &Config, options: PgConnectOptions, read_only: bool) -> PgPool {
    let db = &config.database;
    // UTC sessions: dates and periods are computed in UTC whatever the server's TimeZone.
    let mut settings = vec![
        ("TimeZone", "UTC".to_string()),
        ("work_mem", db.work_mem.clone()),
        // JIT compiles any plan whose estimated cost is high, and a pipe's plan
        // estimates the branch that its one-time filter skips: measured at 1M
        // customers, customer_ltv spent 920 ms compiling a 5 ms query.
        ("jit", "off".to_string()),
    ];
    // Only pipe queries (the read-only sessions) are cut off by
    // database.statement_timeout_ms. A write grows with its batch and with the
    // data stored (a 10,000-row NDJSON batch at a million customers takes
    // longer than the 10 s default, and cutting it off would fail every retry
    // the same way), a migration that moves data longer still: those are
    // bounded by the HTTP timeouts (a request cut off rolls its transaction
    // back), forecast.fit_timeout_secs, or run to the end (migrations, the
    // rollups commands).
    if read_only {
        settings.push(("statement_timeout", db.statement_timeout_ms.to_string()));
        settings.push(("default_transaction_read_only", "on".to_string()));
        // A pipe's statement is prepared once per connection, and from its
        // sixth execution PostgreSQL may switch to a generic plan, made
        // without the parameters' values: every branch a parameter skips
        // (the default page, the profile or the cube answering as_of) is then
        // planned as if it ran. Measured at 1M customers: ltv_forecast's
        // default call 10-15 ms for five calls, then 345-920 ms. Planning
        // each call with its values costs a few milliseconds.
        settings.push(("plan_cache_mode", "force_custom_plan".to_string()));
    }
    let options = options
        .application_name("ltv-pipes")
        .options(settings)
        .log_statements(tracing::log::LevelFilter::Trace)
        // A bulk load's recomputation or a fit legitimately runs for seconds:
        // sqlx's default would print each one's whole SQL text as a warning.
        .log_slow_statements(tracing::log::LevelFilter::Debug, Duration::from_secs(1));
    PgPoolOptions::new()
        .max_connections(db.max_connections.max(1))
        .acquire_timeout(Duration::from_secs(db.acquire_timeout_secs.max(1)))
        // A connection killed by a PostgreSQL restart is noticed here and replaced,
        // so the server recovers without a restart of its own.
        .test_before_acquire(true)
        .connect_lazy_with(options)
}

/// Builds the read-write pool and waits (bounded) until PostgreSQL answers.
pub async fn pool(config: &Config, options: PgConnectOptions) -> anyhow::Result<PgPool> {
    let pool = build_pool(config, options, false);
    let started = Instant::now();
    loop {
        match sqlx::query("SELECT 1").execute(&pool).await {
            Ok(_) => return Ok(pool),
            Err(e) if started.elapsed() < CONNECT_PATIENCE => {
                tracing::warn!(error = %e, "PostgreSQL is not answering yet; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e).context("cannot connect to PostgreSQL"),
        }
    }
}

async fn create_database_if_missing(cluster: &EmbeddedCluster, name: &str) -> anyhow::Result<()> {
    // An adopted cluster may still be recovering from a crash of one of its
    // backends ("the database system is in recovery mode"): wait for it.
    let started = Instant::now();
    let mut conn = loop {
        match cluster.connect_options("postgres").connect().await {
            Ok(conn) => break conn,
            Err(e) if started.elapsed() < CONNECT_PATIENCE => {
                tracing::warn!(error = %e, "the embedded PostgreSQL is not answering yet; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e).context("cannot connect to the embedded PostgreSQL"),
        }
    };
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        // An identifier cannot be a bind parameter; `name` is our own constant.
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await?;
    }
    Ok(())
}

/// Applies every pending migration, then the SQL components that changed,
/// then recomputes the derived tables a migration emptied.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    refuse_pre_baseline_schema(pool).await?;
    MIGRATOR.run(pool).await.context("migrations failed")?;
    components::apply(pool).await?;
    crate::rollups::rebuild_stale(pool)
        .await
        .context("cannot recompute the derived tables a migration emptied")
}

/// Databases made before the migrations were squashed into one baseline
/// (unreleased development versions, whose first migration was
/// `0001_datasources`) cannot be upgraded in place: say so plainly instead of
/// sqlx's "previously applied but has been modified".
async fn refuse_pre_baseline_schema(pool: &PgPool) -> anyhow::Result<()> {
    let tracked: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(pool)
        .await?;
    if !tracked {
        return Ok(());
    }
    let old: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM _sqlx_migrations WHERE version = 1 AND description = 'datasources')",
    )
    .fetch_one(pool)
    .await?;
    if old {
        anyhow::bail!(
            "this database was created by a development version of ltv-pipes from before the schema \
             baseline (migrations/README.md) and cannot be upgraded in place: start with an empty \
             data directory (or database) and load the data again"
        );
    }
    Ok(())
}

/// True when PostgreSQL answers and every migration and SQL component this
/// build knows is applied.
pub async fn is_ready(pool: &PgPool) -> bool {
    let Some(latest) = MIGRATOR.iter().map(|m| m.version).max() else {
        return true;
    };
    let applied: Result<Option<i64>, _> =
        sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(pool)
            .await;
    matches!(applied, Ok(Some(v)) if v >= latest) && components::applied(pool).await
}
