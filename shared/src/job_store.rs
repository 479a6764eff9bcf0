//! The job records in Redis, and the atomic enqueue of a job onto the apalis-redis queue.
//!
//! A record is one hash per job (`Keys::job`), one JSON value per field, so that a worker can
//! change one field without reading the others. Records expire after the job TTL.

use std::sync::LazyLock;
use std::time::Duration;

use chrono::Utc;
use redis::{Script, aio::ConnectionLike};
use serde::Serialize;
use serde_json::Value;

use crate::job::{ArtifactInfo, Conversion, DesignJob, DesignStatus, JobPatch, JobRecord};
use crate::keys::Keys;

/// Stores the record, the task and its metadata, and appends the task to the active list.
///
/// apalis-redis 1.0's own `push` puts every task into the scheduled set, whose promotion
/// script fails with "too many results to unpack" past about 8,000 due tasks and stops every
/// worker. This script writes the task exactly as apalis-redis's `batch_push.lua` does for a
/// task with no run time, so workers fetch it from the active list directly.
/// The end of every script that queues a task, in apalis-redis's layout (KEYS 2 queue data
/// hash, 3 active list, 4 signal list, 5 task metadata hash): the payload, fresh metadata, the
/// task on the active list, and the wake-up for the workers. Scripts call it once.
const PUSH_TASK: &str = r"local function push_task(id, payload, max_attempts, channel)
    redis.call('HSET', KEYS[2], id, payload)
    redis.call('HSET', KEYS[5], 'attempts', 0, 'max_attempts', max_attempts, 'status', 'Pending',
        'idempotency_key', '')
    redis.call('RPUSH', KEYS[3], id)
    redis.call('PUBLISH', channel, id)
    redis.call('DEL', KEYS[4])
    redis.call('LPUSH', KEYS[4], 1)
end
";

static ENQUEUE_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        &[
            PUSH_TASK,
            r"
-- KEYS: 1 job record, 2 queue data hash, 3 active list, 4 signal list, 5 task metadata hash,
--       6 the principal's jobs not yet ended (sorted by submission time),
--       7 the idempotency entry (the record key again when there is none),
--       8 the principal's designs index (every job, scored by submission time in ms)
-- ARGV: 1 record TTL (s), 2 task id, 3 task payload, 4 max attempts, 5 wake-up channel,
--       6 cap of jobs not yet ended (0: none), 7 request id,
--       8 '1' with an idempotency key, 9 the request's fingerprint, 10 the entry to store,
--       11 the entry's TTL (s), 12.. record field/value pairs
if ARGV[8] == '1' then
    local earlier = redis.call('GET', KEYS[7])
    if earlier then
        if cjson.decode(earlier).fingerprint == ARGV[9] then
            return {2, earlier}
        end
        return {3, ''}
    end
end
if redis.call('EXISTS', KEYS[1]) == 1 then
    return {0, ''}
end
local now = tonumber(redis.call('TIME')[1])
-- Entries older than the TTL belong to records that have expired.
redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now - tonumber(ARGV[1]))
local cap = tonumber(ARGV[6])
if cap > 0 and redis.call('ZCARD', KEYS[6]) >= cap then
    return {-1, ''}
end
if ARGV[8] == '1' then
    redis.call('SET', KEYS[7], ARGV[10], 'EX', ARGV[11])
end
redis.call('ZADD', KEYS[6], now, ARGV[7])
redis.call('EXPIRE', KEYS[6], ARGV[1])
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[8], '-inf', now_ms - tonumber(ARGV[1]) * 1000)
redis.call('ZADD', KEYS[8], now_ms, ARGV[7])
redis.call('EXPIRE', KEYS[8], ARGV[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 12))
redis.call('EXPIRE', KEYS[1], ARGV[1])
push_task(ARGV[2], ARGV[3], ARGV[4], ARGV[5])
return {1, ''}
",
        ]
        .concat(),
    )
});

/// Queues a job again for a later run: a new task (apalis-redis's layout) in the scheduled set,
/// and the record pointed at it, back to `pending` — unless the job has ended meanwhile.
static RESCHEDULE_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r"
-- KEYS: 1 job record, 2 queue data hash, 3 scheduled set, 4 new task's metadata hash
-- ARGV: 1 new task id, 2 task payload, 3 max attempts, 4 run at (unix s), 5 retries so far,
--       6.. record field/value pairs
{REFUSE_GONE_OR_ENDED}
redis.call('HSET', KEYS[1], 'task_id', cjson.encode(ARGV[1]), 'retries', ARGV[5],
    unpack(ARGV, 6))
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[4], 'attempts', 0, 'max_attempts', ARGV[3], 'status', 'Pending',
    'idempotency_key', '')
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
return 1
"
    ))
});

/// Moves up to a bounded number of due tasks from the scheduled set to the active list.
/// apalis-redis's own fetch promotes every due task with one `unpack`, which fails past about
/// 8,000 and stops every worker; promoting in chunks first keeps that set small.
static PROMOTE_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
-- KEYS: 1 scheduled set, 2 active list, 3 signal list; ARGV: 1 chunk size, 2 wake-up channel
local now = tonumber(redis.call('TIME')[1])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
if #due == 0 then
    return 0
