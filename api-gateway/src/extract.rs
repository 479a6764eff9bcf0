//! Extractors whose rejections use the JSON error body.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::Error;
use crate::state::AppState;

/// `axum::Json`, with malformed JSON answered 400, wrong field types 422, an oversized
/// body 413 and a missing JSON content type 415, all in our error format.
pub struct ApiJson<T>(pub T);

impl<T> FromRequest<AppState> for ApiJson<T>
where
    T: DeserializeOwned,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let limit = state.settings.max_body_bytes;
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(match rejection {
                JsonRejection::JsonDataError(e) => Error::Unprocessable(e.body_text()),
                JsonRejection::JsonSyntaxError(e) => Error::BadRequest {
                    code: "malformed_json",
                    message: e.body_text(),
                },
                JsonRejection::MissingJsonContentType(e) => {
                    Error::UnsupportedMediaType(e.body_text())
                }
                other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    Error::PayloadTooLarge { limit }
                }
                other => Error::BadRequest {
                    code: "bad_request",
                    message: other.body_text(),
                },
            }),
        }
    }
}
