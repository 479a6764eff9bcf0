//! What a design job is: its queue payload, its status and the record kept in Redis.

use crate::job_id::JobId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error_code::ErrorCode;

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

impl DesignStatus {
    pub const ALL: [Self; 9] = [
        Self::Pending,
        Self::Planning,
        Self::Generating,
        Self::Executing,
        Self::Validating,
        Self::Refining,
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
    ];

    /// The snake_case name used in JSON and query strings.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Planning => "planning",
            Self::Generating => "generating",
            Self::Executing => "executing",
            Self::Validating => "validating",
            Self::Refining => "refining",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// Printed as in JSON (`completed`), so a message, a log line and a body all spell it alike.
impl std::fmt::Display for DesignStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for DesignStatus {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::parse(name).ok_or_else(|| format!("'{name}' is not a design status"))
    }
}

/// A user's verdict on a design (`POST /api/v1/design/{id}/feedback`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackRating {
    ThumbsUp,
    ThumbsDown,
    Accepted,
    Rejected,
}

impl FeedbackRating {
    pub const ALL: [Self; 4] = [
        Self::ThumbsUp,
        Self::ThumbsDown,
        Self::Accepted,
        Self::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ThumbsUp => "thumbs_up",
            Self::ThumbsDown => "thumbs_down",
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

/// The feedback stored on a job record (the latest one given).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserFeedback {
    pub rating: FeedbackRating,
    pub comment: Option<String>,
    pub given_at: DateTime<Utc>,
}

/// A file format the worker can make of a design: CAD exchange formats, meshes and a
/// thumbnail picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    Step,
    Stl,
    Fcstd,
    /// Binary glTF 2.0.
    Glb,
    /// Wavefront OBJ.
    Obj,
    /// Binary little-endian PLY.
    Ply,
    /// 3D Manufacturing Format package.
    #[serde(rename = "3mf")]
    ThreeMf,
    /// A shaded isometric thumbnail with the bounding-box dimensions.
    Png,
}

impl OutputFormat {
    pub const ALL: [OutputFormat; 8] = [
        Self::Step,
        Self::Stl,
        Self::Fcstd,
        Self::Glb,
        Self::Obj,
        Self::Ply,
        Self::ThreeMf,
        Self::Png,
    ];

    /// What a job makes when it names no `output_formats`: the predecessor's three and the
    /// thumbnail. The other meshes are made on request or converted later from the FCStd.
    pub const DEFAULT: [OutputFormat; 4] = [Self::Step, Self::Stl, Self::Fcstd, Self::Png];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Step => "step",
            Self::Stl => "stl",
            Self::Fcstd => "fcstd",
            Self::Glb => "glb",
            Self::Obj => "obj",
            Self::Ply => "ply",
            Self::ThreeMf => "3mf",
            Self::Png => "png",
        }
    }

    /// Parses the lower-case name used in URLs and JSON (`step`, `stl`, `glb`, `3mf`, ...).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|format| format.as_str().eq_ignore_ascii_case(name))
    }

    /// Every format's name, for error messages: `step, stl, fcstd, ...`.
    pub fn names() -> String {
        Self::ALL.map(Self::as_str).join(", ")
    }

    /// Made from the one tessellation of the result (the worker derives them from the STL).
    pub fn is_from_mesh(self) -> bool {
        matches!(
            self,
            Self::Stl | Self::Glb | Self::Obj | Self::Ply | Self::ThreeMf | Self::Png
        )
    }

    /// The artifact's file name inside the job's artifact directory.
    pub fn file_name(self) -> &'static str {
        match self {
            Self::Step => "design.step",
            Self::Stl => "design.stl",
            Self::Fcstd => "design.FCStd",
            Self::Glb => "design.glb",
            Self::Obj => "design.obj",
            Self::Ply => "design.ply",
            Self::ThreeMf => "design.3mf",
            Self::Png => "design.png",
        }
    }

    /// Where a job's artifact of this format lives: `{artifact_dir}/{request_id}/{file_name}`.
    pub fn artifact_path(
        self,
        artifact_dir: &std::path::Path,
        request_id: JobId,
    ) -> std::path::PathBuf {
        artifact_dir
            .join(request_id.to_string())
            .join(self.file_name())
    }

    /// The registered media types (IANA) where there is one.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Step => "application/step",
            Self::Stl => "model/stl",
            Self::Fcstd => "application/octet-stream",
            Self::Glb => "model/gltf-binary",
            Self::Obj => "model/obj",
            Self::Ply => "application/ply",
            Self::ThreeMf => "model/3mf",
            Self::Png => "image/png",
        }
    }
}

/// The queue payload: everything a worker needs to run the job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DesignJob {
    pub request_id: JobId,
    pub prompt: String,
    pub max_iterations: u32,
    pub enable_execution: bool,
    pub output_formats: Vec<OutputFormat>,
    /// `provider/model` override for every agent of this job.
    pub model: Option<String>,
    /// What the user asked to change when they refined a completed design.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback: Option<String>,
    /// Set on a conversion job: make these formats of a completed design from its stored
    /// FCStd, without any model or planner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub convert: Option<Vec<OutputFormat>>,
    /// The feedback of the refines before this one, oldest first: the design being refined
    /// is the prompt with each of them applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier_feedback: Vec<String>,
    /// Asked for the result cache (`cache: true`): a model-written design is stored and
    /// answered from it only then; offline designs always are.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cache: bool,
    /// The job's place in its principal's share of the queue; its refines and conversions
    /// keep it.
    #[serde(default, skip_serializing_if = "Priority::is_normal")]
    pub priority: Priority,
}

