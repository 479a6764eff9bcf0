//! The rate limit with auth off: reads and writes have budgets of their own, and a client's
//! address comes from `X-Forwarded-For` only through a trusted proxy.

use serde_json::json;

use e2e::{AppOptions, TestApp, spawn_app_with};

async fn post_as(app: &TestApp, forwarded_for: &str) -> u16 {
    app.client
        .post(format!("{}/api/v1/design", app.address))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({ "prompt": "a 20 mm cube" }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn list(app: &TestApp) -> u16 {
    app.client
        .get(format!("{}/api/v1/designs", app.address))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn limited_app(trusted: &str) -> AppOptions {
    AppOptions {
        workers: 0,
        env: vec![
            ("RATE_LIMIT_REQUESTS", "2".to_owned()),
            ("RATE_LIMIT_READ_REQUESTS", "50".to_owned()),
            ("TRUSTED_PROXIES", trusted.to_owned()),
        ],
        ..AppOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_does_not_use_up_the_budget_for_submitting() {
    let app = spawn_app_with(limited_app("")).await;
    for _ in 0..20 {
        assert_eq!(list(&app).await, 200);
    }
    assert_eq!(
        post_as(&app, "1.1.1.1").await,
        202,
        "reads left the write budget alone"
    );
    assert_eq!(post_as(&app, "2.2.2.2").await, 202);
    // Not a trusted proxy: the forged header changes nothing, the peer's budget is spent.
    assert_eq!(post_as(&app, "3.3.3.3").await, 429);
    assert_eq!(list(&app).await, 200, "reads go on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_each_client_has_its_own_budget() {
    let app = spawn_app_with(limited_app("127.0.0.1/32")).await;
    for _ in 0..2 {
        assert_eq!(post_as(&app, "198.51.100.1").await, 202);
    }
    assert_eq!(post_as(&app, "198.51.100.1").await, 429);
    assert_eq!(post_as(&app, "198.51.100.2").await, 202, "another client");
    // A client that prepends a forged address is still counted by what the proxy saw.
    assert_eq!(post_as(&app, "198.51.100.2, 198.51.100.1").await, 429);
}
