//! Typed settings: the checked-in `config.yml` holds every default (it is compiled
//! in), an optional user file overrides it, and environment variables override both.
//!
//! Environment mapping: `LTV_LISTEN` → `listen`, `LTV_DATA_DIR` → `data_dir`,
//! `DATABASE_URL` → `database.url`, and `LTV_<SECTION>__<KEY>` → `section.key`
//! (lower-cased, `__` separates levels). An override that names no setting is an
//! error, so a typo never passes silently.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_yaml_ng::Value;

/// The defaults: exactly the file users read.
const DEFAULTS: &str = include_str!("../config.yml");
const ENV_PREFIX: &str = "LTV_";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub pipes: PipesConfig,
    pub log: LogConfig,
    pub database: DatabaseConfig,
    pub auth: AuthConfig,
    pub http: HttpConfig,
    pub ingest: IngestConfig,
    pub forecast: ForecastConfig,
    pub cache: CacheConfig,
    pub metrics: MetricsConfig,
}

/// `GET /metrics` (README "Metrics").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// A second address serving `/metrics` without a token ("": none).
    pub listen: String,
}

impl MetricsConfig {
    /// The open scrape address, if one is configured.
    pub fn listen_addr(&self) -> anyhow::Result<Option<SocketAddr>> {
        let listen = self.listen.trim();
        if listen.is_empty() {
            return Ok(None);
        }
        listen.parse().map(Some).map_err(|_| {
            anyhow::anyhow!("metrics.listen '{listen}' is not an address like 127.0.0.1:9100")
        })
    }
}

/// Writes and the maintainer (README "Writes").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// Most queued rows one maintainer pass applies.
    pub apply_batch_rows: u32,
    /// How long a `wait=true` write waits for its rows to be applied before
    /// it answers 202 (committed, applied later).
    pub wait_ms: u64,
    /// Rows queued for the maintainer over which writes answer 503 (0: no
    /// limit).
    pub max_queued_rows: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipesConfig {
    pub dir: PathBuf,
    pub max_rows: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    pub level: String,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// May carry a password, hence secret.
    pub url: SecretString,
    pub max_connections: u32,
    pub acquire_timeout_secs: u64,
    pub statement_timeout_ms: u64,
    pub work_mem: String,
    pub embedded: EmbeddedConfig,
}

