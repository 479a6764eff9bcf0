//! The LLM layer and the agents against fake vendors speaking each real wire format.

use shared::error_code::ErrorCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::json;
use worker::agents::planner::Planner;
use worker::agents::{Agent, AgentKind, PipelineState, UsageTally};
use worker::llm::{ChunkSink, LlmClient, LlmError, LlmRequest, Message, ModelName};

use crate::fake_vendor::{Canned, FakeVendor, Recorded, openai_reply, settings};

/// Safety net only: every call here answers in well under a second.
const LIMIT: Duration = Duration::from_secs(20);

#[derive(Default)]
struct Collected(Mutex<Vec<(String, bool)>>);

impl ChunkSink for Collected {
    fn chunk(&self, text: String, reasoning: bool) -> BoxFuture<'_, ()> {
        self.0.lock().unwrap().push((text, reasoning));
        Box::pin(async {})
    }
}

impl Collected {
    fn answer(&self) -> Vec<String> {
        self.pieces(false)
    }
    fn pieces(&self, reasoning: bool) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, r)| *r == reasoning)
            .map(|(t, _)| t.clone())
            .collect()
    }
}

fn request() -> LlmRequest {
    LlmRequest {
        system: "You are terse.".to_owned(),
        messages: vec![Message::user("Say hello.")],
        temperature: 0.3,
        max_tokens: 64,
    }
}

fn model(name: &str) -> ModelName {
    ModelName::parse(name).unwrap()
}

fn client(env: &[(&str, String)]) -> LlmClient {
    LlmClient::from_settings(&settings(env)).unwrap()
}

async fn within<T>(call: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, call)
        .await
        .expect("the call ends (safety limit)")
}

#[tokio::test]
async fn openai_complete_sends_the_wire_format_and_prices_the_usage() {
    let vendor =
        FakeVendor::start(|_, _| Canned::json(200, openai_reply("hello", 1000, 500))).await;
    let llm = client(&[
        ("OPENAI_API_KEY", "sk-test-key".into()),
        ("OPENAI_BASE_URL", format!("{}/v1", vendor.base)),
    ]);
    let answer = within(llm.complete(&model("openai/gpt-4o"), &request()))
        .await
        .unwrap();
    assert_eq!(answer.text, "hello");
    assert_eq!(
        (answer.prompt_tokens, answer.completion_tokens),
        (1000, 500)
    );
    let price = llm.prices().price(&model("openai/gpt-4o")).unwrap();
    let expected = (1000.0 * price.input + 500.0 * price.output) / 1_000_000.0;
    assert!(
        (answer.cost_usd - expected).abs() < 1e-12,
        "{}",
        answer.cost_usd
    );
    assert!(
        (answer.cost_usd - 0.0075).abs() < 1e-12,
        "2.50 and 10.00 USD per million"
    );

    let sent = &vendor.requests()[0];
    assert_eq!(sent.uri, "/v1/chat/completions");
    assert_eq!(sent.headers["authorization"], "Bearer sk-test-key");
    assert_eq!(sent.body["model"], "gpt-4o");
    assert_eq!(sent.body["temperature"], 0.3);
    assert_eq!(sent.body["max_tokens"], 64);
    assert_eq!(sent.body["stream"], false);
    assert_eq!(
        sent.body["messages"][0],
        json!({"role": "system", "content": "You are terse."})
    );
    assert_eq!(
        sent.body["messages"][1],
        json!({"role": "user", "content": "Say hello."})
    );
}

#[tokio::test]
async fn openai_stream_yields_chunks_in_order_with_think_kept_apart() {
    let vendor = FakeVendor::start(|_, _| {
        Canned::sse(&[
            "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"<thi\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"nk>a box? </th\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"ink>Hel\"}}]}\n",
            "\ndata: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\" there\"}}]}\n\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":7}}\n\ndata: [DONE]\n\n",
        ])
    })
    .await;
    let llm = client(&[
        ("OPENAI_API_KEY", "k".into()),
        ("OPENAI_BASE_URL", format!("{}/v1", vendor.base)),
    ]);
    let sink = Collected::default();
    let answer = within(llm.stream(&model("openai/gpt-4o"), &request(), &sink))
        .await
        .unwrap();
    assert_eq!(answer.text, "Hello there");
    assert_eq!(answer.reasoning, "a box? ");
    assert_eq!(sink.answer().concat(), "Hello there");
    assert!(
        sink.answer().len() >= 2,
        "streamed in pieces: {:?}",
        sink.answer()
    );
    assert_eq!(sink.pieces(true).concat(), "a box? ");
    assert_eq!((answer.prompt_tokens, answer.completion_tokens), (12, 7));
    let sent = &vendor.requests()[0];
    assert_eq!(sent.body["stream"], true);
    assert_eq!(sent.body["stream_options"]["include_usage"], true);
}

