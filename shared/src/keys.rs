//! Every Redis key and channel name the project uses, built in one place.
//!
//! Our own keys start with the configurable prefix (`designer:` by default). The job queue
//! lives under apalis-redis's own key layout; the methods that name those keys (`queue_*`)
//! are defined in [`crate::queue`], beside the scripts that depend on that layout.

use crate::job::Priority;
use crate::job_id::JobId;

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

    // Fair scheduling (issue #20): see `queue::dispatch`.
    /// List of the principals with pending tasks, in turn order (the head's turn is on).
    pub fn queue_fair_ring(&self) -> String {
        format!("{}queue:fair:ring", self.prefix)
    }

    /// Set of the principals in the ring, so each is in it once.
    pub fn queue_fair_ready(&self) -> String {
        format!("{}queue:fair:ready", self.prefix)
    }

    /// Hash of principal -> tasks dispatched in its current turn (for weights above 1).
    pub fn queue_fair_turns(&self) -> String {
        format!("{}queue:fair:turns", self.prefix)
    }

    /// Present while an admin has paused the queue.
    pub fn queue_paused(&self) -> String {
        format!("{}queue:paused", self.prefix)
    }

    /// Prefix of the pending lists (see [`Keys::queue_fair_pending`]).
    pub fn queue_fair_pending_prefix(&self) -> String {
        format!("{}queue:fair:pending:", self.prefix)
    }

    /// One principal's pending tasks of one priority (FIFO). The priority comes first so a
    /// principal containing `:` cannot make two lists share a name.
    pub fn queue_fair_pending(&self, priority: Priority, principal: &str) -> String {
        format!(
            "{}{}:{principal}",
            self.queue_fair_pending_prefix(),
            priority.as_str()
        )
    }

    /// Hash holding one design job's record (status, plan, results); expires with the job TTL.
    pub fn job(&self, request_id: &JobId) -> String {
        format!("{}job:{request_id}", self.prefix)
    }

    /// Hash of one batch (`POST /api/v1/batches`): its principal, callback_url, creation
    /// time, and `remaining` (items not yet ended), `settled`, `notified` for its one
    /// callback; expires with the job TTL.
    pub fn batch(&self, batch_id: &JobId) -> String {
        format!("{}batch:{batch_id}", self.prefix)
    }

    /// List of the request ids of one batch's created items, in request order; expires with
    /// the job TTL.
    pub fn batch_items(&self, batch_id: &JobId) -> String {
        format!("{}batch-items:{batch_id}", self.prefix)
    }

    /// Set of the request ids of one batch's items that have ended (or were refused), so
    /// each is counted out of the batch once; expires with the job TTL.
    pub fn batch_ended(&self, batch_id: &JobId) -> String {
        format!("{}batch-ended:{batch_id}", self.prefix)
    }

    /// Stream of one job's progress events, for replay; expires with the job TTL.
    pub fn events(&self, request_id: &JobId) -> String {
        format!("{}events:{request_id}", self.prefix)
    }

    /// Sorted set of one rate-limit bucket's recent requests (sliding-window log).
    pub fn rate_limit(&self, bucket: &str) -> String {
        format!("{}ratelimit:{bucket}", self.prefix)
    }

    /// Sorted set of one principal's jobs not yet ended (request ids scored by submission
    /// time in s), for `MAX_ACTIVE_JOBS_PER_PRINCIPAL`.
    pub fn active_jobs(&self, principal: &str) -> String {
        format!("{}active:{principal}", self.prefix)
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

    /// Hash of one principal's usage in one budget window (`usd`, `freecad_seconds`, and an
    /// `alerted:{percent}` flag per threshold crossed): the period and the window's start (both
    /// in Unix seconds) name it, so a changed period starts a window of its own. Expires one
    /// period after the window ends.
    pub fn usage(&self, principal: &str, period_seconds: u64, window_start: i64) -> String {
        format!(
            "{}usage:{principal}:{period_seconds}:{window_start}",
            self.prefix
        )
    }

    /// Lock taken (SET NX PX, one sweep interval) by the gateway that sweeps expired jobs'
    /// artifacts in this interval.
    pub fn artifact_sweeper_lock(&self) -> String {
        format!("{}artifact-sweeper", self.prefix)
    }

    /// One result-cache entry (`shared::result_cache::CachedResult` as JSON), named by the
    /// hex SHA-256 of a canonical plan; expires after `RESULT_CACHE_TTL_SECONDS`.
    pub fn result_cache(&self, plan_digest: &str) -> String {
        format!("{}result-cache:{plan_digest}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_keys_carry_the_prefix() {
        let keys = Keys::new("designer:");
        let id: JobId = "6f9619ff-8b86-d011-b42d-00c04fc964ff".parse().unwrap();
        assert_eq!(
            keys.job(&id),
            "designer:job:6f9619ff-8b86-d011-b42d-00c04fc964ff"
        );
        assert_eq!(
            Keys::new("t1:").events(&id),
            "t1:events:6f9619ff-8b86-d011-b42d-00c04fc964ff"
        );
    }
}
