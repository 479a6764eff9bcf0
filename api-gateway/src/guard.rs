//! The gate in front of every protected route (`routes::protected_router`, as its
//! `route_layer`) and of unknown paths: who is calling, and may they now. The public routes
//! (probes, metrics, docs, the page's files) are mounted where it does not stand.
//!
//! Authentication comes first, so that the limit applies per principal (per client IP when
//! auth is off). Reads (GET, HEAD) and writes (everything else: submit, refine, cancel,
//! feedback) have budgets of their own, so that polling a design never uses up the budget
//! for submitting one. The verdict's `RateLimit-Policy` / `RateLimit` headers go on every answer of
//! a limited route.

use std::net::{IpAddr, SocketAddr};

use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{ConnectInfo, MatchedPath, RawPathParams, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use shared::auth::Principal;
use shared::metrics::{
    RATE_LIMIT_FAIL_CLOSED_TOTAL, RATE_LIMIT_FAIL_OPEN_TOTAL, RATE_LIMIT_REJECTIONS_TOTAL,
    RedisComponent, record_redis_error,
};
use shared::rate_limit::Decision;

use crate::error::Error;
use crate::routes::events::EVENTS_ROUTE;
use crate::routes::page::principal_from_stream_token;
use crate::state::AppState;

/// Which budget a request is charged to.
fn is_read(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The client's address: the peer's, unless the peer is a trusted proxy; then the nearest
/// address in `X-Forwarded-For` that is not itself a trusted proxy (read from the right, as
/// every proxy appends the address it saw, so only the trusted part of the list is believed).
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    let mut client = peer;
    for hop in forwarded.into_iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) if is_trusted(&ip) => client = ip,
            Ok(ip) => return ip,
            // A malformed entry: nothing left of it can be believed.
            Err(_) => return client,
        }
    }
    client
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Authenticates the request and charges it to the caller's budget; on success the
/// [`Principal`] goes into the request's extensions, where `extract::CurrentPrincipal` finds it.
pub async fn guard(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    route: Option<MatchedPath>,
    params: Result<RawPathParams, RawPathParamsRejection>,
    mut request: Request,
    next: Next,
) -> Response {
    // Only a job's events route takes a stream token, and only for that job.
    let events_of = route
        .filter(|route| route.as_str() == EVENTS_ROUTE)
        .and(params.ok())
        .and_then(|params| {
            params
                .iter()
                .find(|(name, _)| *name == "request_id")
                .map(|(_, id)| id.to_owned())
        });
    let principal = match authenticate(
        &state,
        request.headers(),
        request.method(),
        events_of.as_deref().map(|id| (id, request.uri().query())),
    )
    .await
    {
        Ok(principal) => principal,
        Err(response) => return *response,
    };
    let bucket = rate_bucket(&state, &principal, peer, request.headers());
    let budget = if is_read(request.method()) {
        Budget::Read
    } else {
        Budget::Write
    };
    let decision = match charge(&state, &bucket, budget).await {
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
pub fn rate_bucket(
    state: &AppState,
    principal: &Principal,
    peer: SocketAddr,
    headers: &HeaderMap,
) -> String {
    if state.auth.enabled() {
        format!("principal:{}", principal.id)
    } else {
        let ip = client_ip(peer.ip(), headers, &state.trusted_proxies);
        format!("ip:{ip}")
    }
}

/// Which of a client's two budgets a request spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// Reading: status, listing, events, downloads (`RATE_LIMIT_READ_REQUESTS`).
    Read,
    /// Submitting or changing work, and every `/ws` message (`RATE_LIMIT_REQUESTS`).
    Write,
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
pub async fn charge(state: &AppState, bucket: &str, budget: Budget) -> Result<Charge, Error> {
    if !state.settings.rate_limit.enabled {
        return Ok(Charge::Unlimited);
    }
    let mut conn = state.conn.clone();
    let unique = uuid::Uuid::new_v4().to_string();
    let (limiter, bucket) = match budget {
        Budget::Read => (&state.read_limiter, format!("read:{bucket}")),
        Budget::Write => (&state.limiter, bucket.to_owned()),
    };
    match limiter.check(&mut conn, &bucket, &unique).await {
        Ok(decision) if decision.admitted => Ok(Charge::Admitted(decision)),
        Ok(decision) => {
            metrics::counter!(RATE_LIMIT_REJECTIONS_TOTAL.name).increment(1);
            Ok(Charge::Refused(decision))
        }
        Err(error) if state.settings.rate_limit.fail_open => {
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

/// The caller from its headers or, on a job's events route (`events_of`: that job's id and
/// the query string) and only there, from a stream token in the query string (browsers
/// cannot set headers on an `EventSource`).
async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    method: &Method,
    events_of: Option<(&str, Option<&str>)>,
) -> Result<Principal, Box<Response>> {
    let api_key = header_str(headers, "x-api-key");
    let authorization = header_str(headers, "authorization");
    if let Some((request_id, query)) = events_of
        && state.auth.enabled()
        && api_key.is_none()
        && authorization.is_none()
        && method == Method::GET
    {
        match principal_from_stream_token(state, request_id, query).await {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_str(xff).unwrap());
        headers
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let proxy: IpAddr = "10.1.2.3".parse().unwrap();
        let stranger: IpAddr = "203.0.113.9".parse().unwrap();
        let xff = headers("198.51.100.7, 10.9.9.9");
        assert_eq!(
            client_ip(proxy, &xff, &trusted),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(stranger, &xff, &trusted), stranger);
        // A client that forges the header only adds entries on the left.
        let forged = headers("1.1.1.1, 198.51.100.7");
        assert_eq!(
            client_ip(proxy, &forged, &trusted),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(proxy, &HeaderMap::new(), &trusted), proxy);
        assert_eq!(client_ip(proxy, &headers("junk"), &trusted), proxy);
        assert_eq!(client_ip(proxy, &xff, &[]), proxy);
    }
}
