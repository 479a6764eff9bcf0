//! Which routes the guard stands in front of, and which error a request with several faults
//! gets first: the extractors (`OwnedDesign`, `IdempotencyKey`) must answer as the handlers
//! did before them.

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use e2e::{TestApp, error_code, spawn_gateway_with};

const KEY: &str = "routing-key-1";

async fn idle_app(env: Vec<(&'static str, String)>) -> TestApp {
    spawn_gateway_with(env).await
}

async fn auth_app() -> TestApp {
    idle_app(vec![
        ("AUTH_ENABLED", "true".to_owned()),
        ("AUTH_API_KEYS", format!("alice:{KEY}")),
    ])
    .await
}

/// The routes the OpenAPI document does not list, with whether they are open to everyone.
const UNDOCUMENTED: &[(&str, &str, bool)] = &[
    ("GET", "/", true),
    ("GET", "/ui/app.js", true),
    ("GET", "/ui/viewer.js", true),
    ("GET", "/ui/style.css", true),
    ("GET", "/docs", true),
    ("GET", "/docs/", true),
    ("GET", "/openapi.json", true),
    ("GET", "/metrics", true),
    ("GET", "/ws", false),
    ("GET", "/ws/{request_id}", false),
    // Unknown paths, lookalikes of public ones included, are guarded too.
    ("GET", "/docsx", false),
    ("GET", "/health/x", false),
    ("GET", "/no/such/route", false),
    // A method a protected path does not take: still the guard first.
    ("PUT", "/api/v1/design", false),
    ("PATCH", "/api/v1/design/{request_id}", false),
];

/// The documented routes open to everyone; every other documented route needs a caller.
const PUBLIC_DOCUMENTED: &[&str] = &["/health", "/ready"];

fn concrete(template: &str, id: &str) -> String {
    template
        .replace("{request_id}", id)
        .replace("{format}", "step")
}

async fn send(app: &TestApp, method: &str, path: &str, key: Option<&str>) -> reqwest::Response {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = app.client.request(method, app.url(path));
    if let Some(key) = key {
        request = request.header("x-api-key", key);
    }
    request.send().await.unwrap()
}

/// Walks every route: a stranger gets into exactly the public ones, and no route answers a
/// 500 (which a handler that needs a caller would, were it mounted on the public router).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_reaches_exactly_the_public_routes() {
    let app = auth_app().await;
    let id = shared::job_id::JobId::new();
    let spec: Value = app.get("/openapi.json").await.json().await.unwrap();
    let mut routes: Vec<(String, String, bool)> = Vec::new();
    for (template, operations) in spec["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            let public = PUBLIC_DOCUMENTED.contains(&template.as_str());
            routes.push((method.to_uppercase(), template.clone(), public));
        }
    }
    assert!(routes.len() >= 15, "{routes:?}");
    for (method, template, public) in UNDOCUMENTED {
        routes.push(((*method).to_owned(), (*template).to_owned(), *public));
    }
    for (method, template, public) in routes {
        let path = concrete(&template, &id.to_string());
        let response = send(&app, &method, &path, None).await;
        let status = response.status().as_u16();
        if public {
            assert_eq!(status, 200, "{method} {path} is open to everyone");
            assert!(
                !response.headers().contains_key("ratelimit"),
                "{method} {path} is not counted"
            );
        } else {
            let challenge = response.headers().contains_key("www-authenticate");
            assert_eq!(
                error_code(response, 401).await,
                "unauthorized",
                "{method} {path}"
            );
            assert!(challenge, "{method} {path}");
        }
        let known = send(&app, &method, &path, Some(KEY)).await.status();
        assert!(known.as_u16() < 500, "{method} {path} with a key: {known}");
    }
    // With a key, the unknown path and the wrong method are what they are.
    let unknown = send(&app, "GET", "/docsx", Some(KEY)).await;
    assert_eq!(error_code(unknown, 404).await, "route_not_found");
    let wrong_method = send(&app, "PUT", "/api/v1/design", Some(KEY)).await;
    assert_eq!(error_code(wrong_method, 405).await, "method_not_allowed");
    let public_wrong_method = send(&app, "POST", "/health", None).await;
    assert_eq!(
        error_code(public_wrong_method, 405).await,
        "method_not_allowed"
    );
}

