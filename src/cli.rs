//! The command line: `serve` (the default), `migrate`, `token create|revoke`,
//! `check`, `forecast fit`, `demo`, `rollups verify|refresh`, `health`,
//! `backup`, `restore`.

use std::path::PathBuf;

use chrono::{Duration, Utc};
use clap::{Parser, Subcommand};

use crate::app::{shutdown_signal, Application};
use crate::auth::{self, Scope};
use crate::config::Config;
use crate::db::{self, Database};
use crate::forecasting::ForecastService;
use crate::{pipes, telemetry};

#[derive(Parser)]
#[command(
    name = "ltv-pipes",
    version,
    about = "Customer-lifetime-value analytics API (Tinybird Events and Pipes compatible)"
)]
pub struct Cli {
    /// Settings file; its values override the built-in defaults of config.yml.
    #[arg(long, global = true, env = "LTV_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// The BG/NBD + Gamma-Gamma forecast.
    #[command(subcommand)]
    Forecast(ForecastCommand),
    /// The derived state (rollups and cubes) the pipes read.
    #[command(subcommand)]
    Rollups(RollupsCommand),
    /// Load deterministic demo data (customers registering over three years,
    /// BG/NBD purchases, gamma spend, refunds, interactions) through the bulk path.
    Demo {
        /// Customers to generate (each brings ~9 transactions and ~4 interactions).
        #[arg(long, default_value_t = 10_000)]
        customers: u64,
        /// The same seed gives the same data.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Check every pipe file (parse, template, parameters) and, when DATABASE_URL
    /// (database.url) is set, have PostgreSQL plan each one. Exits 1 on any problem.
    Check {
        /// The folder of .pipe files (default: pipes.dir).
        dir: Option<PathBuf>,
    },
    /// Write a consistent dump of the whole database (raw rows, derived
    /// state, tokens, forecast fits) to a file, with pg_dump.
    Backup {
        /// The dump file to write (PostgreSQL's custom format).
        #[arg(long)]
        output: PathBuf,
    },
    /// Restore a dump made by `backup` into an empty database (a new data
    /// directory, or an empty DATABASE_URL), in one transaction, then migrate.
    Restore {
        /// The dump file written by `backup`.
        #[arg(long)]
        input: PathBuf,
    },
    /// Ask the server at `listen` (0.0.0.0 and :: are asked on loopback) for
    /// GET /health; exit 0 when it answers 200 within 3 s, else 1. Needs
    /// nothing but this binary: the container image's HEALTHCHECK.
    Health,
}

#[derive(Subcommand)]
enum ForecastCommand {
    /// Fit the models and print the parameters and diagnostics. Without --as-of: a
    /// new fit on the latest data (what ltv_forecast serves); with it: the fit of
    /// that past date (reused when it already exists, like a request's as_of).
    Fit {
        /// Point of view (YYYY-MM-DD, before today).
        #[arg(long)]
        as_of: Option<chrono::NaiveDate>,
    },
}

#[derive(Subcommand)]
enum RollupsCommand {
    /// Recompute every derived table from the raw tables and print each
    /// difference. Exits 1 when any table differs.
    Verify,
    /// Replace every derived table with its recomputation from the raw tables:
    /// run it after writing rows straight into the raw tables (psql, COPY).
    /// Writers wait while it runs; readers see the old state until it commits.
    Refresh,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token and print it (the only time it is shown).
    Create {
        /// A scope: ADMIN, DATASOURCES:APPEND:<name>, DATASOURCES:READ:<name>, PIPES:READ:<name> (* = any name). Repeatable.
        #[arg(long = "scope", required = true, value_parser = parse_scope)]
        scopes: Vec<Scope>,
        /// A unique name to find the token by later.
        #[arg(long)]
        name: Option<String>,
        /// Days until the token expires (default: never).
        #[arg(long)]
        expires_in_days: Option<u32>,
        /// Requests per second this token may make (default: auth.rate_limit_rps).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        rps: Option<u32>,
    },
    /// Revoke a token by name.
    Revoke { name: String },
    /// Sign a JWT for a user-facing embed (no database involved): it reads
    /// the given pipes, with parameters fixed by the server whatever the
    /// caller sends. Signed with auth.jwt_secret (or <data_dir>/jwt_secret).
    Jwt {
        /// A pipe the token may read. Repeatable.
        #[arg(long = "pipe", required = true)]
        pipes: Vec<String>,
        /// name=value: a parameter fixed for every pipe above. Repeatable.
        #[arg(long = "fixed-param", value_parser = parse_fixed_param)]
        fixed: Vec<(String, String)>,
        /// Seconds until the token expires.
        #[arg(long, default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(1..))]
        expires_in_secs: u64,
        /// Requests per second this token may make (default: auth.rate_limit_rps).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        rps: Option<u32>,
        /// A name carried in the token (for logs and your own bookkeeping).
        #[arg(long, default_value = "embed")]
        name: String,
    },
}

fn parse_fixed_param(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_string(), value.to_string()))
        }
        _ => Err(format!("'{s}' is not name=value")),
    }
}

