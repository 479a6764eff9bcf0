//! Readiness follows Redis, and comes back by itself.

use std::time::{Duration, Instant};

use e2e::{TestApp, error_code, spawn_app};

async fn wait_for_ready_status(app: &TestApp, expected: u16) -> reqwest::Response {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let response = app.get("/ready").await;
        if response.status() == expected {
            return response;
        }
        assert!(
            Instant::now() < deadline,
            "/ready stayed {} instead of {expected}",
            response.status()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Redis goes away and comes back empty: the gateway answers 503 meanwhile and recovers by
/// itself; the worker's loop dies with its Redis stream, and the supervisor brings it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_follows_redis_without_a_restart() {
    let mut app = spawn_app().await;
    assert_eq!(app.get("/ready").await.status(), 200);

    app.redis.stop();
    let response = wait_for_ready_status(&app, 503).await;
    assert_eq!(error_code(response, 503).await, "redis_unavailable");
    assert_eq!(
        app.get("/health").await.status(),
        200,
        "liveness does not need Redis"
    );
    let code = error_code(
        app.post_design(&serde_json::json!({ "prompt": "a box 1x1x1" }))
            .await,
        503,
    )
    .await;
    assert_eq!(code, "redis_unavailable");
    // The worker's queue upkeep (promoting retries, forgetting finished tasks) counts its
    // failures instead of logging them at debug level only.
    let metrics = format!("http://127.0.0.1:{}/metrics", app.worker_metrics_ports[0]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while upkeep_errors(
        &app.client
            .get(&metrics)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    ) == 0.0
    {
        assert!(
            Instant::now() < deadline,
            "no queue_upkeep error counted while Redis was down"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    app.redis.restart();
    wait_for_ready_status(&app, 200).await;
    let response = app
        .post_design(&serde_json::json!({ "prompt": "a box 1x1x1", "enable_execution": false }))
        .await;
    assert_eq!(
        response.status(),
        202,
        "accepts jobs again once Redis is back"
    );
}

/// `redis_errors_total{component="queue_upkeep"}` in a Prometheus text page (0 when absent).
fn upkeep_errors(page: &str) -> f64 {
    page.lines()
        .filter(|line| {
            line.starts_with("redis_errors_total") && line.contains("component=\"queue_upkeep\"")
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
