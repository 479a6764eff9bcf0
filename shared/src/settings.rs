//! Settings: built-in defaults -> `config/default.toml` -> `config/{APP_ENV}.toml` -> environment.
//!
//! Environment variable names are the upper case of the field names below (the list with
//! explanations is `.env.example`). This is the only module that reads the process environment.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use config::{Config, ConfigError, Environment, File, FileFormat};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::artifact_store::StoreLocation;
use crate::model::{AllowedModels, ModelName};

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
    /// Jobs one worker process keeps in flight; 0 means the number of CPU cores. Default 64:
    /// a job mostly waits (on a model, Redis or a FreeCAD slot), and the scarce resources have
    /// bounds of their own (`freecad_pool_size`, `llm_max_in_flight`).
    pub worker_concurrency: usize,
    pub artifact_dir: PathBuf,
    /// `file:///path` or `s3://bucket/prefix`; unset means the folder `artifact_dir`.
    pub artifact_store_url: Option<String>,
    /// Downloads answer with a redirect to a short-lived presigned URL (S3 stores only).
    pub artifact_presigned_downloads: bool,
    /// How long a presigned download URL stays valid.
    pub artifact_presigned_ttl_seconds: u64,
    /// How often a gateway deletes the files of jobs whose record expired (`JOB_TTL_SECONDS`).
    pub artifact_sweep_interval_seconds: u64,
    /// The standard AWS variables of an `s3://` artifact store.
    pub aws_access_key_id: Option<SecretString>,
    pub aws_secret_access_key: Option<SecretString>,
    pub aws_session_token: Option<SecretString>,
    pub aws_region: String,
    /// An S3-compatible service's endpoint (MinIO, Ceph, R2...); unset means AWS.
    pub aws_endpoint_url: Option<String>,
    /// Allows a plain-http `AWS_ENDPOINT_URL`.
    pub aws_allow_http: bool,
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
    /// Requests that submit work (POST, DELETE: submit, refine, cancel, feedback) per
    /// principal (per client IP with auth off) per window.
    pub rate_limit_requests: u32,
    /// Requests that read (GET: status, listing, events, downloads) per principal per window;
    /// a budget of its own so that polling does not use up the budget for submitting.
    pub rate_limit_read_requests: u32,
    /// Proxies (comma-separated CIDRs) whose `X-Forwarded-For` names the client, with auth
    /// off; empty: the peer address is the client.
    pub trusted_proxies: String,
    pub rate_limit_window_seconds: u64,
    /// With Redis unreachable: let requests through (true) or answer 503 (false).
    pub rate_limit_fail_open: bool,
    /// Jobs one principal may have pending or running at once; 0 = no cap.
    pub max_active_jobs_per_principal: u32,
    /// Longest a client may take to send a request's head, and longest an idle keep-alive
    /// connection waits for its next request; then the gateway closes it.
    pub http_header_timeout_seconds: u64,
    /// Connections one gateway holds at once (HTTP, SSE and WebSocket); more get a 503.
    pub max_connections: usize,
    /// Event streams (SSE and WebSocket) one gateway holds at once; more get a 503.
    pub max_streams: usize,
    /// Event streams one principal (one client IP with auth off) holds on one gateway; more
    /// get a 429.
    pub max_streams_per_principal: usize,
    /// Principals allowed on `/api/v1/admin/*`, comma-separated.
    pub admin_principals: String,
    /// Signs `callback_url` deliveries (HMAC-SHA256); unset: `callback_url` is refused unless
    /// `webhook_allow_unsigned`.
    pub webhook_secret: Option<SecretString>,
    /// Hosts a `callback_url` may name, comma-separated exact names; unset: any public host.
    pub webhook_allowed_hosts: Option<String>,
    /// Let callbacks reach loopback, private, link-local and other non-public addresses
    /// (test rigs only; cloud metadata addresses stay refused).
    pub webhook_allow_private: bool,
    /// Accept `callback_url`s although no `WEBHOOK_SECRET` signs the deliveries.
    pub webhook_allow_unsigned: bool,
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
    /// The tessellation's largest distance from the true surface, in mm (every mesh format
    /// and the thumbnail come from this one tessellation).
    pub mesh_linear_deflection: f64,
    /// The tessellation's largest angle between neighbouring facets, in radians (0.1 keeps
    /// a cylinder's mesh volume within 0.2 % of the exact one, whatever its size).
    pub mesh_angular_deflection: f64,
    /// Origins a browser may call the API from, comma-separated (`*` for any); empty: none.
    pub cors_allowed_origins: String,

    /// Each agent's models (`[llm_agents.<agent>]` in a config file, or
    /// `AGENT_{AGENT}_{PRIMARY|FALLBACK|TEMPERATURE|MAX_TOKENS}`).
    pub llm_agents: LlmAgents,
    pub openai_api_key: Option<SecretString>,
    pub anthropic_api_key: Option<SecretString>,
    pub gemini_api_key: Option<SecretString>,
    /// Read when `GEMINI_API_KEY` is unset, as Google's own SDKs do.
    pub google_api_key: Option<SecretString>,
    pub deepseek_api_key: Option<SecretString>,
    /// Includes the version path: requests go to `{base}/chat/completions`.
    pub openai_base_url: String,
    /// The host: requests go to `{base}/v1/messages`.
    pub anthropic_base_url: String,
    /// The host: requests go to `{base}/v1beta/models/{model}:generateContent`.
    pub gemini_base_url: String,
    /// Includes the version path, like `OPENAI_BASE_URL`.
    pub deepseek_base_url: String,
    /// The host: requests go to its OpenAI-compatible `{base}/v1/chat/completions`.
    pub ollama_base_url: String,
    /// Retries of one model after its first attempt (429, 5xx, timeouts, connection errors).
    pub llm_max_retries: u32,
    /// First backoff delay; it doubles per retry, with full jitter, up to `llm_retry_max_ms`.
    pub llm_retry_base_ms: u64,
    pub llm_retry_max_ms: u64,
    /// Longest one model request may take, streaming included.
    pub llm_timeout_seconds: u64,
    /// Stream model answers (each piece becomes an `llm_chunk` event) or ask for them whole.
    pub llm_stream: bool,
    /// Model requests one worker process has open at once per provider, so a slow vendor
    /// cannot hold every in-flight job.
    pub llm_max_in_flight: usize,
    /// A TOML price table (USD per million tokens) whose entries replace or extend the
    /// built-in one (`worker/data/prices.toml`).
    pub llm_price_file: Option<PathBuf>,
    /// Models a request may name in `model`, comma-separated; unset: the agents' configured
    /// primary and fallback models. `builtin/offline` is always allowed.
    pub allowed_models: Option<String>,
    /// Let jobs use models that the price table does not list (their spend is then unknown).
    pub llm_allow_unpriced: bool,
}

