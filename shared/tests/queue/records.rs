//! The record scripts: the report (every update and the cancel), the feedback and the end of
//! a conversion. The terminal statuses come from `DesignStatus::is_terminal`, not from Lua.

use shared::events::EventPayload;
use shared::job::{
    Conversion, ConversionState, DesignStatus, FeedbackRating, JobPatch, OutputFormat, UserFeedback,
};
use shared::job_id::JobId;
use shared::job_store::WriteOutcome;

use crate::redis_server::{TestRedis, query};
use crate::tasks::{PRINCIPAL, job, set_status, store, submitted};

fn stored_status(redis: &TestRedis, request_id: &JobId) -> String {
    query(
        &mut redis.connection(),
        &["HGET", &store().keys().job(request_id), "status"],
    )
}

fn active_jobs(redis: &TestRedis) -> Vec<String> {
    query(
        &mut redis.connection(),
        &["ZRANGE", &store().keys().active_jobs(PRINCIPAL), "0", "-1"],
    )
}

#[tokio::test]
async fn a_job_that_has_ended_is_never_written_again_and_one_running_is() {
    let redis = TestRedis::start();
    let mut conn = redis.async_connection().await;
    let (_, record) = submitted(&redis).await;
    let id = record.request_id;
    for status in DesignStatus::ALL {
        set_status(&redis, &id, status);
        let outcome = store()
            .update(
                &mut conn,
                &id,
                &JobPatch::status(DesignStatus::Executing, 0.5),
            )
            .await
            .unwrap();
        if status.is_terminal() {
            assert_eq!(outcome, WriteOutcome::AlreadyEnded, "{status}");
            assert_eq!(
                stored_status(&redis, &id),
                serde_json::json!(status).to_string()
            );
        } else {
            assert_eq!(outcome, WriteOutcome::Applied, "{status}");
            assert_eq!(stored_status(&redis, &id), "\"executing\"");
        }
    }
}

#[tokio::test]
async fn an_update_of_a_missing_record_brings_nothing_back() {
    let redis = TestRedis::start();
    let mut conn = redis.async_connection().await;
    let id = job().request_id;
    for patch in [
        JobPatch::status(DesignStatus::Planning, 0.1),
        JobPatch::status(DesignStatus::Failed, 1.0),
    ] {
        let outcome = store().update(&mut conn, &id, &patch).await.unwrap();
        assert_eq!(outcome, WriteOutcome::Missing);
    }
    let exists: u64 = query(
        &mut redis.connection(),
        &["EXISTS", &store().keys().job(&id)],
    );
    assert_eq!(exists, 0);
}

