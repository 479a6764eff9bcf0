//! The HTTP API's request and response bodies (see the README's walk-through and ARCHITECTURE.md), shared with clients.

use crate::job_id::JobId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::events::EventType;
use crate::job::{
    ArtifactInfo, DesignStatus, FeedbackRating, Geometry, JobRecord, OutputFormat, Priority, Usage,
    UserFeedback,
};
use crate::model::ModelName;

pub const PROMPT_MAX_CHARS: usize = 5000;
pub const MAX_ITERATIONS_RANGE: std::ops::RangeInclusive<u32> = 1..=10;
const DEFAULT_MAX_ITERATIONS: u32 = 5;

/// Body of `POST /api/v1/design`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DesignCreateRequest {
    /// What to design, in plain English (1 to 5000 characters).
    pub prompt: String,
    /// Generator/validator rounds at most (1 to 10).
    #[serde(default = "default_max_iterations")]
    pub max_iterations: u32,
    /// `false` stops after the FreeCAD script is generated.
    #[serde(default = "default_true")]
    pub enable_execution: bool,
    /// Formats to make: `step`, `stl`, `fcstd`, `glb`, `obj`, `ply`, `3mf`, `png`; by default
    /// `step`, `stl`, `fcstd` and the `png` thumbnail (the others can be converted later).
    #[serde(default = "default_output_formats")]
    pub output_formats: Vec<OutputFormat>,
    /// `provider/model` for every agent of this job, e.g. `builtin/offline`.
    #[serde(default)]
    pub model: Option<String>,
    /// Called when the job ends (stored; delivery comes with webhooks).
    #[serde(default)]
    pub callback_url: Option<String>,
    /// Use the result cache for a model-written design: an identical earlier request (prompt,
    /// models, parameters) answers it, and its result is kept for the next one. Offline
    /// designs are always cached (their plan is deterministic); default false.
    #[serde(default)]
    pub cache: bool,
    /// `high`, `normal` (default) or `low`: the order of this principal's own jobs; other
    /// principals' jobs are served in turn whatever their priorities.
    #[serde(default, skip_serializing_if = "Priority::is_normal")]
    pub priority: Priority,
}

fn default_max_iterations() -> u32 {
    DEFAULT_MAX_ITERATIONS
}

fn default_true() -> bool {
    true
}

fn default_output_formats() -> Vec<OutputFormat> {
    OutputFormat::DEFAULT.to_vec()
}

/// One field that failed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// A design request once parsed: every field has its type and is within its range, so the
/// code that records and queues the job never checks anything again. Only
/// [`DesignCreateRequest::parse`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDesign {
    /// Trimmed, 1 to [`PROMPT_MAX_CHARS`] characters.
    pub prompt: String,
    /// Within [`MAX_ITERATIONS_RANGE`].
    pub max_iterations: u32,
    pub enable_execution: bool,
    /// At least one, each once, in the order asked for.
    pub output_formats: Vec<OutputFormat>,
    /// A well-formed `provider/model` of a known provider (whether this service offers it is
    /// the gateway's question: it depends on the operator's settings).
    pub model: Option<ModelName>,
    /// An `http://` or `https://` URL (where it may point is the gateway's question too).
    pub callback_url: Option<String>,
    /// The result cache was asked for (it matters for model-written designs only).
    pub cache: bool,
    pub priority: Priority,
}

impl DesignCreateRequest {
    /// Parses the body into a [`NewDesign`]: trims the prompt, removes duplicate formats,
    /// checks the ranges the README documents and parses the model name (an unknown provider
    /// is refused here). The error names the first field at fault.
    pub fn parse(self) -> Result<NewDesign, FieldError> {
        let prompt = self.prompt.trim().to_owned();
        let chars = prompt.chars().count();
        if chars == 0 {
            return Err(FieldError {
                field: "prompt",
                message: "must not be empty".to_owned(),
            });
        }
        if chars > PROMPT_MAX_CHARS {
            return Err(FieldError {
                field: "prompt",
                message: format!("has {chars} characters; at most {PROMPT_MAX_CHARS} are allowed"),
            });
        }
        if !MAX_ITERATIONS_RANGE.contains(&self.max_iterations) {
            return Err(FieldError {
                field: "max_iterations",
                message: format!(
                    "is {}; it must be from {} to {}",
                    self.max_iterations,
                    MAX_ITERATIONS_RANGE.start(),
                    MAX_ITERATIONS_RANGE.end()
                ),
            });
        }
        let mut output_formats = Vec::with_capacity(self.output_formats.len());
        for format in self.output_formats {
            if !output_formats.contains(&format) {
                output_formats.push(format);
            }
        }
        if output_formats.is_empty() {
            return Err(FieldError {
                field: "output_formats",
                message: format!("must name at least one of {}", OutputFormat::names()),
            });
        }
        let model = match self.model.as_deref() {
            None => None,
            Some(name) => Some(ModelName::parse(name).map_err(|error| FieldError {
                field: "model",
                message: error.to_string(),
            })?),
        };
        if let Some(url) = &self.callback_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(FieldError {
                field: "callback_url",
                message: "must be an http:// or https:// URL".to_owned(),
            });
        }
        Ok(NewDesign {
            prompt,
            max_iterations: self.max_iterations,
            enable_execution: self.enable_execution,
            output_formats,
            model,
            callback_url: self.callback_url,
            cache: self.cache,
            priority: self.priority,
        })
    }
}