end
redis.call('RPUSH', KEYS[2], unpack(due))
redis.call('ZREM', KEYS[1], unpack(due))
redis.call('DEL', KEYS[3])
redis.call('LPUSH', KEYS[3], 1)
redis.call('PUBLISH', ARGV[2], due[1])
return #due
",
    )
});

/// Forgets finished tasks: apalis-redis 1.0 keeps every done task's payload and metadata
/// forever. The job record (which expires with the job TTL) is what clients read.
static FORGET_DONE_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
-- KEYS: 1 done set, 2 queue data hash, 3 forgotten counter
-- ARGV: 1 how many, 2 metadata hash prefix
local done = redis.call('SPOP', KEYS[1], tonumber(ARGV[1]))
for _, id in ipairs(done) do
    redis.call('HDEL', KEYS[2], id)
    redis.call('DEL', ARGV[2] .. ':' .. id)
end
if #done > 0 then
    redis.call('INCRBY', KEYS[3], #done)
end
return #done
",
    )
});

/// How long an `Idempotency-Key` is remembered.
pub const IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 3600);

/// Gives every registered worker's metadata hash an expiry: apalis-redis writes one per worker
/// name (each restart of a worker loop is a new name) and never deletes it. Live workers stay
/// in the workers set and keep having theirs renewed; a dead one's expires.
static EXPIRE_WORKER_METADATA_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
-- KEYS: 1 workers set, 2 apalis-redis's list of queues; ARGV: 1 metadata hash prefix, 2 TTL (s)
redis.call('EXPIRE', KEYS[2], ARGV[2])
local names = redis.call('ZRANGE', KEYS[1], 0, -1)
for _, name in ipairs(names) do
    redis.call('EXPIRE', ARGV[1] .. ':' .. name, ARGV[2])
end
return #names
",
    )
});

/// A client's `Idempotency-Key` on a request, with what identifies the request and the
/// answer to give again for a repeat.
#[derive(Debug, Clone)]
pub struct Idempotency<'a> {
    pub principal: &'a str,
    pub key: &'a str,
    /// Identifies the request body; the same key with another body is refused.
    pub fingerprint: String,
    /// The answer to replay (JSON).
    pub response: serde_json::Value,
}

/// What an enqueue did.
#[derive(Debug, Clone, PartialEq)]
pub enum Enqueued {
    Created,
    /// The same key and request came before: here is the answer given then.
    Replayed(serde_json::Value),
}

/// The opening of every script that writes to a job still running: 0 when the record
/// (KEYS[1]) is gone, -1 when the job has ended (completed, failed or cancelled: statuses are
/// stored as JSON strings), after which a record never changes again.
const REFUSE_GONE_OR_ENDED: &str = r#"if redis.call('EXISTS', KEYS[1]) == 0 then
    return 0
end
local status = redis.call('HGET', KEYS[1], 'status')
for _, ended in ipairs({ '"completed"', '"failed"', '"cancelled"' }) do
    if status == ended then
        return -1
    end
end"#;

/// Writes fields of a record that still exists (never bringing an expired record back as a
/// stub) and has not ended (a cancelled job stays cancelled, whatever a worker still writes);
/// when the job ends, it no longer counts against its principal's cap.
static UPDATE_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r"
-- KEYS: 1 job record; ARGV: 1 prefix of the active-jobs sets, or '' when the job goes on,
--       2 request id, 3.. field/value pairs
{REFUSE_GONE_OR_ENDED}
if ARGV[1] ~= '' then
    local principal = redis.call('HGET', KEYS[1], 'principal')
    if principal then
        redis.call('ZREM', ARGV[1] .. cjson.decode(principal), ARGV[2])
    end
end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
return 1
"
    ))
});

/// One stage change of a running job in one round trip: writes the patch's fields (unless the
/// record is gone or the job has ended, exactly as [`UPDATE_SCRIPT`] refuses), then numbers,
/// stores for replay and publishes each event (as `events::PUBLISH_SCRIPT` does for one).
/// Answers `{outcome, created_at}`: the outcome as the update script's, and the record's
/// `created_at` when this write ended the job (for its end-to-end duration), else nil.
/// With no fields, the events go out whenever the record exists, as single events always did.
static REPORT_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
-- KEYS: 1 job record (holds the seq counter), 2 replay stream
-- ARGV: 1 prefix of the active-jobs sets, or '' when the job goes on, 2 request id,
--       3 channel, 4 TTL (s), 5 replay capacity, 6 count of field/value arguments (2n),
--       7..6+2n field/value pairs, then one event JSON tail (after its seq) per event
if redis.call('EXISTS', KEYS[1]) == 0 then
    return {0, false}
