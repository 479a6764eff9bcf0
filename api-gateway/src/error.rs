//! The gateway's one error type: each variant is what the client sees, and one
//! `IntoResponse` turns it into the JSON error body `shared::api::ErrorBody`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use shared::api::FieldError;
use shared::job_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("This Idempotency-Key was used with another request body in the last 24 h.")]
    IdempotencyKeyReused,
    /// The job's state does not allow the operation (refine or cancel).
    #[error("{0}")]
    Conflict(String),
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    #[error("{0}")]
    MethodNotAllowed(String),
    /// A `Range` outside the file (answered with `Content-Range: bytes */{size}`).
    #[error("The range is outside the file of {size} bytes.")]
    RangeNotSatisfiable { size: u64 },
    #[error("The artifact store is unreachable: {0}")]
    ArtifactStoreUnavailable(#[source] shared::artifact_store::ArtifactStoreError),
    #[error("Redis is unreachable: {0}")]
    RedisUnavailable(#[source] redis::RedisError),
    #[error("{0}")]
    Unauthorized(shared::auth::AuthError),
    #[error("{0}")]
    Forbidden(String),
    #[error("Too many requests; retry in {retry_after} s.")]
    RateLimited { retry_after: u64 },
    #[error("You already have {cap} designs pending or running; wait for one to end.")]
    TooManyActiveJobs { cap: u32 },
    #[error("You have {cap} event streams open on this gateway already; close one first.")]
    TooManyStreams { cap: usize, retry_after: u64 },
    #[error("This gateway holds as many event streams as it may; try again shortly.")]
    StreamsExhausted { retry_after: u64 },
    #[error("This gateway holds as many connections as it may; try again shortly.")]
    ConnectionsExhausted,
    /// The caller's budget for this period is used up (at or over one of its limits).
    #[error(
        "Your budget for this period is used up (spent {:.4} USD and {:.1} FreeCAD seconds); it resets at {}.",
        refusal.spent.usd, refusal.spent.freecad_seconds, refusal.resets_at.to_rfc3339()
    )]
    BudgetExceeded { refusal: Box<BudgetRefusal> },
    #[error("The rate limiter cannot reach Redis: {0}")]
    RateLimiterUnavailable(#[source] redis::RedisError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl Error {
    pub fn design_not_found(request_id: &str) -> Self {
        Self::NotFound {
            code: "design_not_found",
            message: format!("There is no design with id '{}'.", echo(request_id)),
        }
    }

    /// Seconds to wait before retrying, for the errors that say so in `Retry-After`.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::RateLimited { retry_after }
            | Self::TooManyStreams { retry_after, .. }
            | Self::StreamsExhausted { retry_after } => Some(*retry_after),
            Self::ConnectionsExhausted => Some(CONNECTIONS_RETRY_AFTER_SECS),
            _ => None,
        }
    }

    /// The snake_case code clients branch on.
    pub fn code(&self) -> &'static str {
        self.status_and_code().1
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, code),
            Self::PayloadTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            Self::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "invalid_state"),
            Self::IdempotencyKeyReused => {
                (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused")
            }
            Self::NotFound { code, .. } => (StatusCode::NOT_FOUND, code),
            Self::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::RangeNotSatisfiable { .. } => {
                (StatusCode::RANGE_NOT_SATISFIABLE, "range_not_satisfiable")
            }
            Self::ArtifactStoreUnavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "artifact_store_unavailable",
            ),
            Self::RedisUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "redis_unavailable"),
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Self::TooManyActiveJobs { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "too_many_active_jobs")
            }
            Self::TooManyStreams { .. } => (StatusCode::TOO_MANY_REQUESTS, "too_many_streams"),
            Self::StreamsExhausted { .. } => (StatusCode::SERVICE_UNAVAILABLE, "streams_exhausted"),
            Self::ConnectionsExhausted => {
                (StatusCode::SERVICE_UNAVAILABLE, "connections_exhausted")
            }
            Self::BudgetExceeded { .. } => (StatusCode::PAYMENT_REQUIRED, "budget_exceeded"),
            Self::RateLimiterUnavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "rate_limiter_unavailable")
            }
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
        }
    }
}

