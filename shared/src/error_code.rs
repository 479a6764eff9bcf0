//! Why a job failed: the one list of job error codes.
//!
//! A code goes into the job record's `error_code`, the job's `error` and `completed` events and
//! its webhook, and decides the job's `design_requests_total` outcome. README.md ("Why a job
//! failed") lists the same codes with the same words as the doc line of each variant; a test
//! below keeps the two equal.
//!
//! These are not the HTTP API's error codes (`design_not_found`, `rate_limited`, ...): those
//! answer a request, these end a job.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A job's failure, as machines read it; the JSON form is the snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The offline planner found a number or a choice in the prompt it cannot place for sure.
    AmbiguousPrompt,
    /// The offline planner does not know the part, or a word of the prompt, in its catalogue.
    UnsupportedPrompt,
    /// The sizes asked for make no sound part: zero, negative, too large, or cuts that do not fit.
    InvalidDimensions,
    /// An offline refine could not use all of the feedback; the previous result is kept.
    UnsupportedFeedback,
    /// A model named by the job or settings is malformed or not offered (or unusable offline).
    InvalidModel,
    /// A model provider needs an API key and none is configured.
    LlmMissingKey,
    /// The model provider refused the API key (HTTP 401 or 403).
    LlmAuthFailed,
    /// The model provider still answered 429 (too many requests) after retries and any fallback.
    LlmRateLimited,
    /// The model provider was unreachable or failing (5xx, connection or stream errors) to the end.
    LlmUnavailable,
    /// The model provider rejected the request (another 4xx).
    LlmRequestRejected,
    /// The model did not answer in time, after the retries and any fallback model.
    LlmTimeout,
    /// The model's answer was unusable: unreadable, no code block, or not a plan or a review.
    LlmInvalidReply,
    /// The static check refused the generated script (a forbidden construct or invalid Python).
    ScriptRejected,
    /// The script raised in FreeCAD (with the last line of the traceback) or could not run.
    ExecutionFailed,
    /// FreeCAD did not finish the script within its time limit and was stopped.
    ExecutionTimeout,
    /// The script's FreeCAD process died without an answer (a signal, a crash).
    ExecutionCrashed,
    /// The script ran out of the memory its FreeCAD process may use.
    MemoryExceeded,
    /// The script ran but made no solid.
    NoGeometry,
    /// The result did not match the plan well enough within `max_iterations`.
    ValidationFailed,
    /// The whole job did not finish within `JOB_TIMEOUT_SECONDS`.
    Timeout,
    /// The worker hit a bug (a panic) while running the job.
    InternalError,
    /// Infrastructure failures (Redis, files) outlasted `JOB_MAX_ATTEMPTS` runs.
    RetriesExhausted,
    /// The client cancelled the job (`DELETE`).
    Cancelled,
    /// A code this version does not know, written by a newer worker.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    pub const ALL: [Self; 24] = [
        Self::AmbiguousPrompt,
        Self::UnsupportedPrompt,
        Self::InvalidDimensions,
        Self::UnsupportedFeedback,
        Self::InvalidModel,
        Self::LlmMissingKey,
        Self::LlmAuthFailed,
        Self::LlmRateLimited,
        Self::LlmUnavailable,
        Self::LlmRequestRejected,
        Self::LlmTimeout,
        Self::LlmInvalidReply,
        Self::ScriptRejected,
        Self::ExecutionFailed,
        Self::ExecutionTimeout,
        Self::ExecutionCrashed,
        Self::MemoryExceeded,
        Self::NoGeometry,
        Self::ValidationFailed,
        Self::Timeout,
        Self::InternalError,
        Self::RetriesExhausted,
        Self::Cancelled,
        Self::Unknown,
    ];

    /// The snake_case name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AmbiguousPrompt => "ambiguous_prompt",
            Self::UnsupportedPrompt => "unsupported_prompt",
            Self::InvalidDimensions => "invalid_dimensions",
            Self::UnsupportedFeedback => "unsupported_feedback",
            Self::InvalidModel => "invalid_model",
            Self::LlmMissingKey => "llm_missing_key",
            Self::LlmAuthFailed => "llm_auth_failed",
            Self::LlmRateLimited => "llm_rate_limited",
            Self::LlmUnavailable => "llm_unavailable",
            Self::LlmRequestRejected => "llm_request_rejected",
            Self::LlmTimeout => "llm_timeout",
            Self::LlmInvalidReply => "llm_invalid_reply",
            Self::ScriptRejected => "script_rejected",
            Self::ExecutionFailed => "execution_failed",
            Self::ExecutionTimeout => "execution_timeout",
            Self::ExecutionCrashed => "execution_crashed",
            Self::MemoryExceeded => "memory_exceeded",
            Self::NoGeometry => "no_geometry",
            Self::ValidationFailed => "validation_failed",
            Self::Timeout => "timeout",
            Self::InternalError => "internal_error",
            Self::RetriesExhausted => "retries_exhausted",
            Self::Cancelled => "cancelled",
            Self::Unknown => "unknown",
        }
    }

    /// A job that ran out of time somewhere (the whole job, a model or FreeCAD): counted as
    /// `timeout` in `design_requests_total`, not as `failure`.
    pub fn is_timeout(self) -> bool {
        matches!(
            self,
            Self::Timeout | Self::LlmTimeout | Self::ExecutionTimeout
        )
    }
}

