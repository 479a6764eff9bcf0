//! Design jobs: create, read, export listing and download.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use shared::api::{
    DesignCreateRequest, DesignLinks, DesignResponse, DesignStatusResponse, ExportLinks,
    ExportPending, ExportResult, FieldError, RefineRequest,
};
use shared::job::{Conversion, ConversionState, DesignJob, DesignStatus, JobRecord, OutputFormat};
use shared::job_store::{ConversionRequest, Enqueued, Idempotency, Requeue, WriteOutcome};
use uuid::Uuid;

use crate::error::{Error, echo};
use crate::extract::{ApiJson, ApiQuery};
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
        (status = 415, description = "Not `Content-Type: application/json`", body = shared::api::ErrorBody),
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

/// The checks that need the operator's settings: the model must be one this service offers,
/// and the callback must point at a public address (resolved now, and again by the worker when
/// it connects).
async fn check_model_and_callback(
    state: &AppState,
    request: &DesignCreateRequest,
) -> Result<(), Error> {
    if let Some(model) = &request.model {
        state
            .allowed_models
            .check(model)
            .map_err(|refusal| FieldError {
                field: "model",
                message: refusal.to_string(),
            })?;
    }
    if let Some(url) = &request.callback_url {
        state
            .callback_policy
            .check(url)
            .await
            .map_err(|refusal| FieldError {
                field: "callback_url",
                message: refusal.to_string(),
            })?;
    }
    Ok(())
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
    check_model_and_callback(state, &request).await?;
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
        convert: None,
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
            state.settings.queue.job_max_attempts,
            state.settings.rate_limit.max_active_jobs_per_principal,
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
        (status = 400, description = "Malformed JSON", body = shared::api::ErrorBody),
        (status = 404, description = "No such job", body = shared::api::ErrorBody),
        (status = 413, description = "Body over MAX_BODY_BYTES", body = shared::api::ErrorBody),
        (status = 415, description = "Not `Content-Type: application/json`", body = shared::api::ErrorBody),
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
        convert: None,
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
            state.settings.queue.job_max_attempts,
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
    /// Comma-separated formats (`step,stl,fcstd,glb,obj,ply,3mf,png`); by default the ones
    /// the job asked for.
    pub formats: Option<String>,
}

/// Which of a job's files can be downloaded, per format. On a completed design, formats it
/// lacks are made from its stored FCStd by a conversion job: `202` with the `Location` to ask
/// again while they are made, then `200` with every format.
#[utoipa::path(get, path = "/api/v1/design/{request_id}/export", tag = "design",
    params(("request_id" = String, Path, description = "The job id"), ExportQuery),
    responses(
        (status = 200, body = Vec<ExportResult>),
        (status = 400, description = "A query string that does not parse", body = shared::api::ErrorBody),
        (status = 202, description = "Converting the formats the design lacks; ask again", body = ExportPending),
        (status = 404, description = "No such job", body = shared::api::ErrorBody),
        (status = 422, description = "An unknown format", body = shared::api::ErrorBody)))]
pub async fn export_design(
    State(state): State<AppState>,
    Extension(principal): CurrentPrincipal,
    Path(request_id): Path<String>,
    ApiQuery(query): ApiQuery<ExportQuery>,
) -> Result<Response, Error> {
    let formats = match query.formats.as_deref() {
        None | Some("") => None,
        Some(list) => Some(parse_formats(list)?),
    };
    let record = load_record(&state, &principal, &request_id).await?;
    let formats = formats.unwrap_or_else(|| record.output_formats.clone());
    let missing: Vec<OutputFormat> = formats
        .iter()
        .copied()
        .filter(|format| record.artifact(*format).is_none())
        .collect();
    // A design that ran in FreeCAD has a stored FCStd to convert from (one made with
    // `enable_execution: false` has nothing).
    if record.status == DesignStatus::Completed
        && record.geometry.is_some()
        && !missing.is_empty()
        && !conversion_failed_for(&record, &missing)
        && let Some(pending) = convert_missing(&state, &record, &formats, missing).await?
    {
        return Ok(pending);
    }
    let results: Vec<ExportResult> = formats
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
    Ok(Json(results).into_response())
}

/// `step,obj,3mf` as formats; an unknown name is a 422 that lists the known ones.
fn parse_formats(list: &str) -> Result<Vec<OutputFormat>, Error> {
    let mut formats = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let format = OutputFormat::parse(name).ok_or_else(|| {
            Error::Unprocessable(format!(
                "formats: '{}' is not one of {}",
                echo(name),
                OutputFormat::names()
            ))
        })?;
        if !formats.contains(&format) {
            formats.push(format);
        }
    }
    Ok(formats)
}

