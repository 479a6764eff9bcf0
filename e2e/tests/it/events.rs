//! Live progress of jobs that really run: the full stream after the end, a failed job's
//! error, two gateways relaying one worker's job, and the WebSocket job stream. (The relay's
//! own behaviour, with events published by the test, is in the gateway's `events`.)

use std::time::Duration;

use futures::SinkExt;
use serde_json::json;
use shared::job::DesignStatus;
use tokio_tungstenite::tungstenite::Message;

use e2e::{assert_consecutive, error_code, next_json, spawn_app, ws_connect};

const LIMIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_connects_after_the_job_ended_gets_every_event_then_the_end() {
    let app = spawn_app().await;
    let id = app.submit(&json!({ "prompt": "a box 30x20x10 mm" })).await;
    let status = app.wait_for_end(&id, LIMIT).await;
    assert_eq!(status.status, DesignStatus::Completed);

    let events = app.sse(None, &id, None).await.collect_to_end(LIMIT).await;
    assert_consecutive(&events, 1);
    let kinds: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    let statuses: Vec<&str> = events
        .iter()
        .filter(|e| e.event == "status")
        .map(|e| e.data["data"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "planning",
            "generating",
            "executing",
            "validating",
            "completed"
        ]
    );
    let default_formats = shared::job::OutputFormat::DEFAULT.len();
    assert_eq!(
        kinds.iter().filter(|k| **k == "artifact").count(),
        default_formats
    );
    let plan = events
        .iter()
        .find(|e| e.data["data"]["entry"].is_string())
        .expect("an event says what the planner understood");
    assert_eq!(plan.data["data"]["planner"], "builtin/offline");
    assert_eq!(plan.data["data"]["entry"], "box");
    assert_eq!(
        plan.data["data"]["parameters"]["length"], 30.0,
        "{}",
        plan.data
    );
    assert!(
        kinds.contains(&"validation") && kinds.contains(&"log"),
        "{kinds:?}"
    );
    let last = events.last().unwrap();
    assert_eq!(last.event, "completed");
    assert_eq!(last.data["data"]["status"], "completed");
    assert_eq!(last.data["request_id"], id.as_str());
    for event in &events {
        assert_eq!(event.data["type"], event.event.as_str());
        assert!(event.data["timestamp"].is_string());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_job_ends_its_stream_with_the_error() {
    let app = spawn_app().await;
    let id = app
        .submit(&json!({ "prompt": "a worm gear with 20 teeth" }))
        .await;
    let events = app.sse(None, &id, None).await.collect_to_end(LIMIT).await;
    assert_consecutive(&events, 1);
    let error = events
        .iter()
        .find(|e| e.event == "error")
        .expect("an error event");
    assert_eq!(error.data["data"]["code"], "unsupported_prompt");
    assert_eq!(events.last().unwrap().data["data"]["status"], "failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_on_one_redis_both_relay_a_job_run_by_a_worker() {
    let app = spawn_app().await;
    let second = app.spawn_another_gateway().await;
    let id = app
        .submit(&json!({ "prompt": "a cylinder 10 mm in diameter and 10 mm tall" }))
        .await;
    let mut on_first = app.sse(None, &id, None).await;
    let mut on_second = app.sse(Some(&second), &id, None).await;
    let (a, b) = tokio::join!(
        on_first.collect_to_end(LIMIT),
        on_second.collect_to_end(LIMIT)
    );
    assert_consecutive(&a, 1);
    assert_eq!(a, b, "both gateways relay the same events");
    assert_eq!(a.last().unwrap().data["data"]["status"], "completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_stream_design_yields_ack_chunks_and_done() {
    let app = spawn_app().await;
    let mut socket = ws_connect(&app, "/ws").await;

    socket
        .send(Message::Text("{not json".into()))
        .await
        .unwrap();
    let error = next_json(&mut socket, LIMIT).await.unwrap();
    assert_eq!(error["type"], "error");
    assert_eq!(error["code"], "malformed_json");
    socket
        .send(Message::Text(r#"{"type":"dance"}"#.into()))
        .await
        .unwrap();
    assert_eq!(
        next_json(&mut socket, LIMIT).await.unwrap()["code"],
        "invalid_message"
    );
    socket
        .send(Message::Text(
            r#"{"type":"stream_design","prompt":""}"#.into(),
        ))
        .await
        .unwrap();
    assert_eq!(
        next_json(&mut socket, LIMIT).await.unwrap()["code"],
        "validation_error"
    );

    // The socket is still open after the bad messages.
    socket
        .send(Message::Text(
            json!({ "type": "stream_design", "prompt": "a box 40x30x20 mm" })
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    let ack = next_json(&mut socket, LIMIT).await.unwrap();
    assert_eq!(ack["type"], "ack");
    let id = ack["request_id"].as_str().unwrap().to_owned();
    let mut chunks = Vec::new();
    let done = loop {
        let message = next_json(&mut socket, LIMIT)
            .await
            .expect("the session stays open");
        match message["type"].as_str().unwrap() {
            "stream_chunk" => chunks.push(message),
            "stream_done" => break message,
            other => panic!("unexpected {other}: {message}"),
        }
    };
    assert_eq!(done["request_id"], id.as_str());
    assert_eq!(done["status"], "completed");
    assert!(chunks.len() >= 5, "{chunks:?}");
    for (i, chunk) in chunks.iter().enumerate() {
        assert_eq!(chunk["seq"], i as u64 + 1);
        assert!(chunk["content"].as_str().is_some_and(|c| !c.is_empty()));
    }
    assert_eq!(chunks[0]["content"], "status: planning");

    // subscribe to the finished job: its raw events, then done.
    socket
        .send(Message::Text(
            json!({ "type": "subscribe", "request_id": id })
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    let mut events = Vec::new();
    loop {
        let message = next_json(&mut socket, LIMIT).await.unwrap();
        if message["type"] == "stream_done" {
            break;
        }
        events.push(message);
    }
    assert_eq!(events.len(), chunks.len());
    assert_eq!(events.last().unwrap()["type"], "completed");
    socket
        .send(Message::Text(
            json!({ "type": "subscribe", "request_id": "nope" })
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    assert_eq!(
        next_json(&mut socket, LIMIT).await.unwrap()["code"],
        "design_not_found"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_per_job_relays_the_events_then_closes() {
    let app = spawn_app().await;
    let id = app.submit(&json!({ "prompt": "a 15 mm cube" })).await;
    let mut socket = ws_connect(&app, &format!("/ws/{id}")).await;
    let mut events = Vec::new();
    while let Some(event) = next_json(&mut socket, LIMIT).await {
        events.push(event);
    }
    assert_eq!(events.last().unwrap()["type"], "completed");
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event["seq"], i as u64 + 1);
    }
    let unknown = format!(
        "ws://127.0.0.1:{}/ws/8d1f5a0e-0000-4000-8000-000000000000",
        app.port
    );
    match tokio_tungstenite::connect_async(unknown).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 404);
        }
        other => panic!("an unknown job must be refused with 404, got {other:?}"),
    }
    let code = error_code(app.get(&format!("/ws/{id}")).await, 400).await;
    assert_eq!(code, "websocket_upgrade_required");
    assert_eq!(
        error_code(app.get("/ws").await, 400).await,
        "websocket_upgrade_required"
    );
}
