//! Progress events of a job (README.md, "Live progress"): their shape, and publishing them so that
//! nothing is lost.
//!
//! One Lua script gives each event the job's next `seq`, appends it to the job's capped replay
//! stream (a Redis stream whose entry ids are `0-{seq}`, so `Last-Event-ID` maps straight to a
//! stream id) and PUBLISHes it on the predecessor's channel `design:{request_id}:events`. A
//! client that connects late or reconnects reads the replay stream, then follows the channel.

use crate::job_id::JobId;
use std::sync::LazyLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use redis::{Script, aio::ConnectionLike};
use serde::{Deserialize, Serialize};

use crate::error_code::ErrorCode;
use crate::job::{ArtifactInfo, DesignStatus};
use crate::keys::Keys;

/// Events kept per job for replay; a job that streams more model text than this keeps the last ones.
pub const REPLAY_CAPACITY: usize = 10_000;

/// What an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    /// A status change; `data.status`, `data.progress`.
    Status,
    /// Progress within a stage; `data.progress`, `data.message`.
    Progress,
    /// Streamed model text; `data.agent`, `data.content`.
    LlmChunk,
    /// A line for people; `data.message`.
    Log,
    /// A validator verdict; `data.score`, `data.approved`, `data.feedback`.
    Validation,
    /// A file is ready; the artifact's fields.
    Artifact,
    /// Something failed; `data.code`, `data.message`.
    Error,
    /// The last event of a job; `data.status` is final.
    Completed,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::Progress => "progress",
            Self::LlmChunk => "llm_chunk",
            Self::Log => "log",
            Self::Validation => "validation",
            Self::Artifact => "artifact",
            Self::Error => "error",
            Self::Completed => "completed",
        }
    }
}

/// What an event says: its `type` and its `data`, one variant per [`EventType`]. Workers and
/// the gateway's cancel build events only through this enum, so the shape of each type is
/// written down once. Serialised adjacently tagged: `{"type": "status", "data": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum EventPayload {
    Status {
        status: DesignStatus,
        progress: Option<f64>,
    },
    Progress {
        progress: f64,
        message: String,
    },
    LlmChunk {
        agent: String,
        content: String,
        /// Present (true) only for model reasoning, so clients can tell it from the answer.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        reasoning: bool,
    },
    Log {
        message: String,
        /// Fields for machines beside the line for people (`agent`, `planner`, ...).
        #[serde(flatten)]
        extra: serde_json::Map<String, serde_json::Value>,
    },
    Validation {
        score: f64,
        approved: bool,
        feedback: Vec<String>,
    },
    Artifact(ArtifactInfo),
    Error {
        code: ErrorCode,
        message: String,
    },
    Completed {
        status: DesignStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error_code: Option<ErrorCode>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error_message: Option<String>,
    },
}

impl EventPayload {
    /// A line for people with no extra fields.
    pub fn log(message: impl Into<String>) -> Self {
        Self::Log {
            message: message.into(),
            extra: serde_json::Map::new(),
        }
    }

    /// A line for people with extra fields for machines (`extra` must be a JSON object;
    /// anything else is dropped).
    pub fn log_with(message: impl Into<String>, extra: serde_json::Value) -> Self {
        Self::Log {
            message: message.into(),
            extra: match extra {
                serde_json::Value::Object(map) => map,
                _ => serde_json::Map::new(),
            },
        }
    }

    pub fn kind(&self) -> EventType {
        match self {
            Self::Status { .. } => EventType::Status,
            Self::Progress { .. } => EventType::Progress,
            Self::LlmChunk { .. } => EventType::LlmChunk,
            Self::Log { .. } => EventType::Log,
            Self::Validation { .. } => EventType::Validation,
            Self::Artifact(_) => EventType::Artifact,
            Self::Error { .. } => EventType::Error,
            Self::Completed { .. } => EventType::Completed,
        }
    }

    /// The event's JSON after its `seq`: `,"timestamp":…,"type":…,"data":…}`. Scripts put
    /// `{"request_id":"…","seq":<seq>` in front, so Lua never re-encodes it (cjson would
    /// round floats).
    pub fn tail_json(&self, timestamp: DateTime<Utc>) -> String {
        let timestamp = serde_json::to_string(&timestamp).expect("a timestamp serialises");
        let payload = serde_json::to_string(self).expect("event payloads serialise");
        format!(",\"timestamp\":{timestamp},{}", &payload[1..])
    }
}

/// One progress event, as published and as clients receive it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProgressEvent {
    pub request_id: JobId,
    /// 1, 2, 3... per job, in publishing order.
    pub seq: u64,
    pub timestamp: DateTime<Utc>,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub data: serde_json::Value,
}