impl DatabaseConfig {
    /// The external server's URL, or `None` for the embedded cluster.
    pub fn external_url(&self) -> Option<&str> {
        let url = self.url.expose_secret().trim();
        (!url.is_empty()).then_some(url)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedConfig {
    pub bin_dir: String,
    pub os_user: String,
    /// PostgreSQL size ("128MB"), or "auto" (see `db::embedded::tuning`).
    pub shared_buffers: String,
    pub effective_cache_size: String,
    pub maintenance_work_mem: String,
    pub max_wal_size: String,
    pub checkpoint_timeout: String,
    pub settings: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    pub admin_token: SecretString,
    /// Requests per second of a token without its own limit (0: none).
    pub rate_limit_rps: u32,
    /// The HS256 key of JWTs (empty: generated into <data_dir>/jwt_secret).
    pub jwt_secret: SecretString,
}

impl AuthConfig {
    pub fn fixed_admin_token(&self) -> Option<&str> {
        let token = self.admin_token.expose_secret().trim();
        (!token.is_empty()).then_some(token)
    }

    pub fn fixed_jwt_secret(&self) -> Option<&str> {
        let secret = self.jwt_secret.expose_secret().trim();
        (!secret.is_empty()).then_some(secret)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    pub body_limit_bytes: usize,
    pub request_timeout_secs: u64,
    pub bulk_body_limit_bytes: u64,
    pub bulk_timeout_secs: u64,
    pub cors_origins: Vec<String>,
    pub compression: bool,
    /// Open connections at once (src/http/serve.rs).
    pub max_connections: usize,
    /// Seconds a client has to send a request's whole header.
    pub header_read_timeout_secs: u64,
    /// Seconds of silence in the middle of a request body before it is cut off.
    pub body_read_timeout_secs: u64,
    /// Requests answered at once; more wait up to `queue_wait_ms`, then 503.
    pub max_concurrent_requests: usize,
    pub queue_wait_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForecastConfig {
    pub refit_interval_secs: u64,
    pub refit_after_transactions: u64,
    /// Statement timeout of a fit's reads and writes (seconds, 0: none): a fit
    /// reads and stores every customer, far beyond a request's timeout.
    pub fit_timeout_secs: u64,
    /// How long a call waits for a fit it started (or joined) in the
    /// background before it answers 503 with Retry-After.
    pub fit_wait_ms: u64,
    pub penalizer_coef: f64,
    pub tiers: TierConfig,
}

/// Polling: ETags, 304s, the answer cache and the token cache (README "Polling").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    pub enabled: bool,
    pub max_bytes: u64,
    pub cache_control: String,
    pub token_ttl_secs: u64,
}

/// Shares of the answer's population, by predicted-CLV rank, from the top.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierConfig {
    pub platinum: f64,
    pub gold: f64,
    pub silver: f64,
}

impl Config {
    /// Defaults, then `file` (when given, it must exist), then the process environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        Self::load_with_env(file, std::env::vars())
    }

    /// Same as [`Config::load`] with an explicit environment (tests use this).
    pub fn load_with_env(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Self> {
        let mut tree: Value = serde_yaml_ng::from_str(DEFAULTS).context("built-in config.yml")?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read config file {}", path.display()))?;
            let user: Value = serde_yaml_ng::from_str(&text)
                .with_context(|| format!("config file {} is not valid YAML", path.display()))?;
            merge(&mut tree, user);
        }
        for (name, value) in env {
            if let Some(path) = env_path(&name) {
                set_path(&mut tree, &path, &value)
                    .with_context(|| format!("environment variable {name}"))?;
            }
        }
        serde_yaml_ng::from_value(tree).context("invalid configuration")
    }
}

/// Which setting an environment variable names, if it names one.
fn env_path(name: &str) -> Option<Vec<String>> {
    if name == "DATABASE_URL" {
        return Some(vec!["database".into(), "url".into()]);
    }
    let rest = name.strip_prefix(ENV_PREFIX)?;
    if rest.is_empty() {
        return None;
    }
    Some(rest.split("__").map(|s| s.to_ascii_lowercase()).collect())
}

/// Sets `path` to `raw`. A string setting takes the text as is; any other setting
/// parses it as YAML (`20`, `true`, `["a","b"]`).
fn set_path(tree: &mut Value, path: &[String], raw: &str) -> anyhow::Result<()> {
    let mut node = tree;
    for (i, key) in path.iter().enumerate() {
        let Value::Mapping(map) = node else {
            bail!("'{}' is not a section", path[..i].join("."));
        };
        let Some(child) = map.get_mut(key.as_str()) else {
            bail!("there is no setting '{}'", path[..=i].join("."));
        };
        node = child;
    }
    *node = match node {
        Value::String(_) => Value::String(raw.to_string()),
        Value::Mapping(_) => bail!("'{}' is a section, not a setting", path.join(".")),
        _ => serde_yaml_ng::from_str(raw).context("value is not valid YAML")?,
    };
    Ok(())
}

/// Deep merge: mappings merge key by key, anything else is replaced.
fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Mapping(base), Value::Mapping(over)) => {
            for (k, v) in over {
                match base.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        base.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_come_from_the_checked_in_file() {
        let c = Config::load_with_env(None, env(&[])).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:7181");
        assert_eq!(c.data_dir, PathBuf::from("./.ltv-data"));
        assert_eq!(c.http.body_limit_bytes, 10 * 1024 * 1024);
        assert!(c.database.external_url().is_none());
        assert!(c.auth.fixed_admin_token().is_none());
        assert!(c.cache.enabled);
        assert_eq!(c.cache.max_bytes, 64 * 1024 * 1024);
        assert_eq!(c.cache.cache_control, "no-cache");
    }

    #[test]
    fn environment_overrides_named_and_nested_settings() {
        let c = Config::load_with_env(
            None,
            env(&[
                ("LTV_LISTEN", "0.0.0.0:9000"),
                ("LTV_DATA_DIR", "/var/lib/ltv"),
                ("DATABASE_URL", "postgres://u:p@h/db"),
                ("LTV_DATABASE__MAX_CONNECTIONS", "20"),
                ("LTV_DATABASE__EMBEDDED__BIN_DIR", "/opt/pg/bin"),
                ("LTV_HTTP__CORS_ORIGINS", "[\"https://a.example\"]"),
                ("LTV_AUTH__ADMIN_TOKEN", "12345"),
                ("UNRELATED", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/ltv"));
        assert_eq!(c.database.external_url(), Some("postgres://u:p@h/db"));
        assert_eq!(c.database.max_connections, 20);
        assert_eq!(c.database.embedded.bin_dir, "/opt/pg/bin");
        assert_eq!(c.http.cors_origins, vec!["https://a.example"]);
        // A numeric-looking secret stays text.
        assert_eq!(c.auth.fixed_admin_token(), Some("12345"));
    }

    #[test]
    fn an_override_that_names_no_setting_is_an_error() {
        let err =
            Config::load_with_env(None, env(&[("LTV_DATABASE__MAX_CONECTIONS", "3")])).unwrap_err();
        assert!(
            format!("{err:#}").contains("database.max_conections"),
            "{err:#}"
        );
    }

    #[test]
    fn a_bad_value_is_an_error_naming_the_variable() {
        let err =
            Config::load_with_env(None, env(&[("LTV_LISTEN", "not an address")])).unwrap_err();
        assert!(
            format!("{err:#}").contains("invalid configuration"),
            "{err:#}"
        );
    }

    #[test]
    fn secrets_are_not_printed_by_debug() {
        let c = Config::load_with_env(
            None,
            env(&[
                ("DATABASE_URL", "postgres://u:hunter2@h/db"),
                ("LTV_AUTH__ADMIN_TOKEN", "s3cret"),
            ]),
        )
        .unwrap();
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("s3cret"),
            "{shown}"
        );
    }

    #[test]
    fn a_user_file_overrides_only_what_it_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yml");
        std::fs::write(&path, "database:\n  max_connections: 3\n").unwrap();
        let c = Config::load_with_env(Some(&path), env(&[])).unwrap();
        assert_eq!(c.database.max_connections, 3);
        assert_eq!(c.database.statement_timeout_ms, 10000);
    }
}
