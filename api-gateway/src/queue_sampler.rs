//! The queue gauges: apalis-redis's queue depth by state and the workers alive, read from
//! Redis every `QUEUE_METRICS_INTERVAL_SECONDS` by one gateway at a time.
//!
//! Why the gateway and not the workers: the gauges matter most when no worker runs (the
//! "no workers alive" and "backlog growing" alerts), and a sampler inside the workers would
//! vanish with them. Why one at a time: the count walks every worker's in-flight set, which
//! is cheap once per interval but not once per replica per interval. A Redis lock
//! (`{prefix}queue-sampler`, taken inside the script as SET NX PX would, and renewed by its
//! holder) elects the sampler; if the holder dies, the lock expires after three intervals and
//! another gateway takes over.
//!
//! Only the holder exports the gauges, and only while its snapshot is fresh: a gateway that
//! lost the lock stops exporting instead of repeating an old value, so `sum`/`max` over the
//! gateways never count a stale copy.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis::Script;
use redis::aio::ConnectionManager;
use shared::keys::Keys;
use shared::metrics::{self, QUEUE_DEPTH, QUEUE_STATES, QUEUE_WORKERS_ALIVE, RedisComponent};
use std::sync::LazyLock;
use tokio_util::sync::CancellationToken;

/// Acquires or renews the sampler lock and, for its holder only, counts the queue in the same
/// atomic step. The in-flight sets are named after the registered workers, so they cannot be
/// declared as KEYS (as in apalis-redis's own scripts; fine on a single Redis, not on a cluster).
/// The done, failed and dead collections are counted whatever their type, because apalis-redis
/// 1.0 writes done and dead as sets while its own stats script reads them as sorted sets.
static SAMPLE_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
-- KEYS: 1 lock, 2 active list, 3 scheduled zset, 4 workers zset, 5 done, 6 failed, 7 dead,
--       8 our dead jobs (retries exhausted; apalis-redis never sees those die),
--       9 the count of done tasks forgotten (deleted to bound memory)
-- ARGV: 1 owner token, 2 lock ttl (ms), 3 in-flight key prefix, 4 alive since (unix s)
local owner = redis.call('GET', KEYS[1])
if owner == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
elseif owner == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
else
  return false
end
local function size(key)
  local kind = redis.call('TYPE', key)['ok']
  if kind == 'set' then return redis.call('SCARD', key) end
  if kind == 'zset' then return redis.call('ZCARD', key) end
  if kind == 'list' then return redis.call('LLEN', key) end
  if kind == 'hash' then return redis.call('HLEN', key) end
  return 0
end
local running = 0
for _, worker in ipairs(redis.call('ZRANGE', KEYS[4], 0, -1)) do
  running = running + redis.call('SCARD', ARGV[3] .. ':' .. worker)
end
local alive = redis.call('ZCOUNT', KEYS[4], ARGV[4], '+inf')
return { redis.call('LLEN', KEYS[2]), running, redis.call('ZCARD', KEYS[3]),
         size(KEYS[5]) + (tonumber(redis.call('GET', KEYS[9])) or 0), size(KEYS[6]),
         size(KEYS[7]) + size(KEYS[8]), alive }
"#,
    )
});

/// One reading of the queue, in the order of [`QUEUE_STATES`], plus the workers alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueSnapshot {
    pub depth: [u64; 6],
    pub workers_alive: u64,
}

#[derive(Debug, Default)]
struct Latest {
    snapshot: Option<(QueueSnapshot, Instant)>,
}

/// The sampler's latest reading, shared with the `/metrics` route.
#[derive(Debug, Clone)]
pub struct QueueGauges {
    latest: Arc<Mutex<Latest>>,
    /// A reading older than this is not exported (the lock's time to live).
    fresh_for: Duration,
}

impl QueueGauges {
    fn new(fresh_for: Duration) -> Self {
        Self {
            latest: Arc::default(),
            fresh_for,
        }
    }

