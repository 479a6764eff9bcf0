//! Nothing lost: cancellation, the job time limit.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use shared::job::DesignStatus;

use e2e::{AppOptions, error_code, spawn_app, spawn_app_with, wait_until};

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
    let status = app.design_status(&id).await;
    assert_eq!(status.status, DesignStatus::Cancelled);
    assert_eq!(status.error_code.as_deref(), Some("cancelled"));

    // A worker that starts now takes the job off the queue and leaves it cancelled.
    app.spawn_worker().await;
    let mut conn = app.redis.connection();
    let keys = app.keys();
    wait_until("the worker taking the job", LIMIT, async || {
        let queued: usize = redis::cmd("LLEN")
            .arg(keys.queue_active())
            .query(&mut conn)
            .unwrap();
        (queued == 0 && app.finished_tasks() == 1).then_some(())
    })
    .await;
    let status = app.design_status(&id).await;
    assert_eq!(status.status, DesignStatus::Cancelled, "{status:?}");
    assert!(status.artifacts.is_empty());

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
    app.wait_for_status(&id, DesignStatus::Executing, LIMIT)
        .await;
    assert_eq!(app.delete_design(&id).await.status(), 204);

    // With the only worker slot freed, the next job runs to the end.
    let next = app.submit(&json!({ "prompt": "a box 8x8x8" })).await;
    let status = app.wait_for_end(&next, LIMIT).await;
    assert_eq!(status.status, DesignStatus::Completed, "{status:?}");
    let cancelled = app.design_status(&id).await;
    assert_eq!(
        cancelled.status,
        DesignStatus::Cancelled,
        "a worker never overwrites it: {cancelled:?}"
    );
    assert!(cancelled.artifacts.is_empty());
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
    assert_eq!(status.status, DesignStatus::Failed, "{status:?}");
    assert_eq!(status.error_code.as_deref(), Some("timeout"));
    assert!(status.error_message.as_deref().unwrap().contains("3 s"));
    let next = app.submit(&json!({ "prompt": "a box 5x5x5" })).await;
    assert_eq!(
        app.wait_for_end(&next, LIMIT).await.status,
        DesignStatus::Completed
    );
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
    assert_eq!(app.design_status(&id).await.status, DesignStatus::Completed);
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
    app: &e2e::TestApp,
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

