//! Fair dispatch (`queue/fair.lua`): principals in turn, by weight; priorities within a
//! principal; pausing parks what is fetchable and resuming brings it back, nothing lost.

use std::collections::BTreeMap;
use std::time::Duration;

use shared::job::{JobRecord, Priority};
use shared::job_store::JobStore;
use shared::keys::Keys;
use shared::queue::{self, DispatchPolicy, SampleLock};

use crate::redis_server::{TestRedis, query};
use crate::tasks::job;

fn store(depth: usize, weights: &[(&str, u32)]) -> JobStore {
    let weights: BTreeMap<String, u32> = weights
        .iter()
        .map(|(name, weight)| ((*name).to_owned(), *weight))
        .collect();
    JobStore::new(Keys::new("t:"), Duration::from_secs(3600))
        .with_dispatch(DispatchPolicy { depth, weights })
}

/// Submits a job for `principal`; returns its task id.
async fn submit(
    redis: &TestRedis,
    store: &JobStore,
    principal: &str,
    priority: Priority,
) -> String {
    let job = shared::job::DesignJob { priority, ..job() };
    let record = JobRecord::new_pending(&job, principal, None);
    store
        .enqueue(
            &mut redis.async_connection().await,
            &record,
            &job,
            3,
            0,
            None,
        )
        .await
        .unwrap();
    record.task_id
}

fn active(redis: &TestRedis, keys: &Keys) -> Vec<String> {
    query(
        &mut redis.connection(),
        &["LRANGE", &keys.queue_active(), "0", "-1"],
    )
}

fn owner(redis: &TestRedis, keys: &Keys, task_id: &str) -> String {
    query(
        &mut redis.connection(),
        &["HGET", &keys.queue_task_meta(task_id), "fair_principal"],
    )
}

/// Plays a worker of concurrency 1: takes the head of the active list, then dispatches as a
/// worker does after each job; returns the owners in the order the tasks were taken.
async fn drain_one_by_one(redis: &TestRedis, store: &JobStore) -> Vec<String> {
    let keys = store.keys();
    let mut conn = redis.async_connection().await;
    let mut taken = Vec::new();
    loop {
        let head: Option<String> = query(&mut redis.connection(), &["LPOP", &keys.queue_active()]);
        let Some(task_id) = head else { break };
        taken.push(owner(redis, keys, &task_id));
        queue::dispatch(&mut conn, keys, store.dispatch_policy())
            .await
            .unwrap();
    }
    taken
}

#[tokio::test]
async fn a_late_principal_is_served_in_turn_not_after_the_backlog() {
    let redis = TestRedis::start();
    let store = store(1, &[]);
    for _ in 0..5 {
        submit(&redis, &store, "alice", Priority::Normal).await;
    }
    for _ in 0..2 {
        submit(&redis, &store, "bob", Priority::Normal).await;
    }
    assert_eq!(
        active(&redis, store.keys()).len(),
        1,
        "the active list is kept at the dispatch depth"
    );
    let order = drain_one_by_one(&redis, &store).await;
    assert_eq!(
        order,
        ["alice", "alice", "bob", "alice", "bob", "alice", "alice"]
    );
}

#[tokio::test]
async fn weights_give_a_principal_that_many_tasks_per_turn() {
    let redis = TestRedis::start();
    let store = store(100, &[("alice", 2)]);
    let mut conn = redis.async_connection().await;
    queue::pause(&mut conn, store.keys(), store.dispatch_policy())
        .await
        .unwrap();
    for _ in 0..6 {
        submit(&redis, &store, "alice", Priority::Normal).await;
    }
    for _ in 0..3 {
        submit(&redis, &store, "bob", Priority::Normal).await;
    }
    assert!(
        active(&redis, store.keys()).is_empty(),
        "paused: nothing dispatched"
    );
    let moved = queue::resume(&mut conn, store.keys(), store.dispatch_policy())
        .await
        .unwrap();
    assert_eq!(moved, 9);
    let owners: Vec<String> = active(&redis, store.keys())
        .iter()
        .map(|id| owner(&redis, store.keys(), id))
        .collect();
    assert_eq!(
        owners,
        [
            "alice", "alice", "bob", "alice", "alice", "bob", "alice", "alice", "bob"
        ]
    );
}

#[tokio::test]
async fn priorities_order_a_principals_own_tasks_first_come_first_served_within_one() {
    let redis = TestRedis::start();
    let store = store(100, &[]);
    let mut conn = redis.async_connection().await;
    queue::pause(&mut conn, store.keys(), store.dispatch_policy())
        .await
        .unwrap();
    let low = submit(&redis, &store, "alice", Priority::Low).await;
    let normal = submit(&redis, &store, "alice", Priority::Normal).await;
    let high_1 = submit(&redis, &store, "alice", Priority::High).await;
    let high_2 = submit(&redis, &store, "alice", Priority::High).await;
    queue::resume(&mut conn, store.keys(), store.dispatch_policy())
        .await
        .unwrap();
    assert_eq!(active(&redis, store.keys()), [high_1, high_2, normal, low]);
}