async fn post_json(app: &TestApp, path: &str, body: &str, headers: &[(&str, &str)]) -> String {
    let mut request = app
        .client
        .post(app.url(path))
        .header("content-type", "application/json")
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    format!("{status} {}", error_code(response, status).await)
}

/// A body's own faults come before the design's 404 and the idempotency key's 422, as when
/// the handlers checked them in that order themselves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_body_is_judged_before_the_design_and_the_key() {
    let app = idle_app(Vec::new()).await;
    let unknown = uuid::Uuid::new_v4();
    let refine = format!("/api/v1/design/{unknown}/refine");
    let feedback = format!("/api/v1/design/{unknown}/feedback");
    let cases = [
        (refine.as_str(), "{", "400 malformed_json"),
        (
            refine.as_str(),
            r#"{"feedback":""}"#,
            "422 validation_error",
        ),
        (
            refine.as_str(),
            r#"{"feedback":"thicker"}"#,
            "404 design_not_found",
        ),
        (feedback.as_str(), "{", "400 malformed_json"),
        (
            feedback.as_str(),
            r#"{"rating":"thumbs_up","comment":"" }"#,
            "404 design_not_found",
        ),
        (
            "/api/v1/design/not-a-uuid/refine",
            r#"{"feedback":""}"#,
            "422 validation_error",
        ),
    ];
    for (path, body, expected) in cases {
        assert_eq!(
            post_json(&app, path, body, &[]).await,
            expected,
            "{path} {body}"
        );
    }
    let export = app
        .get(&format!("/api/v1/design/{unknown}/export?formats=fbx"))
        .await;
    assert_eq!(error_code(export, 422).await, "validation_error");

    let bad_key = [("idempotency-key", "   ")];
    let design = "/api/v1/design";
    assert_eq!(
        post_json(&app, design, "{", &bad_key).await,
        "400 malformed_json"
    );
    assert_eq!(
        post_json(&app, design, r#"{"prompt":"a box 1x1x1"}"#, &bad_key).await,
        "422 validation_error"
    );
    let long_key = "k".repeat(256);
    let too_long = [("idempotency-key", long_key.as_str())];
    let body = r#"{"prompt":"a box 1x1x1","enable_execution":false}"#;
    assert_eq!(
        post_json(&app, design, body, &too_long).await,
        "422 validation_error"
    );
    // A key of the longest length is taken, and a repeat answers the same job.
    let longest = "k".repeat(255);
    let mut ids = Vec::new();
    for _ in 0..2 {
        let response = app
            .client
            .post(app.url(design))
            .header("idempotency-key", longest.as_str())
            .json(&json!({ "prompt": "a box 1x1x1", "enable_execution": false }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        ids.push(response.json::<Value>().await.unwrap()["request_id"].clone());
    }
    assert_eq!(ids[0], ids[1]);
}

/// `provider/model` is parsed with the request, over HTTP and over `/ws` alike: an unknown
/// provider is a 422 (an `error` message on the socket), never a job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_provider_is_refused_over_http_and_websocket() {
    let app = idle_app(Vec::new()).await;
    let response = app
        .post_design(&json!({ "prompt": "a box 1x1x1", "model": "foo/bar" }))
        .await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "validation_error");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("model:") && message.contains("unknown provider"),
        "{message}"
    );

    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/ws", app.port))
            .await
            .unwrap();
    let request = json!({ "type": "stream_design", "prompt": "a box 1x1x1", "model": "foo/bar" });
    socket
        .send(Message::Text(request.to_string().into()))
        .await
        .unwrap();
    let reply = loop {
        match socket.next().await.unwrap().unwrap() {
            Message::Text(text) => break serde_json::from_str::<Value>(&text).unwrap(),
            _ => continue,
        }
    };
    assert_eq!(reply["type"], "error", "{reply}");
    assert_eq!(reply["code"], "validation_error", "{reply}");
    assert!(
        reply["message"]
            .as_str()
            .is_some_and(|m| m.contains("unknown provider")),
        "{reply}"
    );
    let listing: Value = app.get("/api/v1/designs").await.json().await.unwrap();
    assert_eq!(listing["designs"], json!([]), "no job was made");
}
