//! The pipeline's agents (ARCHITECTURE.md, "worker"), each an [`Agent`] (a name, its model settings
//! and the one shared way to call a model) with an `execute` step on the [`PipelineState`]: its
//! `AgentStep` says how to do the step offline and with a model, and [`Agent::run`] alone picks
//! which from the agent's backend and counts the run.
//!
//! - [`planner`]: prompt (and feedback) to a `DesignPlan`: a model, or the offline planner.
//! - [`generator`]: plan and feedback to a FreeCAD script: a model's ```python block, or the
//!   catalogue template.
//! - [`validator`]: measured geometry against the plan's expectations, plus a model's review.
//! - [`orchestrator`]: where a scored result goes next: completed, refine, replan or failed.

pub mod generator;
pub mod orchestrator;
pub mod planner;
pub mod validator;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use shared::error_code::ErrorCode;
use shared::job::{Geometry, Usage};
use shared::settings::{AgentModelSettings, Settings};
use tracing::warn;

use crate::llm::{ChunkSink, Completion, LlmClient, LlmError, LlmRequest, ModelName};
use crate::offline_planner::{DesignPlan, OfflinePlan, PlanError};

/// The four agents whose models README.md ("Models") lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentKind {
    Planner,
    Generator,
    Validator,
    Orchestrator,
}

impl AgentKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Planner => "planner",
            Self::Generator => "generator",
            Self::Validator => "validator",
            Self::Orchestrator => "orchestrator",
        }
    }

    fn settings(self, settings: &Settings) -> &AgentModelSettings {
        let agents = &settings.llm.agents;
        match self {
            Self::Planner => &agents.planner,
            Self::Generator => &agents.generator,
            Self::Validator => &agents.validator,
            Self::Orchestrator => &agents.orchestrator,
        }
    }
}

/// The models an agent calls, with its sampling settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelChoice {
    pub primary: ModelName,
    /// Asked when the primary gives up on a retryable failure.
    pub fallback: Option<ModelName>,
    pub temperature: f64,
    pub max_tokens: u32,
}

/// What an agent runs on.
#[derive(Debug, Clone, PartialEq)]
pub enum Backend {
    /// `builtin/offline`: the offline planner and the catalogue templates; `reason` says why.
    Offline {
        reason: String,
    },
    Model(ModelChoice),
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("{0}")]
    Plan(#[from] PlanError),
    #[error("the {agent}'s model call failed: {source}")]
    Llm {
        agent: &'static str,
        #[source]
        source: LlmError,
    },
    #[error("the {agent}'s model gave an unusable answer: {message}")]
    UnusableReply {
        agent: &'static str,
        message: String,
    },
    #[error("{0}")]
    Config(String),
}

impl AgentError {
    /// The job's `error_code` for this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Plan(error) => error.code,
            Self::Llm { source, .. } => source.code(),
            Self::UnusableReply { .. } => ErrorCode::LlmInvalidReply,
            Self::Config(_) => ErrorCode::InvalidModel,
        }
    }
}

/// Everything the agents know about one job as it goes round the loop.
#[derive(Debug, Clone, Default)]
pub struct PipelineState {
    pub prompt: String,
    /// The user's feedback when they refined a completed design.
    pub user_feedback: Option<String>,
    /// The feedback of earlier refines, oldest first: the design refined is the prompt with
    /// each applied (the offline planner replays them; a model is shown the latest only).
    pub earlier_feedback: Vec<String>,
    pub plan: Option<DesignPlan>,
    /// The offline planner's answer, when it planned (the template generator needs it).
    pub offline: Option<OfflinePlan>,
    pub script: Option<String>,
    /// What the validator (or FreeCAD) said about the last script, for the next round.
    pub feedback: Vec<String>,
    /// The measured result of the last script, if it ran.
    pub geometry: Option<Geometry>,
    pub validation: Option<validator::Validation>,
}

/// The usage of every model call of one job, added up.
#[derive(Debug, Clone, Default)]
pub struct UsageTally(Arc<Mutex<Usage>>);

impl UsageTally {
    pub fn starting_at(usage: Usage) -> Self {
        Self(Arc::new(Mutex::new(usage)))
    }

    fn add(&self, completion: &Completion) {
        let mut usage = self.0.lock().expect("usage lock");
        usage.prompt_tokens += completion.prompt_tokens;
        usage.completion_tokens += completion.completion_tokens;
        usage.cost_usd += completion.cost_usd;
    }

