//! Shared by the benchmark programs: a server on a fresh embedded PostgreSQL
//! (durable default settings) and percentile arithmetic.

#![allow(dead_code)]

pub mod questions;

use std::time::Duration;

use ltv_pipes::app::Application;
use ltv_pipes::config::Config;

pub const TOKEN: &str = "bench-admin-token";

pub struct Server {
    pub base: String,
    pub pool: sqlx::PgPool,
    stop: tokio::sync::oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
    /// The cluster's directory: removed on drop unless `BENCH_DATA_DIR` chose it.
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    /// Starts the app with its own embedded cluster; `extra` are env-style settings.
    pub async fn start(extra: &[(&str, String)]) -> anyhow::Result<Self> {
        let (dir, path) = match std::env::var("BENCH_DATA_DIR") {
            Ok(kept) => (None, std::path::PathBuf::from(kept)),
            Err(_) => {
                let dir = tempfile::Builder::new()
                    .prefix("ltv-bench-")
                    .tempdir_in("/tmp")?;
                let path = dir.path().to_path_buf();
                (Some(dir), path)
            }
        };
        let mut env = vec![
            ("LTV_DATA_DIR".to_string(), path.display().to_string()),
            ("LTV_LISTEN".into(), "127.0.0.1:0".into()),
            ("LTV_AUTH__ADMIN_TOKEN".into(), TOKEN.into()),
            ("LTV_DATABASE__MAX_CONNECTIONS".into(), "16".into()),
        ];
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
        let app = Application::build(Config::load_with_env(None, env)?).await?;
        let base = format!("http://{}", app.local_addr());
        let pool = app.pool().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(app.run_until(async {
            let _ = stopped.await;
        }));
        Ok(Server {
            base,
            pool,
            stop,
            handle,
            _dir: dir,
        })
    }

    /// Stops the server and its cluster.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.handle.await?
    }
}

pub fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The p-th percentile in milliseconds of sorted durations.
pub fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}
