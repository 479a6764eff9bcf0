//! The page at `/`, its stream tokens (the only credential a URL may carry: one job's event
//! stream, as its owner, for a minute) and CORS.

use serde_json::{Value, json};

use e2e::{TestApp, spawn_gateway_with};

const ALICE_KEY: &str = "alice-page-key-01";
const BOB_KEY: &str = "bob-page-key-02";

async fn auth_app(extra: Vec<(&'static str, String)>) -> TestApp {
    let mut env = vec![
        ("AUTH_ENABLED", "true".to_owned()),
        ("AUTH_API_KEYS", format!("alice:{ALICE_KEY},bob:{BOB_KEY}")),
    ];
    env.extend(extra);
    spawn_gateway_with(env).await
}

async fn submit_as(app: &TestApp, key: &str) -> String {
    let response = app
        .client
        .post(app.url("/api/v1/design"))
        .header("x-api-key", key)
        .json(&json!({ "prompt": "a 20 mm cube" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    body["request_id"].as_str().unwrap().to_owned()
}

async fn stream_token(app: &TestApp, key: &str, id: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/v1/design/{id}/stream-token")))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap()
}

async fn events_status(app: &TestApp, path: &str) -> u16 {
    app.client
        .get(app.url(path))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_and_its_files_are_served_without_a_key() {
    let app = auth_app(Vec::new()).await;
    for (path, content_type, marker) in [
        ("/", "text/html", "id=\"prompt\""),
        ("/ui/app.js", "text/javascript", "EventSource"),
        ("/ui/viewer.js", "text/javascript", "webgl"),
        ("/ui/style.css", "text/css", "#viewer"),
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(content_type)
        );
        assert!(response.text().await.unwrap().contains(marker), "{path}");
    }
    // Everything else still needs the key.
    assert_eq!(app.get("/api/v1/catalogue").await.status(), 401);
    let catalogue: Value = app
        .client
        .get(app.url("/api/v1/catalogue"))
        .header("x-api-key", ALICE_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(catalogue.as_array().unwrap().len() >= 10);
    assert!(catalogue[0]["example"].as_str().unwrap().contains("mm"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_token_opens_only_its_own_jobs_events_for_a_minute() {
    let app = auth_app(Vec::new()).await;
    let alices = submit_as(&app, ALICE_KEY).await;
    let alices_other = submit_as(&app, ALICE_KEY).await;
    let bobs = submit_as(&app, BOB_KEY).await;

    let response = stream_token(&app, ALICE_KEY, &alices).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let token: Value = response.json().await.unwrap();
    let secret = token["token"].as_str().unwrap();
    assert_eq!(token["expires_in"], 60);
    let url = token["events_url"].as_str().unwrap();
    assert!(!url.contains(ALICE_KEY), "never the API key in a URL");

    // Works for its own job's events, as a query parameter, without any header.
    let response = app.client.get(app.url(url)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    drop(response);

    // Not for another job, even the same owner's; not for any other route of the job.
    let query = format!("stream_token={secret}");
    for path in [
        format!("/api/v1/design/{alices_other}/events?{query}"),
        format!("/api/v1/design/{bobs}/events?{query}"),
        format!("/api/v1/design/{alices}?{query}"),
        format!("/api/v1/design/{alices}/download/step?{query}"),
        format!("/api/v1/design/{alices}/export?{query}"),
    ] {
        assert_eq!(events_status(&app, &path).await, 401, "{path}");
    }
    // Not an API key in the query string, nor a made-up or tampered token.
    for bad in [ALICE_KEY.to_owned(), "0".repeat(64), format!("{secret}0")] {
        let path = format!("/api/v1/design/{alices}/events?stream_token={bad}");
        assert_eq!(events_status(&app, &path).await, 401, "{bad}");
    }
    // Nobody gets a token for someone else's job.
    assert_eq!(stream_token(&app, BOB_KEY, &alices).await.status(), 404);

    // Redis holds it hashed, with a TTL of at most a minute.
    let mut conn = app.async_redis().await;
    let key = app.keys().stream_token(secret);
    let ttl: i64 = redis::cmd("TTL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!((1..=60).contains(&ttl), "ttl {ttl}");
    let raw: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}*", app.keys().prefix()))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        raw.iter().all(|k| !k.contains(secret)),
        "the token itself is not a key"
    );
    // Once it expires, it opens nothing.
    let _: () = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(events_status(&app, url).await, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_is_off_by_default_and_follows_the_setting() {
    let preflight = |app: &TestApp| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/v1/design"))
            .header("origin", "https://cad.example")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "x-api-key,content-type")
            .send()
    };
    let closed = auth_app(Vec::new()).await;
    let response = preflight(&closed).await.unwrap();
    assert!(
        !response
            .headers()
            .contains_key("access-control-allow-origin")
    );

    let open = auth_app(vec![(
        "CORS_ALLOWED_ORIGINS",
        "https://cad.example, https://other.example".to_owned(),
    )])
    .await;
    let response = preflight(&open).await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://cad.example"
    );
    let allowed = response.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(allowed.contains("x-api-key"), "{allowed}");
    let stranger = open
        .client
        .request(reqwest::Method::OPTIONS, open.url("/api/v1/design"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(
        !stranger
            .headers()
            .contains_key("access-control-allow-origin")
    );
}