/// The model settings of one agent (README.md, "Models").
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AgentModelSettings {
    /// `provider/model`, e.g. `openai/gpt-4o`, or `builtin/offline`.
    pub primary: String,
    /// Asked when the primary gives up; `none` (or empty) for no fallback.
    pub fallback: String,
    pub temperature: f64,
    pub max_tokens: u32,
}

impl AgentModelSettings {
    /// The fallback model, unless it is switched off.
    pub fn fallback_model(&self) -> Option<&str> {
        let fallback = self.fallback.trim();
        (!fallback.is_empty() && !fallback.eq_ignore_ascii_case("none")).then_some(fallback)
    }
}

/// The four agents' model settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LlmAgents {
    pub planner: AgentModelSettings,
    pub generator: AgentModelSettings,
    pub validator: AgentModelSettings,
    pub orchestrator: AgentModelSettings,
}

/// The agents with model settings, as named in `AGENT_{NAME}_*` and `[llm_agents.{name}]`.
pub const AGENT_NAMES: [&str; 4] = ["planner", "generator", "validator", "orchestrator"];
/// The keys of one agent's model settings.
pub const AGENT_SETTING_KEYS: [&str; 4] = ["primary", "fallback", "temperature", "max_tokens"];

/// The predecessor's default models: (agent, primary, fallback, temperature, max tokens).
const DEFAULT_AGENT_MODELS: [(&str, &str, &str, &str, &str); 4] = [
    (
        "planner",
        "anthropic/claude-3-5-sonnet-20241022",
        "google/gemini-pro",
        "0.3",
        "4096",
    ),
    (
        "generator",
        "openai/gpt-4o",
        "deepseek/deepseek-coder",
        "0.2",
        "8192",
    ),
    (
        "validator",
        "anthropic/claude-3-5-sonnet-20241022",
        "openai/gpt-4o",
        "0.3",
        "2048",
    ),
    (
        "orchestrator",
        "anthropic/claude-3-5-sonnet-20241022",
        "google/gemini-pro",
        "0.4",
        "2048",
    ),
];

