//! FreeCAD executions at once, per worker: `FREECAD_POOL_SIZE` slots (the number of cores when
//! the pool is off). A worker keeps many jobs in flight (`WORKER_CONCURRENCY`, default 64),
//! most of them waiting on models; the few that reach FreeCAD take a slot here first, so the
//! pool (or its fork server) never has more executions than it was sized for, and a job that
//! waits says so (a `progress` event "waiting for FreeCAD", `freecad_slot_wait_seconds`).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use shared::metrics::FREECAD_SLOT_WAIT_SECONDS;
use tokio::sync::oneshot;

/// The slots of one worker process. Jobs that wait for one are served by principal in turn,
/// first come first served within a principal: a worker holds up to `WORKER_CONCURRENCY` jobs,
/// so a queue in arrival order would put a tenant's new job behind every job of a tenant with
/// a backlog that this worker had already fetched.
#[derive(Debug, Clone)]
pub struct FreecadSlots {
    shared: Arc<Shared>,
    size: usize,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    running: AtomicUsize,
    most_running: AtomicUsize,
}

#[derive(Debug, Default)]
struct State {
    free: usize,
    /// Each waiting principal's waiters, oldest first.
    waiters: HashMap<String, VecDeque<oneshot::Sender<()>>>,
    /// Principals with waiters, in the order they get the next free slots.
    turns: VecDeque<String>,
}

impl State {
    /// Hands a freed slot to the next waiter (principals in turn); `false` when nobody waits
    /// any more (waiters whose job gave up are skipped).
    fn hand_over(&mut self) -> bool {
        while let Some(principal) = self.turns.pop_front() {
            let Some(queue) = self.waiters.get_mut(&principal) else {
                continue;
            };
            let waiter = queue.pop_front();
            if queue.is_empty() {
                self.waiters.remove(&principal);
            } else {
                self.turns.push_back(principal);
            }
            if waiter.is_some_and(|waiter| waiter.send(()).is_ok()) {
                return true;
            }
        }
        false
    }
}

/// One execution's right to run; the slot is free again when this is dropped (the run ended,
/// failed, or its job was cancelled or timed out).
#[derive(Debug)]
pub struct FreecadSlot {
    shared: Arc<Shared>,
}

impl Drop for FreecadSlot {
    fn drop(&mut self) {
        self.shared.running.fetch_sub(1, Ordering::SeqCst);
        self.shared.release();
    }
}

impl Shared {
    fn release(&self) {
        let mut state = self.state.lock().expect("slot state lock");
        if !state.hand_over() {
            state.free += 1;
        }
    }
}

/// A waiter's claim; if its job gives up after a slot was handed to it but before it took
/// it, dropping the claim passes the slot on.
struct Claim {
    receiver: oneshot::Receiver<()>,
    shared: Arc<Shared>,
}

impl Drop for Claim {
    fn drop(&mut self) {
        if self.receiver.try_recv().is_ok() {
            self.shared.release();
        }
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
        let state = State {
            free: size,
            ..State::default()
        };
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(state),
                running: AtomicUsize::new(0),
                most_running: AtomicUsize::new(0),
            }),
            size,
        }
    }

    pub fn size(&self) -> usize {
        self.size
    }

    /// A slot now, if one is free (recorded as no wait).
    pub fn try_acquire(&self) -> Option<FreecadSlot> {
        let mut state = self.shared.state.lock().expect("slot state lock");
        if state.free == 0 {
            return None;
        }
        state.free -= 1;
        drop(state);
        metrics::histogram!(FREECAD_SLOT_WAIT_SECONDS.name).record(0.0);
        Some(self.hand_out())
    }

    /// Waits for a slot, in `principal`'s turn, recording the wait in
    /// `freecad_slot_wait_seconds`.
    pub async fn acquire(&self, principal: &str) -> FreecadSlot {
        let started = Instant::now();
        let mut claim = {
            let mut state = self.shared.state.lock().expect("slot state lock");
            if state.free > 0 {
                state.free -= 1;
                None
            } else {
                let (sender, receiver) = oneshot::channel();
                let queue = state.waiters.entry(principal.to_owned()).or_default();
                let first_of_its_principal = queue.is_empty();
                queue.push_back(sender);
                if first_of_its_principal {
                    state.turns.push_back(principal.to_owned());
                }
                Some(Claim {
                    receiver,
                    shared: self.shared.clone(),
                })
            }
        };
        if let Some(claim) = claim.as_mut() {
            (&mut claim.receiver)
                .await
                .expect("a waiter is only dropped from the state when it is handed a slot");
        }
        metrics::histogram!(FREECAD_SLOT_WAIT_SECONDS.name).record(started.elapsed().as_secs_f64());
        self.hand_out()
    }

    fn hand_out(&self) -> FreecadSlot {
        let running = self.shared.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.shared
            .most_running
            .fetch_max(running, Ordering::SeqCst);
        FreecadSlot {
            shared: self.shared.clone(),
        }
    }

    /// The most executions this worker has had at once since it started (for tests and
    /// benchmarks: it must never exceed [`Self::size`]).
    pub fn most_running(&self) -> usize {
        self.shared.most_running.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn no_more_slots_than_the_size_and_a_dropped_slot_is_free_again() {
        let slots = FreecadSlots::new(2);
        let first = slots.acquire("a").await;
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

    /// Starts a waiter that records its name when it gets the slot, then frees it at once.
    fn waiter(
        slots: &FreecadSlots,
        principal: &'static str,
        name: &'static str,
        order: &Arc<Mutex<Vec<&'static str>>>,
    ) -> tokio::task::JoinHandle<()> {
        let (slots, order) = (slots.clone(), order.clone());
        tokio::spawn(async move {
            let _slot = slots.acquire(principal).await;
            order.lock().unwrap().push(name);
        })
    }

    #[tokio::test]
    async fn waiters_are_served_by_principal_in_turn_and_in_order_within_one() {
        let slots = FreecadSlots::new(1);
        let held = slots.acquire("alice").await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for name in ["alice-1", "alice-2", "alice-3"] {
            tasks.push(waiter(&slots, "alice", name, &order));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tasks.push(waiter(&slots, "bob", "bob-1", &order));
        tokio::time::sleep(Duration::from_millis(5)).await;
        drop(held);
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(
            *order.lock().unwrap(),
            ["alice-1", "bob-1", "alice-2", "alice-3"],
            "bob waits for one of alice's jobs, not for all three"
        );
        assert_eq!(slots.most_running(), 1);
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_passes_its_slot_on() {
        let slots = FreecadSlots::new(1);
        let held = slots.acquire("alice").await;
        let gave_up = tokio::time::timeout(Duration::from_millis(20), slots.acquire("bob")).await;
        assert!(gave_up.is_err(), "no slot while alice holds it");
        let next = {
            let slots = slots.clone();
            tokio::spawn(async move { slots.acquire("carol").await })
        };
        tokio::time::sleep(Duration::from_millis(5)).await;
        drop(held);
        let carol = tokio::time::timeout(Duration::from_secs(5), next)
            .await
            .expect("carol gets the slot bob gave up")
            .unwrap();
        drop(carol);
        assert!(slots.try_acquire().is_some(), "and it is free again after");
    }
}
