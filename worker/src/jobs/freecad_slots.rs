//! FreeCAD executions at once, per worker: `FREECAD_POOL_SIZE` slots (the number of cores when
//! the pool is off). A worker keeps many jobs in flight (`WORKER_CONCURRENCY`, default 64),
//! most of them waiting on models; the few that reach FreeCAD take a slot here first, so the
//! pool (or its fork server) never has more executions than it was sized for, and a job that
//! waits says so (a `progress` event "waiting for FreeCAD", `freecad_slot_wait_seconds`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use shared::metrics::FREECAD_SLOT_WAIT_SECONDS;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

/// The slots of one worker process.
#[derive(Debug, Clone)]
pub struct FreecadSlots {
    semaphore: Arc<Semaphore>,
    size: usize,
    counts: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    running: AtomicUsize,
    most_running: AtomicUsize,
}

/// One execution's right to run; the slot is free again when this is dropped (the run ended,
/// failed, or its job was cancelled or timed out).
#[derive(Debug)]
pub struct FreecadSlot {
    _permit: OwnedSemaphorePermit,
    counts: Arc<Counts>,
}

impl Drop for FreecadSlot {
    fn drop(&mut self) {
        self.counts.running.fetch_sub(1, Ordering::SeqCst);
    }
}

impl FreecadSlots {
    /// `pool_size` slots; 0 (a fresh process per job) means one per core.
    pub fn new(pool_size: usize) -> Self {
        let size = if pool_size > 0 {
            pool_size
        } else {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        };
        Self {
            semaphore: Arc::new(Semaphore::new(size)),
            size,
            counts: Arc::default(),
        }
    }

    pub fn size(&self) -> usize {
        self.size
    }

    /// A slot now, if one is free (recorded as no wait).
    pub fn try_acquire(&self) -> Option<FreecadSlot> {
        match self.semaphore.clone().try_acquire_owned() {
            Ok(permit) => {
                metrics::histogram!(FREECAD_SLOT_WAIT_SECONDS.name).record(0.0);
                Some(self.hand_out(permit))
            }
            Err(TryAcquireError::NoPermits | TryAcquireError::Closed) => None,
        }
    }

    /// Waits for a slot, recording the wait in `freecad_slot_wait_seconds`.
    pub async fn acquire(&self) -> FreecadSlot {
        let started = Instant::now();
        let permit = self
            .semaphore
            .clone()
            .acquire_owned()
            .await
            .expect("the slot semaphore is never closed");
        metrics::histogram!(FREECAD_SLOT_WAIT_SECONDS.name).record(started.elapsed().as_secs_f64());
        self.hand_out(permit)
    }

    fn hand_out(&self, permit: OwnedSemaphorePermit) -> FreecadSlot {
        let running = self.counts.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.counts
            .most_running
            .fetch_max(running, Ordering::SeqCst);
        FreecadSlot {
            _permit: permit,
            counts: self.counts.clone(),
        }
    }

    /// The most executions this worker has had at once since it started (for tests and
    /// benchmarks: it must never exceed [`Self::size`]).
    pub fn most_running(&self) -> usize {
        self.counts.most_running.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn no_more_slots_than_the_size_and_a_dropped_slot_is_free_again() {
        let slots = FreecadSlots::new(2);
        let first = slots.acquire().await;
        let _second = slots.try_acquire().expect("a second slot");
        assert!(slots.try_acquire().is_none(), "only two at once");
        drop(first);
        assert!(slots.try_acquire().is_some());
        assert_eq!(slots.most_running(), 2);
    }

    #[test]
    fn pool_size_zero_means_one_slot_per_core() {
        assert!(FreecadSlots::new(0).size() >= 1);
    }
}
