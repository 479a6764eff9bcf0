//! The workers' upkeep of apalis-redis's queue (promoting due tasks, forgetting finished
//! ones, expiring dead workers' metadata) and the gateway's sampling of it.

use std::time::Duration;

use shared::queue::{self, QueueSnapshot, SampleLock};

use crate::redis_server::{TestRedis, query};
use crate::tasks::store;

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[tokio::test]
async fn promotion_moves_due_tasks_only_in_due_order_whatever_the_chunk() {
    let redis = TestRedis::start();
    let keys = store().keys().clone();
    let mut sync = redis.connection();
    let scheduled = keys.queue_scheduled();
    for (task, at) in [("c", now() - 10), ("a", now() - 30), ("b", now() - 20)] {
        query::<()>(&mut sync, &["ZADD", &scheduled, &at.to_string(), task]);
    }
    query::<()>(
        &mut sync,
        &["ZADD", &scheduled, &(now() + 3600).to_string(), "later"],
    );

    let moved = queue::promote_due(&mut redis.async_connection().await, &keys, 2)
        .await
        .unwrap();
    assert_eq!(moved, 3);
    let active: Vec<String> = query(&mut sync, &["LRANGE", &keys.queue_active(), "0", "-1"]);
    assert_eq!(active, ["a", "b", "c"]);
    let left: Vec<String> = query(&mut sync, &["ZRANGE", &scheduled, "0", "-1"]);
    assert_eq!(left, ["later"]);
    let signal: Vec<String> = query(&mut sync, &["LRANGE", &keys.queue_signal(), "0", "-1"]);
    assert_eq!(signal, ["1"]);
}

#[tokio::test]
async fn promotion_with_nothing_due_touches_nothing() {
    let redis = TestRedis::start();
    let keys = store().keys().clone();
    let mut sync = redis.connection();
    query::<()>(
        &mut sync,
        &[
            "ZADD",
            &keys.queue_scheduled(),
            &(now() + 60).to_string(),
            "later",
        ],
    );
    let moved = queue::promote_due(&mut redis.async_connection().await, &keys, 500)
        .await
        .unwrap();
    assert_eq!(moved, 0);
    let exists: u64 = query(
        &mut sync,
        &["EXISTS", &keys.queue_active(), &keys.queue_signal()],
    );
    assert_eq!(exists, 0, "no wake-up without work");
}

#[tokio::test]
async fn forgetting_deletes_finished_tasks_only_and_keeps_the_total() {
    let redis = TestRedis::start();
    let keys = store().keys().clone();
    let mut sync = redis.connection();
    for task in ["a", "b", "c", "running"] {
        query::<()>(&mut sync, &["HSET", &keys.queue_data(), task, "{}"]);
        query::<()>(
            &mut sync,
            &["HSET", &keys.queue_task_meta(task), "attempts", "1"],
        );
    }
    query::<()>(&mut sync, &["SADD", &keys.queue_done(), "a", "b", "c"]);
    query::<()>(&mut sync, &["SET", &keys.queue_done_forgotten(), "5"]);
    let mut conn = redis.async_connection().await;

    let forgotten = queue::forget_done_tasks(&mut conn, &keys, 2).await.unwrap();
    assert_eq!(forgotten, 3);
    let data: Vec<String> = query(&mut sync, &["HKEYS", &keys.queue_data()]);
    assert_eq!(data, ["running"]);
    let metas: Vec<String> = query(
        &mut sync,
        &["KEYS", &format!("{}:*", keys.queue_meta_prefix())],
    );
    assert_eq!(metas, [keys.queue_task_meta("running")]);
    let done: u64 = query(&mut sync, &["SCARD", &keys.queue_done()]);
    assert_eq!(done, 0);
    assert_eq!(queue::finished_tasks(&mut conn, &keys).await.unwrap(), 8);

    assert_eq!(
        queue::forget_done_tasks(&mut conn, &keys, 2).await.unwrap(),
        0
    );
    assert_eq!(
        queue::finished_tasks(&mut conn, &keys).await.unwrap(),
        8,
        "counted once"
    );
}

