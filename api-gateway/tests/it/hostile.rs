//! Hostile clients: relays that outlive their clients, sockets that never finish a request,
//! idle sockets, and a `/ws` session used to get around the HTTP limits.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{AppOptions, TestApp, spawn_app_with};

type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const LIMIT: Duration = Duration::from_secs(30);
/// Longer than the relay's resync interval (5 s): a relay left behind by its client reads the
/// replay stream at least once in any window this long.
const QUIET_WINDOW: Duration = Duration::from_secs(6);

fn idle_app(env: Vec<(&'static str, String)>) -> AppOptions {
    AppOptions {
        workers: 0,
        env,
        ..AppOptions::default()
    }
}

async fn ws_connect(app: &TestApp, path: &str) -> WsStream {
    let (socket, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}{path}", app.port))
            .await
            .expect("WebSocket connects");
    socket
}

/// The next text message as JSON; `None` when the server closed the socket.
async fn next_json(socket: &mut WsStream) -> Option<Value> {
    loop {
        let message = tokio::time::timeout(LIMIT, socket.next())
            .await
            .expect("a WebSocket message in time")?;
        match message {
            Ok(Message::Text(text)) => return Some(serde_json::from_str(&text).expect("JSON")),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

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
    let app = spawn_app_with(idle_app(Vec::new())).await;
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
    let id_uuid = uuid::Uuid::parse_str(&id).unwrap();
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
        let event = next_json(socket).await.expect("an event");
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