#[tokio::test]
async fn the_write_that_ends_a_job_frees_its_place_under_the_cap_and_says_when_it_began() {
    let redis = TestRedis::start();
    let mut conn = redis.async_connection().await;
    let (_, record) = submitted(&redis).await;
    let id = record.request_id;
    let going_on = store()
        .report(
            &mut conn,
            &id,
            None,
            Some(&JobPatch::status(DesignStatus::Validating, 0.8)),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(going_on.created_at, None);
    assert_eq!(active_jobs(&redis), [id.to_string()]);

    let ended = store()
        .report(
            &mut conn,
            &id,
            // A worker knows whose job it runs: no read of the record's principal.
            Some(&record.principal),
            Some(&JobPatch::status(DesignStatus::Completed, 1.0)),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(ended.outcome, WriteOutcome::Applied);
    assert_eq!(
        ended.created_at,
        Some(serde_json::json!(record.created_at).to_string())
    );
    assert!(active_jobs(&redis).is_empty());
}

#[tokio::test]
async fn a_report_numbers_stores_and_publishes_its_events_after_the_patch() {
    let redis = TestRedis::start();
    let mut conn = redis.async_connection().await;
    let (_, record) = submitted(&redis).await;
    let id = record.request_id;
    let events = [
        EventPayload::Status {
            status: DesignStatus::Planning,
            progress: Some(0.1),
        },
        EventPayload::Status {
            status: DesignStatus::Generating,
            progress: Some(0.2),
        },
    ];
    let reported = store()
        .report(
            &mut conn,
            &id,
            None,
            Some(&JobPatch::status(DesignStatus::Generating, 0.2)),
            &events,
        )
        .await
        .unwrap();
    assert_eq!(reported.outcome, WriteOutcome::Applied);
    let stream = store().keys().events(&id);
    let entries: Vec<(String, Vec<(String, String)>)> =
        query(&mut redis.connection(), &["XRANGE", &stream, "-", "+"]);
    let ids: Vec<&str> = entries.iter().map(|(entry, _)| entry.as_str()).collect();
    assert_eq!(ids, ["0-1", "0-2"]);
    let second: serde_json::Value = serde_json::from_str(&entries[1].1[0].1).unwrap();
    assert_eq!(second["seq"], 2);
    assert_eq!(second["request_id"], id.to_string());
    assert_eq!(second["data"]["status"], "generating");
    assert_eq!(stored_status(&redis, &id), "\"generating\"");
}

#[tokio::test]
async fn cancel_wins_once_and_later_writes_are_refused() {
    let redis = TestRedis::start();
    let mut conn = redis.async_connection().await;
    let (_, record) = submitted(&redis).await;
    let id = record.request_id;
    let stream = store().keys().events(&id);

    assert_eq!(
        store().cancel(&mut conn, &id).await.unwrap(),
        WriteOutcome::Applied
    );
    assert_eq!(stored_status(&redis, &id), "\"cancelled\"");
    assert!(active_jobs(&redis).is_empty());
    let events: u64 = query(&mut redis.connection(), &["XLEN", &stream]);
    assert_eq!(events, 2, "the status event and the terminal one");

    assert_eq!(
        store().cancel(&mut conn, &id).await.unwrap(),
        WriteOutcome::AlreadyEnded
    );
    let late_write = store()
        .update(
            &mut conn,
            &id,
            &JobPatch::status(DesignStatus::Completed, 1.0),
        )
        .await
        .unwrap();
    assert_eq!(late_write, WriteOutcome::AlreadyEnded);
    assert_eq!(stored_status(&redis, &id), "\"cancelled\"");
    let events: u64 = query(&mut redis.connection(), &["XLEN", &stream]);
    assert_eq!(events, 2, "a refused write publishes nothing");

    let missing = job().request_id;
    assert_eq!(
        store().cancel(&mut conn, &missing).await.unwrap(),
        WriteOutcome::Missing
    );
}

#[tokio::test]
async fn feedback_is_stored_only_on_a_record_that_exists() {
    let redis = TestRedis::start();
    let mut conn = redis.async_connection().await;
    let (_, record) = submitted(&redis).await;
    let id = record.request_id;
    let feedback = UserFeedback {
        rating: FeedbackRating::ThumbsUp,
        comment: Some("just right".to_owned()),
        given_at: chrono::Utc::now(),
    };
    assert!(
        store()
            .set_feedback(&mut conn, &id, &feedback)
            .await
            .unwrap()
    );
    let stored: String = query(
        &mut redis.connection(),
        &["HGET", &store().keys().job(&id), "user_feedback"],
    );
    assert_eq!(stored, serde_json::to_string(&feedback).unwrap());
    let missing = job().request_id;
    assert!(
        !store()
            .set_feedback(&mut conn, &missing, &feedback)
            .await
            .unwrap()
    );
    let exists: u64 = query(
        &mut redis.connection(),
        &["EXISTS", &store().keys().job(&missing)],
    );
    assert_eq!(exists, 0);
}

#[tokio::test]
async fn a_conversion_ends_only_on_a_design_still_completed() {
    let redis = TestRedis::start();
    let mut conn = redis.async_connection().await;
    let (_, record) = submitted(&redis).await;
    let id = record.request_id;
    let done = Conversion {
        formats: vec![OutputFormat::Stl],
        state: ConversionState::Done,
        error: None,
        requested_at: chrono::Utc::now(),
    };
    set_status(&redis, &id, DesignStatus::Refining);
    let moot = store()
        .finish_conversion(&mut conn, &id, &done, Some(&[]))
        .await
        .unwrap();
    assert_eq!(moot, WriteOutcome::AlreadyEnded);
    let conversion: Option<String> = query(
        &mut redis.connection(),
        &["HGET", &store().keys().job(&id), "conversion"],
    );
    assert_eq!(conversion.as_deref(), Some("null"));

    set_status(&redis, &id, DesignStatus::Completed);
    let ended = store()
        .finish_conversion(&mut conn, &id, &done, Some(&[]))
        .await
        .unwrap();
    assert_eq!(ended, WriteOutcome::Applied);
    let stored: String = query(
        &mut redis.connection(),
        &["HGET", &store().keys().job(&id), "conversion"],
    );
    assert_eq!(serde_json::from_str::<Conversion>(&stored).unwrap(), done);
    let artifacts: String = query(
        &mut redis.connection(),
        &["HGET", &store().keys().job(&id), "artifacts"],
    );
    assert_eq!(artifacts, "[]");
    let missing = job().request_id;
    let outcome = store()
        .finish_conversion(&mut conn, &missing, &done, None)
        .await
        .unwrap();
    assert_eq!(outcome, WriteOutcome::Missing);
}
