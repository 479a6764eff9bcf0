//! The one place that mirrors apalis-redis 1.0's storage layout.
//!
//! The gateway queues jobs with its own Lua script instead of apalis-redis's `push` (which puts
//! every task into the scheduled set, whose promotion fails past about 8,000 due tasks), the
//! workers promote and forget tasks themselves, and the gateway samples the queue's depth.
//! All of that depends on how apalis-redis lays out its keys and tasks, so all of it is here:
//! the key names (methods of [`Keys`], so every caller names keys one way; the worker's tests
//! pin them against `apalis_redis::Config`), the task-push fragment (`push_task.lua`) composed
//! into every script that queues a task, and the scripts that promote, forget and sample.
//! `job_store` keeps the job records and calls the queueing scripts through [`NewTask`].
//! New tasks do not go straight to apalis-redis's active list: [`dispatch`] feeds it fairly
//! from per-principal pending lists of ours (`fair.lua`).

use std::sync::LazyLock;
use std::time::Duration;

use redis::aio::ConnectionLike;
use redis::{RedisError, Script, ScriptInvocation};

use crate::job::Priority;
use crate::keys::Keys;

mod dispatch;
pub(crate) use dispatch::Route;
pub use dispatch::{DEFAULT_DISPATCH_DEPTH, DispatchPolicy, dispatch, is_paused, pause, resume};

/// The apalis-redis queue that carries design jobs. It must not contain `:`, because
/// apalis-redis parses its wake-up channel names by splitting on `:`.
pub const QUEUE_NAME: &str = "designs";

/// apalis-redis 1.0's key names for [`QUEUE_NAME`]. They carry no prefix of ours: they are
/// apalis-redis's, and a worker's `RedisStorage` reads and writes them under these names.
impl Keys {
    /// Hash of task id -> encoded `DesignJob`.
    pub fn queue_data(&self) -> String {
        format!("{QUEUE_NAME}:data")
    }

    /// List of task ids ready to be fetched (FIFO).
    pub fn queue_active(&self) -> String {
        format!("{QUEUE_NAME}:active")
    }

    /// List used as a "work is available" flag.
    pub fn queue_signal(&self) -> String {
        format!("{QUEUE_NAME}:signal")
    }

    /// Prefix of the per-task metadata hashes (see [`Keys::queue_task_meta`]).
    pub fn queue_meta_prefix(&self) -> String {
        format!("{QUEUE_NAME}:meta")
    }

    /// One task's metadata hash (attempts, max attempts, status).
    pub fn queue_task_meta(&self, task_id: &str) -> String {
        format!("{}:{task_id}", self.queue_meta_prefix())
    }

    /// Prefix of the per-worker metadata hashes, which apalis-redis writes at registration and
    /// never deletes (see [`Keys::queue_worker_metadata`]).
    pub fn queue_worker_metadata_prefix(&self) -> String {
        format!("{QUEUE_NAME}:workers:metadata")
    }

    /// One worker's metadata hash.
    pub fn queue_worker_metadata(&self, worker: &str) -> String {
        format!("{}:{worker}", self.queue_worker_metadata_prefix())
    }

    /// The sorted set of all queues, written at each worker's registration (a literal in
    /// apalis-redis, shared by every queue of the Redis).
    pub fn apalis_queues_list(&self) -> String {
        "core:apalis:queues:list".to_owned()
    }

    /// Sorted set of tasks waiting for a future run time (retries, delays).
    pub fn queue_scheduled(&self) -> String {
        format!("{QUEUE_NAME}:scheduled")
    }

    /// Sorted set of worker names scored by their last heartbeat.
    pub fn queue_workers(&self) -> String {
        format!("{QUEUE_NAME}:workers")
    }

    /// Set of task ids that finished successfully.
    pub fn queue_done(&self) -> String {
        format!("{QUEUE_NAME}:done")
    }

    /// Prefix of the per-worker sets of tasks being run (see [`Keys::queue_inflight`]).
    pub fn queue_inflight_prefix(&self) -> String {
        format!("{QUEUE_NAME}:inflight")
    }

    /// One worker's set of tasks being run.
    pub fn queue_inflight(&self, worker: &str) -> String {
        format!("{}:{worker}", self.queue_inflight_prefix())
    }

    /// The failed-tasks set. apalis-redis 1.0 names it but writes nothing to it (a failed task
    /// goes back to the scheduled set, or to the dead set after 25 attempts); it is sampled
    /// anyway so that a version that does use it is counted.
    pub fn queue_failed(&self) -> String {
        format!("{QUEUE_NAME}:failed")
    }

    /// Set of task ids that were given up on.
    pub fn queue_dead(&self) -> String {
        format!("{QUEUE_NAME}:dead")
    }

