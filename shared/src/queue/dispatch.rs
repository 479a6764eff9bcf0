//! Fair dispatch: new tasks wait in per-principal, per-priority pending lists and reach
//! apalis-redis's active list only while it is shorter than [`DispatchPolicy::depth`], the
//! principals taken in turn (by weight) and, within one, `high` before `normal` before `low`.
//! A tenant with a 20,000-job backlog then delays another tenant's job by about `depth` jobs
//! plus the jobs already running, not by its whole backlog. Everything after the active list
//! (fetching, in-flight sets, orphan recovery, retries) is apalis-redis's, untouched.
//!
//! Dispatch runs inside every script that queues a task (an idle queue adds no latency), after
//! each job a worker finishes, and in the workers' upkeep. Pausing sets a flag that dispatch
//! honours and moves the active list back to the front of the pending lists, atomically, so
//! nothing is fetchable; resuming clears it and dispatches. The scripts are in `fair.lua`.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use redis::aio::ConnectionLike;
use redis::{RedisError, Script};
use serde::Serialize;

use crate::job::Priority;
use crate::keys::Keys;

/// Tasks the active list holds at most by default: enough that the workers never wait for a
/// dispatch, few enough that another tenant's job waits behind few (see BENCHMARKS.md).
pub const DEFAULT_DISPATCH_DEPTH: usize = 16;

/// How the pending lists are drained into the active list (`QUEUE_DISPATCH_DEPTH`,
/// `PRINCIPAL_WEIGHTS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchPolicy {
    /// Fill the active list up to this many tasks.
    pub depth: usize,
    /// Tasks per turn of a principal (1 when unlisted).
    pub weights: BTreeMap<String, u32>,
}

impl Default for DispatchPolicy {
    fn default() -> Self {
        Self {
            depth: DEFAULT_DISPATCH_DEPTH,
            weights: BTreeMap::new(),
        }
    }
}

impl DispatchPolicy {
    /// Parses `PRINCIPAL_WEIGHTS`: `alice:2,bob:1`, weights from 1 up.
    pub fn parse_weights(text: &str) -> Result<BTreeMap<String, u32>, String> {
        let mut weights = BTreeMap::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (principal, weight) = entry
                .rsplit_once(':')
                .ok_or_else(|| format!("`{entry}` is not principal:weight"))?;
            let weight: u32 = weight
                .trim()
                .parse()
                .ok()
                .filter(|w| *w >= 1)
                .ok_or_else(|| format!("`{entry}`: the weight must be a whole number from 1"))?;
            weights.insert(principal.trim().to_owned(), weight);
        }
        Ok(weights)
    }
}

impl Priority {
    /// In dispatch order.
    pub const ALL: [Priority; 3] = [Priority::High, Priority::Normal, Priority::Low];

    pub fn as_str(&self) -> &'static str {
        match self {
            Priority::High => "high",
            Priority::Normal => "normal",
            Priority::Low => "low",
        }
    }
}

/// The one JSON argument the fair fragment reads (`route` in `fair.lua`).
#[derive(Debug, Serialize)]
pub(crate) struct Route<'a> {
    ring: String,
    ready: String,
    turns: String,
    paused: String,
    pending: String,
    meta: String,
    active: String,
    signal: String,
    channel: String,
    depth: usize,
    weights: &'a BTreeMap<String, u32>,
    /// The owner and priority of a task being queued (unused by dispatch alone).
    principal: &'a str,
    priority: &'static str,
}

impl<'a> Route<'a> {
    pub(crate) fn new(
        keys: &Keys,
        policy: &'a DispatchPolicy,
        principal: &'a str,
        priority: Priority,
    ) -> Self {
        Self {
            ring: keys.queue_fair_ring(),
            ready: keys.queue_fair_ready(),
            turns: keys.queue_fair_turns(),
            paused: keys.queue_paused(),
            pending: keys.queue_fair_pending_prefix(),
            meta: keys.queue_meta_prefix(),
            active: keys.queue_active(),
            signal: keys.queue_signal(),
            channel: keys.queue_available_channel(),
            depth: policy.depth.max(1),
            weights: &policy.weights,
            principal,
            priority: priority.as_str(),
        }
    }

    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a route is plain strings and numbers")
    }
}

/// A script made of the fair fragment and `body`, which reads the route from `ARGV[1]`.
fn fair_script(body: &str) -> Script {
    Script::new(&[include_str!("fair.lua"), body].concat())
}

