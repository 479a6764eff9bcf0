//! A minimal reader of Server-Sent Events, as a browser's `EventSource` reads them.

use std::time::Duration;

use serde_json::Value;

/// One Server-Sent Event.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub id: u64,
    pub event: String,
    pub data: Value,
}

/// A minimal SSE reader over a streaming response.
pub struct SseClient {
    pub(crate) response: reqwest::Response,
    pub(crate) buffer: String,
}

impl SseClient {
    /// The next event, or `None` when the server closed the stream. Comments (keep-alives)
    /// are skipped.
    pub async fn next(&mut self, limit: Duration) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (None, String::new(), String::new());
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().parse().ok();
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.strip_prefix(' ').unwrap_or(v));
                    }
                }
                if let Some(id) = id {
                    let data = serde_json::from_str(&data).expect("event data is JSON");
                    return Some(SseEvent { id, event, data });
                }
                continue;
            }
            let chunk = tokio::time::timeout(limit, self.response.chunk())
                .await
                .unwrap_or_else(|_| panic!("no SSE data within {limit:?}"))
                .expect("reading the SSE stream")?;
            self.buffer
                .push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
    }

    /// Every event until the server ends the stream.
    pub async fn collect_to_end(&mut self, limit: Duration) -> Vec<SseEvent> {
        let mut events = Vec::new();
        while let Some(event) = self.next(limit).await {
            events.push(event);
        }
        events
    }
}

/// Asserts that events are numbered `first, first+1, ...` with no gap or duplicate.
pub fn assert_consecutive(events: &[SseEvent], first: u64) {
    for (offset, event) in events.iter().enumerate() {
        assert_eq!(
            event.id,
            first + offset as u64,
            "events out of order: {events:?}"
        );
        assert_eq!(event.data["seq"], event.id, "the SSE id is the event's seq");
    }
}