impl From<NewDesign> for DesignCreateRequest {
    /// The request in its canonical form (defaults written out, the model name as parsed): two
    /// bodies that mean the same design give the same one.
    fn from(design: NewDesign) -> Self {
        Self {
            prompt: design.prompt,
            max_iterations: design.max_iterations,
            enable_execution: design.enable_execution,
            output_formats: design.output_formats,
            model: design.model.map(|model| model.to_string()),
            callback_url: design.callback_url,
            cache: design.cache,
            priority: design.priority,
        }
    }
}

pub const FEEDBACK_MAX_CHARS: usize = 2000;

/// Body of `POST /api/v1/design/{request_id}/refine`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RefineRequest {
    /// What to change about the completed design (1 to 2000 characters).
    pub feedback: String,
}

impl RefineRequest {
    /// Trims the feedback and checks its length.
    pub fn validate(mut self) -> Result<Self, FieldError> {
        self.feedback = self.feedback.trim().to_owned();
        let chars = self.feedback.chars().count();
        if chars == 0 || chars > FEEDBACK_MAX_CHARS {
            return Err(FieldError {
                field: "feedback",
                message: format!("has {chars} characters; it must have 1 to {FEEDBACK_MAX_CHARS}"),
            });
        }
        Ok(self)
    }
}

pub const FEEDBACK_COMMENT_MAX_CHARS: usize = 2000;

/// Body of `POST /api/v1/design/{request_id}/feedback`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FeedbackRequest {
    /// `thumbs_up`, `thumbs_down`, `accepted` or `rejected`.
    pub rating: FeedbackRating,
    /// Optional words about it (up to 2000 characters).
    #[serde(default)]
    pub comment: Option<String>,
}

impl FeedbackRequest {
    /// Trims the comment (an empty one is none) and checks its length.
    pub fn validate(mut self) -> Result<Self, FieldError> {
        self.comment = self
            .comment
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty());
        if let Some(comment) = &self.comment {
            let chars = comment.chars().count();
            if chars > FEEDBACK_COMMENT_MAX_CHARS {
                return Err(FieldError {
                    field: "comment",
                    message: format!(
                        "has {chars} characters; at most {FEEDBACK_COMMENT_MAX_CHARS} are allowed"
                    ),
                });
            }
        }
        Ok(self)
    }
}

/// Most designs one page of `GET /api/v1/designs` holds.
pub const LIST_LIMIT_MAX: usize = 100;
/// Designs per page when `limit` is not given.
pub const LIST_LIMIT_DEFAULT: usize = 20;

/// One design in the answer of `GET /api/v1/designs`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DesignSummary {
    pub request_id: JobId,
    pub status: DesignStatus,
    pub prompt: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// 0..1
    pub progress: f64,
    pub error_code: Option<String>,
    pub feedback: Option<UserFeedback>,
}

impl From<JobRecord> for DesignSummary {
    fn from(record: JobRecord) -> Self {
        Self {
            request_id: record.request_id,
            status: record.status,
            prompt: record.prompt,
            created_at: record.created_at,
            updated_at: record.updated_at,
            progress: record.progress,
            error_code: record.error_code.map(String::from),
            feedback: record.user_feedback,
        }
    }
}

/// The answer of `GET /api/v1/designs`: newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DesignList {
    pub designs: Vec<DesignSummary>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Links to a job's resources.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DesignLinks {
    #[serde(rename = "self")]
    pub self_: String,
    pub events: String,
    pub websocket: String,
}

impl DesignLinks {
    pub fn for_job(request_id: JobId) -> Self {
        Self {
            self_: format!("/api/v1/design/{request_id}"),
            events: format!("/api/v1/design/{request_id}/events"),
            websocket: format!("/ws/{request_id}"),
        }
    }
}

/// The `202 Accepted` answer to a new design.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DesignResponse {
    pub request_id: JobId,
    pub status: DesignStatus,
    pub message: String,
    pub created_at: DateTime<Utc>,
    pub links: DesignLinks,
}

