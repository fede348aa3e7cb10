//! The command line: `serve` (the default), `migrate`, `token create|revoke`.

use std::path::PathBuf;

use chrono::{Duration, Utc};
use clap::{Parser, Subcommand};

use crate::app::{shutdown_signal, Application};
use crate::auth::{self, Scope};
use crate::config::Config;
use crate::db::{self, Database};
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
    /// Check every pipe file (parse, template, parameters) and, when DATABASE_URL
    /// (database.url) is set, have PostgreSQL plan each one. Exits 1 on any problem.
    Check {
        /// The folder of .pipe files (default: pipes.dir).
        dir: Option<PathBuf>,
    },
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
    },
    /// Revoke a token by name.
    Revoke { name: String },
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
    }
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
async fn with_db<F, Fut>(config: &Config, f: F) -> anyhow::Result<()>
where
    F: FnOnce(sqlx::PgPool) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let database = Database::open(config).await?;
    db::migrate(&database.pool).await?;
    let result = f(database.pool.clone()).await;
    database.close_if_started_here().await;
    result
}

async fn token(config: &Config, cmd: TokenCommand) -> anyhow::Result<()> {
    with_db(config, |pool| async move {
        match cmd {
            TokenCommand::Create {
                scopes,
                name,
                expires_in_days,
            } => {
                let expires = expires_in_days.map(|d| Utc::now() + Duration::days(d.into()));
                let token = auth::create(&pool, name.as_deref(), &scopes, expires).await?;
                println!("{token}");
            }
            TokenCommand::Revoke { name } => {
                if !auth::revoke(&pool, &name).await? {
                    anyhow::bail!("no live token named '{name}'");
                }
                println!("revoked {name}");
            }
        }
        Ok(())
    })
    .await
}
