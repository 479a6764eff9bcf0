//! The api-gateway: validates and enqueues design jobs, serves their state and files.
//!
//! # Layout
//! - [`startup`]: `Application::build` (binds, connects Redis), the router and its layers.
//! - [`serve`]: the accept loop: `MAX_CONNECTIONS`, the header-read and idle timeout.
//! - [`streams`]: the caps on open SSE and WebSocket streams, per gateway and per principal.
//! - [`state`]: `AppState`, shared by every handler.
//! - [`error`]: the one `Error` type and the JSON error body.
//! - [`extract`]: the JSON and query extractors whose rejections use that body; the
//!   caller (`CurrentPrincipal`), their design (`OwnedDesign`), `IdempotencyKey`.
//! - [`service`]: submit, load, refine, cancel a design: over `AppState`, no HTTP types.
//! - [`guard`]: authentication and the shared rate limit, the `route_layer` of the protected
//!   routes.
//! - [`http_metrics`]: requests by method, route template and status; latency; in flight.
//! - [`queue_sampler`]: the queue gauges, sampled by one gateway at a time under a Redis lock.
//! - [`artifact_sweeper`]: deletes expired jobs' files, by one gateway per interval.
//! - [`event_hub`]: the one Redis subscriber, fanned out to local listeners per job.
//! - [`relay`]: one job's events to one client: replay, then live, no gap, no duplicate.
//! - [`routes`]: one module per resource (`auth` tokens, `design`, `events` for SSE and
//!   WebSocket, `health`, `metrics`, `openapi`), on a public and a protected router.

pub mod artifact_sweeper;
pub mod error;
pub mod event_hub;
pub mod extract;
pub mod guard;
pub mod http_metrics;
pub mod queue_sampler;
pub mod relay;
pub mod routes;
pub mod serve;
pub mod service;
pub mod startup;
pub mod state;
pub mod streams;