/// The latest conversion failed and covered all of `missing`: its error is the answer (asking
/// again would fail the same way).
fn conversion_failed_for(record: &JobRecord, missing: &[OutputFormat]) -> bool {
    record.conversion.as_ref().is_some_and(|c| {
        c.state == ConversionState::Failed && missing.iter().all(|f| c.formats.contains(f))
    })
}

/// Queues the conversion of `missing` (unless one is queued already) and answers 202 with
/// the link to ask for `requested` again; `None` when the design stopped being completed.
async fn convert_missing(
    state: &AppState,
    record: &JobRecord,
    requested: &[OutputFormat],
    missing: Vec<OutputFormat>,
) -> Result<Option<Response>, Error> {
    let id = record.request_id;
    let job = DesignJob {
        request_id: id,
        prompt: record.prompt.clone(),
        max_iterations: record.max_iterations,
        enable_execution: true,
        output_formats: missing.clone(),
        model: None,
        feedback: None,
        convert: Some(missing.clone()),
        earlier_feedback: Vec::new(),
    };
    let conversion = Conversion {
        formats: missing.clone(),
        state: ConversionState::Queued,
        error: None,
        requested_at: chrono::Utc::now(),
    };
    let mut conn = state.conn.clone();
    let queued = state
        .store
        .request_conversion(
            &mut conn,
            &job,
            &conversion,
            state.settings.queue.job_max_attempts,
        )
        .await?;
    let formats = match queued {
        ConversionRequest::Queued => {
            tracing::info!(request_id = %id, formats = ?missing, "conversion queued");
            missing
        }
        ConversionRequest::AlreadyQueued => record
            .conversion
            .as_ref()
            .map_or(missing, |c| c.formats.clone()),
        ConversionRequest::NotCompleted => return Ok(None),
        ConversionRequest::Missing => return Err(Error::design_not_found(&id.to_string())),
    };
    let export = format!(
        "/api/v1/design/{id}/export?formats={}",
        requested
            .iter()
            .map(|f| f.as_str())
            .collect::<Vec<_>>()
            .join(",")
    );
    let body = ExportPending {
        request_id: id,
        status: "converting".to_owned(),
        formats,
        message: "Making the formats this design lacks from its stored FCStd; ask links.export \
                  again."
            .to_owned(),
        links: ExportLinks {
            export: export.clone(),
            design: format!("/api/v1/design/{id}"),
        },
    };
    Ok(Some(
        (
            StatusCode::ACCEPTED,
            [
                (header::LOCATION, export),
                (header::RETRY_AFTER, "1".to_owned()),
            ],
            Json(body),
        )
            .into_response(),
    ))
}

fn missing_artifact_reason(record: &JobRecord, format: OutputFormat) -> String {
    if record.status != DesignStatus::Completed {
        return format!("the design is {}, not completed", record.status);
    }
    if let Some(conversion) = &record.conversion
        && conversion.formats.contains(&format)
        && let Some(error) = &conversion.error
    {
        return format!("the conversion to {} failed: {error}", format.as_str());
    }
    if !record.output_formats.contains(&format) {
        format!(
            "{} was not among the requested output_formats; ask export for it to convert it",
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
        ("format" = String, Path, description = "step, stl, fcstd, glb, obj, ply, 3mf or png")),
    responses(
        (status = 200, description = "The file", content_type = "application/octet-stream"),
        (status = 206, description = "The byte range the `Range` header asked for"),
        (status = 304, description = "`If-None-Match` names the file's ETag (its sha256)"),
        (status = 307, description = "Redirect to a short-lived presigned URL (ARTIFACT_PRESIGNED_DOWNLOADS=true)"),
        (status = 404, description = "No such job, or no such file", body = shared::api::ErrorBody),
        (status = 416, description = "The range is outside the file", body = shared::api::ErrorBody),
        (status = 503, description = "The artifact store is unreachable", body = shared::api::ErrorBody)))]
pub async fn download_artifact(
    State(state): State<AppState>,
    Extension(principal): CurrentPrincipal,
    Path((request_id, format_name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let record = load_record(&state, &principal, &request_id).await?;
    let not_found = |message: String| Error::NotFound {
        code: "artifact_not_found",
        message,
    };
    let format = OutputFormat::parse(&format_name).ok_or_else(|| {
        not_found(format!(
            "There is no format '{}'; the formats are {}.",
            echo(&format_name),
            OutputFormat::names()
        ))
    })?;
    let artifact = record.artifact(format).ok_or_else(|| {
        not_found(format!(
            "Design {request_id} has no {} file: {}.",
            format.as_str(),
            missing_artifact_reason(&record, format)
        ))
    })?;
    super::download::respond(&state, record.request_id, format, artifact, &headers).await
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
                "The design has ended already ({status}); only a pending or running design \
                 can be cancelled."
            )));
        }
    }
    tracing::info!(request_id = %id, "design cancelled");
    Ok(StatusCode::NO_CONTENT)
}
