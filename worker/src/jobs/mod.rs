//! The design job handler: the agent loop of DESIGN.md section 6 (plan, then generate,
//! execute and validate until the orchestrator completes or fails the job, at most
//! `max_iterations` rounds), keeping the job record and its events up to date.
//!
//! A failure that the job itself caused (a prompt the planner cannot plan, a model that
//! refuses the key, a result that does not validate in time) is final: it is written to the
//! record and the handler returns `Ok`, so the queue does not run it again. Only
//! infrastructure failures (Redis, the file system) return `Err` and are retried. A script
//! that fails in FreeCAD is feedback for the generator while iterations remain.

mod artifacts;
mod report;
mod retry;
pub mod webhook;

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;

use futures::FutureExt;

use apalis::prelude::{BoxDynError, Data};
use futures::future::BoxFuture;
use redis::aio::ConnectionManager;
use serde_json::json;
use shared::events::EventPublisher;
use shared::job::{DesignJob, DesignStatus, JobPatch};
use shared::job_store::JobStore;
use shared::settings::Settings;
use tracing::{info, instrument, warn};

use crate::agents::generator::Generator;
use crate::agents::orchestrator::{self, Route};
use crate::agents::planner::Planner;
use crate::agents::validator::Validator;
use crate::agents::{Agent, AgentError, AgentKind, Backend, PipelineState, UsageTally};
use crate::freecad::{FreecadRunner, ObjectState};
use crate::llm::{ChunkSink, LlmClient, ModelName};
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
    /// The agents' model settings (`llm_agents`) and the rest of the configuration.
    pub settings: Arc<Settings>,
    /// Every model call of this process goes through it.
    pub llm: Arc<LlmClient>,
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
            count_cancelled();
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

/// The gateway records a cancellation; the worker that drops the job counts it.
fn count_cancelled() {
    metrics::counter!(shared::metrics::DESIGN_REQUESTS_TOTAL.name, "status" => "cancelled")
        .increment(1);
}

fn is_ended(error: &BoxDynError) -> bool {
    matches!(
        error.downcast_ref::<ReportError>(),
        Some(ReportError::Ended)
    )
}

/// The agents of one job, with its model choices resolved.
struct JobAgents {
    planner: Planner,
    generator: Generator,
    validator: Validator,
    orchestrator: Agent,
}

impl JobAgents {
    fn for_job(ctx: &JobContext, job: &DesignJob, usage: &UsageTally) -> Result<Self, AgentError> {
        let agent = |kind| {
            Agent::for_job(
                kind,
                &ctx.settings,
                job.model.as_deref(),
                ctx.llm.clone(),
                usage.clone(),
            )
        };
        let generator = agent(AgentKind::Generator)?;
        // The catalogue templates build only what the offline planner planned, with exact
        // expectations; a model's plan could ask for anything.
        let planner = if generator.uses_model() {
            agent(AgentKind::Planner)?
        } else {
            Agent::offline(
                AgentKind::Planner,
                "the generator runs offline, and its templates need the offline planner's plan",
                ctx.llm.clone(),
            )
        };
        Ok(Self {
            planner: Planner { agent: planner },
            generator: Generator { agent: generator },
            validator: Validator {
                agent: agent(AgentKind::Validator)?,
            },
            orchestrator: agent(AgentKind::Orchestrator)?,
        })
    }

    fn describe(&self) -> Vec<String> {
        vec![
            self.planner.agent.describe(),
            self.generator.agent.describe(),
            self.validator.agent.describe(),
            format!(
                "{}: routes on the validator's score (no model call)",
                self.orchestrator.name()
            ),
        ]
    }
}

/// Streams one agent's model text into the job's `llm_chunk` events.
struct AgentChunks<'a> {
    report: &'a JobReporter,
    agent: &'static str,
}

