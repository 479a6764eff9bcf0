//! Exchanging an API key for a short-lived JWT.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use shared::auth::Credential;

use crate::error::Error;
use crate::extract::CurrentPrincipal;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/auth/token", post(issue_token))
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: u64,
}

/// A JWT for the principal whose API key authenticated this request (`X-API-Key`).
#[utoipa::path(post, path = "/api/v1/auth/token", tag = "auth",
    responses(
        (status = 200, body = TokenResponse),
        (status = 400, description = "Auth is off, no signing key, or not an API key", body = shared::api::ErrorBody),
        (status = 401, description = "Missing or bad credentials", body = shared::api::ErrorBody)))]
pub async fn issue_token(
    State(state): State<AppState>,
    CurrentPrincipal(principal): CurrentPrincipal,
) -> Result<Json<TokenResponse>, Error> {
    let refuse = |code, message: &str| Error::BadRequest {
        code,
        message: message.to_owned(),
    };
    if !state.auth.enabled() {
        return Err(refuse(
            "auth_disabled",
            "Authentication is off (AUTH_ENABLED=false): no token is needed.",
        ));
    }
    if principal.credential != Credential::ApiKey {
        return Err(refuse(
            "api_key_required",
            "Tokens are issued for an API key (X-API-Key), not for another token.",
        ));
    }
    let tokens = state
        .auth
        .tokens()
        .filter(|tokens| tokens.can_issue())
        .ok_or_else(|| {
            refuse(
                "token_issuing_disabled",
                "This deployment has no JWT signing key.",
            )
        })?;
    let access_token = tokens
        .issue(&principal.id)
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("signing a token failed")))?;
    Ok(Json(TokenResponse {
        access_token,
        token_type: "bearer".to_owned(),
        expires_in: tokens.lifetime().as_secs(),
    }))
}
