//! A WebSocket client of the gateway's `/ws` routes, reading JSON messages.

use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use crate::TestApp;

pub type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens `path` (`/ws` or `/ws/{id}`, with any query) on the app's gateway.
pub async fn ws_connect(app: &TestApp, path: &str) -> WsStream {
    let (socket, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}{path}", app.port))
            .await
            .expect("WebSocket connects");
    socket
}

/// The next text message as JSON, within `limit`; `None` when the server closed the socket
/// (or the connection broke).
pub async fn next_json(socket: &mut WsStream, limit: Duration) -> Option<Value> {
    loop {
        let message = tokio::time::timeout(limit, socket.next())
            .await
            .expect("a WebSocket message in time")?;
        match message {
            Ok(Message::Text(text)) => return Some(serde_json::from_str(&text).expect("JSON")),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}
