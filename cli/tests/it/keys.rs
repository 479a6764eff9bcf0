//! Every key the service writes expires or is cleaned up: after a design has run, each key in
//! Redis either has an expiry or is one of the queue's bounded structures.

use std::time::Duration;

use serde_json::json;

use e2e::spawn_app;

/// Keys that hold no per-job or per-worker data of their own: queues and counters whose
/// entries the workers remove (finished tasks are forgotten, orphaned workers re-queued).
const BOUNDED: &[&str] = &[
    "designs:data",
    "designs:active",
    "designs:signal",
    "designs:workers",
    "designs:done",
    "designer:queue-done-forgotten",
    "designer:queue-sampler",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_key_lives_forever_worker_metadata_included() {
    let app = spawn_app().await;
    let id = app
        .client
        .post(format!("{}/api/v1/design", app.address))
        .json(&json!({ "prompt": "a 20 mm cube" }))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap()["request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.wait_for_status(
        &id,
        shared::job::DesignStatus::Completed,
        Duration::from_secs(120),
    )
    .await;
    // The workers' periodic upkeep (every 250 ms) has run since.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut conn = app.redis.connection();
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut conn).unwrap();
    assert!(
        keys.iter()
            .any(|k| k.starts_with("designs:workers:metadata:")),
        "apalis-redis wrote worker metadata: {keys:?}"
    );
    let mut forever = Vec::new();
    for key in &keys {
        let ttl: i64 = redis::cmd("TTL").arg(key).query(&mut conn).unwrap();
        if ttl == -1 && !BOUNDED.contains(&key.as_str()) {
            forever.push(key.clone());
        }
    }
    assert!(forever.is_empty(), "keys without expiry: {forever:?}");
}
