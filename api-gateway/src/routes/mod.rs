//! The HTTP routes, one module per resource, on two routers: [`public_router`] (probes,
//! metrics, docs, the page's files), which no guard stands in front of, and
//! [`protected_router`] (everything else), which `startup` puts behind the guard as a
//! `route_layer`. Nothing lists paths: where a route is mounted decides.
//!
//! The two have different state types. The protected router's is [`AppState`], the only
//! state the caller's extractors (`CurrentPrincipal`, `OwnedDesign`) extract with; the public
//! router's is [`PublicState`], so a handler that needs a caller does not compile there.

use axum::Router;
use axum::extract::FromRef;

use crate::state::AppState;

pub mod admin;
pub mod auth;
pub mod batches;
pub mod design;
pub mod designs;
pub mod download;
pub mod events;
pub mod health;
pub mod metrics;
pub mod openapi;
pub mod page;
pub mod usage;

/// The state of the public routes: the same [`AppState`], under a type the caller's
/// extractors do not accept.
#[derive(Clone)]
pub struct PublicState(pub AppState);

impl FromRef<PublicState> for AppState {
    fn from_ref(public: &PublicState) -> Self {
        public.0.clone()
    }
}

/// Routes open to everyone and never counted by the rate limit.
pub fn public_router() -> Router<PublicState> {
    Router::new()
        .merge(health::router())
        .merge(metrics::router())
        .merge(openapi::router())
        .merge(page::public_router())
}

/// Routes for an authenticated, rate-limited caller.
pub fn protected_router() -> Router<AppState> {
    Router::new()
        .merge(admin::router())
        .merge(auth::router())
        .merge(batches::router())
        .merge(design::router())
        .merge(designs::router())
        .merge(events::router())
        .merge(page::router())
        .merge(usage::router())
}
