//! [`LlmClient`]: every model call of the worker goes through here. It picks the vendor's
//! wire format from the provider, sends one attempt (whole or streamed), retries what can be
//! retried, prices the usage and records the `llm_*` metrics.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use shared::metrics::{LLM_CALL_DURATION_SECONDS, LLM_CALLS_TOTAL, LLM_TOKENS_USED_TOTAL};
use shared::settings::Settings;
use tracing::{debug, warn};

use super::cost::{PriceError, PriceTable};
use super::in_flight::InFlightLimit;
use super::model::{ModelName, Provider};
use super::retry::{self, RetryPolicy};
use super::sse::{SseDecoder, SseEvent};
use super::think::ThinkSplitter;
use super::{
    ChunkSink, Completion, LlmError, LlmRequest, Reply, StreamItem, UsageUpdate, WireError,
    anthropic, error_text, gemini, openai,
};
use shared::model::{AllowedModels, ModelRefusal};

/// Connecting must not take long even when the answer may.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The `model` label of models that are neither priced nor configured (e.g. a request's
/// free-form `model`), so label values stay bounded.
const OTHER_MODEL_LABEL: &str = "other";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wire {
    OpenAi,
    Anthropic,
    Gemini,
}

/// Base URL and key of each provider.
#[derive(Clone)]
struct Endpoints {
    openai: (String, Option<SecretString>),
    deepseek: (String, Option<SecretString>),
    ollama: String,
    anthropic: (String, Option<SecretString>),
    gemini: (String, Option<SecretString>),
}

#[derive(Clone)]
pub struct LlmClient {
    http: reqwest::Client,
    endpoints: Endpoints,
    prices: PriceTable,
    retry: RetryPolicy,
    stream: bool,
    timeout: Duration,
    /// Models that may appear as metric labels.
    labelled_models: HashSet<String>,
    /// `LLM_MAX_IN_FLIGHT` open requests per provider, shared by every clone.
    in_flight: Arc<InFlightLimit>,
    /// The models a job may name (`ALLOWED_MODELS`).
    allowed: AllowedModels,
    /// `LLM_ALLOW_UNPRICED`: models the price table does not list may be called.
    allow_unpriced: bool,
}