    pub fn total(&self) -> Usage {
        self.0.lock().expect("usage lock").clone()
    }
}

/// An agent's two ways of doing its step on the [`PipelineState`]; [`Agent::run`] picks one.
pub(crate) trait AgentStep {
    /// Without a model: the offline planner, the catalogue template, the geometry alone.
    fn offline(&self, state: &mut PipelineState) -> Result<(), AgentError>;

    /// With the agent's model, through [`Agent::ask`] (retries, then the fallback model).
    fn with_model(
        &self,
        state: &mut PipelineState,
        sink: Option<&dyn ChunkSink>,
    ) -> impl Future<Output = Result<(), AgentError>> + Send;
}

/// The predecessor's BaseAgent: a name, its model settings, and [`Agent::ask`], the one path
/// by which every agent calls a model (retries, then the fallback, usage and metrics).
#[derive(Clone)]
pub struct Agent {
    kind: AgentKind,
    backend: Backend,
    llm: Arc<LlmClient>,
    usage: UsageTally,
}

impl Agent {
    /// The agent's models for one job: the request's `model` overrides every agent; an agent
    /// whose providers have no key runs offline (and says why).
    pub fn for_job(
        kind: AgentKind,
        settings: &Settings,
        job_model: Option<&str>,
        llm: Arc<LlmClient>,
        usage: UsageTally,
    ) -> Result<Self, AgentError> {
        let backend = resolve_backend(kind.settings(settings), job_model, &llm)?;
        Ok(Self {
            kind,
            backend,
            llm,
            usage,
        })
    }

    /// An agent that never calls a model.
    pub fn offline(kind: AgentKind, reason: impl Into<String>, llm: Arc<LlmClient>) -> Self {
        Self {
            kind,
            backend: Backend::Offline {
                reason: reason.into(),
            },
            llm,
            usage: UsageTally::default(),
        }
    }

    pub fn name(&self) -> &'static str {
        self.kind.name()
    }

    pub fn kind(&self) -> AgentKind {
        self.kind
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    pub fn uses_model(&self) -> bool {
        matches!(self.backend, Backend::Model(_))
    }

    /// One line for the job's events: which model this agent uses, or why it runs offline.
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Offline { reason } => {
                format!("{}: {} ({reason})", self.name(), ModelName::OFFLINE)
            }
            Backend::Model(choice) => match &choice.fallback {
                Some(fallback) => {
                    format!("{}: {} (fallback {fallback})", self.name(), choice.primary)
                }
                None => format!("{}: {}", self.name(), choice.primary),
            },
        }
    }

    /// Asks the agent's model: the primary with its retries, then the fallback if the primary
    /// gave up on a failure that another model might not have (overload, outage, timeouts).
    /// A refused key or request ends at once: hiding it behind a fallback would hide a
    /// misconfiguration.
    pub async fn ask(
        &self,
        system: &str,
        user: String,
        sink: Option<&dyn ChunkSink>,
    ) -> Result<Completion, AgentError> {
        let Backend::Model(choice) = &self.backend else {
            return Err(AgentError::Config(format!(
                "the {} runs offline and cannot ask a model",
                self.name()
            )));
        };
        let request = LlmRequest {
            system: system.to_owned(),
            messages: vec![crate::llm::Message::user(user)],
            temperature: choice.temperature,
            max_tokens: choice.max_tokens,
        };
        let started = Instant::now();
        let mut result = self.llm.call(&choice.primary, &request, sink).await;
        if let (Err(error), Some(fallback)) = (&result, &choice.fallback)
            && error.is_retryable()
        {
            warn!(agent = self.name(), primary = %choice.primary, %fallback, %error, "the primary model gave up; asking the fallback");
            result = self.llm.call(fallback, &request, sink).await;
        }
        metrics::histogram!(shared::metrics::AGENT_CALL_DURATION_SECONDS.name, "agent_name" => self.name())
            .record(started.elapsed().as_secs_f64());
        let completion = result.map_err(|source| AgentError::Llm {
            agent: self.name(),
            source,
        })?;
        self.usage.add(&completion);
        Ok(completion)
    }

    /// Does `step` the way this agent's backend says (offline, or with its model) and counts
    /// the run in `agent_runs_total`: the one place every agent's `execute` goes through.
    pub(crate) async fn run<S: AgentStep>(
        &self,
        step: &S,
        state: &mut PipelineState,
        sink: Option<&dyn ChunkSink>,
    ) -> Result<(), AgentError> {
        let result = match &self.backend {
            Backend::Offline { .. } => step.offline(state),
            Backend::Model(_) => step.with_model(state, sink).await,
        };
        self.record_run(&result);
        result
    }

    /// Records `agent_runs_total` for one `execute` of this agent.
    fn record_run<T>(&self, result: &Result<T, AgentError>) {
        let status = if result.is_ok() { "success" } else { "failure" };
        metrics::counter!(shared::metrics::AGENT_RUNS_TOTAL.name, "agent_type" => self.name(), "status" => status)
            .increment(1);
    }
}