impl ChunkSink for AgentChunks<'_> {
    fn chunk(&self, text: String, reasoning: bool) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // A lost chunk costs a client some live text, not the job: the whole answer is
            // in the record when the stage ends.
            if let Err(error) = self.report.llm_chunk(self.agent, &text, reasoning).await {
                warn!(%error, "could not publish a model chunk");
            }
        })
    }
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
            count_cancelled();
            ctx.reporter(job.request_id).notify_callback().await;
        }
        return Ok(());
    }
    let report = ctx.reporter(job.request_id);
    if !matches!(
        record.status,
        DesignStatus::Pending | DesignStatus::Refining
    ) {
        // A worker died (or lost Redis) while running it; this run replaces that one's output.
        report
            .log(
                format!(
                    "Running again after an interrupted run (it was {:?}).",
                    record.status
                ),
                json!({ "rerun": true }),
            )
            .await?;
    }
    let usage = UsageTally::starting_at(record.usage.clone());
    let with_usage = |patch: JobPatch| JobPatch {
        usage: Some(usage.total()),
        ..patch
    };
    let agents = match JobAgents::for_job(ctx, job, &usage) {
        Ok(agents) => agents,
        Err(error) => {
            report
                .fail(error.code(), error.to_string(), JobPatch::default())
                .await?;
            return Ok(());
        }
    };
    // The first event of a job is always its `planning` status; what each agent runs on
    // comes right after.
    report
        .stage(JobPatch::status(DesignStatus::Planning, progress::PLANNING))
        .await?;
    for line in agents.describe() {
        report.log(line, json!({})).await?;
    }
    if let Some(feedback) = &job.feedback {
        report
            .log(format!("Refining with the feedback: {feedback}"), json!({}))
            .await?;
    }
    let sink = |agent: &'static str| AgentChunks {
        report: &report,
        agent,
    };
    // Another round can only help when a model writes the script.
    let can_improve = agents.generator.agent.uses_model() && ctx.script_override.is_none();
    let max_iterations = job.max_iterations.max(1);
    let mut state = PipelineState {
        prompt: job.prompt.clone(),
        user_feedback: job.feedback.clone(),
        earlier_feedback: job.earlier_feedback.clone(),
        ..PipelineState::default()
    };

    if let Err(error) = plan(&agents, &mut state, &report, &sink("planner")).await? {
        return fail_agent(&report, error, with_usage(JobPatch::default())).await;
    }

    let mut previous_objects: Option<Vec<ObjectState>> = None;
    let mut iteration = 0;
    loop {
        iteration += 1;
        report
            .stage(with_usage(JobPatch {
                plan_summary: state.plan.as_ref().map(|plan| plan.summary.clone()),
                current_iteration: Some(iteration),
                ..JobPatch::status(DesignStatus::Generating, progress::GENERATING)
            }))
            .await?;
        match ctx
            .script_override
            .as_ref()
            .and_then(|scripts| scripts(job))
        {
            Some(script) => state.script = Some(script),
            None => {
                let generated = agents
                    .generator
                    .execute(&mut state, Some(&sink("generator")))
                    .await;
                if let Err(error) = generated {
                    return fail_agent(&report, error, with_usage(JobPatch::default())).await;
                }
            }
        }
        let script = state.script.clone().unwrap_or_default();
        if !job.enable_execution {
            report
                .complete(with_usage(JobPatch {
                    generated_script: Some(script),
                    ..JobPatch::default()
                }))
                .await?;
            return Ok(());
        }
        report
            .stage(with_usage(JobPatch {
                generated_script: Some(script.clone()),
                ..JobPatch::status(DesignStatus::Executing, progress::EXECUTING)
            }))
            .await?;

        let run = tokio::select! {
            outcome = ctx
                .runner
                .run_iteration(&script, &job.output_formats, previous_objects.as_deref()) => outcome,
            // Cancelled while FreeCAD works: dropping the run kills its process.
            () = report.ended() => return Err(ReportError::Ended.into()),
        };
        let outcome = match run {
            Ok(outcome) => outcome,
            Err(error) if can_improve && iteration < max_iterations => {
                warn!(%error, iteration, "the script failed in FreeCAD; asking the generator for a fix");
                state.geometry = None;
                state.feedback = vec![format!(
                    "the script failed in FreeCAD ({}): {error}",
                    error.code()
                )];
                report.validation(0.0, false, &state.feedback).await?;
                report
                    .stage(with_usage(JobPatch {
                        validation_score: Some(0.0),
                        ..JobPatch::status(DesignStatus::Refining, progress::GENERATING)
                    }))
                    .await?;
                continue;
            }
            Err(error) => {
                warn!(%error, "FreeCAD execution failed");
                report
                    .fail(
                        error.code(),
                        error.to_string(),
                        with_usage(JobPatch::default()),
                    )
                    .await?;
                return Ok(());
            }
        };
        let duration_ms = outcome.duration.as_millis() as u64;
        info!(duration_ms, iteration, "FreeCAD execution finished");
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
        state.geometry = Some(outcome.geometry.clone());
        previous_objects = Some(outcome.objects.clone());

        if let Err(error) = agents
            .validator
            .execute(&mut state, Some(&sink("validator")))
            .await
        {
            return fail_agent(&report, error, with_usage(JobPatch::default())).await;
        }
        let validation = state
            .validation
            .clone()
            .unwrap_or_else(|| unreachable!("the validator stores its verdict when it succeeds"));
        for note in &validation.notes {
            report
                .log(note.clone(), json!({ "agent": "validator" }))
                .await?;
        }
        report
            .validation(validation.score, validation.approved, &validation.feedback)
            .await?;
        let scored = with_usage(JobPatch {
            validation_score: Some(validation.score),
            ..JobPatch::default()
        });
        match orchestrator::route(validation.score, iteration, max_iterations, can_improve) {
            Route::Complete => {
                let artifacts =
                    artifacts::publish(&ctx.artifact_dir, job.request_id, &outcome.files).await?;
                report.artifacts(&artifacts).await?;
                report
                    .complete(JobPatch {
                        artifacts: Some(artifacts),
                        ..scored
                    })
                    .await?;
                info!(iteration, "design completed");
                return Ok(());
            }
            Route::Refine => {
                state.feedback = validation.feedback;
                report
                    .stage(JobPatch {
                        status: Some(DesignStatus::Refining),
                        progress: Some(progress::GENERATING),
                        ..scored
                    })
                    .await?;
            }
            Route::Replan => {
                state.feedback = validation.feedback;
                report
                    .stage(JobPatch {
                        status: Some(DesignStatus::Planning),
                        progress: Some(progress::PLANNING),
                        ..scored
                    })
                    .await?;
                if let Err(error) = plan(&agents, &mut state, &report, &sink("planner")).await? {
                    return fail_agent(&report, error, with_usage(JobPatch::default())).await;
                }
            }
            Route::Fail => {
                let rounds = if can_improve {
                    format!(" after {iteration} of at most {max_iterations} iteration(s)")
                } else {
                    String::new()
                };
                report
                    .fail(
                        "validation_failed",
                        format!(
                            "The result does not match the plan{rounds}: {}",
                            validation.feedback.join("; ")
                        ),
                        scored,
                    )
                    .await?;
                return Ok(());
            }
        }
    }
}