/// A job's state, as `GET /api/v1/design/{request_id}` answers it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DesignStatusResponse {
    pub request_id: JobId,
    pub status: DesignStatus,
    pub prompt: String,
    pub current_iteration: u32,
    pub max_iterations: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub plan_summary: Option<String>,
    pub generated_script: Option<String>,
    pub execution_result: Option<serde_json::Value>,
    /// 0..1
    pub validation_score: Option<f64>,
    pub error_message: Option<String>,
    /// Machine-readable reason of a failure, e.g. `unsupported_prompt`.
    pub error_code: Option<String>,
    /// 0..1
    pub progress: f64,
    pub artifacts: Vec<ArtifactInfo>,
    pub geometry: Option<Geometry>,
    pub usage: Usage,
    /// The user's latest verdict (`POST .../feedback`).
    #[serde(default)]
    pub feedback: Option<UserFeedback>,
    /// Completed from the result cache (no FreeCAD run: its files are copies of an identical
    /// plan's, with the same SHA-256s).
    #[serde(default)]
    pub cached: bool,
}

impl From<JobRecord> for DesignStatusResponse {
    fn from(record: JobRecord) -> Self {
        Self {
            request_id: record.request_id,
            status: record.status,
            prompt: record.prompt,
            current_iteration: record.current_iteration,
            max_iterations: record.max_iterations,
            created_at: record.created_at,
            updated_at: record.updated_at,
            plan_summary: record.plan_summary,
            generated_script: record.generated_script,
            execution_result: record.execution_result,
            validation_score: record.validation_score,
            error_message: record.error_message,
            error_code: record.error_code.map(String::from),
            progress: record.progress,
            artifacts: record.artifacts,
            geometry: record.geometry,
            usage: record.usage,
            feedback: record.user_feedback,
            cached: record.cached,
        }
    }
}

/// One format's entry in the answer of `GET /api/v1/design/{request_id}/export`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExportResult {
    pub success: bool,
    pub format: OutputFormat,
    pub file_size_bytes: Option<u64>,
    pub url: Option<String>,
    pub error: Option<String>,
}

/// The `202 Accepted` answer of `export` while the formats a completed design lacks are
/// made from its stored FCStd; ask `links.export` again (the `Location`) until it answers 200.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExportPending {
    pub request_id: JobId,
    /// Always `converting`.
    pub status: String,
    /// The formats being made.
    pub formats: Vec<OutputFormat>,
    pub message: String,
    pub links: ExportLinks,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExportLinks {
    /// This export again: 202 while the conversion runs, then 200 with the files.
    pub export: String,
    /// The design's status.
    pub design: String,
}

/// Short-lived credentials for one job's event stream, for clients that cannot set headers
/// (a browser's `EventSource`): `GET {events_url}` works for `expires_in` seconds.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StreamToken {
    pub token: String,
    pub expires_in: u64,
    /// The job's events URL with the token in its query string.
    pub events_url: String,
}

/// The body of every error answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// snake_case, stable: clients branch on it.
    pub code: String,
    pub message: String,
    /// The id of the HTTP request (the `x-request-id` header), for support.
    pub request_id: Option<String>,
    /// `budget_exceeded` only: what the caller spent in the current period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spent: Option<crate::budget::Spend>,
    /// `budget_exceeded` only: the caller's budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<crate::budget::BudgetLimits>,
    /// `budget_exceeded` only: when the period ends and the spend starts again from 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resets_at: Option<DateTime<Utc>>,
}

/// A client's message on the `GET /ws` session, tagged by `type`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SessionRequest {
    /// Submits a design (the fields of `POST /api/v1/design`) and streams it back as
    /// [`SessionReply::StreamChunk`]s.
    StreamDesign(DesignCreateRequest),
    /// Relays an existing job's events as they are (`ProgressEvent` JSON).
    Subscribe { request_id: String },
}

/// The gateway's own messages on the `GET /ws` session, tagged by `type`. The events a
/// `subscribe` relays are sent besides these as `ProgressEvent` JSON, whose `type` is the
/// event's (`status`, ..., `completed`); [`SessionMessage`] reads both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SessionReply {
    /// A `stream_design` was accepted as this job.
    Ack {
        request_id: JobId,
        status: DesignStatus,
    },
    /// One event of a `stream_design` job, as a line of text.
    StreamChunk {
        request_id: JobId,
        seq: u64,
        event_type: EventType,
        content: String,
    },
    /// The job's stream ended; `status` is its final one (`null` if the stream ended without
    /// the terminal event).
    StreamDone {
        request_id: JobId,
        status: Option<DesignStatus>,
    },
    /// A message refused or a request that failed; `code` as in the HTTP error body.
    Error {
        code: String,
        message: String,
        /// Seconds to wait, when rate limited.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after: Option<u64>,
    },
}