fn resolve_backend(
    settings: &AgentModelSettings,
    job_model: Option<&str>,
    llm: &LlmClient,
) -> Result<Backend, AgentError> {
    let parse = |name: &str, source: &str| {
        ModelName::parse(name).map_err(|e| AgentError::Config(format!("{source}: {e}")))
    };
    let requested = job_model.is_some();
    let (candidates, source) = match job_model {
        Some(name) => (
            vec![parse(name, "the request's model")?],
            "the request's model",
        ),
        None => {
            let mut candidates = vec![parse(&settings.primary, "the primary model")?];
            if let Some(fallback) = settings.fallback_model() {
                candidates.push(parse(fallback, "the fallback model")?);
            }
            (candidates, "the configured models")
        }
    };
    // A model is only called if this service offers it and its spend can be counted; a
    // configured model without a key is skipped below rather than refused here.
    let refuse = |refused| AgentError::Config(format!("{source}: {refused}"));
    for model in &candidates {
        if requested || llm.is_configured(model.provider) {
            llm.admits(model, requested).map_err(refuse)?;
        }
    }
    if candidates[0].is_offline() {
        return Ok(Backend::Offline {
            reason: format!("{source} asked for it"),
        });
    }
    let usable: Vec<ModelName> = candidates
        .iter()
        .filter(|model| llm.is_configured(model.provider))
        .cloned()
        .collect();
    let Some(primary) = usable.first().cloned() else {
        let missing: Vec<String> = candidates
            .iter()
            .filter(|model| !model.is_offline())
            .map(|model| {
                format!(
                    "{model} needs {}",
                    model.provider.key_variable().unwrap_or("a key")
                )
            })
            .collect();
        return Ok(Backend::Offline {
            reason: format!("no key configured: {}", missing.join(", ")),
        });
    };
    Ok(Backend::Model(ModelChoice {
        primary,
        fallback: usable.get(1).cloned(),
        temperature: settings.temperature,
        max_tokens: settings.max_tokens,
    }))
}

/// The first JSON object in a model's answer: a ```json block, else from the first `{` to
/// the last `}`.
pub(crate) fn json_object(answer: &str) -> Option<&str> {
    if let Some(block) = fenced_block(answer, &["json"]) {
        return Some(block);
    }
    let start = answer.find('{')?;
    let end = answer.rfind('}')?;
    (end > start).then(|| &answer[start..=end])
}

