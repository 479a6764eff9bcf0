//! The page at `/` to try the service in a browser (its HTML, script and 3D viewer are in
//! the binary: no build step, no download), and the short-lived stream tokens it needs,
//! because a browser's `EventSource` cannot send an API key header.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use shared::api::StreamToken;
use shared::auth::{Credential, Principal, STREAM_TOKEN_TTL, StreamGrant};
use shared::job_id::JobId;
use uuid::Uuid;

use crate::error::Error;
use crate::extract::{CurrentPrincipal, OwnedDesign};
use crate::routes::PublicState;
use crate::state::AppState;

/// The query parameter that carries a stream token.
pub const STREAM_TOKEN_PARAM: &str = "stream_token";

/// The page's files, open to everyone (the page itself asks for the API key).
pub fn public_router() -> Router<PublicState> {
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/ui/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/ui/viewer.js",
            get(|| async { asset("text/javascript; charset=utf-8", VIEWER_JS) }),
        )
        .route(
            "/ui/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }),
        )
}

/// The page's API: stream tokens and the catalogue's examples.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/design/{request_id}/stream-token",
            post(issue_stream_token),
        )
        .route("/api/v1/catalogue", get(list_catalogue))
}

/// The parts the offline planner makes, each with an example sentence it understands.
#[utoipa::path(get, path = "/api/v1/catalogue", tag = "design",
    responses((status = 200, body = Vec<shared::catalogue::Entry>)))]
pub async fn list_catalogue() -> Json<&'static [shared::catalogue::Entry]> {
    Json(shared::catalogue::CATALOGUE)
}

const INDEX_HTML: &str = include_str!("../page/index.html");
const APP_JS: &str = include_str!("../page/app.js");
const VIEWER_JS: &str = include_str!("../page/viewer.js");
const STYLE_CSS: &str = include_str!("../page/style.css");

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// A token that lets `GET /api/v1/design/{id}/events?stream_token=...` through the guard for
/// 60 seconds: one job's event stream, as the caller, nothing else. Redis keeps only its
/// hash, so every gateway replica accepts it.
#[utoipa::path(post, path = "/api/v1/design/{request_id}/stream-token", tag = "design",
    params(("request_id" = String, Path, description = "The job id")),
    responses(
        (status = 200, body = StreamToken),
        (status = 404, description = "No such job", body = shared::api::ErrorBody)))]
pub async fn issue_stream_token(
    State(state): State<AppState>,
    CurrentPrincipal(principal): CurrentPrincipal,
    OwnedDesign(record): OwnedDesign,
) -> Result<Response, Error> {
    // 244 random bits from the OS generator (two v4 UUIDs).
    let token = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
    let grant = StreamGrant {
        principal: principal.id.clone(),
        request_id: record.request_id,
    };
    let value = serde_json::to_string(&grant).map_err(|e| Error::Internal(e.into()))?;
    let mut conn = state.conn.clone();
    redis::cmd("SET")
        .arg(state.keys.stream_token(&token))
        .arg(value)
        .arg("EX")
        .arg(STREAM_TOKEN_TTL.as_secs())
        .query_async::<()>(&mut conn)
        .await
        .map_err(Error::RedisUnavailable)?;
    let body = StreamToken {
        events_url: format!(
            "/api/v1/design/{}/events?{STREAM_TOKEN_PARAM}={token}",
            record.request_id
        ),
        token,
        expires_in: STREAM_TOKEN_TTL.as_secs(),
    };
    Ok((
        StatusCode::OK,
        [(header::CACHE_CONTROL, "no-store")],
        Json(body),
    )
        .into_response())
}

/// The principal a stream token in `query` stands for, when it was issued for the job
/// `request_id` (whose events route the guard is in front of); `None` for another job, or an
/// unknown or expired token.
pub async fn principal_from_stream_token(
    state: &AppState,
    request_id: &str,
    query: Option<&str>,
) -> Result<Option<Principal>, redis::RedisError> {
    let Ok(job) = request_id.parse::<JobId>() else {
        return Ok(None);
    };
    let Some(token) = query.and_then(|q| {
        q.split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(name, _)| *name == STREAM_TOKEN_PARAM)
            .map(|(_, value)| value)
    }) else {
        return Ok(None);
    };
    if token.is_empty() || token.len() > 128 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let mut conn = state.conn.clone();
    let stored: Option<String> = redis::cmd("GET")
        .arg(state.keys.stream_token(token))
        .query_async(&mut conn)
        .await?;
    let grant = stored.and_then(|raw| serde_json::from_str::<StreamGrant>(&raw).ok());
    Ok(grant
        .filter(|grant| grant.request_id == job)
        .map(|grant| Principal {
            id: grant.principal,
            credential: Credential::Token,
        }))
}
