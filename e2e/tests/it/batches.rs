//! Batches: 1,000 designs in one call, the invalid ones reported by index without failing the
//! rest, their counts by status, and the one signed callback when a whole batch has ended.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use shared::api::BatchStatusResponse;

use e2e::{AppOptions, error_code, spawn_app_with, spawn_gateway, wait_until};

const LIMIT: Duration = Duration::from_secs(180);
const SECRET: &str = "batch-webhook-secret-for-tests";

#[tokio::test]
async fn a_batch_of_1000_creates_the_valid_items_and_reports_the_invalid_ones() {
    let app = spawn_gateway().await;
    let invalid: Vec<usize> = (0..10).map(|i| i * 97 + 3).collect();
    let items: Vec<Value> = (0..1000)
        .map(|i| {
            if !invalid.contains(&i) {
                json!({ "prompt": format!("a box {}x6x7", i % 50 + 1), "enable_execution": false })
            } else if i % 2 == 0 {
                json!({ "prompt": "   " })
            } else {
                json!({ "prompt": "a box", "max_iterations": 99 })
            }
        })
        .collect();
    let response = app
        .client
        .post(app.url("/api/v1/batches"))
        .json(&json!({ "items": items }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["accepted"], 990);
    let rejected: Vec<u64> = body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["error"]["code"], "validation_error", "{r}");
            r["index"].as_u64().unwrap()
        })
        .collect();
    let expected: Vec<u64> = invalid.iter().map(|&i| i as u64).collect();
    assert_eq!(rejected, expected);
    let created = body["items"].as_array().unwrap();
    assert_eq!(created.len(), 990);
    assert!(created.iter().all(|item| {
        let index = item["index"].as_u64().unwrap() as usize;
        !invalid.contains(&index) && item["request_id"].is_string()
    }));
    let batch_id = body["batch_id"].as_str().unwrap();
    assert_eq!(body["links"]["self"], format!("/api/v1/batches/{batch_id}"));

    let status: BatchStatusResponse = app
        .get(&format!("/api/v1/batches/{batch_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status.total, 990);
    assert_eq!(status.counts.values().sum::<usize>(), 990);
    assert_eq!(status.counts.get("pending"), Some(&990));
    assert!(!status.ended, "no worker runs them");
    let first = created[0]["request_id"].as_str().unwrap();
    assert_eq!(status.items[0], first);
    let design = app.design_status(first).await;
    assert_eq!(design.status, shared::job::DesignStatus::Pending);
}

#[tokio::test]
async fn a_batch_needs_1_to_1000_items_and_an_unknown_one_is_not_found() {
    let app = spawn_gateway().await;
    let post = async |items: Vec<Value>| {
        app.client
            .post(app.url("/api/v1/batches"))
            .json(&json!({ "items": items }))
            .send()
            .await
            .unwrap()
    };
    assert_eq!(
        error_code(post(Vec::new()).await, 422).await,
        "validation_error"
    );
    let too_many = vec![json!({ "prompt": "a box 5x6x7" }); 1001];
    assert_eq!(
        error_code(post(too_many).await, 422).await,
        "validation_error"
    );
    let unknown = "6f9619ff-8b86-d011-b42d-00c04fc964ff";
    let response = app.get(&format!("/api/v1/batches/{unknown}")).await;
    assert_eq!(error_code(response, 404).await, "batch_not_found");
}

#[tokio::test]
async fn a_batch_that_ends_sends_one_signed_callback() {
    let deliveries = Arc::new(Mutex::new(Vec::new()));
    let hook = e2e::callback_receiver("/batch", deliveries.clone()).await;
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
    let items: Vec<Value> = (1..=5)
        .map(|i| json!({ "prompt": format!("a box {i}x6x7"), "enable_execution": false }))
        .collect();
    let response = app
        .client
        .post(app.url("/api/v1/batches"))
        .json(&json!({ "items": items, "callback_url": hook }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["accepted"], 5);
    let batch_id = body["batch_id"].as_str().unwrap().to_owned();

    wait_until("the batch callback", LIMIT, async || {
        (!deliveries.lock().unwrap().is_empty()).then_some(())
    })
    .await;
    // Long enough for a second callback, were any sent.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let deliveries = deliveries.lock().unwrap().clone();
    assert_eq!(deliveries.len(), 1, "one callback per batch");
    let (headers, body) = &deliveries[0];
    let timestamp = headers["x-designer-timestamp"].to_str().unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        headers["x-designer-signature"],
        format!("sha256={hex}").as_str()
    );
    let summary: BatchStatusResponse = serde_json::from_slice(body).unwrap();
    assert_eq!(summary.batch_id.to_string(), batch_id);
    assert!(summary.ended);
    assert_eq!(summary.total, 5);
    assert_eq!(summary.counts.get("completed"), Some(&5), "{summary:?}");
    let status: BatchStatusResponse = app
        .get(&format!("/api/v1/batches/{batch_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status, summary);
}

#[tokio::test]
async fn the_active_cap_refuses_items_one_by_one_and_only_the_owner_sees_the_batch() {
    let app = e2e::spawn_gateway_with(vec![
        ("AUTH_ENABLED", "true".to_owned()),
        (
            "AUTH_API_KEYS",
            "alice:alice-key-1,bob:bob-key-1".to_owned(),
        ),
        ("MAX_ACTIVE_JOBS_PER_PRINCIPAL", "3".to_owned()),
    ])
    .await;
    let items: Vec<Value> = (1..=5)
        .map(|i| json!({ "prompt": format!("a box {i}x6x7") }))
        .collect();
    let response = app
        .client
        .post(app.url("/api/v1/batches"))
        .header("x-api-key", "alice-key-1")
        .json(&json!({ "items": items }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["accepted"], 3);
    let rejected: Vec<(u64, &str)> = body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let code = r["error"]["code"].as_str().unwrap();
            (r["index"].as_u64().unwrap(), code)
        })
        .collect();
    assert_eq!(
        rejected,
        vec![(3, "too_many_active_jobs"), (4, "too_many_active_jobs")]
    );
    let batch_id = body["batch_id"].as_str().unwrap();
    let path = format!("/api/v1/batches/{batch_id}");
    let as_owner = app
        .client
        .get(app.url(&path))
        .header("x-api-key", "alice-key-1")
        .send()
        .await
        .unwrap();
    assert_eq!(as_owner.status(), 200);
    let status: BatchStatusResponse = as_owner.json().await.unwrap();
    assert_eq!(status.total, 3, "the refused items are not in the batch");
    let accepted: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(status.items, accepted);
    let as_other = app
        .client
        .get(app.url(&path))
        .header("x-api-key", "bob-key-1")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(as_other, 404).await, "batch_not_found");
}

/// A tenant cannot aim the batch's callback, or an item's, at the cloud metadata address or
/// the gateway's own network: the batch is refused whole, and nothing is created.
#[tokio::test]
async fn a_batch_callback_to_an_internal_address_is_refused() {
    let app = e2e::spawn_gateway_with(vec![("WEBHOOK_SECRET", SECRET.to_owned())]).await;
    let item = json!({ "prompt": "a box 10x10x10 mm", "enable_execution": false });
    for target in [
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:6379/",
        "http://[::1]/hook",
    ] {
        let response = app
            .client
            .post(app.url("/api/v1/batches"))
            .json(&json!({ "items": [item.clone()], "callback_url": target }))
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_code(response, 422).await,
            "validation_error",
            "{target}"
        );

        let per_item = app
            .client
            .post(app.url("/api/v1/batches"))
            .json(&json!({ "items": [{ "prompt": "a box 10x10x10 mm", "callback_url": target }] }))
            .send()
            .await
            .unwrap();
        assert_eq!(per_item.status(), 202, "{target}");
        let body: Value = per_item.json().await.unwrap();
        assert_eq!(body["accepted"], 0, "{target}: {body}");
        assert_eq!(body["rejected"][0]["index"], 0, "{target}: {body}");
    }
    let mut conn = app.redis.connection();
    let records: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}job:*", app.keys().prefix()))
        .query(&mut conn)
        .unwrap();
    assert!(records.is_empty(), "no job was created: {records:?}");
}
