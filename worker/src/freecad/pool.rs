//! The warm pool: `FREECAD_POOL_SIZE` runner processes kept started, lent to one job at a time,
//! recycled after `FREECAD_POOL_MAX_JOBS` jobs and replaced at once when one fails.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::{Mutex, mpsc};
use tracing::{error, warn};

use super::process::{FreecadProcess, ProcessFailure};
use super::sandbox::Sandbox;
use crate::side_tasks::SideTasks;

/// The pause before trying again to start a process that failed to start, doubling up to the maximum.
const RESTART_DELAY: Duration = Duration::from_millis(500);
const MAX_RESTART_DELAY: Duration = Duration::from_secs(30);

/// How full the pool is, for `/ready`, metrics and tests.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PoolStatus {
    /// `FREECAD_POOL_SIZE`.
    pub size: usize,
    /// Started processes, idle or running a job.
    pub live: usize,
    /// Processes waiting for a job.
    pub idle: usize,
    /// Host process ids of the live processes, sorted.
    pub pids: Vec<u32>,
}

pub(crate) struct Pool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    sandbox: Arc<Sandbox>,
    size: usize,
    max_jobs: u32,
    start_limit: Duration,
    idle_sender: mpsc::UnboundedSender<FreecadProcess>,
    idle: Mutex<mpsc::UnboundedReceiver<FreecadProcess>>,
    live: AtomicUsize,
    idle_count: AtomicUsize,
    pids: std::sync::Mutex<Vec<u32>>,
    /// Processes being retired, so that shutdown waits for them to end.
    retiring: SideTasks,
}

impl PoolInner {
    fn forget(&self, pid: u32) {
        self.live.fetch_sub(1, Ordering::SeqCst);
        self.pids
            .lock()
            .expect("pool pids lock")
            .retain(|p| *p != pid);
    }
}

/// A process lent to one job. Dropped without [`Lease::give_back`] (the job was cancelled
/// mid-run), its process is killed and replaced.
pub(crate) struct Lease {
    process: Option<FreecadProcess>,
    pool: Arc<PoolInner>,
}

impl Pool {
    /// Starts `size` processes in the background; jobs wait for the first ready one.
    pub fn start(
        sandbox: Arc<Sandbox>,
        size: usize,
        max_jobs: u32,
        start_limit: Duration,
        retiring: SideTasks,
    ) -> Self {
        let (idle_sender, receiver) = mpsc::unbounded_channel();
        let inner = Arc::new(PoolInner {
            sandbox,
            size,
            max_jobs: max_jobs.max(1),
            start_limit,
            idle_sender,
            idle: Mutex::new(receiver),
            live: AtomicUsize::new(0),
            idle_count: AtomicUsize::new(0),
            pids: std::sync::Mutex::default(),
            retiring,
        });
        for _ in 0..size {
            spawn_replacement(&inner);
        }
        Self { inner }
    }

    pub fn status(&self) -> PoolStatus {
        PoolStatus {
            size: self.inner.size,
            live: self.inner.live.load(Ordering::SeqCst),
            idle: self.inner.idle_count.load(Ordering::SeqCst),
            pids: self.inner.pids.lock().expect("pool pids lock").clone(),
        }
    }

    /// Waits for an idle process.
    pub async fn lease(&self) -> Option<Lease> {
        let process = self.inner.idle.lock().await.recv().await?;
        self.inner.idle_count.fetch_sub(1, Ordering::SeqCst);
        Some(Lease {
            process: Some(process),
            pool: self.inner.clone(),
        })
    }
}

impl Lease {
    pub fn process(&mut self) -> &mut FreecadProcess {
        self.process
            .as_mut()
            .expect("a lease holds its process until it ends")
    }

    /// Returns a healthy process to the pool, or retires it when it has run its share of jobs.
    pub fn give_back(mut self) {
        let Some(process) = self.process.take() else {
            return;
        };
        if process.jobs_done >= self.pool.max_jobs {
            self.pool.forget(process.pid());
            self.pool.retiring.spawn(process.retire());
            spawn_replacement(&self.pool);
        } else {
            self.pool.idle_count.fetch_add(1, Ordering::SeqCst);
            let pid = process.pid();
            if self.pool.idle_sender.send(process).is_err() {
                self.pool.idle_count.fetch_sub(1, Ordering::SeqCst);
                self.pool.forget(pid);
            }
        }
    }

    /// Kills the process (timeout, crash, memory overrun, stray processes) and starts another.
    pub fn discard(mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
            self.pool.forget(process.pid());
            spawn_replacement(&self.pool);
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
            self.pool.forget(process.pid());
            if tokio::runtime::Handle::try_current().is_ok() {
                spawn_replacement(&self.pool);
            }
        }
    }
}

/// Starts one process in the background and adds it to the pool, retrying with backoff. The
/// task holds the pool weakly: a pool dropped meanwhile gets no process, and the new one dies.
fn spawn_replacement(pool: &Arc<PoolInner>) {
    let weak: Weak<PoolInner> = Arc::downgrade(pool);
    let sandbox = pool.sandbox.clone();
    let limit = pool.start_limit;
    tokio::spawn(async move {
        let mut delay = RESTART_DELAY;
        loop {
            match FreecadProcess::start(sandbox.clone(), limit).await {
                Ok(process) => {
                    let Some(pool) = weak.upgrade() else { return };
                    let pid = process.pid();
                    pool.live.fetch_add(1, Ordering::SeqCst);
                    pool.pids.lock().expect("pool pids lock").push(pid);
                    pool.pids.lock().expect("pool pids lock").sort_unstable();
                    pool.idle_count.fetch_add(1, Ordering::SeqCst);
                    if pool.idle_sender.send(process).is_err() {
                        pool.idle_count.fetch_sub(1, Ordering::SeqCst);
                        pool.forget(pid);
                    }
                    return;
                }
                Err(failure) => {
                    let reason = match failure {
                        ProcessFailure::Io(error) => error.to_string(),
                        ProcessFailure::Died { status, log_tail } => {
                            format!("{status}; log: {log_tail}")
                        }
                    };
                    error!(%reason, ?delay, "a FreeCAD pool process did not start; trying again");
                }
            }
            if weak.strong_count() == 0 {
                return;
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(MAX_RESTART_DELAY);
            if weak.strong_count() == 0 {
                warn!("the pool is gone; not starting a process");
                return;
            }
        }
    });
}
