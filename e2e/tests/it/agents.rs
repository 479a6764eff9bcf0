//! The agent loop end to end (gateway, Redis, worker, real FreeCAD) with its models on a fake
//! OpenAI-compatible server; and the refine route.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::Response;
use serde_json::{Value, json};
use shared::job::DesignStatus;

use e2e::{AppOptions, TestApp, error_code, spawn_app, spawn_app_with};

const JOB_LIMIT: Duration = Duration::from_secs(120);

/// Which agent a request comes from, by the system prompt it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Planner,
    Generator,
    Validator,
}

fn role_of(request: &Value) -> Role {
    let system = request["messages"][0]["content"]
        .as_str()
        .unwrap_or_default();
    if system.starts_with("You plan") {
        Role::Planner
    } else if system.starts_with("You write FreeCAD") {
        Role::Generator
    } else if system.starts_with("You review") {
        Role::Validator
    } else {
        panic!("a request from no known agent: {system}")
    }
}

type Answer = dyn Fn(Role, usize) -> String + Send + Sync;

/// A fake OpenAI-compatible server: answers each agent with `answer(role, nth request of that
/// role)`, as JSON or as an SSE stream in several chunks, with usage; records the requests.
pub(crate) struct FakeModel {
    base: String,
    requests: Arc<Mutex<Vec<(Role, Value)>>>,
}

impl FakeModel {
    pub(crate) async fn start(
        answer: impl Fn(Role, usize) -> String + Send + Sync + 'static,
    ) -> Self {
        let requests: Arc<Mutex<Vec<(Role, Value)>>> = Arc::default();
        let answer: Arc<Answer> = Arc::new(answer);
        let seen = requests.clone();
        let app = axum::Router::new().route(
            "/v1/chat/completions",
            axum::routing::post(move |body: Bytes| {
                let seen = seen.clone();
                let answer = answer.clone();
                async move {
                    let request: Value = serde_json::from_slice(&body).unwrap();
                    let role = role_of(&request);
                    let text = {
                        let mut seen = seen.lock().unwrap();
                        let nth = seen.iter().filter(|(r, _)| *r == role).count();
                        seen.push((role, request.clone()));
                        answer(role, nth)
                    };
                    if request["stream"] == true {
                        let mut frames: Vec<String> = text
                            .split_inclusive('\n')
                            .map(|piece| {
                                let chunk = json!({"choices": [{"index": 0, "delta": {"content": piece}}]});
                                format!("data: {chunk}\n\n")
                            })
                            .collect();
                        let usage = json!({"choices": [], "usage": {"prompt_tokens": 100, "completion_tokens": 50}});
                        frames.push(format!("data: {usage}\n\ndata: [DONE]\n\n"));
                        let stream = futures::stream::iter(
                            frames.into_iter().map(|f| Ok::<_, std::io::Error>(Bytes::from(f))),
                        );
                        Response::builder()
                            .header("content-type", "text/event-stream")
                            .body(Body::from_stream(stream))
                            .unwrap()
                    } else {
                        let reply = json!({
                            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}}],
                            "usage": {"prompt_tokens": 100, "completion_tokens": 50}
                        });
                        Response::builder()
                            .header("content-type", "application/json")
                            .body(Body::from(reply.to_string()))
                            .unwrap()
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, requests }
    }

    fn requests_of(&self, role: Role) -> Vec<Value> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|(r, _)| *r == role)
            .map(|(_, body)| body.clone())
            .collect()
    }

    pub(crate) fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("OPENAI_API_KEY", "sk-fake".to_owned()),
            ("OPENAI_BASE_URL", format!("{}/v1", self.base)),
            ("ALLOWED_MODELS", "openai/fake-model".to_owned()),
            // The fake model has no price; the next test shows the refusal without this.
            ("LLM_ALLOW_UNPRICED", "true".to_owned()),
        ]
    }
}

