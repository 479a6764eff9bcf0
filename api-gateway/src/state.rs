//! The state every handler shares.

use std::sync::Arc;

use redis::aio::ConnectionManager;
use shared::artifact_store::ArtifactStore;
use shared::auth::Authenticator;
use shared::callback::CallbackPolicy;
use shared::events::EventPublisher;
use shared::job_store::JobStore;
use shared::keys::Keys;
use shared::model::AllowedModels;
use shared::rate_limit::RateLimiter;
use shared::settings::Settings;
use tokio_util::sync::CancellationToken;

use crate::event_hub::EventHub;
use crate::queue_sampler::QueueGauges;
use crate::streams::StreamSlots;

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    /// Multiplexed and self-reconnecting: one connection serves every request.
    pub conn: ConnectionManager,
    pub store: JobStore,
    /// Where the workers put the jobs' files; downloads stream from it.
    pub artifacts: ArtifactStore,
    /// For the events the gateway itself announces (a cancellation).
    pub events: EventPublisher,
    pub keys: Keys,
    pub hub: EventHub,
    pub auth: Arc<Authenticator>,
    /// The budget for writes (submit, refine, cancel, feedback).
    pub limiter: RateLimiter,
    /// The budget for reads (status, listing, events, downloads).
    pub read_limiter: RateLimiter,
    /// `TRUSTED_PROXIES`, parsed.
    pub trusted_proxies: Arc<Vec<ipnet::IpNet>>,
    /// Cancelled when the gateway drains, so that open streams end.
    pub shutdown: CancellationToken,
    /// The caps on open SSE and WebSocket streams.
    pub streams: StreamSlots,
    /// The queue gauges, exported on `/metrics` while this gateway is the sampler.
    pub queue_gauges: QueueGauges,
    /// The models a request may name (`ALLOWED_MODELS`).
    pub allowed_models: Arc<AllowedModels>,
    /// Where a `callback_url` may point (`WEBHOOK_*`).
    pub callback_policy: Arc<CallbackPolicy>,
}
