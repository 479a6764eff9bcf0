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
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl TestRedis {
    pub fn start() -> Self {
        let mut redis = Self {
            child: None,
            port: free_port(),
            dir: tempfile::tempdir().expect("temp dir"),
        };
        redis.launch();
        redis
    }

    fn launch(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
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

    /// Starts it again on the same port, empty.
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
    pub client: reqwest::Client,
    pub redis: TestRedis,
    pub settings: Settings,
    pub worker_restarts: Vec<std::sync::Arc<std::sync::atomic::AtomicU32>>,
    /// Each worker's metrics listener (`/health`, `/ready`, `/metrics`).
    pub worker_metrics_ports: Vec<u16>,
    /// Each worker's FreeCAD runner, to look at its pool.
    pub worker_runners: Vec<std::sync::Arc<worker::freecad::FreecadRunner>>,
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
        ("WORKER_METRICS_ADDR".to_owned(), "127.0.0.1:0".to_owned()),
        ("PATH".to_owned(), std::env::var("PATH").unwrap_or_default()),
    ]);
    for (key, value) in options.env {
        env.insert(key.to_owned(), value);
    }
    let settings =
        Settings::load_from(Path::new("/nonexistent-config-dir"), env).expect("test settings");

    let shutdown = CancellationToken::new();
    let gateway = api_gateway::startup::Application::build(settings.clone())
        .await
        .expect("gateway builds");
    let address = format!("http://127.0.0.1:{}", gateway.port());
    tokio::spawn(gateway.run_until_stopped(shutdown.clone()));

    let mut worker_restarts = Vec::new();
    let mut worker_metrics_ports = Vec::new();
    let mut worker_runners = Vec::new();
    for _ in 0..options.workers {
        let mut worker = worker::startup::Application::build(settings.clone())
            .await
            .expect("worker builds");
        if let Some(scripts) = &options.scripts {
            worker.override_generated_scripts(scripts.clone());
        }
        worker_restarts.push(worker.restart_counter());
        worker_metrics_ports.push(worker.metrics_port());
        worker_runners.push(worker.runner());
        tokio::spawn(worker.run_until_stopped(shutdown.clone()));
    }

    TestApp {
        address,
        client: reqwest::Client::new(),
        redis,
        settings,
        worker_restarts,
        worker_metrics_ports,
        worker_runners,
        shutdown,
        _artifact_dir: artifact_dir,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub fn artifact_dir(&self) -> PathBuf {
        self.settings.artifact_dir.clone()
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

/// Asserts the JSON error body of DESIGN.md section 4 and returns its code.
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