    fn store(&self, snapshot: Option<QueueSnapshot>) {
        let mut latest = self.latest.lock().expect("queue gauges lock");
        latest.snapshot = snapshot.map(|s| (s, Instant::now()));
    }

    /// The latest reading, if this gateway holds the lock and read it recently.
    pub fn current(&self) -> Option<QueueSnapshot> {
        let latest = self.latest.lock().expect("queue gauges lock");
        latest
            .snapshot
            .filter(|(_, at)| at.elapsed() < self.fresh_for)
            .map(|(snapshot, _)| snapshot)
    }

    /// The gauges in the Prometheus text format; empty unless this gateway is the sampler.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Some(snapshot) = self.current() {
            let states: Vec<[(&str, &str); 1]> = QUEUE_STATES
                .iter()
                .map(|state| [("state", *state)])
                .collect();
            let series: Vec<(&[(&str, &str)], f64)> = states
                .iter()
                .zip(snapshot.depth)
                .map(|(labels, depth)| (labels.as_slice(), depth as f64))
                .collect();
            metrics::render_series(&mut out, QUEUE_DEPTH, &series);
            metrics::render_series(
                &mut out,
                QUEUE_WORKERS_ALIVE,
                &[(&[], snapshot.workers_alive as f64)],
            );
        }
        out
    }
}

/// Samples the queue while this gateway runs.
pub struct QueueSampler {
    conn: ConnectionManager,
    keys: Keys,
    interval: Duration,
    orphan_window: Duration,
    owner: String,
    gauges: QueueGauges,
}

impl QueueSampler {
    /// The lock outlives the holder by this many intervals, so one slow round does not hand
    /// the sampling over.
    const LOCK_INTERVALS: u32 = 3;

    pub fn new(
        conn: ConnectionManager,
        keys: Keys,
        interval: Duration,
        orphan_window: Duration,
    ) -> Self {
        let lock_ttl = interval * Self::LOCK_INTERVALS;
        Self {
            conn,
            keys,
            interval,
            orphan_window,
            owner: uuid::Uuid::new_v4().to_string(),
            gauges: QueueGauges::new(lock_ttl),
        }
    }

    pub fn gauges(&self) -> QueueGauges {
        self.gauges.clone()
    }

    /// One round: take or keep the lock and read the queue (`None` when another gateway holds
    /// the lock).
    pub async fn sample_once(&self) -> Result<Option<QueueSnapshot>, redis::RedisError> {
        let alive_since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .saturating_sub(self.orphan_window)
            .as_secs();
        let lock_ttl_ms = (self.interval * Self::LOCK_INTERVALS).as_millis() as u64;
        let mut conn = self.conn.clone();
        let counts: Option<Vec<u64>> = SAMPLE_SCRIPT
            .key(self.keys.queue_sampler_lock())
            .key(self.keys.queue_active())
            .key(self.keys.queue_scheduled())
            .key(self.keys.queue_workers())
            .key(self.keys.queue_done())
            .key(self.keys.queue_failed())
            .key(self.keys.queue_dead())
            .key(self.keys.dead_jobs())
            .key(self.keys.queue_done_forgotten())
            .arg(&self.owner)
            .arg(lock_ttl_ms)
            .arg(self.keys.queue_inflight_prefix())
            .arg(alive_since)
            .invoke_async(&mut conn)
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

    /// Samples at once, then every interval, until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(self.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = shutdown.cancelled() => return,
            }
            match self.sample_once().await {
                Ok(snapshot) => self.gauges.store(snapshot),
                Err(error) => {
                    metrics::record_redis_error(RedisComponent::QueueSampler);
                    tracing::warn!(%error, "cannot sample the queue");
                    // Keep the last reading: it stops being exported once it is older than the
                    // lock's time to live, which is when another gateway may have taken over.
                }
            }
        }
    }
}
