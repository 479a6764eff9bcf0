//! What one job costs Redis, and what a worker with many jobs in flight does to its scarce
//! resources (FreeCAD slots).

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};

use e2e::{AppOptions, TestApp, spawn_app_with};

/// `INFO commandstats` as command name -> calls.
fn command_calls(conn: &mut redis::Connection) -> HashMap<String, u64> {
    let info: String = redis::cmd("INFO").arg("commandstats").query(conn).unwrap();
    info.lines()
        .filter_map(|line| {
            let (name, stats) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = stats.split(',').find_map(|kv| kv.strip_prefix("calls="))?;
            Some((name.to_owned(), calls.parse().ok()?))
        })
        .collect()
}

/// Everything Redis is asked, from `redis-cli MONITOR`, until dropped.
struct Monitor {
    child: std::process::Child,
    file: tempfile::NamedTempFile,
}

impl Monitor {
    fn start(app: &TestApp) -> Self {
        let port = app.redis.url().rsplit(':').next().unwrap().to_owned();
        let port = port
            .trim_end_matches(|c: char| !c.is_ascii_digit())
            .to_owned();
        let file = tempfile::NamedTempFile::new().unwrap();
        let child = Command::new("redis-cli")
            .args(["-p", &port, "monitor"])
            .stdout(Stdio::from(file.reopen().unwrap()))
            .spawn()
            .expect("redis-cli (installed with redis-server by `make test`)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !std::fs::read_to_string(file.path())
            .unwrap()
            .starts_with("OK")
        {
            assert!(Instant::now() < deadline, "MONITOR did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, file }
    }

    /// Each command a client sent (not those scripts ran): (client address, command line).
    fn commands(&mut self) -> Vec<(String, String)> {
        std::thread::sleep(Duration::from_millis(200));
        let _ = self.child.kill();
        let _ = self.child.wait();
        let text = std::fs::read_to_string(self.file.path()).unwrap();
        text.lines()
            .filter_map(|line| {
                let (_, rest) = line.split_once(" [")?;
                let (client, command) = rest.split_once("] ")?;
                let address = client.split_whitespace().nth(1)?.to_owned();
                (address != "lua").then(|| (address, command.to_owned()))
            })
            .collect()
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// This connection's address as Redis sees it (`CLIENT INFO`).
fn own_address(conn: &mut redis::Connection) -> String {
    let info: String = redis::cmd("CLIENT").arg("INFO").query(conn).unwrap();
    info.split_whitespace()
        .find_map(|kv| kv.strip_prefix("addr="))
        .unwrap()
        .to_owned()
}

fn planning_only_job(side: usize) -> shared::job::DesignJob {
    shared::job::DesignJob {
        request_id: shared::job_id::JobId::new(),
        prompt: format!("a box {side}x{side}x{side} mm"),
        max_iterations: 1,
        enable_execution: false,
        output_formats: vec![shared::job::OutputFormat::Step],
        model: None,
        feedback: None,
        convert: None,
        earlier_feedback: Vec::new(),
        cache: false,
        priority: Default::default(),
    }
}

async fn wait_until_finished(app: &TestApp, jobs: usize, limit: Duration) {
    let deadline = Instant::now() + limit;
    while app.finished_tasks() < jobs {
        assert!(
            Instant::now() < deadline,
            "only {} of {jobs} jobs finished",
            app.finished_tasks()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planning_only_job_costs_three_scripts_and_one_read_of_ours() {
    const JOBS: usize = 40;
    /// planning, four agent lines, the plan, generating, completed status, completed.
    const EVENTS_PER_JOB: u64 = 9;
    let app = spawn_app_with(AppOptions::default()).await;
    // A first job loads every script into Redis's cache, so the count below is steady state.
    let first = app
        .submit(&json!({ "prompt": "a box 5x5x5 mm", "enable_execution": false }))
        .await;
    app.wait_for_end(&first, Duration::from_secs(60)).await;
    wait_until_finished(&app, 1, Duration::from_secs(30)).await;

    let mut conn = app.redis.connection();
    let test_client = own_address(&mut conn);
    let store = shared::job_store::JobStore::new(app.keys(), app.settings.queue.job_ttl);
    let jobs: Vec<_> = (0..JOBS).map(|i| planning_only_job(1 + i)).collect();
    let mut monitor = Monitor::start(&app);
    let before = command_calls(&mut conn);
    let mut async_conn = app.async_redis().await;
    let info: String = redis::cmd("CLIENT")
        .arg("INFO")
        .query_async(&mut async_conn)
        .await
        .unwrap();
    let enqueuer = info
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("addr="))
        .unwrap()
        .to_owned();
    let test_clients = [test_client, enqueuer];
    for job in &jobs {
        let record = shared::job::JobRecord::new_pending(job, "anonymous", None);
        store
            .enqueue(&mut async_conn, &record, job, 1, 0, None)
            .await
            .unwrap();
    }
    wait_until_finished(&app, 1 + JOBS, Duration::from_secs(120)).await;
    let after = command_calls(&mut conn);
    let commands = monitor.commands();

    for job in &jobs {
        let id = job.request_id;
        let status: String = redis::cmd("HGET")
            .arg(app.keys().job(&id))
            .arg("status")
            .query(&mut conn)
            .unwrap();
        assert_eq!(status, "\"completed\"");
        let of_this_job: Vec<&String> = commands
            .iter()
            .filter(|(client, line)| {
                !test_clients.contains(client) && line.contains(&id.to_string())
            })
            .map(|(_, line)| line)
            .collect();
        let scripts = of_this_job
            .iter()
            .filter(|line| line.starts_with("\"EVALSHA\"") || line.starts_with("\"EVAL\""))
            .count();
        assert_eq!(
            (of_this_job.len(), scripts),
            (4, 3),
            "job {id}: the record read, then one script per stage change (planning, \
             generating, completed); got {of_this_job:#?}"
        );
    }
    // Inside the scripts: every event is appended to its replay stream exactly once.
    let delta = |name: &str| after.get(name).unwrap_or(&0) - before.get(name).unwrap_or(&0);
    assert_eq!(delta("xadd"), EVENTS_PER_JOB * JOBS as u64);
    let not_ours = commands
        .iter()
        .filter(|(client, line)| {
            !test_clients.contains(client)
                && !jobs
                    .iter()
                    .any(|j| line.contains(&j.request_id.to_string()))
        })
        .count();
    eprintln!(
        "per planning-only job: 4 commands of ours (3 scripts); {:.2} other worker/gateway \
         commands (apalis-redis fetch, ack, heartbeats, polls, samplers) per job",
        not_ours as f64 / JOBS as f64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_with_1000_jobs_in_flight_never_runs_more_freecad_than_its_slots() {
    const JOBS: usize = 1000;
    const POOL: usize = 2;
    let app = spawn_app_with(AppOptions {
        workers: 1,
        env: vec![
            ("WORKER_CONCURRENCY", JOBS.to_string()),
            ("FREECAD_POOL_SIZE", POOL.to_string()),
            // Every job runs FreeCAD: repeated sizes are not answered from the result cache.
            ("RESULT_CACHE_TTL_SECONDS", "0".to_owned()),
        ],
        ..AppOptions::default()
    })
    .await;
    let ids: Vec<String> = futures::stream::iter(0..JOBS)
        .map(|i| {
            let app = &app;
            async move {
                let side = 1 + i % 40;
                app.submit(&json!({
                    "prompt": format!("a box {side}x{side}x{side} mm"),
                    "output_formats": ["stl"],
                }))
                .await
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    wait_until_finished(&app, JOBS, Duration::from_secs(900)).await;

    let slots = &app.worker_slots[0];
    assert_eq!(slots.size(), POOL);
    assert_eq!(
        slots.most_running(),
        POOL,
        "never more FreeCAD executions at once than the pool, and the pool was used in full"
    );
    let mut conn = app.redis.connection();
    let mut waited = 0;
    for id in &ids {
        let status: String = redis::cmd("HGET")
            .arg(app.keys().job(&id.parse().unwrap()))
            .arg("status")
            .query(&mut conn)
            .unwrap();
        assert_eq!(status, "\"completed\"", "job {id}");
        let events: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
            .arg(app.keys().events(&id.parse().unwrap()))
            .arg("-")
            .arg("+")
            .query(&mut conn)
            .unwrap();
        waited += events
            .iter()
            .filter_map(|(_, fields)| serde_json::from_str::<Value>(&fields[0].1).ok())
            .filter(|event| {
                event["type"] == "progress"
                    && event["data"]["message"]
                        .as_str()
                        .is_some_and(|m| m.starts_with("waiting for FreeCAD"))
            })
            .count();
    }
    assert!(
        waited > 0,
        "with {JOBS} jobs in flight and {POOL} slots, some job says it waits for FreeCAD"
    );
    let metrics = app
        .client
        .get(format!(
            "http://127.0.0.1:{}/metrics",
            app.worker_metrics_ports[0]
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The recorder is global to this test binary: other tests' executions count too.
    let measured: f64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("freecad_slot_wait_seconds_count "))
        .and_then(|count| count.trim().parse().ok())
        .expect("freecad_slot_wait_seconds on the worker's /metrics");
    assert!(
        measured >= JOBS as f64,
        "every execution's wait is measured"
    );
}
