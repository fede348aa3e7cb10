//! The embedded PostgreSQL cluster: created under the data directory on first start
//! with the server binaries installed on the machine, started with `pg_ctl`, reached
//! only through a Unix socket it owns (no TCP port, `trust` auth), stopped on shutdown.
//!
//! Layout: `<data_dir>/postgres/` holds `data/` (PGDATA), `postgres.log` and the
//! socket. PostgreSQL refuses to run as root, so when ltv-pipes is root the cluster
//! belongs to an unprivileged OS user (`database.embedded.os_user`, else `postgres`,
//! else `nobody`); if that user cannot reach the data directory (say it is under
//! `/root`), the cluster lives in `/var/lib/ltv-pipes/clusters/<hash of data_dir>`.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{anyhow, bail, Context};
use nix::unistd::{Gid, Uid, User};
use sha2::{Digest, Sha256};
use sqlx::postgres::PgConnectOptions;

use super::binaries::find_bin_dir;
use crate::config::EmbeddedConfig;

/// The superuser role created by `initdb`, and the application database.
pub const ROLE: &str = "ltv";
/// Nominal port: only names the socket file (`.s.PGSQL.5432`); no TCP listener.
const PORT: u16 = 5432;
/// Unix socket paths are limited to 107 bytes on Linux.
const MAX_SOCKET_DIR_LEN: usize = 90;
const SETTINGS_FILE: &str = "ltv-pipes.conf";

/// Who runs the PostgreSQL processes when we are root.
#[derive(Debug, Clone, Copy)]
struct RunAs {
    uid: Uid,
    gid: Gid,
}

#[derive(Debug)]
pub struct EmbeddedCluster {
    bin_dir: PathBuf,
    root: PathBuf,
    pgdata: PathBuf,
    socket_dir: PathBuf,
    run_as: Option<RunAs>,
    /// False when a cluster left running (by a killed ltv-pipes) was adopted.
    pub started_here: bool,
}

impl EmbeddedCluster {
    /// Creates the cluster on first use, then starts it (or adopts it if running).
    /// Blocking: call it from a blocking context.
    pub fn start(data_dir: &Path, cfg: &EmbeddedConfig) -> anyhow::Result<Self> {
        let bin_dir = find_bin_dir(&cfg.bin_dir).map_err(|e| anyhow!(e))?;
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
        let data_dir = data_dir.canonicalize()?;
        let run_as = run_as_user(&cfg.os_user)?;
        let root = cluster_root(&data_dir, run_as)?;
        prepare_dir(&root, run_as)?;
        let socket_dir = socket_dir(&root, run_as)?;
        let mut cluster = EmbeddedCluster {
            bin_dir,
            pgdata: root.join("data"),
            root,
            socket_dir,
            run_as,
            started_here: false,
        };
        if !cluster.pgdata.join("PG_VERSION").exists() {
            cluster.initdb()?;
        }
        cluster.write_settings(cfg)?;
        if cluster.is_running()? {
            tracing::info!(pgdata = %cluster.pgdata.display(), "adopting the running embedded PostgreSQL");
        } else {
            cluster.remove_foreign_pid_file()?;
            cluster.pg_ctl_start()?;
            cluster.started_here = true;
        }
        Ok(cluster)
    }

