//! The settings as the `config` crate reads them: one flat struct whose field names are the
//! environment variables (lower-cased), the built-in defaults, and the list of variable names
//! derived from the struct itself.

use std::net::SocketAddr;
use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;

use super::LogFormat;

/// Every setting as one flat struct, so the `config` crate can coerce each environment
/// variable by its name; [`super::Settings`] is built from it and is what the code reads.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct RawSettings {
    /// Name of the optional extra layer `config/{app_env}.toml`.
    pub(super) app_env: String,
    pub(super) gateway_addr: SocketAddr,
    /// Jobs one worker process keeps in flight; 0 means the number of CPU cores. Default 64:
    /// a job mostly waits (on a model, Redis or a FreeCAD slot), and the scarce resources have
    /// bounds of their own (`freecad_pool_size`, `llm_max_in_flight`).
    pub(super) worker_concurrency: usize,
    pub(super) artifact_dir: PathBuf,
    /// `file:///path` or `s3://bucket/prefix`; unset means the folder `artifact_dir`.
    pub(super) artifact_store_url: Option<String>,
    /// Downloads answer with a redirect to a short-lived presigned URL (S3 stores only).
    pub(super) artifact_presigned_downloads: bool,
    /// How long a presigned download URL stays valid.
    pub(super) artifact_presigned_ttl_seconds: u64,
    /// How often a gateway deletes the files of jobs whose record expired (`JOB_TTL_SECONDS`).
    pub(super) artifact_sweep_interval_seconds: u64,
    /// The standard AWS variables of an `s3://` artifact store.
    pub(super) aws_access_key_id: Option<SecretString>,
    pub(super) aws_secret_access_key: Option<SecretString>,
    pub(super) aws_session_token: Option<SecretString>,
    pub(super) aws_region: String,
    /// An S3-compatible service's endpoint (MinIO, Ceph, R2...); unset means AWS.
    pub(super) aws_endpoint_url: Option<String>,
    /// Allows a plain-http `AWS_ENDPOINT_URL`.
    pub(super) aws_allow_http: bool,
    pub(super) job_ttl_seconds: u64,
    pub(super) job_timeout_seconds: u64,
    pub(super) job_max_attempts: u32,
    pub(super) max_body_bytes: usize,
    pub(super) worker_heartbeat_seconds: u64,
    pub(super) worker_missed_heartbeats: u32,
    pub(super) worker_shutdown_grace_seconds: u64,
    pub(super) log_format: LogFormat,
    pub(super) rust_log: String,

    /// Full Redis URL; when empty it is built from the `redis_host` group below.
    pub(super) redis_url: Option<SecretString>,
    pub(super) redis_host: String,
    pub(super) redis_port: u16,
    pub(super) redis_db: u32,
    pub(super) redis_password: Option<SecretString>,
    /// Prefix of every key of ours (not of the apalis-redis queue keys).
    pub(super) redis_key_prefix: String,

    /// Explicit `freecadcmd` to run; empty means look further.
    pub(super) freecad_cmd: Option<String>,
    /// A FreeCAD installation directory (its `bin/freecadcmd` is used).
    pub(super) freecad_path: Option<String>,
    /// A FreeCAD AppImage, run with `--console`.
    pub(super) freecad_appimage_path: Option<String>,
    /// The process's `PATH`, searched for `freecadcmd` when nothing above names it.
    pub(super) path: Option<String>,

    /// Off: every request is the `anonymous` principal.
    pub(super) auth_enabled: bool,
    /// `name:key` or `name:sha256:<hex>` pairs, comma-separated.
    pub(super) auth_api_keys: Option<SecretString>,
    /// HMAC secret for HS256/384/512 tokens.
    pub(super) jwt_secret_key: Option<SecretString>,
    pub(super) jwt_algorithm: String,
    /// PEM public key that verifies RS*/ES* tokens.
    pub(super) jwt_public_key: Option<String>,
    /// PEM private key that signs RS*/ES* tokens (only needed to issue them).
    pub(super) jwt_private_key: Option<SecretString>,
    pub(super) jwt_access_token_expire_minutes: u64,
    /// Off: no request is counted or limited (the predecessor's self-disabling switch).
    pub(super) rate_limit_enabled: bool,
    /// Requests that submit work (POST, DELETE: submit, refine, cancel, feedback) per
    /// principal (per client IP with auth off) per window.
    pub(super) rate_limit_requests: u32,
    /// Requests that read (GET: status, listing, events, downloads) per principal per window;
    /// a budget of its own so that polling does not use up the budget for submitting.
    pub(super) rate_limit_read_requests: u32,
    /// Proxies (comma-separated CIDRs) whose `X-Forwarded-For` names the client, with auth
    /// off; empty: the peer address is the client.
    pub(super) trusted_proxies: String,
    pub(super) rate_limit_window_seconds: u64,
    /// With Redis unreachable: let requests through (true) or answer 503 (false).
    pub(super) rate_limit_fail_open: bool,
    /// Jobs one principal may have pending or running at once; 0 = no cap.
    pub(super) max_active_jobs_per_principal: u32,
    /// Longest a client may take to send a request's head, and longest an idle keep-alive
    /// connection waits for its next request; then the gateway closes it.
    pub(super) http_header_timeout_seconds: u64,
    /// Connections one gateway holds at once (HTTP, SSE and WebSocket); more get a 503.
    pub(super) max_connections: usize,
    /// Event streams (SSE and WebSocket) one gateway holds at once; more get a 503.
    pub(super) max_streams: usize,
    /// Event streams one principal (one client IP with auth off) holds on one gateway; more
    /// get a 429.
    pub(super) max_streams_per_principal: usize,
    /// Principals allowed on `/api/v1/admin/*`, comma-separated.
    pub(super) admin_principals: String,
    /// Signs `callback_url` deliveries (HMAC-SHA256); unset: `callback_url` is refused unless
    /// `webhook_allow_unsigned`.
    pub(super) webhook_secret: Option<SecretString>,
    /// Hosts a `callback_url` may name, comma-separated exact names; unset: any public host.
    pub(super) webhook_allowed_hosts: Option<String>,
    /// Let callbacks reach loopback, private, link-local and other non-public addresses
    /// (test rigs only; cloud metadata addresses stay refused).
    pub(super) webhook_allow_private: bool,
    /// Accept `callback_url`s although no `WEBHOOK_SECRET` signs the deliveries.
    pub(super) webhook_allow_unsigned: bool,
    /// Where a worker serves `/health`, `/ready` and `/metrics`.
    pub(super) worker_metrics_addr: SocketAddr,
    /// How often the gateway holding the sampler lock reads the queue's depth by state.
    pub(super) queue_metrics_interval_seconds: u64,
    // Fair scheduling (issue #20).
    /// Tasks apalis-redis's active list is filled up to from the fair pending lists: another
    /// principal's new job waits behind about this many jobs plus those running.
    pub(super) queue_dispatch_depth: usize,
    /// Tasks per turn of a principal, `alice:2,bob:1`; unlisted principals have 1.
    pub(super) principal_weights: String,
    /// Warm FreeCAD processes per worker; 0 starts a fresh process per job.
    pub(super) freecad_pool_size: usize,
    /// Jobs a warm FreeCAD process runs before it is replaced.
    pub(super) freecad_pool_max_jobs: u32,
    /// `auto` (bubblewrap if it works here), `bubblewrap` (required) or `rlimits_only`.
    pub(super) freecad_isolation: String,
    /// CPU seconds one script may use.
    pub(super) freecad_cpu_seconds: u64,
    /// Address space of a FreeCAD process, in MiB.
    pub(super) freecad_memory_mb: u64,
    /// Largest file a FreeCAD process may write, in MiB.
    pub(super) freecad_file_size_mb: u64,
    /// Size of a sandbox's job folder (a tmpfs under bubblewrap: all the job's files), in MiB.
    pub(super) freecad_job_dir_mb: u64,
    /// Processes and threads a FreeCAD sandbox may hold at once.
    pub(super) freecad_max_processes: u64,
    /// The tessellation's largest distance from the true surface, in mm (every mesh format
    /// and the thumbnail come from this one tessellation).
    pub(super) mesh_linear_deflection: f64,
    /// The tessellation's largest angle between neighbouring facets, in radians (0.1 keeps
    /// a cylinder's mesh volume within 0.2 % of the exact one, whatever its size).
    pub(super) mesh_angular_deflection: f64,
    /// Origins a browser may call the API from, comma-separated (`*` for any); empty: none.
    pub(super) cors_allowed_origins: String,

    /// Each agent's models (`[llm_agents.<agent>]` in a config file, or
    /// `AGENT_{AGENT}_{PRIMARY|FALLBACK|TEMPERATURE|MAX_TOKENS}`).
    pub(super) llm_agents: LlmAgents,
    pub(super) openai_api_key: Option<SecretString>,
    pub(super) anthropic_api_key: Option<SecretString>,
    pub(super) gemini_api_key: Option<SecretString>,
    /// Read when `GEMINI_API_KEY` is unset, as Google's own SDKs do.
    pub(super) google_api_key: Option<SecretString>,
    pub(super) deepseek_api_key: Option<SecretString>,
    /// Includes the version path: requests go to `{base}/chat/completions`.
    pub(super) openai_base_url: String,
    /// The host: requests go to `{base}/v1/messages`.
    pub(super) anthropic_base_url: String,
    /// The host: requests go to `{base}/v1beta/models/{model}:generateContent`.
    pub(super) gemini_base_url: String,
    /// Includes the version path, like `OPENAI_BASE_URL`.
    pub(super) deepseek_base_url: String,
    /// The host: requests go to its OpenAI-compatible `{base}/v1/chat/completions`.
    pub(super) ollama_base_url: String,
    /// Retries of one model after its first attempt (429, 5xx, timeouts, connection errors).
    pub(super) llm_max_retries: u32,
    /// First backoff delay; it doubles per retry, with full jitter, up to `llm_retry_max_ms`.
    pub(super) llm_retry_base_ms: u64,
    pub(super) llm_retry_max_ms: u64,
    /// Longest one model request may take, streaming included.
    pub(super) llm_timeout_seconds: u64,
    /// Stream model answers (each piece becomes an `llm_chunk` event) or ask for them whole.
    pub(super) llm_stream: bool,
    /// Model requests one worker process has open at once per provider, so a slow vendor
    /// cannot hold every in-flight job.
    pub(super) llm_max_in_flight: usize,
    /// A TOML price table (USD per million tokens) whose entries replace or extend the
    /// built-in one (`worker/data/prices.toml`).
    pub(super) llm_price_file: Option<PathBuf>,
    /// Models a request may name in `model`, comma-separated; unset: the agents' configured
    /// primary and fallback models. `builtin/offline` is always allowed.
    pub(super) allowed_models: Option<String>,
    /// Let jobs use models that the price table does not list (their spend is then unknown).
    pub(super) llm_allow_unpriced: bool,

    // Budgets and usage (README.md, "Budgets and usage").
    /// Budgets per principal: `alice:usd=5,freecad_seconds=3600,period=1d;bob:usd=1`; a
    /// principal not named is unlimited (its usage is still counted).
    pub(super) principal_budgets: String,
    /// The period of a budget that names none, and of the usage counted for principals
    /// without a budget.
    pub(super) budget_period: String,
    /// Where each 50 / 80 / 100 % threshold crossing is POSTed, signed with `WEBHOOK_SECRET`.
    pub(super) budget_webhook_url: Option<String>,
    /// Usage counters labelled by principal on `/metrics` (one series per principal: keep it
    /// off with many principals); off: one unlabelled series each.
    pub(super) metrics_per_principal: bool,
    /// How long a completed design stays in the result cache; 0 turns the cache off.
    pub(super) result_cache_ttl_seconds: u64,
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
pub(super) const DEFAULT_AGENT_MODELS: [(&str, &str, &str, &str, &str); 4] = [
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
pub(super) const DEFAULTS: &[(&str, &str)] = &[
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
    ("queue_dispatch_depth", "16"),
    ("principal_weights", ""),
    ("freecad_pool_size", "2"),
    ("freecad_pool_max_jobs", "200"),
    ("freecad_isolation", "bubblewrap"),
    ("freecad_cpu_seconds", "300"),
    ("freecad_memory_mb", "4096"),
    ("freecad_file_size_mb", "512"),
    ("freecad_job_dir_mb", "1024"),
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
    ("principal_budgets", ""),
    ("budget_period", "1d"),
    ("metrics_per_principal", "false"),
    ("result_cache_ttl_seconds", "604800"),
];

/// Every environment variable the binaries read, derived from [`RawSettings`] itself (its
/// serde field names, upper-cased), plus the flat agent names and `CONFIG_DIR`: the list
/// deployment files are checked against, so it cannot drift from what is really read.
pub fn environment_variables() -> Vec<String> {
    let mut names: Vec<String> = struct_field_names::<RawSettings>()
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