#[tokio::test]
async fn anthropic_messages_complete_and_stream() {
    let vendor = FakeVendor::start(|request, _| {
        if request.body["stream"] == true {
            Canned::sse(&[
                "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"usage\":{\"input_tokens\":20,\"output_tokens\":1}}}\n\n",
                "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n",
                "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"hmm\"}}\n\n",
                "event: ping\ndata: {\"type\":\"ping\"}\n\n",
                "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n",
                "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\" you\"}}\n\n",
                "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":9}}\n\n",
                "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
            ])
        } else {
            Canned::json(
                200,
                json!({
                    "id": "msg_1", "type": "message", "role": "assistant",
                    "content": [{"type": "thinking", "thinking": "hmm"}, {"type": "text", "text": "Hi you"}],
                    "usage": {"input_tokens": 20, "output_tokens": 9}
                }),
            )
        }
    })
    .await;
    let llm = client(&[
        ("ANTHROPIC_API_KEY", "sk-ant-test".into()),
        ("ANTHROPIC_BASE_URL", vendor.base.clone()),
    ]);
    let claude = model("anthropic/claude-3-5-sonnet-20241022");
    let whole = within(llm.complete(&claude, &request())).await.unwrap();
    let sink = Collected::default();
    let streamed = within(llm.stream(&claude, &request(), &sink))
        .await
        .unwrap();
    for answer in [&whole, &streamed] {
        assert_eq!(answer.text, "Hi you");
        assert_eq!(answer.reasoning, "hmm");
        assert_eq!((answer.prompt_tokens, answer.completion_tokens), (20, 9));
        assert!((answer.cost_usd - (20.0 * 3.0 + 9.0 * 15.0) / 1e6).abs() < 1e-12);
    }
    assert_eq!(sink.answer(), ["Hi", " you"]);
    for sent in vendor.requests() {
        assert_eq!(sent.uri, "/v1/messages");
        assert_eq!(sent.headers["x-api-key"], "sk-ant-test");
        assert_eq!(sent.headers["anthropic-version"], "2023-06-01");
        assert_eq!(sent.body["system"], "You are terse.");
        assert_eq!(sent.body["model"], "claude-3-5-sonnet-20241022");
        assert_eq!(sent.body["max_tokens"], 64);
    }
}

#[tokio::test]
async fn gemini_generate_content_complete_and_stream() {
    let vendor = FakeVendor::start(|request, _| {
        if request.uri.contains(":streamGenerateContent") {
            Canned::sse(&[
                "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"plan\",\"thought\":true}]}}]}\r\n\r\n",
                "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Good\"}]}}],\"usageMetadata\":{\"promptTokenCount\":30,\"candidatesTokenCount\":1}}\r\n\r\n",
                "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\" day\"}]},\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":30,\"candidatesTokenCount\":4}}\r\n\r\n",
            ])
        } else {
            Canned::json(
                200,
                json!({
                    "candidates": [{"content": {"role": "model", "parts": [{"text": "plan", "thought": true}, {"text": "Good day"}]}, "finishReason": "STOP"}],
                    "usageMetadata": {"promptTokenCount": 30, "candidatesTokenCount": 4, "totalTokenCount": 34}
                }),
            )
        }
    })
    .await;
    let llm = client(&[
        ("GEMINI_API_KEY", "gem-test".into()),
        ("GEMINI_BASE_URL", vendor.base.clone()),
    ]);
    let gemini = model("google/gemini-1.5-pro");
    let whole = within(llm.complete(&gemini, &request())).await.unwrap();
    let sink = Collected::default();
    let streamed = within(llm.stream(&gemini, &request(), &sink))
        .await
        .unwrap();
    for answer in [&whole, &streamed] {
        assert_eq!(answer.text, "Good day");
        assert_eq!(answer.reasoning, "plan");
        assert_eq!((answer.prompt_tokens, answer.completion_tokens), (30, 4));
    }
    assert_eq!(sink.answer(), ["Good", " day"]);
    let sent = vendor.requests();
    assert_eq!(sent[0].uri, "/v1beta/models/gemini-1.5-pro:generateContent");
    assert_eq!(
        sent[1].uri,
        "/v1beta/models/gemini-1.5-pro:streamGenerateContent?alt=sse"
    );
    for sent in &sent {
        assert_eq!(sent.headers["x-goog-api-key"], "gem-test");
        assert_eq!(
            sent.body["systemInstruction"]["parts"][0]["text"],
            "You are terse."
        );
        assert_eq!(sent.body["contents"][0]["role"], "user");
        assert_eq!(sent.body["generationConfig"]["maxOutputTokens"], 64);
    }
}

