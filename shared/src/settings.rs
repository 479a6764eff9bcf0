//! Settings: built-in defaults -> `config/default.toml` -> `config/{APP_ENV}.toml` -> environment.
//!
//! Environment variable names are the ones of DESIGN.md section 8 (upper case of the field
//! names below). This is the only module that reads the process environment.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use config::{Config, ConfigError, Environment, File, FileFormat};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Every setting of the gateway and the workers.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Name of the optional extra layer `config/{app_env}.toml`.
    pub app_env: String,
    pub gateway_addr: SocketAddr,
    /// Jobs one worker process runs at once; 0 means the number of CPU cores.
    pub worker_concurrency: usize,
    pub artifact_dir: PathBuf,
    pub job_ttl_seconds: u64,
    pub job_timeout_seconds: u64,
    pub job_max_attempts: u32,
    pub max_body_bytes: usize,
    pub worker_heartbeat_seconds: u64,
    pub worker_missed_heartbeats: u32,
    pub worker_shutdown_grace_seconds: u64,
    pub log_format: LogFormat,
    pub rust_log: String,

    /// Full Redis URL; when empty it is built from the `redis_host` group below.
    pub redis_url: Option<SecretString>,
    pub redis_host: String,
    pub redis_port: u16,
    pub redis_db: u32,
    pub redis_password: Option<SecretString>,
    /// Prefix of every key of ours (not of the apalis-redis queue keys).
    pub redis_key_prefix: String,

    /// Explicit `freecadcmd` to run; empty means look further.
    pub freecad_cmd: Option<String>,
    /// A FreeCAD installation directory (its `bin/freecadcmd` is used).
    pub freecad_path: Option<String>,
    /// A FreeCAD AppImage, run with `--console`.
    pub freecad_appimage_path: Option<String>,
    /// The process's `PATH`, searched for `freecadcmd` when nothing above names it.
    pub path: Option<String>,

    /// Off: every request is the `anonymous` principal.
    pub auth_enabled: bool,
    /// `name:key` or `name:sha256:<hex>` pairs, comma-separated.
    pub auth_api_keys: Option<SecretString>,
    /// HMAC secret for HS256/384/512 tokens.
    pub jwt_secret_key: Option<SecretString>,
    pub jwt_algorithm: String,
    /// PEM public key that verifies RS*/ES* tokens.
    pub jwt_public_key: Option<String>,
    /// PEM private key that signs RS*/ES* tokens (only needed to issue them).
    pub jwt_private_key: Option<SecretString>,
    pub jwt_access_token_expire_minutes: u64,
    /// Off: no request is counted or limited (the predecessor's self-disabling switch).
    pub rate_limit_enabled: bool,
    /// Requests per principal (per client IP with auth off) per window.
    pub rate_limit_requests: u32,
    pub rate_limit_window_seconds: u64,
    /// With Redis unreachable: let requests through (true) or answer 503 (false).
    pub rate_limit_fail_open: bool,
    /// Jobs one principal may have pending or running at once; 0 = no cap.
    pub max_active_jobs_per_principal: u32,
    /// Where a worker serves `/health`, `/ready` and `/metrics`.
    pub worker_metrics_addr: SocketAddr,
    /// How often the gateway holding the sampler lock reads the queue's depth by state.
    pub queue_metrics_interval_seconds: u64,
    /// Warm FreeCAD processes per worker; 0 starts a fresh process per job.
    pub freecad_pool_size: usize,
    /// Jobs a warm FreeCAD process runs before it is replaced.
    pub freecad_pool_max_jobs: u32,
    /// `auto` (bubblewrap if it works here), `bubblewrap` (required) or `rlimits_only`.
    pub freecad_isolation: String,
    /// CPU seconds one script may use.
    pub freecad_cpu_seconds: u64,
    /// Address space of a FreeCAD process, in MiB.
    pub freecad_memory_mb: u64,
    /// Largest file a FreeCAD process may write, in MiB.
    pub freecad_file_size_mb: u64,
    /// Processes and threads a FreeCAD sandbox may hold at once.
    pub freecad_max_processes: u64,
}