/// Defaults that hold when neither a file nor the environment says otherwise.
const DEFAULTS: &[(&str, &str)] = &[
    ("app_env", "local"),
    ("gateway_addr", "0.0.0.0:8080"),
    ("worker_concurrency", "64"),
    ("artifact_dir", "./data/artifacts"),
    ("artifact_presigned_downloads", "false"),
    ("artifact_presigned_ttl_seconds", "300"),
    ("artifact_sweep_interval_seconds", "3600"),
    ("aws_region", "us-east-1"),
    ("aws_allow_http", "false"),
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
    ("rate_limit_read_requests", "1200"),
    ("trusted_proxies", ""),
    ("rate_limit_window_seconds", "60"),
    ("rate_limit_fail_open", "true"),
    ("max_active_jobs_per_principal", "0"),
    ("http_header_timeout_seconds", "10"),
    ("max_connections", "16384"),
    ("max_streams", "16384"),
    ("max_streams_per_principal", "100"),
    ("admin_principals", "admin"),
    ("webhook_allow_private", "false"),
    ("webhook_allow_unsigned", "false"),
    ("llm_allow_unpriced", "false"),
    ("worker_metrics_addr", "0.0.0.0:9091"),
    ("queue_metrics_interval_seconds", "5"),
    ("freecad_pool_size", "2"),
    ("freecad_pool_max_jobs", "200"),
    ("freecad_isolation", "bubblewrap"),
    ("freecad_cpu_seconds", "300"),
    ("freecad_memory_mb", "4096"),
    ("freecad_file_size_mb", "512"),
    ("freecad_max_processes", "256"),
    ("mesh_linear_deflection", "0.05"),
    ("mesh_angular_deflection", "0.1"),
    ("cors_allowed_origins", ""),
    ("openai_base_url", "https://api.openai.com/v1"),
    ("anthropic_base_url", "https://api.anthropic.com"),
    (
        "gemini_base_url",
        "https://generativelanguage.googleapis.com",
    ),
    ("deepseek_base_url", "https://api.deepseek.com/v1"),
    ("ollama_base_url", "http://localhost:11434"),
    ("llm_max_retries", "3"),
    ("llm_retry_base_ms", "500"),
    ("llm_retry_max_ms", "30000"),
    ("llm_timeout_seconds", "120"),
    ("llm_stream", "true"),
    ("llm_max_in_flight", "32"),
];

/// Every environment variable the binaries read, derived from [`Settings`] itself (its
/// serde field names, upper-cased), plus the flat agent names and `CONFIG_DIR`: the list
/// deployment files are checked against, so it cannot drift from what is really read.
pub fn environment_variables() -> Vec<String> {
    let mut names: Vec<String> = struct_field_names::<Settings>()
        .iter()
        .filter(|field| **field != "llm_agents")
        .map(|field| field.to_uppercase())
        .collect();
    for agent in AGENT_NAMES {
        for key in AGENT_SETTING_KEYS {
            names.push(format!("AGENT_{agent}_{key}").to_uppercase());
        }
    }
    names.push("CONFIG_DIR".to_owned());
    names
}