#[tokio::test]
async fn ollama_needs_no_key_and_deepseek_reasoning_is_kept_apart() {
    let vendor = FakeVendor::start(|request, _| {
        let mut reply = openai_reply("<think>local thoughts</think>ok", 5, 5);
        if request.uri.starts_with("/deepseek") {
            reply["choices"][0]["message"]["reasoning_content"] = json!("deep thoughts");
            reply["choices"][0]["message"]["content"] = json!("ok");
        }
        Canned::json(200, reply)
    })
    .await;
    let llm = client(&[
        ("OLLAMA_BASE_URL", vendor.base.clone()),
        ("DEEPSEEK_API_KEY", "ds".into()),
        ("DEEPSEEK_BASE_URL", format!("{}/deepseek/v1", vendor.base)),
    ]);
    let local = within(llm.complete(&model("ollama/qwen2.5-coder"), &request()))
        .await
        .unwrap();
    assert_eq!(
        (local.text.as_str(), local.reasoning.as_str()),
        ("ok", "local thoughts")
    );
    assert_eq!(local.cost_usd, 0.0);
    let deep = within(llm.complete(&model("deepseek/deepseek-reasoner"), &request()))
        .await
        .unwrap();
    assert_eq!(
        (deep.text.as_str(), deep.reasoning.as_str()),
        ("ok", "deep thoughts")
    );
    let sent = vendor.requests();
    assert_eq!(sent[0].uri, "/v1/chat/completions");
    assert!(sent[0].headers.get("authorization").is_none());
    assert_eq!(sent[1].uri, "/deepseek/v1/chat/completions");
    assert_eq!(sent[1].headers["authorization"], "Bearer ds");
}

#[tokio::test]
async fn a_429_with_retry_after_is_retried_after_the_wait_it_asks_for() {
    let vendor = FakeVendor::start(|_, n| match n {
        0 => Canned::json(
            429,
            json!({"error": {"message": "Rate limit reached", "type": "requests"}}),
        )
        .with_header("retry-after", "1"),
        _ => Canned::json(200, openai_reply("after the wait", 3, 2)),
    })
    .await;
    // The backoff alone would wait at least 5 minutes, beyond the safety limit: only the
    // vendor's Retry-After can make this call end in time.
    let llm = client(&[
        ("OPENAI_API_KEY", "k".into()),
        ("OPENAI_BASE_URL", format!("{}/v1", vendor.base)),
        ("LLM_RETRY_BASE_MS", "600000".into()),
        ("LLM_RETRY_MAX_MS", "600000".into()),
    ]);
    let answer = within(llm.call(&model("openai/gpt-4o"), &request(), None))
        .await
        .unwrap();
    assert_eq!(answer.text, "after the wait");
    assert_eq!(vendor.requests().len(), 2);
}

fn agent(kind: AgentKind, env: &[(&str, String)]) -> Agent {
    let settings = settings(env);
    let llm = Arc::new(LlmClient::from_settings(&settings).unwrap());
    Agent::for_job(kind, &settings, None, llm, UsageTally::default()).unwrap()
}

