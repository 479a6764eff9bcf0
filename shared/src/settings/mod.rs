//! Settings: built-in defaults -> `config/default.toml` -> `config/{APP_ENV}.toml` -> environment.
//!
//! Environment variable names are the upper case of [`raw::RawSettings`]'s field names (the
//! list with explanations is `.env.example`). This is the only module that reads the process
//! environment. The flat struct exists only for the `config` crate's coercion; the code reads
//! [`Settings`], whose groups (`http`, `redis`, `queue`, ...) hold values already parsed:
//! durations, enums, lists and the resolved Redis URL and artifact store.

mod raw;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use config::{Config, ConfigError, Environment, File, FileFormat};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::artifact_store::StoreLocation;
use crate::budget::{BudgetPeriod, PrincipalBudgets};
use crate::model::{AllowedModels, ModelName};
pub use raw::{
    AGENT_NAMES, AGENT_SETTING_KEYS, AgentModelSettings, LlmAgents, environment_variables,
};
use raw::{DEFAULT_AGENT_MODELS, DEFAULTS, RawSettings};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

/// `FREECAD_ISOLATION`: how the operator wants model-written scripts kept from the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreecadIsolation {
    /// Kept for old configurations: the same as `Bubblewrap` (it never falls back silently).
    Auto,
    /// bubblewrap or refuse to start.
    Bubblewrap,
    /// Never try bubblewrap: rlimits, an unprivileged user and no new privileges only.
    RlimitsOnly,
}

impl FreecadIsolation {
    pub const ALL: [Self; 3] = [Self::Auto, Self::Bubblewrap, Self::RlimitsOnly];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Bubblewrap => "bubblewrap",
            Self::RlimitsOnly => "rlimits_only",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|mode| mode.as_str() == value)
    }
}

/// `JWT_ALGORITHM`: the algorithms a token may be signed with (one per deployment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlgorithm {
    Hs256,
    Hs384,
    Hs512,
    Rs256,
    Rs384,
    Rs512,
    Es256,
    Es384,
}

impl JwtAlgorithm {
    pub const ALL: [Self; 8] = [
        Self::Hs256,
        Self::Hs384,
        Self::Hs512,
        Self::Rs256,
        Self::Rs384,
        Self::Rs512,
        Self::Es256,
        Self::Es384,
    ];

    /// The name as JWT headers and `JWT_ALGORITHM` spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hs256 => "HS256",
            Self::Hs384 => "HS384",
            Self::Hs512 => "HS512",
            Self::Rs256 => "RS256",
            Self::Rs384 => "RS384",
            Self::Rs512 => "RS512",
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
        }
    }

    /// Case-insensitive, as the predecessor read it.
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|algorithm| algorithm.as_str().eq_ignore_ascii_case(value.trim()))
    }

    /// HMAC with a shared secret (`JWT_SECRET_KEY`), rather than a key pair.
    pub fn is_hmac(self) -> bool {
        matches!(self, Self::Hs256 | Self::Hs384 | Self::Hs512)
    }
}

/// Every setting of the gateway and the workers, grouped by what reads them.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Name of the optional extra layer `config/{app_env}.toml`.
    pub app_env: String,
    pub telemetry: TelemetrySettings,
    pub http: HttpSettings,
    pub rate_limit: RateLimitSettings,
    pub auth: AuthSettings,
    pub redis: RedisSettings,
    pub queue: QueueSettings,
    pub artifacts: ArtifactSettings,
    pub webhooks: WebhookSettings,
    pub freecad: FreecadSettings,
    pub llm: LlmSettings,
    pub budgets: BudgetSettings,
    pub result_cache: ResultCacheSettings,
}

/// The result cache of completed designs (README.md, "The result cache").
#[derive(Debug, Clone)]
pub struct ResultCacheSettings {
    /// How long an entry lives (`RESULT_CACHE_TTL_SECONDS`); `None` (0) turns the cache off.
    pub ttl: Option<Duration>,
}

