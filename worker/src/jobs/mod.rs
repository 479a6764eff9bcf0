//! The design job handler: the agent loop of ARCHITECTURE.md ("worker") (plan, then generate,
//! execute and validate until the orchestrator completes or fails the job, at most
//! `max_iterations` rounds), keeping the job record and its events up to date.
//!
//! The loop is a stage machine (`stages.rs`): each [`stages::Stage`] is one function that
//! returns the next stage or the end. Every way a job can stop is a [`JobError`]: a failure
//! the job itself caused (a prompt the planner cannot plan, a model that refuses the key, a
//! result that does not validate in time) is `Final`: it is written to the record and the
//! handler returns `Ok`, so the queue does not run it again. Only `Transient` failures
//! (Redis, the file system) are retried. A job cancelled meanwhile is `Ended` and just
//! stops. A script that fails in FreeCAD is feedback for the generator while iterations
//! remain.

mod artifacts;
mod budget;
mod conversion;
pub mod freecad_slots;
mod report;
mod result_cache;
mod retry;
mod stages;
pub mod webhook;

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;

use apalis::prelude::{BoxDynError, Data};
use redis::aio::ConnectionManager;
use shared::error_code::ErrorCode;
use shared::job::{DesignJob, DesignStatus, JobPatch};
use shared::job_id::JobId;
use shared::job_store::JobStore;
use shared::settings::Settings;
use tracing::{info, instrument};

use crate::agents::{AgentError, UsageTally};
use crate::freecad::FreecadRunner;
use crate::llm::LlmClient;
use freecad_slots::FreecadSlots;
use report::JobReporter;

/// Test seam: maps a job to the script to run instead of the generator's (see
/// `Application::override_generated_scripts`); `None` keeps the generator's script.
pub type ScriptOverride = Arc<dyn Fn(&DesignJob) -> Option<String> + Send + Sync>;

/// An overriding script that starts with this line runs as full Python past the static check
/// (`FreecadRunner::run_unchecked_for_tests`), so the hostile-payload tests prove the sandbox.
/// Only the test seam reads it: a generated script never does.
pub const UNCHECKED_OVERRIDE_LINE: &str = "#!designer-test-unchecked\n";

/// What every job needs, shared by all jobs of a worker process.
#[derive(Clone)]
pub struct JobContext {
    pub store: JobStore,
    pub conn: ConnectionManager,
    pub runner: Arc<FreecadRunner>,
    /// Where the job's files go (`ARTIFACT_STORE_URL`).
    pub artifacts: shared::artifact_store::ArtifactStore,
    /// FreeCAD executions at once (`FREECAD_POOL_SIZE`), whatever `WORKER_CONCURRENCY` is.
    pub freecad_slots: FreecadSlots,
    /// The agents' model settings (`llm_agents`) and the rest of the configuration.
    pub settings: Arc<Settings>,
    /// Every model call of this process goes through it.
    pub llm: Arc<LlmClient>,
    /// The whole pipeline's time limit (`JOB_TIMEOUT_SECONDS`).
    pub job_timeout: std::time::Duration,
    /// Runs a job gets before a transient failure is final (`JOB_MAX_ATTEMPTS`).
    pub max_attempts: u32,
    /// Delivers final states to `callback_url`s, and budget alerts.
    pub webhooks: webhook::WebhookSender,
    /// The principals' usage windows, charged at the end of each attempt.
    pub usage: shared::budget::UsageLedger,
    /// Set by tests only, never by configuration.
    pub script_override: Option<ScriptOverride>,
}

impl JobContext {
    fn reporter(&self, request_id: JobId) -> JobReporter {
        JobReporter::new(
            self.store.clone(),
            self.webhooks.clone(),
            self.conn.clone(),
            request_id,
        )
    }
}

/// Every way a job's run stops short of its own end.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The job ended meanwhile (cancelled, most likely): stop working on it.
    #[error("the job has ended already (cancelled?)")]
    Ended,
    /// The job cannot succeed: recorded as its failure, never retried.
    #[error("{code}: {message}")]
    Final { code: ErrorCode, message: String },
    /// The infrastructure failed (Redis, the file system): the job runs again later.
    #[error(transparent)]
    Transient(BoxDynError),
}

impl From<AgentError> for JobError {
    fn from(error: AgentError) -> Self {
        Self::Final {
            code: error.code(),
            message: error.to_string(),
        }
    }
}

impl From<shared::job_store::StoreError> for JobError {
    fn from(error: shared::job_store::StoreError) -> Self {
        Self::Transient(error.into())
    }
}

impl From<artifacts::PublishError> for JobError {
    /// A store that cannot take the files now may take them later: the job runs again.
    fn from(error: artifacts::PublishError) -> Self {
        Self::Transient(error.into())
    }
}

impl From<std::io::Error> for JobError {
    fn from(error: std::io::Error) -> Self {
        Self::Transient(error.into())
    }
}

