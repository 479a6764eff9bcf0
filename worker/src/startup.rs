//! Builds the worker (Redis, FreeCAD and its sandbox and pool, artifact directory, metrics
//! listener) and runs the apalis worker loop under a supervisor that restarts it when its
//! stream dies.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use apalis::prelude::*;
use apalis_redis::{Config as QueueConfig, RedisStorage};
use futures::StreamExt;
use futures::channel::mpsc;
use redis::aio::ConnectionManager;
use shared::artifact_store::ArtifactStore;
use shared::job::DesignJob;
use shared::job_store::JobStore;
use shared::keys::Keys;
use shared::queue::{self, QUEUE_NAME};
use shared::redis_conn;
use shared::settings::Settings;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::freecad::{FreecadCommand, FreecadRunner, IsolationMode, RunnerConfig};
use crate::jobs::webhook::WebhookSender;
use crate::jobs::{JobContext, ScriptOverride, run_design_job};
use crate::llm::LlmClient;
use crate::metrics_server;
use shared::metrics::{QUEUE_JOBS_RETRIED_TOTAL, RedisComponent, WORKER_LOOP_RESTARTS_TOTAL};

/// An idle worker looks for work at least this often, even if a wake-up message was lost.
const IDLE_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// The supervisor's pause before restarting a failed worker loop, doubling up to the maximum.
const RESTART_DELAY: Duration = Duration::from_millis(200);
const MAX_RESTART_DELAY: Duration = Duration::from_secs(10);