fn job_records(app: &e2e::TestApp) -> usize {
    let mut conn = app.redis.connection();
    let pattern = format!("{}job:*", app.settings.redis.key_prefix);
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

/// Blocks the job's artifact folder with a plain file, so publishing its files fails the way
/// a full or broken disk would: a transient, infrastructure failure.
fn block_artifacts(app: &e2e::TestApp, id: &str) -> std::path::PathBuf {
    let blocker = app.artifact_dir().join(id);
    std::fs::write(&blocker, b"not a folder").unwrap();
    blocker
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_failure_is_retried_then_succeeds() {
    let app = spawn_app_with(AppOptions {
        workers: 1,
        env: vec![("JOB_MAX_ATTEMPTS", "3".to_owned())],
        scripts: None,
    })
    .await;
    let id = app.submit(&json!({ "prompt": "a box 6x6x6" })).await;
    let blocker = block_artifacts(&app, &id);
    let mut events = app.sse(None, &id, None).await;
    loop {
        let event = events.next(LIMIT).await.expect("the job goes on");
        let message = event.data["data"]["message"].as_str().unwrap_or_default();
        if message.contains("retrying") {
            assert!(message.contains("Run 1 of 3"), "{message}");
            break;
        }
    }
    std::fs::remove_file(&blocker).unwrap();
    let status = app.wait_for_end(&id, LIMIT).await;
    assert_eq!(status.status, DesignStatus::Completed, "{status:?}");
    let default_formats = shared::job::OutputFormat::DEFAULT.len();
    assert_eq!(status.artifacts.len(), default_formats);
    let mut conn = app.redis.connection();
    let retries: String = redis::cmd("HGET")
        .arg(app.keys().job(&id.parse().unwrap()))
        .arg("retries")
        .query(&mut conn)
        .unwrap();
    assert_eq!(retries, "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_retries_run_out_is_dead_and_listed_for_admins() {
    let app = spawn_app_with(AppOptions {
        workers: 1,
        env: vec![
            ("JOB_MAX_ATTEMPTS", "2".to_owned()),
            ("AUTH_ENABLED", "true".to_owned()),
            ("AUTH_API_KEYS", "ops:ops-key-1,user:user-key-1".to_owned()),
            ("ADMIN_PRINCIPALS", "ops".to_owned()),
        ],
        scripts: None,
    })
    .await;
    let response = app
        .client
        .post(app.url("/api/v1/design"))
        .header("x-api-key", "user-key-1")
        .json(&json!({ "prompt": "a box 6x6x6" }))
        .send()
        .await
        .unwrap();
    let id = response.json::<serde_json::Value>().await.unwrap()["request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    block_artifacts(&app, &id);
    let status = app.wait_for_end_as(&id, Some("user-key-1"), LIMIT).await;
    assert_eq!(status.status, DesignStatus::Failed, "{status:?}");
    assert_eq!(
        status.error_code.as_deref(),
        Some("retries_exhausted"),
        "{status:?}"
    );
    assert!(
        status
            .error_message
            .as_deref()
            .unwrap()
            .contains("failed 2 times")
    );

    let listed: serde_json::Value = app
        .client
        .get(app.url("/api/v1/admin/jobs/dead"))
        .header("x-api-key", "ops-key-1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["jobs"][0]["request_id"], id.as_str(), "{listed}");
    assert_eq!(listed["jobs"][0]["principal"], "user");
    assert_eq!(listed["jobs"][0]["retries"], 1);
    let refused = app
        .client
        .get(app.url("/api/v1/admin/jobs/dead"))
        .header("x-api-key", "user-key-1")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(refused, 403).await, "forbidden");

    // Once the cause is gone, an admin runs it again: it completes and is no longer dead.
    std::fs::remove_file(app.artifact_dir().join(&id)).unwrap();
    let retry = |key: &'static str| {
        app.client
            .post(app.url(&format!("/api/v1/admin/jobs/dead/{id}/retry")))
            .header("x-api-key", key)
            .send()
    };
    assert_eq!(
        error_code(retry("user-key-1").await.unwrap(), 403).await,
        "forbidden"
    );
    assert_eq!(retry("ops-key-1").await.unwrap().status(), 202);
    let status = app.wait_for_end_as(&id, Some("user-key-1"), LIMIT).await;
    assert_eq!(status.status, DesignStatus::Completed, "{status:?}");
    assert_eq!(
        error_code(retry("ops-key-1").await.unwrap(), 404).await,
        "dead_job_not_found",
        "a job that is not dead cannot be retried"
    );
    let listed: serde_json::Value = app
        .client
        .get(app.url("/api/v1/admin/jobs/dead"))
        .header("x-api-key", "ops-key-1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["jobs"], json!([]), "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_due_retries_never_stop_the_workers() {
    const DUE: usize = 10_000;
    let app = spawn_app_with(AppOptions {
        workers: 0,
        env: vec![("WORKER_CONCURRENCY", "16".to_owned())],
        scripts: None,
    })
    .await;
    let mut conn = app.async_redis().await;
    // Dispatched at once, all of them, so the script below finds every task in the active list.
    let store = shared::job_store::JobStore::new(app.keys(), app.settings.queue.job_ttl)
        .with_dispatch(shared::queue::DispatchPolicy {
            depth: DUE,
            ..Default::default()
        });
    for i in 0..DUE {
        let job = shared::job::DesignJob {
            request_id: shared::job_id::JobId::new(),
            prompt: format!("a box {}x2x2", 1 + i % 40),
            max_iterations: 1,
            enable_execution: false,
            output_formats: vec![shared::job::OutputFormat::Step],
            model: None,
            feedback: None,
            convert: None,
            earlier_feedback: Vec::new(),
            cache: false,
            priority: Default::default(),
        };
        let record = shared::job::JobRecord::new_pending(&job, "anonymous", None);
        store
            .enqueue(&mut conn, &record, &job, 3, 0, None)
            .await
            .unwrap();
    }
    // Every queued task becomes a retry that is due right now: the storm apalis-redis's own
    // fetch script cannot survive (one `unpack` of more than ~8,000 ids).
    let moved: usize = redis::Script::new(
        r"
local ids = redis.call('LRANGE', KEYS[1], 0, -1)
for i = 1, #ids do
    redis.call('ZADD', KEYS[2], 1, ids[i])
end
redis.call('DEL', KEYS[1])
return #ids
",
    )
    .key(app.keys().queue_active())
    .key(app.keys().queue_scheduled())
    .invoke_async(&mut conn)
    .await
    .unwrap();
    assert_eq!(moved, DUE);

    let restarts = [app.spawn_worker().await, app.spawn_worker().await];
    let mut sync = app.redis.connection();
    let deadline = std::time::Instant::now() + Duration::from_secs(600);
    loop {
        let done = app.finished_tasks();
        if done >= DUE {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {done} of {DUE} done"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let dead: usize = redis::cmd("SCARD")
        .arg(app.keys().queue_dead())
        .query(&mut sync)
        .unwrap();
    assert_eq!(dead, 0);
    for restarts in restarts {
        assert_eq!(
            restarts.load(std::sync::atomic::Ordering::Relaxed),
            0,
            "apalis-redis's fetch never saw the storm"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_final_state_is_posted_to_the_callback_signed_and_retried() {
    use hmac::{Hmac, Mac};
    use std::sync::Mutex;

    // A receiver that refuses the first delivery and keeps the second.
    type Delivery = (axum::http::HeaderMap, Vec<u8>);
    #[derive(Clone, Default)]
    struct Receiver {
        calls: Arc<Mutex<Vec<Delivery>>>,
    }
    async fn receive(
        axum::extract::State(receiver): axum::extract::State<Receiver>,
        headers: axum::http::HeaderMap,
        body: axum::body::Bytes,
    ) -> axum::http::StatusCode {
        let mut calls = receiver.calls.lock().unwrap();
        calls.push((headers, body.to_vec()));
        if calls.len() == 1 {
            axum::http::StatusCode::INTERNAL_SERVER_ERROR
        } else {
            axum::http::StatusCode::NO_CONTENT
        }
    }
    let receiver = Receiver::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    let router = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(receiver.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });

    const SECRET: &str = "webhook-secret-for-tests";
    let app = spawn_app_with(AppOptions {
        workers: 1,
        env: vec![
            ("WEBHOOK_SECRET", SECRET.to_owned()),
            // The receiver is on this machine: a test rig, as the setting is meant for.
            ("WEBHOOK_ALLOW_PRIVATE", "true".to_owned()),
        ],
        scripts: None,
    })
    .await;
    let id = app
        .submit(&json!({ "prompt": "a box 5x6x7", "callback_url": hook }))
        .await;
    assert_eq!(
        app.wait_for_end(&id, LIMIT).await.status,
        DesignStatus::Completed
    );
    wait_until("the retry", LIMIT, async || {
        (receiver.calls.lock().unwrap().len() >= 2).then_some(())
    })
    .await;
    let calls = receiver.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 2, "delivered once it was accepted, not again");
    let (headers, body) = &calls[1];
    let status: shared::api::DesignStatusResponse = serde_json::from_slice(body).unwrap();
    assert_eq!(status.request_id.to_string(), id);
    assert_eq!(status.status, DesignStatus::Completed);
    let timestamp = headers["x-designer-timestamp"].to_str().unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    let expected = format!("sha256={}", hex_of(&mac.finalize().into_bytes()));
    assert_eq!(headers["x-designer-signature"], expected.as_str());
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
