//! Design jobs: create, read, export listing and download.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use shared::api::{
    DesignCreateRequest, DesignLinks, DesignResponse, DesignStatusResponse, ExportResult,
    RefineRequest,
};
use shared::events::EventType;
use shared::job::{DesignJob, DesignStatus, JobRecord, OutputFormat};
use shared::job_store::{Enqueued, Idempotency, Requeue, WriteOutcome};
use tokio_util::io::ReaderStream;
use uuid::Uuid;

use crate::error::Error;
use crate::extract::ApiJson;
use crate::guard::CurrentPrincipal;
use crate::state::AppState;
use shared::auth::Principal;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/design", post(create_design))
        .route(
            "/api/v1/design/{request_id}",
            get(get_design).delete(cancel_design),
        )
        .route("/api/v1/design/{request_id}/refine", post(refine_design))
        .route("/api/v1/design/{request_id}/export", get(export_design))
        .route(
            "/api/v1/design/{request_id}/download/{format}",
            get(download_artifact),
        )
}

/// Submit a design job.
#[utoipa::path(post, path = "/api/v1/design", tag = "design",
    request_body = DesignCreateRequest,
    responses(
        (status = 202, description = "Accepted and queued", body = DesignResponse),
        (status = 400, description = "Malformed JSON", body = shared::api::ErrorBody),
        (status = 413, description = "Body over MAX_BODY_BYTES", body = shared::api::ErrorBody),
        (status = 422, description = "A field out of range, or an Idempotency-Key reused with another body", body = shared::api::ErrorBody),
        (status = 503, description = "Redis unreachable", body = shared::api::ErrorBody)),
    params(("Idempotency-Key" = Option<String>, Header,
        description = "Repeat-safe submission: the same key and body give the same job for 24 h")))]
pub async fn create_design(
    State(state): State<AppState>,
    Extension(principal): CurrentPrincipal,
    headers: HeaderMap,
    ApiJson(body): ApiJson<DesignCreateRequest>,
) -> Result<Response, Error> {
    let idempotency_key = match headers.get("idempotency-key") {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .map(str::trim)
                .filter(|key| !key.is_empty() && key.len() <= MAX_IDEMPOTENCY_KEY_LEN)
                .ok_or_else(|| {
                    Error::Unprocessable(format!(
                        "Idempotency-Key: 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters"
                    ))
                })?,
        ),
    };
    let response = submit_design(&state, &principal, body, idempotency_key).await?;
    Ok(accepted(response))
}

/// `202 Accepted` with the job's status link in `Location`.
fn accepted(response: DesignResponse) -> Response {
    let location = response.links.self_.clone();
    (
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(response),
    )
        .into_response()
}

/// Longest `Idempotency-Key` accepted.
const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// Validates a design request, records and queues the job; shared by HTTP and WebSocket.
/// With an idempotency key, a repeat of the same request answers what the first one did.
pub async fn submit_design(
    state: &AppState,
    principal: &Principal,
    body: DesignCreateRequest,
    idempotency_key: Option<&str>,
) -> Result<DesignResponse, Error> {
    let request = body.validate()?;
    // The validated request (defaults filled in) identifies it, whatever the JSON's layout.
    let fingerprint = serde_json::to_vec(&request)
        .map(|bytes| hex::encode(Sha256::digest(bytes)))
        .map_err(|e| Error::Internal(e.into()))?;
    let job = DesignJob {
        request_id: Uuid::new_v4(),
        prompt: request.prompt,
        max_iterations: request.max_iterations,
        enable_execution: request.enable_execution,
        output_formats: request.output_formats,
        model: request.model,
        feedback: None,
        earlier_feedback: Vec::new(),
    };
    let record = JobRecord::new_pending(&job, &principal.id, request.callback_url);
    let response = DesignResponse {
        request_id: job.request_id,
        status: DesignStatus::Pending,
        message: "Design job accepted; follow it at links.events or links.self.".to_owned(),
        created_at: record.created_at,
        links: DesignLinks::for_job(job.request_id),
    };
    let idempotency = idempotency_key.map(|key| Idempotency {
        principal: &principal.id,
        key,
        fingerprint,
        response: serde_json::to_value(&response).unwrap_or_default(),
    });
    let mut conn = state.conn.clone();
    let enqueued = state
        .store
        .enqueue(
            &mut conn,
            &record,
            &job,
            state.settings.job_max_attempts,
            state.settings.max_active_jobs_per_principal,
            idempotency.as_ref(),
        )
        .await?;
    match enqueued {
        Enqueued::Created => {
            tracing::info!(request_id = %job.request_id, "design job accepted");
            Ok(response)
        }
        Enqueued::Replayed(earlier) => serde_json::from_value(earlier)
            .map_err(|e| Error::Internal(anyhow::anyhow!("a stored idempotent answer: {e}"))),
    }
}

