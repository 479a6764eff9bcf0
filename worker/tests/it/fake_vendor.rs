//! A local HTTP server standing in for an LLM vendor: it records every request and answers
//! with what the test's responder returns, as JSON or as an SSE stream sent in pieces.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde_json::Value;
use shared::settings::Settings;

/// One request as the vendor saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Path and query.
    pub uri: String,
    pub headers: HeaderMap,
    pub body: Value,
}

/// One answer.
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    /// Sent as separate network writes, so a client sees them as separate reads.
    pub pieces: Vec<String>,
    pub content_type: &'static str,
}

impl Canned {
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            pieces: vec![body.to_string()],
            content_type: "application/json",
        }
    }

    pub fn text(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: Vec::new(),
            pieces: vec![body.to_owned()],
            content_type: "application/json",
        }
    }

    /// An SSE stream: each piece is written as it stands (the test decides the framing).
    pub fn sse(pieces: &[&str]) -> Self {
        Self {
            status: 200,
            headers: Vec::new(),
            pieces: pieces.iter().map(|p| (*p).to_owned()).collect(),
            content_type: "text/event-stream",
        }
    }

    pub fn with_header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }
}

type Responder = dyn Fn(&Recorded, usize) -> Canned + Send + Sync;

pub struct FakeVendor {
    /// `http://127.0.0.1:{port}`
    pub base: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl FakeVendor {
    /// Starts a vendor that answers request number `n` (from 0) with `respond(request, n)`.
    pub async fn start(
        respond: impl Fn(&Recorded, usize) -> Canned + Send + Sync + 'static,
    ) -> Self {
        let requests: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let respond: Arc<Responder> = Arc::new(respond);
        let seen = requests.clone();
        let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let seen = seen.clone();
            let respond = respond.clone();
            async move {
                let recorded = Recorded {
                    uri: uri.to_string(),
                    headers,
                    body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                };
                let canned = {
                    let mut seen = seen.lock().unwrap();
                    seen.push(recorded.clone());
                    respond(&recorded, seen.len() - 1)
                };
                let pieces = canned
                    .pieces
                    .into_iter()
                    .map(|piece| Ok::<_, std::io::Error>(Bytes::from(piece)));
                let stream = futures::stream::iter(pieces).then(|piece| async move {
                    // Lets each piece leave as its own write.
                    tokio::task::yield_now().await;
                    piece
                });
                let mut response = Response::builder()
                    .status(StatusCode::from_u16(canned.status).unwrap())
                    .header("content-type", canned.content_type);
                for (name, value) in canned.headers {
                    response = response.header(name, value);
                }
                response.body(Body::from_stream(stream)).unwrap()
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, requests }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

use futures::StreamExt;

/// Settings with `env` on top of the defaults, and fast retries unless `env` says otherwise.
pub fn settings(env: &[(&str, String)]) -> Settings {
    let mut vars: HashMap<String, String> = HashMap::from([
        ("LLM_RETRY_BASE_MS".to_owned(), "10".to_owned()),
        ("LLM_RETRY_MAX_MS".to_owned(), "50".to_owned()),
        // The fake vendors' made-up models have no price; the refusal of unpriced models is
        // tested end to end in the gateway's agents tests.
        ("LLM_ALLOW_UNPRICED".to_owned(), "true".to_owned()),
    ]);
    for (key, value) in env {
        vars.insert((*key).to_owned(), value.clone());
    }
    Settings::load_from(Path::new("/nonexistent-config-dir"), vars).expect("test settings")
}

/// An OpenAI chat completion with usage.
pub fn openai_reply(content: &str, prompt_tokens: u64, completion_tokens: u64) -> Value {
    serde_json::json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": content },
            "finish_reason": "stop"
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens
        }
    })
}
