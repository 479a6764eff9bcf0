//! One Redis subscriber per gateway, fanned out in memory to every client of every job.
//!
//! The hub holds a single pattern subscription (`design:*:events`) for all its clients, and a
//! bounded broadcast channel per job that has local listeners; an event of a job nobody here
//! watches costs one map lookup. A listener that falls behind the channel's capacity is told
//! it lagged and resumes from the replay stream (see `relay`), so it never slows the others.

use shared::job_id::JobId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use shared::events::{CHANNEL_PATTERN, request_id_of_channel};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

/// Events buffered per job for its local listeners before a slow one is declared lagging.
const CHANNEL_CAPACITY: usize = 256;

type Listeners = Arc<Mutex<HashMap<String, broadcast::Sender<Arc<str>>>>>;

#[derive(Clone)]
pub struct EventHub {
    listeners: Listeners,
}

/// A listener's handle; the job's channel is dropped with its last listener.
pub struct Subscription {
    pub receiver: broadcast::Receiver<Arc<str>>,
    listeners: Listeners,
    request_id: String,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut listeners = self.listeners.lock().expect("listeners lock");
        // Our own receiver is still alive here, hence "1".
        if listeners
            .get(&self.request_id)
            .is_some_and(|sender| sender.receiver_count() <= 1)
        {
            listeners.remove(&self.request_id);
        }
    }
}

impl EventHub {
    /// Starts the subscriber task; it reconnects by itself until `shutdown`.
    pub fn start(client: redis::Client, shutdown: CancellationToken) -> Self {
        let listeners = Listeners::default();
        tokio::spawn(subscribe_forever(client, listeners.clone(), shutdown));
        Self { listeners }
    }

    pub fn subscribe(&self, request_id: &JobId) -> Subscription {
        let mut listeners = self.listeners.lock().expect("listeners lock");
        let receiver = listeners
            .entry(request_id.to_string())
            .or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0)
            .subscribe();
        Subscription {
            receiver,
            listeners: self.listeners.clone(),
            request_id: request_id.to_string(),
        }
    }

    /// Jobs with local listeners right now.
    pub fn watched_jobs(&self) -> usize {
        self.listeners.lock().expect("listeners lock").len()
    }
}

async fn subscribe_forever(
    client: redis::Client,
    listeners: Listeners,
    shutdown: CancellationToken,
) {
    let mut delay = Duration::from_millis(100);
    while !shutdown.is_cancelled() {
        let subscribed = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.psubscribe(CHANNEL_PATTERN).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        match subscribed.await {
            Ok(mut pubsub) => {
                delay = Duration::from_millis(100);
                debug!("event hub subscribed");
                let mut messages = pubsub.on_message();
                loop {
                    let message = tokio::select! {
                        message = messages.next() => message,
                        () = shutdown.cancelled() => return,
                    };
                    let Some(message) = message else { break };
                    let Some(request_id) = request_id_of_channel(message.get_channel_name()) else {
                        continue;
                    };
                    let Ok(payload) = message.get_payload::<String>() else {
                        continue;
                    };
                    let listeners = listeners.lock().expect("listeners lock");
                    if let Some(sender) = listeners.get(request_id) {
                        // No receiver left is not an error: the last one is leaving.
                        let _ = sender.send(Arc::from(payload));
                    }
                }
                warn!("the event subscription ended; resubscribing");
            }
            Err(error) => {
                shared::metrics::record_redis_error(shared::metrics::RedisComponent::Events);
                warn!(%error, "cannot subscribe to job events; retrying")
            }
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = shutdown.cancelled() => return,
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}
