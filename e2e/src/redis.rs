//! A private `redis-server` per test.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// A private `redis-server`, killed when dropped. Never the one on 6379.
pub struct TestRedis {
    child: Option<Child>,
    port: u16,
    dir: TempDir,
    /// Every write synced to the append-only file, so a kill loses nothing.
    append_only: bool,
}

/// A port nobody listens on right now (the OS's choice for port 0).
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

    pub fn client(&self) -> redis::Client {
        redis::Client::open(self.url()).expect("a Redis URL")
    }

    /// For looking at or setting up keys.
    pub fn connection(&self) -> redis::Connection {
        self.client()
            .get_connection()
            .expect("a connection to the test Redis")
    }

    /// What code under test runs on.
    pub async fn async_connection(&self) -> redis::aio::MultiplexedConnection {
        self.client()
            .get_multiplexed_async_connection()
            .await
            .expect("a connection to the test Redis")
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
