//! Configuration: `sluice.toml`, every key overridable by `SLUICE_<KEY>`.
//!
//! Keys are flat (no sections) so that the environment variable of a key is always
//! `SLUICE_` + the key in upper case. Unknown keys, in the file or the environment, are
//! errors: a typo must not silently fall back to a default. Every error names its source
//! (file and line, or the variable).

use serde::{Deserialize, Deserializer, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Environment variables with the `SLUICE_` prefix that are not configuration keys.
const NON_KEY_VARS: &[&str] = &["SLUICE_CONFIG", "SLUICE_LOG", "SLUICE_PG_BIN"];

/// The whole configuration. `deploy/sluice.example.toml` documents every key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Public host name, optionally with a port; our ids live under it.
    pub domain: String,
    /// Where the HTTP server listens.
    pub bind: SocketAddr,
    /// PostgreSQL URL. Unset: the embedded cluster under `data_dir`.
    pub database_url: Option<String>,
    /// Directory for sluice's own files (the embedded cluster).
    pub data_dir: PathBuf,
    /// Database connections per process.
    #[serde(deserialize_with = "flexible")]
    pub pool_size: usize,
    /// Development mode: plain http ids, loopback/private peers allowed.
    #[serde(deserialize_with = "flexible")]
    pub dev_mode: bool,
    /// Log format: `text` or `json`.
    pub log_format: LogFormat,
    /// HTTP worker threads (0: one per CPU).
    #[serde(deserialize_with = "flexible")]
    pub http_workers: usize,
    /// Bearer token of the local APIs (`/api/v1/publish`, `/api/v1/federation`); unset
    /// disables them.
    pub publish_token: Option<String>,
    /// Deliveries to one instance sent and not yet persisted as done (1: strictly serial).
    #[serde(deserialize_with = "flexible")]
    pub delivery_window: usize,
    /// An instance failing this long without a success is dead (skipped until it sends us
    /// something or is revived).
    #[serde(deserialize_with = "flexible")]
    pub delivery_dead_after_secs: u64,
    /// Delivery lease duration: a dead process's instances move within about this time.
    #[serde(deserialize_with = "flexible")]
    pub delivery_lease_secs: u64,
    /// How often the send queue looks for new outbound activities.
    #[serde(deserialize_with = "flexible")]
    pub delivery_poll_ms: u64,
    /// Longest delay before delivery progress is persisted.
    #[serde(deserialize_with = "flexible")]
    pub delivery_flush_ms: u64,
}

/// Log output format.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            domain: "localhost:8080".into(),
            bind: "127.0.0.1:8080".parse().expect("valid default"),
            database_url: None,
            data_dir: PathBuf::from("./data"),
            pool_size: 16,
            dev_mode: false,
            log_format: LogFormat::Text,
            http_workers: 0,
            publish_token: None,
            delivery_window: 8,
            delivery_dead_after_secs: 3 * 24 * 3600,
            delivery_lease_secs: 30,
            delivery_poll_ms: 250,
            delivery_flush_ms: 1000,
        }
    }
}

/// A configuration error: what is wrong and where.
#[derive(Debug, thiserror::Error)]
#[error("{source_name}: {message}")]
pub struct ConfigError {
    /// The file (with line when known) or the environment variable.
    pub source_name: String,
    /// What is wrong.
    pub message: String,
}

