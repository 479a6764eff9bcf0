//! `LLM_MAX_IN_FLIGHT`: however many jobs call a provider at once, no more requests are open
//! to it than the limit; another provider keeps its own permits.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::Uri;
use worker::llm::{LlmClient, LlmRequest, Message, ModelName};

use crate::fake_vendor::{openai_reply, settings};

/// A slow OpenAI-compatible vendor that counts the requests it has open at once.
struct CountingVendor {
    base: String,
    open: Arc<AtomicUsize>,
    most_open: Arc<AtomicUsize>,
    served: Arc<AtomicUsize>,
}

impl CountingVendor {
    async fn start(answer_after: Duration) -> Self {
        let open = Arc::new(AtomicUsize::new(0));
        let most_open = Arc::new(AtomicUsize::new(0));
        let served = Arc::new(AtomicUsize::new(0));
        let (o, m, s) = (open.clone(), most_open.clone(), served.clone());
        let app = axum::Router::new().fallback(move |_uri: Uri| {
            let (open, most_open, served) = (o.clone(), m.clone(), s.clone());
            async move {
                let now = open.fetch_add(1, Ordering::SeqCst) + 1;
                most_open.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(answer_after).await;
                open.fetch_sub(1, Ordering::SeqCst);
                served.fetch_add(1, Ordering::SeqCst);
                axum::Json(openai_reply("hello", 3, 1))
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            base,
            open,
            most_open,
            served,
        }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_more_requests_open_to_a_provider_than_llm_max_in_flight() {
    const LIMIT: usize = 4;
    const CALLS: usize = 40;
    let openai = CountingVendor::start(Duration::from_millis(100)).await;
    let deepseek = CountingVendor::start(Duration::from_millis(100)).await;
    let llm = Arc::new(
        LlmClient::from_settings(&settings(&[
            ("OPENAI_API_KEY", "sk-test".to_owned()),
            ("OPENAI_BASE_URL", format!("{}/v1", openai.base)),
            ("DEEPSEEK_API_KEY", "sk-test".to_owned()),
            ("DEEPSEEK_BASE_URL", format!("{}/v1", deepseek.base)),
            ("LLM_MAX_IN_FLIGHT", LIMIT.to_string()),
            ("LLM_STREAM", "false".to_owned()),
        ]))
        .unwrap(),
    );
    let calls = (0..CALLS).map(|i| {
        let llm = llm.clone();
        let model = if i % 2 == 0 {
            "openai/gpt-4o"
        } else {
            "deepseek/deepseek-chat"
        };
        tokio::spawn(async move {
            let model = ModelName::parse(model).unwrap();
            llm.call(&model, &request(), None).await
        })
    });
    let answers = tokio::time::timeout(Duration::from_secs(60), futures::future::join_all(calls))
        .await
        .expect("the calls end (safety limit)");
    for answer in answers {
        assert_eq!(answer.unwrap().expect("the call succeeds").text, "hello");
    }
    for (name, vendor) in [("openai", &openai), ("deepseek", &deepseek)] {
        assert_eq!(vendor.served.load(Ordering::SeqCst), CALLS / 2, "{name}");
        assert_eq!(vendor.open.load(Ordering::SeqCst), 0, "{name}");
        assert_eq!(
            vendor.most_open.load(Ordering::SeqCst),
            LIMIT,
            "{name}: {} calls at once reach the limit and never pass it",
            CALLS / 2
        );
    }
    // The two providers' permits are separate: both were at their limit together.
    assert!(llm.most_in_flight() > LIMIT);
}
