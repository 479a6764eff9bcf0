//! `make run` (scripts/run-local.sh) tells the truth: it refuses to start, and stops what it
//! started, when a port it needs is taken.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

use e2e::free_port;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The gateway and worker binaries cargo built for the tests (next to `designer`).
fn bin_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_designer"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn run_local(envs: &[(&str, String)]) -> (i32, String) {
    let bins = bin_dir();
    for binary in ["api-gateway", "worker"] {
        assert!(
            bins.join(binary).exists(),
            "{} missing: build with `cargo build --workspace` (make test does)",
            bins.join(binary).display()
        );
    }
    let run_dir = tempfile::tempdir().unwrap();
    let output = Command::new("bash")
        .arg(repo_root().join("scripts/run-local.sh"))
        .env("RUN_SKIP_BUILD", "1")
        .env("RUN_BIN_DIR", &bins)
        .env("RUN_DIR", run_dir.path())
        .env("RUN_REDIS_DIR", run_dir.path().join("redis"))
        .env("RUST_BACKTRACE", "0")
        .env_remove("REDIS_URL")
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("bash runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

/// Whether anything still listens on `port` (what the script started must be gone).
fn listening(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

#[test]
fn make_run_refuses_a_taken_gateway_port_and_stops_its_redis() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let gateway_port = taken.local_addr().unwrap().port();
    let redis_port = free_port();
    let (code, output) = run_local(&[
        ("GATEWAY_ADDR", format!("127.0.0.1:{gateway_port}")),
        ("RUN_REDIS_PORT", redis_port.to_string()),
        ("WORKERS", "1".to_owned()),
        ("WORKER_METRICS_PORTS", free_port().to_string()),
    ]);
    assert_ne!(code, 0, "{output}");
    assert!(
        output.contains("the gateway"),
        "names what failed: {output}"
    );
    assert!(!output.contains("Running:"), "{output}");
    assert!(!listening(redis_port), "its Redis was stopped: {output}");
}

#[test]
fn make_run_refuses_a_redis_port_that_another_server_holds() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let (code, output) = run_local(&[
        ("GATEWAY_ADDR", format!("127.0.0.1:{}", free_port())),
        ("RUN_REDIS_PORT", port.to_string()),
    ]);
    assert_ne!(code, 0, "{output}");
    assert!(output.contains("Redis"), "{output}");
}

/// The stack `make run` starts, running until the guard stops it (SIGTERM to the script, which
/// stops what it started).
struct RunningStack {
    script: std::process::Child,
    gateway: String,
    metrics: String,
    _dir: tempfile::TempDir,
}

impl RunningStack {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (gateway_port, metrics_port) = (free_port(), free_port());
        let mut script = Command::new("bash")
            .arg(repo_root().join("scripts/run-local.sh"))
            .env("RUN_SKIP_BUILD", "1")
            .env("RUN_BIN_DIR", bin_dir())
            .env("RUN_DIR", dir.path().join("run"))
            .env("RUN_REDIS_DIR", dir.path().join("redis"))
            .env("RUN_REDIS_PORT", free_port().to_string())
            .env("RUN_WORKER_HOME", dir.path().join("worker-home"))
            .env("GATEWAY_ADDR", format!("127.0.0.1:{gateway_port}"))
            .env("WORKERS", "1")
            .env("WORKER_METRICS_PORTS", metrics_port.to_string())
            .env("FREECAD_POOL_SIZE", "1")
            .env_remove("REDIS_URL")
            .env_remove("ARTIFACT_DIR")
            .env_remove("ARTIFACT_STORE_URL")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("bash runs");
        let stdout = script.stdout.take().unwrap();
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
        let mut seen = String::new();
        loop {
            let Some(Ok(line)) = lines.next() else {
                panic!("make run ended before it was running: {seen}");
            };
            seen.push_str(&line);
            seen.push('\n');
            if line.starts_with("Running:") {
                break;
            }
        }
        // Keep draining what the script prints so that it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        if is_root() {
            assert!(
                seen.contains("The workers run as the unprivileged user designer"),
                "{seen}"
            );
        }
        Self {
            script,
            gateway: format!("http://127.0.0.1:{gateway_port}"),
            metrics: format!("http://127.0.0.1:{metrics_port}"),
            _dir: dir,
        }
    }
}

impl Drop for RunningStack {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.script.id().to_string()])
            .status();
        let _ = self.script.wait();
    }
}

fn is_root() -> bool {
    real_uid(&std::fs::read_to_string("/proc/self/status").unwrap()) == Some(0)
}

#[test]
fn make_run_as_root_drops_the_worker_to_an_unprivileged_user_that_still_delivers_files() {
    let stack = RunningStack::start();
    let metrics = Command::new("curl")
        .args(["-fsS", "-m", "10", &format!("{}/metrics", stack.metrics)])
        .output()
        .unwrap();
    let metrics = String::from_utf8_lossy(&metrics.stdout);
    assert!(
        metrics
            .lines()
            .any(|line| line.starts_with("worker_running_as_root") && line.ends_with(" 0")),
        "the worker is not root: {metrics}"
    );

    if is_root() {
        let worker = stack._dir.path().join("worker-home/bin/worker");
        let uids = process_uids(&worker);
        assert!(
            !uids.is_empty() && uids.iter().all(|uid| *uid != 0),
            "the worker ({}) runs with uids {uids:?}",
            worker.display()
        );
    }

    // A whole design through the dropped worker: its files reach the user.
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_designer"))
        .args([
            "submit",
            "a box 20 x 10 x 5 mm",
            "--wait",
            "--json",
            "--out",
        ])
        .arg(out.path())
        .env("DESIGNER_URL", &stack.gateway)
        .env_remove("DESIGNER_API_KEY")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{text}");
    // `--json` prints the design first; `--out` saves `design-{id}.{format}`.
    let design: serde_json::Value = serde_json::from_str(
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let id = design["request_id"].as_str().unwrap();
    let content = std::fs::read_to_string(out.path().join(format!("design-{id}.step")))
        .unwrap_or_else(|error| panic!("no STEP file downloaded ({error}): {text}"));
    assert!(content.starts_with("ISO-10303-21;"), "{content:.200}");
}

/// The real uids of the running processes whose executable is `program`.
fn process_uids(program: &std::path::Path) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|entry| {
            std::fs::read_link(entry.path().join("exe")).is_ok_and(|exe| exe == program)
        })
        .filter_map(|entry| std::fs::read_to_string(entry.path().join("status")).ok())
        .filter_map(|status| real_uid(&status))
        .collect()
}

/// The real uid on the `Uid:` line of a `/proc/<pid>/status` text.
fn real_uid(status: &str) -> Option<u32> {
    let line = status.lines().find(|line| line.starts_with("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
