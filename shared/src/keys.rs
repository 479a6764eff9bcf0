//! Every Redis key and channel name the project uses, built in one place.
//!
//! Our own keys start with the configurable prefix (`designer:` by default). The job queue
//! lives under apalis-redis's own key layout for the queue [`QUEUE_NAME`]; the functions that
//! name those keys mirror `apalis_redis::Config` 1.0 (the worker's tests check that they agree),
//! because the gateway enqueues through its own Lua script instead of apalis-redis's `push`.

/// The apalis-redis queue that carries design jobs. It must not contain `:`, because
/// apalis-redis parses its wake-up channel names by splitting on `:`.
pub const QUEUE_NAME: &str = "designs";

/// Builds key names for one deployment (one prefix).
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Hash holding one design job's record (status, plan, results); expires with the job TTL.
    pub fn job(&self, request_id: &str) -> String {
        format!("{}job:{request_id}", self.prefix)
    }

    /// Stream of one job's progress events, for replay; expires with the job TTL.
    pub fn events(&self, request_id: &str) -> String {
        format!("{}events:{request_id}", self.prefix)
    }

    /// Sorted set of one rate-limit bucket's recent requests (sliding-window log).
    pub fn rate_limit(&self, bucket: &str) -> String {
        format!("{}ratelimit:{bucket}", self.prefix)
    }

    /// Prefix of the per-principal sorted sets of jobs not yet ended (`{prefix}{principal}`);
    /// the Lua scripts that maintain them append the principal.
    pub fn active_jobs_prefix(&self) -> String {
        format!("{}active:", self.prefix)
    }

    /// Sorted set of one principal's designs (request ids scored by submission time in ms),
    /// for `GET /api/v1/designs`; refreshed to the job TTL at each submission, so it expires
    /// with the principal's newest job.
    pub fn designs_index(&self, principal: &str) -> String {
        format!("{}designs:{principal}", self.prefix)
    }

    /// A principal's `Idempotency-Key` (hashed, so any client string makes a safe key name).
    pub fn idempotency(&self, principal: &str, key: &str) -> String {
        use sha2::Digest;
        let digest = hex::encode(sha2::Sha256::digest(key.as_bytes()));
        format!("{}idempotency:{principal}:{digest}", self.prefix)
    }

    /// A short-lived stream token's grant (the token hashed: Redis never holds a usable one).
    pub fn stream_token(&self, token: &str) -> String {
        use sha2::Digest;
        let digest = hex::encode(sha2::Sha256::digest(token.as_bytes()));
        format!("{}stream-token:{digest}", self.prefix)
    }

    /// Sorted set of jobs that failed for good after their retries, by time of death.
    pub fn dead_jobs(&self) -> String {
        format!("{}dead", self.prefix)
    }

    /// How many finished tasks were forgotten (deleted from apalis-redis's done set and data
    /// to bound Redis's memory); the done count is this plus the done set's size.
    pub fn queue_done_forgotten(&self) -> String {
        format!("{}queue-done-forgotten", self.prefix)
    }

    /// Lock held by the one gateway that samples the queue gauges (value: its owner token;
    /// expires unless renewed, so another gateway takes over when the holder dies).
    pub fn queue_sampler_lock(&self) -> String {
        format!("{}queue-sampler", self.prefix)
    }

    /// Lock taken (SET NX PX, one sweep interval) by the gateway that sweeps expired jobs'
    /// artifacts in this interval.
    pub fn artifact_sweeper_lock(&self) -> String {
        format!("{}artifact-sweeper", self.prefix)
    }

    /// apalis-redis: hash of task id -> encoded `DesignJob`.
    pub fn queue_data(&self) -> String {
        format!("{QUEUE_NAME}:data")
    }

    /// apalis-redis: list of task ids ready to be fetched (FIFO).
    pub fn queue_active(&self) -> String {
        format!("{QUEUE_NAME}:active")
    }

    /// apalis-redis: list used as a "work is available" flag.
    pub fn queue_signal(&self) -> String {
        format!("{QUEUE_NAME}:signal")
    }

    /// apalis-redis: prefix of the per-task metadata hashes (`{prefix}:{task_id}`).
    pub fn queue_meta_prefix(&self) -> String {
        format!("{QUEUE_NAME}:meta")
    }

    /// apalis-redis: prefix of the per-worker metadata hashes (`{prefix}:{worker name}`),
    /// which apalis-redis writes at registration and never deletes.
    pub fn queue_worker_metadata_prefix(&self) -> String {
        format!("{QUEUE_NAME}:workers:metadata")
    }

    /// apalis-redis: the sorted set of all queues, written at each worker's registration.
    pub fn apalis_queues_list(&self) -> String {
        "core:apalis:queues:list".to_owned()
    }

    /// apalis-redis: sorted set of tasks waiting for a future run time (retries, delays).
    pub fn queue_scheduled(&self) -> String {
        format!("{QUEUE_NAME}:scheduled")
    }

    /// apalis-redis: sorted set of worker names scored by their last heartbeat.
    pub fn queue_workers(&self) -> String {
        format!("{QUEUE_NAME}:workers")
    }

    /// apalis-redis: set of task ids that finished successfully.
    pub fn queue_done(&self) -> String {
        format!("{QUEUE_NAME}:done")
    }

    /// apalis-redis: prefix of the per-worker sets of tasks being run
    /// (`{prefix}:{worker name}`).
    pub fn queue_inflight_prefix(&self) -> String {
        format!("{QUEUE_NAME}:inflight")
    }

    /// apalis-redis: the failed-tasks set. apalis-redis 1.0 names it but writes nothing to it
    /// (a failed task goes back to the scheduled set, or to the dead set after 25 attempts);
    /// it is sampled anyway so that a version that does use it is counted.
    pub fn queue_failed(&self) -> String {
        format!("{QUEUE_NAME}:failed")
    }

    /// apalis-redis: set of task ids that were given up on.
    pub fn queue_dead(&self) -> String {
        format!("{QUEUE_NAME}:dead")
    }

    /// apalis-redis: the pub/sub channel on which it announces newly available tasks.
    pub fn queue_available_channel(&self) -> String {
        format!("tasks:{}:available", self.queue_active())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_keys_carry_the_prefix() {
        let keys = Keys::new("designer:");
        assert_eq!(keys.job("abc"), "designer:job:abc");
        assert_eq!(Keys::new("t1:").job("x"), "t1:job:x");
    }

    #[test]
    fn queue_name_has_no_colon() {
        assert!(!QUEUE_NAME.contains(':'));
        assert_eq!(
            Keys::new("x").queue_available_channel(),
            "tasks:designs:active:available"
        );
    }
}