pub struct Application {
    settings: Settings,
    client: redis::Client,
    conn: ConnectionManager,
    context: JobContext,
    worker_id: String,
    freecad: FreecadCommand,
    restarts: Arc<AtomicU32>,
    /// Taken when the worker runs.
    metrics_listener: Option<tokio::net::TcpListener>,
    metrics_port: u16,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let freecad = FreecadCommand::locate(&settings, settings.freecad.search_path.as_deref())?;
        // Before anything records a metric (the isolation gauge is set as the runner starts).
        metrics_server::prometheus_handle();
        shared::metrics::init_worker_series();
        let metrics_listener =
            tokio::net::TcpListener::bind(settings.telemetry.worker_metrics_addr)
                .await
                .with_context(|| {
                    format!(
                        "binding WORKER_METRICS_ADDR {}",
                        settings.telemetry.worker_metrics_addr
                    )
                })?;
        let metrics_port = metrics_listener.local_addr()?.port();
        let client = redis_conn::client(&settings.redis.url).context("parsing the Redis URL")?;
        let conn = redis_conn::connection_manager(&client)
            .await
            .context("connecting to Redis")?;
        let artifacts =
            ArtifactStore::from_settings(&settings).context("opening the artifact store")?;
        info!(store = %artifacts.location(), "artifact store");
        let keys = Keys::new(&settings.redis.key_prefix);
        let runner = FreecadRunner::start(
            freecad.clone(),
            RunnerConfig::from_settings(&settings),
            settings.freecad.search_path.as_deref(),
        )
        .await
        .context("preparing the FreeCAD sandbox")?;
        match runner.isolation() {
            IsolationMode::Bubblewrap => info!(
                isolation = runner.isolation().as_str(),
                "FreeCAD scripts run in bubblewrap: no network, read-only system, private folder, rlimits"
            ),
            IsolationMode::RlimitsOnly => {
                warn_weakened_sandbox();
                tokio::spawn(async {
                    let mut every_minute = tokio::time::interval(Duration::from_secs(60));
                    every_minute.tick().await;
                    loop {
                        every_minute.tick().await;
                        warn_weakened_sandbox();
                    }
                });
            }
        }
        let root = runner.worker_is_root();
        metrics::gauge!(shared::metrics::WORKER_RUNNING_AS_ROOT.name)
            .set(f64::from(u8::from(root)));
        if root {
            warn!(
                "!!! the worker runs as ROOT: run it as an unprivileged user (make run drops to \
                 `designer`; the Dockerfiles use one); FreeCAD itself runs as nobody !!!"
            );
        }
        let llm = LlmClient::from_settings(&settings).context("preparing the LLM client")?;
        let unpriced = llm.unpriced_models();
        if !unpriced.is_empty() && !settings.llm.allow_unpriced {
            warn!(
                models = unpriced.join(", "),
                "these allowed models have no price, so jobs using them are refused; price them \
                 in LLM_PRICE_FILE or set LLM_ALLOW_UNPRICED=true"
            );
        }
        let context = JobContext {
            store: JobStore::new(keys.clone(), settings.queue.job_ttl)
                .with_dispatch(settings.queue.dispatch.clone()),
            freecad_slots: crate::jobs::freecad_slots::FreecadSlots::new(
                settings.freecad.pool_size,
            ),
            conn: conn.clone(),
            runner: Arc::new(runner),
            artifacts,
            settings: Arc::new(settings.clone()),
            llm: Arc::new(llm),
            job_timeout: settings.queue.job_timeout,
            max_attempts: settings.queue.job_max_attempts,
            webhooks: WebhookSender::new(
                settings.webhooks.secret.clone(),
                shared::callback::CallbackPolicy::from_settings(&settings),
            ),
            usage: shared::budget::UsageLedger::new(keys.clone()),
            script_override: None,
        };
        Ok(Self {
            worker_id: unique_worker_id(),
            settings,
            client,
            conn,
            context,
            freecad,
            restarts: Arc::default(),
            metrics_listener: Some(metrics_listener),
            metrics_port,
        })
    }

    /// The port of the metrics listener (tests bind port 0).
    pub fn metrics_port(&self) -> u16 {
        self.metrics_port
    }

    /// The FreeCAD runner this worker's jobs use.
    pub fn runner(&self) -> Arc<FreecadRunner> {
        self.context.runner.clone()
    }

    /// The FreeCAD execution slots this worker's jobs take turns on.
    pub fn freecad_slots(&self) -> crate::jobs::freecad_slots::FreecadSlots {
        self.context.freecad_slots.clone()
    }

    /// Test seam: the scripts the pipeline runs come from `scripts` instead of the generator,
    /// so tests can send hostile code down the whole job path. Only code can call this; no
    /// HTTP route, setting or environment variable reaches it.
    pub fn override_generated_scripts(&mut self, scripts: ScriptOverride) {
        self.context.script_override = Some(scripts);
    }

    /// How often the supervisor has had to restart the worker loop (0 when all is well).
    pub fn restart_counter(&self) -> Arc<AtomicU32> {
        self.restarts.clone()
    }

    /// This process's worker name; every process needs its own (apalis #504).
    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    fn queue_config(&self) -> QueueConfig {
        QueueConfig::default()
            .queue(QUEUE_NAME)
            .batch_size(self.settings.queue.worker_concurrency)
            // No leases: apalis-redis's lease script `LREM`s every fetched task from the
            // pending list it has already left, a scan of the whole backlog per task (a
            // 20,000-job backlog drained in 20.1 s instead of 6.8 s; BENCHMARKS.md, "Worker
            // throughput"). Orphans are still found by the workers' heartbeats and in-flight
            // sets; only the informational `locked_by`/`locked_at` of a task's metadata go.
            .lock_tasks(false)
            .heartbeat_interval(self.settings.queue.worker_heartbeat)
            // Set explicitly: apalis-redis's Default (10) and serde default (2) disagree.
            .missed_heartbeats(self.settings.queue.worker_missed_heartbeats as usize)
    }

    /// Runs until `shutdown` is cancelled. Jobs in flight then get
    /// `WORKER_SHUTDOWN_GRACE_SECONDS` to finish.
    pub async fn run_until_stopped(mut self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let concurrency = self.settings.queue.worker_concurrency;
        info!(
            worker = %self.worker_id,
            concurrency,
            freecad = %self.freecad.program.display(),
            isolation = self.context.runner.isolation().as_str(),
            metrics_port = self.metrics_port,
            "worker started"
        );
        let metrics_listener = self
            .metrics_listener
            .take()
            .context("the worker runs only once")?;
        let probes = tokio::spawn(metrics_server::serve(
            metrics_listener,
            metrics_server::router(self.conn.clone(), self.context.runner.clone()),
            shutdown.clone(),
        ));
        let wake_up = Arc::new(Mutex::new(None::<mpsc::Sender<()>>));
        let listener = tokio::spawn(forward_wake_ups(
            self.client.clone(),
            Keys::new(&self.settings.redis.key_prefix).queue_available_channel(),
            wake_up.clone(),
            shutdown.clone(),
        ));
        // Before apalis-redis's first fetch sees them: a backlog of due retries promoted in
        // chunks cannot trip its single `unpack`.
        let mut conn = self.conn.clone();
        let keys = self.context.store.keys().clone();
        if let Err(error) = queue::promote_due(&mut conn, &keys, PROMOTION_CHUNK).await {
            warn!(%error, "cannot promote due retries yet");
        }
        let promoter = tokio::spawn(promote_due_forever(
            keys,
            self.settings.queue.dispatch.clone(),
            self.conn.clone(),
            // Well past the orphan window, so a live worker's metadata never lapses.
            (self.settings.queue.worker_orphan_window() * 4).max(Duration::from_secs(60)),
            shutdown.clone(),
        ));

        let mut restarts = 0u32;
        let mut delay = RESTART_DELAY;
        loop {
            let (sender, receiver) = mpsc::channel(1);
            *wake_up.lock().expect("wake-up lock") = Some(sender);
            let strategy = Strategy::new()
                .stream(receiver)
                .interval(IDLE_POLL_INTERVAL);
            let backend = RedisStorage::<DesignJob>::new(self.conn.clone())
                .with_config(self.queue_config())
                .poll_with_strategy(strategy);
            // A fresh name per run: apalis-redis refuses to register a name that sent a
            // heartbeat recently, and the previous run's name did.
            let name = format!("{}-{restarts}", self.worker_id);
            let worker = WorkerBuilder::new(name.as_str())
                .backend(backend)
                .concurrency(concurrency)
                .data(self.context.clone())
                .build(run_counting_retries);
            let stop = shutdown.clone();
            let run = worker.run_until(async move {
                stop.cancelled().await;
                Ok::<(), std::io::Error>(())
            });
            let grace = self.settings.queue.worker_shutdown_grace;
            let grace_over = async {
                shutdown.cancelled().await;
                tokio::time::sleep(grace).await;
            };
            let result = tokio::select! {
                result = run => result,
                () = grace_over => {
                    warn!(?grace, "jobs still running after the shutdown grace; leaving them to be re-queued");
                    break;
                }
            };
            if shutdown.is_cancelled() {
                break;
            }
            restarts += 1;
            self.restarts.fetch_add(1, Ordering::Relaxed);
            metrics::counter!(WORKER_LOOP_RESTARTS_TOTAL.name).increment(1);
            match result {
                Ok(()) => warn!(worker = %name, "the worker loop ended by itself; restarting it"),
                Err(error) => {
                    error!(worker = %name, %error, "the worker loop failed; restarting it")
                }
            }
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = shutdown.cancelled() => break,
            }
            delay = (delay * 2).min(MAX_RESTART_DELAY);
        }
        listener.abort();
        promoter.abort();
        let grace = self.settings.queue.worker_shutdown_grace;
        let (undelivered, unretired) = tokio::join!(
            self.context.webhooks.drain(grace),
            self.context.runner.drain(grace)
        );
        if unretired > 0 {
            warn!(
                unretired,
                ?grace,
                "FreeCAD processes still retiring after the shutdown grace"
            );
        }
        if undelivered > 0 {
            warn!(
                undelivered,
                ?grace,
                "webhook deliveries unfinished after the shutdown grace were dropped"
            );
        }
        probes.abort();
        info!(worker = %self.worker_id, "worker stopped");
        Ok(())
    }
}

