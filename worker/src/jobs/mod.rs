//! The design job handler: runs the pipeline stages and keeps the job record up to date.
//!
//! A failure that the job itself caused (a prompt the planner cannot plan, a script that
//! fails, a result that does not validate) is final: it is written to the record and the
//! handler returns `Ok`, so the queue does not run it again. Only infrastructure failures
//! (Redis, the file system) return `Err` and are retried.

mod artifacts;
mod report;
mod retry;
pub mod webhook;

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;

use futures::FutureExt;

use apalis::prelude::{BoxDynError, Data};
use redis::aio::ConnectionManager;
use shared::events::EventPublisher;
use shared::job::{DesignJob, DesignStatus, JobPatch};
use shared::job_store::JobStore;
use tracing::{info, instrument, warn};

use crate::agents::{generator, validator};
use crate::freecad::FreecadRunner;
use crate::planner::OfflinePlanner;
use report::{JobReporter, ReportError};

/// Test seam: maps a job to the script to run instead of the generator's (see
/// `Application::override_generated_scripts`); `None` keeps the generator's script.
pub type ScriptOverride = Arc<dyn Fn(&DesignJob) -> Option<String> + Send + Sync>;

/// What every job needs, shared by all jobs of a worker process.
#[derive(Clone)]
pub struct JobContext {
    pub store: JobStore,
    pub events: EventPublisher,
    pub conn: ConnectionManager,
    pub runner: Arc<FreecadRunner>,
    pub artifact_dir: PathBuf,
    pub planner: OfflinePlanner,
    /// The whole pipeline's time limit (`JOB_TIMEOUT_SECONDS`).
    pub job_timeout: std::time::Duration,
    /// Runs a job gets before a transient failure is final (`JOB_MAX_ATTEMPTS`).
    pub max_attempts: u32,
    /// Delivers final states to `callback_url`s.
    pub webhooks: webhook::WebhookSender,
    /// Set by tests only, never by configuration.
    pub script_override: Option<ScriptOverride>,
}

impl JobContext {
    fn reporter(&self, request_id: uuid::Uuid) -> JobReporter {
        JobReporter::new(
            self.store.clone(),
            self.events.clone(),
            self.webhooks.clone(),
            self.conn.clone(),
            request_id,
        )
    }
}

/// Progress reported at the start of each stage.
mod progress {
    pub const PLANNING: f64 = 0.1;
    pub const GENERATING: f64 = 0.3;
    pub const EXECUTING: f64 = 0.5;
    pub const EXECUTED: f64 = 0.7;
    pub const VALIDATING: f64 = 0.8;
}

/// The apalis handler. The whole pipeline runs under `JOB_TIMEOUT_SECONDS`; a job that
/// ended meanwhile (cancelled) just stops; a panic anywhere becomes a final `internal_error`
/// failure instead of a record stuck in a running state.
#[instrument(skip_all, fields(request_id = %job.request_id))]
pub async fn run_design_job(job: DesignJob, ctx: Data<JobContext>) -> Result<(), BoxDynError> {
    let ctx: &JobContext = &ctx;
    let pipeline = AssertUnwindSafe(run_pipeline(&job, ctx)).catch_unwind();
    let (code, message) = match tokio::time::timeout(ctx.job_timeout, pipeline).await {
        Ok(Ok(Err(error))) if is_ended(&error) => {
            info!("the job ended while it ran (cancelled); stopped");
            ctx.reporter(job.request_id).notify_callback().await;
            return Ok(());
        }
        // Anything else that stopped the pipeline is the infrastructure's (Redis, files).
        Ok(Ok(Err(error))) => return retry::retry_or_bury(ctx, &job, error).await,
        Ok(Ok(Ok(()))) => return Ok(()),
        Ok(Err(panic)) => {
            let reason = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            tracing::error!(%reason, "the pipeline panicked");
            (
                "internal_error",
                "The worker hit an internal error; the job was stopped.".to_owned(),
            )
        }
        // Dropping the pipeline dropped its FreeCAD lease, which kills that process.
        Err(_) => (
            "timeout",
            format!(
                "The job did not finish within {} s (JOB_TIMEOUT_SECONDS) and was stopped.",
                ctx.job_timeout.as_secs()
            ),
        ),
    };
    match ctx
        .reporter(job.request_id)
        .fail(code, message, JobPatch::default())
        .await
    {
        Err(ReportError::Ended) => Ok(()),
        other => Ok(other?),
    }
}