/// Why this worker will not call a model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelRefused {
    #[error("{0}")]
    NotAllowed(#[from] ModelRefusal),
    #[error(
        "{0} has no price in the price table, so its spend could not be counted; add it to \
         LLM_PRICE_FILE, or set LLM_ALLOW_UNPRICED=true"
    )]
    Unpriced(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Prices(#[from] PriceError),
    #[error("building the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error("ALLOWED_MODELS: {0}")]
    AllowedModels(#[from] shared::model::ModelNameError),
}

impl LlmClient {
    pub fn from_settings(settings: &Settings) -> Result<Self, ClientError> {
        let timeout = settings.llm.timeout;
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(timeout)
            .build()?;
        let prices = PriceTable::load(settings.llm.price_file.as_deref())?;
        let mut labelled_models: HashSet<String> = prices.models.keys().cloned().collect();
        for (_, agent) in settings.llm.agents.iter() {
            for name in [Some(agent.primary.as_str()), agent.fallback_model()]
                .into_iter()
                .flatten()
            {
                if let Ok(model) = ModelName::parse(name) {
                    labelled_models.insert(model.to_string());
                }
            }
        }
        Ok(Self {
            http,
            endpoints: Endpoints {
                openai: (
                    settings.llm.openai_base_url.clone(),
                    settings.llm.openai_api_key.clone(),
                ),
                deepseek: (
                    settings.llm.deepseek_base_url.clone(),
                    settings.llm.deepseek_api_key.clone(),
                ),
                ollama: settings.llm.ollama_base_url.clone(),
                anthropic: (
                    settings.llm.anthropic_base_url.clone(),
                    settings.llm.anthropic_api_key.clone(),
                ),
                gemini: (
                    settings.llm.gemini_base_url.clone(),
                    settings.llm.gemini_api_key.as_ref().cloned(),
                ),
            },
            prices,
            retry: RetryPolicy::from_settings(settings),
            stream: settings.llm.stream,
            timeout,
            labelled_models,
            in_flight: Arc::new(InFlightLimit::new(settings.llm.max_in_flight)),
            allowed: AllowedModels::from_settings(settings)?,
            allow_unpriced: settings.llm.allow_unpriced,
        })
    }

    /// Whether a job may use `model`: one this service offers, and priced unless the operator
    /// allows unpriced models. `requested`: a job named it (configured models need not be
    /// listed in `ALLOWED_MODELS`, which they are by default).
    pub fn admits(&self, model: &ModelName, requested: bool) -> Result<(), ModelRefused> {
        if model.is_offline() {
            return Ok(());
        }
        if requested {
            self.allowed.check(&model.to_string())?;
        }
        if !self.allow_unpriced && self.prices.price(model).is_none() {
            return Err(ModelRefused::Unpriced(model.to_string()));
        }
        Ok(())
    }

    /// The allowed models the price table does not list (the worker warns about them at start).
    pub fn unpriced_models(&self) -> Vec<String> {
        self.allowed
            .iter()
            .filter(|m| !m.is_offline() && self.prices.price(m).is_none())
            .map(ToString::to_string)
            .collect()
    }

    /// The most model requests this process has had open at once (all providers).
    pub fn most_in_flight(&self) -> usize {
        self.in_flight.most_open()
    }

    pub fn prices(&self) -> &PriceTable {
        &self.prices
    }

    /// Whether calls to this provider can be made: it has a key, or needs none (Ollama).
    pub fn is_configured(&self, provider: Provider) -> bool {
        match provider {
            Provider::Ollama => true,
            Provider::Builtin => false,
            _ => self.key(provider).is_some(),
        }
    }

    fn key(&self, provider: Provider) -> Option<&SecretString> {
        match provider {
            Provider::OpenAi => self.endpoints.openai.1.as_ref(),
            Provider::DeepSeek => self.endpoints.deepseek.1.as_ref(),
            Provider::Anthropic => self.endpoints.anthropic.1.as_ref(),
            Provider::Google => self.endpoints.gemini.1.as_ref(),
            Provider::Ollama | Provider::Builtin => None,
        }
    }

    fn model_label(&self, model: &ModelName) -> String {
        let name = model.to_string();
        if self.labelled_models.contains(&name) {
            name
        } else {
            OTHER_MODEL_LABEL.to_owned()
        }
    }

    /// One model, with retries: 429 (after its `Retry-After`), 5xx, timeouts and connection
    /// errors are tried again up to `LLM_MAX_RETRIES` times with backoff; anything else
    /// ends at once. Streams into `sink` when one is given and `LLM_STREAM` is on.
    pub async fn call(
        &self,
        model: &ModelName,
        request: &LlmRequest,
        sink: Option<&dyn ChunkSink>,
    ) -> Result<Completion, LlmError> {
        let mut retries = 0;
        loop {
            let result = match sink.filter(|_| self.stream) {
                Some(sink) => self.stream(model, request, sink).await,
                None => self.complete(model, request).await,
            };
            match result {
                Err(error) if error.is_retryable() && retries < self.retry.max_retries => {
                    retries += 1;
                    let wait = self.retry.delay(retries, error.retry_after());
                    warn!(%model, %error, retry = retries, wait_ms = wait.as_millis() as u64, "model call failed; retrying");
                    tokio::time::sleep(wait).await;
                }
                other => return other,
            }
        }
    }

    /// One attempt, answered whole.
    pub async fn complete(
        &self,
        model: &ModelName,
        request: &LlmRequest,
    ) -> Result<Completion, LlmError> {
        self.measured(model, async {
            let (wire, response) = self.send(model, request, false).await?;
            let body: Value = response.json().await.map_err(|e| {
                if e.is_decode() {
                    LlmError::InvalidReply {
                        model: model.to_string(),
                        message: format!("the body is not JSON: {e}"),
                    }
                } else {
                    self.transport_error(model, &e)
                }
            })?;
            let reply = match wire {
                Wire::OpenAi => openai::parse_reply(&body),
                Wire::Anthropic => anthropic::parse_reply(&body),
                Wire::Gemini => gemini::parse_reply(&body),
            }
            .map_err(|e| wire_error(model, e))?;
            let split = super::think::split(&reply.text);
            let mut reasoning = reply.reasoning;
            reasoning.push_str(&split.reasoning);
            Ok(self.finish(model, split.answer, reasoning, reply.usage))
        })
        .await
    }

    /// One attempt, streamed: answer and reasoning pieces go to `sink` as they arrive (one
    /// call per network read, so a burst of tiny events becomes one piece).
    pub async fn stream(
        &self,
        model: &ModelName,
        request: &LlmRequest,
        sink: &dyn ChunkSink,
    ) -> Result<Completion, LlmError> {
        self.measured(model, async {
            let (wire, response) = self.send(model, request, true).await?;
            let mut body = response.bytes_stream();
            let mut decoder = SseDecoder::new();
            let mut splitter = ThinkSplitter::new();
            let mut whole = Reply::default();
            let read = |events: Vec<SseEvent>, splitter: &mut ThinkSplitter, reply: &mut Reply| {
                let (mut answer, mut reasoning) = (String::new(), String::new());
                for event in events {
                    let items = match wire {
                        Wire::OpenAi => openai::parse_event(&event),
                        Wire::Anthropic => anthropic::parse_event(&event),
                        Wire::Gemini => gemini::parse_event(&event),
                    }
                    .map_err(|e| wire_error(model, e))?;
                    for item in items {
                        match item {
                            StreamItem::Text(text) => {
                                let split = splitter.feed(&text);
                                answer.push_str(&split.answer);
                                reasoning.push_str(&split.reasoning);
                            }
                            StreamItem::Reasoning(text) => reasoning.push_str(&text),
                            StreamItem::Usage(usage) => reply.usage.merge(usage),
                            StreamItem::Done => {}
                        }
                    }
                }
                Ok::<_, LlmError>((answer, reasoning))
            };
            loop {
                let (answer, reasoning) = match body.next().await {
                    Some(bytes) => {
                        let bytes = bytes.map_err(|e| self.transport_error(model, &e))?;
                        read(decoder.feed(&bytes), &mut splitter, &mut whole)?
                    }
                    None => {
                        let (mut answer, mut reasoning) = read(
                            decoder.finish().into_iter().collect(),
                            &mut splitter,
                            &mut whole,
                        )?;
                        let rest = splitter.finish();
                        answer.push_str(&rest.answer);
                        reasoning.push_str(&rest.reasoning);
                        emit(sink, &mut whole, answer, reasoning).await;
                        break;
                    }
                };
                emit(sink, &mut whole, answer, reasoning).await;
            }
            Ok(self.finish(model, whole.text, whole.reasoning, whole.usage))
        })
        .await
    }

    async fn send(
        &self,
        model: &ModelName,
        request: &LlmRequest,
        stream: bool,
    ) -> Result<(Wire, reqwest::Response), LlmError> {
        let key = self.key(model.provider);
        if let (None, Some(variable)) = (key, model.provider.key_variable()) {
            return Err(LlmError::MissingKey {
                model: model.to_string(),
                variable,
            });
        }
        let name = model.model.as_str();
        let (wire, url, body) = match model.provider {
            Provider::OpenAi => (
                Wire::OpenAi,
                openai::url(&self.endpoints.openai.0),
                openai::body(name, request, stream),
            ),
            Provider::DeepSeek => (
                Wire::OpenAi,
                openai::url(&self.endpoints.deepseek.0),
                openai::body(name, request, stream),
            ),
            Provider::Ollama => (
                Wire::OpenAi,
                openai::url(&format!(
                    "{}/v1",
                    self.endpoints.ollama.trim_end_matches('/')
                )),
                openai::body(name, request, stream),
            ),
            Provider::Anthropic => (
                Wire::Anthropic,
                anthropic::url(&self.endpoints.anthropic.0),
                anthropic::body(name, request, stream),
            ),
            Provider::Google => (
                Wire::Gemini,
                gemini::url(&self.endpoints.gemini.0, name, stream),
                gemini::body(request),
            ),
            Provider::Builtin => {
                return Err(LlmError::InvalidReply {
                    model: model.to_string(),
                    message: "builtin/offline is not a model; it cannot be called".to_owned(),
                });
            }
        };
        let mut builder = self.http.post(&url).json(&body);
        if let Some(key) = key {
            let mut value = match wire {
                Wire::OpenAi => HeaderValue::try_from(format!("Bearer {}", key.expose_secret())),
                Wire::Anthropic | Wire::Gemini => HeaderValue::try_from(key.expose_secret()),
            }
            .map_err(|_| LlmError::MissingKey {
                model: model.to_string(),
                variable: model.provider.key_variable().unwrap_or("its key"),
            })?;
            // Keeps the key out of any debug print of the request.
            value.set_sensitive(true);
            builder = match wire {
                Wire::OpenAi => builder.header(reqwest::header::AUTHORIZATION, value),
                Wire::Anthropic => builder
                    .header("x-api-key", value)
                    .header("anthropic-version", anthropic::VERSION),
                Wire::Gemini => builder.header("x-goog-api-key", value),
            };
        }
        debug!(%model, url, stream, "calling the model");
        let response = builder
            .send()
            .await
            .map_err(|e| self.transport_error(model, &e))?;
        let status = response.status();
        if !status.is_success() {
            let retry_after = retry::retry_after(response.headers());
            let text = response.text().await.unwrap_or_default();
            return Err(LlmError::Status {
                model: model.to_string(),
                status: status.as_u16(),
                message: error_text(&text),
                retry_after,
                variable: model.provider.key_variable(),
            });
        }
        Ok((wire, response))
    }

    fn transport_error(&self, model: &ModelName, error: &reqwest::Error) -> LlmError {
        if error.is_timeout() {
            LlmError::Timeout {
                model: model.to_string(),
                after: self.timeout,
            }
        } else {
            // The URL may carry nothing secret (keys travel in headers), but the chain is
            // what says why: refused, reset, DNS.
            let mut message = error.to_string();
            let mut source = std::error::Error::source(error);
            while let Some(cause) = source {
                message.push_str(": ");
                message.push_str(&cause.to_string());
                source = cause.source();
            }
            LlmError::Connection {
                model: model.to_string(),
                message,
            }
        }
    }

    fn finish(
        &self,
        model: &ModelName,
        text: String,
        reasoning: String,
        usage: UsageUpdate,
    ) -> Completion {
        let prompt_tokens = usage.prompt.unwrap_or(0);
        let completion_tokens = usage.completion.unwrap_or(0);
        let cost_usd = self
            .prices
            .cost(model, prompt_tokens, completion_tokens)
            .unwrap_or_else(|| {
                debug!(%model, "the model has no price; its calls count as free");
                0.0
            });
        Completion {
            model: model.clone(),
            text,
            reasoning,
            prompt_tokens,
            completion_tokens,
            cost_usd,
        }
    }

    /// Runs one attempt and records `llm_calls_total`, `llm_call_duration_seconds` and, on
    /// success, `llm_tokens_used_total` and `llm_cost_usd_total`.
    async fn measured(
        &self,
        model: &ModelName,
        attempt: impl Future<Output = Result<Completion, LlmError>>,
    ) -> Result<Completion, LlmError> {
        // Waiting for a permit is not part of the call's duration; backoff between retries
        // holds no permit.
        let permit = self.in_flight.acquire(model.provider).await;
        let started = Instant::now();
        let result = attempt.await;
        drop(permit);
        let provider = model.provider.as_str();
        let label = self.model_label(model);
        metrics::histogram!(LLM_CALL_DURATION_SECONDS.name, "provider" => provider)
            .record(started.elapsed().as_secs_f64());
        let status = match &result {
            Ok(_) => "success",
            Err(error) => error.metric_status(),
        };
        metrics::counter!(LLM_CALLS_TOTAL.name, "provider" => provider, "model" => label.clone(), "status" => status)
            .increment(1);
        if let Ok(completion) = &result {
            metrics::counter!(LLM_TOKENS_USED_TOTAL.name, "provider" => provider, "model" => label)
                .increment(completion.prompt_tokens + completion.completion_tokens);
            shared::metrics::add_llm_cost(provider, completion.cost_usd);
        }
        result
    }
}

async fn emit(sink: &dyn ChunkSink, whole: &mut Reply, answer: String, reasoning: String) {
    if !reasoning.is_empty() {
        whole.reasoning.push_str(&reasoning);
        sink.chunk(reasoning, true).await;
    }
    if !answer.is_empty() {
        whole.text.push_str(&answer);
        sink.chunk(answer, false).await;
    }
}

fn wire_error(model: &ModelName, error: WireError) -> LlmError {
    match error {
        WireError::Shape(message) => LlmError::InvalidReply {
            model: model.to_string(),
            message,
        },
        WireError::Vendor { kind, message } => LlmError::Stream {
            model: model.to_string(),
            kind,
            message,
        },
    }
}
