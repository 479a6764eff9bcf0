//! The job's stage machine: plan, then generate, execute and validate, round after round,
//! until the orchestrator completes or fails the job. Each stage is one function that returns
//! the next stage, or `None` when the job has reached its end (completed or failed, both
//! recorded). Lines for people are queued on the reporter and go out with the next stage
//! change; a stage flushes them itself before it waits on a model or a FreeCAD slot.

use futures::future::BoxFuture;
use serde_json::json;
use shared::error_code::ErrorCode;
use shared::job::{DesignJob, DesignStatus, JobPatch};
use tracing::{info, warn};

use super::report::JobReporter;
use super::result_cache::{self, CacheKey, CompletedRun};
use super::{JobContext, JobError, artifacts};
use crate::agents::generator::Generator;
use crate::agents::orchestrator::{self, Route};
use crate::agents::planner::Planner;
use crate::agents::validator::Validator;
use crate::agents::{Agent, AgentError, AgentKind, Backend, PipelineState, UsageTally};
use crate::freecad::{ExecutionOutcome, ObjectState};
use crate::llm::{ChunkSink, ModelName};

/// Progress reported at the start of each stage.
mod progress {
    pub const PLANNING: f64 = 0.1;
    pub const GENERATING: f64 = 0.3;
    pub const EXECUTING: f64 = 0.5;
    pub const EXECUTED: f64 = 0.7;
    pub const VALIDATING: f64 = 0.8;
}

/// Where a job is in the agent loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Plan,
    Generate,
    Execute,
    Validate,
}

/// Runs the stages from planning to the job's end.
pub async fn run(job: &DesignJob, ctx: &JobContext, report: &JobReporter) -> Result<(), JobError> {
    let agents = JobAgents::for_job(ctx, job, &report.usage())?;
    // The first event of a job is always its `planning` status; what each agent runs on
    // comes right after.
    report
        .stage(JobPatch::status(DesignStatus::Planning, progress::PLANNING))
        .await?;
    for line in agents.describe() {
        report.log(line, json!({}));
    }
    if let Some(feedback) = &job.feedback {
        report.log(format!("Refining with the feedback: {feedback}"), json!({}));
    }
    // A model-written design is looked up before its first model call; an offline one once
    // it is planned (`JobRun::plan`), since its key is the plan.
    let cache_key = if agents.all_offline() {
        None
    } else {
        result_cache::model_key(ctx, job, &agents.calling_models())
    };
    if let Some(key) = &cache_key
        && result_cache::answer_from_cache(ctx, job, report, key).await?
    {
        return Ok(());
    }
    let mut run = JobRun {
        job,
        ctx,
        report,
        // Another round can only help when a model writes the script.
        can_improve: agents.generator.agent.uses_model() && ctx.script_override.is_none(),
        agents,
        state: PipelineState {
            prompt: job.prompt.clone(),
            user_feedback: job.feedback.clone(),
            earlier_feedback: job.earlier_feedback.clone(),
            ..PipelineState::default()
        },
        iteration: 0,
        previous_objects: None,
        executed: None,
        cache_key,
    };
    let mut stage = Stage::Plan;
    loop {
        let next = match stage {
            Stage::Plan => run.plan().await?,
            Stage::Generate => run.generate().await?,
            Stage::Execute => run.execute().await?,
            Stage::Validate => run.validate().await?,
        };
        match next {
            Some(next) => stage = next,
            None => return Ok(()),
        }
    }
}

/// One run of one job: what the stages share.
struct JobRun<'a> {
    job: &'a DesignJob,
    ctx: &'a JobContext,
    report: &'a JobReporter,
    agents: JobAgents,
    state: PipelineState,
    can_improve: bool,
    /// Rounds of generate-execute-validate so far.
    iteration: u32,
    /// The last execution's objects, to diff the next one against.
    previous_objects: Option<Vec<ObjectState>>,
    /// The last execution, for the validator's verdict and the artifacts.
    executed: Option<ExecutionOutcome>,
    /// Where the result is kept once the job completes (`None`: not cached).
    cache_key: Option<CacheKey>,
}

