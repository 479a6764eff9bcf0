//! Liveness and readiness.

use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::error::Error;
use crate::routes::PublicState;
use crate::state::AppState;

/// A readiness probe must answer quickly even when Redis hangs.
const READY_TIMEOUT: Duration = Duration::from_secs(1);

pub fn router() -> Router<PublicState> {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, description = "The process is alive")))]
pub async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: Redis answers a PING.
#[utoipa::path(get, path = "/ready", tag = "health", responses(
    (status = 200, description = "Redis answers"),
    (status = 503, description = "Redis is unreachable", body = shared::api::ErrorBody)))]
pub async fn ready(State(state): State<AppState>) -> Result<Json<Value>, Error> {
    let mut conn = state.conn.clone();
    let ping = redis::cmd("PING");
    let ping = ping.query_async::<String>(&mut conn);
    match tokio::time::timeout(READY_TIMEOUT, ping).await {
        Ok(Ok(_)) => Ok(Json(json!({ "status": "ready", "redis": "ok" }))),
        Ok(Err(error)) => Err(Error::RedisUnavailable(error)),
        Err(_) => Err(Error::RedisUnavailable(redis::RedisError::from(
            std::io::Error::new(std::io::ErrorKind::TimedOut, "PING timed out"),
        ))),
    }
}
