//! A large backlog drains through two workers: no worker error, every job completed.
//!
//! apalis-redis 1.0's own `push` would put these into its scheduled set, whose promotion
//! script fails past about 8,000 due jobs and stops every worker; our enqueue must not.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::json;

use e2e::{AppOptions, spawn_app_with};

const JOBS: usize = 20_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_of_20000_jobs_drains_through_two_workers() {
    let app = spawn_app_with(AppOptions {
        workers: 2,
        env: vec![("WORKER_CONCURRENCY", "16".to_owned())],
        ..AppOptions::default()
    })
    .await;

    let started = Instant::now();
    let ids: Vec<String> = futures::stream::iter(0..JOBS)
        .map(|i| {
            let app = &app;
            async move {
                let side = 1 + i % 50;
                app.submit(&json!({
                    "prompt": format!("a box {side}x{side}x{side} mm"),
                    "enable_execution": false,
                }))
                .await
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let enqueued = started.elapsed();

    let mut conn = app.redis.connection();
    let deadline = Instant::now() + Duration::from_secs(600);
    let keys = shared::keys::Keys::new(&app.settings.redis.key_prefix);
    loop {
        let done = app.finished_tasks();
        if done >= JOBS {
            break;
        }
        assert!(Instant::now() < deadline, "only {done} of {JOBS} jobs done");
        std::thread::sleep(Duration::from_millis(200));
    }
    let drained = started.elapsed();
    eprintln!(
        "backlog: {JOBS} jobs enqueued in {:.1} s, all done after {:.1} s ({:.0} jobs/s end to end)",
        enqueued.as_secs_f64(),
        drained.as_secs_f64(),
        JOBS as f64 / drained.as_secs_f64()
    );

    let mut pipe = redis::pipe();
    for id in &ids {
        pipe.cmd("HGET")
            .arg(keys.job(&id.parse().unwrap()))
            .arg("status");
    }
    let statuses: Vec<String> = pipe.query(&mut conn).unwrap();
    let completed = statuses.iter().filter(|s| *s == "\"completed\"").count();
    assert_eq!(completed, JOBS, "every job ends completed");
    let dead: usize = redis::cmd("SCARD")
        .arg(keys.queue_dead())
        .query(&mut conn)
        .unwrap();
    assert_eq!(dead, 0);
    // Finished tasks do not pile up in Redis: workers forget them (the records remain).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let kept: usize = redis::cmd("HLEN")
            .arg(keys.queue_data())
            .query(&mut conn)
            .unwrap();
        if kept == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{kept} finished tasks still kept"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    for restarts in &app.worker_restarts {
        assert_eq!(restarts.load(Ordering::Relaxed), 0, "no worker loop failed");
    }
}