    /// The pub/sub channel on which apalis-redis announces newly available tasks.
    pub fn queue_available_channel(&self) -> String {
        format!("tasks:{}:available", self.queue_active())
    }
}

/// A script that queues a task: the fair-dispatch and task-push fragments, then the script's
/// own text. Lua has no include, so the fragments are composed in here once, at load time.
fn with_push_task(body: &str) -> Script {
    Script::new(
        &[
            include_str!("fair.lua"),
            include_str!("push_task.lua"),
            body,
        ]
        .concat(),
    )
}

/// Creates a job's record and queues its task (see `enqueue.lua`).
pub(crate) static ENQUEUE_SCRIPT: LazyLock<Script> =
    LazyLock::new(|| with_push_task(include_str!("enqueue.lua")));

/// Runs a job again under a new task (see `requeue.lua`).
pub(crate) static REQUEUE_SCRIPT: LazyLock<Script> =
    LazyLock::new(|| with_push_task(include_str!("requeue.lua")));

/// Runs a dead job again under a new task (see `retry_dead.lua`).
pub(crate) static RETRY_DEAD_SCRIPT: LazyLock<Script> =
    LazyLock::new(|| with_push_task(include_str!("retry_dead.lua")));

/// Queues a conversion task unless one is queued (see `request_conversion.lua`).
pub(crate) static REQUEST_CONVERSION_SCRIPT: LazyLock<Script> =
    LazyLock::new(|| with_push_task(include_str!("request_conversion.lua")));

/// Queues a job again for a later run in the scheduled set (see `reschedule.lua`); it also
/// refuses a record that is gone or ended, as every record write does.
pub(crate) static RESCHEDULE_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    with_push_task(
        &[
            include_str!("../job_store/refusal.lua"),
            include_str!("reschedule.lua"),
        ]
        .concat(),
    )
});

static PROMOTE_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&[include_str!("fair.lua"), include_str!("promote.lua")].concat())
});

static FORGET_DONE_SCRIPT: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("forget_done.lua")));

static SAMPLE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("sample.lua")));

/// A task to store in apalis-redis's layout: what the task-push fragment needs, declared as
/// the first four keys and arguments of the script that includes it.
#[derive(Debug, Clone)]
pub(crate) struct NewTask<'a> {
    pub id: &'a str,
    /// The encoded `DesignJob` (apalis-redis's JSON codec).
    pub payload: Vec<u8>,
    pub max_attempts: u32,
    /// Whose share of the queue the task waits in, and where in it.
    pub principal: &'a str,
    pub priority: Priority,
}

impl NewTask<'_> {
    /// Appends KEYS 1-4 and ARGV 1-4 of `push_task.lua`; call it before the script's own.
    pub(crate) fn declare(
        &self,
        keys: &Keys,
        policy: &DispatchPolicy,
        invocation: &mut ScriptInvocation<'_>,
    ) {
        let route = Route::new(keys, policy, self.principal, self.priority);
        invocation
            .key(keys.queue_data())
            .key(keys.queue_active())
            .key(keys.queue_signal())
            .key(keys.queue_task_meta(self.id))
            .arg(self.id)
            .arg(&self.payload)
            .arg(self.max_attempts)
            .arg(route.to_json());
    }
}

/// Moves due scheduled tasks to the active list, `chunk` at a time, until none is due;
/// returns how many moved. apalis-redis's own fetch promotes every due task with one
/// `unpack`, which fails past about 8,000: promoting first keeps what it finds small.
/// While the queue is paused they are parked in their pending lists instead.
pub async fn promote_due<C: ConnectionLike>(
    conn: &mut C,
    keys: &Keys,
    chunk: usize,
) -> Result<usize, RedisError> {
    let chunk = chunk.max(1);
    let mut invocation = PROMOTE_SCRIPT.prepare_invoke();
    invocation
        .key(keys.queue_scheduled())
        .key(keys.queue_active())
        .key(keys.queue_signal())
        .arg(chunk)
        .arg(keys.queue_available_channel())
        .arg(Route::new(keys, &DispatchPolicy::default(), "", Priority::Normal).to_json());
    let mut total = 0;
    loop {
        let moved: usize = invocation.invoke_async(conn).await?;
        total += moved;
        if moved < chunk {
            return Ok(total);
        }
    }
}

