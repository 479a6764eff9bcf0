//! `LLM_MAX_IN_FLIGHT`: model requests one worker process has open at once, per provider. A
//! worker keeps many jobs in flight (`WORKER_CONCURRENCY`); without this bound a slow or
//! rate-limiting vendor would collect one open request per job. Other providers keep their
//! own permits, so one slow vendor cannot starve jobs that use another.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::Provider;

/// The permits of each provider, made on first use.
#[derive(Debug)]
pub struct InFlightLimit {
    per_provider: usize,
    semaphores: Mutex<HashMap<Provider, Arc<Semaphore>>>,
    open: AtomicUsize,
    most_open: AtomicUsize,
}

/// One open request's permit; released when dropped, however the request ended.
pub struct InFlightPermit<'a> {
    _permit: OwnedSemaphorePermit,
    limit: &'a InFlightLimit,
}

impl Drop for InFlightPermit<'_> {
    fn drop(&mut self) {
        self.limit.open.fetch_sub(1, Ordering::SeqCst);
    }
}

impl InFlightLimit {
    pub fn new(per_provider: usize) -> Self {
        Self {
            per_provider: per_provider.max(1),
            semaphores: Mutex::default(),
            open: AtomicUsize::new(0),
            most_open: AtomicUsize::new(0),
        }
    }

    /// Waits until `provider` has a free permit.
    pub async fn acquire(&self, provider: Provider) -> InFlightPermit<'_> {
        let semaphore = self
            .semaphores
            .lock()
            .expect("in-flight limit lock")
            .entry(provider)
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_provider)))
            .clone();
        let permit = semaphore
            .acquire_owned()
            .await
            .expect("in-flight semaphores are never closed");
        let open = self.open.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_open.fetch_max(open, Ordering::SeqCst);
        InFlightPermit {
            _permit: permit,
            limit: self,
        }
    }

    /// The most requests this process has had open at once, all providers together.
    pub fn most_open(&self) -> usize {
        self.most_open.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_provider_has_its_own_permits() {
        let limit = InFlightLimit::new(1);
        let _openai = limit.acquire(Provider::OpenAi).await;
        // Another provider is not held up by a busy one.
        let _anthropic = limit.acquire(Provider::Anthropic).await;
        let second_openai = limit.acquire(Provider::OpenAi);
        assert!(
            futures::FutureExt::now_or_never(second_openai).is_none(),
            "a second OpenAI request waits"
        );
        assert_eq!(limit.most_open(), 2);
    }
}