/// Printed as in JSON (`execution_timeout`), so a message, a log line and a body spell it alike.
impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<ErrorCode> for String {
    fn from(code: ErrorCode) -> Self {
        code.as_str().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn the_json_name_is_as_str() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{code}\""));
            let back: ErrorCode = serde_json::from_str(&json).unwrap();
            assert_eq!(back, code);
        }
    }

    #[test]
    fn a_code_from_a_newer_worker_reads_as_unknown() {
        let code: ErrorCode = serde_json::from_str("\"model_on_fire\"").unwrap();
        assert_eq!(code, ErrorCode::Unknown);
        assert!(!code.is_timeout());
    }

    #[test]
    fn exactly_the_timeouts_are_timeouts() {
        let timeouts: Vec<_> = ErrorCode::ALL
            .into_iter()
            .filter(|code| code.is_timeout())
            .collect();
        assert_eq!(
            timeouts,
            [
                ErrorCode::LlmTimeout,
                ErrorCode::ExecutionTimeout,
                ErrorCode::Timeout
            ]
        );
    }

    /// Each variant of the enum above with its doc line, read from this file's source, in
    /// order: so `ALL` and README.md can be checked against what the enum really says.
    fn variants_with_doc_lines() -> Vec<(String, String)> {
        let source = include_str!("error_code.rs");
        let body = source
            .split_once("pub enum ErrorCode {")
            .and_then(|(_, rest)| rest.split_once("\n}"))
            .expect("the enum's body")
            .0;
        let mut variants = Vec::new();
        let mut doc = None;
        for line in body.lines().map(str::trim) {
            if let Some(text) = line.strip_prefix("///") {
                assert!(doc.is_none(), "more than one doc line before: {text}");
                doc = Some(text.trim().to_owned());
            } else if let Some(name) = line.strip_suffix(',') {
                let doc = doc
                    .take()
                    .unwrap_or_else(|| panic!("{name} has no doc line"));
                variants.push((name.to_owned(), doc));
            }
        }
        variants
    }

    #[test]
    fn all_lists_every_variant_in_order() {
        let names: Vec<String> = variants_with_doc_lines().into_iter().map(|v| v.0).collect();
        let listed: Vec<String> = ErrorCode::ALL.iter().map(|c| format!("{c:?}")).collect();
        assert_eq!(listed, names);
    }

    /// README.md's entries of the "Why a job failed" section: "- `code`: meaning", a meaning
    /// may run over several lines.
    fn readme_entries(readme: &str) -> BTreeMap<String, String> {
        let section = readme
            .split_once("### Why a job failed")
            .expect("README.md has a section \"Why a job failed\"")
            .1;
        let section = section.split("\n#").next().unwrap_or_default();
        let mut entries = BTreeMap::new();
        let mut current: Option<(String, String)> = None;
        for line in section.lines() {
            if let Some(entry) = line.strip_prefix("- `") {
                entries.extend(current.take());
                let (code, meaning) = entry
                    .split_once("`: ")
                    .unwrap_or_else(|| panic!("not \"- `code`: meaning\": {line}"));
                current = Some((code.to_owned(), meaning.trim().to_owned()));
            } else if let Some((_, meaning)) = current.as_mut() {
                if line.trim().is_empty() {
                    entries.extend(current.take());
                } else {
                    meaning.push(' ');
                    meaning.push_str(line.trim());
                }
            }
        }
        entries.extend(current);
        entries
    }

    #[test]
    fn readme_lists_every_code_with_the_words_of_its_doc_line() {
        let readme = include_str!("../../README.md");
        let mut listed = readme_entries(readme);
        for (variant, doc) in variants_with_doc_lines() {
            let code = ErrorCode::ALL
                .into_iter()
                .find(|code| format!("{code:?}") == variant)
                .expect("every variant is in ALL");
            let meaning = listed.remove(code.as_str());
            assert_eq!(
                meaning.as_deref(),
                Some(doc.as_str()),
                "README.md, \"Why a job failed\": `{code}` must read as its doc line"
            );
        }
        assert!(
            listed.is_empty(),
            "README.md lists codes that are not an ErrorCode: {:?}",
            listed.keys().collect::<Vec<_>>()
        );
    }

    #[test]
    fn the_readme_reader_sees_a_missing_or_extra_code() {
        let readme = "### Why a job failed\n\n- `timeout`: The whole job\n  ran long.\n\
                      - `made_up`: x\n\n## Next\n- `no`: y\n";
        let entries = readme_entries(readme);
        assert_eq!(entries["timeout"], "The whole job ran long.");
        assert_eq!(entries["made_up"], "x");
        assert_eq!(entries.len(), 2);
    }
}