/// Deletes the queue's copies of finished tasks (apalis-redis 1.0 keeps every done task's
/// payload and metadata forever), `chunk` at a time, counting them in
/// `Keys::queue_done_forgotten`; returns how many went. Stops when a round finds fewer than
/// `chunk` to forget, which a worker racing on the same tasks may cause early; the next
/// round goes on.
pub async fn forget_done_tasks<C: ConnectionLike>(
    conn: &mut C,
    keys: &Keys,
    chunk: usize,
) -> Result<usize, RedisError> {
    let chunk = chunk.max(1);
    let mut total = 0;
    loop {
        // Read first, so the script is given every key it touches.
        let ids: Vec<String> = redis::cmd("SRANDMEMBER")
            .arg(keys.queue_done())
            .arg(chunk)
            .query_async(conn)
            .await?;
        if ids.is_empty() {
            return Ok(total);
        }
        let mut invocation = FORGET_DONE_SCRIPT.prepare_invoke();
        invocation
            .key(keys.queue_done())
            .key(keys.queue_data())
            .key(keys.queue_done_forgotten());
        for id in &ids {
            invocation.key(keys.queue_task_meta(id)).arg(id);
        }
        let forgotten: usize = invocation.invoke_async(conn).await?;
        total += forgotten;
        if forgotten < chunk {
            return Ok(total);
        }
    }
}

/// Gives every registered worker's metadata hash an expiry, and apalis-redis's list of
/// queues too: apalis-redis writes one hash per worker name (each restart of a worker loop
/// is a new name) and never deletes it. Live workers stay in the workers set and keep having
/// theirs renewed; a dead one's expires. Returns how many workers were renewed.
pub async fn expire_worker_metadata<C: ConnectionLike>(
    conn: &mut C,
    keys: &Keys,
    ttl: Duration,
) -> Result<usize, RedisError> {
    let ttl = ttl.as_secs().max(1);
    let workers: Vec<String> = redis::cmd("ZRANGE")
        .arg(keys.queue_workers())
        .arg(0)
        .arg(-1)
        .query_async(conn)
        .await?;
    let mut pipe = redis::pipe();
    pipe.cmd("EXPIRE")
        .arg(keys.apalis_queues_list())
        .arg(ttl)
        .ignore();
    for worker in &workers {
        pipe.cmd("EXPIRE")
            .arg(keys.queue_worker_metadata(worker))
            .arg(ttl)
            .ignore();
    }
    pipe.query_async::<()>(conn).await?;
    Ok(workers.len())
}

/// Tasks finished so far: those still in apalis-redis's done set and those forgotten. Read
/// in one transaction: forgetting may otherwise run between the two reads and a chunk be
/// counted in both places.
pub async fn finished_tasks<C: ConnectionLike>(
    conn: &mut C,
    keys: &Keys,
) -> Result<u64, RedisError> {
    let (in_set, forgotten): (u64, Option<u64>) = redis::pipe()
        .atomic()
        .cmd("SCARD")
        .arg(keys.queue_done())
        .cmd("GET")
        .arg(keys.queue_done_forgotten())
        .query_async(conn)
        .await?;
    Ok(in_set + forgotten.unwrap_or(0))
}

/// One reading of the queue, in the order of `metrics::QUEUE_STATES`, plus the workers alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueSnapshot {
    pub depth: [u64; 6],
    pub workers_alive: u64,
}

/// Who samples, and what counts as alive.
#[derive(Debug, Clone)]
pub struct SampleLock<'a> {
    /// The sampler's token, stored in `Keys::queue_sampler_lock`.
    pub owner: &'a str,
    /// How long the lock lives unless renewed.
    pub ttl: Duration,
    /// Workers whose last heartbeat is at or after this (unix s) are alive.
    pub alive_since: u64,
}

/// Takes or renews the sampler lock and, for its holder, counts the queue in the same atomic
/// step (`sample.lua`); `None` when another owner holds the lock.
pub async fn sample<C: ConnectionLike>(
    conn: &mut C,
    keys: &Keys,
    lock: &SampleLock<'_>,
) -> Result<Option<QueueSnapshot>, RedisError> {
    let counts: Option<Vec<u64>> = SAMPLE_SCRIPT
        .key(keys.queue_sampler_lock())
        .key(keys.queue_active())
        .key(keys.queue_scheduled())
        .key(keys.queue_workers())
        .key(keys.queue_done())
        .key(keys.queue_failed())
        .key(keys.queue_dead())
        .key(keys.dead_jobs())
        .key(keys.queue_done_forgotten())
        .key(keys.queue_fair_ready())
        .arg(lock.owner)
        .arg(lock.ttl.as_millis() as u64)
        .arg(keys.queue_inflight_prefix())
        .arg(lock.alive_since)
        .arg(keys.queue_fair_pending_prefix())
        .invoke_async(conn)
        .await?;
    Ok(counts.map(|counts| {
        let mut depth = [0; 6];
        depth.copy_from_slice(&counts[..6]);
        QueueSnapshot {
            depth,
            workers_alive: counts[6],
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_name_has_no_colon() {
        assert!(!QUEUE_NAME.contains(':'));
        assert_eq!(
            Keys::new("x").queue_available_channel(),
            "tasks:designs:active:available"
        );
    }
}