/// Logs and the worker's metrics endpoint.
#[derive(Debug, Clone)]
pub struct TelemetrySettings {
    pub log_format: LogFormat,
    /// `RUST_LOG`: the tracing filter.
    pub rust_log: String,
    /// Where a worker serves `/health`, `/ready` and `/metrics`.
    pub worker_metrics_addr: SocketAddr,
}

/// The gateway's HTTP server and its caps.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub gateway_addr: SocketAddr,
    pub max_body_bytes: usize,
    /// Longest a client may take to send a request's head, and longest an idle keep-alive
    /// connection waits for its next request; then the gateway closes it.
    pub header_timeout: Duration,
    /// Connections one gateway holds at once (HTTP, SSE and WebSocket); more get a 503.
    pub max_connections: usize,
    /// Event streams (SSE and WebSocket) one gateway holds at once; more get a 503. Each
    /// stream holds a broadcast receiver and a task, so this bounds the gateway's memory.
    pub max_streams: usize,
    /// Event streams one principal (one client IP with auth off) holds on one gateway; more
    /// get a 429, so one client cannot take every slot of `max_streams`.
    pub max_streams_per_principal: usize,
    /// Origins a browser may call the API from, comma-separated (`*` for any); empty: none.
    pub cors_allowed_origins: String,
    /// Proxies whose `X-Forwarded-For` names the client, with auth off; empty: the peer
    /// address is the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// The shared sliding-window rate limit and the cap on active jobs.
#[derive(Debug, Clone)]
pub struct RateLimitSettings {
    /// Off: no request is counted or limited (the predecessor's self-disabling switch).
    pub enabled: bool,
    /// Requests that submit work (POST, DELETE) per principal (per client IP with auth off)
    /// per window.
    pub requests: u32,
    /// Requests that read (GET) per principal per window; a budget of its own so that
    /// polling does not use up the budget for submitting.
    pub read_requests: u32,
    pub window: Duration,
    /// With Redis unreachable: let requests through (true) or answer 503 (false).
    pub fail_open: bool,
    /// Jobs one principal may have pending or running at once; 0 = no cap.
    pub max_active_jobs_per_principal: u32,
}

/// API keys, JWTs and administrators.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// Off: every request is the `anonymous` principal.
    pub enabled: bool,
    /// `name:key` or `name:sha256:<hex>` pairs, comma-separated.
    pub api_keys: Option<SecretString>,
    pub jwt_algorithm: JwtAlgorithm,
    /// HMAC secret for HS256/384/512 tokens.
    pub jwt_secret_key: Option<SecretString>,
    /// PEM public key that verifies RS*/ES* tokens.
    pub jwt_public_key: Option<String>,
    /// PEM private key that signs RS*/ES* tokens (only needed to issue them).
    pub jwt_private_key: Option<SecretString>,
    /// How long an issued access token stays valid.
    pub access_token_lifetime: Duration,
    /// Principals allowed on `/api/v1/admin/*`.
    pub admin_principals: Vec<String>,
}

impl AuthSettings {
    pub fn is_admin(&self, principal: &str) -> bool {
        self.admin_principals.iter().any(|admin| admin == principal)
    }
}

/// Where Redis is and which keys are ours.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// `REDIS_URL`, or one built from `REDIS_HOST`, `REDIS_PORT`, `REDIS_DB`, `REDIS_PASSWORD`.
    pub url: SecretString,
    /// Prefix of every key of ours (not of the apalis-redis queue keys).
    pub key_prefix: String,
}

/// The job queue: lifetimes, retries, and the workers' share of it.
#[derive(Debug, Clone)]
pub struct QueueSettings {
    /// How long a job's record (and so its files) is kept.
    pub job_ttl: Duration,
    /// Longest one attempt of a job may run.
    pub job_timeout: Duration,
    pub job_max_attempts: u32,
    /// Jobs one worker process keeps in flight (`WORKER_CONCURRENCY`, 0 resolved to the number
    /// of cores). Default 64: a job mostly waits (on a model, Redis or a FreeCAD slot), and the
    /// scarce resources have bounds of their own (`FREECAD_POOL_SIZE`, `LLM_MAX_IN_FLIGHT`).
    pub worker_concurrency: usize,
    pub worker_heartbeat: Duration,
    pub worker_missed_heartbeats: u32,
    pub worker_shutdown_grace: Duration,
    /// How often the gateway holding the sampler lock reads the queue's depth by state.
    pub metrics_interval: Duration,
    /// Fair scheduling: how deep the active list is kept and the principals' weights.
    pub dispatch: crate::queue::DispatchPolicy,
}