/// Any message a client reads on the `GET /ws` session.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum SessionMessage {
    Reply(SessionReply),
    /// A relayed event (tried second: an event of type `error` lacks the reply's `code`).
    Event(crate::events::ProgressEvent),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: &str) -> DesignCreateRequest {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn defaults_fill_the_optional_fields() {
        let r = request(r#"{"prompt":"  a box 10x10x10  "}"#)
            .parse()
            .unwrap();
        assert_eq!(r.prompt, "a box 10x10x10");
        assert_eq!(r.max_iterations, 5);
        assert!(r.enable_execution);
        assert_eq!(r.output_formats, OutputFormat::DEFAULT.to_vec());
    }

    #[test]
    fn out_of_range_fields_are_named() {
        for (json, field) in [
            (r#"{"prompt":"   "}"#, "prompt"),
            (r#"{"prompt":"a","max_iterations":0}"#, "max_iterations"),
            (r#"{"prompt":"a","max_iterations":11}"#, "max_iterations"),
            (r#"{"prompt":"a","output_formats":[]}"#, "output_formats"),
            (r#"{"prompt":"a","model":"gpt-4o"}"#, "model"),
            (r#"{"prompt":"a","model":"foo/bar"}"#, "model"),
            (r#"{"prompt":"a","callback_url":"ftp://x"}"#, "callback_url"),
        ] {
            assert_eq!(request(json).parse().unwrap_err().field, field, "{json}");
        }
        let long = format!(r#"{{"prompt":"{}"}}"#, "x".repeat(PROMPT_MAX_CHARS + 1));
        assert_eq!(request(&long).parse().unwrap_err().field, "prompt");
        let longest = format!(r#"{{"prompt":"{}"}}"#, "é".repeat(PROMPT_MAX_CHARS));
        assert!(request(&longest).parse().is_ok(), "characters, not bytes");
    }

    #[test]
    fn duplicate_formats_are_folded() {
        let r = request(r#"{"prompt":"a","output_formats":["stl","stl","step"]}"#)
            .parse()
            .unwrap();
        assert_eq!(
            r.output_formats,
            vec![OutputFormat::Stl, OutputFormat::Step]
        );
    }

    #[test]
    fn session_messages_keep_their_wire_format() {
        let request: SessionRequest =
            serde_json::from_str(r#"{"type":"stream_design","prompt":"a box 1x1x1"}"#).unwrap();
        assert!(matches!(request, SessionRequest::StreamDesign(r) if r.prompt == "a box 1x1x1"));
        let id = crate::job_id::JobId::from(uuid::Uuid::nil());
        let done = SessionReply::StreamDone {
            request_id: id,
            status: None,
        };
        assert_eq!(
            serde_json::to_value(&done).unwrap(),
            serde_json::json!({ "type": "stream_done", "request_id": id, "status": null })
        );
        let refused = SessionReply::Error {
            code: "invalid_message".to_owned(),
            message: "no".to_owned(),
            retry_after: None,
        };
        assert_eq!(
            serde_json::to_value(&refused).unwrap(),
            serde_json::json!({ "type": "error", "code": "invalid_message", "message": "no" })
        );
        let event = serde_json::json!({ "request_id": id, "seq": 3, "type": "error",
            "timestamp": "2026-01-01T00:00:00Z", "data": { "code": "x", "message": "y" } });
        assert!(matches!(
            serde_json::from_value::<SessionMessage>(event).unwrap(),
            SessionMessage::Event(event) if event.seq == 3
        ));
        let reply: SessionMessage =
            serde_json::from_value(serde_json::to_value(&refused).unwrap()).unwrap();
        assert_eq!(reply, SessionMessage::Reply(refused));
    }
}

/// `GET /api/v1/batches/{batch_id}`, and the body of the batch's one callback when it ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BatchStatusResponse {
    pub batch_id: JobId,
    /// How many items were created.
    pub total: usize,
    /// Items by status (`expired` for an item whose record is gone).
    pub counts: std::collections::BTreeMap<String, usize>,
    /// The created items' request ids, in request order.
    pub items: Vec<String>,
    /// Every item has ended.
    pub ended: bool,
}

impl BatchStatusResponse {
    /// The summary of `batch` (as the store read it).
    pub fn of(batch_id: JobId, batch: crate::job_store::BatchState) -> Self {
        let mut counts = std::collections::BTreeMap::new();
        let mut ended = true;
        for status in &batch.statuses {
            let name = status.map_or("expired", |s| s.as_str());
            ended &= status.is_none_or(|s| s.is_terminal());
            *counts.entry(name.to_owned()).or_insert(0) += 1;
        }
        Self {
            batch_id,
            total: batch.request_ids.len(),
            counts,
            items: batch.request_ids,
            ended,
        }
    }
}
