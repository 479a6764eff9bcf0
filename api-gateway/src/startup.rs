//! Builds the gateway (binds first, so tests can use port 0) and serves it until stopped.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::handler::Handler;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use shared::api::{ErrorBody, ErrorDetail};
use shared::artifact_store::ArtifactStore;
use shared::auth::Authenticator;
use shared::callback::CallbackPolicy;
use shared::events::EventPublisher;
use shared::job_store::JobStore;
use shared::keys::Keys;
use shared::model::AllowedModels;
use shared::rate_limit::RateLimiter;
use shared::redis_conn;
use shared::settings::Settings;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::artifact_sweeper::ArtifactSweeper;
use crate::error::{Error, ErrorReport};
use crate::event_hub::EventHub;
use crate::guard::guard;
use crate::http_metrics::record_http_metrics;
use crate::queue_sampler::QueueSampler;
use crate::routes::{self, PublicState};
use crate::serve::{ConnectionLimits, connections_within_descriptor_limit, serve};
use crate::state::AppState;
use crate::streams::StreamSlots;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub struct Application {
    listener: TcpListener,
    router: Router,
    /// Ends open event streams when the gateway drains.
    streams_shutdown: CancellationToken,
    /// Started with the server; samples the queue gauges while this gateway holds the lock.
    queue_sampler: QueueSampler,
    /// Stops accepting and lets the connections finish their requests.
    connections_shutdown: CancellationToken,
    max_connections: usize,
    header_timeout: std::time::Duration,
    /// Started with the server; deletes the files of expired jobs.
    artifact_sweeper: ArtifactSweeper,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        // Before anything records: names get their help text, and series that must be scraped
        // before their first event (fail-open, connections) start at zero.
        shared::telemetry::prometheus();
        shared::metrics::init_gateway_series();
        let auth = Authenticator::from_settings(&settings).context("reading the auth settings")?;
        if !auth.enabled() {
            tracing::warn!("AUTH_ENABLED=false: every request is the anonymous principal");
        }
        let client = redis_conn::client(&settings.redis.url).context("parsing the Redis URL")?;
        let conn = redis_conn::connection_manager(&client)
            .await
            .context("connecting to Redis")?;
        let listener = TcpListener::bind(settings.http.gateway_addr)
            .await
            .with_context(|| format!("binding GATEWAY_ADDR {}", settings.http.gateway_addr))?;
        let streams_shutdown = CancellationToken::new();
        let keys = Keys::new(&settings.redis.key_prefix);
        let queue_sampler = QueueSampler::new(
            conn.clone(),
            keys.clone(),
            settings.queue.metrics_interval,
            settings.queue.worker_orphan_window(),
        );
        let settings_limits = (settings.http.max_connections, settings.http.header_timeout);
        let artifacts =
            ArtifactStore::from_settings(&settings).context("opening the artifact store")?;
        tracing::info!(store = %artifacts.location(), "artifact store");
        let artifact_sweeper = ArtifactSweeper {
            store: artifacts.clone(),
            conn: conn.clone(),
            keys: keys.clone(),
            interval: settings.artifacts.sweep_interval,
        };
        let state = AppState {
            streams: StreamSlots::new(
                settings.http.max_streams,
                settings.http.max_streams_per_principal,
            ),
            artifacts,
            store: JobStore::new(keys.clone(), settings.queue.job_ttl)
                .with_dispatch(settings.queue.dispatch.clone()),
            events: EventPublisher::new(keys.clone(), settings.queue.job_ttl),
            limiter: RateLimiter::new(
                keys.clone(),
                settings.rate_limit.requests,
                settings.rate_limit.window,
            ),
            read_limiter: RateLimiter::new(
                keys.clone(),
                settings.rate_limit.read_requests,
                settings.rate_limit.window,
            ),
            trusted_proxies: Arc::new(settings.http.trusted_proxies.clone()),
            keys,
            hub: EventHub::start(client, streams_shutdown.clone()),
            auth: Arc::new(auth),
            shutdown: streams_shutdown.clone(),
            queue_gauges: queue_sampler.gauges(),
            allowed_models: Arc::new(
                AllowedModels::from_settings(&settings).context("reading ALLOWED_MODELS")?,
            ),
            callback_policy: Arc::new(CallbackPolicy::from_settings(&settings)),
            settings: Arc::new(settings),
            conn,
        };
        Ok(Self {
            listener,
            router: router(state),
            streams_shutdown,
            queue_sampler,
            connections_shutdown: CancellationToken::new(),
            max_connections: settings_limits.0,
            header_timeout: settings_limits.1,
            artifact_sweeper,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    /// Serves until `shutdown` is cancelled, then ends the event streams and finishes the
    /// requests in flight.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        tracing::info!(addr = %self.local_addr(), "gateway listening");
        let sampler = tokio::spawn(self.queue_sampler.run(self.streams_shutdown.clone()));
        let sweeper = tokio::spawn(self.artifact_sweeper.run(self.streams_shutdown.clone()));
        let streams_shutdown = self.streams_shutdown.clone();
        let connections_shutdown = self.connections_shutdown.clone();
        let drained = async move {
            shutdown.cancelled().await;
            streams_shutdown.cancel();
            connections_shutdown.cancel();
        };
        let limits = ConnectionLimits {
            max_connections: connections_within_descriptor_limit(self.max_connections),
            header_timeout: self.header_timeout,
        };
        tokio::join!(
            serve(
                self.listener,
                self.router,
                limits,
                self.connections_shutdown
            ),
            drained
        );
        self.streams_shutdown.cancel();
        let _ = sampler.await;
        let _ = sweeper.await;
        Ok(())
    }
}

/// The public routes, the protected ones behind the guard, and the layers every answer passes.
pub fn router(state: AppState) -> Router {
    let body_limit = state.settings.http.max_body_bytes;
    let guard = middleware::from_fn_with_state(state.clone(), guard);
    // The 405 fallback is set before the `route_layer`, so that it is guarded too: a wrong
    // method on a protected path is answered as before, 401 to a stranger.
    let protected = routes::protected_router()
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(guard.clone())
        .with_state(state.clone());
    let public = routes::public_router()
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(PublicState(state.clone()));
    Router::new()
        .merge(public)
        .merge(protected)
        // Unknown paths pass the guard as well: a stranger learns nothing, and probing for
        // routes spends the prober's budget.
        .fallback(route_not_found.layer(guard))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn(render_errors))
        .layer(middleware::from_fn(record_http_metrics))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            let request_id = request
                .headers()
                .get(&REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            tracing::info_span!("http", method = %request.method(), uri = %request.uri().path(), request_id)
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(cors_layer(&state.settings.http.cors_allowed_origins))
        .with_state(state)
}

async fn route_not_found(request: Request) -> Error {
    Error::NotFound {
        code: "route_not_found",
        message: format!("There is no route {}.", request.uri().path()),
    }
}

async fn method_not_allowed(request: Request) -> Error {
    Error::MethodNotAllowed(format!(
        "{} is not allowed on {}",
        request.method(),
        request.uri().path()
    ))
}

/// `CORS_ALLOWED_ORIGINS`: none by default (the page at `/` is same-origin); `*` for any
/// origin (without credentials: clients send their API key as a header, which CORS allows
/// only if listed below); else the comma-separated origins. Outermost, so preflights are
/// answered before authentication.
fn cors_layer(setting: &str) -> CorsLayer {
    use axum::http::Method;
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            HeaderName::from_static("x-api-key"),
            HeaderName::from_static("idempotency-key"),
            HeaderName::from_static("last-event-id"),
        ])
        .expose_headers([
            header::LOCATION,
            header::RETRY_AFTER,
            header::CONTENT_DISPOSITION,
            HeaderName::from_static("x-request-id"),
        ]);
    let origins: Vec<&str> = setting
        .split(',')
        .map(str::trim)
        .filter(|origin| !origin.is_empty())
        .collect();
    if origins.contains(&"*") {
        return layer.allow_origin(AllowOrigin::any());
    }
    let listed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    // An empty list allows no origin: the layer then adds no CORS header at all.
    layer.allow_origin(AllowOrigin::list(listed))
}

