//! Hostile clients: relays that outlive their clients, sockets that never finish a request,
//! idle sockets, and a `/ws` session used to get around the HTTP limits.

use std::time::Duration;

use futures::SinkExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

use e2e::{
    TestApp, WsStream, error_code, next_json, spawn_gateway, spawn_gateway_with, ws_connect,
};

const LIMIT: Duration = Duration::from_secs(30);
/// Longer than the relay's resync interval (5 s): a relay left behind by its client reads the
/// replay stream at least once in any window this long.
const QUIET_WINDOW: Duration = Duration::from_secs(6);

/// Commands Redis has run since its stats were last reset: all of them, and `XRANGE` (the
/// relay's read of the replay stream).
fn redis_commands(app: &TestApp) -> (u64, u64) {
    let mut conn = app.redis.connection();
    let info: String = redis::cmd("INFO").arg("all").query(&mut conn).unwrap();
    let field = |line: &str, key: &str| -> Option<u64> {
        line.split([',', ':'])
            .find_map(|part| part.strip_prefix(key)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
    };
    let total = info
        .lines()
        .find_map(|l| l.strip_prefix("total_commands_processed:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("total_commands_processed in INFO");
    let xrange = info
        .lines()
        .find(|l| l.starts_with("cmdstat_xrange:"))
        .and_then(|l| field(l, "calls"))
        .unwrap_or(0);
    (total, xrange)
}

/// Commands Redis runs during one quiet window (stats reset at its start; the INFO calls
/// themselves are not counted: `INFO` is read once, at the end).
async fn commands_in_quiet_window(app: &TestApp) -> (u64, u64) {
    let mut conn = app.redis.connection();
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query(&mut conn)
        .unwrap();
    tokio::time::sleep(QUIET_WINDOW).await;
    redis_commands(app)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_end_when_their_clients_leave_a_pending_job() {
    const CLIENTS_PER_KIND: usize = 20;
    let app = spawn_gateway().await;
    let id = app.create_idle_job().await.to_string();
    let (baseline_total, baseline_xrange) = commands_in_quiet_window(&app).await;

    let mut sse = Vec::new();
    let mut sockets = Vec::new();
    for _ in 0..CLIENTS_PER_KIND {
        sse.push(app.sse(None, &id, None).await);
        sockets.push(ws_connect(&app, &format!("/ws/{id}")).await);
        let mut session = ws_connect(&app, "/ws").await;
        session
            .send(Message::Text(
                json!({ "type": "subscribe", "request_id": id })
                    .to_string()
                    .into(),
            ))
            .await
            .unwrap();
        sockets.push(session);
    }
    // Every relay is up: the job's first event reaches all of them.
    let mut conn = app.async_redis().await;
    let id_uuid: shared::job_id::JobId = id.parse().unwrap();
    app.publish(
        &mut conn,
        id_uuid,
        shared::events::EventType::Log,
        json!({ "message": "hello" }),
    )
    .await;
    for client in &mut sse {
        assert_eq!(client.next(LIMIT).await.expect("an event").id, 1);
    }
    for socket in &mut sockets {
        let event = next_json(socket, LIMIT).await.expect("an event");
        assert_eq!(event["seq"], 1, "{event}");
    }
    let (_, watching_xrange) = commands_in_quiet_window(&app).await;
    assert!(
        watching_xrange >= 3 * CLIENTS_PER_KIND as u64,
        "the rig works: {} relays of a quiet job resync ({watching_xrange} XRANGE)",
        3 * CLIENTS_PER_KIND
    );

    drop(sse);
    for mut socket in sockets {
        let _ = socket.close(None).await;
    }
    // Give the gateway a moment to see the sockets close (local sockets: immediate).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (after_total, after_xrange) = commands_in_quiet_window(&app).await;
    assert!(
        after_xrange <= baseline_xrange,
        "relays kept reading the replay stream for nobody: {after_xrange} XRANGE in {QUIET_WINDOW:?} \
         after the clients left (idle: {baseline_xrange})"
    );
    assert!(
        after_total < baseline_total + CLIENTS_PER_KIND as u64,
        "Redis commands did not fall back to the idle baseline: {after_total} in {QUIET_WINDOW:?} \
         after the clients left, {baseline_total} before they came"
    );
}

/// Reads until the server closes the socket; what it sent, or `None` if it was still open
/// after `limit` (the test then fails: the server must close it).
async fn read_until_closed(socket: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut received = Vec::new();
    let read_all = async {
        let mut buffer = [0u8; 4096];
        loop {
            match socket.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    };
    tokio::time::timeout(limit, read_all).await.ok()?;
    Some(String::from_utf8_lossy(&received).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_sockets_and_idle_keep_alive_connections_are_closed_after_the_header_timeout() {
    let app = spawn_gateway_with(vec![("HTTP_HEADER_TIMEOUT_SECONDS", "2".to_owned())]).await;
    const DRIPPERS: usize = 20;
    let head = b"GET /health HTTP/1.1\r\nHost: x\r\nUser-Agent: a-very-slow-client\r\n\r\n";
    let mut drippers = Vec::new();
    for _ in 0..DRIPPERS {
        let socket = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
        drippers.push(tokio::spawn(async move {
            let mut socket = socket;
            let mut sent = 0;
            for byte in head {
                if socket.write_all(&[*byte]).await.is_err() {
                    break;
                }
                sent += 1;
                // A closed socket shows as EOF on a read that does not wait.
                let mut probe = [0u8; 64];
                match tokio::time::timeout(Duration::from_secs(1), socket.read(&mut probe)).await {
                    Ok(Ok(0) | Err(_)) => return sent,
                    Ok(Ok(_)) => panic!("the server answered an incomplete request head"),
                    Err(_) => {}
                }
            }
            sent
        }));
    }
    for dripper in drippers {
        let sent = dripper.await.unwrap();
        assert!(
            sent < head.len(),
            "a socket dripping one byte a second stayed open until its head was complete \
             ({sent} of {} bytes)",
            head.len()
        );
    }

    // A keep-alive connection that goes quiet after one request is closed too.
    let mut idle = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answered = read_until_closed(&mut idle, LIMIT)
        .await
        .expect("the server closes an idle keep-alive connection");
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
    assert_eq!(app.get("/health").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_over_the_connection_cap_get_a_503_and_do_not_starve_health() {
    const CAP: usize = 30;
    let app = spawn_gateway_with(vec![
        ("MAX_CONNECTIONS", CAP.to_string()),
        ("HTTP_HEADER_TIMEOUT_SECONDS", "2".to_owned()),
    ])
    .await;
    let mut idle = Vec::new();
    for _ in 0..CAP {
        idle.push(TcpStream::connect(("127.0.0.1", app.port)).await.unwrap());
    }
    // Over the cap: refused politely, at once, in the JSON error body.
    let mut over = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    over.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let refused = read_until_closed(&mut over, LIMIT)
        .await
        .expect("an over-cap connection is closed");
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(refused.contains("retry-after: 1"), "{refused}");
    assert!(refused.contains("\"connections_exhausted\""), "{refused}");

    // The idle sockets are closed after the header timeout; /health answers again while the
    // clients still hold their ends.
    for socket in &mut idle {
        assert!(
            read_until_closed(socket, LIMIT).await.is_some(),
            "an idle socket stayed open"
        );
    }
    let health = app.get("/health").await;
    assert_eq!(health.status(), 200);
    drop(idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_are_capped_per_principal_and_per_gateway_with_retry_after() {
    let app = spawn_gateway_with(vec![
        ("MAX_STREAMS_PER_PRINCIPAL", "3".to_owned()),
        ("MAX_STREAMS", "4".to_owned()),
        ("AUTH_ENABLED", "true".to_owned()),
        ("AUTH_API_KEYS", "alice:key-a,bob:key-b".to_owned()),
    ])
    .await;
    let submit = |key: &'static str| {
        let app = &app;
        async move {
            let response = app
                .client
                .post(app.url("/api/v1/design"))
                .header("x-api-key", key)
                .json(&json!({ "prompt": "a box 10x10x10 mm", "enable_execution": false }))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 202);
            response.json::<Value>().await.unwrap()["request_id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let alice_job = submit("key-a").await;
    let bob_job = submit("key-b").await;
    let open = |key: &'static str, id: String| {
        let app = &app;
        async move {
            app.client
                .get(app.url(&format!("/api/v1/design/{id}/events")))
                .header("x-api-key", key)
                .send()
                .await
                .unwrap()
        }
    };
    let mut alice = Vec::new();
    for _ in 0..3 {
        let stream = open("key-a", alice_job.clone()).await;
        assert_eq!(stream.status(), 200);
        alice.push(stream);
    }
    let fourth = open("key-a", alice_job.clone()).await;
    assert!(fourth.headers().contains_key("retry-after"));
    assert_eq!(error_code(fourth, 429).await, "too_many_streams");
    // A WebSocket is a stream too.
    let ws = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        format!("ws://127.0.0.1:{}/ws/{alice_job}", app.port),
    )
    .map(|mut request| {
        request
            .headers_mut()
            .insert("x-api-key", "key-a".parse().unwrap());
        request
    })
    .unwrap();
    match tokio_tungstenite::connect_async(ws).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429)
        }
        other => panic!("a fourth stream of alice's over WebSocket: {other:?}"),
    }

    let bob_first = open("key-b", bob_job.clone()).await;
    assert_eq!(bob_first.status(), 200, "bob has his own share");
    let gateway_full = open("key-b", bob_job.clone()).await;
    assert!(gateway_full.headers().contains_key("retry-after"));
    assert_eq!(error_code(gateway_full, 503).await, "streams_exhausted");

    drop(alice.pop());
    let mut freed = None;
    for _ in 0..100 {
        let again = open("key-b", bob_job.clone()).await;
        if again.status() == 200 {
            freed = Some(again);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(freed.is_some(), "a closed stream frees its slot");
}

async fn send_json(socket: &mut WsStream, value: Value) {
    socket
        .send(Message::Text(value.to_string().into()))
        .await
        .expect("a message sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_websocket_cannot_create_more_jobs_than_the_rate_limit_allows() {
    const LIMIT_PER_WINDOW: usize = 5;
    let app = spawn_gateway_with(vec![
        ("RATE_LIMIT_REQUESTS", LIMIT_PER_WINDOW.to_string()),
        ("RATE_LIMIT_WINDOW_SECONDS", "600".to_owned()),
    ])
    .await;
    let mut socket = ws_connect(&app, "/ws").await;
    const SENT: usize = 12;
    for _ in 0..SENT {
        send_json(
            &mut socket,
            json!({ "type": "stream_design", "prompt": "a box 10x10x10 mm", "enable_execution": false }),
        )
        .await;
    }
    let (mut acks, mut refused) = (0, 0);
    while acks + refused < SENT {
        let message = next_json(&mut socket, LIMIT)
            .await
            .expect("an answer per message");
        match (message["type"].as_str(), message["code"].as_str()) {
            (Some("ack"), _) => acks += 1,
            (Some("error"), Some("rate_limited")) => {
                assert!(
                    message["retry_after"].as_u64().is_some_and(|s| s > 0),
                    "{message}"
                );
                refused += 1;
            }
            _ => {}
        }
    }
    // The upgrade is a read (its own budget); every message spends the write budget.
    assert_eq!(acks, LIMIT_PER_WINDOW, "jobs created over one socket");
    assert_eq!(refused, SENT - acks);
    let over_http = app
        .post_design(&json!({ "prompt": "a box 10x10x10 mm" }))
        .await;
    assert_eq!(
        error_code(over_http, 429).await,
        "rate_limited",
        "the socket used the same budget as HTTP"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_50_mb_fragmented_message_is_refused_unparsed() {
    let app = spawn_gateway().await;
    let mut socket = ws_connect(&app, "/ws").await;
    const TOTAL: usize = 50 * 1024 * 1024;
    const FRAGMENT: usize = 1024 * 1024;
    let mut first = br#"{"type":"subscribe","request_id":""#.to_vec();
    first.resize(FRAGMENT, b'A');
    let mut sent = 0;
    let mut opcode = OpCode::Data(Data::Text);
    let mut chunk = first;
    while sent < TOTAL {
        let last = sent + FRAGMENT >= TOTAL;
        if last {
            chunk.truncate(FRAGMENT - 2);
            chunk.extend_from_slice(br#""}"#);
        }
        let frame = Frame::message(chunk.clone(), opcode, last);
        if socket.send(Message::Frame(frame)).await.is_err() {
            break;
        }
        sent += FRAGMENT;
        opcode = OpCode::Data(Data::Continue);
        chunk = vec![b'A'; FRAGMENT];
    }
    assert!(
        sent < TOTAL,
        "the gateway read all {TOTAL} bytes of one message"
    );
    // Whatever the socket still delivers, it is no answer to the message and no echo of it.
    if let Some(message) = next_json(&mut socket, LIMIT).await {
        let shown: String = message.to_string().chars().take(100).collect();
        panic!("the oversize message was answered: {shown}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_bounds_its_requests_in_flight_and_answers_garbage_in_place() {
    let app = spawn_gateway().await;
    let id = app.create_idle_job().await;
    let mut socket = ws_connect(&app, "/ws").await;
    const SUBSCRIBES: usize = 12;
    const GARBAGE: usize = 2_000;
    for _ in 0..SUBSCRIBES {
        send_json(
            &mut socket,
            json!({ "type": "subscribe", "request_id": id }),
        )
        .await;
    }
    for n in 0..GARBAGE {
        socket
            .send(Message::Text(format!("garbage {n}").into()))
            .await
            .unwrap();
    }
    let long_id = "7".repeat(60_000);
    send_json(&mut socket, json!({ "type": "stream_design", "prompt": 5 })).await;
    let (mut too_many, mut malformed) = (0, 0);
    while too_many + malformed < SUBSCRIBES - 8 + GARBAGE {
        let message = next_json(&mut socket, LIMIT).await.expect("an answer");
        match message["code"].as_str() {
            Some("too_many_requests_in_flight") => too_many += 1,
            Some("malformed_json") => malformed += 1,
            _ => panic!("unexpected: {message}"),
        }
    }
    assert_eq!(too_many, SUBSCRIBES - 8, "8 requests in flight per session");
    assert_eq!(malformed, GARBAGE);
    let invalid = next_json(&mut socket, LIMIT).await.unwrap();
    assert_eq!(invalid["code"], "invalid_message", "{invalid}");

    // The 8 subscriptions are live: one event reaches each.
    let mut conn = app.async_redis().await;
    app.publish(
        &mut conn,
        id,
        shared::events::EventType::Log,
        json!({ "message": "hello" }),
    )
    .await;
    for _ in 0..8 {
        let event = next_json(&mut socket, LIMIT).await.unwrap();
        assert_eq!(event["seq"], 1, "{event}");
    }

    // Ids are never echoed beyond 36 characters, over WebSocket or HTTP.
    let mut other = ws_connect(&app, "/ws").await;
    send_json(
        &mut other,
        json!({ "type": "subscribe", "request_id": long_id }),
    )
    .await;
    let refused = next_json(&mut other, LIMIT).await.unwrap();
    assert_eq!(refused["code"], "design_not_found");
    assert!(refused.to_string().len() < 300, "{refused}");
    let over_http = app
        .get(&format!("/api/v1/design/{}", "7".repeat(5_000)))
        .await;
    let body = over_http.text().await.unwrap();
    assert!(
        body.len() < 300 && body.contains("design_not_found"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_string_errors_use_the_json_body_and_formats_are_deduplicated() {
    let app = spawn_gateway().await;
    let id = app.create_idle_job().await;
    let bad_limit = app.get("/api/v1/admin/jobs/dead?limit=lots").await;
    assert_eq!(error_code(bad_limit, 400).await, "invalid_query");
    let bad_query = app
        .get(&format!(
            "/api/v1/design/{id}/export?formats=step&formats=stl"
        ))
        .await;
    assert_eq!(error_code(bad_query, 400).await, "invalid_query");

    let repeated = vec!["step"; 13_000].join(",");
    let listing = app.export(&id.to_string(), &repeated).await;
    assert_eq!(listing.as_array().unwrap().len(), 1, "{listing}");
    let mixed = app
        .export(&id.to_string(), "stl,step,stl,step,fcstd,stl")
        .await;
    let order: Vec<&str> = listing_formats(&mixed);
    assert_eq!(order, ["stl", "step", "fcstd"]);

    let unknown = "x".repeat(60_000);
    let response = app
        .get(&format!("/api/v1/design/{id}/export?formats={unknown}"))
        .await;
    assert_eq!(response.status(), 422);
    let body = response.text().await.unwrap();
    assert!(
        body.len() < 400,
        "the unknown name is not echoed whole: {} bytes",
        body.len()
    );
}

fn listing_formats(listing: &Value) -> Vec<&str> {
    listing
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["format"].as_str().unwrap())
        .collect()
}
