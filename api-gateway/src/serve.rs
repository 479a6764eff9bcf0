//! The accept loop: HTTP/1.1 connections under a cap, each with a header-read timeout.
//!
//! `axum::serve` has neither: a client dripping one header byte a second, or a thousand idle
//! sockets, kept their descriptors forever. Here every connection holds a permit of
//! `MAX_CONNECTIONS` (kept by a WebSocket after its upgrade, see [`ConnectionPermit`]); one
//! over the cap gets a short `503` with `Retry-After` and is closed. hyper's header-read timer
//! runs from the moment a connection waits for a request head (its first, or the next one on
//! a keep-alive connection) until the head is complete, so `HTTP_HEADER_TIMEOUT_SECONDS` closes
//! slow headers and idle keep-alive connections alike.

use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::{Layer, ServiceExt};

use crate::error::{CONNECTIONS_RETRY_AFTER_SECS, Error};

/// Over-cap connections answered at once; beyond, they are closed without an answer, so
/// that refusing costs nothing either.
const REFUSALS_IN_FLIGHT: usize = 64;
/// How long a refused connection may take to read its 503.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);

/// The connection's slot of `MAX_CONNECTIONS`, in every request's extensions: a WebSocket
/// handler keeps it for the life of the socket, which hyper no longer tracks once upgraded.
#[derive(Clone)]
pub struct ConnectionPermit(#[allow(dead_code)] Arc<OwnedSemaphorePermit>);

/// How the accept loop treats connections.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub header_timeout: Duration,
}

/// Serves `router` on `listener` until `shutdown`, then lets the requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let refusals = Arc::new(Semaphore::new(REFUSALS_IN_FLIGHT));
    let connections = TaskTracker::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors, most likely: wait for some to free, keep serving.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "MAX_CONNECTIONS reached; refusing a connection");
            if let Ok(refusal) = refusals.clone().try_acquire_owned() {
                tokio::spawn(refuse(stream, refusal));
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = router.clone();
        connections.spawn(serve_connection(
            stream,
            peer,
            service,
            ConnectionPermit(Arc::new(permit)),
            limits,
            shutdown.clone(),
        ));
    }
    connections.close();
    connections.wait().await;
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    permit: ConnectionPermit,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
) {
    let service = axum::Extension(permit)
        .layer(axum::Extension(ConnectInfo(peer)).layer(router))
        .map_request(|request: Request<Incoming>| request.map(axum::body::Body::new));
    let service = TowerToHyperService::new(service);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let mut connection = pin!(
        builder
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades()
    );
    let mut draining = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, %peer, "connection ended with an error");
                }
                return;
            }
            () = shutdown.cancelled(), if !draining => {
                draining = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Answers a connection over the cap with a 503 in the JSON error body, then closes it.
async fn refuse(mut stream: TcpStream, _refusal: OwnedSemaphorePermit) {
    let body = serde_json::json!({
        "error": {
            "code": "connections_exhausted",
            "message": Error::ConnectionsExhausted.to_string(),
            "request_id": null,
        }
    })
    .to_string();
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         retry-after: {CONNECTIONS_RETRY_AFTER_SECS}\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(REFUSAL_LINGER, async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await?;
        // Read what the client sent, so that closing does not reset the connection before
        // the client has read the answer.
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
}

/// `MAX_CONNECTIONS`, lowered to what the process's descriptor limit can hold (the soft limit
/// raised first, up to the hard one, where needed): past the limit `accept` fails and nobody
/// gets an answer, `/health` included.
pub fn connections_within_descriptor_limit(wanted: usize) -> usize {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    /// Descriptors kept for Redis, files and the listener.
    const RESERVED: u64 = 64;
    let needed = wanted as u64 + RESERVED;
    let limit = getrlimit(Resource::Nofile);
    let Some(current) = limit.current else {
        return wanted;
    };
    let mut usable = current;
    if current < needed {
        let raised = limit.maximum.map_or(needed, |maximum| maximum.min(needed));
        if raised > current
            && setrlimit(
                Resource::Nofile,
                Rlimit {
                    current: Some(raised),
                    maximum: limit.maximum,
                },
            )
            .is_ok()
        {
            usable = raised;
        }
    }
    let fits = usable.saturating_sub(RESERVED).max(1) as usize;
    if fits < wanted {
        tracing::warn!(
            max_connections = wanted,
            descriptors = usable,
            "MAX_CONNECTIONS does not fit the descriptor limit (ulimit -n); capping it at {fits}"
        );
    }
    wanted.min(fits)
}
