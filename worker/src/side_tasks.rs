//! Work a job starts but does not wait for (webhook deliveries, retiring a FreeCAD process),
//! tracked so that shutdown waits for it within the grace instead of dropping it.

use std::future::Future;
use std::time::Duration;

use tokio_util::task::TaskTracker;

/// A set of background tasks that shutdown drains.
#[derive(Clone, Default)]
pub struct SideTasks(TaskTracker);

impl SideTasks {
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.0.spawn(task);
    }

    /// At shutdown: waits up to `within` for the tasks under way; returns how many were still
    /// unfinished (they are dropped with the process). Tasks spawned later are still tracked.
    pub async fn drain(&self, within: Duration) -> usize {
        self.0.close();
        if tokio::time::timeout(within, self.0.wait()).await.is_err() {
            return self.0.len();
        }
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn drain_waits_for_quick_tasks_and_counts_the_slow_ones() {
        let tasks = SideTasks::default();
        let (done_sender, done) = tokio::sync::oneshot::channel();
        tasks.spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let _ = done_sender.send(());
        });
        assert_eq!(tasks.drain(Duration::from_secs(5)).await, 0);
        assert!(done.await.is_ok(), "the quick task ran to its end");

        let slow = SideTasks::default();
        slow.spawn(tokio::time::sleep(Duration::from_secs(60)));
        assert_eq!(slow.drain(Duration::from_millis(20)).await, 1);
    }
}