/// Runs the planner and announces its plan. The outer `Result` is the reporter's (retried by
/// the queue); the inner one the planner's (final for the job).
async fn plan(
    agents: &JobAgents,
    state: &mut PipelineState,
    report: &JobReporter,
    sink: &AgentChunks<'_>,
) -> Result<Result<(), AgentError>, ReportError> {
    if let Err(error) = agents.planner.execute(state, Some(sink)).await {
        info!(code = error.code(), %error, "the planner failed");
        return Ok(Err(error));
    }
    let summary = state
        .plan
        .as_ref()
        .map(|plan| plan.summary.clone())
        .unwrap_or_default();
    match &state.offline {
        Some(offline) => {
            report
                .plan(
                    ModelName::OFFLINE,
                    offline.entry,
                    &offline.parameters,
                    &summary,
                )
                .await?
        }
        None => {
            let planner = match agents.planner.agent.backend() {
                Backend::Model(choice) => choice.primary.to_string(),
                Backend::Offline { .. } => ModelName::OFFLINE.to_owned(),
            };
            report
                .log(
                    format!("Plan ({planner}): {summary}"),
                    json!({ "planner": planner, "plan": state.plan }),
                )
                .await?
        }
    }
    Ok(Ok(()))
}

async fn fail_agent(
    report: &JobReporter,
    error: AgentError,
    extra: JobPatch,
) -> Result<(), BoxDynError> {
    warn!(code = error.code(), %error, "an agent failed; the job ends");
    report.fail(error.code(), error.to_string(), extra).await?;
    Ok(())
}