#[tokio::test]
async fn registered_workers_metadata_gets_an_expiry_and_others_are_left_alone() {
    let redis = TestRedis::start();
    let keys = store().keys().clone();
    let mut sync = redis.connection();
    for worker in ["alive", "restarted", "unregistered"] {
        query::<()>(
            &mut sync,
            &["HSET", &keys.queue_worker_metadata(worker), "k", "v"],
        );
    }
    for worker in ["alive", "restarted"] {
        query::<()>(
            &mut sync,
            &["ZADD", &keys.queue_workers(), &now().to_string(), worker],
        );
    }
    query::<()>(
        &mut sync,
        &["ZADD", &keys.apalis_queues_list(), "1", "designs"],
    );

    let renewed = queue::expire_worker_metadata(
        &mut redis.async_connection().await,
        &keys,
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    assert_eq!(renewed, 2);
    for key in [
        keys.queue_worker_metadata("alive"),
        keys.queue_worker_metadata("restarted"),
        keys.apalis_queues_list(),
    ] {
        let ttl: i64 = query(&mut sync, &["TTL", &key]);
        assert!((1..=60).contains(&ttl), "{key}: {ttl}");
    }
    let ttl: i64 = query(
        &mut sync,
        &["TTL", &keys.queue_worker_metadata("unregistered")],
    );
    assert_eq!(ttl, -1);
}

#[tokio::test]
async fn the_sampler_counts_every_state_for_the_lock_holder_only() {
    let redis = TestRedis::start();
    let keys = store().keys().clone();
    let mut sync = redis.connection();
    query::<()>(&mut sync, &["RPUSH", &keys.queue_active(), "p1", "p2"]);
    query::<()>(&mut sync, &["ZADD", &keys.queue_scheduled(), "1", "s1"]);
    query::<()>(
        &mut sync,
        &["ZADD", &keys.queue_workers(), &now().to_string(), "alive"],
    );
    query::<()>(
        &mut sync,
        &[
            "ZADD",
            &keys.queue_workers(),
            &(now() - 1000).to_string(),
            "silent",
        ],
    );
    // The in-flight sets are the one layout key the script builds itself (from the workers
    // set it reads): both workers' tasks count as running.
    query::<()>(
        &mut sync,
        &["SADD", &keys.queue_inflight("alive"), "r1", "r2"],
    );
    query::<()>(&mut sync, &["SADD", &keys.queue_inflight("silent"), "r3"]);
    query::<()>(&mut sync, &["SADD", &keys.queue_done(), "d1", "d2", "d3"]);
    query::<()>(&mut sync, &["SET", &keys.queue_done_forgotten(), "4"]);
    query::<()>(&mut sync, &["SADD", &keys.queue_dead(), "x1"]);
    query::<()>(&mut sync, &["ZADD", &keys.dead_jobs(), "1", "job-1"]);
    let mut conn = redis.async_connection().await;
    let lock = |owner| SampleLock {
        owner,
        ttl: Duration::from_secs(30),
        alive_since: (now() - 60) as u64,
    };

    let expected = QueueSnapshot {
        depth: [2, 3, 1, 7, 0, 2],
        workers_alive: 1,
    };
    let first = queue::sample(&mut conn, &keys, &lock("gateway-a"))
        .await
        .unwrap();
    assert_eq!(first, Some(expected));
    let holder: String = query(&mut sync, &["GET", &keys.queue_sampler_lock()]);
    assert_eq!(holder, "gateway-a");
    let pttl: i64 = query(&mut sync, &["PTTL", &keys.queue_sampler_lock()]);
    assert!((1..=30_000).contains(&pttl), "{pttl}");

    let other = queue::sample(&mut conn, &keys, &lock("gateway-b"))
        .await
        .unwrap();
    assert_eq!(
        other, None,
        "another gateway neither samples nor takes the lock"
    );
    query::<()>(
        &mut sync,
        &["PEXPIRE", &keys.queue_sampler_lock(), "100000"],
    );
    let renewed = queue::sample(&mut conn, &keys, &lock("gateway-a"))
        .await
        .unwrap();
    assert_eq!(renewed, Some(expected));
    let pttl: i64 = query(&mut sync, &["PTTL", &keys.queue_sampler_lock()]);
    assert!(
        pttl <= 30_000,
        "the holder renewed the lock to its own TTL: {pttl}"
    );
}
