//! Batches: `POST /api/v1/batches` creates up to [`BATCH_MAX_ITEMS`] designs in one call (one
//! validation pass, one Redis round trip); an invalid item is reported by its index and not
//! created, without failing the others. `GET /api/v1/batches/{batch_id}` counts its items by
//! status.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use shared::api::{BatchStatusResponse, DesignCreateRequest};
use shared::job::{DesignJob, JobRecord};
use shared::job_id::JobId;
use shared::job_store::NewBatch;

use crate::error::Error;
use crate::extract::{ApiJson, CurrentPrincipal};
use crate::service;
use crate::state::AppState;

/// The most designs one batch may hold.
pub const BATCH_MAX_ITEMS: usize = 1000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/batches", post(create_batch))
        .route("/api/v1/batches/{batch_id}", get(batch_status))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct BatchCreateRequest {
    /// 1 to 1,000 design requests, each as `POST /api/v1/design` takes it.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<serde_json::Value>,
    /// Where the batch's end is to be reported, once.
    pub callback_url: Option<String>,
}

/// Why one item of a batch was not created.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RejectedItem {
    pub index: usize,
    pub error: ItemError,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ItemError {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AcceptedItem {
    pub index: usize,
    pub request_id: JobId,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BatchCreated {
    pub batch_id: JobId,
    pub accepted: usize,
    pub rejected: Vec<RejectedItem>,
    pub items: Vec<AcceptedItem>,
    pub links: BatchLinks,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BatchLinks {
    #[serde(rename = "self")]
    pub self_: String,
}

fn rejected(index: usize, error: &Error) -> RejectedItem {
    RejectedItem {
        index,
        error: ItemError {
            code: error.code().to_owned(),
            message: error.to_string(),
        },
    }
}

/// Parses and checks every item: the invalid ones as rejections, the valid ones as the records
/// and jobs to create (each with its index in the request).
async fn check_items(
    state: &AppState,
    principal: &str,
    batch_id: JobId,
    items: Vec<serde_json::Value>,
) -> (Vec<RejectedItem>, Vec<(usize, (JobRecord, DesignJob))>) {
    let mut rejections = Vec::new();
    let mut valid = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        let parsed = serde_json::from_value::<DesignCreateRequest>(item)
            .map_err(|e| Error::Unprocessable(e.to_string()))
            .and_then(|request| request.parse().map_err(Error::from));
        let design = match parsed {
            Ok(design) => design,
            Err(error) => {
                rejections.push(rejected(index, &error));
                continue;
            }
        };
        if let Err(error) = service::check_model_and_callback(state, &design).await {
            rejections.push(rejected(index, &error));
            continue;
        }
        let job = service::new_job(design.clone());
        let mut record = JobRecord::new_pending(&job, principal, design.callback_url);
        record.batch_id = Some(batch_id);
        valid.push((index, (record, job)));
    }
    (rejections, valid)
}

/// Submit up to 1,000 designs at once.
#[utoipa::path(post, path = "/api/v1/batches", tag = "design",
    request_body = BatchCreateRequest,
    responses(
        (status = 202, description = "The valid items created; the invalid ones listed by index", body = BatchCreated),
        (status = 400, description = "Malformed JSON", body = shared::api::ErrorBody),
        (status = 402, description = "budget_exceeded", body = shared::api::ErrorBody),
        (status = 413, description = "Body over MAX_BODY_BYTES", body = shared::api::ErrorBody),
        (status = 415, description = "Not `Content-Type: application/json`", body = shared::api::ErrorBody),
        (status = 422, description = "No items or more than 1,000, or a refused callback_url", body = shared::api::ErrorBody),
        (status = 503, description = "Redis unreachable", body = shared::api::ErrorBody)))]
pub async fn create_batch(
    State(state): State<AppState>,
    CurrentPrincipal(principal): CurrentPrincipal,
    ApiJson(body): ApiJson<BatchCreateRequest>,
) -> Result<(StatusCode, Json<BatchCreated>), Error> {
    if body.items.is_empty() || body.items.len() > BATCH_MAX_ITEMS {
        return Err(Error::Unprocessable(format!(
            "items: {} given; a batch holds 1 to {BATCH_MAX_ITEMS}",
            body.items.len()
        )));
    }
    if let Some(url) = &body.callback_url {
        service::check_callback(&state, url).await?;
    }
    service::check_budget(&state, &principal).await?;
    let batch_id = JobId::new();
    let (mut rejections, valid) = check_items(&state, &principal.id, batch_id, body.items).await;
    let (indexes, items): (Vec<usize>, Vec<_>) = valid.into_iter().unzip();
    let batch = NewBatch {
        batch_id,
        principal: &principal.id,
        callback_url: body.callback_url.as_deref(),
    };
    let mut conn = state.conn.clone();
    let created = state
        .store
        .enqueue_batch(
            &mut conn,
            &batch,
            &items,
            state.settings.queue.job_max_attempts,
            state.settings.rate_limit.max_active_jobs_per_principal,
        )
        .await?;
    let mut accepted = Vec::new();
    for ((index, (record, _)), outcome) in indexes.into_iter().zip(&items).zip(created.outcomes) {
        match outcome {
            Ok(_) => accepted.push(AcceptedItem {
                index,
                request_id: record.request_id,
            }),
            Err(error) => rejections.push(rejected(index, &Error::from(error))),
        }
    }
    rejections.sort_by_key(|r| r.index);
    if created.ended_at_once {
        tracing::info!(%batch_id, "no item of the batch was created; it has ended already");
    }
    tracing::info!(%batch_id, accepted = accepted.len(), rejected = rejections.len(), "batch accepted");
    Ok((
        StatusCode::ACCEPTED,
        Json(BatchCreated {
            batch_id,
            accepted: accepted.len(),
            rejected: rejections,
            items: accepted,
            links: BatchLinks {
                self_: format!("/api/v1/batches/{batch_id}"),
            },
        }),
    ))
}

/// A batch's items counted by status.
#[utoipa::path(get, path = "/api/v1/batches/{batch_id}", tag = "design",
    params(("batch_id" = String, Path, description = "The id from the 202 answer")),
    responses(
        (status = 200, body = BatchStatusResponse),
        (status = 404, description = "No such batch (or another principal's)", body = shared::api::ErrorBody),
        (status = 503, description = "Redis unreachable", body = shared::api::ErrorBody)))]
pub async fn batch_status(
    State(state): State<AppState>,
    CurrentPrincipal(principal): CurrentPrincipal,
    Path(raw_id): Path<String>,
) -> Result<Json<BatchStatusResponse>, Error> {
    let not_found = || Error::NotFound {
        code: "batch_not_found",
        message: format!("No batch {}.", crate::error::echo(&raw_id)),
    };
    let batch_id: JobId = raw_id.parse().map_err(|_| not_found())?;
    let mut conn = state.conn.clone();
    let batch = state
        .store
        .batch(&mut conn, &batch_id)
        .await?
        .filter(|batch| batch.principal == principal.id)
        .ok_or_else(not_found)?;
    Ok(Json(BatchStatusResponse::of(batch_id, batch)))
}
