//! The caller's designs: the listing (`GET /api/v1/designs`) and feedback on one design.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use shared::api::{DesignList, DesignSummary, FeedbackRequest, LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX};
use shared::job::{DesignStatus, UserFeedback};
use shared::job_store::{ListCursor, ListQuery};
use shared::metrics::DESIGN_FEEDBACK_TOTAL;

use crate::error::Error;
use crate::extract::{ApiJson, CurrentPrincipal, OwnedDesign};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/designs", get(list_designs))
        .route("/api/v1/design/{request_id}/feedback", post(give_feedback))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListParams {
    /// Designs per page, 1 to 100 (20 by default).
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only designs in this status (`pending`, ..., `completed`, `failed`, `cancelled`).
    pub status: Option<String>,
    /// Only designs submitted at or after this time (RFC 3339).
    pub since: Option<String>,
}

impl ListParams {
    /// Every parameter checked, with a message that names the one at fault.
    fn parse(self) -> Result<ListQuery, Error> {
        let invalid = |message: String| Error::Unprocessable(message);
        let limit = match self.limit.as_deref() {
            None | Some("") => LIST_LIMIT_DEFAULT,
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=LIST_LIMIT_MAX).contains(n))
                .ok_or_else(|| {
                    invalid(format!("limit: '{text}' is not from 1 to {LIST_LIMIT_MAX}"))
                })?,
        };
        let cursor = match self.cursor.as_deref() {
            None | Some("") => None,
            Some(text) => Some(ListCursor::decode(text).ok_or_else(|| {
                invalid("cursor: not a cursor this API gave (use next_cursor as is)".to_owned())
            })?),
        };
        let status = match self.status.as_deref() {
            None | Some("") => None,
            Some(text) => Some(DesignStatus::parse(text).ok_or_else(|| {
                let names: Vec<_> = DesignStatus::ALL.iter().map(|s| s.as_str()).collect();
                invalid(format!(
                    "status: '{text}' is not one of {}",
                    names.join(", ")
                ))
            })?),
        };
        let since_ms = match self.since.as_deref() {
            None | Some("") => None,
            Some(text) => Some(
                DateTime::parse_from_rfc3339(text)
                    .map_err(|_| {
                        invalid(format!(
                            "since: '{text}' is not an RFC 3339 time, e.g. 2026-01-31T12:00:00Z"
                        ))
                    })?
                    .timestamp_millis(),
            ),
        };
        Ok(ListQuery {
            limit,
            cursor,
            status,
            since_ms,
        })
    }
}

/// The caller's designs, newest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/designs", tag = "design",
    params(ListParams),
    responses(
        (status = 200, body = DesignList),
        (status = 422, description = "A parameter out of range", body = shared::api::ErrorBody)))]
pub async fn list_designs(
    State(state): State<AppState>,
    CurrentPrincipal(principal): CurrentPrincipal,
    Query(params): Query<ListParams>,
) -> Result<Json<DesignList>, Error> {
    let query = params.parse()?;
    let mut conn = state.conn.clone();
    let (records, next) = state.store.list(&mut conn, &principal.id, &query).await?;
    Ok(Json(DesignList {
        designs: records.into_iter().map(DesignSummary::from).collect(),
        next_cursor: next.map(|cursor| cursor.encode()),
    }))
}

/// Tells how good a design is; the latest feedback is kept on the design.
#[utoipa::path(post, path = "/api/v1/design/{request_id}/feedback", tag = "design",
    params(("request_id" = String, Path, description = "The job id")),
    request_body = FeedbackRequest,
    responses(
        (status = 204, description = "Stored"),
        (status = 400, description = "A body that is not valid JSON", body = shared::api::ErrorBody),
        (status = 404, description = "No such job", body = shared::api::ErrorBody),
        (status = 413, description = "A body over MAX_BODY_BYTES", body = shared::api::ErrorBody),
        (status = 415, description = "A body that is not application/json", body = shared::api::ErrorBody),
        (status = 422, description = "An unknown rating or a comment too long", body = shared::api::ErrorBody)))]
pub async fn give_feedback(
    State(state): State<AppState>,
    // Taken as a `Result` and checked after the body: a body's errors are answered first.
    design: Result<OwnedDesign, Error>,
    ApiJson(body): ApiJson<FeedbackRequest>,
) -> Result<StatusCode, Error> {
    let body = body.validate()?;
    let OwnedDesign(record) = design?;
    let feedback = UserFeedback {
        rating: body.rating,
        comment: body.comment,
        given_at: Utc::now(),
    };
    let mut conn = state.conn.clone();
    let id = record.request_id;
    if !state.store.set_feedback(&mut conn, &id, &feedback).await? {
        return Err(Error::design_not_found(&id.to_string()));
    }
    metrics::counter!(DESIGN_FEEDBACK_TOTAL.name, "rating" => feedback.rating.as_str())
        .increment(1);
    Ok(StatusCode::NO_CONTENT)
}
