//! The caller's spend: `GET /api/v1/usage`.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use shared::budget::UsageResponse;

use crate::error::Error;
use crate::extract::CurrentPrincipal;
use crate::service;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/usage", get(get_usage))
}

/// The caller's spend in the current period (model dollars and FreeCAD seconds), its budget
/// (`null`: unlimited) and when the period resets. A job's spend is added when its attempt
/// ends.
#[utoipa::path(get, path = "/api/v1/usage", tag = "usage",
    responses(
        (status = 200, body = UsageResponse),
        (status = 503, description = "Redis unreachable", body = shared::api::ErrorBody)))]
pub async fn get_usage(
    State(state): State<AppState>,
    CurrentPrincipal(principal): CurrentPrincipal,
) -> Result<Json<UsageResponse>, Error> {
    Ok(Json(service::usage(&state, &principal).await?))
}
