//! The worker's own HTTP listener on `WORKER_METRICS_ADDR`: `/health`, `/ready` (Redis, the
//! FreeCAD isolation mode and pool) and `/metrics` (Prometheus text).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use redis::aio::ConnectionManager;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::freecad::FreecadRunner;

/// The process's Prometheus recorder, shared with every other component of the process.
pub fn prometheus_handle() -> PrometheusHandle {
    shared::telemetry::prometheus().clone()
}

#[derive(Clone)]
struct ProbeState {
    conn: ConnectionManager,
    runner: Arc<FreecadRunner>,
    metrics: PrometheusHandle,
}

pub fn router(conn: ConnectionManager, runner: Arc<FreecadRunner>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(render_metrics))
        .with_state(ProbeState {
            conn,
            runner,
            metrics: prometheus_handle(),
        })
}

/// Serves until `shutdown` is cancelled.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

async fn ready(State(state): State<ProbeState>) -> impl IntoResponse {
    let mut conn = state.conn.clone();
    let redis_ok = redis::cmd("PING")
        .query_async::<String>(&mut conn)
        .await
        .is_ok();
    let runner = &state.runner;
    let body = json!({
        "status": if redis_ok { "ready" } else { "unavailable" },
        "redis": if redis_ok { "ok" } else { "unreachable" },
        "isolation": runner.isolation().as_str(),
        "isolation_fallback_reason": runner.isolation_fallback_reason(),
        "sandbox_weakened": runner.isolation() == crate::freecad::IsolationMode::RlimitsOnly,
        "worker_running_as_root": runner.worker_is_root(),
        "freecad_pool": runner.pool_status(),
    });
    let status = if redis_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

async fn render_metrics(State(state): State<ProbeState>) -> impl IntoResponse {
    if let Some(pool) = state.runner.pool_status() {
        metrics::gauge!(shared::metrics::FREECAD_POOL_PROCESSES.name).set(pool.live as f64);
    }
    let mut body = state.metrics.render();
    shared::metrics::render_llm_cost(&mut body);
    shared::metrics::render_usage(&mut body);
    ([("content-type", "text/plain; version=0.0.4")], body)
}