#[tokio::test]
async fn a_primary_that_always_fails_with_500_gives_way_to_the_fallback() {
    let vendor = FakeVendor::start(|request: &Recorded, _| {
        if request.body["model"] == "primary-model" {
            Canned::json(
                500,
                json!({"error": {"message": "The server had an error", "type": "server_error"}}),
            )
        } else {
            Canned::json(200, openai_reply("from the fallback", 10, 10))
        }
    })
    .await;
    let generator = agent(
        AgentKind::Generator,
        &[
            ("OPENAI_API_KEY", "k".into()),
            ("OPENAI_BASE_URL", format!("{}/v1", vendor.base)),
            ("AGENT_GENERATOR_PRIMARY", "openai/primary-model".into()),
            ("AGENT_GENERATOR_FALLBACK", "openai/fallback-model".into()),
            ("LLM_MAX_RETRIES", "2".into()),
        ],
    );
    let answer = within(generator.ask("system", "user".into(), None))
        .await
        .unwrap();
    assert_eq!(answer.text, "from the fallback");
    assert_eq!(answer.model.to_string(), "openai/fallback-model");
    let models: Vec<String> = vendor
        .requests()
        .iter()
        .map(|r| r.body["model"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        models,
        [
            "primary-model",
            "primary-model",
            "primary-model",
            "fallback-model"
        ],
        "the first attempt, two retries, then the fallback"
    );
}

#[tokio::test]
async fn a_401_fails_at_once_with_a_clear_error_and_no_retry_or_fallback() {
    let vendor = FakeVendor::start(|_, _| {
        Canned::json(
            401,
            json!({"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error", "code": "invalid_api_key"}}),
        )
    })
    .await;
    let planner = agent(
        AgentKind::Planner,
        &[
            ("OPENAI_API_KEY", "sk-wrong".into()),
            ("OPENAI_BASE_URL", format!("{}/v1", vendor.base)),
            ("AGENT_PLANNER_PRIMARY", "openai/gpt-4o".into()),
            ("AGENT_PLANNER_FALLBACK", "openai/gpt-4o-mini".into()),
        ],
    );
    let error = within(planner.ask("system", "user".into(), None))
        .await
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::LlmAuthFailed);
    let message = error.to_string();
    assert!(message.contains("401"), "{message}");
    assert!(message.contains("Incorrect API key provided."), "{message}");
    assert!(message.contains("OPENAI_API_KEY"), "{message}");
    assert!(
        !message.contains("sk-wrong"),
        "the key never appears: {message}"
    );
    assert_eq!(vendor.requests().len(), 1, "no retry, no fallback");
}

#[tokio::test]
async fn malformed_replies_are_clear_errors_without_retries() {
    let vendor = FakeVendor::start(
        |request: &Recorded, _| match request.body["model"].as_str() {
            Some("broken-json") => Canned::text(200, "{\"choices\": [oops"),
            Some("prose") => Canned::json(200, openai_reply("I would use a box.", 1, 1)),
            _ => Canned::sse(&[
                "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n",
                "data: {not json\n\n",
            ]),
        },
    )
    .await;
    let env = |primary: &str| {
        vec![
            ("OPENAI_API_KEY", "k".to_owned()),
            ("OPENAI_BASE_URL", format!("{}/v1", vendor.base)),
            ("AGENT_PLANNER_PRIMARY", primary.to_owned()),
            ("AGENT_GENERATOR_PRIMARY", primary.to_owned()),
            ("AGENT_PLANNER_FALLBACK", "none".to_owned()),
            ("AGENT_GENERATOR_FALLBACK", "none".to_owned()),
        ]
    };
    let llm = client(&env("openai/broken-json"));
    let error = within(llm.call(&model("openai/broken-json"), &request(), None))
        .await
        .unwrap_err();
    assert!(matches!(error, LlmError::InvalidReply { .. }), "{error}");
    assert!(error.to_string().contains("not JSON"), "{error}");
    let error = within(llm.stream(
        &model("openai/broken-stream"),
        &request(),
        &Collected::default(),
    ))
    .await
    .unwrap_err();
    assert_eq!(error.code(), ErrorCode::LlmInvalidReply, "{error}");

    let planner = Planner {
        agent: agent(AgentKind::Planner, &env("openai/prose")),
    };
    let mut state = PipelineState {
        prompt: "a box".to_owned(),
        ..PipelineState::default()
    };
    let error = within(planner.execute(&mut state, None)).await.unwrap_err();
    assert_eq!(error.code(), ErrorCode::LlmInvalidReply);
    assert!(error.to_string().contains("no JSON object"), "{error}");

    let generator = worker::agents::generator::Generator {
        agent: agent(AgentKind::Generator, &env("openai/prose")),
    };
    state.plan = Some(worker::offline_planner::DesignPlan {
        summary: "Box".to_owned(),
        steps: Vec::new(),
        expected: Default::default(),
        notes: Vec::new(),
    });
    let error = within(generator.execute(&mut state, None))
        .await
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::LlmInvalidReply);
    assert!(
        error.to_string().contains("no ```python code block"),
        "{error}"
    );
    assert_eq!(vendor.requests().len(), 4, "none of these was retried");
}