impl QueueSettings {
    /// How long a worker may be silent before apalis-redis presumes it dead and re-queues its
    /// jobs (heartbeat x missed heartbeats); a worker heard from within it counts as alive.
    pub fn worker_orphan_window(&self) -> Duration {
        self.worker_heartbeat * self.worker_missed_heartbeats
    }
}

/// The artifact store and its S3 credentials.
#[derive(Debug, Clone)]
pub struct ArtifactSettings {
    /// `ARTIFACT_STORE_URL`, or else the folder `ARTIFACT_DIR`.
    pub location: StoreLocation,
    /// Downloads answer with a redirect to a short-lived presigned URL (S3 stores only).
    pub presigned_downloads: bool,
    /// How long a presigned download URL stays valid.
    pub presigned_ttl: Duration,
    /// How often a gateway deletes the files of jobs whose record expired (`JOB_TTL_SECONDS`).
    pub sweep_interval: Duration,
    pub s3: S3Settings,
}

/// The standard AWS variables of an `s3://` artifact store.
#[derive(Debug, Clone)]
pub struct S3Settings {
    pub access_key_id: Option<SecretString>,
    pub secret_access_key: Option<SecretString>,
    pub session_token: Option<SecretString>,
    pub region: String,
    /// An S3-compatible service's endpoint (MinIO, Ceph, R2...); unset means AWS.
    pub endpoint_url: Option<String>,
    /// Allows a plain-http endpoint.
    pub allow_http: bool,
}

/// `callback_url` deliveries.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Signs deliveries (HMAC-SHA256); unset: `callback_url` is refused unless `allow_unsigned`.
    pub secret: Option<SecretString>,
    /// Hosts a `callback_url` may name, comma-separated exact names; unset: any public host.
    pub allowed_hosts: Option<String>,
    /// Let callbacks reach loopback, private, link-local and other non-public addresses
    /// (test rigs only; cloud metadata addresses stay refused).
    pub allow_private: bool,
    /// Accept `callback_url`s although no `WEBHOOK_SECRET` signs the deliveries.
    pub allow_unsigned: bool,
}

/// Finding FreeCAD, its pool, its sandbox and its tessellation.
#[derive(Debug, Clone)]
pub struct FreecadSettings {
    /// Explicit `freecadcmd` to run; unset means look further.
    pub cmd: Option<String>,
    /// A FreeCAD installation directory (its `bin/freecadcmd` is used).
    pub install_dir: Option<String>,
    /// A FreeCAD AppImage, run with `--console`.
    pub appimage_path: Option<String>,
    /// The process's `PATH`, searched for `freecadcmd` when nothing above names it.
    pub search_path: Option<String>,
    /// Warm FreeCAD processes per worker; 0 starts a fresh process per job.
    pub pool_size: usize,
    /// Jobs a warm FreeCAD process runs before it is replaced.
    pub pool_max_jobs: u32,
    pub isolation: FreecadIsolation,
    /// CPU seconds one script may use.
    pub cpu_seconds: u64,
    /// Address space of a FreeCAD process, in MiB.
    pub memory_mb: u64,
    /// Largest file a FreeCAD process may write, in MiB.
    pub file_size_mb: u64,
    /// Size of a sandbox's job folder (a tmpfs under bubblewrap: all the job's files), in MiB.
    pub job_dir_mb: u64,
    /// Processes and threads a FreeCAD sandbox may hold at once.
    pub max_processes: u64,
    /// The tessellation's largest distance from the true surface, in mm (every mesh format
    /// and the thumbnail come from this one tessellation).
    pub mesh_linear_deflection: f64,
    /// The tessellation's largest angle between neighbouring facets, in radians (0.1 keeps
    /// a cylinder's mesh volume within 0.2 % of the exact one, whatever its size).
    pub mesh_angular_deflection: f64,
}

