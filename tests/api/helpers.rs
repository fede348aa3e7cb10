//! The test harness: one throwaway PostgreSQL per test run (the app's own embedded
//! cluster code, or `DATABASE_URL` when set), a fresh database per test, and the
//! app on a random port, spoken to over HTTP.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ltv_pipes::app::Application;
use ltv_pipes::config::{Config, EmbeddedConfig};
use ltv_pipes::db::embedded::EmbeddedCluster;
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::{Connection, PgConnection, PgPool};

pub const ADMIN_TOKEN: &str = "test-admin-token";

/// The CLV pipes of docs/METRICS.md (the forecast aside).
pub const CLV_PIPES: &[&str] = &[
    "customer_ltv",
    "ltv_by_cohort",
    "customer_retention_analysis",
    "customer_segmentation",
    "customer_segmentation_summary",
    "ltv_influencing_factors",
    "ltv_overview",
];

/// Where test databases are created: a server URL without the database part.
struct Server {
    /// `postgres://…/{db}…` with `{db}` to fill in.
    url_template: String,
}

static SERVER: OnceLock<Server> = OnceLock::new();

fn server() -> &'static Server {
    SERVER.get_or_init(|| match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => Server {
            url_template: replace_db(&url),
        },
        _ => {
            let cluster = start_cluster(&scratch_dir("cluster"));
            let url_template = cluster.url("{db}");
            // Statics are never dropped: the watchdog stops the cluster when we exit.
            std::mem::forget(cluster);
            Server { url_template }
        }
    })
}

/// Starts an embedded cluster in `dir`, tuned for tests, stopped by a watchdog
/// process when this test process exits however it exits.
pub fn start_cluster(dir: &Path) -> EmbeddedCluster {
    let cfg = EmbeddedConfig {
        bin_dir: String::new(),
        os_user: String::new(),
        shared_buffers: "64MB".into(),
        effective_cache_size: "auto".into(),
        maintenance_work_mem: "64MB".into(),
        max_wal_size: "1GB".into(),
        checkpoint_timeout: "5min".into(),
        settings: vec![
            "fsync = off".into(),
            "synchronous_commit = off".into(),
            "full_page_writes = off".into(),
            "max_connections = 300".into(),
        ],
    };
    let cluster = EmbeddedCluster::start(dir, &cfg).expect("start the test PostgreSQL");
    watchdog(cluster.pgdata(), dir);
    cluster
}

/// The watchdog outlives us on purpose: it is never waited for.
#[allow(clippy::zombie_processes)]
fn watchdog(pgdata: &Path, dir: &Path) {
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
         kill -QUIT $(head -1 '{pgdata}/postmaster.pid' 2>/dev/null) 2>/dev/null; sleep 2; rm -rf '{dir}'",
        pid = std::process::id(),
        pgdata = pgdata.display(),
        dir = dir.display()
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the cluster watchdog");
}

/// A fresh directory under the system temp dir (reachable by the PostgreSQL OS user).
pub fn scratch_dir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "ltv-test-{}-{what}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn replace_db(url: &str) -> String {
    let mut parsed = url::Url::parse(url).expect("DATABASE_URL is a URL");
    parsed.set_path("/{db}");
    parsed.to_string().replace("%7Bdb%7D", "{db}")
}

/// Creates an empty database and returns its URL.
pub async fn fresh_database() -> String {
    let server = server();
    let admin_url = server.url_template.replace("{db}", "postgres");
    let mut conn = PgConnection::connect(&admin_url)
        .await
        .expect("connect to the test server");
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.ok();
    server.url_template.replace("{db}", &name)
}

