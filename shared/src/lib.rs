//! What crosses a process boundary between the gateway, the workers and clients.
//!
//! # Layout
//! - [`settings`]: layered configuration (defaults, `config/*.toml`, environment).
//! - [`telemetry`]: log subscriber set-up, pretty or JSON; the process's Prometheus recorder.
//! - [`metrics`]: every metric name, type, labels and help text; zero series; gauge guards.
//! - [`api`]: HTTP request and response bodies, with their validation.
//! - [`catalogue`]: the offline planner's parts as users see them (name, what, example).
//! - [`budget`]: spend budgets per principal, usage windows in Redis, threshold alerts.
//! - [`job`]: the queue payload, job status and the job record.
//! - [`job_id`]: `JobId`, the newtype of a job's id in keys, records, events and routes.
//! - [`error_code`]: why a job failed: every job error code, with its meaning.
//! - [`events`]: progress events, their atomic publish and their replay.
//! - [`model`]: `provider/model` names, their safe characters and the allow-list.
//! - [`callback`]: where a `callback_url` may point (public addresses only) and the checks.
//! - [`keys`]: every Redis key name, built in one place.
//! - [`auth`]: API keys and JWTs: who is calling.
//! - [`rate_limit`]: the sliding-window limit shared by every gateway replica.
//! - [`job_store`]: job records in Redis; creating a job queues its task atomically.
//! - [`queue`]: the one mirror of apalis-redis's layout: its key names, the task-push
//!   fragment of the queueing scripts, promotion, forgetting finished tasks, sampling.
//! - [`redis_conn`]: opening Redis connections with our timeouts.
//! - [`artifact_store`]: the jobs' files in a folder or an S3 bucket; reads, presigning, sweeping.
//! - [`result_cache`]: completed designs by the digest of their plan, for identical plans.
//! - [`shutdown`]: the SIGTERM / Ctrl-C signal both binaries stop on.

pub mod api;
pub mod artifact_store;
pub mod auth;
pub mod budget;
pub mod callback;
pub mod catalogue;
pub mod error_code;
pub mod events;
pub mod job;
pub mod job_id;
pub mod job_store;
pub mod keys;
pub mod metrics;
pub mod model;
pub mod queue;
pub mod rate_limit;
pub mod redis_conn;
pub mod result_cache;
pub mod settings;
pub mod shutdown;
pub mod telemetry;
