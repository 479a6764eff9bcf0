//! Design jobs: create, read, export listing and download.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use shared::api::{
    DesignCreateRequest, DesignResponse, DesignStatusResponse, ExportLinks, ExportPending,
    ExportResult, RefineRequest,
};
use shared::job::{Conversion, ConversionState, DesignJob, DesignStatus, JobRecord, OutputFormat};
use shared::job_store::ConversionRequest;

use crate::error::{Error, echo};
use crate::extract::{ApiJson, ApiQuery, CurrentPrincipal, IdempotencyKey, OwnedDesign};
use crate::service;
use crate::state::AppState;

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
        (status = 402, description = "budget_exceeded: the caller's budget for this period is used up", body = shared::api::ErrorBody),
        (status = 422, description = "A field out of range, or an Idempotency-Key reused with another body", body = shared::api::ErrorBody),
        (status = 503, description = "Redis unreachable", body = shared::api::ErrorBody)),
    params(("Idempotency-Key" = Option<String>, Header,
        description = "Repeat-safe submission: the same key and body give the same job for 24 h")))]
pub async fn create_design(
    State(state): State<AppState>,
    CurrentPrincipal(principal): CurrentPrincipal,
    // Taken as a `Result` and checked after the body: a body's errors are answered first.
    idempotency_key: Result<Option<IdempotencyKey>, Error>,
    ApiJson(body): ApiJson<DesignCreateRequest>,
) -> Result<Response, Error> {
    let idempotency_key = idempotency_key?;
    let design = body.parse()?;
    let key = idempotency_key.as_ref().map(IdempotencyKey::as_str);
    let response = service::submit(&state, &principal, design, key).await?;
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

/// A job's state.
#[utoipa::path(get, path = "/api/v1/design/{request_id}", tag = "design",
    params(("request_id" = String, Path, description = "The id from the 202 answer")),
    responses(
        (status = 200, body = DesignStatusResponse),
        (status = 404, description = "No such job", body = shared::api::ErrorBody)))]
pub async fn get_design(OwnedDesign(record): OwnedDesign) -> Json<DesignStatusResponse> {
    Json(record.into())
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
        (status = 402, description = "budget_exceeded: the caller's budget for this period is used up", body = shared::api::ErrorBody),
        (status = 409, description = "The design is not completed", body = shared::api::ErrorBody),
        (status = 422, description = "Feedback empty or too long", body = shared::api::ErrorBody)))]
pub async fn refine_design(
    State(state): State<AppState>,
    CurrentPrincipal(principal): CurrentPrincipal,
    // Taken as a `Result` and checked after the body: a body's errors are answered first.
    design: Result<OwnedDesign, Error>,
    ApiJson(body): ApiJson<RefineRequest>,
) -> Result<Response, Error> {
    let feedback = body.validate()?.feedback;
    let OwnedDesign(record) = design?;
    let response = service::refine(&state, &principal, record, feedback).await?;
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
    ApiQuery(query): ApiQuery<ExportQuery>,
    // Taken as a `Result` and checked after the formats: an unknown format is answered first.
    design: Result<OwnedDesign, Error>,
) -> Result<Response, Error> {
    let formats = match query.formats.as_deref() {
        None | Some("") => None,
        Some(list) => Some(parse_formats(list)?),
    };
    let OwnedDesign(record) = design?;
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
    // Only the stored FCStd is read: no model, whatever the design was made with.
    let job = DesignJob {
        enable_execution: true,
        output_formats: missing.clone(),
        model: None,
        convert: Some(missing.clone()),
        ..DesignJob::rerun_of(record)
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
    OwnedDesign(record): OwnedDesign,
    Path((request_id, format_name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Error> {
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
    OwnedDesign(record): OwnedDesign,
) -> Result<StatusCode, Error> {
    service::cancel(&state, &record).await?;
    Ok(StatusCode::NO_CONTENT)
}
