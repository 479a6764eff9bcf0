//! Nothing lost, with real processes: the gateway and workers run as child processes of the
//! test (the binaries `cargo test --workspace` built), killed and restarted like in production.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use shared::api::DesignStatusResponse;
use shared::job::DesignStatus;
use tempfile::TempDir;

use e2e::{TestRedis, free_port};

/// A binary of this workspace, next to the test binary's `deps/` folder.
fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the workspace's binaries first (make test does)",
        path.display()
    );
    path
}

struct Cluster {
    redis: TestRedis,
    dir: TempDir,
    gateway: Option<Child>,
    port: u16,
    workers: Vec<Child>,
    env: Vec<(String, String)>,
    client: reqwest::Client,
}

impl Cluster {
    async fn start(redis: TestRedis, workers: usize, extra: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut env: Vec<(String, String)> = vec![
            ("REDIS_URL".into(), redis.url()),
            ("GATEWAY_ADDR".into(), format!("127.0.0.1:{port}")),
            (
                "ARTIFACT_DIR".into(),
                dir.path().join("artifacts").display().to_string(),
            ),
            ("CONFIG_DIR".into(), "/nonexistent-config-dir".into()),
            ("RATE_LIMIT_ENABLED".into(), "false".into()),
            ("WORKER_METRICS_ADDR".into(), "127.0.0.1:0".into()),
            ("WORKER_HEARTBEAT_SECONDS".into(), "1".into()),
            ("WORKER_MISSED_HEARTBEATS".into(), "2".into()),
            ("WORKER_CONCURRENCY".into(), "2".into()),
            ("RUST_LOG".into(), "warn".into()),
            ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
            ("HOME".into(), dir.path().display().to_string()),
        ];
        for (key, value) in extra {
            env.push(((*key).into(), (*value).into()));
        }
        let mut cluster = Self {
            redis,
            dir,
            gateway: None,
            port,
            workers: Vec::new(),
            env,
            client: reqwest::Client::new(),
        };
        cluster.gateway = Some(cluster.spawn("api-gateway"));
        for _ in 0..workers {
            let worker = cluster.spawn("worker");
            cluster.workers.push(worker);
        }
        cluster.wait_ready().await;
        cluster
    }

