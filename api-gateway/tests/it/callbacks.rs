//! Where a job may call back and which models it may name: every server-side request forgery
//! form is refused at submission with the JSON error body, and so are models this service does
//! not offer. (The worker's own checks at delivery time are in the worker's tests.)

use serde_json::json;

use e2e::{TestApp, spawn_gateway_with};

async fn app_with(env: &[(&'static str, &str)]) -> TestApp {
    spawn_gateway_with(env.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()).await
}

/// The 422's message for this body, or a panic naming the status it got.
async fn refusal(app: &TestApp, body: serde_json::Value) -> String {
    let response = app.post_design(&body).await;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert_eq!(status, 422, "{body} answered {status}: {text}");
    let error: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(error["error"]["code"], "validation_error", "{text}");
    error["error"]["message"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callback_urls_that_reach_the_service_network_are_refused() {
    let app = app_with(&[("WEBHOOK_SECRET", "s3cret-for-tests")]).await;
    let gateway_itself = format!("http://localhost:{}/api/v1/design", app.port);
    let forms = [
        "http://127.0.0.1/hook",
        "http://[::1]/hook",
        "http://localhost/hook",
        gateway_itself.as_str(),
        "http://2130706433/hook",
        "http://0x7f.0.0.1/hook",
        "http://0177.0.0.1/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
        "http://10.0.0.8/hook",
        "http://192.168.0.1/hook",
        "http://172.20.1.1/hook",
        "http://100.64.1.1/hook",
        "http://169.254.169.254/latest/meta-data/iam/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://[fe80::1]/hook",
        "ftp://example.com/hook",
        "http://user:pass@example.com/hook",
    ];
    for url in forms {
        let message = refusal(
            &app,
            json!({ "prompt": "a box 5x6x7", "callback_url": url }),
        )
        .await;
        assert!(message.starts_with("callback_url"), "{url}: {message}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_need_a_signing_secret_unless_unsigned_ones_are_allowed() {
    let unsigned = app_with(&[("WEBHOOK_ALLOW_PRIVATE", "true")]).await;
    let body = json!({ "prompt": "a box 5x6x7", "callback_url": "http://127.0.0.1:9/hook" });
    let message = refusal(&unsigned, body.clone()).await;
    assert!(message.contains("WEBHOOK_SECRET"), "{message}");

    let allowed = app_with(&[
        ("WEBHOOK_ALLOW_PRIVATE", "true"),
        ("WEBHOOK_ALLOW_UNSIGNED", "true"),
    ])
    .await;
    assert_eq!(allowed.post_design(&body).await.status(), 202);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_allow_list_limits_callbacks_to_named_hosts() {
    let app = app_with(&[
        ("WEBHOOK_SECRET", "s3cret-for-tests"),
        ("WEBHOOK_ALLOW_PRIVATE", "true"),
        ("WEBHOOK_ALLOWED_HOSTS", "localhost"),
    ])
    .await;
    let listed = json!({ "prompt": "a box 5x6x7", "callback_url": "http://localhost:9/hook" });
    assert_eq!(app.post_design(&listed).await.status(), 202);
    let other = json!({ "prompt": "a box 5x6x7", "callback_url": "http://127.0.0.1:9/hook" });
    let message = refusal(&app, other).await;
    assert!(message.contains("WEBHOOK_ALLOWED_HOSTS"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_may_only_name_the_models_this_service_offers() {
    let app = app_with(&[]).await;
    for (model, expected) in [
        (
            "google/../../../v1beta/files?key=x",
            "not a valid model name",
        ),
        ("google/a/b", "not a valid model name"),
        ("openai/gpt-4o?x=1", "not a valid model name"),
        ("foo/bar", "unknown provider"),
        ("openai/o1-pro", "not offered here"),
        ("openai/priceless-model", "not offered here"),
    ] {
        let message = refusal(&app, json!({ "prompt": "a box 5x6x7", "model": model })).await;
        assert!(
            message.starts_with("model") && message.contains(expected),
            "{model}: {message}"
        );
    }
    // The configured agent models and the offline planner are offered by default.
    for model in ["openai/gpt-4o", "gemini/gemini-pro", "builtin/offline"] {
        let body = json!({ "prompt": "a box 5x6x7", "model": model });
        assert_eq!(app.post_design(&body).await.status(), 202, "{model}");
    }
    // ALLOWED_MODELS replaces the default list.
    let narrowed = app_with(&[("ALLOWED_MODELS", "ollama/llama3")]).await;
    let gpt = json!({ "prompt": "a box 5x6x7", "model": "openai/gpt-4o" });
    assert!(refusal(&narrowed, gpt).await.contains("ollama/llama3"));
    let llama = json!({ "prompt": "a box 5x6x7", "model": "ollama/llama3" });
    assert_eq!(narrowed.post_design(&llama).await.status(), 202);
}
