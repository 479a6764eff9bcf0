//! Budgets over the whole loop: jobs spend model dollars (on the fake vendor, priced by a
//! price file) and FreeCAD seconds (real FreeCAD), the worker charges the spend when each
//! attempt ends, the gateway refuses new work with `402 budget_exceeded` once a limit is
//! reached mid-period, and each threshold's signed callback reaches `BUDGET_WEBHOOK_URL` once.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use shared::budget::BudgetAlert;
use shared::job::DesignStatus;

use crate::agents::{FakeModel, PLAN, REVIEW, Role, script};
use e2e::{AppOptions, Delivery, TestApp, spawn_app_with, wait_until};

const LIMIT: Duration = Duration::from_secs(120);
const SECRET: &str = "budget-webhook-secret-for-tests";

/// A local `BUDGET_WEBHOOK_URL` that keeps every delivery.
#[derive(Clone, Default)]
struct AlertReceiver {
    deliveries: Arc<Mutex<Vec<Delivery>>>,
}

impl AlertReceiver {
    /// Starts it; returns its URL.
    async fn start(&self) -> String {
        e2e::callback_receiver("/budget", self.deliveries.clone()).await
    }

    /// The alerts received so far, each checked to be signed with [`SECRET`].
    fn alerts(&self) -> Vec<BudgetAlert> {
        let deliveries = self.deliveries.lock().unwrap().clone();
        deliveries
            .iter()
            .map(|(headers, body)| {
                let timestamp = headers["x-designer-timestamp"].to_str().unwrap();
                let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
                mac.update(format!("{timestamp}.").as_bytes());
                mac.update(body);
                let digest = mac.finalize().into_bytes();
                let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
                let expected = format!("sha256={hex}");
                assert_eq!(headers["x-designer-signature"], expected.as_str());
                serde_json::from_slice(body).unwrap()
            })
            .collect()
    }

    /// Waits for `count` alerts, then a little longer to catch any duplicate.
    async fn wait_for(&self, count: usize) -> Vec<BudgetAlert> {
        wait_until("the budget alerts", LIMIT, async || {
            (self.deliveries.lock().unwrap().len() >= count).then_some(())
        })
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        self.alerts()
    }
}

