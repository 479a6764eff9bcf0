//! Nothing lost: cancellation, the job time limit.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::helpers::{AppOptions, error_code, spawn_app, spawn_app_with};

const LIMIT: Duration = Duration::from_secs(90);
/// Passes the static check and never ends.
const ENDLESS: &str = "x = 0\nwhile True:\n    x = x + 1\n";

fn endless_for(prompt: &'static str) -> worker::jobs::ScriptOverride {
    Arc::new(move |job: &shared::job::DesignJob| (job.prompt == prompt).then(|| ENDLESS.to_owned()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_pending_job_never_runs() {
    let app = spawn_app_with(AppOptions {
        workers: 0,
        ..AppOptions::default()
    })
    .await;
    let id = app.submit(&json!({ "prompt": "a box 10x10x10" })).await;
    let response = app.delete_design(&id).await;
    assert_eq!(response.status(), 204);
    let status = app.get_design(&id).await;
    assert_eq!(status["status"], "cancelled");
    assert_eq!(status["error_code"], "cancelled");

    // A worker that starts now takes the job off the queue and leaves it cancelled.
    app.spawn_worker().await;
    let mut conn = app.redis.connection();
    let keys = app.keys();
    let deadline = std::time::Instant::now() + LIMIT;
    loop {
        let queued: usize = redis::cmd("LLEN")
            .arg(keys.queue_active())
            .query(&mut conn)
            .unwrap();
        let done: usize = redis::cmd("SCARD")
            .arg(keys.queue_done())
            .query(&mut conn)
            .unwrap();
        if queued == 0 && done == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the worker never took the job"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = app.get_design(&id).await;
    assert_eq!(status["status"], "cancelled", "{status}");
    assert_eq!(status["artifacts"], json!([]));

    let events = app.sse(None, &id, None).await.collect_to_end(LIMIT).await;
    let last = events.last().unwrap();
    assert_eq!(last.event, "completed");
    assert_eq!(last.data["data"]["status"], "cancelled");
    assert_eq!(
        error_code(app.delete_design(&id).await, 409).await,
        "invalid_state"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_job_is_stopped_and_its_freecad_killed_then_the_worker_goes_on() {
    let app = spawn_app_with(AppOptions {
        workers: 1,
        env: vec![("WORKER_CONCURRENCY", "1".to_owned())],
        scripts: Some(endless_for("a box 7x7x7")),
    })
    .await;
    let id = app.submit(&json!({ "prompt": "a box 7x7x7" })).await;
    app.wait_for_status(&id, "executing", LIMIT).await;
    assert_eq!(app.delete_design(&id).await.status(), 204);

    // With the only worker slot freed, the next job runs to the end.
    let next = app.submit(&json!({ "prompt": "a box 8x8x8" })).await;
    let status = app.wait_for_end(&next, LIMIT).await;
    assert_eq!(status["status"], "completed", "{status}");
    let cancelled = app.get_design(&id).await;
    assert_eq!(
        cancelled["status"], "cancelled",
        "a worker never overwrites it: {cancelled}"
    );
    assert_eq!(cancelled["artifacts"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_past_its_time_limit_fails_with_timeout() {
    let app = spawn_app_with(AppOptions {
        workers: 1,
        env: vec![("JOB_TIMEOUT_SECONDS", "3".to_owned())],
        scripts: Some(endless_for("a box 9x9x9")),
    })
    .await;
    let id = app.submit(&json!({ "prompt": "a box 9x9x9" })).await;
    let status = app.wait_for_end(&id, LIMIT).await;
    assert_eq!(status["status"], "failed", "{status}");
    assert_eq!(status["error_code"], "timeout");
    assert!(status["error_message"].as_str().unwrap().contains("3 s"));
    let next = app.submit(&json!({ "prompt": "a box 5x5x5" })).await;
    assert_eq!(app.wait_for_end(&next, LIMIT).await["status"], "completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_job_cannot_be_cancelled() {
    let app = spawn_app().await;
    let id = app
        .submit(&json!({ "prompt": "a box 2x2x2", "enable_execution": false }))
        .await;
    app.wait_for_end(&id, LIMIT).await;
    assert_eq!(
        error_code(app.delete_design(&id).await, 409).await,
        "invalid_state"
    );
    assert_eq!(app.get_design(&id).await["status"], "completed");
    assert_eq!(
        error_code(
            app.delete_design("0b1c2d3e-0000-4000-8000-000000000000")
                .await,
            404
        )
        .await,
        "design_not_found"
    );
}

async fn post_with_key(
    app: &crate::helpers::TestApp,
    key: &str,
    body: &serde_json::Value,
) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/design"))
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

fn job_records(app: &crate::helpers::TestApp) -> usize {
    let mut conn = app.redis.connection();
    let pattern = format!("{}job:*", app.settings.redis_key_prefix);
    let keys: Vec<String> = redis::cmd("KEYS").arg(pattern).query(&mut conn).unwrap();
    keys.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_gives_one_job_per_request() {
    let app = spawn_app_with(AppOptions {
        workers: 0,
        ..AppOptions::default()
    })
    .await;
    let body = json!({ "prompt": "a box 3x3x3", "enable_execution": false });
    let first = post_with_key(&app, "order-17", &body).await;
    assert_eq!(first.status(), 202);
    let first: serde_json::Value = first.json().await.unwrap();
    // The same request again, with the fields in another order and a default spelled out.
    let same = json!({ "enable_execution": false, "max_iterations": 5, "prompt": "a box 3x3x3" });
    let again = post_with_key(&app, "order-17", &same).await;
    assert_eq!(again.status(), 202);
    assert_eq!(
        again.json::<serde_json::Value>().await.unwrap(),
        first,
        "the same 202 body"
    );
    assert_eq!(job_records(&app), 1);

    let other = json!({ "prompt": "a box 4x4x4" });
    let refused = post_with_key(&app, "order-17", &other).await;
    assert_eq!(error_code(refused, 422).await, "idempotency_key_reused");
    let bad = post_with_key(&app, &"k".repeat(300), &body).await;
    assert_eq!(error_code(bad, 422).await, "validation_error");

    // Concurrent duplicates: one job, every caller told about it.
    let answers =
        futures::future::join_all((0..25).map(|_| post_with_key(&app, "order-18", &other))).await;
    let mut ids = std::collections::HashSet::new();
    for answer in answers {
        assert_eq!(answer.status(), 202);
        let answer: serde_json::Value = answer.json().await.unwrap();
        ids.insert(answer["request_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(job_records(&app), 2);
    let queued: usize = redis::cmd("LLEN")
        .arg(app.keys().queue_active())
        .query(&mut app.redis.connection())
        .unwrap();
    assert_eq!(queued, 2, "each job queued once");
}
