//! Authentication, tenant isolation, the shared rate limit and the active-jobs cap.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use shared::api::DesignStatusResponse;
use shared::job::DesignStatus;

use e2e::{AppOptions, TestApp, error_code, spawn_app_with};

const SECRET: &str = "test-hmac-secret-of-at-least-32-bytes!!";
const ALICE_KEY: &str = "alice-key-0001";
const BOB_KEY: &str = "bob-key-0002";

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Alice's key in plain text, Bob's only as a digest, Carol's for the burst test.
fn auth_env() -> Vec<(&'static str, String)> {
    vec![
        ("AUTH_ENABLED", "true".to_owned()),
        (
            "AUTH_API_KEYS",
            format!(
                "alice:{ALICE_KEY},bob:sha256:{},carol:carol-key-3,dave:dave-key-4",
                sha256_hex(BOB_KEY)
            ),
        ),
        ("JWT_SECRET_KEY", SECRET.to_owned()),
    ]
}

async fn auth_app(workers: usize, extra: Vec<(&'static str, String)>) -> TestApp {
    let mut env = auth_env();
    env.extend(extra);
    spawn_app_with(AppOptions {
        workers,
        env,
        ..AppOptions::default()
    })
    .await
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn hs256(sub: &str, exp: u64, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({ "sub": sub, "exp": exp, "iat": now() }),
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn alg_none(sub: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let claims = URL_SAFE_NO_PAD.encode(json!({ "sub": sub, "exp": now() + 600 }).to_string());
    format!("{header}.{claims}.")
}

enum Credential<'a> {
    Nothing,
    ApiKey(&'a str),
    Bearer(&'a str),
}

async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    credential: &Credential<'_>,
) -> reqwest::Response {
    let mut request = match method {
        "POST" => app
            .client
            .post(app.url(path))
            .json(&json!({ "prompt": "a box 1x1x1", "enable_execution": false })),
        _ => app.client.get(app.url(path)),
    };
    request = match credential {
        Credential::Nothing => request,
        Credential::ApiKey(key) => request.header("x-api-key", *key),
        Credential::Bearer(token) => request.bearer_auth(token),
    };
    request.send().await.unwrap()
}

async fn submit_as(app: &TestApp, key: &str, prompt: &str) -> String {
    submit_body_as(
        app,
        key,
        json!({ "prompt": prompt, "enable_execution": false }),
    )
    .await
}

async fn submit_body_as(app: &TestApp, key: &str, body: Value) -> String {
    let response = app
        .client
        .post(app.url("/api/v1/design"))
        .header("x-api-key", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    response.json::<Value>().await.unwrap()["request_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn protected_routes(id: &str) -> Vec<(&'static str, String)> {
    vec![
        ("POST", "/api/v1/design".to_owned()),
        ("GET", format!("/api/v1/design/{id}")),
        ("GET", format!("/api/v1/design/{id}/export")),
        ("GET", format!("/api/v1/design/{id}/download/step")),
        ("GET", format!("/api/v1/design/{id}/events")),
        ("GET", format!("/ws/{id}")),
        ("GET", "/ws".to_owned()),
        ("POST", "/api/v1/auth/token".to_owned()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_protected_route_refuses_bad_credentials_and_admits_good_ones() {
    let app = auth_app(1, vec![]).await;
    let id = submit_as(&app, ALICE_KEY, "a box 2x2x2").await;
    app.client
        .get(app.url(&format!("/api/v1/design/{id}")))
        .header("x-api-key", ALICE_KEY)
        .send()
        .await
        .unwrap();
    let expired = hs256("alice", now() - 120, SECRET);
    let foreign = hs256(
        "alice",
        now() + 600,
        "another-secret-that-is-32-bytes-long!!",
    );
    let none = alg_none("alice");
    let refused = [
        Credential::Nothing,
        Credential::ApiKey("wrong-key"),
        Credential::Bearer("wrong-key"),
        Credential::Bearer(&expired),
        Credential::Bearer(&foreign),
        Credential::Bearer(&none),
    ];
    let good_token = hs256("alice", now() + 600, SECRET);
    for (method, path) in protected_routes(&id) {
        for credential in &refused {
            let response = call(&app, method, &path, credential).await;
            let challenge = response.headers().get("www-authenticate").cloned();
            assert_eq!(
                error_code(response, 401).await,
                "unauthorized",
                "{method} {path}"
            );
            assert!(challenge.is_some_and(|c| c.to_str().unwrap().starts_with("Bearer")));
        }
        for credential in [
            Credential::ApiKey(ALICE_KEY),
            Credential::Bearer(&good_token),
        ] {
            let status = call(&app, method, &path, &credential)
                .await
                .status()
                .as_u16();
            assert_ne!(status, 401, "{method} {path} with a good credential");
            assert!(status < 500, "{method} {path}: {status}");
        }
    }
    // With the right credentials the reads really succeed.
    let ok = call(
        &app,
        "GET",
        &format!("/api/v1/design/{id}"),
        &Credential::Bearer(&good_token),
    )
    .await;
    assert_eq!(ok.status(), 200);
    // Probes and docs stay open.
    for path in ["/health", "/ready", "/docs", "/openapi.json", "/metrics"] {
        assert_eq!(app.get(path).await.status(), 200, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hs256_token_is_refused_when_rs256_is_configured() {
    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().join("private.pem");
    let public = dir.path().join("public.pem");
    let made = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&private)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl is installed (make test installs it)");
    assert!(made.success());
    let exported = std::process::Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&private)
        .arg("-out")
        .arg(&public)
        .status()
        .unwrap();
    assert!(exported.success());
    let app = auth_app(
        0,
        vec![
            ("JWT_ALGORITHM", "RS256".to_owned()),
            ("JWT_PUBLIC_KEY", std::fs::read_to_string(&public).unwrap()),
            (
                "JWT_PRIVATE_KEY",
                std::fs::read_to_string(&private).unwrap(),
            ),
        ],
    )
    .await;
    // HS256 signed with the RS256 public key as the HMAC secret: the classic confusion attack.
    let public_pem = std::fs::read_to_string(&public).unwrap();
    let confused = hs256("alice", now() + 600, &public_pem);
    let plain_hs = hs256("alice", now() + 600, SECRET);
    for token in [&confused, &plain_hs] {
        let response = call(&app, "GET", "/api/v1/design/x", &Credential::Bearer(token)).await;
        assert_eq!(error_code(response, 401).await, "unauthorized");
    }
    // A token the gateway issues (RS256) is accepted.
    let issued: Value = call(
        &app,
        "POST",
        "/api/v1/auth/token",
        &Credential::ApiKey(ALICE_KEY),
    )
    .await
    .json()
    .await
    .unwrap();
    let token = issued["access_token"].as_str().unwrap();
    assert!(token.starts_with(&URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT","alg":"RS256"}"#)[..8]));
    let response = call(&app, "GET", "/api/v1/design/x", &Credential::Bearer(token)).await;
    assert_eq!(error_code(response, 404).await, "design_not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_key_is_exchanged_for_a_token_that_works() {
    let app = auth_app(0, vec![]).await;
    let id = submit_as(&app, BOB_KEY, "a box 3x3x3").await;
    let response = call(
        &app,
        "POST",
        "/api/v1/auth/token",
        &Credential::ApiKey(BOB_KEY),
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 15 * 60);
    let token = body["access_token"].as_str().unwrap();
    let status: DesignStatusResponse = call(
        &app,
        "GET",
        &format!("/api/v1/design/{id}"),
        &Credential::Bearer(token),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(status.request_id.to_string(), id);
    let again = call(
        &app,
        "POST",
        "/api/v1/auth/token",
        &Credential::Bearer(token),
    )
    .await;
    assert_eq!(error_code(again, 400).await, "api_key_required");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_principal_cannot_reach_anothers_job() {
    let app = auth_app(1, vec![]).await;
    let id = submit_body_as(&app, ALICE_KEY, json!({ "prompt": "a box 4x4x4" })).await;
    wait_for_completion_as(&app, ALICE_KEY, &id).await;
    for (method, path) in protected_routes(&id) {
        if !path.contains(&id) {
            continue;
        }
        let alice = call(&app, method, &path, &Credential::ApiKey(ALICE_KEY)).await;
        assert_ne!(alice.status(), 404, "alice sees her own {path}");
        let bob = call(&app, method, &path, &Credential::ApiKey(BOB_KEY)).await;
        assert_eq!(
            error_code(bob, 404).await,
            "design_not_found",
            "bob on {path}"
        );
    }
    let mut socket = tokio_tungstenite::connect_async(
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
            "ws://127.0.0.1:{}/ws",
            app.port
        ))
        .map(|mut request| {
            request
                .headers_mut()
                .insert("x-api-key", BOB_KEY.parse().unwrap());
            request
        })
        .unwrap(),
    )
    .await
    .unwrap()
    .0;
    use futures::{SinkExt, StreamExt};
    socket
        .send(tokio_tungstenite::tungstenite::Message::Text(
            json!({ "type": "subscribe", "request_id": id })
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    let answer = socket.next().await.unwrap().unwrap();
    let answer: Value = serde_json::from_str(answer.to_text().unwrap()).unwrap();
    assert_eq!(answer["code"], "design_not_found");
}

async fn limited_status(app: &TestApp, base: Option<&str>, key: &str) -> reqwest::Response {
    let base = base.unwrap_or(&app.address);
    app.client
        .get(format!(
            "{base}/api/v1/design/00000000-0000-4000-8000-000000000000"
        ))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limit_admits_exactly_the_window_and_says_when_to_retry() {
    // These requests are reads (GET), charged to the read budget.
    let app = auth_app(0, vec![("RATE_LIMIT_READ_REQUESTS", "100".to_owned())]).await;
    for n in 1..=100u32 {
        let response = limited_status(&app, None, ALICE_KEY).await;
        assert_eq!(response.status(), 404, "request {n} passes");
        assert_eq!(response.headers()["ratelimit-policy"], "100;w=60");
        let remaining = format!("remaining={}", 100 - n);
        assert!(
            response.headers()["ratelimit"]
                .to_str()
                .unwrap()
                .contains(&remaining),
            "{:?}",
            response.headers()["ratelimit"]
        );
    }
    let refused = limited_status(&app, None, ALICE_KEY).await;
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    assert!(
        refused.headers()["ratelimit"]
            .to_str()
            .unwrap()
            .contains("remaining=0")
    );
    assert_eq!(error_code(refused, 429).await, "rate_limited");
    // Another principal has a window of its own.
    assert_eq!(limited_status(&app, None, BOB_KEY).await.status(), 404);

    // A burst of 200 concurrent requests lets exactly 100 through.
    let statuses =
        futures::future::join_all((0..200).map(|_| limited_status(&app, None, "carol-key-3")))
            .await;
    let passed = statuses.iter().filter(|r| r.status() == 404).count();
    let limited = statuses.iter().filter(|r| r.status() == 429).count();
    assert_eq!((passed, limited), (100, 100));

    // Two gateways on one Redis share Dave's window.
    let second = app.spawn_another_gateway().await;
    let mut passed = 0;
    for i in 0..120 {
        let base = if i % 2 == 0 {
            None
        } else {
            Some(second.as_str())
        };
        if limited_status(&app, base, "dave-key-4").await.status() == 404 {
            passed += 1;
        }
    }
    assert_eq!(passed, 100, "one window across both gateways");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_pass_again_once_the_window_slides() {
    let app = auth_app(
        0,
        vec![
            ("RATE_LIMIT_READ_REQUESTS", "5".to_owned()),
            ("RATE_LIMIT_WINDOW_SECONDS", "2".to_owned()),
        ],
    )
    .await;
    for _ in 0..5 {
        assert_eq!(limited_status(&app, None, ALICE_KEY).await.status(), 404);
    }
    let refused = limited_status(&app, None, ALICE_KEY).await;
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after));
    tokio::time::sleep(Duration::from_secs(retry_after) + Duration::from_millis(100)).await;
    assert_eq!(limited_status(&app, None, ALICE_KEY).await.status(), 404);
}

async fn fail_open_counter(app: &TestApp) -> f64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    text.lines()
        .find(|line| line.starts_with("rate_limit_fail_open_total"))
        .and_then(|line| line.split_whitespace().last()?.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_the_limiter_fails_open_or_closed_as_configured() {
    let mut open = auth_app(0, vec![]).await;
    let before = fail_open_counter(&open).await;
    open.redis.stop();
    // Issuing a token needs no Redis: with fail-open it goes through.
    let response = call(
        &open,
        "POST",
        "/api/v1/auth/token",
        &Credential::ApiKey(ALICE_KEY),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert!(
        fail_open_counter(&open).await > before,
        "the metric counts it"
    );

    let mut closed = auth_app(0, vec![("RATE_LIMIT_FAIL_OPEN", "false".to_owned())]).await;
    closed.redis.stop();
    let response = call(
        &closed,
        "POST",
        "/api/v1/auth/token",
        &Credential::ApiKey(ALICE_KEY),
    )
    .await;
    assert_eq!(error_code(response, 503).await, "rate_limiter_unavailable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_principal_has_at_most_the_configured_jobs_in_flight() {
    let app = auth_app(0, vec![("MAX_ACTIVE_JOBS_PER_PRINCIPAL", "2".to_owned())]).await;
    submit_as(&app, ALICE_KEY, "a box 1x1x1").await;
    submit_as(&app, ALICE_KEY, "a box 1x1x1").await;
    let third = call(
        &app,
        "POST",
        "/api/v1/design",
        &Credential::ApiKey(ALICE_KEY),
    )
    .await;
    assert_eq!(error_code(third, 429).await, "too_many_active_jobs");
    submit_as(&app, BOB_KEY, "a box 1x1x1").await;

    // Finished jobs free their slots.
    let app = auth_app(1, vec![("MAX_ACTIVE_JOBS_PER_PRINCIPAL", "2".to_owned())]).await;
    for _ in 0..3 {
        let first = submit_as(&app, ALICE_KEY, "a box 1x1x1").await;
        let second = submit_as(&app, ALICE_KEY, "a box 2x2x2").await;
        for id in [first, second] {
            wait_for_completion_as(&app, ALICE_KEY, &id).await;
        }
    }
}

async fn wait_for_completion_as(app: &TestApp, key: &str, id: &str) {
    let status = app
        .wait_for_end_as(id, Some(key), Duration::from_secs(60))
        .await;
    assert_eq!(status.status, DesignStatus::Completed, "{status:?}");
}