/// Models: the agents' choices, vendors' keys and addresses, retries and limits.
#[derive(Debug, Clone)]
pub struct LlmSettings {
    pub agents: LlmAgents,
    pub openai_api_key: Option<SecretString>,
    pub anthropic_api_key: Option<SecretString>,
    /// `GEMINI_API_KEY`, else `GOOGLE_API_KEY` (as Google's own SDKs read it).
    pub gemini_api_key: Option<SecretString>,
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
    pub max_retries: u32,
    /// First backoff delay; it doubles per retry, with full jitter, up to `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// Longest one model request may take, streaming included.
    pub timeout: Duration,
    /// Stream model answers (each piece becomes an `llm_chunk` event) or ask for them whole.
    pub stream: bool,
    /// Model requests one worker process has open at once per provider, so a slow vendor
    /// cannot hold every in-flight job.
    pub max_in_flight: usize,
    /// A TOML price table (USD per million tokens) whose entries replace or extend the
    /// built-in one (`worker/data/prices.toml`).
    pub price_file: Option<PathBuf>,
    /// Models a request may name in `model`, comma-separated; unset: the agents' configured
    /// primary and fallback models. `builtin/offline` is always allowed.
    pub allowed_models: Option<String>,
    /// Let jobs use models that the price table does not list (their spend is then unknown).
    pub allow_unpriced: bool,
}

/// Spend budgets and usage (README.md, "Budgets and usage").
#[derive(Debug, Clone)]
pub struct BudgetSettings {
    /// `PRINCIPAL_BUDGETS`: a principal not named is unlimited (its usage is still counted).
    pub principals: PrincipalBudgets,
    /// `BUDGET_PERIOD`: the period of a budget that names none, and of the usage counted for
    /// principals without a budget.
    pub default_period: BudgetPeriod,
    /// `BUDGET_WEBHOOK_URL`: where threshold crossings are POSTed. The operator's own
    /// endpoint, so unlike a `callback_url` it may be on a private network.
    pub webhook_url: Option<url::Url>,
    /// `METRICS_PER_PRINCIPAL`: usage counters labelled by principal.
    pub metrics_per_principal: bool,
}

