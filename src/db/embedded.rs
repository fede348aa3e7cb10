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
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use nix::sys::signal::Signal;
use nix::unistd::{Gid, Pid, Uid, User};
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
/// How long the backends of a dead postmaster get to exit after each signal.
const ORPHAN_PATIENCE: Duration = Duration::from_secs(10);

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
    /// Set by [`EmbeddedCluster::stop`], so the supervisor does not start
    /// again a cluster that is being stopped on purpose.
    stopping: AtomicBool,
    /// Serializes stopping and restarting, so a stop cannot fall between the
    /// supervisor's check and its start.
    lifecycle: std::sync::Mutex<()>,
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
            stopping: AtomicBool::new(false),
            lifecycle: std::sync::Mutex::new(()),
        };
        if !cluster.pgdata.join("PG_VERSION").exists() {
            cluster.initdb()?;
        }
        cluster.write_settings(cfg)?;
        if cluster.is_running()? {
            tracing::info!(pgdata = %cluster.pgdata.display(), "adopting the running embedded PostgreSQL");
        } else {
            cluster.clear_crash_leftovers()?;
            cluster.pg_ctl_start()?;
            cluster.started_here = true;
        }
        Ok(cluster)
    }

    /// Starts the cluster again if its postmaster died (the OOM killer, a
    /// `kill -9`): what the supervisor of a running server calls. Crash
    /// recovery replays the WAL, so every committed transaction is back.
    /// Returns true when it restarted the cluster.
    pub fn restart_if_dead(&self) -> anyhow::Result<bool> {
        let _lifecycle = self.lifecycle.lock().unwrap_or_else(|e| e.into_inner());
        if self.stopping.load(Ordering::SeqCst) || self.is_running()? {
            return Ok(false);
        }
        tracing::error!(pgdata = %self.pgdata.display(), "the embedded PostgreSQL died; restarting it");
        self.clear_crash_leftovers()?;
        self.pg_ctl_start()?;
        Ok(true)
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
        let _lifecycle = self.lifecycle.lock().unwrap_or_else(|e| e.into_inner());
        self.stopping.store(true, Ordering::SeqCst);
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
        self.stopping.store(false, Ordering::SeqCst);
        self.pg_ctl_start()
    }

    /// True when the postmaster named by `postmaster.pid` is alive. Not
    /// `pg_ctl status`: it counts a killed postmaster that its parent has not
    /// reaped yet (a zombie, as under a container's init that does not reap)
    /// as running, and the server would then adopt a cluster nobody serves.
    /// The pid must also work in this data directory: after a reboot or a
    /// crash it may belong to another PostgreSQL by now.
    pub fn is_running(&self) -> anyhow::Result<bool> {
        Ok(self
            .postmaster_pid()
            .is_some_and(|pid| is_live_postgres(pid) && self.works_here(pid)))
    }

    /// True when `pid`'s working directory is this cluster's PGDATA (every
    /// PostgreSQL process's is, inherited from the postmaster).
    fn works_here(&self, pid: i32) -> bool {
        let Ok(pgdata) = self.pgdata.canonicalize() else {
            return false;
        };
        std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd == pgdata)
    }

    /// The pid in the first line of `postmaster.pid`, if the file exists.
    fn postmaster_pid(&self) -> Option<i32> {
        let text = std::fs::read_to_string(self.pgdata.join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
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
        let out = self.pg_ctl(&["-l", path_str(&log)?, "-w", "-t", "600", "start"])?;
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

    /// What a dead postmaster leaves behind, cleared so the cluster can start:
    /// its backends (each finishes or aborts the statement it was running and
    /// holds the shared memory, so PostgreSQL refuses to start while one lives)
    /// and its lock files (whose pid may belong to an unrelated process by
    /// now). Called only when no live postmaster owns the data directory.
    fn clear_crash_leftovers(&self) -> anyhow::Result<()> {
        let pid_file = self.pgdata.join("postmaster.pid");
        if !pid_file.exists() {
            return Ok(());
        }
        tracing::warn!(pgdata = %self.pgdata.display(), "the embedded PostgreSQL was not shut down cleanly; recovering");
        let orphans = self.orphaned_backends();
        if !orphans.is_empty() {
            // Without a postmaster nothing they do can be acknowledged any
            // more except a commit already under way: SIGTERM lets each
            // finish it or roll back; SIGKILL the ones that linger.
            tracing::warn!(
                count = orphans.len(),
                "stopping the backends the dead postmaster left behind"
            );
            signal_all(&orphans, Signal::SIGTERM);
            if !wait_gone(&orphans, ORPHAN_PATIENCE) {
                signal_all(&orphans, Signal::SIGKILL);
                if !wait_gone(&orphans, ORPHAN_PATIENCE) {
                    bail!(
                        "backends of the dead PostgreSQL in {} do not exit (pids {orphans:?})",
                        self.pgdata.display()
                    );
                }
            }
        }
        // The socket's lock file names the dead postmaster too, and PostgreSQL
        // counts a pid that is not reaped yet (a zombie) as alive. The socket
        // directory belongs to this cluster alone.
        let socket_lock = self.socket_dir.join(format!(".s.PGSQL.{PORT}.lock"));
        for file in [&pid_file, &socket_lock] {
            match std::fs::remove_file(file) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e).with_context(|| format!("cannot remove {}", file.display()))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// PostgreSQL processes working in this data directory (a backend's
    /// working directory is PGDATA, inherited from the postmaster).
    fn orphaned_backends(&self) -> Vec<i32> {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| is_live_postgres(*pid) && self.works_here(*pid))
            .collect()
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

/// A process that exists, is not a zombie and runs a PostgreSQL binary.
fn is_live_postgres(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "pid (comm) state ...": comm may hold spaces and parentheses.
    let Some((head, rest)) = stat.rsplit_once(')') else {
        return false;
    };
    let comm = head.split_once('(').map_or("", |(_, c)| c);
    let state = rest.trim_start().chars().next().unwrap_or('X');
    comm.starts_with("postgres") && !matches!(state, 'Z' | 'X' | 'x')
}

fn signal_all(pids: &[i32], signal: Signal) {
    for pid in pids {
        // A pid that is gone already is what we want.
        let _ = nix::sys::signal::kill(Pid::from_raw(*pid), signal);
    }
}

/// Waits until none of `pids` is a live PostgreSQL process; false on timeout.
fn wait_gone(pids: &[i32], patience: Duration) -> bool {
    let started = Instant::now();
    while pids.iter().any(|pid| is_live_postgres(*pid)) {
        if started.elapsed() > patience {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
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