/// The few fields a relay needs to route an event without decoding its data.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct EventHeader {
    pub seq: u64,
    #[serde(rename = "type")]
    pub kind: EventType,
}

impl EventHeader {
    pub fn parse(json: &str) -> Option<Self> {
        serde_json::from_str(json).ok()
    }
}

/// The predecessor's channel for a job's events.
pub fn channel(request_id: &JobId) -> String {
    format!("design:{request_id}:events")
}

/// The pattern that matches every job's channel.
pub const CHANNEL_PATTERN: &str = "design:*:events";

/// The job id inside a channel name, if it is one of ours.
pub fn request_id_of_channel(channel: &str) -> Option<&str> {
    channel.strip_prefix("design:")?.strip_suffix(":events")
}

/// Numbers the event, stores it for replay and publishes it, atomically. The event's JSON is
/// passed in two halves around its `seq`, so Lua never re-encodes it (cjson would round floats).
static PUBLISH_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
-- KEYS: 1 job record (holds the seq counter), 2 replay stream
-- ARGV: 1 channel, 2 TTL (s), 3 replay capacity, 4 JSON before seq, 5 JSON after seq
if redis.call('EXISTS', KEYS[1]) == 0 then
    return 0
end
local seq = redis.call('HINCRBY', KEYS[1], 'event_seq', 1)
local event = ARGV[4] .. seq .. ARGV[5]
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '0-' .. seq, 'e', event)
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('PUBLISH', ARGV[1], event)
return seq
",
    )
});

/// Publishes events of jobs.
#[derive(Debug, Clone)]
pub struct EventPublisher {
    keys: Keys,
    ttl: Duration,
}

impl EventPublisher {
    pub fn new(keys: Keys, ttl: Duration) -> Self {
        Self { keys, ttl }
    }

    /// Publishes one event; returns its `seq`, or `None` when the job's record is gone.
    pub async fn publish<C: ConnectionLike>(
        &self,
        conn: &mut C,
        request_id: JobId,
        kind: EventType,
        data: serde_json::Value,
    ) -> Result<Option<u64>, redis::RedisError> {
        let id = request_id;
        // {"request_id":"…","seq":<seq>,"timestamp":…,"type":…,"data":…}
        let head = format!("{{\"request_id\":\"{id}\",\"seq\":");
        let tail = serde_json::json!({
            "timestamp": Utc::now(),
            "type": kind,
            "data": data,
        })
        .to_string();
        let tail = format!(",{}", &tail[1..]);
        let seq: u64 = PUBLISH_SCRIPT
            .key(self.keys.job(&id))
            .key(self.keys.events(&id))
            .arg(channel(&id))
            .arg(self.ttl.as_secs())
            .arg(REPLAY_CAPACITY)
            .arg(head)
            .arg(tail)
            .invoke_async(conn)
            .await?;
        Ok((seq > 0).then_some(seq))
    }
}

/// Reads a job's replay stream: the events after `after_seq`, in order, at most `limit`.
pub async fn replay_after<C: ConnectionLike>(
    conn: &mut C,
    keys: &Keys,
    request_id: &JobId,
    after_seq: u64,
    limit: usize,
) -> Result<Vec<(u64, String)>, redis::RedisError> {
    let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg(keys.events(request_id))
        .arg(format!("(0-{after_seq}"))
        .arg("+")
        .arg("COUNT")
        .arg(limit)
        .query_async(conn)
        .await?;
    Ok(entries
        .into_iter()
        .filter_map(|(id, fields)| {
            let seq = id.strip_prefix("0-")?.parse().ok()?;
            let (_, event) = fields.into_iter().find(|(name, _)| name == "e")?;
            Some((seq, event))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_are_the_predecessors() {
        let id: JobId = "6f9619ff-8b86-d011-b42d-00c04fc964ff".parse().unwrap();
        assert_eq!(
            channel(&id),
            "design:6f9619ff-8b86-d011-b42d-00c04fc964ff:events"
        );
        assert_eq!(request_id_of_channel("design:abc:events"), Some("abc"));
        assert_eq!(
            request_id_of_channel("tasks:designs:active:available"),
            None
        );
    }

    #[test]
    fn headers_parse_from_event_json() {
        let event = ProgressEvent {
            request_id: JobId::from(uuid::Uuid::nil()),
            seq: 7,
            timestamp: Utc::now(),
            kind: EventType::LlmChunk,
            data: serde_json::json!({ "content": "hi" }),
        };
        let json = serde_json::to_string(&event).unwrap();
        let header = EventHeader::parse(&json).unwrap();
        assert_eq!(header.seq, 7);
        assert_eq!(header.kind, EventType::LlmChunk);
        assert!(json.contains("\"type\":\"llm_chunk\""));
    }
}
