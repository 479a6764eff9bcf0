//! One LLM layer for every provider, over reqwest.
//!
//! # Layout
//! - `model`: `provider/model` names and the providers, re-exported from `shared::model`
//!   (the gateway checks them too).
//! - [`client`]: [`LlmClient`]: keys and base URLs from the settings, one attempt (complete or
//!   streaming), retries, metrics, usage and cost.
//! - `openai`, `anthropic`, `gemini`: each vendor's request body, reply and stream events.
//! - [`sse`]: the Server-Sent Events decoder the streams share.
//! - [`think`]: `<think>...</think>` reasoning kept apart from the answer.
//! - [`retry`]: backoff with jitter, `Retry-After`.
//! - [`cost`]: the price table (`worker/data/prices.toml`).

mod anthropic;
pub mod client;
pub mod cost;
mod gemini;
pub mod in_flight;
mod openai;
pub mod retry;
pub mod sse;
pub mod think;

use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::Value;
use shared::error_code::ErrorCode;

pub use client::LlmClient;
pub use shared::model::{ModelName, Provider};

/// `provider/model` names, kept at their old path for the modules of this layer.
pub mod model {
    pub use shared::model::{ModelName, ModelNameError, Provider};
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

impl Message {
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
        }
    }
}

/// One request, in terms every vendor can express.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmRequest {
    pub system: String,
    pub messages: Vec<Message>,
    pub temperature: f64,
    pub max_tokens: u32,
}

/// A model's answer with what it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The model that answered (the fallback, when the primary gave up).
    pub model: ModelName,
    /// The answer without any `<think>` reasoning.
    pub text: String,
    /// Reasoning: `<think>` text, DeepSeek's `reasoning_content`, Anthropic and Gemini
    /// thinking blocks.
    pub reasoning: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// From the price table; 0 for a model it does not list.
    pub cost_usd: f64,
}

/// Receives streamed text as it arrives, in order.
pub trait ChunkSink: Send + Sync {
    fn chunk(&self, text: String, reasoning: bool) -> BoxFuture<'_, ()>;
}

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("{model} needs {variable}, which is not set")]
    MissingKey {
        model: String,
        variable: &'static str,
    },
    #[error("{model} answered HTTP {status}: {message}{}", hint(*status, variable))]
    Status {
        model: String,
        status: u16,
        message: String,
        retry_after: Option<Duration>,
        variable: Option<&'static str>,
    },
    #[error("{model} did not answer within {after:?}")]
    Timeout { model: String, after: Duration },
    #[error("cannot reach {model}: {message}")]
    Connection { model: String, message: String },
    #[error("{model} sent a reply that cannot be read: {message}")]
    InvalidReply { model: String, message: String },
    #[error("{model} reported an error in its stream ({kind}): {message}")]
    Stream {
        model: String,
        kind: String,
        message: String,
    },
}

fn hint(status: u16, variable: &Option<&'static str>) -> String {
    match (status, variable) {
        (401 | 403, Some(variable)) => format!(" (check {variable})"),
        _ => String::new(),
    }
}

/// Mid-stream vendor errors that mean "busy or broken right now", worth another try.
const RETRYABLE_STREAM_ERRORS: [&str; 7] = [
    "overloaded_error",
    "api_error",
    "rate_limit_error",
    "server_error",
    "UNAVAILABLE",
    "INTERNAL",
    "RESOURCE_EXHAUSTED",
];

impl LlmError {
    /// 429, 5xx, timeouts, connection errors and overload reports are worth another try;
    /// other 4xx and unreadable replies are not.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Status { status, .. } => *status == 429 || *status == 408 || *status >= 500,
            Self::Timeout { .. } | Self::Connection { .. } => true,
            Self::Stream { kind, .. } => RETRYABLE_STREAM_ERRORS.contains(&kind.as_str()),
            Self::MissingKey { .. } | Self::InvalidReply { .. } => false,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The job's `error_code` when this error ends a job.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::MissingKey { .. } => ErrorCode::LlmMissingKey,
            Self::Status {
                status: 401 | 403, ..
            } => ErrorCode::LlmAuthFailed,
            Self::Status { status: 429, .. } => ErrorCode::LlmRateLimited,
            Self::Status { status, .. } if *status >= 500 => ErrorCode::LlmUnavailable,
            Self::Status { .. } => ErrorCode::LlmRequestRejected,
            Self::Timeout { .. } => ErrorCode::LlmTimeout,
            Self::Connection { .. } | Self::Stream { .. } => ErrorCode::LlmUnavailable,
            Self::InvalidReply { .. } => ErrorCode::LlmInvalidReply,
        }
    }

    /// The `status` label of `llm_calls_total`.
    pub fn metric_status(&self) -> &'static str {
        match self {
            Self::MissingKey { .. } => "missing_key",
            Self::Status { status: 429, .. } => "rate_limited",
            Self::Status { status, .. } if *status >= 500 => "server_error",
            Self::Status { .. } => "client_error",
            Self::Timeout { .. } => "timeout",
            Self::Connection { .. } => "connection_error",
            Self::InvalidReply { .. } => "invalid_reply",
            Self::Stream { .. } => "stream_error",
        }
    }
}

/// Token counts a vendor reported; later reports win over earlier ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct UsageUpdate {
    pub prompt: Option<u64>,
    pub completion: Option<u64>,
}

impl UsageUpdate {
    fn merge(&mut self, later: UsageUpdate) {
        self.prompt = later.prompt.or(self.prompt);
        self.completion = later.completion.or(self.completion);
    }
}

/// A whole reply as a vendor module reads it, before `<think>` splitting and pricing.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Reply {
    pub text: String,
    pub reasoning: String,
    pub usage: UsageUpdate,
}

/// What one stream event carries.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StreamItem {
    Text(String),
    Reasoning(String),
    Usage(UsageUpdate),
    Done,
}

/// A vendor module's complaint about what it was given.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum WireError {
    /// Not the shape the vendor documents.
    Shape(String),
    /// The vendor reported an error (in a stream).
    Vendor { kind: String, message: String },
}

/// The human part of a vendor's error body: `error.message` in all three formats.
pub(crate) fn error_message(body: &Value) -> String {
    body["error"]["message"]
        .as_str()
        .or_else(|| body["error"].as_str())
        .or_else(|| body["message"].as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| truncate(&body.to_string()))
}

/// An error body as text: its message if it is JSON, else its first characters.
pub(crate) fn error_text(body: &str) -> String {
    match serde_json::from_str::<Value>(body) {
        Ok(value) => error_message(&value),
        Err(_) if body.trim().is_empty() => "(empty body)".to_owned(),
        Err(_) => truncate(body.trim()),
    }
}

fn truncate(text: &str) -> String {
    const LIMIT: usize = 300;
    match text.char_indices().nth(LIMIT) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_owned(),
    }
}
