//! Delivers one job's events to one client in `seq` order with no gap and no duplicate:
//! the replay stream first, then the hub's live channel, and back to the replay stream
//! whenever the live side skipped (lag, reconnect) or has been quiet for a while.
//!
//! A relay ends as soon as its client leaves (the receiving side of `out` is dropped), even
//! while the job is silent: it never polls Redis for nobody.

use shared::job_id::JobId;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use shared::events::{EventHeader, EventType, replay_after};
use shared::keys::Keys;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::event_hub::EventHub;

/// A listener with nothing new re-reads the replay stream this often, so an event published
/// while the hub was reconnecting is never waited for in vain.
const RESYNC_INTERVAL: Duration = Duration::from_secs(5);
/// Replay entries read per round trip.
const REPLAY_BATCH: usize = 500;

/// One event on its way to a client.
#[derive(Debug, Clone)]
pub struct RelayedEvent {
    pub seq: u64,
    pub kind: EventType,
    pub json: Arc<str>,
}

/// Why a relay stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum RelayEnd {
    /// The terminal event was delivered.
    Completed,
    /// The client went away.
    ClientGone,
    /// The gateway is shutting down.
    Shutdown,
}

/// Delivers the job's events after `after_seq` to `out` until the terminal one.
pub async fn relay(
    hub: &EventHub,
    mut conn: ConnectionManager,
    keys: &Keys,
    request_id: &JobId,
    after_seq: u64,
    mut out: mpsc::Sender<RelayedEvent>,
    shutdown: CancellationToken,
) -> RelayEnd {
    // Subscribe before reading the replay, so nothing falls between the two.
    let mut subscription = hub.subscribe(request_id);
    let mut last = after_seq;
    let mut resync = true;
    loop {
        if resync {
            resync = false;
            match catch_up(&mut conn, keys, request_id, &mut last, &mut out).await {
                Ok(Some(end)) => return end,
                Ok(None) => {}
                Err(error) => {
                    shared::metrics::record_redis_error(shared::metrics::RedisComponent::Events);
                    warn!(%error, %request_id, "cannot read the replay stream; retrying");
                    resync = true;
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        () = shutdown.cancelled() => return RelayEnd::Shutdown,
                        () = out.closed() => return RelayEnd::ClientGone,
                    }
                }
            }
        }
        let received = tokio::select! {
            received = tokio::time::timeout(RESYNC_INTERVAL, subscription.receiver.recv()) => received,
            () = shutdown.cancelled() => return RelayEnd::Shutdown,
            () = out.closed() => return RelayEnd::ClientGone,
        };
        let json = match received {
            Ok(Ok(json)) => json,
            // Lagged, closed, or quiet: the replay stream has whatever we missed.
            Ok(Err(_)) | Err(_) => {
                resync = true;
                continue;
            }
        };
        let Some(header) = EventHeader::parse(&json) else {
            continue;
        };
        if header.seq <= last {
            continue;
        }
        if header.seq > last + 1 {
            resync = true;
            continue;
        }
        if let Some(end) = deliver(&mut out, &mut last, header, json).await {
            return end;
        }
    }
}

/// Sends everything the replay stream has after `last`; `Some` when the relay is over.
async fn catch_up(
    conn: &mut ConnectionManager,
    keys: &Keys,
    request_id: &JobId,
    last: &mut u64,
    out: &mut mpsc::Sender<RelayedEvent>,
) -> Result<Option<RelayEnd>, redis::RedisError> {
    loop {
        let batch = replay_after(conn, keys, request_id, *last, REPLAY_BATCH).await?;
        if batch.is_empty() {
            return Ok(None);
        }
        for (_, json) in batch {
            let Some(header) = EventHeader::parse(&json) else {
                continue;
            };
            if let Some(end) = deliver(out, last, header, Arc::from(json)).await {
                return Ok(Some(end));
            }
        }
    }
}

async fn deliver(
    out: &mut mpsc::Sender<RelayedEvent>,
    last: &mut u64,
    header: EventHeader,
    json: Arc<str>,
) -> Option<RelayEnd> {
    let event = RelayedEvent {
        seq: header.seq,
        kind: header.kind,
        json,
    };
    if out.send(event).await.is_err() {
        return Some(RelayEnd::ClientGone);
    }
    *last = header.seq;
    (header.kind == EventType::Completed).then_some(RelayEnd::Completed)
}