end
local fields = tonumber(ARGV[6])
local created = false
if fields > 0 then
    local status = redis.call('HGET', KEYS[1], 'status')
    for _, ended in ipairs({ '"completed"', '"failed"', '"cancelled"' }) do
        if status == ended then
            return {-1, false}
        end
    end
    if ARGV[1] ~= '' then
        local principal = redis.call('HGET', KEYS[1], 'principal')
        if principal then
            redis.call('ZREM', ARGV[1] .. cjson.decode(principal), ARGV[2])
        end
        created = redis.call('HGET', KEYS[1], 'created_at')
    end
    redis.call('HSET', KEYS[1], unpack(ARGV, 7, 6 + fields))
end
local head = '{"request_id":"' .. ARGV[2] .. '","seq":'
local first = 7 + fields
for i = first, #ARGV do
    local seq = redis.call('HINCRBY', KEYS[1], 'event_seq', 1)
    local event = head .. seq .. ARGV[i]
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '0-' .. seq, 'e', event)
    redis.call('PUBLISH', ARGV[3], event)
end
if #ARGV >= first then
    redis.call('EXPIRE', KEYS[2], ARGV[4])
end
return {1, created}
"#,
    )
});

/// What [`JobStore::report`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reported {
    pub outcome: WriteOutcome,
    /// The record's `created_at` (JSON text) when this write ended the job.
    pub created_at: Option<String>,
}

/// Stores a user's feedback on a record that still exists (never bringing an expired one back).
static FEEDBACK_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
-- KEYS: 1 job record; ARGV: 1 the feedback (JSON)
if redis.call('EXISTS', KEYS[1]) == 0 then
    return 0
end
redis.call('HSET', KEYS[1], 'user_feedback', ARGV[1])
return 1
",
    )
});

/// Where a page of a principal's designs starts: after the entry with this score (ms) and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCursor {
    pub score_ms: i64,
    pub request_id: String,
}

impl ListCursor {
    /// The opaque text handed to clients.
    pub fn encode(&self) -> String {
        format!("{}_{}", self.score_ms, self.request_id)
    }

    pub fn decode(text: &str) -> Option<Self> {
        let (score, id) = text.split_once('_')?;
        let request_id = uuid::Uuid::parse_str(id).ok()?.to_string();
        Some(Self {
            score_ms: score.parse().ok()?,
            request_id,
        })
    }
}

/// What a page of [`JobStore::list`] is to hold.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub limit: usize,
    pub cursor: Option<ListCursor>,
    pub status: Option<DesignStatus>,
    /// Only designs submitted at or after this time (unix ms).
    pub since_ms: Option<i64>,
}

/// How many index entries one listing request reads at most (a status filter may skip many);
/// past it, the page ends early with a cursor to go on from.
const LIST_SCAN_MAX: usize = 1000;
const LIST_BATCH: usize = 50;

/// What became of a write to a job record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Applied,
    /// No such record (never created, or expired).
    Missing,
    /// The job had already ended (completed, failed or cancelled); nothing was written.
    AlreadyEnded,
}

impl WriteOutcome {
    fn from_script(code: i64) -> Self {
        match code {
            1 => Self::Applied,
            -1 => Self::AlreadyEnded,
            _ => Self::Missing,
        }
    }
}

/// Puts a completed job back on the queue with a new task: checks the state, rewrites the
/// record's run fields and queues the task, all at once, so two refines of one job cannot
/// both win and a job is never marked refining without being queued.
static REQUEUE_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        &[
            PUSH_TASK,
            r"
-- KEYS: 1 job record, 2 queue data hash, 3 active list, 4 signal list, 5 task metadata hash,
--       6 the principal's jobs not yet ended
-- ARGV: 1 record TTL (s), 2 task id, 3 task payload, 4 max attempts, 5 wake-up channel,
--       6 request id, 7 the status (JSON) the job must be in, 8.. record field/value pairs
if redis.call('EXISTS', KEYS[1]) == 0 then
    return 0
end
if redis.call('HGET', KEYS[1], 'status') ~= ARGV[7] then
    return -1
end
local now = tonumber(redis.call('TIME')[1])
redis.call('ZADD', KEYS[6], now, ARGV[6])
redis.call('EXPIRE', KEYS[6], ARGV[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 8))
redis.call('EXPIRE', KEYS[1], ARGV[1])
push_task(ARGV[2], ARGV[3], ARGV[4], ARGV[5])
return 1
",
        ]
        .concat(),
    )
});

/// What [`JobStore::requeue_completed`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requeue {
    /// Queued again with a new task id; the record says `refining`.
    Queued,
    /// There is no such record (never created, or expired).
    Missing,
    /// The job is not `completed`; nothing changed.
    NotCompleted,
}