pub(crate) const PLAN: &str = "```json\n{\"summary\": \"Block 20 x 10 x 5 mm\", \"steps\": [\"make a box\"], \
    \"expected\": {\"bbox\": [20, 10, 5], \"volume\": 1000, \"solids\": 1}}\n```";
pub(crate) const REVIEW: &str = "{\"score\": 0.95, \"approved\": true, \"feedback\": []}";

pub(crate) fn script(length: f64) -> String {
    format!(
        "Here it is:\n```python\nimport FreeCAD as App\nimport Part\n\ndoc = App.ActiveDocument\n\
         shape = Part.makeBox({length}, 10, 5)\ndoc.addObject(\"Part::Feature\", \"Part\").Shape = shape\n\
         doc.recompute()\n```\n"
    )
}

const BROKEN_SCRIPT: &str =
    "```python\nimport FreeCAD as App\nimport Part\n\nshape = Part.makeBox(20, 10)\n```";

async fn app_on(model: &FakeModel) -> TestApp {
    spawn_app_with(AppOptions {
        env: model.env(),
        ..AppOptions::default()
    })
    .await
}

fn user_text(request: &Value) -> String {
    request["messages"][1]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planner_generator_and_validator_run_on_the_model_end_to_end() {
    let model = FakeModel::start(|role, _| match role {
        Role::Planner => PLAN.to_owned(),
        Role::Generator => script(20.0),
        Role::Validator => REVIEW.to_owned(),
    })
    .await;
    let app = app_on(&model).await;
    let id = app
        .submit(&json!({ "prompt": "a block 20 by 10 by 5 mm", "model": "openai/fake-model" }))
        .await;
    let status = app.wait_for_end(&id, JOB_LIMIT).await;
    assert_eq!(status.status, DesignStatus::Completed, "{status:?}");
    assert_eq!(status.current_iteration, 1);
    assert_eq!(status.plan_summary.as_deref(), Some("Block 20 x 10 x 5 mm"));
    assert!(
        status
            .generated_script
            .as_deref()
            .unwrap()
            .contains("Part.makeBox(20, 10, 5)"),
        "the fake's script ran: {status:?}"
    );
    assert_eq!(status.geometry.as_ref().unwrap().bbox, [20.0, 10.0, 5.0]);
    // Exact geometry (1.0) with a review of 0.95: a review below the measurement pulls the
    // score halfway down.
    assert_eq!(status.validation_score, Some(0.975));
    assert_eq!(status.usage.prompt_tokens, 300, "three calls of 100");
    assert_eq!(status.usage.completion_tokens, 150);
    let default_formats = shared::job::OutputFormat::DEFAULT.len();
    assert_eq!(status.artifacts.len(), default_formats);
    for role in [Role::Planner, Role::Generator, Role::Validator] {
        let requests = model.requests_of(role);
        assert_eq!(requests.len(), 1, "{role:?}");
        assert_eq!(
            requests[0]["model"], "fake-model",
            "the request's model for every agent"
        );
    }

    let events = app
        .sse(None, &id, None)
        .await
        .collect_to_end(JOB_LIMIT)
        .await;
    let generated: String = events
        .iter()
        .filter(|e| e.event == "llm_chunk" && e.data["data"]["agent"] == "generator")
        .map(|e| e.data["data"]["content"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        generated,
        script(20.0),
        "the streamed chunks, in order, are the answer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_script_is_fixed_with_the_feedback_in_the_second_iteration() {
    let model = FakeModel::start(|role, nth| match (role, nth) {
        (Role::Planner, _) => PLAN.to_owned(),
        (Role::Generator, 0) => BROKEN_SCRIPT.to_owned(),
        (Role::Generator, _) => script(20.0),
        (Role::Validator, _) => REVIEW.to_owned(),
    })
    .await;
    let app = app_on(&model).await;
    let id = app
        .submit(&json!({ "prompt": "a block 20 by 10 by 5 mm", "model": "openai/fake-model" }))
        .await;
    let status = app.wait_for_end(&id, JOB_LIMIT).await;
    assert_eq!(status.status, DesignStatus::Completed, "{status:?}");
    assert_eq!(status.current_iteration, 2);
    let generator = model.requests_of(Role::Generator);
    assert_eq!(generator.len(), 2);
    let second = user_text(&generator[1]);
    assert!(second.contains("failed in FreeCAD"), "{second}");
    assert!(
        second.contains("makeBox(20, 10)"),
        "the broken script is shown: {second}"
    );
    assert!(!user_text(&generator[0]).contains("rejected"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_that_is_never_right_fails_at_max_iterations() {
    let model = FakeModel::start(|role, _| match role {
        Role::Planner => PLAN.to_owned(),
        Role::Generator => script(40.0),
        Role::Validator => REVIEW.to_owned(),
    })
    .await;
    let app = app_on(&model).await;
    let id = app
        .submit(&json!({
            "prompt": "a block 20 by 10 by 5 mm",
            "model": "openai/fake-model",
            "max_iterations": 3
        }))
        .await;
    let status = app.wait_for_end(&id, JOB_LIMIT).await;
    assert_eq!(status.status, DesignStatus::Failed, "{status:?}");
    assert_eq!(status.current_iteration, 3);
    let message = status.error_message.as_deref().unwrap();
    assert!(message.contains("after 3 of at most 3"), "{message}");
    let generator = model.requests_of(Role::Generator);
    assert_eq!(generator.len(), 3, "never past max_iterations");
    for later in &generator[1..] {
        let text = user_text(later);
        assert!(
            text.contains("bounding box"),
            "the validator's feedback: {text}"
        );
    }
    // The wrong box scores 1/3: below refine, above fail, so the planner planned again.
    assert_eq!(model.requests_of(Role::Planner).len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpriced_model_is_never_called_unless_the_operator_allows_it() {
    let model = FakeModel::start(|_, _| PLAN.to_owned()).await;
    let mut env = model.env();
    env.retain(|(name, _)| *name != "LLM_ALLOW_UNPRICED");
    let app = spawn_app_with(AppOptions {
        env,
        ..AppOptions::default()
    })
    .await;
    let id = app
        .submit(&json!({ "prompt": "a block 20 by 10 by 5 mm", "model": "openai/fake-model" }))
        .await;
    let status = app.wait_for_end(&id, JOB_LIMIT).await;
    assert_eq!(status.status, DesignStatus::Failed, "{status:?}");
    assert_eq!(
        status.error_code.as_deref(),
        Some("invalid_model"),
        "{status:?}"
    );
    let message = status.error_message.as_deref().unwrap();
    assert!(message.contains("LLM_ALLOW_UNPRICED"), "{message}");
    for role in [Role::Planner, Role::Generator, Role::Validator] {
        assert!(model.requests_of(role).is_empty(), "the model was called");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_model_fails_the_job_with_a_clear_error() {
    let app = spawn_app_with(AppOptions {
        env: vec![
            ("OPENAI_API_KEY", "sk-wrong".to_owned()),
            // Nothing listens there.
            ("OPENAI_BASE_URL", "http://127.0.0.1:9/v1".to_owned()),
            ("LLM_MAX_RETRIES", "0".to_owned()),
        ],
        ..AppOptions::default()
    })
    .await;
    let id = app
        .submit(&json!({ "prompt": "a block", "model": "openai/gpt-4o" }))
        .await;
    let status = app.wait_for_end(&id, JOB_LIMIT).await;
    assert_eq!(status.status, DesignStatus::Failed, "{status:?}");
    assert_eq!(
        status.error_code.as_deref(),
        Some("llm_unavailable"),
        "{status:?}"
    );
    assert!(
        status
            .error_message
            .as_deref()
            .unwrap()
            .contains("openai/gpt-4o"),
        "{status:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refine_reruns_a_completed_design_with_the_feedback() {
    let app = spawn_app().await;
    let id = app.submit(&json!({ "prompt": "a box 30x20x10 mm" })).await;
    assert_eq!(
        app.wait_for_end(&id, JOB_LIMIT).await.status,
        DesignStatus::Completed
    );

    let refine = |feedback: Value| {
        app.client
            .post(app.url(&format!("/api/v1/design/{id}/refine")))
            .json(&json!({ "feedback": feedback }))
            .send()
    };
    assert_eq!(
        error_code(refine(json!("")).await.unwrap(), 422).await,
        "validation_error"
    );
    assert_eq!(
        error_code(refine(json!("x".repeat(2001))).await.unwrap(), 422).await,
        "validation_error"
    );
    let response = refine(json!("make it a box 40x20x10 mm")).await.unwrap();
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "refining");
    assert_eq!(body["request_id"], id.as_str());
    let status = app.wait_for_end(&id, JOB_LIMIT).await;
    assert_eq!(status.status, DesignStatus::Completed, "{status:?}");
    assert_eq!(
        status.geometry.as_ref().unwrap().bbox,
        [40.0, 20.0, 10.0],
        "{status:?}"
    );
}

/// Offline, feedback edits the completed part; feedback the planner cannot apply fails the
/// refine with `unsupported_feedback` and the previous result stays: its geometry, its
/// artifact list and its files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_refine_edits_the_part_or_fails_keeping_the_previous_result() {
    let app = spawn_app().await;
    let id = app.submit(&json!({ "prompt": "a box 30x20x10 mm" })).await;
    assert_eq!(
        app.wait_for_end(&id, JOB_LIMIT).await.status,
        DesignStatus::Completed
    );
    let refine = |feedback: &str| {
        app.client
            .post(app.url(&format!("/api/v1/design/{id}/refine")))
            .json(&json!({ "feedback": feedback }))
            .send()
    };
    assert_eq!(refine("make it 20 mm taller").await.unwrap().status(), 202);
    let status = app.wait_for_end(&id, JOB_LIMIT).await;
    assert_eq!(status.status, DesignStatus::Completed, "{status:?}");
    assert_eq!(
        status.geometry.as_ref().unwrap().bbox,
        [30.0, 20.0, 30.0],
        "{status:?}"
    );
    let step = app.get(&format!("/api/v1/design/{id}/download/step")).await;
    assert_eq!(step.status(), 200);
    let before = step.bytes().await.unwrap();

    assert_eq!(refine("make it look nicer").await.unwrap().status(), 202);
    let status = app.wait_for_end(&id, JOB_LIMIT).await;
    assert_eq!(status.status, DesignStatus::Failed, "{status:?}");
    assert_eq!(
        status.error_code.as_deref(),
        Some("unsupported_feedback"),
        "{status:?}"
    );
    let message = status.error_message.as_deref().unwrap();
    assert!(message.contains("Box 30 x 20 x 30 mm"), "{message}");
    assert_eq!(
        status.geometry.as_ref().unwrap().bbox,
        [30.0, 20.0, 30.0],
        "{status:?}"
    );
    let step = app.get(&format!("/api/v1/design/{id}/download/step")).await;
    assert_eq!(step.status(), 200, "the previous file stays downloadable");
    assert_eq!(step.bytes().await.unwrap(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refine_needs_a_completed_design_of_ones_own() {
    let app = spawn_app_with(AppOptions {
        env: vec![
            ("AUTH_ENABLED", "true".to_owned()),
            (
                "AUTH_API_KEYS",
                "alice:alice-key-1,bob:bob-key-2".to_owned(),
            ),
            (
                "JWT_SECRET_KEY",
                "0123456789abcdef0123456789abcdef".to_owned(),
            ),
        ],
        ..AppOptions::default()
    })
    .await;
    let submit = |prompt: &str| {
        app.client
            .post(app.url("/api/v1/design"))
            .header("x-api-key", "alice-key-1")
            .json(&json!({ "prompt": prompt }))
            .send()
    };
    let refine = |id: &str, key: &str| {
        app.client
            .post(app.url(&format!("/api/v1/design/{id}/refine")))
            .header("x-api-key", key)
            .json(&json!({ "feedback": "thicker" }))
            .send()
    };
    let failed: Value = submit("a worm gear with 20 teeth")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let failed_id = failed["request_id"].as_str().unwrap().to_owned();
    let done: Value = submit("a box 30x20x10 mm")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let done_id = done["request_id"].as_str().unwrap().to_owned();
    let alice = Some("alice-key-1");
    let failed = app.wait_for_end_as(&failed_id, alice, JOB_LIMIT).await;
    assert_eq!(failed.status, DesignStatus::Failed, "{failed:?}");
    let done = app.wait_for_end_as(&done_id, alice, JOB_LIMIT).await;
    assert_eq!(done.status, DesignStatus::Completed, "{done:?}");

    let conflict = refine(&failed_id, "alice-key-1").await.unwrap();
    assert_eq!(error_code(conflict, 409).await, "invalid_state");
    let foreign = refine(&done_id, "bob-key-2").await.unwrap();
    assert_eq!(error_code(foreign, 404).await, "design_not_found");
    let unknown = refine(&shared::job_id::JobId::new().to_string(), "alice-key-1")
        .await
        .unwrap();
    assert_eq!(error_code(unknown, 404).await, "design_not_found");
    assert_eq!(refine(&done_id, "alice-key-1").await.unwrap().status(), 202);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_written_design_is_cached_only_when_the_request_asks() {
    let model = FakeModel::start(|role, _| match role {
        Role::Planner => PLAN.to_owned(),
        Role::Generator => script(20.0),
        Role::Validator => REVIEW.to_owned(),
    })
    .await;
    let app = app_on(&model).await;
    let freecad_runs = || -> u64 { app.worker_runners.iter().map(|r| r.executions()).sum() };
    let design = |cache: bool| json!({ "prompt": "a block 20 by 10 by 5 mm", "model": "openai/fake-model", "cache": cache });
    for round in 1..=2 {
        let id = app.submit(&design(false)).await;
        let status = app.wait_for_end(&id, JOB_LIMIT).await;
        assert_eq!(status.status, DesignStatus::Completed, "{status:?}");
        assert!(!status.cached, "not asked for: {status:?}");
        assert_eq!(model.requests_of(Role::Generator).len(), round);
    }
    let first = app.submit(&design(true)).await;
    let first = app.wait_for_end(&first, JOB_LIMIT).await;
    assert!(!first.cached, "nothing was cached before: {first:?}");
    assert_eq!(model.requests_of(Role::Generator).len(), 3);
    let runs = freecad_runs();

    let second = app.submit(&design(true)).await;
    let second = app.wait_for_end(&second, JOB_LIMIT).await;
    assert_eq!(second.status, DesignStatus::Completed, "{second:?}");
    assert!(second.cached, "{second:?}");
    assert_eq!(model.requests_of(Role::Planner).len(), 3, "no model call");
    assert_eq!(model.requests_of(Role::Generator).len(), 3, "no model call");
    assert_eq!(freecad_runs(), runs, "no FreeCAD execution");
    assert_eq!(second.usage.prompt_tokens, 0, "nothing was spent on it");
    assert_eq!(second.generated_script, first.generated_script);
    assert_eq!(second.plan_summary, first.plan_summary);
    let sha256s = |status: &shared::api::DesignStatusResponse| -> Vec<String> {
        status.artifacts.iter().map(|a| a.sha256.clone()).collect()
    };
    assert_eq!(sha256s(&second), sha256s(&first));

    // Another prompt is another key.
    let other = json!({ "prompt": "a block 20 by 10 by 5 mm, please", "model": "openai/fake-model", "cache": true });
    let other = app.submit(&other).await;
    let other = app.wait_for_end(&other, JOB_LIMIT).await;
    assert!(!other.cached, "{other:?}");
    assert_eq!(model.requests_of(Role::Generator).len(), 4);
}
