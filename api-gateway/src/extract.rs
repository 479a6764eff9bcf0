//! Extractors whose rejections use the JSON error body.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::{DeserializeOwned, IgnoredAny};

use crate::error::Error;
use crate::state::AppState;

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
