//! Operators' controls (`ADMIN_PRINCIPALS` only): the dead jobs (list, retry, delete) and
//! pausing and resuming the queue.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use shared::auth::Principal;
use shared::job_id::JobId;
use shared::job_store::DeadRetry;

use crate::error::Error;
use crate::extract::{ApiQuery, CurrentPrincipal};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/admin/jobs/dead",
            get(list_dead_jobs).delete(delete_all_dead_jobs),
        )
        .route("/api/v1/admin/jobs/dead/retry", post(retry_all_dead_jobs))
        .route(
            "/api/v1/admin/jobs/dead/{request_id}",
            delete(delete_dead_job),
        )
        .route(
            "/api/v1/admin/jobs/dead/{request_id}/retry",
            post(retry_dead_job),
        )
        .route("/api/v1/admin/queue", get(queue_state))
        .route("/api/v1/admin/queue/pause", post(pause_queue))
        .route("/api/v1/admin/queue/resume", post(resume_queue))
}

/// Dead jobs one bulk request acts on at most (repeat it for more).
const BULK_LIMIT: usize = 10_000;

fn require_admin(state: &AppState, principal: &Principal) -> Result<(), Error> {
    if state.settings.auth.is_admin(&principal.id) {
        Ok(())
    } else {
        Err(Error::Forbidden(
            "Only the principals in ADMIN_PRINCIPALS may use the admin endpoints.".to_owned(),
        ))
    }
}

/// A `{request_id}` that is not a job id names no dead job: the same 404.
fn dead_job_id(text: &str) -> Result<JobId, Error> {
    text.parse().map_err(|_| not_dead(text))
}

fn not_dead(request_id: &str) -> Error {
    Error::NotFound {
        code: "dead_job_not_found",
        message: format!(
            "There is no dead job with id '{}'.",
            crate::error::echo(request_id)
        ),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct DeadJobsQuery {
    /// At most this many, newest first (1 to 1000, default 100).
    pub limit: Option<usize>,
}

/// A job that failed for good after its retries.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeadJob {
    pub request_id: JobId,
    pub principal: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub retries: Option<u32>,
    /// Unix seconds.
    pub died_at: i64,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeadJobs {
    pub jobs: Vec<DeadJob>,
}

/// Jobs whose transient failures outlasted `JOB_MAX_ATTEMPTS` (admin principals only).
#[utoipa::path(get, path = "/api/v1/admin/jobs/dead", tag = "admin",
    params(DeadJobsQuery),
    responses(
        (status = 200, body = DeadJobs),
        (status = 403, description = "Not an admin principal", body = shared::api::ErrorBody)))]
pub async fn list_dead_jobs(
    State(state): State<AppState>,
    CurrentPrincipal(principal): CurrentPrincipal,
    ApiQuery(query): ApiQuery<DeadJobsQuery>,
) -> Result<Json<DeadJobs>, Error> {
    require_admin(&state, &principal)?;
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let mut conn = state.conn.clone();
    let dead = state.store.dead_jobs(&mut conn, limit).await?;
    let mut jobs = Vec::with_capacity(dead.len());
    for (request_id, died_at) in dead {
        let record = state.store.get(&mut conn, &request_id).await?;
        jobs.push(DeadJob {
            principal: record.as_ref().map(|r| r.principal.clone()),
            error_code: record.as_ref().and_then(|r| r.error_code.map(String::from)),
            error_message: record.as_ref().and_then(|r| r.error_message.clone()),
            retries: record.as_ref().map(|r| r.retries),
            request_id,
            died_at,
        });
    }
    Ok(Json(DeadJobs { jobs }))
}

/// Whether the queue is paused.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QueueState {
    pub paused: bool,
    /// Tasks moved by this request: parked back into the pending lists by a pause,
    /// dispatched to the workers by a resume (absent on a plain read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved: Option<usize>,
}

/// How many dead jobs a bulk request acted on.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeadJobsDone {
    pub count: usize,
}

/// Whether the queue is paused.
#[utoipa::path(get, path = "/api/v1/admin/queue", tag = "admin",
    responses((status = 200, body = QueueState),
        (status = 403, description = "Not an admin principal", body = shared::api::ErrorBody)))]
pub async fn queue_state(
    State(state): State<AppState>,
    CurrentPrincipal(principal): CurrentPrincipal,
) -> Result<Json<QueueState>, Error> {
    require_admin(&state, &principal)?;
    let mut conn = state.conn.clone();
    let paused = shared::queue::is_paused(&mut conn, &state.keys)
        .await
        .map_err(Error::RedisUnavailable)?;
    Ok(Json(QueueState {
        paused,
        moved: None,
    }))
}

/// Pauses the queue: workers fetch no new job (those running go on) and the jobs waiting to
/// be fetched go back to their pending lists; submissions are still accepted and wait.
#[utoipa::path(post, path = "/api/v1/admin/queue/pause", tag = "admin",
    responses((status = 200, body = QueueState),
        (status = 403, description = "Not an admin principal", body = shared::api::ErrorBody)))]
pub async fn pause_queue(
    State(state): State<AppState>,
    CurrentPrincipal(principal): CurrentPrincipal,
) -> Result<Json<QueueState>, Error> {
    require_admin(&state, &principal)?;
    let mut conn = state.conn.clone();
    let parked = shared::queue::pause(&mut conn, &state.keys, state.store.dispatch_policy())
        .await
        .map_err(Error::RedisUnavailable)?;
    tracing::warn!(principal = %principal.id, parked, "queue paused");
    Ok(Json(QueueState {
        paused: true,
        moved: Some(parked),
    }))
}