/// Reads a job's record for its owner. A malformed id, an unknown job and another
/// principal's job all answer the same 404: nobody learns which ids exist.
pub async fn load_record(
    state: &AppState,
    principal: &Principal,
    request_id: &str,
) -> Result<JobRecord, Error> {
    let id = Uuid::parse_str(request_id).map_err(|_| Error::design_not_found(request_id))?;
    let mut conn = state.conn.clone();
    state
        .store
        .get(&mut conn, &id.to_string())
        .await?
        .filter(|record| record.principal == principal.id)
        .ok_or_else(|| Error::design_not_found(request_id))
}

/// A job's state.
#[utoipa::path(get, path = "/api/v1/design/{request_id}", tag = "design",
    params(("request_id" = String, Path, description = "The id from the 202 answer")),
    responses(
        (status = 200, body = DesignStatusResponse),
        (status = 404, description = "No such job", body = shared::api::ErrorBody)))]
pub async fn get_design(
    State(state): State<AppState>,
    Extension(principal): CurrentPrincipal,
    Path(request_id): Path<String>,
) -> Result<Json<DesignStatusResponse>, Error> {
    let record = load_record(&state, &principal, &request_id).await?;
    Ok(Json(record.into()))
}

/// Runs the pipeline again on a completed design, with the user's feedback.
#[utoipa::path(post, path = "/api/v1/design/{request_id}/refine", tag = "design",
    params(("request_id" = String, Path, description = "The id of a completed design")),
    request_body = RefineRequest,
    responses(
        (status = 202, description = "Queued again; the job goes back through the pipeline", body = DesignResponse),
        (status = 404, description = "No such job", body = shared::api::ErrorBody),
        (status = 409, description = "The design is not completed", body = shared::api::ErrorBody),
        (status = 422, description = "Feedback empty or too long", body = shared::api::ErrorBody)))]
pub async fn refine_design(
    State(state): State<AppState>,
    Extension(principal): CurrentPrincipal,
    Path(request_id): Path<String>,
    ApiJson(body): ApiJson<RefineRequest>,
) -> Result<Response, Error> {
    let feedback = body.validate()?.feedback;
    let record = load_record(&state, &principal, &request_id).await?;
    let job = DesignJob {
        request_id: record.request_id,
        prompt: record.prompt.clone(),
        max_iterations: record.max_iterations,
        enable_execution: record.enable_execution,
        output_formats: record.output_formats.clone(),
        model: record.model.clone(),
        feedback: Some(feedback),
        earlier_feedback: record.refinements.clone(),
    };
    let not_completed = |status: DesignStatus| {
        Error::Conflict(format!(
            "Only a completed design can be refined; this one is {}.",
            serde_json::to_value(status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        ))
    };
    if record.status != DesignStatus::Completed {
        return Err(not_completed(record.status));
    }
    let mut conn = state.conn.clone();
    // The state is checked again inside the atomic requeue: two refines cannot both win.
    match state
        .store
        .requeue_completed(
            &mut conn,
            &principal.id,
            &job,
            state.settings.job_max_attempts,
        )
        .await?
    {
        Requeue::Queued => {}
        Requeue::Missing => return Err(Error::design_not_found(&request_id)),
        Requeue::NotCompleted => {
            return Err(Error::Conflict(
                "The design changed state meanwhile (refined or cancelled already); only a \
                 completed design can be refined."
                    .to_owned(),
            ));
        }
    }
    tracing::info!(request_id = %job.request_id, "design queued again for refinement");
    let response = DesignResponse {
        request_id: job.request_id,
        status: DesignStatus::Refining,
        message: "Refinement queued; follow it at links.events or links.self.".to_owned(),
        created_at: record.created_at,
        links: DesignLinks::for_job(job.request_id),
    };
    Ok(accepted(response))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ExportQuery {
    /// Comma-separated formats (`step,stl,fcstd`); by default the ones the job asked for.
    pub formats: Option<String>,
}

/// Which of a job's files can be downloaded, per format.
#[utoipa::path(get, path = "/api/v1/design/{request_id}/export", tag = "design",
    params(("request_id" = String, Path, description = "The job id"), ExportQuery),
    responses(
        (status = 200, body = Vec<ExportResult>),
        (status = 404, description = "No such job", body = shared::api::ErrorBody),
        (status = 422, description = "An unknown format", body = shared::api::ErrorBody)))]
