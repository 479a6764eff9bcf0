//! `make run` (scripts/run-local.sh) tells the truth: it refuses to start, and stops what it
//! started, when a port it needs is taken.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

use crate::helpers::free_port;

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
