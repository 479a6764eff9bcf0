//! The job records in Redis: creating a job (its record and, through [`crate::queue`], its
//! task, atomically), reading, updating, cancelling and listing them.
//!
//! A record is one hash per job (`Keys::job`), one JSON value per field, so that a worker can
//! change one field without reading the others. Records expire after the job TTL. The Lua
//! scripts are in `job_store/*.lua` (record only) and `queue/*.lua` (record and task).

use crate::job_id::JobId;
use std::sync::LazyLock;
use std::time::Duration;

use chrono::Utc;
use redis::{Script, aio::ConnectionLike};
use serde::Serialize;
use serde_json::Value;

use crate::job::{
    ArtifactInfo, Conversion, DesignJob, DesignStatus, JobPatch, JobRecord, Priority,
};
use crate::keys::Keys;
use crate::queue::{
    DispatchPolicy, ENQUEUE_SCRIPT, NewTask, REQUEST_CONVERSION_SCRIPT, REQUEUE_SCRIPT,
    RESCHEDULE_SCRIPT, RETRY_DEAD_SCRIPT, Route,
};

/// How long an `Idempotency-Key` is remembered.
pub const IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 3600);

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

/// The terminal statuses as the record stores them (JSON texts), as one JSON array: the
/// scripts that refuse to write to an ended job (`job_store/refusal.lua`) take the list from
/// [`DesignStatus::is_terminal`] instead of spelling it.
pub(crate) static TERMINAL_STATUSES: LazyLock<String> = LazyLock::new(|| {
    let stored: Vec<String> = DesignStatus::ALL
        .into_iter()
        .filter(|status| status.is_terminal())
        .map(|status| serde_json::json!(status).to_string())
        .collect();
    serde_json::json!(stored).to_string()
});

/// One stage change of a running job in one round trip: the patch (refused when the record is
/// gone or the job has ended) and the events after it, and when the patch ends the job, a fair
/// dispatch (its worker's slot frees up); see `job_store/report.lua`.
static REPORT_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        &[
            include_str!("job_store/refusal.lua"),
            include_str!("queue/fair.lua"),
            include_str!("job_store/report.lua"),
        ]
        .concat(),
    )
});

/// What [`JobStore::report`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reported {
    pub outcome: WriteOutcome,
    /// The record's `created_at` (JSON text) when this write ended the job.
    pub created_at: Option<String>,
}

/// Settles a new batch after its items (see `job_store/batch_settle.lua`).
static BATCH_SETTLE_SCRIPT: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("job_store/batch_settle.lua")));

/// Counts an ended job out of its batch (see `job_store/batch_item_ended.lua`).
static BATCH_ITEM_ENDED_SCRIPT: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("job_store/batch_item_ended.lua")));

/// Stores a user's feedback on a record that still exists (never bringing an expired one back).
static FEEDBACK_SCRIPT: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("job_store/feedback.lua")));

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

/// What [`JobStore::retry_dead`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadRetry {
    /// Queued again from the start; the record says `pending`.
    Queued,
    /// There is no such record.
    Missing,
    /// The job is not in the dead set; nothing changed.
    NotDead,
}

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

/// Ends a conversion, only while the design is still completed; see
/// `job_store/finish_conversion.lua`.
static FINISH_CONVERSION_SCRIPT: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("job_store/finish_conversion.lua")));

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