/// `Retry-After` of a connection refused because the gateway holds `MAX_CONNECTIONS`.
pub const CONNECTIONS_RETRY_AFTER_SECS: u64 = 1;

/// Longest piece of client input (an id, a format name) quoted back in an error message.
pub const MAX_ECHO_CHARS: usize = 36;

/// Client input as an error message may quote it: at most [`MAX_ECHO_CHARS`] characters, so
/// that a huge id is never sent back (or logged) whole.
pub fn echo(input: &str) -> String {
    match input.char_indices().nth(MAX_ECHO_CHARS) {
        None => input.to_owned(),
        Some((cut, _)) => format!("{}…", &input[..cut]),
    }
}

impl From<FieldError> for Error {
    fn from(error: FieldError) -> Self {
        Self::Unprocessable(error.to_string())
    }
}

impl From<StoreError> for Error {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Redis(error) => Self::RedisUnavailable(error),
            StoreError::TooManyActiveJobs { cap, .. } => Self::TooManyActiveJobs { cap },
            StoreError::IdempotencyKeyReused => Self::IdempotencyKeyReused,
            other => Self::Internal(other.into()),
        }
    }
}

/// The amounts of a `budget_exceeded` answer, as extra fields of its error body.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetRefusal {
    pub spent: shared::budget::Spend,
    pub budget: shared::budget::BudgetLimits,
    pub resets_at: chrono::DateTime<chrono::Utc>,
}

/// The error as it travels from a handler to `render_errors`, which knows the request id.
#[derive(Debug, Clone)]
pub struct ErrorReport {
    pub code: &'static str,
    pub message: String,
    /// Extra fields of a `budget_exceeded` body.
    pub budget: Option<BudgetRefusal>,
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            // The cause is for the logs, not for the client.
            Self::Internal(cause) => {
                tracing::error!(error = ?cause, "internal error");
                "Internal error; the request id identifies it in the logs.".to_owned()
            }
            Self::RedisUnavailable(cause) => {
                tracing::warn!(error = %cause, "Redis is unavailable");
                shared::metrics::record_redis_error(shared::metrics::RedisComponent::Api);
                "The job store is unavailable; try again shortly.".to_owned()
            }
            Self::ArtifactStoreUnavailable(cause) => {
                tracing::warn!(error = %cause, "the artifact store is unavailable");
                "The artifact store is unavailable; try again shortly.".to_owned()
            }
            Self::RateLimiterUnavailable(cause) => {
                tracing::warn!(error = %cause, "the rate limiter cannot reach Redis");
                "The rate limiter is unavailable; try again shortly.".to_owned()
            }
            other => other.to_string(),
        };
        let mut response = status.into_response();
        if let Some(seconds) = self.retry_after() {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        if let Self::RangeNotSatisfiable { size } = self
            && let Ok(value) = axum::http::HeaderValue::from_str(&format!("bytes */{size}"))
        {
            response
                .headers_mut()
                .insert(axum::http::header::CONTENT_RANGE, value);
        }
        if let Self::Unauthorized(_) = self {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static(
                    "Bearer realm=\"freecad-ai-designer\", ApiKey header=\"X-API-Key\"",
                ),
            );
        }
        let budget = match self {
            Self::BudgetExceeded { refusal } => Some(*refusal),
            _ => None,
        };
        response.extensions_mut().insert(ErrorReport {
            code,
            message,
            budget,
        });
        response
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_ECHO_CHARS, echo};

    #[test]
    fn echo_quotes_at_most_36_characters_on_a_char_boundary() {
        let id = "0123456789abcdef0123456789abcdef0123";
        assert_eq!(echo(id), id, "a UUID is quoted whole");
        let long = "é".repeat(70_000);
        let quoted = echo(&long);
        assert_eq!(quoted.chars().count(), MAX_ECHO_CHARS + 1);
        assert!(quoted.ends_with('…'));
    }
}