impl BudgetSettings {
    fn from_raw(raw: &RawSettings) -> Result<Self, ConfigError> {
        let default_period = BudgetPeriod::parse(&raw.budget_period)
            .map_err(|error| ConfigError::Message(format!("BUDGET_PERIOD: {error}")))?;
        let principals = PrincipalBudgets::parse(&raw.principal_budgets, default_period)
            .map_err(|error| ConfigError::Message(format!("PRINCIPAL_BUDGETS: {error}")))?;
        let webhook_url = match raw.budget_webhook_url.as_deref() {
            None => None,
            Some(text) => match url::Url::parse(text) {
                Ok(url) if matches!(url.scheme(), "http" | "https") => Some(url),
                _ => {
                    return Err(ConfigError::Message(format!(
                        "BUDGET_WEBHOOK_URL must be an http:// or https:// URL, not {text:?}"
                    )));
                }
            },
        };
        if webhook_url.is_some() && raw.webhook_secret.is_none() && !raw.webhook_allow_unsigned {
            return Err(ConfigError::Message(
                "BUDGET_WEBHOOK_URL needs WEBHOOK_SECRET to sign its deliveries (or \
                 WEBHOOK_ALLOW_UNSIGNED=true)"
                    .to_owned(),
            ));
        }
        Ok(Self {
            principals,
            default_period,
            webhook_url,
            metrics_per_principal: raw.metrics_per_principal,
        })
    }
}

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
        let raw = read_layers(config_dir, env)?;
        check_positive(&raw)?;
        let settings = Self::from_raw(raw)?;
        settings.validate()?;
        Ok(settings)
    }

    fn from_raw(raw: RawSettings) -> Result<Self, ConfigError> {
        let budgets = BudgetSettings::from_raw(&raw)?;
        let redis = RedisSettings {
            url: redis_url(&raw),
            key_prefix: raw.redis_key_prefix,
        };
        Ok(Self {
            app_env: raw.app_env,
            telemetry: TelemetrySettings {
                log_format: raw.log_format,
                rust_log: raw.rust_log,
                worker_metrics_addr: raw.worker_metrics_addr,
            },
            http: HttpSettings {
                gateway_addr: raw.gateway_addr,
                max_body_bytes: raw.max_body_bytes,
                header_timeout: secs(raw.http_header_timeout_seconds),
                max_connections: raw.max_connections,
                max_streams: raw.max_streams,
                max_streams_per_principal: raw.max_streams_per_principal,
                cors_allowed_origins: raw.cors_allowed_origins,
                trusted_proxies: parse_trusted_proxies(&raw.trusted_proxies)?,
            },
            rate_limit: RateLimitSettings {
                enabled: raw.rate_limit_enabled,
                requests: raw.rate_limit_requests,
                read_requests: raw.rate_limit_read_requests,
                window: secs(raw.rate_limit_window_seconds),
                fail_open: raw.rate_limit_fail_open,
                max_active_jobs_per_principal: raw.max_active_jobs_per_principal,
            },
            auth: AuthSettings {
                enabled: raw.auth_enabled,
                api_keys: raw.auth_api_keys,
                jwt_algorithm: JwtAlgorithm::parse(&raw.jwt_algorithm).ok_or_else(|| {
                    one_of(
                        "JWT_ALGORITHM",
                        JwtAlgorithm::ALL.map(JwtAlgorithm::as_str),
                        &raw.jwt_algorithm,
                    )
                })?,
                jwt_secret_key: raw.jwt_secret_key,
                jwt_public_key: raw.jwt_public_key,
                jwt_private_key: raw.jwt_private_key,
                access_token_lifetime: secs(raw.jwt_access_token_expire_minutes * 60),
                admin_principals: comma_list(&raw.admin_principals),
            },
            redis,
            queue: QueueSettings {
                job_ttl: secs(raw.job_ttl_seconds),
                job_timeout: secs(raw.job_timeout_seconds),
                job_max_attempts: raw.job_max_attempts,
                worker_concurrency: match raw.worker_concurrency {
                    0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
                    jobs => jobs,
                },
                worker_heartbeat: secs(raw.worker_heartbeat_seconds),
                worker_missed_heartbeats: raw.worker_missed_heartbeats,
                worker_shutdown_grace: secs(raw.worker_shutdown_grace_seconds),
                metrics_interval: secs(raw.queue_metrics_interval_seconds),
                dispatch: crate::queue::DispatchPolicy {
                    depth: raw.queue_dispatch_depth,
                    weights: crate::queue::DispatchPolicy::parse_weights(&raw.principal_weights)
                        .map_err(|e| ConfigError::Message(format!("PRINCIPAL_WEIGHTS: {e}")))?,
                },
            },
            artifacts: ArtifactSettings {
                location: StoreLocation::parse(
                    raw.artifact_store_url.as_deref(),
                    &raw.artifact_dir,
                )
                .map_err(|e| ConfigError::Message(format!("ARTIFACT_STORE_URL: {e}")))?,
                presigned_downloads: raw.artifact_presigned_downloads,
                presigned_ttl: secs(raw.artifact_presigned_ttl_seconds),
                sweep_interval: secs(raw.artifact_sweep_interval_seconds),
                s3: S3Settings {
                    access_key_id: raw.aws_access_key_id,
                    secret_access_key: raw.aws_secret_access_key,
                    session_token: raw.aws_session_token,
                    region: raw.aws_region,
                    endpoint_url: raw.aws_endpoint_url,
                    allow_http: raw.aws_allow_http,
                },
            },
            webhooks: WebhookSettings {
                secret: raw.webhook_secret,
                allowed_hosts: raw.webhook_allowed_hosts,
                allow_private: raw.webhook_allow_private,
                allow_unsigned: raw.webhook_allow_unsigned,
            },
            freecad: FreecadSettings {
                cmd: raw.freecad_cmd,
                install_dir: raw.freecad_path,
                appimage_path: raw.freecad_appimage_path,
                search_path: raw.path,
                pool_size: raw.freecad_pool_size,
                pool_max_jobs: raw.freecad_pool_max_jobs,
                isolation: FreecadIsolation::parse(&raw.freecad_isolation).ok_or_else(|| {
                    one_of(
                        "FREECAD_ISOLATION",
                        FreecadIsolation::ALL.map(FreecadIsolation::as_str),
                        &raw.freecad_isolation,
                    )
                })?,
                cpu_seconds: raw.freecad_cpu_seconds,
                memory_mb: raw.freecad_memory_mb,
                file_size_mb: raw.freecad_file_size_mb,
                job_dir_mb: raw.freecad_job_dir_mb,
                max_processes: raw.freecad_max_processes,
                mesh_linear_deflection: raw.mesh_linear_deflection,
                mesh_angular_deflection: raw.mesh_angular_deflection,
            },
            llm: LlmSettings {
                agents: raw.llm_agents,
                openai_api_key: raw.openai_api_key,
                anthropic_api_key: raw.anthropic_api_key,
                gemini_api_key: raw.gemini_api_key.or(raw.google_api_key),
                deepseek_api_key: raw.deepseek_api_key,
                openai_base_url: raw.openai_base_url,
                anthropic_base_url: raw.anthropic_base_url,
                gemini_base_url: raw.gemini_base_url,
                deepseek_base_url: raw.deepseek_base_url,
                ollama_base_url: raw.ollama_base_url,
                max_retries: raw.llm_max_retries,
                retry_base: Duration::from_millis(raw.llm_retry_base_ms),
                retry_max: Duration::from_millis(raw.llm_retry_max_ms),
                timeout: secs(raw.llm_timeout_seconds),
                stream: raw.llm_stream,
                max_in_flight: raw.llm_max_in_flight,
                price_file: raw.llm_price_file,
                allowed_models: raw.allowed_models,
                allow_unpriced: raw.llm_allow_unpriced,
            },
            budgets,
            result_cache: ResultCacheSettings {
                ttl: (raw.result_cache_ttl_seconds > 0).then(|| secs(raw.result_cache_ttl_seconds)),
            },
        })
    }

    /// The rules that span more than one value.
    fn validate(&self) -> Result<(), ConfigError> {
        if self.artifacts.presigned_downloads
            && !matches!(self.artifacts.location, StoreLocation::S3 { .. })
        {
            return Err(ConfigError::Message(
                "ARTIFACT_PRESIGNED_DOWNLOADS=true needs an s3:// ARTIFACT_STORE_URL \
                 (a folder store has nothing to presign)"
                    .to_owned(),
            ));
        }
        for (name, value) in [
            (
                "MESH_LINEAR_DEFLECTION",
                self.freecad.mesh_linear_deflection,
            ),
            (
                "MESH_ANGULAR_DEFLECTION",
                self.freecad.mesh_angular_deflection,
            ),
        ] {
            if !(value.is_finite() && value > 0.0) {
                return Err(ConfigError::Message(format!(
                    "{name} must be a number above 0, not {value}"
                )));
            }
        }
        validate_agents(&self.llm.agents)?;
        if let Err(error) = AllowedModels::from_settings(self) {
            return Err(ConfigError::Message(format!("ALLOWED_MODELS: {error}")));
        }
        if self.redis.key_prefix.is_empty() {
            return Err(ConfigError::Message(
                "REDIS_KEY_PREFIX must not be empty".to_owned(),
            ));
        }
        Ok(())
    }
}