fn parse_scope(s: &str) -> Result<Scope, String> {
    s.parse()
}

pub async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // `--config` names a file that must exist; without it ./config.yml is read if present.
    let file = cli.config.clone().or_else(|| {
        let local = PathBuf::from("config.yml");
        local.exists().then_some(local)
    });
    let config = Config::load(file.as_deref())?;
    telemetry::init(&config.log);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            Application::build(config)
                .await?
                .run_until(shutdown_signal())
                .await
        }
        Command::Migrate => with_db(&config, |_| async { Ok(()) }).await,
        Command::Token(cmd) => token(&config, cmd).await,
        Command::Check { dir } => check(&config, dir).await,
        Command::Health => crate::health::probe(config.listen),
        Command::Backup { output } => backup(&config, output).await,
        Command::Restore { input } => restore(&config, input).await,
        Command::Demo { customers, seed } => demo(&config, customers, seed).await,
        Command::Forecast(ForecastCommand::Fit { as_of }) => forecast_fit(&config, as_of).await,
        Command::Rollups(RollupsCommand::Verify) => rollups_verify(&config).await,
        Command::Rollups(RollupsCommand::Refresh) => rollups_refresh(&config).await,
    }
}

async fn rollups_refresh(config: &Config) -> anyhow::Result<()> {
    with_db(config, |pool| async move {
        let started = std::time::Instant::now();
        crate::rollups::refresh(&pool).await?;
        println!(
            "every derived table recomputed from the raw tables in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        Ok(())
    })
    .await
}

async fn rollups_verify(config: &Config) -> anyhow::Result<()> {
    with_db(config, |pool| async move {
        let report = crate::rollups::verify(&pool).await?;
        for t in &report.tables {
            let verdict = match t.differences {
                0 => "ok".to_string(),
                n => format!("{n} differing row(s)"),
            };
            println!("{:>24}: {:>10} rows, {verdict}", t.table, t.rows);
        }
        for d in report.differences() {
            let side = match d.side {
                crate::rollups::verify::Side::Extra => "stored, not recomputed",
                crate::rollups::verify::Side::Missing => "recomputed, not stored",
            };
            println!("{} ({side}): {}", d.table, d.row);
        }
        if report.queued > 0 {
            println!(
                "{} written row(s) were still queued for the maintainer in the snapshot compared \
                 (writes never paused): verify again when they do",
                report.queued
            );
        }
        if report.is_clean() {
            println!("every derived table equals its recomputation from the raw tables");
            Ok(())
        } else {
            anyhow::bail!("the derived state differs from the raw tables (rows above)")
        }
    })
    .await
}

async fn forecast_fit(config: &Config, as_of: Option<chrono::NaiveDate>) -> anyhow::Result<()> {
    let settings = config.forecast.clone();
    with_db(config, |pool| async move {
        let service = ForecastService::new(pool, settings);
        let started = std::time::Instant::now();
        let progress = move |line: &str| {
            eprintln!("[{:6.1}s] {line}", started.elapsed().as_secs_f64());
        };
        let fit = match as_of {
            Some(day) => service.ensure_pinned(day, &progress).await?,
            None => service.refit_current(&progress).await?,
        };
        let Some(fit) = fit else {
            anyhow::bail!("nothing to fit: no purchase is stored up to the as_of");
        };
        println!("fit {} ({}), as_of {}, fitted_at {}", fit.id, fit.kind, fit.as_of, fit.fitted_at);
        println!(
            "data: {} customers ({} unique histories), {} repeat buyers with spend; purchase days {} .. {}",
            fit.n_customers,
            fit.n_unique,
            fit.n_spend_customers,
            fit.data_min_day.map(|d| d.to_string()).unwrap_or_default(),
            fit.data_max_day.map(|d| d.to_string()).unwrap_or_default()
        );
        println!(
            "BG/NBD:      r = {:.6}  alpha = {:.6}  a = {:.6}  b = {:.6}  log-likelihood = {:.4}",
            fit.bgnbd.r, fit.bgnbd.alpha, fit.bgnbd.a, fit.bgnbd.b, fit.log_likelihood
        );
        println!(
            "Gamma-Gamma: p = {:.6}  q = {:.6}  gamma = {:.6}  log-likelihood = {:.4}",
            fit.gamma_gamma.p, fit.gamma_gamma.q, fit.gamma_gamma.gamma, fit.gg_log_likelihood
        );
        println!(
            "converged: {}, iterations: {}, fit time: {} ms; {}",
            fit.converged, fit.iterations, fit.fit_ms, fit.message
        );
        Ok(())
    })
    .await
}

async fn demo(config: &Config, customers: u64, seed: u64) -> anyhow::Result<()> {
    use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
    anyhow::ensure!(customers > 0, "--customers must be at least 1");
    with_database(config, |database| async move {
        let bars = MultiProgress::new();
        let style = ProgressStyle::with_template(
            "{prefix:>22} [{bar:30}] {pos}/{len} customers {per_sec} ({eta})",
        )?
        .progress_chars("=> ");
        let bar = |name: &str| {
            let b = bars.add(ProgressBar::new(customers));
            b.set_style(style.clone());
            b.set_prefix(name.to_string());
            b
        };
        let all = [
            bar("customers"),
            bar("transactions"),
            bar("customer_interactions"),
        ];
        let progress = {
            let all = all.clone();
            move |ds: crate::ingest::Datasource, done: u64| {
                let i = crate::ingest::Datasource::ALL
                    .iter()
                    .position(|d| *d == ds)
                    .unwrap_or(0);
                all[i].set_position(done);
            }
        };
        let spec = crate::demo::Spec::new(customers, seed);
        let passes = crate::demo::load(&database.writer(), spec, progress).await?;
        for b in &all {
            b.finish();
        }
        for p in passes {
            println!(
                "{:>22}: {} rows in {:.1} s ({:.0} rows/s), {} quarantined",
                p.datasource.name(),
                p.report.rows,
                p.seconds,
                p.report.rows as f64 / p.seconds.max(1e-9),
                p.report.quarantined_rows
            );
        }
        println!(
            "demo data loaded (seed {seed}, events up to {})",
            crate::demo::generate::DEFAULT_END
        );
        Ok(())
    })
    .await
}

async fn check(config: &Config, dir: Option<PathBuf>) -> anyhow::Result<()> {
    let dir = dir.unwrap_or_else(|| config.pipes.dir.clone());
    let pool = match config.database.external_url() {
        Some(_) => {
            let database = Database::open(config).await?;
            db::migrate(&database.pool).await?;
            Some(database.pool)
        }
        None => None,
    };
    let (ok, problems) = pipes::check::check_dir(&dir, pool.as_ref()).await?;
    for p in &problems {
        eprintln!("{p}");
    }
    let planned = if pool.is_some() {
        ", planned by PostgreSQL"
    } else {
        " (set DATABASE_URL to have PostgreSQL plan them too)"
    };
    println!("{ok} pipe(s) OK{planned}; {} problem(s)", problems.len());
    if problems.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("{} pipe problem(s) in {}", problems.len(), dir.display())
    }
}

