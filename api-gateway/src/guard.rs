//! The gate every route but the probes and docs passes: who is calling, and may they now.
//!
//! Authentication comes first, so that the limit applies per principal (per client IP when
//! auth is off). The verdict's `RateLimit-Policy` / `RateLimit` headers go on every answer of
//! a limited route.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use shared::auth::Principal;
use shared::metrics::{
    RATE_LIMIT_FAIL_CLOSED_TOTAL, RATE_LIMIT_FAIL_OPEN_TOTAL, RATE_LIMIT_REJECTIONS_TOTAL,
    RedisComponent, record_redis_error,
};
use shared::rate_limit::Decision;

use crate::error::Error;
use crate::routes::page::{PAGE_PATHS, principal_from_stream_token};
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
    let path = request.uri().path();
    if EXEMPT_PATHS.contains(&path) || PAGE_PATHS.contains(&path) {
        return next.run(request).await;
    }
    let principal =
        match authenticate(&state, request.headers(), request.uri(), request.method()).await {
            Ok(principal) => principal,
            Err(response) => return *response,
        };
    if !state.settings.rate_limit_enabled {
        request.extensions_mut().insert(principal);
        return next.run(request).await;
    }
    let bucket = if state.auth.enabled() {
        format!("principal:{}", principal.id)
    } else {
        format!("ip:{}", peer.ip())
    };
    let mut conn = state.conn.clone();
    let unique = uuid::Uuid::new_v4().to_string();
    let decision = match state.limiter.check(&mut conn, &bucket, &unique).await {
        Ok(decision) => Some(decision),
        Err(error) if state.settings.rate_limit_fail_open => {
            tracing::warn!(%error, "rate limiter unavailable; letting the request through");
            record_redis_error(RedisComponent::RateLimiter);
            metrics::counter!(RATE_LIMIT_FAIL_OPEN_TOTAL.name).increment(1);
            None
        }
        Err(error) => {
            record_redis_error(RedisComponent::RateLimiter);
            metrics::counter!(RATE_LIMIT_FAIL_CLOSED_TOTAL.name).increment(1);
            return Error::RateLimiterUnavailable(error).into_response();
        }
    };
    if let Some(decision) = decision
        && !decision.admitted
    {
        metrics::counter!(RATE_LIMIT_REJECTIONS_TOTAL.name).increment(1);
        let mut response = Error::RateLimited {
            retry_after: decision.retry_after_secs(),
        }
        .into_response();
        add_rate_limit_headers(response.headers_mut(), &decision);
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(decision.retry_after_secs()),
        );
        return response;
    }
    request.extensions_mut().insert(principal);
    let mut response = next.run(request).await;
    if let Some(decision) = decision {
        add_rate_limit_headers(response.headers_mut(), &decision);
    }
    response
}

/// The caller from its headers or, on a job's events route and only there, from a stream
/// token in the query string (browsers cannot set headers on an `EventSource`).
async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    uri: &axum::http::Uri,
    method: &axum::http::Method,
) -> Result<Principal, Box<Response>> {
    let api_key = header_str(headers, "x-api-key");
    let authorization = header_str(headers, "authorization");
    if state.auth.enabled()
        && api_key.is_none()
        && authorization.is_none()
        && method == axum::http::Method::GET
    {
        match principal_from_stream_token(state, uri.path(), uri.query()).await {
            Ok(Some(principal)) => return Ok(principal),
            Ok(None) => {}
            Err(error) => {
                record_redis_error(RedisComponent::Api);
                return Err(Box::new(Error::RedisUnavailable(error).into_response()));
            }
        }
    }
    state
        .auth
        .authenticate(api_key, authorization)
        .map_err(|error| Box::new(Error::Unauthorized(error).into_response()))
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