/// Scheduled tasks (retries) moved to the active list per Lua call.
const PROMOTION_CHUNK: usize = 500;
/// How often due scheduled tasks are promoted; well under apalis-redis's own fetch cadence,
/// so its fetch script finds few due tasks to promote itself.
const PROMOTION_INTERVAL: Duration = Duration::from_millis(250);

/// Keeps apalis-redis's scheduled set free of due tasks, in bounded chunks (see
/// `shared::queue::promote_due`), its active list fed from the fair pending lists (dispatch
/// runs after every job too; this catches what a lost dispatch left), and its finished tasks
/// from piling up. Every worker runs it; the Lua scripts make that safe.
async fn promote_due_forever(
    keys: Keys,
    dispatch: shared::queue::DispatchPolicy,
    mut conn: ConnectionManager,
    worker_metadata_ttl: Duration,
    shutdown: CancellationToken,
) {
    // Every failure is counted; the log says when the upkeep starts failing and when it
    // recovers, not four times a second while Redis is away.
    let mut failing = false;
    loop {
        tokio::select! {
            () = tokio::time::sleep(PROMOTION_INTERVAL) => {}
            () = shutdown.cancelled() => return,
        }
        let promoted = queue::promote_due(&mut conn, &keys, PROMOTION_CHUNK).await;
        let dispatched = queue::dispatch(&mut conn, &keys, &dispatch).await;
        // apalis-redis keeps every finished task forever; the job record is what counts.
        let forgotten = queue::forget_done_tasks(&mut conn, &keys, PROMOTION_CHUNK).await;
        if let (Ok(promoted), Ok(forgotten)) = (&promoted, &forgotten)
            && promoted + forgotten > 0
        {
            debug!(promoted, forgotten, "queue upkeep");
        }
        let renewed = queue::expire_worker_metadata(&mut conn, &keys, worker_metadata_ttl).await;
        let errors: Vec<_> = [promoted, dispatched, forgotten, renewed]
            .into_iter()
            .filter_map(Result::err)
            .collect();
        for _ in &errors {
            shared::metrics::record_redis_error(RedisComponent::QueueUpkeep);
        }
        match (errors.first(), failing) {
            (Some(error), false) => {
                warn!(%error, "queue upkeep (promoting retries, forgetting finished tasks) fails; retrying");
                failing = true;
            }
            (None, true) => {
                info!("queue upkeep works again");
                failing = false;
            }
            _ => {}
        }
    }
}