#[tokio::test]
async fn pausing_parks_fetchable_tasks_and_retries_and_resuming_loses_nothing() {
    let redis = TestRedis::start();
    let store = store(3, &[]);
    let keys = store.keys().clone();
    let mut conn = redis.async_connection().await;
    let mut submitted = Vec::new();
    for principal in ["alice", "bob", "alice", "bob", "alice"] {
        submitted.push(submit(&redis, &store, principal, Priority::Normal).await);
    }
    let before = active(&redis, &keys);
    assert_eq!(before.len(), 3);

    let parked = queue::pause(&mut conn, &keys, store.dispatch_policy())
        .await
        .unwrap();
    assert_eq!(parked, 3);
    assert!(active(&redis, &keys).is_empty());
    assert!(queue::is_paused(&mut conn, &keys).await.unwrap());
    // A retry that falls due while paused is parked too, and dispatch moves nothing.
    let retry = "retry-task";
    query::<()>(
        &mut redis.connection(),
        &[
            "HSET",
            &keys.queue_task_meta(retry),
            "fair_principal",
            "bob",
        ],
    );
    query::<()>(
        &mut redis.connection(),
        &["ZADD", &keys.queue_scheduled(), "1", retry],
    );
    assert_eq!(queue::promote_due(&mut conn, &keys, 10).await.unwrap(), 1);
    assert_eq!(
        queue::dispatch(&mut conn, &keys, store.dispatch_policy())
            .await
            .unwrap(),
        0
    );
    submitted.push(submit(&redis, &store, "carol", Priority::Normal).await);
    assert!(
        active(&redis, &keys).is_empty(),
        "paused: nothing fetchable"
    );
    let lock = SampleLock {
        owner: "me",
        ttl: Duration::from_secs(10),
        alive_since: 0,
    };
    let snapshot = queue::sample(&mut conn, &keys, &lock)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(snapshot.depth[0], 7, "pending counts the fair lists");

    queue::resume(&mut conn, &keys, store.dispatch_policy())
        .await
        .unwrap();
    assert!(!queue::is_paused(&mut conn, &keys).await.unwrap());
    let after = active(&redis, &keys);
    assert_eq!(after.len(), 3);
    // The ring decides whose turn comes first; within a principal, parked tasks are back
    // at the front in their order.
    let first_of_alice = after
        .iter()
        .find(|id| owner(&redis, &keys, id) == "alice")
        .unwrap();
    assert_eq!(first_of_alice, &before[0], "parked tasks keep their place");
    assert_eq!(
        after[0], retry,
        "bob's turn: the due retry went to the front of his list"
    );
    let mut seen = after.clone();
    loop {
        let head: Option<String> = query(&mut redis.connection(), &["LPOP", &keys.queue_active()]);
        if head.is_none() {
            break;
        }
        queue::dispatch(&mut conn, &keys, store.dispatch_policy())
            .await
            .unwrap();
        for id in active(&redis, &keys) {
            if !seen.contains(&id) {
                seen.push(id);
            }
        }
    }
    let mut expected = submitted.clone();
    expected.push(retry.to_owned());
    expected.sort();
    seen.sort();
    assert_eq!(seen, expected, "every task came back exactly once");
}

#[tokio::test]
async fn the_write_that_ends_a_job_dispatches_the_next() {
    let redis = TestRedis::start();
    let store = store(1, &[]);
    let keys = store.keys().clone();
    let mut conn = redis.async_connection().await;
    let first = job();
    let record = JobRecord::new_pending(&first, "alice", None);
    store
        .enqueue(&mut conn, &record, &first, 3, 0, None)
        .await
        .unwrap();
    let second = submit(&redis, &store, "alice", Priority::Normal).await;
    assert_eq!(active(&redis, &keys), [record.task_id.as_str()]);
    // A worker fetches the first task; the active list is empty until something dispatches.
    query::<Option<String>>(&mut redis.connection(), &["LPOP", &keys.queue_active()]);

    let running = shared::job::JobPatch::status(shared::job::DesignStatus::Planning, 0.1);
    store
        .update(&mut conn, &first.request_id, &running)
        .await
        .unwrap();
    assert!(
        active(&redis, &keys).is_empty(),
        "a stage change dispatches nothing"
    );
    let completed = shared::job::JobPatch::status(shared::job::DesignStatus::Completed, 1.0);
    store
        .update(&mut conn, &first.request_id, &completed)
        .await
        .unwrap();
    assert_eq!(
        active(&redis, &keys),
        [second],
        "ending the job dispatched the next"
    );
}