/// The body of the first fenced block whose info string is one of `languages`.
pub(crate) fn fenced_block<'a>(answer: &'a str, languages: &[&str]) -> Option<&'a str> {
    let mut rest = answer;
    while let Some(open) = rest.find("```") {
        let after = &rest[open + 3..];
        let line_end = after.find('\n')?;
        let info = after[..line_end].trim().to_ascii_lowercase();
        let body = &after[line_end + 1..];
        let close = body.find("```").unwrap_or(body.len());
        if languages.contains(&info.as_str()) {
            return Some(body[..close].trim_end());
        }
        rest = &body[(close + 3).min(body.len())..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(env: &[(&str, &str)]) -> Settings {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::load_from(std::path::Path::new("/nonexistent-config-dir"), env).unwrap()
    }

    fn backend(kind: AgentKind, env: &[(&str, &str)], job_model: Option<&str>) -> Backend {
        let settings = settings(env);
        let llm = Arc::new(LlmClient::from_settings(&settings).unwrap());
        Agent::for_job(kind, &settings, job_model, llm, UsageTally::default())
            .unwrap()
            .backend
    }

    #[test]
    fn without_keys_every_agent_runs_offline_and_says_which_key_is_missing() {
        let Backend::Offline { reason } = backend(AgentKind::Planner, &[], None) else {
            panic!("a planner without keys must run offline");
        };
        assert!(reason.contains("ANTHROPIC_API_KEY"), "{reason}");
        assert!(reason.contains("GEMINI_API_KEY"), "{reason}");
    }

    #[test]
    fn a_configured_primary_is_used_with_its_configured_fallback() {
        let b = backend(
            AgentKind::Generator,
            &[("OPENAI_API_KEY", "k"), ("DEEPSEEK_API_KEY", "k")],
            None,
        );
        let Backend::Model(choice) = b else {
            panic!("{b:?}")
        };
        assert_eq!(choice.primary.to_string(), "openai/gpt-4o");
        assert_eq!(
            choice.fallback.unwrap().to_string(),
            "deepseek/deepseek-coder"
        );
        assert_eq!(choice.temperature, 0.2);
        assert_eq!(choice.max_tokens, 8192);
    }

    #[test]
    fn a_primary_without_a_key_gives_way_to_a_fallback_with_one() {
        let Backend::Model(choice) = backend(AgentKind::Planner, &[("GOOGLE_API_KEY", "k")], None)
        else {
            panic!("the fallback has a key");
        };
        assert_eq!(choice.primary.to_string(), "google/gemini-pro");
        assert_eq!(choice.fallback, None);
    }

    #[test]
    fn a_model_outside_the_allow_list_or_unpriced_is_refused_before_any_call() {
        let settings = settings(&[
            ("OPENAI_API_KEY", "k"),
            ("ALLOWED_MODELS", "openai/new-model"),
        ]);
        let llm = Arc::new(LlmClient::from_settings(&settings).unwrap());
        let agent = |model| {
            Agent::for_job(
                AgentKind::Planner,
                &settings,
                Some(model),
                llm.clone(),
                UsageTally::default(),
            )
        };
        let not_offered = agent("openai/gpt-4o-mini").err().unwrap();
        assert_eq!(not_offered.code(), ErrorCode::InvalidModel);
        assert!(
            not_offered.to_string().contains("not offered"),
            "{not_offered}"
        );
        let unpriced = agent("openai/new-model").err().unwrap();
        assert!(
            unpriced.to_string().contains("LLM_ALLOW_UNPRICED"),
            "{unpriced}"
        );
    }

    #[test]
    fn the_request_model_overrides_every_agent() {
        let env = [
            ("OPENAI_API_KEY", "k"),
            ("ANTHROPIC_API_KEY", "k"),
            ("ALLOWED_MODELS", "openai/gpt-4o-mini"),
        ];
        for kind in [
            AgentKind::Planner,
            AgentKind::Generator,
            AgentKind::Validator,
        ] {
            let Backend::Model(choice) = backend(kind, &env, Some("openai/gpt-4o-mini")) else {
                panic!("{kind:?}")
            };
            assert_eq!(choice.primary.to_string(), "openai/gpt-4o-mini");
            assert_eq!(choice.fallback, None, "the request named one model");
        }
        assert!(matches!(
            backend(AgentKind::Generator, &env, Some("builtin/offline")),
            Backend::Offline { .. }
        ));
        let settings = settings(&env);
        let llm = Arc::new(LlmClient::from_settings(&settings).unwrap());
        let error = Agent::for_job(
            AgentKind::Planner,
            &settings,
            Some("acme/x"),
            llm,
            UsageTally::default(),
        )
        .err()
        .unwrap();
        assert_eq!(error.code(), ErrorCode::InvalidModel);
    }

    #[test]
    fn answers_are_found_inside_fences_or_prose() {
        let answer = "Sure:\n```json\n{\"a\": 1}\n```\nand ```python\nx = 1\n```";
        assert_eq!(json_object(answer), Some("{\"a\": 1}"));
        assert_eq!(fenced_block(answer, &["python", "py"]), Some("x = 1"));
        assert_eq!(
            json_object("the plan is {\"b\": {}} ok"),
            Some("{\"b\": {}}")
        );
        assert_eq!(fenced_block("no code here", &["python"]), None);
        assert_eq!(json_object("no json"), None);
    }
}