/// Queues a conversion task for a completed design and records it as `queued`, unless one
/// is queued already: two exports at once queue one conversion, never a second run.
static REQUEST_CONVERSION_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        &[
            PUSH_TASK,
            r"
-- KEYS: 1 job record, 2 queue data hash, 3 active list, 4 signal list, 5 task metadata hash
-- ARGV: 1 task id, 2 task payload, 3 max attempts, 4 wake-up channel,
--       5 the status (JSON) the job must be in, 6 the conversion (JSON)
if redis.call('EXISTS', KEYS[1]) == 0 then
    return 0
end
if redis.call('HGET', KEYS[1], 'status') ~= ARGV[5] then
    return -1
end
local current = redis.call('HGET', KEYS[1], 'conversion')
if current and current ~= 'null' and cjson.decode(current).state == 'queued' then
    return 2
end
redis.call('HSET', KEYS[1], 'conversion', ARGV[6])
push_task(ARGV[1], ARGV[2], ARGV[3], ARGV[4])
return 1
",
        ]
        .concat(),
    )
});

/// Ends a conversion: its state, and the artifacts with the new formats, written only while
/// the design is still completed (a refine meanwhile makes the conversion moot).
static FINISH_CONVERSION_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
-- KEYS: 1 job record; ARGV: 1 the status (JSON) the job must be in, 2 the conversion (JSON),
--       3 the artifacts (JSON), or '' to leave them
if redis.call('EXISTS', KEYS[1]) == 0 then
    return 0
end
if redis.call('HGET', KEYS[1], 'status') ~= ARGV[1] then
    return -1
end
redis.call('HSET', KEYS[1], 'conversion', ARGV[2])
if ARGV[3] ~= '' then
    redis.call('HSET', KEYS[1], 'artifacts', ARGV[3])
end
return 1
",
    )
});

/// What [`JobStore::request_conversion`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConversionRequest {
    Queued,
    /// A conversion is queued or running already; nothing changed.
    AlreadyQueued,
    Missing,
    NotCompleted,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("job record {key} is unreadable: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("a job record for {0} exists already")]
    Duplicate(String),
    #[error("{principal} already has {cap} jobs pending or running")]
    TooManyActiveJobs { principal: String, cap: u32 },
    #[error("the Idempotency-Key was used before with another request")]
    IdempotencyKeyReused,
}

/// Reads and writes job records.
#[derive(Debug, Clone)]
pub struct JobStore {
    keys: Keys,
    ttl: Duration,
}