/// Defaults that hold when neither a file nor the environment says otherwise.
const DEFAULTS: &[(&str, &str)] = &[
    ("app_env", "local"),
    ("gateway_addr", "0.0.0.0:8080"),
    ("worker_concurrency", "0"),
    ("artifact_dir", "./data/artifacts"),
    ("job_ttl_seconds", "604800"),
    ("job_timeout_seconds", "600"),
    ("job_max_attempts", "3"),
    ("max_body_bytes", "65536"),
    ("worker_heartbeat_seconds", "10"),
    ("worker_missed_heartbeats", "3"),
    ("worker_shutdown_grace_seconds", "30"),
    ("log_format", "pretty"),
    ("rust_log", "info"),
    ("redis_host", "127.0.0.1"),
    ("redis_port", "6379"),
    ("redis_db", "0"),
    ("redis_key_prefix", "designer:"),
    ("auth_enabled", "false"),
    ("jwt_algorithm", "HS256"),
    ("jwt_access_token_expire_minutes", "15"),
    ("rate_limit_enabled", "true"),
    ("rate_limit_requests", "100"),
    ("rate_limit_window_seconds", "60"),
    ("rate_limit_fail_open", "true"),
    ("max_active_jobs_per_principal", "0"),
    ("worker_metrics_addr", "0.0.0.0:9091"),
    ("queue_metrics_interval_seconds", "5"),
    ("freecad_pool_size", "2"),
    ("freecad_pool_max_jobs", "200"),
    ("freecad_isolation", "auto"),
    ("freecad_cpu_seconds", "300"),
    ("freecad_memory_mb", "4096"),
    ("freecad_file_size_mb", "512"),
    ("freecad_max_processes", "256"),
];

/// The values `FREECAD_ISOLATION` accepts.
pub const FREECAD_ISOLATION_VALUES: [&str; 3] = ["auto", "bubblewrap", "rlimits_only"];