impl JobRun<'_> {
    fn max_iterations(&self) -> u32 {
        self.job.max_iterations.max(1)
    }

    /// Runs the planner and queues its plan for people to check.
    async fn plan(&mut self) -> Result<Option<Stage>, JobError> {
        if self.agents.planner.agent.uses_model() {
            self.report.flush().await?;
        }
        let sink = AgentChunks {
            report: self.report,
            agent: "planner",
        };
        let planned = self.agents.planner.execute(&mut self.state, Some(&sink));
        if let Err(error) = planned.await {
            info!(code = %error.code(), %error, "the planner failed");
            return Err(error.into());
        }
        let summary = self.state.plan.as_ref().map(|plan| plan.summary.clone());
        let summary = summary.unwrap_or_default();
        let planner = match (&self.state.offline, self.agents.planner.agent.backend()) {
            (Some(_), _) | (None, Backend::Offline { .. }) => ModelName::OFFLINE.to_owned(),
            (None, Backend::Model(choice)) => choice.primary.to_string(),
        };
        let details = match &self.state.offline {
            Some(offline) => json!({
                "planner": planner,
                "entry": offline.entry,
                "parameters": offline.parameters,
                "notes": offline.plan.notes,
            }),
            None => json!({ "planner": planner, "plan": self.state.plan }),
        };
        self.report
            .log(format!("Plan ({planner}): {summary}"), details);
        if self.iteration == 0
            && self.agents.all_offline()
            && let Some(offline) = &self.state.offline
        {
            self.cache_key = result_cache::offline_key(self.ctx, self.job, offline);
            if let Some(key) = &self.cache_key
                && result_cache::answer_from_cache(self.ctx, self.job, self.report, key).await?
            {
                return Ok(None);
            }
        }
        Ok(Some(Stage::Generate))
    }

    /// A new round: the generator writes the script (or a test supplies it).
    async fn generate(&mut self) -> Result<Option<Stage>, JobError> {
        self.iteration += 1;
        self.report
            .stage(JobPatch {
                plan_summary: self.state.plan.as_ref().map(|plan| plan.summary.clone()),
                current_iteration: Some(self.iteration),
                ..JobPatch::status(DesignStatus::Generating, progress::GENERATING)
            })
            .await?;
        let overridden = self.ctx.script_override.as_ref();
        match overridden.and_then(|scripts| scripts(self.job)) {
            Some(script) => self.state.script = Some(script),
            None => {
                let sink = AgentChunks {
                    report: self.report,
                    agent: "generator",
                };
                let generator = &self.agents.generator;
                generator.execute(&mut self.state, Some(&sink)).await?;
            }
        }
        if !self.job.enable_execution {
            let script = self.state.script.clone().unwrap_or_default();
            self.report
                .complete(JobPatch {
                    generated_script: Some(script),
                    ..JobPatch::default()
                })
                .await?;
            return Ok(None);
        }
        Ok(Some(Stage::Execute))
    }

    /// Runs the script in FreeCAD once a slot is free; a failed script is feedback for the
    /// generator while rounds remain.
    async fn execute(&mut self) -> Result<Option<Stage>, JobError> {
        let script = self.state.script.clone().unwrap_or_default();
        self.report
            .stage(JobPatch {
                generated_script: Some(script.clone()),
                ..JobPatch::status(DesignStatus::Executing, progress::EXECUTING)
            })
            .await?;
        let slots = &self.ctx.freecad_slots;
        let _slot = match slots.try_acquire() {
            Some(slot) => slot,
            None => {
                let waiting = format!("waiting for FreeCAD (all {} slots busy)", slots.size());
                self.report.progress(progress::EXECUTING, waiting).await?;
                tokio::select! {
                    slot = slots.acquire(self.report.principal()) => slot,
                    () = self.report.ended() => return Err(JobError::Ended),
                }
            }
        };
        // The FCStd is always stored: later conversions into other formats start from it.
        let formats = &super::conversion::with_source(&self.job.output_formats);
        let previous = self.previous_objects.as_deref();
        // Only the test seam's scripts (never a generated one) may skip the check, to prove
        // the sandbox holds on its own.
        let unchecked = self.ctx.script_override.is_some()
            && script.starts_with(super::UNCHECKED_OVERRIDE_LINE);
        let runner = &self.ctx.runner;
        // Charged to the principal's FreeCAD seconds however the run ends (dropped included).
        let _timer = FreecadTimer {
            report: self.report,
            started: std::time::Instant::now(),
        };
        let execution = async {
            if unchecked {
                runner.run_unchecked_for_tests(&script, formats).await
            } else {
                runner.run_iteration(&script, formats, previous).await
            }
        };
        let run = tokio::select! {
            outcome = execution => outcome,
            // Cancelled while FreeCAD works: dropping the run kills its process.
            () = self.report.ended() => return Err(JobError::Ended),
        };
        match run {
            Ok(outcome) => self.executed(outcome).await,
            Err(error) if self.can_improve && self.iteration < self.max_iterations() => {
                warn!(%error, iteration = self.iteration, "the script failed in FreeCAD; asking the generator for a fix");
                self.state.geometry = None;
                self.state.feedback = vec![format!(
                    "the script failed in FreeCAD ({}): {error}",
                    error.code()
                )];
                self.report.validation(0.0, false, &self.state.feedback);
                self.report
                    .stage(JobPatch {
                        validation_score: Some(0.0),
                        ..JobPatch::status(DesignStatus::Refining, progress::GENERATING)
                    })
                    .await?;
                Ok(Some(Stage::Generate))
            }
            Err(error) => Err(JobError::Final {
                code: error.code(),
                message: error.to_string(),
            }),
        }
    }

    /// Records what FreeCAD measured and moves on to validation.
    async fn executed(&mut self, outcome: ExecutionOutcome) -> Result<Option<Stage>, JobError> {
        let duration_ms = outcome.duration.as_millis() as u64;
        info!(
            duration_ms,
            iteration = self.iteration,
            "FreeCAD execution finished"
        );
        self.report.queue(shared::events::EventPayload::Progress {
            progress: progress::EXECUTED,
            message: format!("FreeCAD ran the script in {duration_ms} ms"),
        });
        self.report
            .stage(JobPatch {
                geometry: Some(outcome.geometry.clone()),
                execution_result: Some(outcome.report.clone()),
                ..JobPatch::status(DesignStatus::Validating, progress::VALIDATING)
            })
            .await?;
        self.state.geometry = Some(outcome.geometry.clone());
        self.previous_objects = Some(outcome.objects.clone());
        self.executed = Some(outcome);
        Ok(Some(Stage::Validate))
    }

    /// Scores the result and routes on the score: complete, refine, replan or fail.
    async fn validate(&mut self) -> Result<Option<Stage>, JobError> {
        let sink = AgentChunks {
            report: self.report,
            agent: "validator",
        };
        let validator = &self.agents.validator;
        validator.execute(&mut self.state, Some(&sink)).await?;
        let validation =
            self.state.validation.clone().unwrap_or_else(|| {
                unreachable!("the validator stores its verdict when it succeeds")
            });
        for note in &validation.notes {
            self.report
                .log(note.clone(), json!({ "agent": "validator" }));
        }
        let (score, feedback) = (validation.score, validation.feedback);
        self.report
            .validation(score, validation.approved, &feedback);
        let scored = JobPatch {
            validation_score: Some(score),
            ..JobPatch::default()
        };
        let (iteration, max) = (self.iteration, self.max_iterations());
        let (status, next) = match orchestrator::route(score, iteration, max, self.can_improve) {
            Route::Complete => return self.complete(scored).await,
            Route::Refine => (DesignStatus::Refining, Stage::Generate),
            Route::Replan => (DesignStatus::Planning, Stage::Plan),
            Route::Fail => {
                let rounds = if self.can_improve {
                    format!(" after {iteration} of at most {max} iteration(s)")
                } else {
                    String::new()
                };
                let message = format!(
                    "The result does not match the plan{rounds}: {}",
                    feedback.join("; ")
                );
                self.report
                    .fail(ErrorCode::ValidationFailed, message, scored)
                    .await?;
                return Ok(None);
            }
        };
        let progress = match next {
            Stage::Plan => progress::PLANNING,
            _ => progress::GENERATING,
        };
        self.state.feedback = feedback;
        self.report
            .stage(JobPatch {
                status: Some(status),
                progress: Some(progress),
                ..scored
            })
            .await?;
        Ok(Some(next))
    }

    /// Stores the files and completes the job.
    async fn complete(&mut self, scored: JobPatch) -> Result<Option<Stage>, JobError> {
        let files = self
            .executed
            .as_ref()
            .map(|outcome| outcome.files.as_slice());
        let stored = artifacts::publish(
            &self.ctx.artifacts,
            self.job.request_id,
            files.unwrap_or_default(),
        )
        .await?;
        // The FCStd is kept for later conversions even when it was not asked for.
        let mut artifacts = stored.clone();
        artifacts.retain(|artifact| self.job.output_formats.contains(&artifact.format));
        self.report.artifacts(&artifacts);
        let score = scored.validation_score;
        // Kept before the completion is written, so that a client that has seen this design
        // complete and asks for the same plan again is answered from the cache.
        self.remember(&stored, score).await;
        self.report
            .complete(JobPatch {
                artifacts: Some(artifacts),
                // A refine of a design that came from the cache has files of its own now.
                cached: self.job.feedback.is_some().then_some(false),
                ..scored
            })
            .await?;
        info!(iteration = self.iteration, "design completed");
        Ok(None)
    }

    /// Keeps the completed design in the result cache, when the job has a key.
    async fn remember(&self, stored: &[shared::job::ArtifactInfo], score: Option<f64>) {
        let Some(key) = &self.cache_key else {
            return;
        };
        let executed = self.executed.as_ref();
        let run = CompletedRun {
            stored,
            plan_summary: self.state.plan.as_ref().map(|plan| plan.summary.clone()),
            generated_script: self.state.script.clone(),
            execution_result: executed.map(|outcome| outcome.report.clone()),
            validation_score: score,
            geometry: executed.map(|outcome| outcome.geometry.clone()),
            iterations: self.iteration,
        };
        result_cache::remember(self.ctx, self.job, key, run).await;
    }
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

    /// No agent of this job calls a model: the offline plan decides the files.
    fn all_offline(&self) -> bool {
        self.calling_models()
            .iter()
            .all(|agent| !agent.uses_model())
    }

    /// The agents that may call a model (the orchestrator never does).
    fn calling_models(&self) -> [&Agent; 3] {
        [
            &self.planner.agent,
            &self.generator.agent,
            &self.validator.agent,
        ]
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

/// Adds the time from its creation to its drop to the attempt's FreeCAD seconds.
struct FreecadTimer<'a> {
    report: &'a JobReporter,
    started: std::time::Instant,
}

impl Drop for FreecadTimer<'_> {
    fn drop(&mut self) {
        self.report.add_freecad_time(self.started.elapsed());
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