impl Config {
    /// Loads `path` (when given or when `./sluice.toml` exists), then applies `SLUICE_*`
    /// variables from `env`, then validates.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut table = match path {
            Some(p) => read_file(p)?,
            None if Path::new("sluice.toml").exists() => read_file(Path::new("sluice.toml"))?,
            None => toml::Table::new(),
        };
        let file_name = path
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "sluice.toml".into());
        let mut sources: Vec<(String, String)> = table
            .keys()
            .map(|k| (k.clone(), file_name.clone()))
            .collect();

        for (var, value) in env {
            let Some(key) = var.strip_prefix("SLUICE_") else {
                continue;
            };
            if NON_KEY_VARS.contains(&var.as_str()) {
                continue;
            }
            let key = key.to_lowercase();
            if !Config::keys().contains(&key.as_str()) {
                return Err(ConfigError {
                    source_name: var.clone(),
                    message: format!("unknown setting (known: {})", Config::keys().join(", ")),
                });
            }
            table.insert(key.clone(), toml::Value::String(value));
            sources.retain(|(k, _)| k != &key);
            sources.push((key, var));
        }

        let cfg: Config = Config::deserialize(toml::Value::Table(table.clone())).map_err(|e| {
            let msg = e.to_string();
            let culprit = sources
                .iter()
                .find(|(k, _)| msg.contains(&format!("`{k}`")) || msg.contains(k.as_str()));
            ConfigError {
                source_name: culprit.map(|(_, s)| s.clone()).unwrap_or(file_name.clone()),
                message: msg.trim().to_string(),
            }
        })?;
        cfg.validate(&sources)?;
        Ok(cfg)
    }

    /// Every key name.
    pub fn keys() -> Vec<&'static str> {
        vec![
            "domain",
            "bind",
            "database_url",
            "data_dir",
            "pool_size",
            "dev_mode",
            "log_format",
            "http_workers",
            "publish_token",
            "delivery_window",
            "delivery_dead_after_secs",
            "delivery_lease_secs",
            "delivery_poll_ms",
            "delivery_flush_ms",
        ]
    }

    fn validate(&self, sources: &[(String, String)]) -> Result<(), ConfigError> {
        let src = |key: &str| {
            sources
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, s)| s.clone())
                .unwrap_or_else(|| "default".into())
        };
        sluice_apub::LocalUrls::new(&self.domain, self.dev_mode).map_err(|e| ConfigError {
            source_name: src("domain"),
            message: e.to_string(),
        })?;
        if let Some(url) = &self.database_url {
            sluice_db::parse_url(url).map_err(|e| ConfigError {
                source_name: src("database_url"),
                message: e.to_string(),
            })?;
        }
        let at_least = |key: &str, value: u64, min: u64| {
            if value < min {
                return Err(ConfigError {
                    source_name: src(key),
                    message: format!("must be at least {min}"),
                });
            }
            Ok(())
        };
        at_least("pool_size", self.pool_size as u64, 1)?;
        at_least("delivery_window", self.delivery_window as u64, 1)?;
        at_least("delivery_lease_secs", self.delivery_lease_secs, 1)?;
        at_least("delivery_poll_ms", self.delivery_poll_ms, 10)?;
        at_least("delivery_flush_ms", self.delivery_flush_ms, 10)?;
        Ok(())
    }

    /// The send queue's settings.
    pub fn queue(&self) -> sluice_queue::QueueConfig {
        use std::time::Duration;
        sluice_queue::QueueConfig {
            window: self.delivery_window,
            dead_after: Duration::from_secs(self.delivery_dead_after_secs),
            lease_ttl: Duration::from_secs(self.delivery_lease_secs),
            poll_interval: Duration::from_millis(self.delivery_poll_ms),
            flush_interval: Duration::from_millis(self.delivery_flush_ms),
            ..sluice_queue::QueueConfig::default()
        }
    }

    /// The id builder for our domain.
    pub fn urls(&self) -> sluice_apub::LocalUrls {
        sluice_apub::LocalUrls::new(&self.domain, self.dev_mode).expect("validated at load")
    }
}

fn read_file(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        source_name: path.display().to_string(),
        message: format!("cannot read: {e}"),
    })?;
    text.parse::<toml::Table>().map_err(|e| ConfigError {
        source_name: match e.span() {
            Some(span) => format!(
                "{}:{}",
                path.display(),
                1 + text[..span.start].matches('\n').count()
            ),
            None => path.display().to_string(),
        },
        message: e.message().to_string(),
    })
}

/// Accepts a value in its TOML type or as a string (environment variables are strings):
/// `SLUICE_DEV_MODE=1`, `SLUICE_POOL_SIZE=32`.
fn flexible<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: std::str::FromStr + Deserialize<'de>,
    T::Err: std::fmt::Display,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either<T> {
        Native(T),
        Text(String),
    }
    match Either::<T>::deserialize(d)? {
        Either::Native(v) => Ok(v),
        Either::Text(s) => {
            let s = match s.trim() {
                "1" | "yes" | "on" if std::any::type_name::<T>() == "bool" => "true",
                "0" | "no" | "off" if std::any::type_name::<T>() == "bool" => "false",
                other => other,
            };
            s.parse::<T>()
                .map_err(|e| serde::de::Error::custom(format!("{s:?}: {e}")))
        }
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
    fn environment_overrides_without_a_file() {
        let c = Config::load(
            None,
            env(&[
                ("SLUICE_DOMAIN", "example.org"),
                ("SLUICE_DEV_MODE", "1"),
                ("SLUICE_POOL_SIZE", "4"),
                ("HOME", "/x"),
            ]),
        )
        .unwrap();
        assert_eq!(c.domain, "example.org");
        assert!(c.dev_mode);
        assert_eq!(c.pool_size, 4);
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn errors_name_their_source() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.toml");
        std::fs::write(&p, "domain = \"a.example\"\ndomian = \"typo\"\n").unwrap();
        let e = Config::load(Some(&p), env(&[])).unwrap_err();
        assert!(e.source_name.contains("s.toml"), "{e}");
        assert!(e.message.contains("domian"), "{e}");

        std::fs::write(&p, "domain = \"a.example\"\npool_size = [\n").unwrap();
        let e = Config::load(Some(&p), env(&[])).unwrap_err();
        assert!(
            e.source_name.contains("s.toml:"),
            "line number expected: {e}"
        );

        let e = Config::load(None, env(&[("SLUICE_BIND", "nonsense")])).unwrap_err();
        assert_eq!(e.source_name, "SLUICE_BIND", "{e}");
        let e = Config::load(None, env(&[("SLUICE_DOMIAN", "x")])).unwrap_err();
        assert_eq!(e.source_name, "SLUICE_DOMIAN");
        let e = Config::load(None, env(&[("SLUICE_DATABASE_URL", "mysql://nope")])).unwrap_err();
        assert_eq!(e.source_name, "SLUICE_DATABASE_URL", "{e}");
    }
}