impl Settings {
    /// Loads the settings from `./config` and the process environment.
    pub fn load() -> Result<Self, ConfigError> {
        let env: HashMap<String, String> = std::env::vars().collect();
        let config_dir = env
            .get("CONFIG_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("config"));
        Self::load_from(&config_dir, env)
    }

    /// Loads the settings from the files in `config_dir` and the given environment.
    pub fn load_from(config_dir: &Path, env: HashMap<String, String>) -> Result<Self, ConfigError> {
        // Empty values mean "unset", as in a copied `.env.example` with blank lines.
        let env: HashMap<String, String> = env
            .into_iter()
            .filter(|(_, value)| !value.is_empty())
            .collect();
        let app_env = env
            .get("APP_ENV")
            .cloned()
            .unwrap_or_else(|| "local".to_owned());

        let mut builder = Config::builder();
        for (key, value) in DEFAULTS {
            builder = builder.set_default(*key, *value)?;
        }
        let settings: Settings = builder
            .add_source(
                File::from(config_dir.join("default.toml"))
                    .format(FileFormat::Toml)
                    .required(false),
            )
            .add_source(
                File::from(config_dir.join(format!("{app_env}.toml")))
                    .format(FileFormat::Toml)
                    .required(false),
            )
            .add_source(Environment::default().source(Some(env)))
            .build()?
            .try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("JOB_TTL_SECONDS", self.job_ttl_seconds),
            ("JOB_TIMEOUT_SECONDS", self.job_timeout_seconds),
            ("JOB_MAX_ATTEMPTS", u64::from(self.job_max_attempts)),
            ("MAX_BODY_BYTES", self.max_body_bytes as u64),
            ("WORKER_HEARTBEAT_SECONDS", self.worker_heartbeat_seconds),
            (
                "WORKER_MISSED_HEARTBEATS",
                u64::from(self.worker_missed_heartbeats),
            ),
            (
                "FREECAD_POOL_MAX_JOBS",
                u64::from(self.freecad_pool_max_jobs),
            ),
            ("FREECAD_CPU_SECONDS", self.freecad_cpu_seconds),
            ("FREECAD_MEMORY_MB", self.freecad_memory_mb),
            ("FREECAD_FILE_SIZE_MB", self.freecad_file_size_mb),
            ("FREECAD_MAX_PROCESSES", self.freecad_max_processes),
            (
                "QUEUE_METRICS_INTERVAL_SECONDS",
                self.queue_metrics_interval_seconds,
            ),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(ConfigError::Message(format!("{name} must be above 0")));
            }
        }
        if !FREECAD_ISOLATION_VALUES.contains(&self.freecad_isolation.as_str()) {
            return Err(ConfigError::Message(format!(
                "FREECAD_ISOLATION must be one of {}, not {:?}",
                FREECAD_ISOLATION_VALUES.join(", "),
                self.freecad_isolation
            )));
        }
        if self.redis_key_prefix.is_empty() {
            return Err(ConfigError::Message(
                "REDIS_KEY_PREFIX must not be empty".to_owned(),
            ));
        }
        Ok(())
    }

    /// The Redis connection URL: `REDIS_URL`, or one built from host, port, db and password.
    pub fn redis_url(&self) -> SecretString {
        if let Some(url) = &self.redis_url {
            return url.clone();
        }
        let auth = match &self.redis_password {
            Some(password) => format!(":{}@", password.expose_secret()),
            None => String::new(),
        };
        SecretString::from(format!(
            "redis://{auth}{}:{}/{}",
            self.redis_host, self.redis_port, self.redis_db
        ))
    }

    /// Worker concurrency with 0 resolved to the number of cores.
    pub fn effective_worker_concurrency(&self) -> usize {
        if self.worker_concurrency > 0 {
            self.worker_concurrency
        } else {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        }
    }

    pub fn job_ttl(&self) -> Duration {
        Duration::from_secs(self.job_ttl_seconds)
    }

    pub fn job_timeout(&self) -> Duration {
        Duration::from_secs(self.job_timeout_seconds)
    }

    pub fn worker_heartbeat(&self) -> Duration {
        Duration::from_secs(self.worker_heartbeat_seconds)
    }

    pub fn rate_limit_window(&self) -> Duration {
        Duration::from_secs(self.rate_limit_window_seconds)
    }

    pub fn queue_metrics_interval(&self) -> Duration {
        Duration::from_secs(self.queue_metrics_interval_seconds)
    }

    /// How long a worker may be silent before apalis-redis presumes it dead and re-queues its
    /// jobs (heartbeat x missed heartbeats); a worker heard from within it counts as alive.
    pub fn worker_orphan_window(&self) -> Duration {
        self.worker_heartbeat() * self.worker_missed_heartbeats
    }

    pub fn worker_shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.worker_shutdown_grace_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn empty_dir() -> tempfile::TempDir {
        tempfile::tempdir().expect("temp dir")
    }

    #[test]
    fn defaults_match_the_design_contract() {
        let dir = empty_dir();
        let s = Settings::load_from(dir.path(), env(&[])).unwrap();
        assert_eq!(s.gateway_addr.to_string(), "0.0.0.0:8080");
        assert_eq!(s.job_ttl_seconds, 604_800);
        assert_eq!(s.job_timeout_seconds, 600);
        assert_eq!(s.job_max_attempts, 3);
        assert_eq!(s.max_body_bytes, 65_536);
        assert_eq!(s.worker_heartbeat_seconds, 10);
        assert_eq!(s.worker_missed_heartbeats, 3);
        assert_eq!(s.worker_shutdown_grace_seconds, 30);
        assert_eq!(s.log_format, LogFormat::Pretty);
        assert_eq!(s.redis_key_prefix, "designer:");
        assert_eq!(s.queue_metrics_interval(), Duration::from_secs(5));
        assert_eq!(s.worker_orphan_window(), Duration::from_secs(30));
        assert_eq!(s.artifact_dir, PathBuf::from("./data/artifacts"));
        assert_eq!(s.redis_url().expose_secret(), "redis://127.0.0.1:6379/0");
        assert!(s.effective_worker_concurrency() >= 1);
        assert!(!s.auth_enabled);
        assert_eq!(s.jwt_algorithm, "HS256");
        assert_eq!(s.jwt_access_token_expire_minutes, 15);
        assert!(s.rate_limit_enabled);
        assert_eq!(s.rate_limit_requests, 100);
        assert_eq!(s.rate_limit_window_seconds, 60);
        assert!(s.rate_limit_fail_open);
        assert_eq!(s.max_active_jobs_per_principal, 0);
    }

    #[test]
    fn the_predecessors_auth_and_rate_limit_names_are_read() {
        let dir = empty_dir();
        let s = Settings::load_from(
            dir.path(),
            env(&[
                ("AUTH_ENABLED", "true"),
                ("AUTH_API_KEYS", "alice:key-1"),
                ("JWT_SECRET_KEY", "0123456789abcdef0123456789abcdef"),
                ("JWT_ALGORITHM", "HS512"),
                ("JWT_ACCESS_TOKEN_EXPIRE_MINUTES", "5"),
                ("RATE_LIMIT_REQUESTS", "7"),
                ("RATE_LIMIT_WINDOW_SECONDS", "2"),
                ("RATE_LIMIT_FAIL_OPEN", "false"),
            ]),
        )
        .unwrap();
        assert!(s.auth_enabled);
        assert_eq!(s.jwt_algorithm, "HS512");
        assert_eq!(s.jwt_access_token_expire_minutes, 5);
        assert_eq!(s.rate_limit_requests, 7);
        assert_eq!(s.rate_limit_window(), Duration::from_secs(2));
        assert!(!s.rate_limit_fail_open);
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("key-1") && !shown.contains("0123456789abcdef"),
            "{shown}"
        );
        assert_eq!(s.worker_metrics_addr.to_string(), "0.0.0.0:9091");
        assert_eq!(s.freecad_pool_size, 2);
        assert_eq!(s.freecad_pool_max_jobs, 200);
        assert_eq!(s.freecad_isolation, "auto");
    }

    #[test]
    fn freecad_isolation_accepts_only_known_modes() {
        let dir = empty_dir();
        for mode in FREECAD_ISOLATION_VALUES {
            let s = Settings::load_from(dir.path(), env(&[("FREECAD_ISOLATION", mode)])).unwrap();
            assert_eq!(s.freecad_isolation, mode);
        }
        let err = Settings::load_from(dir.path(), env(&[("FREECAD_ISOLATION", "none")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("FREECAD_ISOLATION"), "{err}");
        let err = Settings::load_from(dir.path(), env(&[("FREECAD_POOL_MAX_JOBS", "0")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("FREECAD_POOL_MAX_JOBS"), "{err}");
        let cold = Settings::load_from(dir.path(), env(&[("FREECAD_POOL_SIZE", "0")])).unwrap();
        assert_eq!(cold.freecad_pool_size, 0, "0 means a fresh process per job");
    }

    #[test]
    fn files_then_app_env_file_then_environment() {
        let dir = empty_dir();
        std::fs::write(
            dir.path().join("default.toml"),
            "job_timeout_seconds = 100\nmax_body_bytes = 1000\nlog_format = \"json\"\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("staging.toml"),
            "max_body_bytes = 2000\nworker_concurrency = 7\n",
        )
        .unwrap();

        let only_files = Settings::load_from(dir.path(), env(&[])).unwrap();
        assert_eq!(only_files.job_timeout_seconds, 100);
        assert_eq!(only_files.max_body_bytes, 1000);
        assert_eq!(only_files.worker_concurrency, 0, "staging.toml not chosen");

        let staged = Settings::load_from(dir.path(), env(&[("APP_ENV", "staging")])).unwrap();
        assert_eq!(staged.job_timeout_seconds, 100, "from default.toml");
        assert_eq!(
            staged.max_body_bytes, 2000,
            "staging.toml wins over default.toml"
        );
        assert_eq!(staged.worker_concurrency, 7);
        assert_eq!(staged.log_format, LogFormat::Json);

        let from_env = Settings::load_from(
            dir.path(),
            env(&[("APP_ENV", "staging"), ("MAX_BODY_BYTES", "3000")]),
        )
        .unwrap();
        assert_eq!(from_env.max_body_bytes, 3000, "environment wins over files");
    }

    #[test]
    fn predecessor_redis_host_port_names_build_the_url() {
        let dir = empty_dir();
        let s = Settings::load_from(
            dir.path(),
            env(&[
                ("REDIS_HOST", "redis.internal"),
                ("REDIS_PORT", "6380"),
                ("REDIS_DB", "2"),
                ("REDIS_PASSWORD", "s3cret"),
            ]),
        )
        .unwrap();
        assert_eq!(
            s.redis_url().expose_secret(),
            "redis://:s3cret@redis.internal:6380/2"
        );
        assert!(
            !format!("{s:?}").contains("s3cret"),
            "the password must never appear in Debug output"
        );
    }

    #[test]
    fn redis_url_wins_over_host_and_port() {
        let dir = empty_dir();
        let s = Settings::load_from(
            dir.path(),
            env(&[
                ("REDIS_URL", "redis://cache:7000/1"),
                ("REDIS_HOST", "ignored"),
            ]),
        )
        .unwrap();
        assert_eq!(s.redis_url().expose_secret(), "redis://cache:7000/1");
    }

    #[test]
    fn empty_environment_values_count_as_unset() {
        let dir = empty_dir();
        let s = Settings::load_from(dir.path(), env(&[("REDIS_URL", ""), ("FREECAD_CMD", "")]))
            .unwrap();
        assert!(s.redis_url.is_none());
        assert!(s.freecad_cmd.is_none());
    }

    #[test]
    fn invalid_values_are_rejected_with_the_variable_name() {
        let dir = empty_dir();
        let err = Settings::load_from(dir.path(), env(&[("JOB_TIMEOUT_SECONDS", "0")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("JOB_TIMEOUT_SECONDS"), "{err}");
        let err = Settings::load_from(dir.path(), env(&[("MAX_BODY_BYTES", "lots")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_body_bytes"), "{err}");
    }
}
