//! The one polling loop of the tests.

use std::time::{Duration, Instant};

/// How often a condition is looked at again: short next to any job or Redis round trip,
/// long enough not to load two shared cores.
const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// Polls `check` until it answers `Some`, and returns that; fails the test, naming `what`,
/// once `limit` has passed. A plain condition answers `cond.then_some(())`; a check may
/// also fail the test itself when waiting longer is pointless (a job that ended otherwise).
pub async fn wait_until<T>(
    what: &str,
    limit: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {limit:?}"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