static DISPATCH_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    fair_script(
        "local route = cjson.decode(ARGV[1])\n\
         if redis.call('EXISTS', route.paused) == 1 then park(route) return 0 end\n\
         return dispatch(route)",
    )
});

static PAUSE_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    fair_script(
        "local route = cjson.decode(ARGV[1])\n\
         redis.call('SET', route.paused, '1')\n\
         return park(route)",
    )
});

static RESUME_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    fair_script(
        "local route = cjson.decode(ARGV[1])\n\
         redis.call('DEL', route.paused)\n\
         return dispatch(route)",
    )
});

async fn run<C: ConnectionLike>(
    script: &Script,
    conn: &mut C,
    keys: &Keys,
    policy: &DispatchPolicy,
) -> Result<usize, RedisError> {
    let route = Route::new(keys, policy, "", Priority::Normal).to_json();
    script.arg(route).invoke_async(conn).await
}

/// Fills the active list up to the depth from the pending lists, fairly; returns how many
/// tasks moved. While the queue is paused it moves none and parks any task that reached the
/// active list meanwhile (a retry apalis-redis promoted, an orphan it recovered).
pub async fn dispatch<C: ConnectionLike>(
    conn: &mut C,
    keys: &Keys,
    policy: &DispatchPolicy,
) -> Result<usize, RedisError> {
    run(&DISPATCH_SCRIPT, conn, keys, policy).await
}

/// Pauses the queue: no task is dispatched, and those waiting in the active list go back to
/// the front of their pending lists, so workers fetch nothing new. Jobs already running go on.
/// Returns how many tasks were parked.
pub async fn pause<C: ConnectionLike>(
    conn: &mut C,
    keys: &Keys,
    policy: &DispatchPolicy,
) -> Result<usize, RedisError> {
    run(&PAUSE_SCRIPT, conn, keys, policy).await
}

/// Resumes a paused queue and dispatches at once; returns how many tasks moved.
pub async fn resume<C: ConnectionLike>(
    conn: &mut C,
    keys: &Keys,
    policy: &DispatchPolicy,
) -> Result<usize, RedisError> {
    run(&RESUME_SCRIPT, conn, keys, policy).await
}

/// Whether an admin has paused the queue.
pub async fn is_paused<C: ConnectionLike>(conn: &mut C, keys: &Keys) -> Result<bool, RedisError> {
    redis::cmd("EXISTS")
        .arg(keys.queue_paused())
        .query_async(conn)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_parse_and_refuse_nonsense() {
        let weights = DispatchPolicy::parse_weights(" alice:2, bob:1,,svc:team:3").unwrap();
        assert_eq!(weights["alice"], 2);
        assert_eq!(weights["bob"], 1);
        assert_eq!(weights["svc:team"], 3);
        assert!(DispatchPolicy::parse_weights("alice").is_err());
        assert!(DispatchPolicy::parse_weights("alice:0").is_err());
        assert!(DispatchPolicy::parse_weights("alice:x").is_err());
        assert!(DispatchPolicy::parse_weights("").unwrap().is_empty());
    }

    #[test]
    fn settings_read_the_depth_and_weights_and_refuse_bad_weights() {
        use std::collections::HashMap;
        use std::path::Path;

        let load = |pairs: &[(&str, &str)]| {
            let env: HashMap<String, String> = pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            crate::settings::Settings::load_from(Path::new("/nonexistent-config-dir"), env)
        };
        let defaults = load(&[]).unwrap();
        assert_eq!(defaults.queue.dispatch, DispatchPolicy::default());
        let set = load(&[
            ("QUEUE_DISPATCH_DEPTH", "4"),
            ("PRINCIPAL_WEIGHTS", "alice:2,bob:1"),
        ])
        .unwrap();
        assert_eq!(set.queue.dispatch.depth, 4);
        assert_eq!(set.queue.dispatch.weights["alice"], 2);
        let error = load(&[("PRINCIPAL_WEIGHTS", "alice:two")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("PRINCIPAL_WEIGHTS"), "{error}");
        assert!(load(&[("QUEUE_DISPATCH_DEPTH", "0")]).is_err());
    }

    #[test]
    fn pending_lists_of_principals_with_colons_stay_apart() {
        let keys = Keys::new("p:");
        assert_ne!(
            keys.queue_fair_pending(Priority::High, "a:low"),
            keys.queue_fair_pending(Priority::Low, "a")
        );
        assert_eq!(
            keys.queue_fair_pending(Priority::Low, "a"),
            "p:queue:fair:pending:low:a"
        );
    }
}