async fn usage(app: &TestApp) -> Value {
    let response = app.get("/api/v1/usage").await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Waits until the gateway sees `at_least` model dollars spent (a job's spend is charged just
/// after its final state is written).
async fn wait_for_spent_usd(app: &TestApp, at_least: f64) -> Value {
    wait_until("the spend to be charged", LIMIT, async || {
        let usage = usage(app).await;
        (usage["spent"]["usd"].as_f64().unwrap() >= at_least).then_some(usage)
    })
    .await
}

async fn completed(app: &TestApp, id: &str) -> shared::api::DesignStatusResponse {
    let status = app.wait_for_end(id, LIMIT).await;
    assert_eq!(status.status, DesignStatus::Completed, "{status:?}");
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_dollars_crossing_the_budget_mid_period_give_402_and_each_alert_once() {
    let model = FakeModel::start(|role, _| match role {
        Role::Planner => PLAN.to_owned(),
        Role::Generator => script(20.0),
        Role::Validator => REVIEW.to_owned(),
    })
    .await;
    // 1 USD per call of 100 prompt tokens: a job (planner, generator, validator) costs 3 USD.
    let prices = tempfile::tempdir().unwrap();
    let price_file = prices.path().join("prices.toml");
    std::fs::write(
        &price_file,
        "[models.\"openai/fake-model\"]\ninput = 10000.0\noutput = 0.0\n",
    )
    .unwrap();
    let receiver = AlertReceiver::default();
    let hook = receiver.start().await;
    let mut env = model.env();
    env.extend([
        ("LLM_PRICE_FILE", price_file.display().to_string()),
        ("PRINCIPAL_BUDGETS", "anonymous:usd=5,period=1d".to_owned()),
        ("BUDGET_WEBHOOK_URL", hook),
        ("WEBHOOK_SECRET", SECRET.to_owned()),
    ]);
    let app = spawn_app_with(AppOptions {
        env,
        ..AppOptions::default()
    })
    .await;
    let body = json!({ "prompt": "a block 20x10x5", "model": "openai/fake-model" });

    // 3 of 5 USD: past 50 %, under the budget.
    let first = app.submit(&body).await;
    assert_eq!(completed(&app, &first).await.usage.cost_usd, 3.0);
    let spent = wait_for_spent_usd(&app, 3.0).await;
    assert_eq!(spent["spent"]["usd"], 3.0);
    assert!(spent["spent"]["freecad_seconds"].as_f64().unwrap() > 0.0);
    let alerts = receiver.wait_for(1).await;
    assert_eq!(
        alerts
            .iter()
            .map(|a| a.threshold_percent)
            .collect::<Vec<_>>(),
        [50]
    );
    assert_eq!(alerts[0].principal, "anonymous");
    assert_eq!(alerts[0].spent.usd, 3.0);
    assert_eq!(alerts[0].budget.usd, Some(5.0));

    // Still under: accepted; it takes the spend to 6 USD, past 80 % and 100 % at once.
    let second = app.submit(&body).await;
    completed(&app, &second).await;
    let spent = wait_for_spent_usd(&app, 6.0).await;
    let mut thresholds: Vec<u32> = receiver
        .wait_for(3)
        .await
        .iter()
        .map(|a| a.threshold_percent)
        .collect();
    thresholds.sort_unstable();
    assert_eq!(thresholds, [50, 80, 100], "each threshold once");

    // Over the budget: new work and refines are refused with the amounts and the reset time.
    let refused = app.post_design(&body).await;
    assert_eq!(refused.status(), 402);
    let error: Value = refused.json().await.unwrap();
    assert_eq!(error["error"]["code"], "budget_exceeded");
    assert_eq!(error["error"]["spent"], spent["spent"]);
    assert_eq!(error["error"]["budget"]["usd"], 5.0);
    assert_eq!(error["error"]["budget"]["period"], "1d");
    assert_eq!(error["error"]["resets_at"], spent["resets_at"]);
    let refine = app
        .client
        .post(app.url(&format!("/api/v1/design/{first}/refine")))
        .json(&json!({ "feedback": "make it longer" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        e2e::error_code(refine, 402).await,
        "budget_exceeded",
        "refining spends too"
    );
    assert_eq!(receiver.alerts().len(), 3, "no alert repeated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freecad_seconds_count_against_the_budget_and_show_in_the_metrics() {
    let receiver = AlertReceiver::default();
    let hook = receiver.start().await;
    let app = spawn_app_with(AppOptions {
        env: vec![
            // Any FreeCAD run uses this up.
            (
                "PRINCIPAL_BUDGETS",
                "anonymous:freecad_seconds=0.000001".to_owned(),
            ),
            ("BUDGET_WEBHOOK_URL", hook),
            ("WEBHOOK_SECRET", SECRET.to_owned()),
            ("METRICS_PER_PRINCIPAL", "true".to_owned()),
        ],
        ..AppOptions::default()
    })
    .await;
    let id = app.submit(&json!({ "prompt": "a box 5x6x7" })).await;
    completed(&app, &id).await;
    let usage = wait_until("the FreeCAD time to be charged", LIMIT, async || {
        let usage = usage(&app).await;
        (usage["spent"]["freecad_seconds"].as_f64().unwrap() > 0.0).then_some(usage)
    })
    .await;
    assert_eq!(
        usage["spent"]["usd"], 0.0,
        "the offline planner costs nothing"
    );
    assert_eq!(usage["budget"]["freecad_seconds"], 0.000001);

    let mut thresholds: Vec<u32> = receiver
        .wait_for(3)
        .await
        .iter()
        .map(|a| a.threshold_percent)
        .collect();
    thresholds.sort_unstable();
    assert_eq!(
        thresholds,
        [50, 80, 100],
        "one charge crossed all three, once each"
    );

    let refused = app.post_design(&json!({ "prompt": "a box 5x6x7" })).await;
    assert_eq!(e2e::error_code(refused, 402).await, "budget_exceeded");

    let port = app.worker_metrics_ports[0];
    let page = app
        .client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.lines()
            .any(|line| line.starts_with("usage_freecad_seconds_total{principal=\"anonymous\"}")),
        "usage by principal with METRICS_PER_PRINCIPAL=true:\n{page}"
    );
    assert!(page.lines().any(
        |line| line.starts_with("budget_alerts_total{threshold=\"100\"} ") && !line.ends_with(" 0")
    ));
}