/// The field names serde's derive hands to `deserialize_struct` for `T`.
fn struct_field_names<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    struct FieldNames(&'static [&'static str]);
    impl<'de> serde::Deserializer<'de> for &mut FieldNames {
        type Error = serde::de::value::Error;
        fn deserialize_struct<V: serde::de::Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Self::Error> {
            self.0 = fields;
            Err(serde::de::Error::custom("only the field names were wanted"))
        }
        fn deserialize_any<V: serde::de::Visitor<'de>>(
            self,
            _visitor: V,
        ) -> Result<V::Value, Self::Error> {
            Err(serde::de::Error::custom("not a struct"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    let mut names = FieldNames(&[]);
    let _ = T::deserialize(&mut names);
    names.0
}

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
        for (agent, primary, fallback, temperature, max_tokens) in DEFAULT_AGENT_MODELS {
            for (key, value) in
                AGENT_SETTING_KEYS
                    .iter()
                    .zip([primary, fallback, temperature, max_tokens])
            {
                builder = builder.set_default(format!("llm_agents.{agent}.{key}"), value)?;
            }
        }
        // `AGENT_PLANNER_PRIMARY` and friends are flat names for a nested section, which the
        // `config` crate's environment source cannot split (agent and key names contain `_`
        // too), so they are applied here, still as the last layer.
        for agent in AGENT_NAMES {
            for key in AGENT_SETTING_KEYS {
                let name = format!("AGENT_{}_{}", agent, key).to_uppercase();
                if let Some(value) = env.get(&name) {
                    builder =
                        builder.set_override(format!("llm_agents.{agent}.{key}"), value.clone())?;
                }
            }
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
            ("LLM_RETRY_BASE_MS", self.llm_retry_base_ms),
            ("LLM_RETRY_MAX_MS", self.llm_retry_max_ms),
            ("LLM_TIMEOUT_SECONDS", self.llm_timeout_seconds),
            ("LLM_MAX_IN_FLIGHT", self.llm_max_in_flight as u64),
            (
                "QUEUE_METRICS_INTERVAL_SECONDS",
                self.queue_metrics_interval_seconds,
            ),
            (
                "HTTP_HEADER_TIMEOUT_SECONDS",
                self.http_header_timeout_seconds,
            ),
            ("MAX_CONNECTIONS", self.max_connections as u64),
            ("MAX_STREAMS", self.max_streams as u64),
            (
                "MAX_STREAMS_PER_PRINCIPAL",
                self.max_streams_per_principal as u64,
            ),
            (
                "ARTIFACT_PRESIGNED_TTL_SECONDS",
                self.artifact_presigned_ttl_seconds,
            ),
            (
                "ARTIFACT_SWEEP_INTERVAL_SECONDS",
                self.artifact_sweep_interval_seconds,
            ),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(ConfigError::Message(format!("{name} must be above 0")));
            }
        }
        let store = self
            .artifact_store_location()
            .map_err(|e| ConfigError::Message(format!("ARTIFACT_STORE_URL: {e}")))?;
        if self.artifact_presigned_downloads && !matches!(store, StoreLocation::S3 { .. }) {
            return Err(ConfigError::Message(
                "ARTIFACT_PRESIGNED_DOWNLOADS=true needs an s3:// ARTIFACT_STORE_URL \
                 (a folder store has nothing to presign)"
                    .to_owned(),
            ));
        }
        for (name, value) in [
            ("MESH_LINEAR_DEFLECTION", self.mesh_linear_deflection),
            ("MESH_ANGULAR_DEFLECTION", self.mesh_angular_deflection),
        ] {
            if !(value.is_finite() && value > 0.0) {
                return Err(ConfigError::Message(format!(
                    "{name} must be a number above 0, not {value}"
                )));
            }
        }
        if !FREECAD_ISOLATION_VALUES.contains(&self.freecad_isolation.as_str()) {
            return Err(ConfigError::Message(format!(
                "FREECAD_ISOLATION must be one of {}, not {:?}",
                FREECAD_ISOLATION_VALUES.join(", "),
                self.freecad_isolation
            )));
        }
        for (agent, models) in self.llm_agents.iter() {
            let name = agent.to_uppercase();
            if let Err(error) = ModelName::parse(&models.primary) {
                return Err(ConfigError::Message(format!(
                    "AGENT_{name}_PRIMARY must be provider/model: {error}"
                )));
            }
            if let Some(fallback) = models.fallback_model()
                && let Err(error) = ModelName::parse(fallback)
            {
                return Err(ConfigError::Message(format!(
                    "AGENT_{name}_FALLBACK must be provider/model or none: {error}"
                )));
            }
            if !(0.0..=2.0).contains(&models.temperature) {
                return Err(ConfigError::Message(format!(
                    "AGENT_{name}_TEMPERATURE must be within 0..=2"
                )));
            }
            if models.max_tokens == 0 {
                return Err(ConfigError::Message(format!(
                    "AGENT_{name}_MAX_TOKENS must be above 0"
                )));
            }
        }
        if let Err(error) = AllowedModels::from_settings(self) {
            return Err(ConfigError::Message(format!("ALLOWED_MODELS: {error}")));
        }
        self.trusted_proxy_networks()?;
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

    /// The Gemini key: `GEMINI_API_KEY`, else `GOOGLE_API_KEY`.
    pub fn gemini_key(&self) -> Option<&SecretString> {
        self.gemini_api_key
            .as_ref()
            .or(self.google_api_key.as_ref())
    }

    /// Worker concurrency with 0 resolved to the number of cores.
    pub fn effective_worker_concurrency(&self) -> usize {
        if self.worker_concurrency > 0 {
            self.worker_concurrency
        } else {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        }
    }

    /// Where artifacts are stored: `ARTIFACT_STORE_URL`, or else the folder `ARTIFACT_DIR`.
    pub fn artifact_store_location(&self) -> Result<StoreLocation, String> {
        StoreLocation::parse(self.artifact_store_url.as_deref(), &self.artifact_dir)
    }

    pub fn artifact_presigned_ttl(&self) -> Duration {
        Duration::from_secs(self.artifact_presigned_ttl_seconds)
    }

    pub fn artifact_sweep_interval(&self) -> Duration {
        Duration::from_secs(self.artifact_sweep_interval_seconds)
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

    pub fn is_admin(&self, principal: &str) -> bool {
        self.admin_principals
            .split(',')
            .map(str::trim)
            .any(|admin| !admin.is_empty() && admin == principal)
    }

    /// `TRUSTED_PROXIES` parsed; a bare address is a /32 (or /128).
    pub fn trusted_proxy_networks(&self) -> Result<Vec<ipnet::IpNet>, ConfigError> {
        self.trusted_proxies
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                item.parse::<ipnet::IpNet>()
                    .or_else(|_| item.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        ConfigError::Message(format!(
                            "TRUSTED_PROXIES: {item:?} is not a CIDR (e.g. 10.0.0.0/8) or an address"
                        ))
                    })
            })
            .collect()
    }

    pub fn rate_limit_window(&self) -> Duration {
        Duration::from_secs(self.rate_limit_window_seconds)
    }

    pub fn http_header_timeout(&self) -> Duration {
        Duration::from_secs(self.http_header_timeout_seconds)
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

impl LlmAgents {
    /// Each agent's name with its settings, in [`AGENT_NAMES`] order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &AgentModelSettings)> {
        AGENT_NAMES.into_iter().zip([
            &self.planner,
            &self.generator,
            &self.validator,
            &self.orchestrator,
        ])
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
        assert_eq!(s.effective_worker_concurrency(), 64);
        assert_eq!(s.llm_max_in_flight, 32);
        assert!(!s.auth_enabled);
        assert_eq!(s.jwt_algorithm, "HS256");
        assert_eq!(s.jwt_access_token_expire_minutes, 15);
        assert!(s.rate_limit_enabled);
        assert_eq!(s.rate_limit_requests, 100);
        assert_eq!(s.rate_limit_window_seconds, 60);
        assert!(s.rate_limit_fail_open);
        assert_eq!(s.max_active_jobs_per_principal, 0);
        assert_eq!(s.http_header_timeout(), Duration::from_secs(10));
        assert_eq!(s.max_connections, 16_384);
        assert_eq!(s.max_streams, 16_384);
        assert_eq!(s.max_streams_per_principal, 100);
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
        assert_eq!(s.freecad_isolation, "bubblewrap");
    }

    #[test]
    fn the_variable_list_is_derived_from_the_settings_fields() {
        let names = environment_variables();
        for expected in [
            "REDIS_URL",
            "ARTIFACT_STORE_URL",
            "AWS_ENDPOINT_URL",
            "WORKER_SHUTDOWN_GRACE_SECONDS",
            "AGENT_PLANNER_PRIMARY",
            "CONFIG_DIR",
            "APP_ENV",
        ] {
            assert!(names.iter().any(|n| n == expected), "{expected}: {names:?}");
        }
        assert!(!names.iter().any(|n| n == "LLM_AGENTS"), "{names:?}");
        // Every derived name really is read: setting it to garbage changes the outcome or is
        // accepted as a string, never ignored because of a spelling mismatch.
        let dir = empty_dir();
        let err = Settings::load_from(dir.path(), env(&[("ARTIFACT_SWEEP_INTERVAL_SECONDS", "x")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("artifact_sweep_interval_seconds"), "{err}");
    }

    #[test]
    fn artifact_store_settings_are_checked_at_load() {
        let dir = empty_dir();
        let err = Settings::load_from(dir.path(), env(&[("ARTIFACT_STORE_URL", "ftp://x")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("ARTIFACT_STORE_URL"), "{err}");
        let err = Settings::load_from(dir.path(), env(&[("ARTIFACT_PRESIGNED_DOWNLOADS", "true")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("ARTIFACT_PRESIGNED_DOWNLOADS"), "{err}");
        let s3 = Settings::load_from(
            dir.path(),
            env(&[
                ("ARTIFACT_STORE_URL", "s3://bucket/prefix"),
                ("ARTIFACT_PRESIGNED_DOWNLOADS", "true"),
                ("AWS_SECRET_ACCESS_KEY", "very-secret-value"),
                ("AWS_ALLOW_HTTP", "true"),
            ]),
        )
        .unwrap();
        assert!(s3.aws_allow_http && s3.artifact_presigned_downloads);
        assert!(!format!("{s3:?}").contains("very-secret-value"));
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
        assert_eq!(only_files.worker_concurrency, 64, "staging.toml not chosen");

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

    #[test]
    fn agent_models_default_to_the_predecessors() {
        let dir = empty_dir();
        let s = Settings::load_from(dir.path(), env(&[])).unwrap();
        let agents = &s.llm_agents;
        assert_eq!(
            agents.planner.primary,
            "anthropic/claude-3-5-sonnet-20241022"
        );
        assert_eq!(agents.planner.fallback_model(), Some("google/gemini-pro"));
        assert_eq!(agents.planner.temperature, 0.3);
        assert_eq!(agents.planner.max_tokens, 4096);
        assert_eq!(agents.generator.primary, "openai/gpt-4o");
        assert_eq!(
            agents.generator.fallback_model(),
            Some("deepseek/deepseek-coder")
        );
        assert_eq!(agents.generator.temperature, 0.2);
        assert_eq!(agents.generator.max_tokens, 8192);
        assert_eq!(agents.validator.fallback_model(), Some("openai/gpt-4o"));
        assert_eq!(agents.validator.max_tokens, 2048);
        assert_eq!(agents.orchestrator.temperature, 0.4);
        assert_eq!(s.openai_base_url, "https://api.openai.com/v1");
        assert_eq!(s.anthropic_base_url, "https://api.anthropic.com");
        assert_eq!(
            s.gemini_base_url,
            "https://generativelanguage.googleapis.com"
        );
        assert_eq!(s.deepseek_base_url, "https://api.deepseek.com/v1");
        assert_eq!(s.ollama_base_url, "http://localhost:11434");
        assert!(s.openai_api_key.is_none() && s.gemini_key().is_none());
        assert!(s.llm_stream);
    }

    #[test]
    fn agent_models_layer_file_then_environment() {
        let dir = empty_dir();
        std::fs::write(
            dir.path().join("default.toml"),
            "[llm_agents.generator]\nprimary = \"ollama/qwen2.5-coder\"\nmax_tokens = 1000\n\
             [llm_agents.validator]\nfallback = \"none\"\n",
        )
        .unwrap();
        let from_file = Settings::load_from(dir.path(), env(&[])).unwrap();
        assert_eq!(
            from_file.llm_agents.generator.primary,
            "ollama/qwen2.5-coder"
        );
        assert_eq!(from_file.llm_agents.generator.max_tokens, 1000);
        assert_eq!(
            from_file.llm_agents.generator.temperature, 0.2,
            "keys the file leaves out keep their defaults"
        );
        assert_eq!(from_file.llm_agents.validator.fallback_model(), None);

        let from_env = Settings::load_from(
            dir.path(),
            env(&[
                ("AGENT_GENERATOR_PRIMARY", "deepseek/deepseek-reasoner"),
                ("AGENT_PLANNER_TEMPERATURE", "0.7"),
                ("AGENT_ORCHESTRATOR_MAX_TOKENS", "99"),
            ]),
        )
        .unwrap();
        let agents = &from_env.llm_agents;
        assert_eq!(agents.generator.primary, "deepseek/deepseek-reasoner");
        assert_eq!(agents.generator.max_tokens, 1000, "still from the file");
        assert_eq!(agents.planner.temperature, 0.7);
        assert_eq!(agents.orchestrator.max_tokens, 99);
    }

    #[test]
    fn provider_keys_never_print_and_google_key_stands_in_for_gemini() {
        let dir = empty_dir();
        let s = Settings::load_from(
            dir.path(),
            env(&[
                ("OPENAI_API_KEY", "sk-openai-secret"),
                ("ANTHROPIC_API_KEY", "sk-ant-secret"),
                ("GOOGLE_API_KEY", "google-secret"),
                ("DEEPSEEK_API_KEY", "deepseek-secret"),
                ("OPENAI_BASE_URL", "http://127.0.0.1:9/v1"),
            ]),
        )
        .unwrap();
        assert_eq!(s.gemini_key().unwrap().expose_secret(), "google-secret");
        assert_eq!(s.openai_base_url, "http://127.0.0.1:9/v1");
        let shown = format!("{s:?}");
        for secret in ["sk-openai", "sk-ant", "google-secret", "deepseek-secret"] {
            assert!(!shown.contains(secret), "{secret} printed in {shown}");
        }
    }

    #[test]
    fn malformed_agent_models_name_the_variable() {
        let dir = empty_dir();
        for (name, value) in [
            ("AGENT_PLANNER_PRIMARY", "gpt-4o"),
            ("AGENT_GENERATOR_FALLBACK", "coder"),
            ("AGENT_VALIDATOR_TEMPERATURE", "3"),
            ("AGENT_ORCHESTRATOR_MAX_TOKENS", "0"),
        ] {
            let err = Settings::load_from(dir.path(), env(&[(name, value)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(name), "{name}: {err}");
        }
    }
}
