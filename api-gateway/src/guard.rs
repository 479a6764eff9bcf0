//! The gate every route but the probes and docs passes: who is calling, and may they now.
//!
//! Authentication comes first, so that the limit applies per principal (per client IP when
//! auth is off). The verdict's `RateLimit-Policy` / `RateLimit` headers go on every answer of
//! a limited route.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use shared::auth::Principal;
use shared::metrics::{
    RATE_LIMIT_FAIL_CLOSED_TOTAL, RATE_LIMIT_FAIL_OPEN_TOTAL, RATE_LIMIT_REJECTIONS_TOTAL,
    RedisComponent, record_redis_error,
};
use shared::rate_limit::Decision;

use crate::error::Error;
use crate::state::AppState;

/// Paths open to everyone and never counted (the predecessor's list).
pub const EXEMPT_PATHS: &[&str] = &["/health", "/ready", "/docs", "/openapi.json", "/metrics"];

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

pub async fn guard(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    if EXEMPT_PATHS.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    let principal = match state.auth.authenticate(
        header_str(request.headers(), "x-api-key"),
        header_str(request.headers(), "authorization"),
    ) {
        Ok(principal) => principal,
        Err(error) => return Error::Unauthorized(error).into_response(),
    };
    let bucket = rate_bucket(&state, &principal, peer);
    let decision = match charge(&state, &bucket).await {
        Ok(Charge::Unlimited) => None,
        Ok(Charge::Admitted(decision)) => Some(decision),
        Ok(Charge::Refused(decision)) => {
            let mut response = Error::RateLimited {
                retry_after: decision.retry_after_secs(),
            }
            .into_response();
            // `Retry-After` comes with the error itself.
            add_rate_limit_headers(response.headers_mut(), &decision);
            return response;
        }
        Err(error) => return error.into_response(),
    };
    request.extensions_mut().insert(principal);
    let mut response = next.run(request).await;
    if let Some(decision) = decision {
        add_rate_limit_headers(response.headers_mut(), &decision);
    }
    response
}

/// Whose budget a request is charged to: the principal's, or the client IP's with auth off.
pub fn rate_bucket(state: &AppState, principal: &Principal, peer: SocketAddr) -> String {
    if state.auth.enabled() {
        format!("principal:{}", principal.id)
    } else {
        format!("ip:{}", peer.ip())
    }
}

/// What the shared rate limiter said about one request.
#[derive(Debug, Clone, Copy)]
pub enum Charge {
    /// `RATE_LIMIT_ENABLED=false`, or Redis unreachable with `RATE_LIMIT_FAIL_OPEN=true`.
    Unlimited,
    Admitted(Decision),
    Refused(Decision),
}

/// Charges one request (an HTTP request, or a `/ws` message) to `bucket`'s budget. An error
/// only when the limiter is unreachable and fails closed.
pub async fn charge(state: &AppState, bucket: &str) -> Result<Charge, Error> {
    if !state.settings.rate_limit_enabled {
        return Ok(Charge::Unlimited);
    }
    let mut conn = state.conn.clone();
    let unique = uuid::Uuid::new_v4().to_string();
    match state.limiter.check(&mut conn, bucket, &unique).await {
        Ok(decision) if decision.admitted => Ok(Charge::Admitted(decision)),
        Ok(decision) => {
            metrics::counter!(RATE_LIMIT_REJECTIONS_TOTAL.name).increment(1);
            Ok(Charge::Refused(decision))
        }
        Err(error) if state.settings.rate_limit_fail_open => {
            tracing::warn!(%error, "rate limiter unavailable; letting the request through");
            record_redis_error(RedisComponent::RateLimiter);
            metrics::counter!(RATE_LIMIT_FAIL_OPEN_TOTAL.name).increment(1);
            Ok(Charge::Unlimited)
        }
        Err(error) => {
            record_redis_error(RedisComponent::RateLimiter);
            metrics::counter!(RATE_LIMIT_FAIL_CLOSED_TOTAL.name).increment(1);
            Err(Error::RateLimiterUnavailable(error))
        }
    }
}

fn add_rate_limit_headers(headers: &mut HeaderMap, decision: &Decision) {
    for (name, value) in [
        ("ratelimit-policy", decision.policy_header()),
        ("ratelimit", decision.limit_header()),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
}

/// The caller, as the guard established it.
pub type CurrentPrincipal = axum::Extension<Principal>;