/// Opens (and migrates) the database, runs `f`, then closes it again, stopping the
/// embedded cluster only if this command started it.
async fn backup(config: &Config, output: PathBuf) -> anyhow::Result<()> {
    let database = Database::open(config).await?;
    let url = database.tool_url(config);
    let bin_dir = config.database.embedded.bin_dir.clone();
    let started = std::time::Instant::now();
    let file = output.clone();
    let dumped =
        tokio::task::spawn_blocking(move || db::backup::dump(&bin_dir, &url, &file)).await?;
    database.close_if_started_here().await;
    dumped?;
    let bytes = std::fs::metadata(&output).map(|m| m.len()).unwrap_or(0);
    println!(
        "backup written to {} ({bytes} bytes) in {:.1} s",
        output.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn restore(config: &Config, input: PathBuf) -> anyhow::Result<()> {
    let database = Database::open(config).await?;
    let restored = async {
        db::backup::ensure_empty(&database.pool).await?;
        let url = database.tool_url(config);
        let bin_dir = config.database.embedded.bin_dir.clone();
        let file = input.clone();
        tokio::task::spawn_blocking(move || db::backup::restore(&bin_dir, &url, &file)).await??;
        // A dump of an older version is brought up to this one.
        db::migrate(&database.pool).await
    }
    .await;
    database.close_if_started_here().await;
    restored?;
    println!(
        "restored {}; `ltv-pipes rollups verify` proves the derived state exact",
        input.display()
    );
    Ok(())
}

async fn with_db<F, Fut>(config: &Config, f: F) -> anyhow::Result<()>
where
    F: FnOnce(sqlx::PgPool) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    with_database(config, |database| f(database.pool.clone())).await
}

/// Opens and migrates the database and sets up its roles (so `migrate`
/// creates them too), runs `f`, then stops an embedded cluster started here.
async fn with_database<F, Fut>(config: &Config, f: F) -> anyhow::Result<()>
where
    F: FnOnce(Database) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut database = Database::open(config).await?;
    db::migrate(&database.pool).await?;
    database.use_roles(config).await?;
    let result = f(database.clone()).await;
    database.close_if_started_here().await;
    result
}

