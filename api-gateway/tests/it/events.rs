//! Live progress as the gateway relays it, with events published as a worker would and no
//! worker running: resume with `Last-Event-ID`, one Redis subscription for hundreds of
//! clients, slow clients, and streams closing on drain. (Jobs that really run, and the
//! WebSocket job stream, are in the `e2e` suite's `events`.)

use std::time::Duration;

use serde_json::json;
use shared::events::EventType;

use e2e::{TestApp, assert_consecutive, next_json, spawn_gateway, ws_connect};

const LIMIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_reconnects_with_last_event_id_gets_exactly_what_it_missed() {
    let app = spawn_gateway().await;
    let id = app.create_idle_job().await;
    let mut conn = app.async_redis().await;
    for i in 0..5 {
        app.publish(
            &mut conn,
            id,
            EventType::Log,
            json!({ "message": format!("before {i}") }),
        )
        .await;
    }
    let mut first = app.sse(None, &id.to_string(), None).await;
    for i in 5..10 {
        app.publish(
            &mut conn,
            id,
            EventType::Log,
            json!({ "message": format!("live {i}") }),
        )
        .await;
    }
    let mut seen = Vec::new();
    for _ in 0..7 {
        seen.push(first.next(LIMIT).await.expect("an event"));
    }
    assert_consecutive(&seen, 1);
    drop(first);

    // Published while the client is away.
    for i in 10..15 {
        app.publish(
            &mut conn,
            id,
            EventType::Log,
            json!({ "message": format!("away {i}") }),
        )
        .await;
    }
    let mut again = app.sse(None, &id.to_string(), Some(7)).await;
    app.publish(
        &mut conn,
        id,
        EventType::Completed,
        json!({ "status": "completed" }),
    )
    .await;
    let rest = again.collect_to_end(LIMIT).await;
    assert_consecutive(&rest, 8);
    assert_eq!(rest.len(), 9, "events 8..=16, no more, no less");
    assert_eq!(rest[0].data["data"]["message"], "live 7");
    assert_eq!(rest.last().unwrap().event, "completed");
}

/// The gateway's connections that hold a subscription (`CLIENT LIST` reports `psub`/`sub`).
fn subscriber_connections(app: &TestApp, pattern_only: bool) -> usize {
    let mut conn = app.redis.connection();
    let clients: String = redis::cmd("CLIENT").arg("LIST").query(&mut conn).unwrap();
    clients
        .lines()
        .filter(|line| {
            let field = |name: &str| {
                line.split(' ')
                    .find_map(|kv| kv.strip_prefix(name))
                    .and_then(|v| v.parse::<u32>().ok())
                    .unwrap_or(0)
            };
            if pattern_only {
                field("psub=") > 0
            } else {
                field("psub=") > 0 || field("sub=") > 0
            }
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_clients_share_one_redis_subscription() {
    let app = spawn_gateway().await;
    let id = app.create_idle_job().await;
    let mut clients = Vec::new();
    for _ in 0..500 {
        clients.push(app.sse(None, &id.to_string(), None).await);
    }
    assert_eq!(
        subscriber_connections(&app, false),
        1,
        "one subscriber connection for all 500 clients"
    );
    assert_eq!(subscriber_connections(&app, true), 1);

    let mut conn = app.async_redis().await;
    for i in 0..20 {
        app.publish(
            &mut conn,
            id,
            EventType::Progress,
            json!({ "progress": i as f64 / 20.0 }),
        )
        .await;
    }
    app.publish(
        &mut conn,
        id,
        EventType::Completed,
        json!({ "status": "completed" }),
    )
    .await;
    let results = futures::future::join_all(
        clients
            .iter_mut()
            .map(|client| client.collect_to_end(LIMIT)),
    )
    .await;
    for events in results {
        assert_eq!(events.len(), 21);
        assert_consecutive(&events, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_does_not_delay_a_fast_one() {
    let app = spawn_gateway().await;
    let id = app.create_idle_job().await;
    // Connected, but reads nothing until the end.
    let mut slow = app.sse(None, &id.to_string(), None).await;
    let mut fast = app.sse(None, &id.to_string(), None).await;

    let bulk = "x".repeat(4096);
    let events = 3000u64;
    let publisher = {
        let mut conn = app.async_redis().await;
        let app = &app;
        async move {
            for i in 0..events {
                app.publish(
                    &mut conn,
                    id,
                    EventType::LlmChunk,
                    json!({ "content": bulk, "i": i }),
                )
                .await;
            }
            app.publish(
                &mut conn,
                id,
                EventType::Completed,
                json!({ "status": "completed" }),
            )
            .await;
        }
    };
    // The fast client reads everything (12 MB, more than any socket buffer) while the slow
    // one reads nothing.
    let (_, received) = tokio::join!(publisher, fast.collect_to_end(LIMIT));
    assert_eq!(received.len() as u64, events + 1);
    assert_consecutive(&received, 1);

    let late = slow.collect_to_end(LIMIT).await;
    assert_eq!(
        late.len() as u64,
        events + 1,
        "the slow client misses nothing either"
    );
    assert_consecutive(&late, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_streams_end_cleanly_when_the_gateway_drains() {
    let app = spawn_gateway().await;
    let id = app.create_idle_job().await;
    let mut sse = app.sse(None, &id.to_string(), None).await;
    let mut socket = ws_connect(&app, &format!("/ws/{id}")).await;
    app.shut_down();
    assert!(
        sse.next(Duration::from_secs(10)).await.is_none(),
        "the SSE stream ends"
    );
    assert!(
        next_json(&mut socket, LIMIT).await.is_none(),
        "the WebSocket closes"
    );
}
