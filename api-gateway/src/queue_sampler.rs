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
//!
//! The reading itself (lock and counts in one script) is `shared::queue::sample`, beside the
//! rest of the code that knows apalis-redis's layout; this module schedules it and exports it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis::aio::ConnectionManager;
use shared::keys::Keys;
use shared::metrics::{self, QUEUE_DEPTH, QUEUE_STATES, QUEUE_WORKERS_ALIVE, RedisComponent};
pub use shared::queue::QueueSnapshot;
use shared::queue::{self, SampleLock};
use tokio_util::sync::CancellationToken;

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
        let lock = SampleLock {
            owner: &self.owner,
            ttl: self.interval * Self::LOCK_INTERVALS,
            alive_since,
        };
        queue::sample(&mut self.conn.clone(), &self.keys, &lock).await
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