pub fn test_config(database_url: &str, data_dir: &Path, extra: &[(&str, &str)]) -> Config {
    let mut env = vec![
        ("DATABASE_URL".to_string(), database_url.to_string()),
        ("LTV_LISTEN".into(), "127.0.0.1:0".into()),
        ("LTV_DATA_DIR".into(), data_dir.display().to_string()),
        ("LTV_AUTH__ADMIN_TOKEN".into(), ADMIN_TOKEN.into()),
        ("LTV_DATABASE__ACQUIRE_TIMEOUT_SECS".into(), "2".into()),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Config::load_with_env(None, env).expect("test config")
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub pool: PgPool,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// The app on a fresh database with extra settings as environment pairs.
    pub async fn spawn_with(extra: &[(&str, &str)]) -> Self {
        let url = fresh_database().await;
        Self::spawn_on(&url, extra).await
    }

    pub async fn spawn_on(database_url: &str, extra: &[(&str, &str)]) -> Self {
        if std::env::var_os("TEST_LOG").is_some() {
            ltv_pipes::telemetry::init(&ltv_pipes::config::LogConfig {
                format: ltv_pipes::config::LogFormat::Text,
                level: "info".into(),
            });
        }
        let data_dir = scratch_dir("data");
        let config = test_config(database_url, &data_dir, extra);
        let app = Application::build(config).await.expect("build the app");
        let base = format!("http://{}", app.local_addr());
        let pool = app.pool().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run_until(async {
            let _ = stopped.await;
        }));
        TestApp {
            base,
            client: reqwest::Client::new(),
            pool,
            stop: Some(stop),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// POST /v0/events with the admin token and `wait=true` (200 once the rows
    /// are visible in every pipe); returns status and JSON body.
    pub async fn post_events(
        &self,
        datasource: &str,
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, Value) {
        let resp = self
            .client
            .post(self.url(&format!("/v0/events?name={datasource}&wait=true")))
            .bearer_auth(ADMIN_TOKEN)
            .body(body)
            .send()
            .await
            .expect("request");
        split(resp).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let resp = self
            .client
            .get(self.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("request");
        split(resp).await
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&self.pool)
            .await
            .expect("count query")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Status and JSON body; a body that is not JSON fails the test.
pub async fn split(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let text = resp.text().await.expect("body");
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("body is not JSON ({status}): {text}"));
    (status, json)
}

/// The release/debug binary under test, run as a separate process.
pub struct ServerProcess {
    pub child: Child,
    pub base: String,
}

impl ServerProcess {
    pub fn start(env: &[(&str, String)]) -> Self {
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ltv-pipes"));
        cmd.arg("serve")
            .env_remove("DATABASE_URL")
            .env("LTV_LISTEN", format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(if std::env::var_os("TEST_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            });
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn ltv-pipes");
        ServerProcess {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Waits until /ready answers 200 (or panics after `patience`).
    pub async fn wait_ready(&mut self, patience: Duration) {
        let started = Instant::now();
        let client = reqwest::Client::new();
        loop {
            if let Ok(resp) = client.get(format!("{}/ready", self.base)).send().await {
                if resp.status() == StatusCode::OK {
                    return;
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("ltv-pipes exited before it was ready: {status}");
            }
            assert!(
                started.elapsed() < patience,
                "ltv-pipes not ready after {patience:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), signal).unwrap();
    }

    /// Waits for the process to exit and returns its status.
    pub fn wait(&mut self, patience: Duration) -> std::process::ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                started.elapsed() < patience,
                "ltv-pipes did not exit within {patience:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Every derived table equals its recomputation from the raw tables
/// (`ltv-pipes rollups verify`); panics with the differing rows otherwise.
pub async fn assert_derived_exact(pool: &sqlx::PgPool, context: &str) {
    let report = ltv_pipes::rollups::verify(pool).await.expect("verify runs");
    let diffs: Vec<String> = report
        .differences()
        .map(|d| format!("{} {:?} {}", d.table, d.side, d.row))
        .collect();
    assert!(
        report.is_clean(),
        "{context}: derived state drifted:\n{}",
        diffs.join("\n")
    );
}

/// Runs the built `ltv-pipes` binary with `args` against `database_url`, in
/// a scratch directory (no config file of the checkout is read).
pub async fn run_cli(database_url: &str, args: &[&str]) -> std::process::Output {
    let dir = scratch_dir("cli");
    // Async: the test's server runs on the same runtime, and a blocked runtime
    // could hold a lock the command waits for (a maintainer pass).
    tokio::process::Command::new(env!("CARGO_BIN_EXE_ltv-pipes"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("LTV_DATA_DIR", &dir)
        .env_remove("LTV_CONFIG")
        .current_dir(&dir)
        .output()
        .await
        .expect("run ltv-pipes")
}