impl DesignJob {
    /// A new run of a recorded design: the same id, prompt, iterations, formats, model and
    /// priority, with no feedback, no conversion and no cache request. Refines, conversions
    /// and dead-job retries set what differs on top of it.
    pub fn rerun_of(record: &JobRecord) -> Self {
        Self {
            request_id: record.request_id,
            prompt: record.prompt.clone(),
            max_iterations: record.max_iterations,
            enable_execution: record.enable_execution,
            output_formats: record.output_formats.clone(),
            model: record.model.clone(),
            feedback: None,
            convert: None,
            earlier_feedback: Vec::new(),
            // The request's `cache` flag is not kept on the record: a model-written design
            // run again does without the cache (an offline one is looked up whatever the flag).
            cache: false,
            priority: record.priority,
        }
    }
}

/// Where a job goes in its principal's share of the queue: `high` before `normal` before
/// `low`, first come first served within one. Other principals' jobs are not affected: the
/// queue takes principals in turn, whatever their jobs' priorities.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    High,
    #[default]
    Normal,
    Low,
}

impl Priority {
    pub fn is_normal(&self) -> bool {
        *self == Self::Normal
    }
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

/// Where a conversion of a completed design (`export` of formats it lacks) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConversionState {
    /// Queued or running; `export` answers 202 meanwhile.
    Queued,
    Done,
    Failed,
}

/// The latest conversion of a completed design into more formats, from its stored FCStd.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Conversion {
    pub formats: Vec<OutputFormat>,
    pub state: ConversionState,
    /// Why it failed.
    #[serde(default)]
    pub error: Option<String>,
    pub requested_at: DateTime<Utc>,
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
    pub request_id: JobId,
    /// Who submitted it; only they can see it.
    #[serde(default = "anonymous_principal")]
    pub principal: String,
    /// The job's place in its principal's share of the queue.
    #[serde(default)]
    pub priority: Priority,
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
    /// Why the job failed or was cancelled.
    #[serde(default)]
    pub error_code: Option<ErrorCode>,
    #[serde(default)]
    pub error_message: Option<String>,
    #[serde(default)]
    pub artifacts: Vec<ArtifactInfo>,
    #[serde(default)]
    pub geometry: Option<Geometry>,
    #[serde(default)]
    pub usage: Usage,
    /// The user's latest verdict on the design.
    #[serde(default)]
    pub user_feedback: Option<UserFeedback>,
    /// The latest conversion into more formats, if any was asked for.
    #[serde(default)]
    pub conversion: Option<Conversion>,
    /// The feedback of every refine of this design, oldest first.
    #[serde(default)]
    pub refinements: Vec<String>,
    /// Completed from the result cache: its files are copies of an identical plan's.
    #[serde(default)]
    pub cached: bool,
    /// The batch (`POST /api/v1/batches`) this job was submitted in, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<JobId>,
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
            user_feedback: None,
            conversion: None,
            refinements: Vec::new(),
            cached: false,
            priority: job.priority,
            batch_id: None,
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
    pub error_code: Option<ErrorCode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifacts: Option<Vec<ArtifactInfo>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geometry: Option<Geometry>,
    /// The job's model usage so far (a total, not an increment).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Whether this completion came from the result cache.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cached: Option<bool>,
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
    pub fn failed(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status: Some(DesignStatus::Failed),
            progress: Some(1.0),
            error_code: Some(code),
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
        assert_eq!(OutputFormat::parse("3MF"), Some(OutputFormat::ThreeMf));
        assert_eq!(
            serde_json::to_string(&OutputFormat::ThreeMf).unwrap(),
            "\"3mf\""
        );
        assert_eq!(OutputFormat::parse("fbx"), None);
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

    fn a_record() -> JobRecord {
        let job = DesignJob {
            request_id: JobId::new(),
            prompt: "a 10 mm cube".to_owned(),
            max_iterations: 1,
            enable_execution: true,
            output_formats: vec![OutputFormat::Step],
            model: None,
            feedback: None,
            convert: None,
            earlier_feedback: Vec::new(),
            cache: false,
            priority: Default::default(),
        };
        JobRecord::new_pending(&job, "anonymous", None)
    }

    #[test]
    fn a_failure_is_written_with_the_code_as_json_names_it() {
        let patch = JobPatch::failed(ErrorCode::ExecutionTimeout, "too slow");
        let value = serde_json::to_value(&patch).unwrap();
        assert_eq!(value["error_code"], "execution_timeout");
        let mut record = serde_json::to_value(a_record()).unwrap();
        record["error_code"] = value["error_code"].clone();
        let record: JobRecord = serde_json::from_value(record).unwrap();
        assert_eq!(record.error_code, Some(ErrorCode::ExecutionTimeout));
    }

    /// During a rolling deploy a newer worker may write a code this build does not know: the
    /// record must still be readable (its status, message and files), the code as `unknown`.
    #[test]
    fn a_record_with_a_code_this_build_does_not_know_still_reads() {
        let mut record = serde_json::to_value(a_record()).unwrap();
        record["status"] = serde_json::json!("failed");
        record["error_code"] = serde_json::json!("gpu_on_fire");
        record["error_message"] = serde_json::json!("The GPU is on fire.");
        let record: JobRecord = serde_json::from_value(record).unwrap();
        assert_eq!(record.status, DesignStatus::Failed);
        assert_eq!(record.error_code, Some(ErrorCode::Unknown));
        assert_eq!(record.error_message.as_deref(), Some("The GPU is on fire."));
    }
}