#[tokio::test]
async fn a_per_agent_environment_override_changes_the_model_requested() {
    let vendor = FakeVendor::start(|_, _| {
        Canned::json(
            200,
            openai_reply(
                "{\"summary\": \"Box 10 x 10 x 10 mm\", \"steps\": [\"makeBox\"], \"expected\": {\"bbox\": [10, 10, 10], \"volume\": 1000, \"solids\": 1}}",
                40,
                30,
            ),
        )
    })
    .await;
    let settings = settings(&[
        ("OPENAI_API_KEY", "k".into()),
        ("OPENAI_BASE_URL", format!("{}/v1", vendor.base)),
        ("AGENT_PLANNER_PRIMARY", "openai/my-planner-model".into()),
        ("AGENT_PLANNER_TEMPERATURE", "0.65".into()),
        ("AGENT_PLANNER_MAX_TOKENS", "321".into()),
    ]);
    let llm = Arc::new(LlmClient::from_settings(&settings).unwrap());
    let usage = UsageTally::default();
    let planner = Planner {
        agent: Agent::for_job(AgentKind::Planner, &settings, None, llm, usage.clone()).unwrap(),
    };
    let mut state = PipelineState {
        prompt: "a 10 mm cube".to_owned(),
        ..PipelineState::default()
    };
    within(planner.execute(&mut state, None)).await.unwrap();
    let plan = state.plan.unwrap();
    assert_eq!(plan.expected.bbox, Some([10.0, 10.0, 10.0]));
    let sent = &vendor.requests()[0];
    assert_eq!(sent.body["model"], "my-planner-model");
    assert_eq!(sent.body["temperature"], 0.65);
    assert_eq!(sent.body["max_tokens"], 321);
    let total = usage.total();
    assert_eq!((total.prompt_tokens, total.completion_tokens), (40, 30));
    assert_eq!(total.cost_usd, 0.0, "an unlisted model is not priced");
}

#[tokio::test]
async fn calls_are_counted_in_the_llm_metrics() {
    let handle = shared::telemetry::prometheus();
    let vendor = FakeVendor::start(|_, _| Canned::json(200, openai_reply("hi", 100, 50))).await;
    let llm = client(&[
        ("OPENAI_API_KEY", "k".into()),
        ("OPENAI_BASE_URL", format!("{}/v1", vendor.base)),
    ]);
    within(llm.call(&model("openai/gpt-4o-mini"), &request(), None))
        .await
        .unwrap();
    within(llm.call(&model("openai/unlisted-model-x"), &request(), None))
        .await
        .unwrap();
    let mut page = handle.render();
    // The float counter of dollars lives beside the recorder (see `shared::metrics`).
    shared::metrics::render_llm_cost(&mut page);
    for line in [
        "llm_calls_total{provider=\"openai\",model=\"openai/gpt-4o-mini\",status=\"success\"}",
        "llm_tokens_used_total{provider=\"openai\",model=\"openai/gpt-4o-mini\"}",
        "llm_calls_total{provider=\"openai\",model=\"other\",status=\"success\"}",
        "llm_cost_usd_total{provider=\"openai\"}",
        "llm_call_duration_seconds_bucket{provider=\"openai\"",
    ] {
        assert!(page.contains(line), "{line} missing from:\n{page}");
    }
    assert!(
        !page.contains("unlisted-model-x"),
        "model labels stay bounded"
    );
}