fn sign_jwt(config: &Config, cmd: TokenCommand) -> anyhow::Result<()> {
    let TokenCommand::Jwt {
        pipes,
        fixed,
        expires_in_secs,
        rps,
        name,
    } = cmd
    else {
        unreachable!("only called for `token jwt`");
    };
    let fixed: std::collections::BTreeMap<String, serde_json::Value> = fixed
        .into_iter()
        .map(|(k, v)| (k, serde_json::Value::String(v)))
        .collect();
    let claims = auth::jwt::Claims {
        name,
        exp: Utc::now().timestamp() + i64::try_from(expires_in_secs)?,
        scopes: pipes
            .into_iter()
            .map(|pipe| auth::jwt::JwtScope {
                kind: "PIPES:READ".into(),
                resource: pipe,
                fixed_params: fixed.clone(),
            })
            .collect(),
        limits: rps.map(|rps| auth::jwt::Limits { rps: Some(rps) }),
    };
    let key = auth::jwt::signing_key(config.auth.fixed_jwt_secret(), &config.data_dir)?;
    println!("{}", auth::jwt::sign(&key, &claims)?);
    Ok(())
}

async fn token(config: &Config, cmd: TokenCommand) -> anyhow::Result<()> {
    if matches!(cmd, TokenCommand::Jwt { .. }) {
        return sign_jwt(config, cmd);
    }
    with_db(config, |pool| async move {
        match cmd {
            TokenCommand::Create {
                scopes,
                name,
                expires_in_days,
                rps,
            } => {
                let new = auth::NewToken {
                    name: name.as_deref(),
                    scopes: &scopes,
                    expires_at: expires_in_days.map(|d| Utc::now() + Duration::days(d.into())),
                    rate_limit_rps: rps,
                };
                let token = auth::create_with(&pool, new).await?;
                println!("{token}");
            }
            TokenCommand::Revoke { name } => {
                if !auth::revoke(&pool, &name).await? {
                    anyhow::bail!("no live token named '{name}'");
                }
                println!("revoked {name}");
            }
            TokenCommand::Jwt { .. } => unreachable!("signed without the database"),
        }
        Ok(())
    })
    .await
}