    fn spawn(&self, name: &str) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("{name}.log")))
            .unwrap();
        Command::new(binary(name))
            .env_clear()
            .envs(self.env.iter().cloned())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"))
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn ready(&self) -> bool {
        matches!(self.client.get(self.url("/ready")).send().await, Ok(r) if r.status() == 200)
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.ready().await {
            assert!(Instant::now() < deadline, "the gateway never got ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn submit(&self, body: &Value) -> Option<String> {
        let response = self
            .client
            .post(self.url("/api/v1/design"))
            .json(body)
            .send()
            .await
            .ok()?;
        if response.status() != 202 {
            return None;
        }
        let body: Value = response.json().await.ok()?;
        body["request_id"].as_str().map(str::to_owned)
    }

    async fn status(&self, id: &str) -> Option<DesignStatusResponse> {
        let response = self
            .client
            .get(self.url(&format!("/api/v1/design/{id}")))
            .send()
            .await
            .ok()?;
        (response.status() == 200).then_some(())?;
        response.json().await.ok()
    }

    /// Waits until every job has ended; returns how many completed.
    async fn wait_all_end(&self, ids: &[String], limit: Duration) -> usize {
        let deadline = Instant::now() + limit;
        let mut open: HashSet<&String> = ids.iter().collect();
        let mut completed = 0;
        while !open.is_empty() {
            let mut ended = Vec::new();
            for id in &open {
                if let Some(status) = self.status(id).await {
                    match status.status {
                        DesignStatus::Completed => {
                            completed += 1;
                            ended.push(*id);
                        }
                        DesignStatus::Failed | DesignStatus::Cancelled => ended.push(*id),
                        _ => {}
                    }
                }
            }
            for id in ended {
                open.remove(id);
            }
            assert!(
                Instant::now() < deadline,
                "{} jobs never ended: {open:?}",
                open.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        completed
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self.workers.iter_mut().chain(self.gateway.as_mut()) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn box_job(n: usize) -> Value {
    json!({ "prompt": format!("a box {}x{}x{} mm", 10 + n % 7, 10 + n % 5, 10 + n % 3) })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_job_in_flight_finish_within_the_grace() {
    let cluster = Cluster::start(
        TestRedis::start(),
        1,
        &[
            ("FREECAD_POOL_SIZE", "0"),
            ("WORKER_SHUTDOWN_GRACE_SECONDS", "20"),
        ],
    )
    .await;
    let id = cluster.submit(&box_job(1)).await.expect("accepted");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = cluster.status(&id).await.unwrap();
        if status.status == DesignStatus::Executing {
            break;
        }
        assert!(Instant::now() < deadline, "{status:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut cluster = cluster;
    let mut worker = cluster.workers.remove(0);
    terminate(&worker);
    let asked = Instant::now();
    let exit = loop {
        if let Some(exit) = worker.try_wait().unwrap() {
            break exit;
        }
        assert!(
            asked.elapsed() < Duration::from_secs(25),
            "the worker outlived its grace"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(exit.success(), "a clean exit: {exit:?}");
    let status = cluster.status(&id).await.unwrap();
    assert_eq!(
        status.status,
        DesignStatus::Completed,
        "the job in flight finished: {status:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_survive_workers_killed_with_sigkill() {
    const JOBS: usize = 200;
    let mut cluster = Cluster::start(TestRedis::start(), 3, &[("FREECAD_POOL_SIZE", "0")]).await;
    let mut ids = Vec::with_capacity(JOBS);
    for n in 0..JOBS {
        ids.push(cluster.submit(&box_job(n)).await.expect("accepted"));
    }
    // Kill a worker every 1.5 s, round robin, and start a new one in its place.
    let mut recovery = None;
    for round in 0..4 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let victim = round % cluster.workers.len();
        let pid = cluster.workers[victim].id();
        let (sets, in_flight) = in_flight_of(&cluster.redis, pid);
        cluster.workers[victim].kill().unwrap();
        cluster.workers[victim].wait().unwrap();
        let killed_at = Instant::now();
        let replacement = cluster.spawn("worker");
        cluster.workers[victim] = replacement;
        if recovery.is_none() && !in_flight.is_empty() {
            // Another worker's heartbeat hands the dead worker's jobs back to the queue once
            // its last heartbeat is older than HEARTBEAT x MISSED.
            let mut conn = cluster.redis.connection();
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let left: usize = redis::cmd("EXISTS").arg(&sets).query(&mut conn).unwrap();
                if left == 0 {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the dead worker's jobs were never re-queued"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            eprintln!(
                "kill -9: the {} jobs in flight on the killed worker were back in the queue \
                 {:.1} s after the kill",
                in_flight.len(),
                killed_at.elapsed().as_secs_f64()
            );
            recovery = Some(in_flight);
        }
    }
    assert!(
        recovery.is_some(),
        "at least one kill caught jobs in flight"
    );
    let completed = cluster.wait_all_end(&ids, Duration::from_secs(300)).await;
    eprintln!(
        "kill -9: accepted {JOBS}, completed {completed}, lost {}",
        JOBS - completed
    );
    assert_eq!(completed, JOBS, "every accepted job completed");
}

/// The in-flight sets of a worker process (by pid) and the request ids in them.
fn in_flight_of(redis: &TestRedis, pid: u32) -> (Vec<String>, Vec<String>) {
    let mut conn = redis.connection();
    let sets: Vec<String> = redis::cmd("KEYS")
        .arg("designs:inflight:*")
        .query(&mut conn)
        .unwrap();
    let marker = format!("-{pid}-");
    let sets: Vec<String> = sets.into_iter().filter(|s| s.contains(&marker)).collect();
    let mut ids = Vec::new();
    for set in &sets {
        let tasks: Vec<String> = redis::cmd("SMEMBERS").arg(set).query(&mut conn).unwrap();
        for task in tasks {
            let payload: Option<String> = redis::cmd("HGET")
                .arg("designs:data")
                .arg(&task)
                .query(&mut conn)
                .unwrap();
            if let Some(id) = payload
                .and_then(|p| serde_json::from_str::<Value>(&p).ok())
                .and_then(|job| job["request_id"].as_str().map(str::to_owned))
            {
                ids.push(id);
            }
        }
    }
    (sets, ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_loses_no_accepted_job() {
    const JOBS: usize = 40;
    let mut cluster = Cluster::start(TestRedis::start_durable(), 2, &[]).await;
    let mut ids = Vec::with_capacity(JOBS);
    for n in 0..JOBS {
        ids.push(cluster.submit(&box_job(n)).await.expect("accepted"));
    }
    cluster.redis.stop();
    let down_at = Instant::now();
    // Meanwhile the gateway says so, clearly, and stays alive.
    let response = cluster
        .client
        .post(cluster.url("/api/v1/design"))
        .json(&box_job(0))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let health = cluster
        .client
        .get(cluster.url("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.redis.restart();
    let restarted_at = Instant::now();
    cluster.wait_ready().await;
    eprintln!(
        "redis restart: down {:.1} s; the gateway was ready again {:.2} s after Redis restarted",
        (restarted_at - down_at).as_secs_f64(),
        restarted_at.elapsed().as_secs_f64()
    );
    let completed = cluster.wait_all_end(&ids, Duration::from_secs(240)).await;
    eprintln!(
        "redis restart: accepted {JOBS}, completed {completed}, lost {}; all ended {:.1} s after the restart",
        JOBS - completed,
        restarted_at.elapsed().as_secs_f64()
    );
    assert_eq!(completed, JOBS);
    for worker in cluster.workers.iter_mut() {
        assert!(worker.try_wait().unwrap().is_none(), "no worker died");
    }
}
