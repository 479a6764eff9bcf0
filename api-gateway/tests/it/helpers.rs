//! Starts the real parts for a test: a `redis-server` on a free port, the gateway on port 0
//! and in-process workers that run real `freecadcmd`.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

use serde_json::Value;
use shared::settings::Settings;
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

/// A private `redis-server`, killed when dropped. Never the one on 6379.
pub struct TestRedis {
    child: Option<Child>,
    port: u16,
    dir: TempDir,
    /// Every write synced to the append-only file, so a kill loses nothing.
    append_only: bool,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl TestRedis {
    pub fn start() -> Self {
        Self::start_with(false)
    }

    /// With the append-only file on (`appendfsync always`): what production recommends,
    /// made deterministic for a test that kills Redis.
    pub fn start_durable() -> Self {
        Self::start_with(true)
    }

    fn start_with(append_only: bool) -> Self {
        let mut redis = Self {
            child: None,
            port: free_port(),
            dir: tempfile::tempdir().expect("temp dir"),
            append_only,
        };
        redis.launch();
        redis
    }

    fn launch(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(if self.append_only {
                ["--appendonly", "yes", "--appendfsync", "always"]
            } else {
                ["--appendonly", "no", "--appendfsync", "everysec"]
            })
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (make test installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let pong = redis::Client::open(self.url())
                .and_then(|c| c.get_connection())
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
            if pong.is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port: empty, or from its append-only file when durable.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    pub fn connection(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .and_then(|c| c.get_connection())
            .expect("a connection to the test Redis")
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

fn init_test_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            shared::telemetry::init_subscriber(shared::telemetry::get_subscriber(
                "info",
                shared::settings::LogFormat::Pretty,
                std::io::stdout,
            ));
        }
    });
}

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
    pub redis: TestRedis,
    pub settings: Settings,
    pub worker_restarts: Vec<std::sync::Arc<std::sync::atomic::AtomicU32>>,
    /// Each worker's metrics listener (`/health`, `/ready`, `/metrics`).
    pub worker_metrics_ports: Vec<u16>,
    /// Each worker's FreeCAD runner, to look at its pool.
    pub worker_runners: Vec<std::sync::Arc<worker::freecad::FreecadRunner>>,
    /// Each worker's FreeCAD execution slots, to look at how many ran at once.
    pub worker_slots: Vec<worker::jobs::freecad_slots::FreecadSlots>,
    shutdown: CancellationToken,
    _artifact_dir: TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Options for [`spawn_app_with`].
pub struct AppOptions {
    pub workers: usize,
    pub env: Vec<(&'static str, String)>,
    /// Scripts to run instead of the generator's (the worker's test seam).
    pub scripts: Option<worker::jobs::ScriptOverride>,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            workers: 1,
            env: Vec::new(),
            scripts: None,
        }
    }
}

/// A gateway and one worker on a fresh Redis.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(AppOptions::default()).await
}

pub async fn spawn_app_with(options: AppOptions) -> TestApp {
    spawn_app_with_worker_env(options, Vec::new()).await
}

