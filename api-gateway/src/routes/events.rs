//! Live progress: Server-Sent Events and WebSocket relays of a job's events.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use axum::{Extension, Router};
use futures::channel::mpsc;
use futures::{SinkExt, Stream, StreamExt};
use serde_json::Value;
use shared::api::{SessionReply, SessionRequest};
use shared::events::EventType;
use shared::job::DesignStatus;
use shared::job_id::JobId;
use shared::metrics::{GaugeGuard, SSE_CONNECTIONS_ACTIVE, WEBSOCKET_CONNECTIONS_ACTIVE};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::error::Error;
use crate::extract::{CurrentPrincipal, OwnedDesign};
use crate::guard::{Budget, Charge, charge, rate_bucket};
use crate::relay::{RelayedEvent, relay};
use crate::serve::ConnectionPermit;
use crate::service;
use crate::state::AppState;
use shared::auth::Principal;

/// Events queued per client between the relay and the socket.
const CLIENT_BUFFER: usize = 64;
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The SSE route, the one route a stream token opens (see `guard`).
pub const EVENTS_ROUTE: &str = "/api/v1/design/{request_id}/events";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(EVENTS_ROUTE, get(stream_design_events))
        .route("/ws/{request_id}", get(relay_job_over_websocket))
        .route("/ws", get(websocket_session))
}

/// Starts relaying a job's events after `after_seq` in a task of its own; the stream ends
/// after the terminal event or when the gateway drains. Dropping the stream (the client left)
/// ends the relay task at once.
fn start_relay(
    state: &AppState,
    request_id: JobId,
    after_seq: u64,
) -> impl Stream<Item = RelayedEvent> + Send + use<> {
    let (sender, mut receiver) = tokio::sync::mpsc::channel(CLIENT_BUFFER);
    let state = state.clone();
    tokio::spawn(async move {
        let end = relay(
            &state.hub,
            state.conn.clone(),
            &state.keys,
            &request_id,
            after_seq,
            sender,
            state.shutdown.clone(),
        )
        .await;
        tracing::debug!(%request_id, ?end, "relay ended");
    });
    futures::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}

/// The job's events as Server-Sent Events: replayed from the start (or after
/// `Last-Event-ID`), then live; the stream ends after the `completed` event.
#[utoipa::path(get, path = "/api/v1/design/{request_id}/events", tag = "design",
    params(
        ("request_id" = String, Path, description = "The job id"),
        ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this seq")),
    responses(
        (status = 200, description = "text/event-stream of ProgressEvent", content_type = "text/event-stream"),
        (status = 404, description = "No such job", body = shared::api::ErrorBody),
        (status = 429, description = "MAX_STREAMS_PER_PRINCIPAL streams open already", body = shared::api::ErrorBody),
        (status = 503, description = "MAX_STREAMS streams open on this gateway", body = shared::api::ErrorBody)))]
