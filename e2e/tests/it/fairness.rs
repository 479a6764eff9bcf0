//! Many tenants on one fleet: a principal with a large backlog cannot make another wait behind
//! it, a principal's priorities order its own work, and an admin's pause holds every job until
//! the resume, nothing lost. Real Redis, gateway, workers and FreeCAD; asserted by counting.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use shared::job::DesignStatus;

use e2e::{AppOptions, TestApp, spawn_app_with};

const LIMIT: Duration = Duration::from_secs(180);
const BACKLOG: usize = 2_000;
/// Small on purpose: the other tenant's job waits behind about this many jobs plus those in
/// flight.
const DISPATCH_DEPTH: usize = 4;
const CONCURRENCY: usize = 2;

fn tenants_env() -> Vec<(&'static str, String)> {
    vec![
        ("AUTH_ENABLED", "true".to_owned()),
        (
            "AUTH_API_KEYS",
            "alice:alice-key-1,bob:bob-key-1,ops:ops-key-1".to_owned(),
        ),
        ("ADMIN_PRINCIPALS", "ops".to_owned()),
        ("WORKER_CONCURRENCY", CONCURRENCY.to_string()),
        ("QUEUE_DISPATCH_DEPTH", DISPATCH_DEPTH.to_string()),
    ]
}

async fn submit_as(app: &TestApp, key: &str, body: &Value) -> String {
    let response = app
        .client
        .post(app.url("/api/v1/design"))
        .header("x-api-key", key)
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202, "{:?}", response.text().await);
    let body: Value = response.json().await.unwrap();
    body["request_id"].as_str().unwrap().to_owned()
}

async fn admin_post(app: &TestApp, path: &str, key: &str) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap()
}

/// A FreeCAD job: the offline planner's box, executed, one format.
fn a_box(side: usize) -> Value {
    json!({ "prompt": format!("a box {side}x{side}x{side} mm"), "output_formats": ["step"] })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_jobs_finish_while_a_2000_job_backlog_is_still_draining() {
    let app = spawn_app_with(AppOptions {
        workers: 1,
        env: tenants_env(),
        ..AppOptions::default()
    })
    .await;
    let backlog: Vec<String> = futures::stream::iter(0..BACKLOG)
        .map(|i| {
            let app = &app;
            async move { submit_as(app, "alice-key-1", &a_box(1 + i % 50)).await }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    assert_eq!(backlog.len(), BACKLOG);

    let finished_before = app.finished_tasks();
    let mut bobs = Vec::new();
    for side in [7, 8, 9] {
        bobs.push(submit_as(&app, "bob-key-1", &a_box(side)).await);
    }
    for id in &bobs {
        let status = app.wait_for_end_as(id, Some("bob-key-1"), LIMIT).await;
        assert_eq!(status.status, DesignStatus::Completed, "{status:?}");
    }
    let finished_after = app.finished_tasks();

    // Bob's jobs wait behind the active list (the dispatch depth; twice, as a dispatch after a
    // job and the upkeep's may both fill it), the jobs in flight and fetched (concurrency
    // each), and take turns with Alice's (3): a few jobs, not her backlog.
    let alices_meanwhile = finished_after - finished_before - bobs.len();
    let bound = 2 * DISPATCH_DEPTH + 2 * CONCURRENCY + bobs.len();
    assert!(
        alices_meanwhile <= bound,
        "{alices_meanwhile} of Alice's jobs finished while Bob's 3 waited (at most {bound})"
    );
    let unfinished = BACKLOG - (finished_after - bobs.len());
    assert!(
        unfinished >= BACKLOG / 2,
        "Bob's jobs were done while {unfinished} of Alice's were still unfinished"
    );
    eprintln!(
        "fairness: Bob's 3 jobs done while {alices_meanwhile} of Alice's finished and \
         {unfinished} of {BACKLOG} were still unfinished"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_holds_every_job_and_resume_runs_them_high_priority_first() {
    let mut env = tenants_env();
    // One job at a time, so the order of completion is the order of dispatch.
    env.retain(|(name, _)| *name != "WORKER_CONCURRENCY" && *name != "QUEUE_DISPATCH_DEPTH");
    env.push(("WORKER_CONCURRENCY", "1".to_owned()));
    env.push(("QUEUE_DISPATCH_DEPTH", "1".to_owned()));
    let app = spawn_app_with(AppOptions {
        workers: 1,
        env,
        ..AppOptions::default()
    })
    .await;
    let refused = admin_post(&app, "/api/v1/admin/queue/pause", "alice-key-1").await;
    assert_eq!(e2e::error_code(refused, 403).await, "forbidden");
    let paused = admin_post(&app, "/api/v1/admin/queue/pause", "ops-key-1").await;
    assert_eq!(paused.status(), 200);
    assert_eq!(paused.json::<Value>().await.unwrap()["paused"], true);

    let mut lows = Vec::new();
    let mut highs = Vec::new();
    for side in 1..=3 {
        let mut body = a_box(side);
        body["priority"] = json!("low");
        lows.push(submit_as(&app, "alice-key-1", &body).await);
    }
    for side in 4..=6 {
        let mut body = a_box(side);
        body["priority"] = json!("high");
        highs.push(submit_as(&app, "alice-key-1", &body).await);
    }
    // Several upkeep rounds and idle polls of the worker pass; a paused queue gives it nothing.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(app.finished_tasks(), 0, "nothing ran while paused");
    for id in lows.iter().chain(&highs) {
        let status = app.design_status_as(id, Some("alice-key-1")).await;
        assert_eq!(status.status, DesignStatus::Pending, "{status:?}");
    }
    let state: Value = app
        .client
        .get(app.url("/api/v1/admin/queue"))
        .header("x-api-key", "ops-key-1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["paused"], true);

    let resumed = admin_post(&app, "/api/v1/admin/queue/resume", "ops-key-1").await;
    assert_eq!(resumed.status(), 200);
    let mut ended = Vec::new();
    for id in lows.iter().chain(&highs) {
        let status = app.wait_for_end_as(id, Some("alice-key-1"), LIMIT).await;
        assert_eq!(status.status, DesignStatus::Completed, "{status:?}");
        ended.push((status.updated_at, highs.contains(id)));
    }
    ended.sort();
    let order: Vec<bool> = ended.iter().map(|(_, high)| *high).collect();
    assert_eq!(
        order,
        [true, true, true, false, false, false],
        "every high-priority job ran before every low one"
    );
}
