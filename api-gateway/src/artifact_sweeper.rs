//! Deletes the files of expired jobs from the artifact store, every
//! `ARTIFACT_SWEEP_INTERVAL_SECONDS`, from one gateway per interval: a Redis lock
//! (`{prefix}artifact-sweeper`, SET NX PX for one interval) lets the first gateway of each
//! interval sweep and the others skip it. Why the gateway: it runs wherever the service runs,
//! also while no worker does, and it already reads the store.

use std::time::Duration;

use redis::aio::ConnectionManager;
use shared::artifact_store::{ArtifactStore, sweep_expired};
use shared::keys::Keys;
use shared::metrics::{RedisComponent, record_redis_error};
use tokio_util::sync::CancellationToken;

pub struct ArtifactSweeper {
    pub store: ArtifactStore,
    pub conn: ConnectionManager,
    pub keys: Keys,
    pub interval: Duration,
}

impl ArtifactSweeper {
    /// Sweeps at start-up and then once per interval until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(self.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticks.tick() => self.sweep_if_elected().await,
            }
        }
    }

    async fn sweep_if_elected(&self) {
        let mut conn = self.conn.clone();
        let elected: Result<Option<String>, _> = redis::cmd("SET")
            .arg(self.keys.artifact_sweeper_lock())
            .arg(uuid::Uuid::new_v4().to_string())
            .arg("NX")
            .arg("PX")
            .arg(self.interval.as_millis() as u64)
            .query_async(&mut conn)
            .await;
        match elected {
            Ok(Some(_)) => {}
            Ok(None) => return,
            Err(error) => {
                record_redis_error(RedisComponent::ArtifactSweeper);
                tracing::warn!(%error, "artifact sweep skipped: Redis is unreachable");
                return;
            }
        }
        match sweep_expired(&self.store, &mut conn, &self.keys).await {
            Ok(report) if report.jobs > 0 => tracing::info!(
                jobs = report.jobs,
                files = report.files,
                store = %self.store.location(),
                "deleted the artifacts of expired jobs"
            ),
            Ok(_) => {}
            Err(error) => {
                if matches!(error, shared::artifact_store::SweepError::Redis(_)) {
                    record_redis_error(RedisComponent::ArtifactSweeper);
                }
                tracing::warn!(%error, "artifact sweep failed; retried next interval")
            }
        }
    }
}
