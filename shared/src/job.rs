//! What a design job is: its queue payload, its status and the record kept in Redis.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A job's state; the predecessor's values plus `executing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DesignStatus {
    Pending,
    Planning,
    Generating,
    Executing,
    Validating,
    Refining,
    Completed,
    Failed,
    Cancelled,
}

impl DesignStatus {
    /// A final state: the job will not change any more.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

/// A CAD file format the worker can export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    Step,
    Stl,
    Fcstd,
}

impl OutputFormat {
    pub const ALL: [OutputFormat; 3] = [Self::Step, Self::Stl, Self::Fcstd];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Step => "step",
            Self::Stl => "stl",
            Self::Fcstd => "fcstd",
        }
    }

    /// Parses the lower-case name used in URLs and JSON (`step`, `stl`, `fcstd`).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|format| format.as_str().eq_ignore_ascii_case(name))
    }

    /// The artifact's file name inside the job's artifact directory.
    pub fn file_name(self) -> &'static str {
        match self {
            Self::Step => "design.step",
            Self::Stl => "design.stl",
            Self::Fcstd => "design.FCStd",
        }
    }

    /// Where a job's artifact of this format lives: `{artifact_dir}/{request_id}/{file_name}`.
    pub fn artifact_path(
        self,
        artifact_dir: &std::path::Path,
        request_id: Uuid,
    ) -> std::path::PathBuf {
        artifact_dir
            .join(request_id.to_string())
            .join(self.file_name())
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Step => "application/step",
            Self::Stl => "model/stl",
            Self::Fcstd => "application/octet-stream",
        }
    }
}

/// The queue payload: everything a worker needs to run the job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DesignJob {
    pub request_id: Uuid,
    pub prompt: String,
    pub max_iterations: u32,
    pub enable_execution: bool,
    pub output_formats: Vec<OutputFormat>,
    /// `provider/model` override for every agent of this job.
    pub model: Option<String>,
    /// What the user asked to change when they refined a completed design.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback: Option<String>,
    /// The feedback of the refines before this one, oldest first: the design being refined
    /// is the prompt with each of them applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier_feedback: Vec<String>,
}

/// One exported file of a completed job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ArtifactInfo {
    pub format: OutputFormat,
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
    /// Where the gateway serves it.
    pub url: String,
}

/// The measured geometry of the job's result (all top-level shapes together).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Geometry {
    pub valid: bool,
    pub solids: u32,
    /// mm^3
    pub volume: f64,
    /// mm^2
    pub area: f64,
    /// [x, y, z] extents in mm
    pub bbox: [f64; 3],
    pub bbox_min: [f64; 3],
    pub bbox_max: [f64; 3],
}

/// Model usage of the job so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost_usd: f64,
}

/// The job record: one Redis hash per job (see `job_store`), one JSON value per field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub request_id: Uuid,
    /// Who submitted it; only they can see it.
    #[serde(default = "anonymous_principal")]
    pub principal: String,
    /// The apalis task id of the current run.
    pub task_id: String,
    pub status: DesignStatus,
    pub prompt: String,
    pub max_iterations: u32,
    pub enable_execution: bool,
    pub output_formats: Vec<OutputFormat>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub callback_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub current_iteration: u32,
    /// Runs of this job so far that ended in a transient failure and were retried.
    #[serde(default)]
    pub retries: u32,
    #[serde(default)]
    pub progress: f64,
    #[serde(default)]
    pub plan_summary: Option<String>,
    #[serde(default)]
    pub generated_script: Option<String>,
    #[serde(default)]
    pub execution_result: Option<serde_json::Value>,
    #[serde(default)]
    pub validation_score: Option<f64>,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub error_message: Option<String>,
    #[serde(default)]
    pub artifacts: Vec<ArtifactInfo>,
    #[serde(default)]
    pub geometry: Option<Geometry>,
    #[serde(default)]
    pub usage: Usage,
    /// The feedback of every refine of this design, oldest first.
    #[serde(default)]
    pub refinements: Vec<String>,
}

fn anonymous_principal() -> String {
    crate::auth::Principal::ANONYMOUS.to_owned()
}

impl JobRecord {
    /// The record of a job that `principal` has just submitted, with a new queue task id
    /// (a ULID, the id type apalis-redis expects).
    pub fn new_pending(job: &DesignJob, principal: &str, callback_url: Option<String>) -> Self {
        let now = Utc::now();
        Self {
            request_id: job.request_id,
            principal: principal.to_owned(),
            task_id: ulid::Ulid::generate().to_string(),
            status: DesignStatus::Pending,
            prompt: job.prompt.clone(),
            max_iterations: job.max_iterations,
            enable_execution: job.enable_execution,
            output_formats: job.output_formats.clone(),
            model: job.model.clone(),
            callback_url,
            created_at: now,
            updated_at: now,
            current_iteration: 0,
            retries: 0,
            progress: 0.0,
            plan_summary: None,
            generated_script: None,
            execution_result: None,
            validation_score: None,
            error_code: None,
            error_message: None,
            artifacts: Vec::new(),
            geometry: None,
            usage: Usage::default(),
            refinements: Vec::new(),
        }
    }

    pub fn artifact(&self, format: OutputFormat) -> Option<&ArtifactInfo> {
        self.artifacts.iter().find(|a| a.format == format)
    }
}

/// A partial update of a job record; only the fields that are `Some` are written.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct JobPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<DesignStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_iteration: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan_summary: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated_script: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_result: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_score: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifacts: Option<Vec<ArtifactInfo>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geometry: Option<Geometry>,
    /// The job's model usage so far (a total, not an increment).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

impl JobPatch {
    /// A status change with the progress that goes with it.
    pub fn status(status: DesignStatus, progress: f64) -> Self {
        Self {
            status: Some(status),
            progress: Some(progress),
            ..Self::default()
        }
    }

    /// The final failure of a job, with a machine-readable code and a message for people.
    pub fn failed(code: &str, message: impl Into<String>) -> Self {
        Self {
            status: Some(DesignStatus::Failed),
            progress: Some(1.0),
            error_code: Some(code.to_owned()),
            error_message: Some(message.into()),
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_format_names_round_trip() {
        for format in OutputFormat::ALL {
            assert_eq!(OutputFormat::parse(format.as_str()), Some(format));
            let json = serde_json::to_string(&format).unwrap();
            assert_eq!(json, format!("\"{}\"", format.as_str()));
        }
        assert_eq!(OutputFormat::parse("STEP"), Some(OutputFormat::Step));
        assert_eq!(OutputFormat::parse("obj"), None);
    }

    #[test]
    fn terminal_states() {
        assert!(DesignStatus::Completed.is_terminal());
        assert!(DesignStatus::Failed.is_terminal());
        assert!(DesignStatus::Cancelled.is_terminal());
        assert!(!DesignStatus::Executing.is_terminal());
        assert_eq!(
            serde_json::to_string(&DesignStatus::Executing).unwrap(),
            "\"executing\""
        );
    }

    #[test]
    fn a_patch_serialises_only_what_it_sets() {
        let patch = JobPatch::status(DesignStatus::Planning, 0.1);
        let value = serde_json::to_value(&patch).unwrap();
        let keys: Vec<_> = value.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, vec!["progress", "status"]);
    }
}