pub async fn stream_design_events(
    State(state): State<AppState>,
    CurrentPrincipal(principal): CurrentPrincipal,
    OwnedDesign(record): OwnedDesign,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Error> {
    let slot = state
        .streams
        .acquire(&rate_bucket(&state, &principal, peer, &headers))?;
    let after_seq = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    // Moved into the stream, so the gauge goes down when the stream ends or the client leaves.
    let open = (GaugeGuard::increment(SSE_CONNECTIONS_ACTIVE), slot);
    let events = start_relay(&state, record.request_id, after_seq).map(move |event| {
        let _open = &open;
        Ok(Event::default()
            .id(event.seq.to_string())
            .event(event.kind.as_str())
            .data(event.json.as_ref()))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

/// A WebSocket relaying one job's events as JSON messages, closed after `completed`.
pub async fn relay_job_over_websocket(
    State(state): State<AppState>,
    CurrentPrincipal(principal): CurrentPrincipal,
    // An unknown job is a 404 whether or not the request is an upgrade.
    OwnedDesign(record): OwnedDesign,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    connection: Option<Extension<ConnectionPermit>>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, Error> {
    let upgrade = limit_messages(upgrade.map_err(upgrade_required)?, &state);
    let slot = state
        .streams
        .acquire(&rate_bucket(&state, &principal, peer, &headers))?;
    let request_id = record.request_id;
    Ok(upgrade.on_upgrade(move |socket| async move {
        let _open = (
            GaugeGuard::increment(WEBSOCKET_CONNECTIONS_ACTIVE),
            slot,
            connection,
        );
        let (mut sink, mut incoming) = socket.split();
        let mut events = start_relay(&state, request_id, 0);
        loop {
            tokio::select! {
                event = events.next() => match event {
                    Some(event) => {
                        if sink.send(Message::Text(event.json.as_ref().into())).await.is_err() {
                            return;
                        }
                    }
                    None => break,
                },
                message = incoming.next() => match message {
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => {}
                },
            }
        }
        let _ = sink.send(Message::Close(None)).await;
    }))
}

/// `GET /ws`: a session that takes `stream_design` and `subscribe` requests.
pub async fn websocket_session(
    State(state): State<AppState>,
    CurrentPrincipal(principal): CurrentPrincipal,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    connection: Option<Extension<ConnectionPermit>>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, Error> {
    let upgrade = limit_messages(upgrade.map_err(upgrade_required)?, &state);
    let bucket = rate_bucket(&state, &principal, peer, &headers);
    let slot = state.streams.acquire(&bucket)?;
    Ok(upgrade.on_upgrade(move |socket| async move {
        let _open = (slot, connection);
        serve_session(state, principal, bucket, socket).await;
    }))
}

/// A message (or a frame) over `MAX_BODY_BYTES` ends the socket before it is parsed: a
/// message is a request body by other means.
fn limit_messages(upgrade: WebSocketUpgrade, state: &AppState) -> WebSocketUpgrade {
    let limit = state.settings.http.max_body_bytes;
    upgrade.max_message_size(limit).max_frame_size(limit)
}

fn upgrade_required(rejection: WebSocketUpgradeRejection) -> Error {
    Error::BadRequest {
        code: "websocket_upgrade_required",
        message: format!("This route speaks WebSocket: {rejection}"),
    }
}

fn error_message(code: &str, message: impl Into<String>) -> SessionReply {
    SessionReply::Error {
        code: code.to_owned(),
        message: message.into(),
        retry_after: None,
    }
}

/// One message from the gateway to a `/ws` client: one of its own replies, or an event of a
/// subscribed job relayed as the worker published it.
enum Outgoing {
    Reply(SessionReply),
    Event(std::sync::Arc<str>),
}

impl From<SessionReply> for Outgoing {
    fn from(reply: SessionReply) -> Self {
        Self::Reply(reply)
    }
}

impl Outgoing {
    fn into_text(self) -> String {
        match self {
            // Serialising a reply cannot fail: every field is a string, a number or an enum.
            Self::Reply(reply) => serde_json::to_string(&reply).unwrap_or_default(),
            Self::Event(json) => json.as_ref().to_owned(),
        }
    }
}

/// Runs one `/ws` session. Each message is charged to the principal's rate limit as an HTTP
/// request would be, and parsed in place; a valid request gets a task of its own (up to
/// [`SESSION_REQUESTS_IN_FLIGHT`]), all writing to one outbox, so a long stream does not keep
/// the session from answering the next message. Finished tasks are reaped as they end.
async fn serve_session(state: AppState, principal: Principal, bucket: String, socket: WebSocket) {
    let _open = GaugeGuard::increment(WEBSOCKET_CONNECTIONS_ACTIVE);
    let (mut sink, mut incoming) = socket.split();
    let (outbox, mut outgoing) = mpsc::channel::<Outgoing>(CLIENT_BUFFER);
    let mut requests = JoinSet::new();
    let mut budget = SessionBudget::default();
    loop {
        let reply = tokio::select! {
            message = outgoing.next() => match message {
                Some(message) => message,
                None => break,
            },
            Some(_) = requests.join_next(), if !requests.is_empty() => continue,
            message = incoming.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    match admit(&state, &bucket, &mut budget, requests.len(), &text).await {
                        Ok(request) => {
                            requests.spawn(answer(state.clone(), principal.clone(), request, outbox.clone()));
                            continue;
                        }
                        Err(reply) => reply.into(),
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    match charge_message(&state, &bucket, &mut budget).await {
                        Ok(()) => error_message("unsupported_message", "Send JSON text messages.").into(),
                        Err(reply) => reply.into(),
                    }
                }
                Some(Err(error)) => {
                    // Over `MAX_BODY_BYTES`, or not WebSocket: say so, if the socket still can.
                    let close = CloseFrame {
                        code: close_code::POLICY,
                        reason: "message refused: over MAX_BODY_BYTES or malformed".into(),
                    };
                    tracing::debug!(%error, "a /ws session ended on a bad message");
                    let _ = sink.send(Message::Close(Some(close))).await;
                    break;
                }
                Some(Ok(Message::Close(_))) | None => break,
                Some(Ok(_)) => continue,
            },
            () = state.shutdown.cancelled() => {
                let _ = sink.send(Message::Close(None)).await;
                break;
            }
        };
        if sink
            .send(Message::Text(reply.into_text().into()))
            .await
            .is_err()
        {
            break;
        }
    }
    requests.abort_all();
}

/// Requests one `/ws` session may have in flight at once (streams included); one more is
/// refused with `too_many_requests_in_flight` until one ends.
pub const SESSION_REQUESTS_IN_FLIGHT: usize = 8;

/// A session's view of its rate limit: after a refusal, messages are refused here, without
/// asking Redis, until the limiter said a slot frees.
#[derive(Default)]
struct SessionBudget {
    refused_until: Option<(Instant, u64)>,
}

/// Charges one message to the principal's rate limit; `Err` is the refusal to send back.
async fn charge_message(
    state: &AppState,
    bucket: &str,
    budget: &mut SessionBudget,
) -> Result<(), SessionReply> {
    if let Some((until, retry_after)) = budget.refused_until {
        if Instant::now() < until {
            return Err(rate_limited(retry_after));
        }
        budget.refused_until = None;
    }
    // A message may create a job, so it spends the write budget.
    match charge(state, bucket, Budget::Write).await {
        Ok(Charge::Unlimited | Charge::Admitted(_)) => Ok(()),
        Ok(Charge::Refused(decision)) => {
            let retry_after = decision.retry_after_secs();
            budget.refused_until = Some((Instant::now() + decision.reset, retry_after));
            Err(rate_limited(retry_after))
        }
        Err(error) => Err(error_as_message(error)),
    }
}

fn rate_limited(retry_after: u64) -> SessionReply {
    let error = Error::RateLimited { retry_after };
    SessionReply::Error {
        code: error.code().to_owned(),
        message: error.to_string(),
        retry_after: Some(retry_after),
    }
}

/// Charges a text message, parses it and checks the session has room for it; `Err` is the
/// answer to send back at once.
async fn admit(
    state: &AppState,
    bucket: &str,
    budget: &mut SessionBudget,
    in_flight: usize,
    text: &str,
) -> Result<SessionRequest, SessionReply> {
    charge_message(state, bucket, budget).await?;
    let request = parse_request(text)?;
    if in_flight >= SESSION_REQUESTS_IN_FLIGHT {
        return Err(error_message(
            "too_many_requests_in_flight",
            format!(
                "This session has {SESSION_REQUESTS_IN_FLIGHT} requests in flight; wait for \
                 one to end or open another socket."
            ),
        ));
    }
    Ok(request)
}

fn parse_request(text: &str) -> Result<SessionRequest, SessionReply> {
    let value: Value = serde_json::from_str(text)
        .map_err(|error| error_message("malformed_json", format!("Not valid JSON: {error}")))?;
    serde_json::from_value::<SessionRequest>(value).map_err(|error| {
        let message = format!(
            "Expected {{\"type\": \"stream_design\", \"prompt\": ...}} or \
             {{\"type\": \"subscribe\", \"request_id\": ...}}: {error}"
        );
        error_message("invalid_message", message)
    })
}

/// Answers one session request: a `stream_design` submits the design, acknowledges it and
/// streams its events as `stream_chunk`s; a `subscribe` relays the job's events as they are.
/// Both end with `stream_done` and the final status.
async fn answer(
    state: AppState,
    principal: Principal,
    request: SessionRequest,
    mut outbox: mpsc::Sender<Outgoing>,
) {
    let started = match request {
        SessionRequest::StreamDesign(body) => match stream_design(&state, &principal, body).await {
            Ok(ack) => {
                let request_id = ack.request_id;
                let ack = SessionReply::Ack {
                    request_id,
                    status: ack.status,
                };
                if outbox.send(ack.into()).await.is_err() {
                    return;
                }
                Ok((request_id, true))
            }
            Err(error) => Err(error),
        },
        SessionRequest::Subscribe { request_id } => match request_id.parse::<JobId>() {
            Ok(id) => service::load_owned(&state, &principal, &id)
                .await
                .map(|record| (record.request_id, false)),
            Err(_) => Err(Error::design_not_found(&request_id)),
        },
    };
    let (request_id, as_chunks) = match started {
        Ok(started) => started,
        Err(error) => {
            let _ = outbox.send(error_as_message(error).into()).await;
            return;
        }
    };
    let mut events = start_relay(&state, request_id, 0);
    let mut final_status = None;
    while let Some(event) = events.next().await {
        let is_terminal = event.kind == EventType::Completed;
        let data = (as_chunks || is_terminal).then(|| event_data(&event.json));
        if let Some(data) = data.as_ref().filter(|_| is_terminal) {
            final_status = serde_json::from_value::<DesignStatus>(data["status"].clone()).ok();
        }
        let message = match data.filter(|_| as_chunks) {
            Some(data) => Outgoing::Reply(SessionReply::StreamChunk {
                request_id,
                seq: event.seq,
                event_type: event.kind,
                content: chunk_text(event.kind, &data),
            }),
            None => Outgoing::Event(event.json),
        };
        if outbox.send(message).await.is_err() {
            return;
        }
    }
    if state.shutdown.is_cancelled() && final_status.is_none() {
        return;
    }
    let done = SessionReply::StreamDone {
        request_id,
        status: final_status,
    };
    let _ = outbox.send(done.into()).await;
}

/// Parses and submits a `stream_design` request as `POST /api/v1/design` would.
async fn stream_design(
    state: &AppState,
    principal: &Principal,
    body: shared::api::DesignCreateRequest,
) -> Result<shared::api::DesignResponse, Error> {
    let design = body.parse()?;
    service::submit(state, principal, design, None).await
}

/// An event's `data`, or `null` if its JSON does not parse.
fn event_data(json: &str) -> Value {
    serde_json::from_str::<Value>(json)
        .map(|mut event| event["data"].take())
        .unwrap_or(Value::Null)
}

/// The text a `stream_chunk` carries: the model's words for `llm_chunk`, a short line otherwise.
fn chunk_text(kind: EventType, data: &Value) -> String {
    let text = |key: &str| data[key].as_str().unwrap_or_default().to_owned();
    match kind {
        EventType::LlmChunk => text("content"),
        EventType::Log => text("message"),
        EventType::Status => format!("status: {}", data["status"].as_str().unwrap_or("?")),
        EventType::Progress => text("message"),
        EventType::Validation => format!("validation score: {}", data["score"]),
        EventType::Artifact => format!("artifact: {}", text("name")),
        EventType::Error => format!("error: {}", text("message")),
        EventType::Completed => format!("completed: {}", data["status"].as_str().unwrap_or("?")),
    }
}

/// An HTTP error as a session `error` message.
fn error_as_message(error: Error) -> SessionReply {
    let code = error.code();
    error_message(code, error.to_string())
}