/// The apalis handler: the design job handler, with the queue's retries counted. apalis
/// counts a task's runs from 1; apalis-redis stores the count when a run fails with a
/// retryable error and the next run goes on from it, so a run past the first is a retry.
async fn run_counting_retries(
    job: DesignJob,
    attempt: Attempt,
    ctx: Data<JobContext>,
) -> Result<(), BoxDynError> {
    if attempt.current() > 1 {
        metrics::counter!(QUEUE_JOBS_RETRIED_TOTAL.name).increment(1);
    }
    // The write that ends the job also dispatches the next ones (`JobStore::report`).
    run_design_job(job, ctx).await
}

/// Relays apalis-redis's "task available" messages to the current worker loop, so an idle
/// worker starts a new job at once instead of at its next poll. Reconnects when Redis drops.
async fn forward_wake_ups(
    client: redis::Client,
    channel: String,
    wake_up: Arc<Mutex<Option<mpsc::Sender<()>>>>,
    shutdown: CancellationToken,
) {
    while !shutdown.is_cancelled() {
        let subscribed = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        match subscribed.await {
            Ok(mut pubsub) => {
                let mut messages = pubsub.on_message();
                while let Some(_message) = messages.next().await {
                    if let Some(sender) = wake_up.lock().expect("wake-up lock").as_mut() {
                        // A full channel already holds a wake-up; one is enough.
                        let _ = sender.try_send(());
                    }
                }
                warn!("the wake-up subscription ended; resubscribing");
            }
            Err(error) => {
                shared::metrics::record_redis_error(RedisComponent::WakeUps);
                warn!(%error, "cannot subscribe to wake-ups; polling until Redis answers")
            }
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            () = shutdown.cancelled() => {}
        }
    }
}

fn unique_worker_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".to_owned());
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    format!("worker-{host}-{}-{}", std::process::id(), &nonce[..8])
}

/// The warning `FREECAD_ISOLATION=rlimits_only` repeats every minute.
fn warn_weakened_sandbox() {
    warn!(
        isolation = IsolationMode::RlimitsOnly.as_str(),
        "!!! FREECAD_ISOLATION=rlimits_only: FreeCAD scripts run WITHOUT bubblewrap (no \
         file-system or network isolation), only with rlimits, an unprivileged user and the \
         static check !!!"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_ids_are_unique_per_process_start() {
        assert_ne!(unique_worker_id(), unique_worker_id());
        assert!(unique_worker_id().contains(&std::process::id().to_string()));
    }
}
