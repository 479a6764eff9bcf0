//! The HTTP calls, and the one error type whose variants are the exit codes.

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::config::Config;

/// What went wrong, as the user and scripts see it: a one-line message and an exit code.
#[derive(Debug)]
pub enum CliError {
    /// The design failed or was cancelled, or the service refused the request (exit 1).
    Refused(String),
    /// The command line is wrong (exit 2).
    Usage(String),
    /// The service cannot be reached, refuses the key, or has no such design (exit 3).
    Unreachable(String),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Refused(_) => 1,
            Self::Usage(_) => 2,
            Self::Unreachable(_) => 3,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Self::Refused(m) | Self::Usage(m) | Self::Unreachable(m) => m,
        }
    }
}

pub type CliResult<T> = Result<T, CliError>;

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    config: Config,
}

impl Client {
    pub fn new(config: Config) -> Self {
        Self {
            http: reqwest::Client::new(),
            config,
        }
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let builder = self
            .http
            .request(method, format!("{}{path}", self.config.url));
        match &self.config.api_key {
            Some(key) => builder.header("x-api-key", key),
            None => builder,
        }
    }

    /// Sends the request; any answer but a 2xx becomes the error the user sees.
    pub async fn send(&self, builder: RequestBuilder) -> CliResult<Response> {
        let response = builder
            .send()
            .await
            .map_err(|e| self.connection_error(&e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(http_error(response).await)
    }

    pub async fn json<T: DeserializeOwned>(&self, builder: RequestBuilder) -> CliResult<T> {
        let response = self.send(builder).await?;
        response.json::<T>().await.map_err(|e| {
            CliError::Unreachable(format!("the service answered something unexpected: {e}"))
        })
    }

    pub fn connection_error(&self, error: &reqwest::Error) -> CliError {
        let reason = std::error::Error::source(error)
            .map(ToString::to_string)
            .unwrap_or_else(|| error.to_string());
        CliError::Unreachable(format!(
            "cannot reach the service at {} ({reason}); is it running? (set --url or DESIGNER_URL)",
            self.config.url
        ))
    }
}

/// One line per status the user can act on; the service's own message otherwise.
pub async fn http_error(response: Response) -> CliError {
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or("no details")
        .to_owned();
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => CliError::Unreachable(format!(
            "the service refused the API key ({message}); set --api-key or DESIGNER_API_KEY"
        )),
        StatusCode::NOT_FOUND => CliError::Unreachable(format!("not found: {message}")),
        StatusCode::TOO_MANY_REQUESTS => CliError::Refused(format!(
            "rate limited: retry in {} s ({message})",
            retry_after.as_deref().unwrap_or("a few")
        )),
        StatusCode::SERVICE_UNAVAILABLE => CliError::Unreachable(format!(
            "the service is unavailable for now ({message}); try again shortly"
        )),
        status if status.is_server_error() => {
            CliError::Unreachable(format!("the service failed ({status}): {message}"))
        }
        status => CliError::Refused(format!("refused ({}): {message}", status.as_u16())),
    }
}