/// Like [`spawn_app_with`], with `worker_env` applied on top for the workers only (another
/// `ARTIFACT_DIR`, another artifact store endpoint).
pub async fn spawn_app_with_worker_env(
    options: AppOptions,
    worker_env: Vec<(&'static str, String)>,
) -> TestApp {
    init_test_logs();
    let redis = TestRedis::start();
    let artifact_dir = tempfile::tempdir().expect("temp dir");
    let mut env: HashMap<String, String> = HashMap::from([
        ("REDIS_URL".to_owned(), redis.url()),
        ("GATEWAY_ADDR".to_owned(), "127.0.0.1:0".to_owned()),
        (
            "ARTIFACT_DIR".to_owned(),
            artifact_dir.path().display().to_string(),
        ),
        ("WORKER_CONCURRENCY".to_owned(), "2".to_owned()),
        ("JOB_TIMEOUT_SECONDS".to_owned(), "120".to_owned()),
        // Tests send many requests from one address; the limit has tests of its own.
        ("RATE_LIMIT_REQUESTS".to_owned(), "1000000".to_owned()),
        // Likewise for the streams one client may hold (the fan-out tests open hundreds).
        ("MAX_STREAMS_PER_PRINCIPAL".to_owned(), "100000".to_owned()),
        ("RATE_LIMIT_READ_REQUESTS".to_owned(), "1000000".to_owned()),
        ("WORKER_METRICS_ADDR".to_owned(), "127.0.0.1:0".to_owned()),
        ("PATH".to_owned(), std::env::var("PATH").unwrap_or_default()),
    ]);
    for (key, value) in options.env {
        env.insert(key.to_owned(), value);
    }
    let mut worker_env_map = env.clone();
    for (key, value) in worker_env {
        worker_env_map.insert(key.to_owned(), value);
    }
    let worker_settings = Settings::load_from(Path::new("/nonexistent-config-dir"), worker_env_map)
        .expect("test worker settings");
    let settings =
        Settings::load_from(Path::new("/nonexistent-config-dir"), env).expect("test settings");

    let shutdown = CancellationToken::new();
    let gateway = api_gateway::startup::Application::build(settings.clone())
        .await
        .expect("gateway builds");
    let port = gateway.port();
    let address = format!("http://127.0.0.1:{port}");
    tokio::spawn(gateway.run_until_stopped(shutdown.clone()));

    let mut worker_restarts = Vec::new();
    let mut worker_metrics_ports = Vec::new();
    let mut worker_runners = Vec::new();
    let mut worker_slots = Vec::new();
    for _ in 0..options.workers {
        let mut worker = worker::startup::Application::build(worker_settings.clone())
            .await
            .expect("worker builds");
        if let Some(scripts) = &options.scripts {
            worker.override_generated_scripts(scripts.clone());
        }
        worker_restarts.push(worker.restart_counter());
        worker_metrics_ports.push(worker.metrics_port());
        worker_runners.push(worker.runner());
        worker_slots.push(worker.freecad_slots());
        tokio::spawn(worker.run_until_stopped(shutdown.clone()));
    }

    TestApp {
        address,
        port,
        client: reqwest::Client::new(),
        redis,
        settings,
        worker_restarts,
        worker_metrics_ports,
        worker_runners,
        worker_slots,
        shutdown,
        _artifact_dir: artifact_dir,
    }
}

impl TestApp {
    /// Stops the gateway and workers as SIGTERM would.
    pub fn shut_down(&self) {
        self.shutdown.cancel();
    }

    /// Another worker on the same Redis (and the same shutdown); returns how often its
    /// supervisor had to restart its loop.
    pub async fn spawn_worker(&self) -> std::sync::Arc<std::sync::atomic::AtomicU32> {
        let worker = worker::startup::Application::build(self.settings.clone())
            .await
            .expect("worker builds");
        let restarts = worker.restart_counter();
        tokio::spawn(worker.run_until_stopped(self.shutdown.clone()));
        restarts
    }

    pub async fn delete_design(&self, id: &str) -> reqwest::Response {
        self.client
            .delete(self.url(&format!("/api/v1/design/{id}")))
            .send()
            .await
            .expect("DELETE")
    }

    /// Polls until the job reaches `status` (and fails the test if it ends otherwise).
    pub async fn wait_for_status(&self, id: &str, status: &str, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let state = self.get_design(id).await;
            if state["status"] == status {
                return state;
            }
            assert!(
                !matches!(
                    state["status"].as_str(),
                    Some("completed" | "failed" | "cancelled")
                ),
                "job {id} ended as {} while waiting for {status}",
                state["status"]
            );
            assert!(
                Instant::now() < deadline,
                "job {id} never reached {status}: {state}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Another gateway on the same Redis (and the same shutdown); returns its base URL.
    pub async fn spawn_another_gateway(&self) -> String {
        let gateway = api_gateway::startup::Application::build(self.settings.clone())
            .await
            .expect("second gateway builds");
        let address = format!("http://127.0.0.1:{}", gateway.port());
        tokio::spawn(gateway.run_until_stopped(self.shutdown.clone()));
        address
    }

    /// A pending job that no worker will run (for tests that publish its events themselves).
    pub async fn create_idle_job(&self) -> uuid::Uuid {
        let job = shared::job::DesignJob {
            request_id: uuid::Uuid::new_v4(),
            prompt: "a box 1x1x1".to_owned(),
            max_iterations: 1,
            enable_execution: false,
            output_formats: vec![shared::job::OutputFormat::Step],
            model: None,
            feedback: None,
            convert: None,
            earlier_feedback: Vec::new(),
        };
        let record = shared::job::JobRecord::new_pending(&job, "anonymous", None);
        let mut conn = self.async_redis().await;
        shared::job_store::JobStore::new(self.keys(), self.settings.queue.job_ttl)
            .enqueue(&mut conn, &record, &job, 1, 0, None)
            .await
            .expect("enqueue");
        job.request_id
    }

    /// Tasks the queue has finished: still in apalis-redis's done set, or counted and forgotten
    /// (workers delete finished tasks to bound Redis's memory).
    pub fn finished_tasks(&self) -> usize {
        let mut conn = self.redis.connection();
        let keys = self.keys();
        // One transaction: a chunk being forgotten between two reads would count twice.
        let (in_set, forgotten): (usize, Option<usize>) = redis::pipe()
            .atomic()
            .cmd("SCARD")
            .arg(keys.queue_done())
            .cmd("GET")
            .arg(keys.queue_done_forgotten())
            .query(&mut conn)
            .unwrap();
        in_set + forgotten.unwrap_or(0)
    }

    pub fn keys(&self) -> shared::keys::Keys {
        shared::keys::Keys::new(&self.settings.redis.key_prefix)
    }

    pub async fn async_redis(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.redis.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .expect("an async connection to the test Redis")
    }

    /// Publishes an event of a job as a worker would; returns its seq.
    pub async fn publish(
        &self,
        conn: &mut redis::aio::MultiplexedConnection,
        request_id: uuid::Uuid,
        kind: shared::events::EventType,
        data: Value,
    ) -> u64 {
        shared::events::EventPublisher::new(self.keys(), self.settings.queue.job_ttl)
            .publish(conn, request_id, kind, data)
            .await
            .expect("publish")
            .expect("the job exists")
    }

    /// Opens the job's SSE stream on `base` (this gateway when `None`).
    pub async fn sse(&self, base: Option<&str>, id: &str, last_event_id: Option<u64>) -> SseClient {
        let base = base.unwrap_or(&self.address);
        let mut request = self.client.get(format!("{base}/api/v1/design/{id}/events"));
        if let Some(last) = last_event_id {
            request = request.header("last-event-id", last.to_string());
        }
        let response = request.send().await.expect("GET events");
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        SseClient {
            response,
            buffer: String::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub fn artifact_dir(&self) -> PathBuf {
        match &self.settings.artifacts.location {
            shared::artifact_store::StoreLocation::Folder(dir) => dir.clone(),
            other => panic!("this test app keeps its artifacts in {other}, not in a folder"),
        }
    }

    pub async fn post_design(&self, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url("/api/v1/design"))
            .json(body)
            .send()
            .await
            .expect("POST /api/v1/design")
    }

    pub async fn post_raw(&self, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.client
            .post(self.url("/api/v1/design"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("POST /api/v1/design")
    }

    /// Submits a design and returns its request id (asserting the 202).
    pub async fn submit(&self, body: &Value) -> String {
        let response = self.post_design(body).await;
        assert_eq!(response.status(), 202, "{:?}", response.text().await);
        let body: Value = response.json().await.expect("a JSON 202 body");
        body["request_id"].as_str().expect("request_id").to_owned()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    pub async fn get_design(&self, id: &str) -> Value {
        let response = self.get(&format!("/api/v1/design/{id}")).await;
        assert_eq!(response.status(), 200);
        response.json().await.expect("a JSON status")
    }

    /// The answer of the export listing, which must be a 200.
    pub async fn export(&self, id: &str, formats: &str) -> Value {
        let response = self
            .get(&format!("/api/v1/design/{id}/export?formats={formats}"))
            .await;
        assert_eq!(response.status(), 200);
        response.json().await.expect("a JSON export listing")
    }

    /// The export listing of formats the design may lack: `202` with a `Location` while a
    /// conversion makes them (asked again until it answers `200`), then the listing.
    pub async fn export_converted(&self, id: &str, formats: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut path = format!("/api/v1/design/{id}/export?formats={formats}");
        loop {
            let response = self.get(&path).await;
            match response.status().as_u16() {
                200 => return response.json().await.expect("a JSON export listing"),
                202 => {
                    let location = response.headers()["location"].to_str().unwrap().to_owned();
                    let body: Value = response.json().await.expect("a JSON 202 body");
                    assert_eq!(body["status"], "converting", "{body}");
                    assert_eq!(body["links"]["export"], location.as_str());
                    path = location;
                }
                other => panic!("export answered {other}: {:?}", response.text().await),
            }
            assert!(Instant::now() < deadline, "the conversion never ended");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The error code of a download that must fail with 404.
    pub async fn download_error(&self, id: &str, format: &str) -> String {
        let response = self
            .get(&format!("/api/v1/design/{id}/download/{format}"))
            .await;
        error_code(response, 404).await
    }

    /// Polls the job until it reaches a final state.
    pub async fn wait_for_end(&self, id: &str, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let status = self.get_design(id).await;
            if matches!(
                status["status"].as_str(),
                Some("completed" | "failed" | "cancelled")
            ) {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "job {id} did not end within {limit:?}: {status}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Asserts the JSON error body (`shared::api::ErrorBody`) and returns its code.
pub async fn error_code(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "error bodies are JSON"
    );
    let header_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.expect("a JSON error body");
    let error = &body["error"];
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(error["request_id"], header_id.as_str(), "{body}");
    error["code"].as_str().expect("an error code").to_owned()
}

/// One Server-Sent Event.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub id: u64,
    pub event: String,
    pub data: Value,
}

/// A minimal SSE reader over a streaming response.
pub struct SseClient {
    response: reqwest::Response,
    buffer: String,
}

impl SseClient {
    /// The next event, or `None` when the server closed the stream. Comments (keep-alives)
    /// are skipped.
    pub async fn next(&mut self, limit: Duration) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (None, String::new(), String::new());
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().parse().ok();
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.strip_prefix(' ').unwrap_or(v));
                    }
                }
                if let Some(id) = id {
                    let data = serde_json::from_str(&data).expect("event data is JSON");
                    return Some(SseEvent { id, event, data });
                }
                continue;
            }
            let chunk = tokio::time::timeout(limit, self.response.chunk())
                .await
                .unwrap_or_else(|_| panic!("no SSE data within {limit:?}"))
                .expect("reading the SSE stream")?;
            self.buffer
                .push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
    }

    /// Every event until the server ends the stream.
    pub async fn collect_to_end(&mut self, limit: Duration) -> Vec<SseEvent> {
        let mut events = Vec::new();
        while let Some(event) = self.next(limit).await {
            events.push(event);
        }
        events
    }
}

/// Asserts that events are numbered `first, first+1, ...` with no gap or duplicate.
pub fn assert_consecutive(events: &[SseEvent], first: u64) {
    for (offset, event) in events.iter().enumerate() {
        assert_eq!(
            event.id,
            first + offset as u64,
            "events out of order: {events:?}"
        );
        assert_eq!(event.data["seq"], event.id, "the SSE id is the event's seq");
    }
}
