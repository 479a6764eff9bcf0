//! Operators' views: the dead jobs.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use shared::job_id::JobId;

use crate::error::Error;
use crate::extract::{ApiQuery, CurrentPrincipal};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/admin/jobs/dead", get(list_dead_jobs))
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
    if !state.settings.auth.is_admin(&principal.id) {
        return Err(Error::Forbidden(
            "Only the principals in ADMIN_PRINCIPALS may list dead jobs.".to_owned(),
        ));
    }
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
