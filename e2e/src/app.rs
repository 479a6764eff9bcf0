//! Starts the real parts for a test: a `redis-server` on a free port, the gateway on port 0
//! and in-process workers that run real `freecadcmd`; then one helper per route.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::Duration;

use serde_json::Value;
use shared::api::DesignStatusResponse;
use shared::job::DesignStatus;
use shared::settings::Settings;
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

use crate::redis::TestRedis;
use crate::sse::SseClient;
use crate::wait::wait_until;

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

/// A gateway alone on a fresh Redis: jobs it accepts stay pending.
pub async fn spawn_gateway() -> TestApp {
    spawn_gateway_with(Vec::new()).await
}

/// [`spawn_gateway`] with `env` on top of the test settings.
pub async fn spawn_gateway_with(env: Vec<(&'static str, String)>) -> TestApp {
    spawn_app_with(AppOptions {
        workers: 0,
        env,
        scripts: None,
    })
    .await
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
    pub async fn wait_for_status(
        &self,
        id: &str,
        status: DesignStatus,
        limit: Duration,
    ) -> DesignStatusResponse {
        let what = format!("job {id} reaching {status}");
        wait_until(&what, limit, async || {
            let state = self.design_status(id).await;
            assert!(
                state.status == status || !state.status.is_terminal(),
                "job {id} ended as {} while waiting for {status}: {state:?}",
                state.status
            );
            (state.status == status).then_some(state)
        })
        .await
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
    pub async fn create_idle_job(&self) -> shared::job_id::JobId {
        let job = shared::job::DesignJob {
            request_id: shared::job_id::JobId::new(),
            prompt: "a box 1x1x1".to_owned(),
            max_iterations: 1,
            enable_execution: false,
            output_formats: vec![shared::job::OutputFormat::Step],
            model: None,
            feedback: None,
            convert: None,
            earlier_feedback: Vec::new(),
            cache: false,
            priority: Default::default(),
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
        request_id: shared::job_id::JobId,
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

    /// The job's state as JSON, for a test of the wire format itself.
    pub async fn get_design(&self, id: &str) -> Value {
        let response = self.get(&format!("/api/v1/design/{id}")).await;
        assert_eq!(response.status(), 200);
        response.json().await.expect("a JSON status")
    }

    /// The job's state, read as the gateway's contract type.
    pub async fn design_status(&self, id: &str) -> DesignStatusResponse {
        self.design_status_as(id, None).await
    }

    /// [`Self::design_status`] asked with `api_key` (`x-api-key`), for apps with auth on.
    pub async fn design_status_as(&self, id: &str, api_key: Option<&str>) -> DesignStatusResponse {
        let mut request = self.client.get(self.url(&format!("/api/v1/design/{id}")));
        if let Some(key) = api_key {
            request = request.header("x-api-key", key);
        }
        let response = request.send().await.expect("GET the design");
        assert_eq!(response.status(), 200);
        response.json().await.expect("a DesignStatusResponse")
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
        let mut path = format!("/api/v1/design/{id}/export?formats={formats}");
        wait_until(
            "the conversion ending",
            Duration::from_secs(120),
            async || {
                let response = self.get(&path).await;
                match response.status().as_u16() {
                    200 => Some(response.json().await.expect("a JSON export listing")),
                    202 => {
                        let location = response.headers()["location"].to_str().unwrap().to_owned();
                        let body: Value = response.json().await.expect("a JSON 202 body");
                        assert_eq!(body["status"], "converting", "{body}");
                        assert_eq!(body["links"]["export"], location.as_str());
                        path = location;
                        None
                    }
                    other => panic!("export answered {other}: {:?}", response.text().await),
                }
            },
        )
        .await
    }

    /// The error code of a download that must fail with 404.
    pub async fn download_error(&self, id: &str, format: &str) -> String {
        let response = self
            .get(&format!("/api/v1/design/{id}/download/{format}"))
            .await;
        error_code(response, 404).await
    }

    /// Polls the job until it reaches a final state.
    pub async fn wait_for_end(&self, id: &str, limit: Duration) -> DesignStatusResponse {
        self.wait_for_end_as(id, None, limit).await
    }

    /// [`Self::wait_for_end`] asking with `api_key`, for apps with auth on.
    pub async fn wait_for_end_as(
        &self,
        id: &str,
        api_key: Option<&str>,
        limit: Duration,
    ) -> DesignStatusResponse {
        wait_until(&format!("job {id} ending"), limit, async || {
            let state = self.design_status_as(id, api_key).await;
            state.status.is_terminal().then_some(state)
        })
        .await
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