fn is_ended(error: &BoxDynError) -> bool {
    matches!(
        error.downcast_ref::<ReportError>(),
        Some(ReportError::Ended)
    )
}

async fn run_pipeline(job: &DesignJob, ctx: &JobContext) -> Result<(), BoxDynError> {
    let id = job.request_id.to_string();
    let mut conn = ctx.conn.clone();
    let Some(record) = ctx.store.get(&mut conn, &id).await? else {
        warn!("the job's record is gone (expired?); nothing to do");
        return Ok(());
    };
    if record.status.is_terminal() {
        info!(status = ?record.status, "the job has ended already; not running it again");
        if record.status == DesignStatus::Cancelled {
            // Cancelled while pending: this is the first worker to see it.
            ctx.reporter(job.request_id).notify_callback().await;
        }
        return Ok(());
    }
    let report = ctx.reporter(job.request_id);
    if record.status != DesignStatus::Pending {
        // A worker died (or lost Redis) while running it; this run replaces that one's output.
        report
            .log(format!(
                "Running again after an interrupted run (it was {:?}).",
                record.status
            ))
            .await?;
    }

    report
        .stage(JobPatch::status(DesignStatus::Planning, progress::PLANNING))
        .await?;
    let offline = match ctx.planner.plan(&job.prompt) {
        Ok(offline) => offline,
        Err(error) => {
            info!(code = error.code, "the planner refused the prompt");
            report
                .fail(error.code, error.message, JobPatch::default())
                .await?;
            return Ok(());
        }
    };
    report
        .plan(
            "builtin/offline",
            offline.entry,
            &offline.parameters,
            &offline.plan.summary,
        )
        .await?;
    report
        .stage(JobPatch {
            plan_summary: Some(offline.plan.summary.clone()),
            current_iteration: Some(1),
            ..JobPatch::status(DesignStatus::Generating, progress::GENERATING)
        })
        .await?;

    let script = ctx
        .script_override
        .as_ref()
        .and_then(|scripts| scripts(job))
        .unwrap_or_else(|| generator::script_for(&offline.part));
    if !job.enable_execution {
        report
            .complete(JobPatch {
                generated_script: Some(script),
                ..JobPatch::default()
            })
            .await?;
        return Ok(());
    }
    report
        .stage(JobPatch {
            generated_script: Some(script.clone()),
            ..JobPatch::status(DesignStatus::Executing, progress::EXECUTING)
        })
        .await?;

    let run = tokio::select! {
        outcome = ctx.runner.run(&script, &job.output_formats) => outcome,
        // Cancelled while FreeCAD works: dropping the run kills its process.
        () = report.ended() => return Err(ReportError::Ended.into()),
    };
    let outcome = match run {
        Ok(outcome) => outcome,
        Err(error) => {
            warn!(%error, "FreeCAD execution failed");
            report
                .fail(error.code(), error.to_string(), JobPatch::default())
                .await?;
            return Ok(());
        }
    };
    let duration_ms = outcome.duration.as_millis() as u64;
    info!(duration_ms, "FreeCAD execution finished");
    report
        .progress(
            progress::EXECUTED,
            format!("FreeCAD ran the script in {duration_ms} ms"),
        )
        .await?;
    report
        .stage(JobPatch {
            geometry: Some(outcome.geometry.clone()),
            execution_result: Some(outcome.report.clone()),
            ..JobPatch::status(DesignStatus::Validating, progress::VALIDATING)
        })
        .await?;

    let validation = validator::validate(&outcome.geometry, &offline.plan.expected);
    report
        .validation(validation.score, validation.approved, &validation.feedback)
        .await?;
    if !validation.approved {
        report
            .fail(
                "validation_failed",
                format!(
                    "The result does not match the plan: {}",
                    validation.feedback.join("; ")
                ),
                JobPatch {
                    validation_score: Some(validation.score),
                    ..JobPatch::default()
                },
            )
            .await?;
        return Ok(());
    }
    let artifacts = artifacts::publish(&ctx.artifact_dir, job.request_id, &outcome.files).await?;
    report.artifacts(&artifacts).await?;
    report
        .complete(JobPatch {
            validation_score: Some(validation.score),
            artifacts: Some(artifacts),
            ..JobPatch::default()
        })
        .await?;
    info!("design completed");
    Ok(())
}