impl JobStore {
    pub fn new(keys: Keys, ttl: Duration) -> Self {
        Self { keys, ttl }
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Creates the record and queues the job in one atomic step: a job is never queued without
    /// its record, nor recorded without being queued. `active_cap` (0: none) bounds the jobs
    /// the record's principal may have pending or running.
    pub async fn enqueue<C: ConnectionLike>(
        &self,
        conn: &mut C,
        record: &JobRecord,
        job: &DesignJob,
        max_attempts: u32,
        active_cap: u32,
        idempotency: Option<&Idempotency<'_>>,
    ) -> Result<Enqueued, StoreError> {
        let record_key = self.keys.job(&record.request_id.to_string());
        let payload = serde_json::to_vec(job).map_err(|e| StoreError::Corrupt {
            key: record_key.clone(),
            reason: e.to_string(),
        })?;
        let mut invocation = ENQUEUE_SCRIPT.prepare_invoke();
        invocation
            .key(&record_key)
            .key(self.keys.queue_data())
            .key(self.keys.queue_active())
            .key(self.keys.queue_signal())
            .key(format!(
                "{}:{}",
                self.keys.queue_meta_prefix(),
                record.task_id
            ))
            .key(format!(
                "{}{}",
                self.keys.active_jobs_prefix(),
                record.principal
            ))
            .key(match idempotency {
                Some(idem) => self.keys.idempotency(idem.principal, idem.key),
                None => record_key.clone(),
            })
            .key(self.keys.designs_index(&record.principal))
            .arg(self.ttl.as_secs())
            .arg(&record.task_id)
            .arg(payload)
            .arg(max_attempts)
            .arg(self.keys.queue_available_channel())
            .arg(active_cap)
            .arg(record.request_id.to_string());
        match idempotency {
            Some(idem) => {
                let entry = serde_json::json!({
                    "fingerprint": idem.fingerprint,
                    "response": idem.response,
                });
                invocation
                    .arg("1")
                    .arg(&idem.fingerprint)
                    .arg(entry.to_string())
                    .arg(IDEMPOTENCY_TTL.as_secs());
            }
            None => {
                invocation.arg("0").arg("").arg("").arg(0);
            }
        }
        for (field, value) in to_fields(record) {
            invocation.arg(field).arg(value);
        }
        let (code, earlier): (i64, String) = invocation.invoke_async(conn).await?;
        match code {
            1 => Ok(Enqueued::Created),
            2 => {
                let entry: serde_json::Value =
                    serde_json::from_str(&earlier).map_err(|e| StoreError::Corrupt {
                        key: "idempotency entry".to_owned(),
                        reason: e.to_string(),
                    })?;
                Ok(Enqueued::Replayed(entry["response"].clone()))
            }
            3 => Err(StoreError::IdempotencyKeyReused),
            -1 => Err(StoreError::TooManyActiveJobs {
                principal: record.principal.clone(),
                cap: active_cap,
            }),
            _ => Err(StoreError::Duplicate(record_key)),
        }
    }

    /// Runs a completed job again as `job` (the same request id, typically with the user's
    /// feedback) under a new task id: status `refining`, iteration and errors reset, usage
    /// and artifacts kept until the new run replaces them.
    pub async fn requeue_completed<C: ConnectionLike>(
        &self,
        conn: &mut C,
        principal: &str,
        job: &DesignJob,
        max_attempts: u32,
    ) -> Result<Requeue, StoreError> {
        let request_id = job.request_id.to_string();
        let record_key = self.keys.job(&request_id);
        let payload = serde_json::to_vec(job).map_err(|e| StoreError::Corrupt {
            key: record_key.clone(),
            reason: e.to_string(),
        })?;
        let task_id = ulid::Ulid::generate().to_string();
        let json = |value: Value| value.to_string();
        let mut refinements = job.earlier_feedback.clone();
        refinements.extend(job.feedback.clone());
        let fields = [
            ("refinements", json(serde_json::json!(refinements))),
            ("task_id", json(Value::String(task_id.clone()))),
            ("status", json(serde_json::json!(DesignStatus::Refining))),
            ("progress", json(serde_json::json!(0.0))),
            ("current_iteration", json(serde_json::json!(0))),
            ("error_code", json(Value::Null)),
            ("error_message", json(Value::Null)),
            ("conversion", json(Value::Null)),
            ("updated_at", json(Value::String(Utc::now().to_rfc3339()))),
        ];
        let mut invocation = REQUEUE_SCRIPT.prepare_invoke();
        invocation
            .key(&record_key)
            .key(self.keys.queue_data())
            .key(self.keys.queue_active())
            .key(self.keys.queue_signal())
            .key(format!("{}:{}", self.keys.queue_meta_prefix(), task_id))
            .key(format!("{}{}", self.keys.active_jobs_prefix(), principal))
            .arg(self.ttl.as_secs())
            .arg(&task_id)
            .arg(payload)
            .arg(max_attempts)
            .arg(self.keys.queue_available_channel())
            .arg(&request_id)
            .arg(json(serde_json::json!(DesignStatus::Completed)));
        for (field, value) in fields {
            invocation.arg(field).arg(value);
        }
        let outcome: i64 = invocation.invoke_async(conn).await?;
        Ok(match outcome {
            0 => Requeue::Missing,
            -1 => Requeue::NotCompleted,
            _ => Requeue::Queued,
        })
    }

    /// Queues `job` (a conversion: `job.convert` set) for a completed design and records
    /// `conversion` as queued, atomically; see [`REQUEST_CONVERSION_SCRIPT`].
    pub async fn request_conversion<C: ConnectionLike>(
        &self,
        conn: &mut C,
        job: &DesignJob,
        conversion: &Conversion,
        max_attempts: u32,
    ) -> Result<ConversionRequest, StoreError> {
        let record_key = self.keys.job(&job.request_id.to_string());
        let corrupt = |e: serde_json::Error| StoreError::Corrupt {
            key: record_key.clone(),
            reason: e.to_string(),
        };
        let payload = serde_json::to_vec(job).map_err(corrupt)?;
        let conversion = serde_json::to_string(conversion).map_err(corrupt)?;
        let task_id = ulid::Ulid::generate().to_string();
        let outcome: i64 = REQUEST_CONVERSION_SCRIPT
            .key(&record_key)
            .key(self.keys.queue_data())
            .key(self.keys.queue_active())
            .key(self.keys.queue_signal())
            .key(format!("{}:{}", self.keys.queue_meta_prefix(), task_id))
            .arg(&task_id)
            .arg(payload)
            .arg(max_attempts)
            .arg(self.keys.queue_available_channel())
            .arg(serde_json::json!(DesignStatus::Completed).to_string())
            .arg(conversion)
            .invoke_async(conn)
            .await?;
        Ok(match outcome {
            0 => ConversionRequest::Missing,
            -1 => ConversionRequest::NotCompleted,
            2 => ConversionRequest::AlreadyQueued,
            _ => ConversionRequest::Queued,
        })
    }

    /// Records how a conversion ended and, when it made files, the design's whole new list of
    /// artifacts. Nothing is written unless the design is still completed.
    pub async fn finish_conversion<C: ConnectionLike>(
        &self,
        conn: &mut C,
        request_id: &str,
        conversion: &Conversion,
        artifacts: Option<&[ArtifactInfo]>,
    ) -> Result<WriteOutcome, StoreError> {
        let record_key = self.keys.job(request_id);
        let corrupt = |e: serde_json::Error| StoreError::Corrupt {
            key: record_key.clone(),
            reason: e.to_string(),
        };
        let conversion = serde_json::to_string(conversion).map_err(corrupt)?;
        let artifacts = match artifacts {
            Some(list) => serde_json::to_string(list).map_err(corrupt)?,
            None => String::new(),
        };
        let outcome: i64 = FINISH_CONVERSION_SCRIPT
            .key(&record_key)
            .arg(serde_json::json!(DesignStatus::Completed).to_string())
            .arg(conversion)
            .arg(artifacts)
            .invoke_async(conn)
            .await?;
        Ok(WriteOutcome::from_script(outcome))
    }

    /// The record of a job, or `None` when there is none (never created, or expired).
    pub async fn get<C: ConnectionLike>(
        &self,
        conn: &mut C,
        request_id: &str,
    ) -> Result<Option<JobRecord>, StoreError> {
        let key = self.keys.job(request_id);
        let fields: Vec<(String, String)> =
            redis::cmd("HGETALL").arg(&key).query_async(conn).await?;
        if fields.is_empty() {
            return Ok(None);
        }
        let mut object = serde_json::Map::with_capacity(fields.len());
        for (field, raw) in fields {
            let value: Value = serde_json::from_str(&raw).map_err(|e| StoreError::Corrupt {
                key: key.clone(),
                reason: format!("field {field}: {e}"),
            })?;
            object.insert(field, value);
        }
        serde_json::from_value(Value::Object(object))
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                key,
                reason: e.to_string(),
            })
    }

    /// Just the job's status (one field, not the whole record); `None` when there is none.
    pub async fn status<C: ConnectionLike>(
        &self,
        conn: &mut C,
        request_id: &str,
    ) -> Result<Option<crate::job::DesignStatus>, StoreError> {
        let key = self.keys.job(request_id);
        let raw: Option<String> = redis::cmd("HGET")
            .arg(&key)
            .arg("status")
            .query_async(conn)
            .await?;
        raw.map(|raw| {
            serde_json::from_str(&raw).map_err(|e| StoreError::Corrupt {
                key,
                reason: format!("field status: {e}"),
            })
        })
        .transpose()
    }

    /// Applies a patch and stamps `updated_at`, unless the record is gone or the job has ended.
    pub async fn update<C: ConnectionLike>(
        &self,
        conn: &mut C,
        request_id: &str,
        patch: &JobPatch,
    ) -> Result<WriteOutcome, StoreError> {
        let mut invocation = UPDATE_SCRIPT.prepare_invoke();
        let ends = patch.status.is_some_and(|status| status.is_terminal());
        invocation
            .key(self.keys.job(request_id))
            .arg(if ends {
                self.keys.active_jobs_prefix()
            } else {
                String::new()
            })
            .arg(request_id);
        push_patch(&mut invocation, patch);
        let updated: i64 = invocation.invoke_async(conn).await?;
        Ok(WriteOutcome::from_script(updated))
    }

    /// Writes `patch` (when it has fields) and publishes `events` after it, in one script:
    /// one round trip per stage change of a job. A patch is refused, and no event published,
    /// when the job has ended (`AlreadyEnded`) or its record is gone (`Missing`).
    pub async fn report<C: ConnectionLike>(
        &self,
        conn: &mut C,
        request_id: &str,
        patch: Option<&JobPatch>,
        events: &[crate::events::EventPayload],
    ) -> Result<Reported, StoreError> {
        let mut invocation = REPORT_SCRIPT.prepare_invoke();
        let ends = patch
            .and_then(|p| p.status)
            .is_some_and(|s| s.is_terminal());
        let fields = patch.map(patch_fields).unwrap_or_default();
        invocation
            .key(self.keys.job(request_id))
            .key(self.keys.events(request_id))
            .arg(if ends {
                self.keys.active_jobs_prefix()
            } else {
                String::new()
            })
            .arg(request_id)
            .arg(crate::events::channel(request_id))
            .arg(self.ttl.as_secs())
            .arg(crate::events::REPLAY_CAPACITY)
            .arg(fields.len() * 2);
        for (field, value) in fields {
            invocation.arg(field).arg(value);
        }
        let now = Utc::now();
        for event in events {
            invocation.arg(event.tail_json(now));
        }
        let (code, created_at): (i64, Option<String>) = invocation.invoke_async(conn).await?;
        Ok(Reported {
            outcome: WriteOutcome::from_script(code),
            created_at,
        })
    }

    /// Queues the job to run again at `run_at` (unix seconds) after a transient failure.
    pub async fn reschedule<C: ConnectionLike>(
        &self,
        conn: &mut C,
        job: &DesignJob,
        retries: u32,
        run_at: u64,
        max_attempts: u32,
    ) -> Result<WriteOutcome, StoreError> {
        let task_id = ulid::Ulid::generate().to_string();
        let id = job.request_id.to_string();
        let payload = serde_json::to_vec(job).map_err(|e| StoreError::Corrupt {
            key: self.keys.job(&id),
            reason: e.to_string(),
        })?;
        let patch = JobPatch::status(crate::job::DesignStatus::Pending, 0.0);
        let mut invocation = RESCHEDULE_SCRIPT.prepare_invoke();
        invocation
            .key(self.keys.job(&id))
            .key(self.keys.queue_data())
            .key(self.keys.queue_scheduled())
            .key(format!("{}:{task_id}", self.keys.queue_meta_prefix()))
            .arg(&task_id)
            .arg(payload)
            .arg(max_attempts)
            .arg(run_at)
            .arg(retries);
        push_patch(&mut invocation, &patch);
        let outcome: i64 = invocation.invoke_async(conn).await?;
        Ok(WriteOutcome::from_script(outcome))
    }

    /// Moves due scheduled tasks to the active list, `chunk` at a time, until none is due;
    /// returns how many moved.
    pub async fn promote_due<C: ConnectionLike>(
        &self,
        conn: &mut C,
        chunk: usize,
    ) -> Result<usize, StoreError> {
        let chunk = chunk.max(1);
        let mut invocation = PROMOTE_SCRIPT.prepare_invoke();
        invocation
            .key(self.keys.queue_scheduled())
            .key(self.keys.queue_active())
            .key(self.keys.queue_signal())
            .arg(chunk)
            .arg(self.keys.queue_available_channel());
        repeat_until_short(conn, chunk, &invocation).await
    }

    /// Deletes the queue's copies of finished tasks, `chunk` at a time, until none is left;
    /// returns how many went.
    pub async fn forget_done_tasks<C: ConnectionLike>(
        &self,
        conn: &mut C,
        chunk: usize,
    ) -> Result<usize, StoreError> {
        let chunk = chunk.max(1);
        let mut invocation = FORGET_DONE_SCRIPT.prepare_invoke();
        invocation
            .key(self.keys.queue_done())
            .key(self.keys.queue_data())
            .key(self.keys.queue_done_forgotten())
            .arg(chunk)
            .arg(self.keys.queue_meta_prefix());
        repeat_until_short(conn, chunk, &invocation).await
    }

    /// Renews the expiry of the metadata hashes of the workers apalis-redis knows (see
    /// [`EXPIRE_WORKER_METADATA_SCRIPT`]); returns how many.
    pub async fn expire_worker_metadata<C: ConnectionLike>(
        &self,
        conn: &mut C,
        ttl: Duration,
    ) -> Result<usize, StoreError> {
        Ok(EXPIRE_WORKER_METADATA_SCRIPT
            .key(self.keys.queue_workers())
            .key(self.keys.apalis_queues_list())
            .arg(self.keys.queue_worker_metadata_prefix())
            .arg(ttl.as_secs().max(1))
            .invoke_async(conn)
            .await?)
    }

    /// Tasks finished so far: those still in apalis-redis's done set and those forgotten.
    /// Read in one transaction: the forgetting script may otherwise run between the two reads
    /// and a chunk be counted in both places.
    pub async fn finished_tasks<C: ConnectionLike>(&self, conn: &mut C) -> Result<u64, StoreError> {
        let (in_set, forgotten): (u64, Option<u64>) = redis::pipe()
            .atomic()
            .cmd("SCARD")
            .arg(self.keys.queue_done())
            .cmd("GET")
            .arg(self.keys.queue_done_forgotten())
            .query_async(conn)
            .await?;
        Ok(in_set + forgotten.unwrap_or(0))
    }

    /// Records a job that failed for good in the dead-jobs set (kept as long as records).
    pub async fn mark_dead<C: ConnectionLike>(
        &self,
        conn: &mut C,
        request_id: &str,
    ) -> Result<(), StoreError> {
        let now = Utc::now().timestamp();
        redis::pipe()
            .atomic()
            .cmd("ZADD")
            .arg(self.keys.dead_jobs())
            .arg(now)
            .arg(request_id)
            .ignore()
            .cmd("ZREMRANGEBYSCORE")
            .arg(self.keys.dead_jobs())
            .arg("-inf")
            .arg(now - self.ttl.as_secs() as i64)
            .ignore()
            .query_async::<()>(conn)
            .await?;
        Ok(())
    }

    /// The dead jobs, newest first: (request id, unix time of death).
    pub async fn dead_jobs<C: ConnectionLike>(
        &self,
        conn: &mut C,
        limit: usize,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(redis::cmd("ZREVRANGE")
            .arg(self.keys.dead_jobs())
            .arg(0)
            .arg(limit.saturating_sub(1))
            .arg("WITHSCORES")
            .query_async(conn)
            .await?)
    }

    /// One page of a principal's designs, newest first, and the cursor of the next page (none
    /// on the last). Pages are stable under new submissions: a cursor names a place in the
    /// index, and new designs only ever go before the first page. Entries whose record has
    /// expired are dropped from the index on the way.
    pub async fn list<C: ConnectionLike>(
        &self,
        conn: &mut C,
        principal: &str,
        query: &ListQuery,
    ) -> Result<(Vec<JobRecord>, Option<ListCursor>), StoreError> {
        let index = self.keys.designs_index(principal);
        let mut found = Vec::new();
        let mut after = query.cursor.clone();
        let mut batch = LIST_BATCH;
        let mut examined = 0;
        loop {
            let max = after
                .as_ref()
                .map_or("+inf".to_owned(), |c| c.score_ms.to_string());
            let min = query
                .since_ms
                .map_or("-inf".to_owned(), |ms| ms.to_string());
            let entries: Vec<(String, i64)> = redis::cmd("ZREVRANGEBYSCORE")
                .arg(&index)
                .arg(max)
                .arg(min)
                .arg("WITHSCORES")
                .arg("LIMIT")
                .arg(0)
                .arg(batch)
                .query_async(conn)
                .await?;
            let full = entries.len() == batch;
            let mut progressed = false;
            for (request_id, score_ms) in entries {
                // Ties on the score come in descending id order: those at or above the
                // cursor's id were on earlier pages.
                if let Some(cursor) = &after
                    && score_ms == cursor.score_ms
                    && request_id >= cursor.request_id
                {
                    continue;
                }
                progressed = true;
                examined += 1;
                after = Some(ListCursor {
                    score_ms,
                    request_id: request_id.clone(),
                });
                match self.get(conn, &request_id).await? {
                    None => {
                        redis::cmd("ZREM")
                            .arg(&index)
                            .arg(&request_id)
                            .query_async::<()>(conn)
                            .await?;
                    }
                    Some(record) if record.principal != principal => {}
                    Some(record) if query.status.is_some_and(|s| s != record.status) => {}
                    Some(record) => {
                        found.push(record);
                        if found.len() >= query.limit {
                            return Ok((found, after));
                        }
                    }
                }
                if examined >= LIST_SCAN_MAX {
                    return Ok((found, after));
                }
            }
            if !full {
                return Ok((found, None));
            }
            if !progressed {
                // A whole batch of entries sharing the cursor's millisecond: read more at once.
                batch *= 2;
            }
        }
    }

    /// Stores the user's feedback on the record; `false` when there is no record.
    pub async fn set_feedback<C: ConnectionLike>(
        &self,
        conn: &mut C,
        request_id: &str,
        feedback: &crate::job::UserFeedback,
    ) -> Result<bool, StoreError> {
        let json = serde_json::to_string(feedback).map_err(|e| StoreError::Corrupt {
            key: self.keys.job(request_id),
            reason: e.to_string(),
        })?;
        let stored: i64 = FEEDBACK_SCRIPT
            .key(self.keys.job(request_id))
            .arg(json)
            .invoke_async(conn)
            .await?;
        Ok(stored == 1)
    }

    /// Cancels a job that has not ended: `cancelled` is final; a worker running it finds out
    /// at its next write and stops. The record's change and the job's last two events
    /// (`status` cancelled, then the terminal `completed`) go out in one script, so no client
    /// sees one without the other.
    pub async fn cancel<C: ConnectionLike>(
        &self,
        conn: &mut C,
        request_id: &str,
    ) -> Result<WriteOutcome, StoreError> {
        use crate::events::EventPayload;
        let patch = JobPatch {
            error_code: Some(crate::error_code::ErrorCode::Cancelled),
            error_message: Some("Cancelled by the client.".to_owned()),
            ..JobPatch::status(DesignStatus::Cancelled, 1.0)
        };
        let events = [
            EventPayload::Status {
                status: DesignStatus::Cancelled,
                progress: Some(1.0),
            },
            EventPayload::Completed {
                status: DesignStatus::Cancelled,
                error_code: Some(crate::error_code::ErrorCode::Cancelled.into()),
                error_message: None,
            },
        ];
        let reported = self.report(conn, request_id, Some(&patch), &events).await?;
        Ok(reported.outcome)
    }
}

