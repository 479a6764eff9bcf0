//! Extractors whose rejections use the JSON error body, and the typed inputs of the
//! protected routes: who calls ([`CurrentPrincipal`]), which of their designs
//! ([`OwnedDesign`]), and with which [`IdempotencyKey`].
//!
//! [`CurrentPrincipal`] and [`OwnedDesign`] extract only with the state of the protected
//! router ([`AppState`]); the public router has another state type
//! (`routes::PublicState`), so a handler that needs a caller does not compile there.

use axum::body::Bytes;
use axum::extract::{
    FromRequest, FromRequestParts, OptionalFromRequestParts, Path, Query, Request,
};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::{DeserializeOwned, IgnoredAny};
use shared::auth::Principal;
use shared::job::JobRecord;
use shared::job_id::JobId;

use crate::error::Error;
use crate::service;
use crate::state::AppState;

/// The caller, as the guard authenticated them. The guard runs in front of every protected
/// route; should a handler ever be reached without it, the answer is a 500 that says so,
/// never an anonymous request.
pub struct CurrentPrincipal(pub Principal);

impl FromRequestParts<AppState> for CurrentPrincipal {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(Self)
            .ok_or_else(|| {
                Error::Internal(anyhow::anyhow!(
                    "{} {} reached a handler that needs a principal without the guard: it \
                     belongs on the protected router",
                    parts.method,
                    parts.uri.path()
                ))
            })
    }
}

/// The design named by the route's `{request_id}`, loaded for its owner: a malformed id, an
/// unknown job and another principal's job are the same 404 (`service::load_owned`).
pub struct OwnedDesign(pub JobRecord);

impl FromRequestParts<AppState> for OwnedDesign {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let CurrentPrincipal(principal) =
            <CurrentPrincipal as FromRequestParts<AppState>>::from_request_parts(parts, state)
                .await?;
        let text = request_id_param(parts, state).await?;
        // A malformed id answers the same 404 as an unknown one, quoting what was sent.
        let request_id: JobId = text.parse().map_err(|_| Error::design_not_found(&text))?;
        service::load_owned(state, &principal, &request_id)
            .await
            .map(Self)
    }
}

/// The `{request_id}` segment of the matched route (the only or the first path parameter).
async fn request_id_param(parts: &mut Parts, state: &AppState) -> Result<String, Error> {
    let Path(params) =
        <Path<Vec<(String, String)>> as FromRequestParts<AppState>>::from_request_parts(
            parts, state,
        )
        .await
        .map_err(|rejection| Error::Internal(anyhow::anyhow!("path parameters: {rejection}")))?;
    params
        .into_iter()
        .find(|(name, _)| name == "request_id")
        .map(|(_, value)| value)
        .ok_or_else(|| {
            Error::Internal(anyhow::anyhow!(
                "OwnedDesign on {}, a route without {{request_id}}",
                parts.uri.path()
            ))
        })
}

/// Longest `Idempotency-Key` accepted.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// The `Idempotency-Key` header: 1 to [`MAX_IDEMPOTENCY_KEY_LEN`] visible ASCII characters,
/// trimmed. Take it as `Option<IdempotencyKey>`: absent is `None`, malformed a 422.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for IdempotencyKey {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        let Some(value) = parts.headers.get("idempotency-key") else {
            return Ok(None);
        };
        value
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|key| !key.is_empty() && key.len() <= MAX_IDEMPOTENCY_KEY_LEN)
            .map(|key| Some(Self(key.to_owned())))
            .ok_or_else(|| {
                Error::Unprocessable(format!(
                    "Idempotency-Key: 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters"
                ))
            })
    }
}

/// A JSON body: a missing JSON content type is 415, a body over `MAX_BODY_BYTES` 413,
/// anything that is not well-formed JSON (truncated included) 400, and well-formed JSON of
/// the wrong shape or types 422; all in our error format.
pub struct ApiJson<T>(pub T);

impl<T> FromRequest<AppState> for ApiJson<T>
where
    T: DeserializeOwned,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(is_json_content_type);
        if !is_json {
            return Err(Error::UnsupportedMediaType(
                "Expected a request with `Content-Type: application/json`.".to_owned(),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Error::PayloadTooLarge {
                    limit: state.settings.http.max_body_bytes,
                }
            } else {
                Error::BadRequest {
                    code: "bad_request",
                    message: format!("The body could not be read: {rejection}"),
                }
            }
        })?;
        if let Err(error) = serde_json::from_slice::<IgnoredAny>(&bytes) {
            return Err(Error::BadRequest {
                code: "malformed_json",
                message: format!("The body is not valid JSON: {error}"),
            });
        }
        serde_json::from_slice::<T>(&bytes)
            .map(Self)
            .map_err(|error| {
                Error::Unprocessable(format!("The body does not fit the schema: {error}"))
            })
    }
}

/// A query string: one that does not fit `T` is 400 `invalid_query` in our error format
/// (axum's own rejection is `text/plain`).
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| Self(value))
            .map_err(|rejection| Error::BadRequest {
                code: "invalid_query",
                message: rejection.body_text(),
            })
    }
}

/// `application/json` and `application/*+json`, parameters (`; charset=utf-8`) ignored.
fn is_json_content_type(value: &str) -> bool {
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

#[cfg(test)]
mod tests {
    use super::is_json_content_type;

    #[test]
    fn json_content_types() {
        assert!(is_json_content_type("application/json"));
        assert!(is_json_content_type("Application/JSON; charset=utf-8"));
        assert!(is_json_content_type("application/problem+json"));
        assert!(!is_json_content_type("text/plain"));
        assert!(!is_json_content_type("application/jsonx"));
    }
}