/// The layers, lowest first: built-in defaults, the two files, the environment.
fn read_layers(
    config_dir: &Path,
    env: HashMap<String, String>,
) -> Result<RawSettings, ConfigError> {
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
    builder
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
        .try_deserialize()
}

/// Values for which 0 would stall or break a process: refused by name at start.
fn check_positive(raw: &RawSettings) -> Result<(), ConfigError> {
    let positive = [
        ("JOB_TTL_SECONDS", raw.job_ttl_seconds),
        ("JOB_TIMEOUT_SECONDS", raw.job_timeout_seconds),
        ("JOB_MAX_ATTEMPTS", u64::from(raw.job_max_attempts)),
        ("MAX_BODY_BYTES", raw.max_body_bytes as u64),
        ("WORKER_HEARTBEAT_SECONDS", raw.worker_heartbeat_seconds),
        (
            "WORKER_MISSED_HEARTBEATS",
            u64::from(raw.worker_missed_heartbeats),
        ),
        (
            "FREECAD_POOL_MAX_JOBS",
            u64::from(raw.freecad_pool_max_jobs),
        ),
        ("FREECAD_CPU_SECONDS", raw.freecad_cpu_seconds),
        ("FREECAD_MEMORY_MB", raw.freecad_memory_mb),
        ("FREECAD_FILE_SIZE_MB", raw.freecad_file_size_mb),
        ("FREECAD_JOB_DIR_MB", raw.freecad_job_dir_mb),
        ("FREECAD_MAX_PROCESSES", raw.freecad_max_processes),
        ("LLM_RETRY_BASE_MS", raw.llm_retry_base_ms),
        ("LLM_RETRY_MAX_MS", raw.llm_retry_max_ms),
        ("LLM_TIMEOUT_SECONDS", raw.llm_timeout_seconds),
        ("LLM_MAX_IN_FLIGHT", raw.llm_max_in_flight as u64),
        (
            "QUEUE_METRICS_INTERVAL_SECONDS",
            raw.queue_metrics_interval_seconds,
        ),
        ("QUEUE_DISPATCH_DEPTH", raw.queue_dispatch_depth as u64),
        (
            "HTTP_HEADER_TIMEOUT_SECONDS",
            raw.http_header_timeout_seconds,
        ),
        ("MAX_CONNECTIONS", raw.max_connections as u64),
        ("MAX_STREAMS", raw.max_streams as u64),
        (
            "MAX_STREAMS_PER_PRINCIPAL",
            raw.max_streams_per_principal as u64,
        ),
        (
            "ARTIFACT_PRESIGNED_TTL_SECONDS",
            raw.artifact_presigned_ttl_seconds,
        ),
        (
            "ARTIFACT_SWEEP_INTERVAL_SECONDS",
            raw.artifact_sweep_interval_seconds,
        ),
    ];
    match positive.into_iter().find(|(_, value)| *value == 0) {
        Some((name, _)) => Err(ConfigError::Message(format!("{name} must be above 0"))),
        None => Ok(()),
    }
}

fn validate_agents(agents: &LlmAgents) -> Result<(), ConfigError> {
    for (agent, models) in agents.iter() {
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
    Ok(())
}

fn secs(seconds: u64) -> Duration {
    Duration::from_secs(seconds)
}

fn one_of<const N: usize>(variable: &str, accepted: [&str; N], value: &str) -> ConfigError {
    ConfigError::Message(format!(
        "{variable} must be one of {}, not {value:?}",
        accepted.join(", ")
    ))
}

/// A comma-separated list with blanks and empty items dropped.
fn comma_list(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The Redis connection URL: `REDIS_URL`, or one built from host, port, db and password.
fn redis_url(raw: &RawSettings) -> SecretString {
    if let Some(url) = &raw.redis_url {
        return url.clone();
    }
    let auth = match &raw.redis_password {
        Some(password) => format!(":{}@", password.expose_secret()),
        None => String::new(),
    };
    SecretString::from(format!(
        "redis://{auth}{}:{}/{}",
        raw.redis_host, raw.redis_port, raw.redis_db
    ))
}

/// `TRUSTED_PROXIES` parsed; a bare address is a /32 (or /128).
fn parse_trusted_proxies(list: &str) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    comma_list(list)
        .iter()
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
mod tests;