/// What the enqueue script answered for one job.
fn enqueue_outcome(
    code: i64,
    earlier: &str,
    record: &JobRecord,
    record_key: String,
    active_cap: u32,
) -> Result<Enqueued, StoreError> {
    match code {
        1 => Ok(Enqueued::Created),
        2 => {
            let entry: serde_json::Value =
                serde_json::from_str(earlier).map_err(|e| StoreError::Corrupt {
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

/// A batch about to be created (see [`JobStore::enqueue_batch`]).
#[derive(Debug, Clone)]
pub struct NewBatch<'a> {
    pub batch_id: JobId,
    pub principal: &'a str,
    /// Where the batch's end is to be reported (checked by the caller).
    pub callback_url: Option<&'a str>,
}

/// What [`JobStore::enqueue_batch`] did.
#[derive(Debug)]
pub struct BatchEnqueued {
    /// Per item, in order.
    pub outcomes: Vec<Result<Enqueued, StoreError>>,
    /// No item was created: the batch ended as it began (and sends no callback).
    pub ended_at_once: bool,
}

/// A batch as [`JobStore::batch`] reads it.
#[derive(Debug, Clone)]
pub struct BatchState {
    pub principal: String,
    pub callback_url: Option<String>,
    /// The created items, in request order.
    pub request_ids: Vec<String>,
    /// Each item's status, in the same order; `None` once its record expired.
    pub statuses: Vec<Option<DesignStatus>>,
}

/// Reads and writes job records.
#[derive(Debug, Clone)]
pub struct JobStore {
    keys: Keys,
    ttl: Duration,
    dispatch: DispatchPolicy,
}

impl JobStore {
    /// A store whose queueing dispatches with the default policy (see [`Self::with_dispatch`]).
    pub fn new(keys: Keys, ttl: Duration) -> Self {
        Self {
            keys,
            ttl,
            dispatch: DispatchPolicy::default(),
        }
    }

    /// Queues through the fair pending lists with `policy` (depth and weights).
    pub fn with_dispatch(mut self, policy: DispatchPolicy) -> Self {
        self.dispatch = policy;
        self
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    pub fn dispatch_policy(&self) -> &DispatchPolicy {
        &self.dispatch
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
        let invocation =
            self.enqueue_invocation(record, job, max_attempts, active_cap, idempotency)?;
        let (code, earlier): (i64, String) = invocation.invoke_async(conn).await?;
        enqueue_outcome(
            code,
            &earlier,
            record,
            self.keys.job(&record.request_id),
            active_cap,
        )
    }

    /// Creates a batch's items (each as [`Self::enqueue`] does, without idempotency) and the
    /// batch's record and item list, in one round trip: one pipeline of the enqueue script
    /// per item, then `job_store/batch_settle.lua`. An item refused (its principal's active
    /// cap) is its own error and leaves the item list; the others are created.
    pub async fn enqueue_batch<C: ConnectionLike>(
        &self,
        conn: &mut C,
        batch: &NewBatch<'_>,
        items: &[(JobRecord, DesignJob)],
        max_attempts: u32,
        active_cap: u32,
    ) -> Result<BatchEnqueued, StoreError> {
        let batch_key = self.keys.batch(&batch.batch_id);
        let items_key = self.keys.batch_items(&batch.batch_id);
        let mut invocations = Vec::with_capacity(items.len());
        for (record, job) in items {
            invocations.push(self.enqueue_invocation(
                record,
                job,
                max_attempts,
                active_cap,
                None,
            )?);
        }
        let mut pipe = redis::pipe();
        pipe.load_script(&ENQUEUE_SCRIPT).ignore();
        pipe.hset_multiple(
            &batch_key,
            &[
                ("principal", batch.principal.to_owned()),
                (
                    "callback_url",
                    batch.callback_url.unwrap_or_default().to_owned(),
                ),
                ("created_at", Utc::now().to_rfc3339()),
                ("remaining", items.len().to_string()),
            ],
        )
        .ignore();
        pipe.expire(&batch_key, self.ttl.as_secs() as i64).ignore();
        if !items.is_empty() {
            let ids: Vec<String> = items
                .iter()
                .map(|(r, _)| r.request_id.to_string())
                .collect();
            pipe.rpush(&items_key, ids).ignore();
            pipe.expire(&items_key, self.ttl.as_secs() as i64).ignore();
        }
        for invocation in &invocations {
            pipe.invoke_script(invocation);
        }
        let settle = self.batch_settle_invocation(&batch.batch_id, items);
        pipe.load_script(&BATCH_SETTLE_SCRIPT).ignore();
        pipe.invoke_script(&settle);
        let mut answers: Vec<redis::Value> = pipe.query_async(conn).await?;
        let parse_error = |e: redis::ParsingError| StoreError::Redis(e.into());
        let settled = answers.pop().unwrap_or(redis::Value::Nil);
        let ended_at_once: i64 = redis::from_redis_value(settled).map_err(parse_error)?;
        let mut outcomes = Vec::with_capacity(items.len());
        for (answer, (record, _)) in answers.into_iter().zip(items) {
            let (code, earlier): (i64, String) =
                redis::from_redis_value(answer).map_err(parse_error)?;
            outcomes.push(enqueue_outcome(
                code,
                &earlier,
                record,
                self.keys.job(&record.request_id),
                active_cap,
            ));
        }
        Ok(BatchEnqueued {
            outcomes,
            ended_at_once: ended_at_once == 1,
        })
    }

    /// `job_store/batch_settle.lua`'s call for a batch's `items`.
    fn batch_settle_invocation(
        &self,
        batch_id: &JobId,
        items: &[(JobRecord, DesignJob)],
    ) -> redis::ScriptInvocation<'static> {
        let mut settle = BATCH_SETTLE_SCRIPT.prepare_invoke();
        settle
            .key(self.keys.batch(batch_id))
            .key(self.keys.batch_ended(batch_id))
            .key(self.keys.batch_items(batch_id))
            .arg(self.ttl.as_secs());
        for (record, _) in items {
            settle
                .key(self.keys.job(&record.request_id))
                .arg(record.request_id.to_string());
        }
        settle
    }

    /// Counts the ended job `request_id` out of its batch; `true` when this call ended the
    /// batch, and so is the one to send its callback (see `job_store/batch_item_ended.lua`).
    pub async fn end_batch_item<C: ConnectionLike>(
        &self,
        conn: &mut C,
        batch_id: &JobId,
        request_id: &JobId,
    ) -> Result<bool, StoreError> {
        let claimed: i64 = BATCH_ITEM_ENDED_SCRIPT
            .key(self.keys.batch(batch_id))
            .key(self.keys.batch_ended(batch_id))
            .arg(request_id.to_string())
            .arg(self.ttl.as_secs())
            .invoke_async(conn)
            .await?;
        Ok(claimed == 1)
    }

    /// A batch's record and its items' statuses (`None` for an item whose record expired),
    /// read in two round trips; `None` when there is no such batch.
    pub async fn batch<C: ConnectionLike>(
        &self,
        conn: &mut C,
        batch_id: &JobId,
    ) -> Result<Option<BatchState>, StoreError> {
        let (fields, ids): (std::collections::HashMap<String, String>, Vec<String>) = redis::pipe()
            .hgetall(self.keys.batch(batch_id))
            .lrange(self.keys.batch_items(batch_id), 0, -1)
            .query_async(conn)
            .await?;
        let Some(principal) = fields.get("principal").cloned() else {
            return Ok(None);
        };
        let mut pipe = redis::pipe();
        for id in &ids {
            let id: JobId = id.parse().map_err(|_| StoreError::Corrupt {
                key: self.keys.batch_items(batch_id),
                reason: format!("not a request id: {id}"),
            })?;
            pipe.hget(self.keys.job(&id), "status");
        }
        let raw: Vec<Option<String>> = if ids.is_empty() {
            Vec::new()
        } else {
            pipe.query_async(conn).await?
        };
        let statuses = raw
            .into_iter()
            .map(|status| status.and_then(|text| serde_json::from_str(&text).ok()))
            .collect();
        Ok(Some(BatchState {
            principal,
            callback_url: fields
                .get("callback_url")
                .filter(|url| !url.is_empty())
                .cloned(),
            request_ids: ids,
            statuses,
        }))
    }

    /// The enqueue script's call for one job (see [`Self::enqueue`]).
    fn enqueue_invocation(
        &self,
        record: &JobRecord,
        job: &DesignJob,
        max_attempts: u32,
        active_cap: u32,
        idempotency: Option<&Idempotency<'_>>,
    ) -> Result<redis::ScriptInvocation<'static>, StoreError> {
        let record_key = self.keys.job(&record.request_id);
        let payload = serde_json::to_vec(job).map_err(|e| StoreError::Corrupt {
            key: record_key.clone(),
            reason: e.to_string(),
        })?;
        let task = NewTask {
            id: &record.task_id,
            payload,
            max_attempts,
            principal: &record.principal,
            priority: job.priority,
        };
        let mut invocation = ENQUEUE_SCRIPT.prepare_invoke();
        task.declare(&self.keys, &self.dispatch, &mut invocation);
        invocation
            .key(&record_key)
            .key(self.keys.active_jobs(&record.principal))
            .key(match idempotency {
                Some(idem) => self.keys.idempotency(idem.principal, idem.key),
                None => record_key.clone(),
            })
            .key(self.keys.designs_index(&record.principal))
            .arg(self.ttl.as_secs())
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
        Ok(invocation)
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
        let request_id = job.request_id;
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
        let task = NewTask {
            id: &task_id,
            payload,
            max_attempts,
            principal,
            priority: job.priority,
        };
        let mut invocation = REQUEUE_SCRIPT.prepare_invoke();
        task.declare(&self.keys, &self.dispatch, &mut invocation);
        invocation
            .key(&record_key)
            .key(self.keys.active_jobs(principal))
            .arg(self.ttl.as_secs())
            .arg(request_id)
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
        let record_key = self.keys.job(&job.request_id);
        let corrupt = |e: serde_json::Error| StoreError::Corrupt {
            key: record_key.clone(),
            reason: e.to_string(),
        };
        let payload = serde_json::to_vec(job).map_err(corrupt)?;
        let conversion = serde_json::to_string(conversion).map_err(corrupt)?;
        // The conversion waits in its owner's share of the queue.
        let Some(principal) = self.principal(conn, &record_key).await? else {
            return Ok(ConversionRequest::Missing);
        };
        let task_id = ulid::Ulid::generate().to_string();
        let task = NewTask {
            id: &task_id,
            payload,
            max_attempts,
            principal: &principal,
            priority: job.priority,
        };
        let mut invocation = REQUEST_CONVERSION_SCRIPT.prepare_invoke();
        task.declare(&self.keys, &self.dispatch, &mut invocation);
        invocation
            .key(&record_key)
            .arg(serde_json::json!(DesignStatus::Completed).to_string())
            .arg(conversion);
        let outcome: i64 = invocation.invoke_async(conn).await?;
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
        request_id: &JobId,
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

    /// The principal a record belongs to, or `None` when there is no record.
    async fn principal<C: ConnectionLike>(
        &self,
        conn: &mut C,
        record_key: &str,
    ) -> Result<Option<String>, StoreError> {
        let raw: Option<String> = redis::cmd("HGET")
            .arg(record_key)
            .arg("principal")
            .query_async(conn)
            .await?;
        raw.map(|raw| {
            serde_json::from_str(&raw).map_err(|e| StoreError::Corrupt {
                key: record_key.to_owned(),
                reason: format!("field principal: {e}"),
            })
        })
        .transpose()
    }

    /// The record of a job, or `None` when there is none (never created, or expired).
    pub async fn get<C: ConnectionLike>(
        &self,
        conn: &mut C,
        request_id: &JobId,
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
        request_id: &JobId,
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
        request_id: &JobId,
        patch: &JobPatch,
    ) -> Result<WriteOutcome, StoreError> {
        let reported = self
            .report(conn, request_id, None, Some(patch), &[])
            .await?;
        Ok(reported.outcome)
    }

    /// Writes `patch` (when it has fields) and publishes `events` after it, in one script:
    /// one round trip per stage change of a job. A patch is refused, and no event published,
    /// when the job has ended (`AlreadyEnded`) or its record is gone (`Missing`).
    ///
    /// `principal` is the record's owner when the caller knows it (a worker read the record
    /// when the job started; it never changes once written); without it, a write that ends
    /// the job reads it first, one round trip more.
    pub async fn report<C: ConnectionLike>(
        &self,
        conn: &mut C,
        request_id: &JobId,
        principal: Option<&str>,
        patch: Option<&JobPatch>,
        events: &[crate::events::EventPayload],
    ) -> Result<Reported, StoreError> {
        let record_key = self.keys.job(request_id);
        let ends = patch
            .and_then(|p| p.status)
            .is_some_and(|s| s.is_terminal());
        // The job leaves its principal's set of jobs not yet ended: the script is given that
        // key like every key it touches.
        let active_jobs = match (ends, principal) {
            (false, _) => None,
            (true, Some(principal)) => Some(self.keys.active_jobs(principal)),
            (true, None) => self
                .principal(conn, &record_key)
                .await?
                .map(|principal| self.keys.active_jobs(&principal)),
        };
        let fields = patch.map(patch_fields).unwrap_or_default();
        let mut invocation = REPORT_SCRIPT.prepare_invoke();
        invocation
            .key(&record_key)
            .key(self.keys.events(request_id))
            .key(active_jobs.as_deref().unwrap_or(&record_key))
            .arg(if active_jobs.is_some() { "1" } else { "" })
            .arg(request_id)
            .arg(crate::events::channel(request_id))
            .arg(self.ttl.as_secs())
            .arg(crate::events::REPLAY_CAPACITY)
            .arg(fields.len() * 2)
            .arg(TERMINAL_STATUSES.as_str())
            .arg(if ends {
                Route::new(&self.keys, &self.dispatch, "", Priority::Normal).to_json()
            } else {
                String::new()
            });
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
        let id = job.request_id;
        let payload = serde_json::to_vec(job).map_err(|e| StoreError::Corrupt {
            key: self.keys.job(&id),
            reason: e.to_string(),
        })?;
        let patch = JobPatch::status(crate::job::DesignStatus::Pending, 0.0);
        // The owner goes into the task's metadata, where pausing looks for it.
        let principal = self
            .principal(conn, &self.keys.job(&id))
            .await?
            .unwrap_or_default();
        let task = NewTask {
            id: &task_id,
            payload,
            max_attempts,
            principal: &principal,
            priority: job.priority,
        };
        let mut invocation = RESCHEDULE_SCRIPT.prepare_invoke();
        task.declare(&self.keys, &self.dispatch, &mut invocation);
        invocation
            .key(self.keys.job(&id))
            .key(self.keys.queue_scheduled())
            .arg(run_at)
            .arg(retries)
            .arg(TERMINAL_STATUSES.as_str());
        push_patch(&mut invocation, &patch);
        let outcome: i64 = invocation.invoke_async(conn).await?;
        Ok(WriteOutcome::from_script(outcome))
    }

    /// Records a job that failed for good in the dead-jobs set (kept as long as records).
    pub async fn mark_dead<C: ConnectionLike>(
        &self,
        conn: &mut C,
        request_id: &JobId,
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
    ) -> Result<Vec<(JobId, i64)>, StoreError> {
        Ok(redis::cmd("ZREVRANGE")
            .arg(self.keys.dead_jobs())
            .arg(0)
            .arg(limit.saturating_sub(1))
            .arg("WITHSCORES")
            .query_async(conn)
            .await?)
    }

    /// Runs a dead job again from the start under a new task, through its principal's pending
    /// list: the record goes back to `pending` with its retries reset, and the job leaves the
    /// dead set, atomically (see `queue/retry_dead.lua`).
    pub async fn retry_dead<C: ConnectionLike>(
        &self,
        conn: &mut C,
        request_id: &JobId,
        max_attempts: u32,
    ) -> Result<DeadRetry, StoreError> {
        let Some(record) = self.get(conn, request_id).await? else {
            return Ok(DeadRetry::Missing);
        };
        let mut earlier_feedback = record.refinements.clone();
        let feedback = earlier_feedback.pop();
        let job = DesignJob {
            feedback,
            earlier_feedback,
            ..DesignJob::rerun_of(&record)
        };
        let record_key = self.keys.job(request_id);
        let payload = serde_json::to_vec(&job).map_err(|e| StoreError::Corrupt {
            key: record_key.clone(),
            reason: e.to_string(),
        })?;
        let task_id = ulid::Ulid::generate().to_string();
        let json = |value: Value| value.to_string();
        let fields = [
            ("task_id", json(Value::String(task_id.clone()))),
            ("status", json(serde_json::json!(DesignStatus::Pending))),
            ("progress", json(serde_json::json!(0.0))),
            ("current_iteration", json(serde_json::json!(0))),
            ("retries", json(serde_json::json!(0))),
            ("error_code", json(Value::Null)),
            ("error_message", json(Value::Null)),
            ("updated_at", json(Value::String(Utc::now().to_rfc3339()))),
        ];
        let task = NewTask {
            id: &task_id,
            payload,
            max_attempts,
            principal: &record.principal,
            priority: record.priority,
        };
        let mut invocation = RETRY_DEAD_SCRIPT.prepare_invoke();
        task.declare(&self.keys, &self.dispatch, &mut invocation);
        invocation
            .key(&record_key)
            .key(self.keys.active_jobs(&record.principal))
            .key(self.keys.dead_jobs())
            .arg(self.ttl.as_secs())
            .arg(request_id);
        for (field, value) in fields {
            invocation.arg(field).arg(value);
        }
        let outcome: i64 = invocation.invoke_async(conn).await?;
        Ok(match outcome {
            1 => DeadRetry::Queued,
            -1 => DeadRetry::NotDead,
            _ => DeadRetry::Missing,
        })
    }

    /// Removes a job from the dead set (its record, `failed`, stays until it expires);
    /// `false` when it was not there.
    pub async fn forget_dead<C: ConnectionLike>(
        &self,
        conn: &mut C,
        request_id: &JobId,
    ) -> Result<bool, StoreError> {
        let removed: u32 = redis::cmd("ZREM")
            .arg(self.keys.dead_jobs())
            .arg(request_id)
            .query_async(conn)
            .await?;
        Ok(removed == 1)
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
                // An entry that is not a job id (none is ever written) counts as gone.
                let record = match request_id.parse::<JobId>() {
                    Ok(id) => self.get(conn, &id).await?,
                    Err(_) => None,
                };
                match record {
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
        request_id: &JobId,
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
        request_id: &JobId,
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
                error_code: Some(crate::error_code::ErrorCode::Cancelled),
                error_message: None,
            },
        ];
        let reported = self
            .report(conn, request_id, None, Some(&patch), &events)
            .await?;
        Ok(reported.outcome)
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