/// The apalis handler: runs one attempt of the job, then charges what the attempt spent to
/// its principal's usage, whatever its end (`jobs/budget.rs`).
#[instrument(skip_all, fields(request_id = %job.request_id))]
pub async fn run_design_job(job: DesignJob, ctx: Data<JobContext>) -> Result<(), BoxDynError> {
    let ctx: &JobContext = &ctx;
    if let Some(formats) = &job.convert {
        return conversion::run_conversion(&job, formats, ctx).await;
    }
    let report = ctx.reporter(job.request_id);
    let ended = run_attempt(&job, ctx, &report).await;
    budget::charge_attempt(ctx, &report).await;
    ended
}

/// One attempt, its end recorded. The whole pipeline runs under `JOB_TIMEOUT_SECONDS`; a job
/// that ended meanwhile (cancelled) just stops; a panic anywhere becomes a final
/// `internal_error` failure instead of a record stuck in a running state.
async fn run_attempt(
    job: &DesignJob,
    ctx: &JobContext,
    report: &JobReporter,
) -> Result<(), BoxDynError> {
    let pipeline = AssertUnwindSafe(run_pipeline(job, ctx, report)).catch_unwind();
    let (code, message) = match within_deadline(ctx.job_timeout, pipeline).await {
        Ok(Ok(Ok(()))) => return Ok(()),
        Ok(Ok(Err(JobError::Ended))) => {
            info!("the job ended while it ran (cancelled); stopped");
            count_cancelled();
            report.notify_callback().await;
            return Ok(());
        }
        Ok(Ok(Err(JobError::Final { code, message }))) => {
            tracing::warn!(%code, %message, "the job failed");
            (code, message)
        }
        Ok(Ok(Err(JobError::Transient(error)))) => {
            return retry::retry_or_bury(ctx, job, error).await;
        }
        Ok(Err(panic)) => {
            let reason = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            tracing::error!(%reason, "the pipeline panicked");
            (
                ErrorCode::InternalError,
                "The worker hit an internal error; the job was stopped.".to_owned(),
            )
        }
        // Dropping the pipeline dropped its FreeCAD lease, which kills that process.
        Err(_) => (
            ErrorCode::Timeout,
            format!(
                "The job did not finish within {} s (JOB_TIMEOUT_SECONDS) and was stopped.",
                ctx.job_timeout.as_secs()
            ),
        ),
    };
    match report.fail(code, message, JobPatch::default()).await {
        Ok(()) | Err(JobError::Ended) => Ok(()),
        Err(JobError::Final { .. }) => Ok(()),
        Err(JobError::Transient(error)) => Err(error),
    }
}

/// Runs `work` until `limit` has passed (`Err(())` then). The deadline is looked at first: an
/// inner limit measured from a later start (FreeCAD's, which is the job's limit from the start
/// of the execution) can only run out after it, so when a busy runtime wakes the job with
/// both run out, the job's own `timeout` is what is reported, whichever timer fired first.
async fn within_deadline<F: std::future::Future>(
    limit: std::time::Duration,
    work: F,
) -> Result<F::Output, ()> {
    let deadline = tokio::time::sleep(limit);
    tokio::select! {
        biased;
        () = deadline => Err(()),
        output = work => Ok(output),
    }
}

/// The gateway records a cancellation; the worker that drops the job counts it.
fn count_cancelled() {
    metrics::counter!(shared::metrics::DESIGN_REQUESTS_TOTAL.name, "status" => "cancelled")
        .increment(1);
}

/// Reads the record, then runs the stages from planning to the end.
async fn run_pipeline(
    job: &DesignJob,
    ctx: &JobContext,
    report: &JobReporter,
) -> Result<(), JobError> {
    let id = job.request_id;
    let mut conn = ctx.conn.clone();
    let Some(record) = ctx.store.get(&mut conn, &id).await? else {
        tracing::warn!("the job's record is gone (expired?); nothing to do");
        return Ok(());
    };
    report.track(
        &record.principal,
        UsageTally::starting_at(record.usage.clone()),
        // A job of a batch has its batch's end to report too.
        record.callback_url.is_some() || record.batch_id.is_some(),
    );
    if record.status.is_terminal() {
        info!(status = %record.status, "the job has ended already; not running it again");
        if record.status == DesignStatus::Cancelled {
            // Cancelled while pending: this is the first worker to see it.
            count_cancelled();
            report.notify_callback().await;
        }
        return Ok(());
    }
    if !matches!(
        record.status,
        DesignStatus::Pending | DesignStatus::Refining
    ) {
        // A worker died (or lost Redis) while running it; this run replaces that one's output.
        report.log(
            format!(
                "Running again after an interrupted run (it was {:?}).",
                record.status
            ),
            serde_json::json!({ "rerun": true }),
        );
    }
    stages::run(job, ctx, report).await
}