/// Resumes a paused queue; the waiting jobs are dispatched in their fair order.
#[utoipa::path(post, path = "/api/v1/admin/queue/resume", tag = "admin",
    responses((status = 200, body = QueueState),
        (status = 403, description = "Not an admin principal", body = shared::api::ErrorBody)))]
pub async fn resume_queue(
    State(state): State<AppState>,
    CurrentPrincipal(principal): CurrentPrincipal,
) -> Result<Json<QueueState>, Error> {
    require_admin(&state, &principal)?;
    let mut conn = state.conn.clone();
    let dispatched = shared::queue::resume(&mut conn, &state.keys, state.store.dispatch_policy())
        .await
        .map_err(Error::RedisUnavailable)?;
    tracing::info!(principal = %principal.id, dispatched, "queue resumed");
    Ok(Json(QueueState {
        paused: false,
        moved: Some(dispatched),
    }))
}

/// Runs a dead job again from the start (status `pending`, retries reset), in its owner's
/// share of the queue.
#[utoipa::path(post, path = "/api/v1/admin/jobs/dead/{request_id}/retry", tag = "admin",
    params(("request_id" = String, Path, description = "The dead job")),
    responses((status = 202, body = DeadJobsDone),
        (status = 403, description = "Not an admin principal", body = shared::api::ErrorBody),
        (status = 404, description = "No such dead job", body = shared::api::ErrorBody)))]
pub async fn retry_dead_job(
    State(state): State<AppState>,
    CurrentPrincipal(principal): CurrentPrincipal,
    Path(request_id): Path<String>,
) -> Result<(StatusCode, Json<DeadJobsDone>), Error> {
    require_admin(&state, &principal)?;
    let id = dead_job_id(&request_id)?;
    let mut conn = state.conn.clone();
    match state
        .store
        .retry_dead(&mut conn, &id, state.settings.queue.job_max_attempts)
        .await?
    {
        DeadRetry::Queued => Ok((StatusCode::ACCEPTED, Json(DeadJobsDone { count: 1 }))),
        DeadRetry::Missing | DeadRetry::NotDead => Err(not_dead(&request_id)),
    }
}

/// Runs every dead job again; a dead job whose record has expired is dropped from the list.
#[utoipa::path(post, path = "/api/v1/admin/jobs/dead/retry", tag = "admin",
    responses((status = 202, body = DeadJobsDone),
        (status = 403, description = "Not an admin principal", body = shared::api::ErrorBody)))]
pub async fn retry_all_dead_jobs(
    State(state): State<AppState>,
    CurrentPrincipal(principal): CurrentPrincipal,
) -> Result<(StatusCode, Json<DeadJobsDone>), Error> {
    require_admin(&state, &principal)?;
    let mut conn = state.conn.clone();
    let mut count = 0;
    for (request_id, _) in state.store.dead_jobs(&mut conn, BULK_LIMIT).await? {
        let max_attempts = state.settings.queue.job_max_attempts;
        match state
            .store
            .retry_dead(&mut conn, &request_id, max_attempts)
            .await?
        {
            DeadRetry::Queued => count += 1,
            DeadRetry::Missing => {
                state.store.forget_dead(&mut conn, &request_id).await?;
            }
            DeadRetry::NotDead => {}
        }
    }
    tracing::info!(principal = %principal.id, count, "dead jobs retried");
    Ok((StatusCode::ACCEPTED, Json(DeadJobsDone { count })))
}

/// Drops a job from the dead list (its record stays `failed` until it expires).
#[utoipa::path(delete, path = "/api/v1/admin/jobs/dead/{request_id}", tag = "admin",
    params(("request_id" = String, Path, description = "The dead job")),
    responses((status = 204),
        (status = 403, description = "Not an admin principal", body = shared::api::ErrorBody),
        (status = 404, description = "No such dead job", body = shared::api::ErrorBody)))]
pub async fn delete_dead_job(
    State(state): State<AppState>,
    CurrentPrincipal(principal): CurrentPrincipal,
    Path(request_id): Path<String>,
) -> Result<StatusCode, Error> {
    require_admin(&state, &principal)?;
    let id = dead_job_id(&request_id)?;
    let mut conn = state.conn.clone();
    if state.store.forget_dead(&mut conn, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_dead(&request_id))
    }
}

/// Drops every job from the dead list.
#[utoipa::path(delete, path = "/api/v1/admin/jobs/dead", tag = "admin",
    responses((status = 200, body = DeadJobsDone),
        (status = 403, description = "Not an admin principal", body = shared::api::ErrorBody)))]
pub async fn delete_all_dead_jobs(
    State(state): State<AppState>,
    CurrentPrincipal(principal): CurrentPrincipal,
) -> Result<Json<DeadJobsDone>, Error> {
    require_admin(&state, &principal)?;
    let mut conn = state.conn.clone();
    let mut count = 0;
    for (request_id, _) in state.store.dead_jobs(&mut conn, BULK_LIMIT).await? {
        if state.store.forget_dead(&mut conn, &request_id).await? {
            count += 1;
        }
    }
    Ok(Json(DeadJobsDone { count }))
}