    /// Connection options for `database` over the cluster's socket.
    pub fn connect_options(&self, database: &str) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(&self.socket_dir)
            .port(PORT)
            .username(ROLE)
            .database(database)
    }

    /// A `postgres://` URL for `database` over the socket (for tools and tests).
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://{ROLE}@localhost:{PORT}/{database}?host={}",
            self.socket_dir.display()
        )
    }

    pub fn pgdata(&self) -> &Path {
        &self.pgdata
    }

    /// Fast shutdown: running transactions are rolled back, committed ones are durable.
    pub fn stop(&self) -> anyhow::Result<()> {
        let out = self.pg_ctl(&["-m", "fast", "-w", "-t", "60", "stop"])?;
        if !out.status.success() && self.is_running()? {
            bail!(
                "pg_ctl stop failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    /// Starts a stopped cluster again (operations and tests of reconnecting).
    pub fn start_again(&self) -> anyhow::Result<()> {
        self.pg_ctl_start()
    }

    pub fn is_running(&self) -> anyhow::Result<bool> {
        // pg_ctl status: 0 = running, 3 = not running, 4 = no data directory.
        Ok(self.pg_ctl(&["status"])?.status.success())
    }

    fn initdb(&self) -> anyhow::Result<()> {
        tracing::info!(pgdata = %self.pgdata.display(), "creating the embedded PostgreSQL cluster");
        let out = self.run(
            "initdb",
            &[
                "-D",
                path_str(&self.pgdata)?,
                "-U",
                ROLE,
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
            ],
        )?;
        if !out.status.success() {
            bail!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let conf = self.pgdata.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf)?;
        text.push_str(&format!("\ninclude_if_exists = '{SETTINGS_FILE}'\n"));
        std::fs::write(&conf, text)?;
        Ok(())
    }

    /// Rewritten at every start, so moving the data directory or changing the
    /// configuration takes effect.
    fn write_settings(&self, cfg: &EmbeddedConfig) -> anyhow::Result<()> {
        let mut text =
            String::from("# Written by ltv-pipes at every start; edit config.yml instead.\n");
        text.push_str("listen_addresses = ''\n");
        text.push_str(&format!("port = {PORT}\n"));
        text.push_str(&format!(
            "unix_socket_directories = '{}'\n",
            quote_conf(path_str(&self.socket_dir)?)
        ));
        let memory = total_memory_bytes();
        for (name, value) in tuning(cfg, memory) {
            text.push_str(&format!("{name} = '{}'\n", quote_conf(&value)));
        }
        for line in &cfg.settings {
            if line.contains('\n') || !line.contains('=') {
                bail!("database.embedded.settings entry {line:?} must be one 'name = value' line");
            }
            text.push_str(line);
            text.push('\n');
        }
        std::fs::write(self.pgdata.join(SETTINGS_FILE), text)?;
        Ok(())
    }

    fn pg_ctl_start(&self) -> anyhow::Result<()> {
        let log = self.root.join("postgres.log");
        let out = self.pg_ctl(&["-l", path_str(&log)?, "-w", "-t", "120", "start"])?;
        if !out.status.success() {
            bail!(
                "could not start the embedded PostgreSQL ({}): {}\nlast lines of {}:\n{}",
                self.pgdata.display(),
                String::from_utf8_lossy(&out.stderr).trim(),
                log.display(),
                tail(&log, 10)
            );
        }
        tracing::info!(socket = %self.socket_dir.display(), "embedded PostgreSQL started");
        Ok(())
    }

    /// After a crash the pid in `postmaster.pid` may belong to an unrelated process
    /// now; PostgreSQL would then refuse to start. A pid that is not a postgres
    /// process is stale, so the file goes.
    fn remove_foreign_pid_file(&self) -> anyhow::Result<()> {
        let pid_file = self.pgdata.join("postmaster.pid");
        let Ok(text) = std::fs::read_to_string(&pid_file) else {
            return Ok(());
        };
        let pid = text.lines().next().unwrap_or("").trim();
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if !comm.trim().starts_with("postgres") {
            tracing::warn!(pid, "removing stale postmaster.pid left by a crash");
            std::fs::remove_file(&pid_file)?;
        }
        Ok(())
    }

    fn pg_ctl(&self, args: &[&str]) -> anyhow::Result<Output> {
        let mut all = vec!["-D", path_str(&self.pgdata)?];
        all.extend_from_slice(args);
        self.run("pg_ctl", &all)
    }

    fn run(&self, bin: &str, args: &[&str]) -> anyhow::Result<Output> {
        let mut cmd = Command::new(self.bin_dir.join(bin));
        cmd.args(args).current_dir(&self.root);
        if let Some(user) = self.run_as {
            cmd.uid(user.uid.as_raw()).gid(user.gid.as_raw());
        }
        cmd.output()
            .with_context(|| format!("cannot run {}", self.bin_dir.join(bin).display()))
    }
}

fn run_as_user(configured: &str) -> anyhow::Result<Option<RunAs>> {
    if !Uid::effective().is_root() {
        return Ok(None);
    }
    let names: Vec<&str> = if configured.trim().is_empty() {
        vec!["postgres", "nobody"]
    } else {
        vec![configured.trim()]
    };
    for name in &names {
        if let Some(user) = User::from_name(name)? {
            return Ok(Some(RunAs {
                uid: user.uid,
                gid: user.gid,
            }));
        }
    }
    bail!(
        "running as root: PostgreSQL must run as an unprivileged user, but none of {names:?} exists; \
         create one or set database.embedded.os_user"
    )
}

/// `<data_dir>/postgres`, unless the unprivileged user cannot reach it.
fn cluster_root(data_dir: &Path, run_as: Option<RunAs>) -> anyhow::Result<PathBuf> {
    let preferred = data_dir.join("postgres");
    let Some(user) = run_as else {
        return Ok(preferred);
    };
    if data_dir.ancestors().all(|dir| traversable(dir, user)) {
        return Ok(preferred);
    }
    let fallback = Path::new("/var/lib/ltv-pipes/clusters").join(short_hash(data_dir));
    tracing::warn!(
        data_dir = %data_dir.display(),
        cluster = %fallback.display(),
        "the PostgreSQL OS user cannot reach the data directory; the cluster lives elsewhere"
    );
    Ok(fallback)
}

fn traversable(dir: &Path, user: RunAs) -> bool {
    let Ok(meta) = std::fs::metadata(dir) else {
        return false;
    };
    let mode = meta.permissions().mode();
    if meta.uid() == user.uid.as_raw() {
        mode & 0o100 != 0
    } else if meta.gid() == user.gid.as_raw() {
        mode & 0o010 != 0
    } else {
        mode & 0o001 != 0
    }
}

/// Creates `dir` (mode 0700) owned by the cluster's OS user.
fn prepare_dir(dir: &Path, run_as: Option<RunAs>) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    if let Some(user) = run_as {
        nix::unistd::chown(dir, Some(user.uid), Some(user.gid))
            .with_context(|| format!("cannot hand {} to the PostgreSQL user", dir.display()))?;
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    Ok(())
}

fn socket_dir(root: &Path, run_as: Option<RunAs>) -> anyhow::Result<PathBuf> {
    if root.as_os_str().len() <= MAX_SOCKET_DIR_LEN {
        return Ok(root.to_path_buf());
    }
    let dir = std::env::temp_dir().join(format!("ltv-pg-{}", short_hash(root)));
    prepare_dir(&dir, run_as)?;
    Ok(dir)
}

fn short_hash(path: &Path) -> String {
    let digest = Sha256::digest(path.as_os_str().as_encoded_bytes());
    hex::encode(&digest[..8])
}

fn path_str(path: &Path) -> anyhow::Result<&str> {
    path.to_str()
        .ok_or_else(|| anyhow!("path {} is not UTF-8", path.display()))
}

/// The memory and WAL settings written for the cluster: the configured
/// values, with "auto" sized from the machine's memory (shared_buffers a
/// quarter, between 128 MB and 8 GB; effective_cache_size half). Without a
/// readable memory size "auto" falls back to PostgreSQL's own defaults.
fn tuning(cfg: &EmbeddedConfig, memory: Option<u64>) -> Vec<(&'static str, String)> {
    const MB: u64 = 1 << 20;
    let auto = |value: &str, share: u64, min: u64, max: u64, fallback: &str| {
        if !value.eq_ignore_ascii_case("auto") {
            return value.to_string();
        }
        match memory {
            Some(bytes) => format!("{}MB", (bytes / share).clamp(min, max) / MB),
            None => fallback.to_string(),
        }
    };
    vec![
        (
            "shared_buffers",
            auto(&cfg.shared_buffers, 4, 128 * MB, 8192 * MB, "128MB"),
        ),
        (
            "effective_cache_size",
            auto(&cfg.effective_cache_size, 2, 256 * MB, u64::MAX, "4GB"),
        ),
        ("maintenance_work_mem", cfg.maintenance_work_mem.clone()),
        ("max_wal_size", cfg.max_wal_size.clone()),
        ("checkpoint_timeout", cfg.checkpoint_timeout.clone()),
        // Checkpoints spread over most of the interval instead of in bursts.
        ("checkpoint_completion_target", "0.9".to_string()),
    ]
}

/// MemTotal of /proc/meminfo, in bytes.
fn total_memory_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u64 = info
        .lines()
        .find(|l| l.starts_with("MemTotal:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Quotes a value for a single-quoted postgresql.conf string.
fn quote_conf(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\'', "''")
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_memory_settings_are_sized_from_the_machine() {
        let cfg = EmbeddedConfig {
            bin_dir: String::new(),
            os_user: String::new(),
            shared_buffers: "auto".into(),
            effective_cache_size: "auto".into(),
            maintenance_work_mem: "512MB".into(),
            max_wal_size: "4GB".into(),
            checkpoint_timeout: "15min".into(),
            settings: vec![],
        };
        let gb = 1u64 << 30;
        let get = |memory, name| {
            tuning(&cfg, memory)
                .into_iter()
                .find(|(n, _)| *n == name)
                .unwrap()
                .1
        };
        assert_eq!(get(Some(24 * gb), "shared_buffers"), "6144MB");
        assert_eq!(get(Some(24 * gb), "effective_cache_size"), "12288MB");
        assert_eq!(get(Some(256 * gb), "shared_buffers"), "8192MB");
        assert_eq!(get(Some(gb / 4), "shared_buffers"), "128MB");
        assert_eq!(get(None, "shared_buffers"), "128MB");
        assert_eq!(get(Some(24 * gb), "max_wal_size"), "4GB");
        let fixed = EmbeddedConfig {
            shared_buffers: "1GB".into(),
            ..cfg.clone()
        };
        assert_eq!(tuning(&fixed, Some(24 * gb))[0].1, "1GB");
    }

    #[test]
    fn conf_values_are_quoted() {
        assert_eq!(quote_conf("/tmp/it's"), "/tmp/it''s");
    }

    #[test]
    fn hashes_are_stable_and_short() {
        let a = short_hash(Path::new("/root/app/.ltv-data"));
        assert_eq!(a.len(), 16);
        assert_eq!(a, short_hash(Path::new("/root/app/.ltv-data")));
        assert_ne!(a, short_hash(Path::new("/root/app/.ltv-data2")));
    }
}