pub async fn export_design(
    State(state): State<AppState>,
    Extension(principal): CurrentPrincipal,
    Path(request_id): Path<String>,
    Query(query): Query<ExportQuery>,
) -> Result<Json<Vec<ExportResult>>, Error> {
    let formats = match query.formats.as_deref() {
        None | Some("") => None,
        Some(list) => Some(
            list.split(',')
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(|name| {
                    OutputFormat::parse(name).ok_or_else(|| {
                        Error::Unprocessable(format!(
                            "formats: '{name}' is not one of step, stl, fcstd"
                        ))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let record = load_record(&state, &principal, &request_id).await?;
    let formats = formats.unwrap_or_else(|| record.output_formats.clone());
    let results = formats
        .into_iter()
        .map(|format| match record.artifact(format) {
            Some(artifact) => ExportResult {
                success: true,
                format,
                file_size_bytes: Some(artifact.bytes),
                url: Some(artifact.url.clone()),
                error: None,
            },
            None => ExportResult {
                success: false,
                format,
                file_size_bytes: None,
                url: None,
                error: Some(missing_artifact_reason(&record, format)),
            },
        })
        .collect();
    Ok(Json(results))
}

fn missing_artifact_reason(record: &JobRecord, format: OutputFormat) -> String {
    if record.status != DesignStatus::Completed {
        format!("the design is {:?}, not completed", record.status).to_lowercase()
    } else if !record.output_formats.contains(&format) {
        format!(
            "{} was not among the requested output_formats",
            format.as_str()
        )
    } else {
        format!(
            "no {} file was produced (enable_execution was false?)",
            format.as_str()
        )
    }
}

/// Downloads one of a completed job's files.
#[utoipa::path(get, path = "/api/v1/design/{request_id}/download/{format}", tag = "design",
    params(
        ("request_id" = String, Path, description = "The job id"),
        ("format" = String, Path, description = "step, stl or fcstd")),
    responses(
        (status = 200, description = "The file", content_type = "application/octet-stream"),
        (status = 404, description = "No such job, or no such file", body = shared::api::ErrorBody)))]
pub async fn download_artifact(
    State(state): State<AppState>,
    Extension(principal): CurrentPrincipal,
    Path((request_id, format_name)): Path<(String, String)>,
) -> Result<Response, Error> {
    let record = load_record(&state, &principal, &request_id).await?;
    let not_found = |message: String| Error::NotFound {
        code: "artifact_not_found",
        message,
    };
    let format = OutputFormat::parse(&format_name).ok_or_else(|| {
        not_found(format!(
            "There is no format '{format_name}'; the formats are step, stl and fcstd."
        ))
    })?;
    let artifact = record.artifact(format).ok_or_else(|| {
        not_found(format!(
            "Design {request_id} has no {} file: {}.",
            format.as_str(),
            missing_artifact_reason(&record, format)
        ))
    })?;
    let path = format.artifact_path(&state.settings.artifact_dir, record.request_id);
    let file = tokio::fs::File::open(&path).await.map_err(|error| {
        tracing::warn!(%error, path = %path.display(), "a recorded artifact is missing from ARTIFACT_DIR");
        not_found(format!(
            "The {} file of design {request_id} is not in this gateway's ARTIFACT_DIR.",
            format.as_str()
        ))
    })?;
    let file_name = format!("design-{}.{}", record.request_id, format.as_str());
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_owned()),
            (header::CONTENT_LENGTH, artifact.bytes.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file_name}\""),
            ),
            (header::ETAG, format!("\"{}\"", artifact.sha256)),
        ],
        Body::from_stream(ReaderStream::new(file)),
    )
        .into_response())
}

/// Cancels a job: a pending one never runs; a running one stops at its next stage boundary
/// (or at once while FreeCAD runs, which is killed). `cancelled` is final.
#[utoipa::path(delete, path = "/api/v1/design/{request_id}", tag = "design",
    params(("request_id" = String, Path, description = "The job id")),
    responses(
        (status = 204, description = "Cancelled"),
        (status = 404, description = "No such job", body = shared::api::ErrorBody),
        (status = 409, description = "The job has ended already", body = shared::api::ErrorBody)))]
pub async fn cancel_design(
    State(state): State<AppState>,
    Extension(principal): CurrentPrincipal,
    Path(request_id): Path<String>,
) -> Result<StatusCode, Error> {
    let record = load_record(&state, &principal, &request_id).await?;
    let id = record.request_id.to_string();
    let mut conn = state.conn.clone();
    match state.store.cancel(&mut conn, &id).await? {
        WriteOutcome::Applied => {}
        WriteOutcome::Missing => return Err(Error::design_not_found(&request_id)),
        WriteOutcome::AlreadyEnded => {
            let now = state.store.get(&mut conn, &id).await?;
            let status = now.map_or(record.status, |r| r.status);
            return Err(Error::Conflict(format!(
                "The design has ended already ({status:?}); only a pending or running design \
                 can be cancelled."
            )));
        }
    }
    for (kind, data) in [
        (
            EventType::Status,
            serde_json::json!({ "status": DesignStatus::Cancelled, "progress": 1.0 }),
        ),
        (
            EventType::Completed,
            serde_json::json!({ "status": DesignStatus::Cancelled, "error_code": "cancelled" }),
        ),
    ] {
        state
            .events
            .publish(&mut conn, record.request_id, kind, data)
            .await
            .map_err(Error::RedisUnavailable)?;
    }
    tracing::info!(request_id = %id, "design cancelled");
    Ok(StatusCode::NO_CONTENT)
}
