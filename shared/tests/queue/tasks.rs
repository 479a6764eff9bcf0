//! The scripts that create a task in apalis-redis's layout: enqueue, requeue, conversion
//! request (all through the task-push fragment) and reschedule.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use shared::job::{
    Conversion, ConversionState, DesignJob, DesignStatus, JobPatch, JobRecord, OutputFormat,
};
use shared::job_id::JobId;
use shared::job_store::{
    ConversionRequest, Enqueued, Idempotency, JobStore, Requeue, StoreError, WriteOutcome,
};
use shared::keys::Keys;

use crate::redis_server::{TestRedis, query};

pub const PRINCIPAL: &str = "key:alice";

pub fn store() -> JobStore {
    JobStore::new(Keys::new("t:"), Duration::from_secs(3600))
}

pub fn job() -> DesignJob {
    DesignJob {
        request_id: shared::job_id::JobId::new(),
        prompt: "a 10 mm cube".to_owned(),
        max_iterations: 3,
        enable_execution: true,
        output_formats: vec![OutputFormat::Step],
        model: None,
        feedback: None,
        convert: None,
        earlier_feedback: Vec::new(),
        cache: false,
        priority: Default::default(),
    }
}

/// Submits a new job with no cap and no idempotency key; returns it and its record.
pub async fn submitted(redis: &TestRedis) -> (DesignJob, JobRecord) {
    let job = job();
    let record = JobRecord::new_pending(&job, PRINCIPAL, None);
    let created = store()
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
    assert_eq!(created, Enqueued::Created);
    (job, record)
}

/// Sets a record's status directly, as whatever wrote it last would have.
pub fn set_status(redis: &TestRedis, request_id: &JobId, status: DesignStatus) {
    let json = serde_json::json!(status).to_string();
    let key = store().keys().job(request_id);
    query::<()>(&mut redis.connection(), &["HSET", &key, "status", &json]);
}

fn list(redis: &TestRedis, key: &str) -> Vec<String> {
    query(&mut redis.connection(), &["LRANGE", key, "0", "-1"])
}

fn hash(redis: &TestRedis, key: &str) -> HashMap<String, String> {
    query(&mut redis.connection(), &["HGETALL", key])
}

/// The metadata apalis-redis's `batch_push.lua` gives a new task with no extra metadata.
fn fresh_meta(max_attempts: &str) -> HashMap<String, String> {
    HashMap::from([
        ("attempts".to_owned(), "0".to_owned()),
        ("max_attempts".to_owned(), max_attempts.to_owned()),
        ("status".to_owned(), "Pending".to_owned()),
        ("idempotency_key".to_owned(), String::new()),
        // Extra metadata (apalis-redis keeps such fields): where pausing parks the task.
        ("fair_principal".to_owned(), PRINCIPAL.to_owned()),
        ("fair_priority".to_owned(), "normal".to_owned()),
    ])
}

#[tokio::test]
async fn enqueue_stores_the_record_and_pushes_the_task_as_apalis_redis_would() {
    let redis = TestRedis::start();
    let keys = store().keys().clone();
    let mut pubsub = redis.client().get_async_pubsub().await.unwrap();
    pubsub
        .subscribe(keys.queue_available_channel())
        .await
        .unwrap();

    let (job, record) = submitted(&redis).await;
    let id = record.request_id;

    let stored = hash(&redis, &keys.job(&id));
    assert_eq!(stored["status"], "\"pending\"");
    assert_eq!(
        stored["task_id"],
        serde_json::json!(record.task_id).to_string()
    );
    let ttl: i64 = query(&mut redis.connection(), &["TTL", &keys.job(&id)]);
    assert!((1..=3600).contains(&ttl), "record TTL {ttl}");
    let payload: String = query(
        &mut redis.connection(),
        &["HGET", &keys.queue_data(), &record.task_id],
    );
    assert_eq!(serde_json::from_str::<DesignJob>(&payload).unwrap(), job);
    assert_eq!(
        hash(&redis, &keys.queue_task_meta(&record.task_id)),
        fresh_meta("3")
    );
    assert_eq!(
        list(&redis, &keys.queue_active()),
        [record.task_id.as_str()]
    );
    assert_eq!(list(&redis, &keys.queue_signal()), ["1"]);
    let scheduled: u64 = query(&mut redis.connection(), &["ZCARD", &keys.queue_scheduled()]);
    assert_eq!(
        scheduled, 0,
        "a task with no delay never goes to the scheduled set"
    );
    let active: Vec<String> = query(
        &mut redis.connection(),
        &["ZRANGE", &keys.active_jobs(PRINCIPAL), "0", "-1"],
    );
    assert_eq!(active, [id.to_string()]);
    let designs: Vec<String> = query(
        &mut redis.connection(),
        &["ZRANGE", &keys.designs_index(PRINCIPAL), "0", "-1"],
    );
    assert_eq!(designs, [id.to_string()]);
    let woken = tokio::time::timeout(Duration::from_secs(5), pubsub.on_message().next())
        .await
        .expect("a wake-up message")
        .expect("the subscription is open");
    assert_eq!(woken.get_payload::<String>().unwrap(), record.task_id);
}