/// Runs a script that handles up to `chunk` items and answers how many it handled, until a
/// run handles fewer (nothing is left); returns the total. Bounded chunks keep each Lua call
/// short, whatever the backlog.
async fn repeat_until_short<C: ConnectionLike>(
    conn: &mut C,
    chunk: usize,
    invocation: &redis::ScriptInvocation<'_>,
) -> Result<usize, StoreError> {
    let mut total = 0;
    loop {
        let count: usize = invocation.invoke_async(conn).await?;
        total += count;
        if count < chunk {
            return Ok(total);
        }
    }
}

/// Appends a patch's fields, and `updated_at` = now, as the script's field/value arguments.
fn push_patch(invocation: &mut redis::ScriptInvocation<'_>, patch: &JobPatch) {
    for (field, value) in patch_fields(patch) {
        invocation.arg(field).arg(value);
    }
}

/// A patch's fields and `updated_at` = now, as (name, JSON text) pairs.
fn patch_fields(patch: &JobPatch) -> Vec<(String, String)> {
    let mut fields = to_fields(patch);
    fields.push((
        "updated_at".to_owned(),
        Value::String(Utc::now().to_rfc3339()).to_string(),
    ));
    fields
}

/// A struct's top-level fields as (name, JSON text) pairs.
fn to_fields<T: Serialize>(value: &T) -> Vec<(String, String)> {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => map.into_iter().map(|(k, v)| (k, v.to_string())).collect(),
        // Records and patches are structs with named fields: anything else is a bug here.
        other => panic!("job records must serialise to JSON objects, got {other:?}"),
    }
}
