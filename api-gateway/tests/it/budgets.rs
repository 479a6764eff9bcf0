//! Budgets at the gateway: `GET /api/v1/usage`, and the `402 budget_exceeded` refusal once a
//! principal's usage in the current period reaches a limit (the usage is charged here through
//! the ledger the workers use; the whole loop with jobs is the e2e crate's test).

use serde_json::{Value, json};
use shared::budget::{BudgetPeriod, Spend, UsageLedger};

use e2e::{TestApp, spawn_gateway_with};

async fn gateway() -> TestApp {
    spawn_gateway_with(vec![
        ("AUTH_ENABLED", "true".to_owned()),
        ("AUTH_API_KEYS", "alice:key-alice,bob:key-bob".to_owned()),
        (
            "PRINCIPAL_BUDGETS",
            "alice:usd=1,freecad_seconds=100,period=1h".to_owned(),
        ),
    ])
    .await
}

async fn usage_of(app: &TestApp, key: &str) -> Value {
    let response = app
        .client
        .get(app.url("/api/v1/usage"))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn submit_as(app: &TestApp, key: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/design"))
        .header("x-api-key", key)
        .json(&json!({ "prompt": "a box 10x20x30" }))
        .send()
        .await
        .unwrap()
}

async fn charge(app: &TestApp, principal: &str, spend: Spend) {
    let budget = app.settings.budgets.principals.get(principal).copied();
    let mut conn = app.async_redis().await;
    UsageLedger::new(app.keys())
        .charge(
            &mut conn,
            principal,
            budget.as_ref(),
            BudgetPeriod::DAY,
            spend,
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_shows_the_callers_spend_budget_and_reset_time() {
    let app = gateway().await;
    let alice = usage_of(&app, "key-alice").await;
    assert_eq!(alice["principal"], "alice");
    assert_eq!(
        alice["spent"],
        json!({ "usd": 0.0, "freecad_seconds": 0.0 })
    );
    assert_eq!(
        alice["budget"],
        json!({ "usd": 1.0, "freecad_seconds": 100.0, "period": "1h" })
    );
    let start: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(alice["period_start"].clone()).unwrap();
    let resets: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(alice["resets_at"].clone()).unwrap();
    assert_eq!((resets - start).num_seconds(), 3600);
    assert_eq!(start.timestamp() % 3600, 0, "windows start on the hour");

    charge(
        &app,
        "bob",
        Spend {
            usd: 0.75,
            freecad_seconds: 3.0,
        },
    )
    .await;
    let bob = usage_of(&app, "key-bob").await;
    assert_eq!(bob["principal"], "bob");
    assert_eq!(bob["budget"], Value::Null, "bob has no budget");
    assert_eq!(bob["spent"], json!({ "usd": 0.75, "freecad_seconds": 3.0 }));
    assert_eq!(
        usage_of(&app, "key-alice").await["spent"]["usd"],
        0.0,
        "each principal sees only its own spend"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_used_up_budget_answers_402_with_the_amounts_and_the_reset_time() {
    let app = gateway().await;
    assert_eq!(submit_as(&app, "key-alice").await.status(), 202);
    charge(
        &app,
        "alice",
        Spend {
            usd: 0.4,
            freecad_seconds: 99.0,
        },
    )
    .await;
    assert_eq!(
        submit_as(&app, "key-alice").await.status(),
        202,
        "under both limits"
    );

    charge(
        &app,
        "alice",
        Spend {
            usd: 0.0,
            freecad_seconds: 1.0,
        },
    )
    .await;
    let refused = submit_as(&app, "key-alice").await;
    assert_eq!(refused.status(), 402);
    let body: Value = refused.json().await.unwrap();
    let error = &body["error"];
    assert_eq!(error["code"], "budget_exceeded", "{body}");
    assert_eq!(
        error["spent"],
        json!({ "usd": 0.4, "freecad_seconds": 100.0 })
    );
    assert_eq!(
        error["budget"],
        json!({ "usd": 1.0, "freecad_seconds": 100.0, "period": "1h" })
    );
    let usage = usage_of(&app, "key-alice").await;
    assert_eq!(error["resets_at"], usage["resets_at"]);
    assert!(error["request_id"].is_string());
    assert!(error["message"].as_str().unwrap().contains("resets at"));

    // A principal without a budget is never refused, whatever it spent.
    charge(
        &app,
        "bob",
        Spend {
            usd: 1e6,
            freecad_seconds: 1e6,
        },
    )
    .await;
    assert_eq!(submit_as(&app, "key-bob").await.status(), 202);

    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap();
    let text = metrics.text().await.unwrap();
    assert!(
        text.lines()
            .any(|line| line.starts_with("budget_rejections_total ")
                && line != "budget_rejections_total 0"),
        "the refusal is counted"
    );
}