#[tokio::test]
async fn a_second_enqueue_of_the_same_record_queues_nothing() {
    let redis = TestRedis::start();
    let keys = store().keys().clone();
    let (job, record) = submitted(&redis).await;
    let again = store()
        .enqueue(
            &mut redis.async_connection().await,
            &record,
            &job,
            3,
            0,
            None,
        )
        .await;
    assert!(matches!(again, Err(StoreError::Duplicate(_))), "{again:?}");
    assert_eq!(list(&redis, &keys.queue_active()), [record.task_id]);
    let tasks: u64 = query(&mut redis.connection(), &["HLEN", &keys.queue_data()]);
    assert_eq!(tasks, 1);
}

#[tokio::test]
async fn an_idempotency_key_replays_the_same_request_and_refuses_another() {
    let redis = TestRedis::start();
    let keys = store().keys().clone();
    let mut conn = redis.async_connection().await;
    let idempotency = |fingerprint: &str| Idempotency {
        principal: PRINCIPAL,
        key: "client-key-1",
        fingerprint: fingerprint.to_owned(),
        response: serde_json::json!({"answer": fingerprint}),
    };
    let submit = |fingerprint: &'static str| {
        let job = job();
        let record = JobRecord::new_pending(&job, PRINCIPAL, None);
        let idem = idempotency(fingerprint);
        let mut conn = conn.clone();
        async move {
            store()
                .enqueue(&mut conn, &record, &job, 3, 0, Some(&idem))
                .await
        }
    };
    assert_eq!(submit("body-a").await.unwrap(), Enqueued::Created);
    assert_eq!(
        submit("body-a").await.unwrap(),
        Enqueued::Replayed(serde_json::json!({"answer": "body-a"}))
    );
    assert!(matches!(
        submit("body-b").await,
        Err(StoreError::IdempotencyKeyReused)
    ));
    assert_eq!(
        list(&redis, &keys.queue_active()).len(),
        1,
        "one task for one request"
    );
    let records: Vec<String> = query(&mut redis.connection(), &["KEYS", "t:job:*"]);
    assert_eq!(records.len(), 1);
    let ttl: i64 = redis::cmd("TTL")
        .arg(keys.idempotency(PRINCIPAL, "client-key-1"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(ttl > 3600, "the entry outlives the record: {ttl}");
}

#[tokio::test]
async fn a_principal_at_the_cap_gets_nothing_queued() {
    let redis = TestRedis::start();
    let keys = store().keys().clone();
    let mut conn = redis.async_connection().await;
    let first = job();
    let record = JobRecord::new_pending(&first, PRINCIPAL, None);
    let created = store()
        .enqueue(&mut conn, &record, &first, 3, 1, None)
        .await;
    assert_eq!(created.unwrap(), Enqueued::Created);
    let second = job();
    let refused_record = JobRecord::new_pending(&second, PRINCIPAL, None);
    let refused = store()
        .enqueue(&mut conn, &refused_record, &second, 3, 1, None)
        .await;
    assert!(
        matches!(refused, Err(StoreError::TooManyActiveJobs { cap: 1, .. })),
        "{refused:?}"
    );
    assert_eq!(list(&redis, &keys.queue_active()), [record.task_id]);
    let exists: u64 = query(
        &mut redis.connection(),
        &["EXISTS", &keys.job(&second.request_id)],
    );
    assert_eq!(exists, 0);
}

#[tokio::test]
async fn requeue_runs_a_completed_job_again_under_a_new_task() {
    let redis = TestRedis::start();
    let keys = store().keys().clone();
    let mut conn = redis.async_connection().await;
    let (job, record) = submitted(&redis).await;
    let id = record.request_id;
    let ended = store()
        .update(
            &mut conn,
            &id,
            &JobPatch::status(DesignStatus::Completed, 1.0),
        )
        .await
        .unwrap();
    assert_eq!(ended, WriteOutcome::Applied);
    query::<()>(
        &mut redis.connection(),
        &["DEL", &keys.queue_active(), &keys.queue_signal()],
    );

    let refine = DesignJob {
        feedback: Some("make it 20 mm".to_owned()),
        ..job
    };
    let outcome = store()
        .requeue_completed(&mut conn, PRINCIPAL, &refine, 4)
        .await
        .unwrap();
    assert_eq!(outcome, Requeue::Queued);
    let stored = hash(&redis, &keys.job(&id));
    assert_eq!(stored["status"], "\"refining\"");
    let task_id: String = serde_json::from_str(&stored["task_id"]).unwrap();
    assert_ne!(task_id, record.task_id);
    assert_eq!(list(&redis, &keys.queue_active()), [task_id.as_str()]);
    assert_eq!(list(&redis, &keys.queue_signal()), ["1"]);
    assert_eq!(
        hash(&redis, &keys.queue_task_meta(&task_id)),
        fresh_meta("4")
    );
    let payload: String = query(
        &mut redis.connection(),
        &["HGET", &keys.queue_data(), &task_id],
    );
    assert_eq!(serde_json::from_str::<DesignJob>(&payload).unwrap(), refine);
    let active: Vec<String> = query(
        &mut redis.connection(),
        &["ZRANGE", &keys.active_jobs(PRINCIPAL), "0", "-1"],
    );
    assert_eq!(
        active,
        [id.to_string()],
        "running again counts against the cap again"
    );
}

#[tokio::test]
async fn requeue_of_a_job_not_completed_or_of_an_orphan_queues_nothing() {
    let redis = TestRedis::start();
    let keys = store().keys().clone();
    let mut conn = redis.async_connection().await;
    let (job, record) = submitted(&redis).await;
    let pending = store()
        .requeue_completed(&mut conn, PRINCIPAL, &job, 3)
        .await
        .unwrap();
    assert_eq!(pending, Requeue::NotCompleted);
    let orphan = store()
        .requeue_completed(&mut conn, PRINCIPAL, &self::job(), 3)
        .await
        .unwrap();
    assert_eq!(orphan, Requeue::Missing);

    assert_eq!(list(&redis, &keys.queue_active()), [record.task_id]);
    let tasks: u64 = query(&mut redis.connection(), &["HLEN", &keys.queue_data()]);
    assert_eq!(tasks, 1);
    let metas: Vec<String> = query(
        &mut redis.connection(),
        &["KEYS", &format!("{}:*", keys.queue_meta_prefix())],
    );
    assert_eq!(metas.len(), 1);
    let records: Vec<String> = query(&mut redis.connection(), &["KEYS", "t:job:*"]);
    assert_eq!(records.len(), 1, "no stub record for the orphan");
}

#[tokio::test]
async fn a_conversion_is_queued_once_and_only_for_a_completed_design() {
    let redis = TestRedis::start();
    let keys = store().keys().clone();
    let mut conn = redis.async_connection().await;
    let (job, record) = submitted(&redis).await;
    let id = record.request_id;
    let convert = DesignJob {
        convert: Some(vec![OutputFormat::Stl]),
        ..job
    };
    let conversion = Conversion {
        formats: vec![OutputFormat::Stl],
        state: ConversionState::Queued,
        error: None,
        requested_at: chrono::Utc::now(),
    };
    let request = |conn: redis::aio::MultiplexedConnection| {
        let (convert, conversion) = (convert.clone(), conversion.clone());
        async move {
            let mut conn = conn;
            store()
                .request_conversion(&mut conn, &convert, &conversion, 3)
                .await
                .unwrap()
        }
    };
    assert_eq!(request(conn.clone()).await, ConversionRequest::NotCompleted);
    set_status(&redis, &id, DesignStatus::Completed);
    assert_eq!(request(conn.clone()).await, ConversionRequest::Queued);
    assert_eq!(
        request(conn.clone()).await,
        ConversionRequest::AlreadyQueued
    );

    let queued = list(&redis, &keys.queue_active());
    assert_eq!(
        queued.len(),
        2,
        "the job's own task and one conversion: {queued:?}"
    );
    let payload: String = query(
        &mut redis.connection(),
        &["HGET", &keys.queue_data(), &queued[1]],
    );
    assert_eq!(
        serde_json::from_str::<DesignJob>(&payload).unwrap(),
        convert
    );
    assert_eq!(
        hash(&redis, &keys.queue_task_meta(&queued[1])),
        fresh_meta("3")
    );
    let stored: String = query(
        &mut redis.connection(),
        &["HGET", &keys.job(&id), "conversion"],
    );
    assert_eq!(
        serde_json::from_str::<Conversion>(&stored).unwrap(),
        conversion
    );
    let missing = store()
        .request_conversion(&mut conn, &self::job(), &conversion, 3)
        .await
        .unwrap();
    assert_eq!(missing, ConversionRequest::Missing);
}

#[tokio::test]
async fn reschedule_puts_a_new_task_in_the_scheduled_set_for_a_running_job() {
    let redis = TestRedis::start();
    let keys = store().keys().clone();
    let mut conn = redis.async_connection().await;
    let (job, record) = submitted(&redis).await;
    let id = record.request_id;
    set_status(&redis, &id, DesignStatus::Generating);

    let run_at = chrono::Utc::now().timestamp() as u64 + 600;
    let outcome = store()
        .reschedule(&mut conn, &job, 2, run_at, 5)
        .await
        .unwrap();
    assert_eq!(outcome, WriteOutcome::Applied);
    let stored = hash(&redis, &keys.job(&id));
    assert_eq!(stored["status"], "\"pending\"");
    assert_eq!(stored["retries"], "2");
    let task_id: String = serde_json::from_str(&stored["task_id"]).unwrap();
    assert_ne!(task_id, record.task_id);
    let scheduled: Vec<(String, u64)> = query(
        &mut redis.connection(),
        &["ZRANGE", &keys.queue_scheduled(), "0", "-1", "WITHSCORES"],
    );
    assert_eq!(scheduled, [(task_id.clone(), run_at)]);
    assert_eq!(
        list(&redis, &keys.queue_active()),
        [record.task_id],
        "a delayed task is not pushed to the active list"
    );
    assert_eq!(
        hash(&redis, &keys.queue_task_meta(&task_id)),
        fresh_meta("5")
    );
    let payload: String = query(
        &mut redis.connection(),
        &["HGET", &keys.queue_data(), &task_id],
    );
    assert_eq!(serde_json::from_str::<DesignJob>(&payload).unwrap(), job);
}

#[tokio::test]
async fn reschedule_leaves_an_ended_or_missing_job_alone() {
    let redis = TestRedis::start();
    let keys = store().keys().clone();
    let mut conn = redis.async_connection().await;
    let (job, record) = submitted(&redis).await;
    let id = record.request_id;
    let terminal: Vec<DesignStatus> = DesignStatus::ALL
        .into_iter()
        .filter(|s| s.is_terminal())
        .collect();
    assert_eq!(terminal.len(), 3);
    for status in terminal {
        set_status(&redis, &id, status);
        let outcome = store().reschedule(&mut conn, &job, 1, 1, 3).await.unwrap();
        assert_eq!(outcome, WriteOutcome::AlreadyEnded, "{status}");
        let stored = hash(&redis, &keys.job(&id));
        assert_eq!(stored["status"], serde_json::json!(status).to_string());
        assert_eq!(
            stored["task_id"],
            serde_json::json!(record.task_id).to_string()
        );
    }
    let missing = store()
        .reschedule(&mut conn, &self::job(), 1, 1, 3)
        .await
        .unwrap();
    assert_eq!(missing, WriteOutcome::Missing);

    let scheduled: u64 = query(&mut redis.connection(), &["ZCARD", &keys.queue_scheduled()]);
    assert_eq!(scheduled, 0);
    let tasks: u64 = query(&mut redis.connection(), &["HLEN", &keys.queue_data()]);
    assert_eq!(tasks, 1, "only the job's first task");
    let records: Vec<String> = query(&mut redis.connection(), &["KEYS", "t:job:*"]);
    assert_eq!(records.len(), 1, "no stub record for the missing job");
}