/// Writes the JSON error body for every error a handler or extractor reported, with the
/// request's id in it, so that all errors look alike whatever produced them.
async fn render_errors(request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let response = next.run(request).await;
    let report = match response.extensions().get::<ErrorReport>().cloned() {
        Some(report) => report,
        None if is_plain_error(&response) => {
            let (parts, body) = response.into_parts();
            let report = plain_error_report(parts.status, body).await;
            return rewrite_as_json(Response::from_parts(parts, ()), report, request_id);
        }
        None => return response,
    };
    rewrite_as_json(response.map(|_| ()), report, request_id)
}

/// An error answer some layer wrote without our body (an extractor's `text/plain` rejection
/// that no handler mapped): it gets the JSON body too, whatever produced it.
fn is_plain_error(response: &Response) -> bool {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    (response.status().is_client_error() || response.status().is_server_error()) && !is_json
}

/// The error code and message of a plain error answer: its status, and its text if short.
async fn plain_error_report(status: StatusCode, body: axum::body::Body) -> ErrorReport {
    let text = axum::body::to_bytes(body, 1024)
        .await
        .ok()
        .and_then(|bytes| String::from_utf8(bytes.to_vec()).ok())
        .filter(|text| !text.trim().is_empty());
    let code = match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "validation_error",
        status if status.is_client_error() => "bad_request",
        _ => "internal_error",
    };
    let message = text.unwrap_or_else(|| {
        status
            .canonical_reason()
            .unwrap_or("The request failed")
            .to_owned()
    });
    ErrorReport {
        code,
        message,
        budget: None,
    }
}

fn rewrite_as_json(
    response: Response<()>,
    report: ErrorReport,
    request_id: Option<String>,
) -> Response {
    let (mut parts, ()) = response.into_parts();
    let budget = report.budget;
    let body = ErrorBody {
        error: ErrorDetail {
            code: report.code.to_owned(),
            message: report.message,
            request_id,
            spent: budget.as_ref().map(|refusal| refusal.spent),
            resets_at: budget.as_ref().map(|refusal| refusal.resets_at),
            budget: budget.map(|refusal| refusal.budget),
        },
    };
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    let json = serde_json::to_vec(&body).unwrap_or_default();
    (parts, json).into_response()
}
