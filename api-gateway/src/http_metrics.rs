//! HTTP metrics: requests by method, route template and status, their latency, and the
//! requests in flight.
//!
//! The route label is axum's `MatchedPath` (`/api/v1/design/{request_id}`), never the raw
//! path, so a job id can never become a label value; a request that matched no route is
//! `unmatched`, and a method outside the standard ones is `OTHER`.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use shared::metrics::{
    GaugeGuard, HTTP_REQUEST_DURATION_SECONDS, HTTP_REQUESTS_IN_FLIGHT, HTTP_REQUESTS_TOTAL,
};

/// The route label of a request that matched no route (404 fallback).
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Records every request; the outermost layer but the request id, so that the status is the
/// one the client gets (auth, rate-limit and error rendering included).
pub async fn record_http_metrics(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request.extensions().get::<MatchedPath>().map_or_else(
        || UNMATCHED_ROUTE.to_owned(),
        |path| path.as_str().to_owned(),
    );
    // Held across the handler: a request whose client went away (future dropped) is counted
    // out too.
    let in_flight = GaugeGuard::increment(HTTP_REQUESTS_IN_FLIGHT);
    let response = next.run(request).await;
    drop(in_flight);
    let status = response.status().as_u16().to_string();
    metrics::histogram!(
        HTTP_REQUEST_DURATION_SECONDS.name,
        "method" => method,
        "route" => route.clone()
    )
    .record(started.elapsed().as_secs_f64());
    metrics::counter!(
        HTTP_REQUESTS_TOTAL.name,
        "method" => method,
        "route" => route,
        "status" => status
    )
    .increment(1);
    response
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        let made_up = Method::from_bytes(b"BREW").unwrap();
        assert_eq!(method_label(&made_up), "OTHER");
    }
}
