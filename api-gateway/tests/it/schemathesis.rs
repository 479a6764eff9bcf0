//! A short schemathesis run against a live gateway: no answer may be a 5xx or break the
//! OpenAPI document the gateway serves. `make test` installs schemathesis into `.venv`.

use std::path::PathBuf;

use e2e::spawn_gateway;

/// Examples per operation: about 330 requests in all, ~20 s on 2 cores.
const EXAMPLES_PER_OPERATION: &str = "20";
/// 5xx and anything the document does not allow: status codes, content types, headers,
/// bodies.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_headers_conformance,response_schema_conformance";

fn schemathesis() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/schemathesis");
    assert!(
        path.exists(),
        "{} is missing: run `make test` (its dependency step, scripts/install-schemathesis.sh, \
         installs schemathesis into the project's .venv)",
        path.display()
    );
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    let schemathesis = schemathesis();
    let app = spawn_gateway().await;
    let report_dir = tempfile::tempdir().expect("temp dir");
    let output = tokio::process::Command::new(&schemathesis)
        .arg("run")
        .arg(app.url("/openapi.json"))
        .args(["--checks", CHECKS])
        .args(["--max-examples", EXAMPLES_PER_OPERATION])
        .args(["--seed", "20261130"])
        // One worker: hypothesis drawing in threads trips CPython 3.11's AST builder
        // ("AST constructor recursion depth mismatch"), a tool error, not a finding.
        .args(["--workers", "1"])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--request-timeout", "10"])
        .args(["--no-color", "--warnings", "off"])
        .arg("--report-dir")
        .arg(report_dir.path())
        .env("SCHEMATHESIS_HOOKS", "")
        // Its example cache (`.schemathesis/`) goes with the reports, not into the tree.
        .current_dir(report_dir.path())
        .kill_on_drop(true)
        .output()
        .await
        .expect("schemathesis runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "schemathesis found failures against the live gateway:\n{stdout}\n{stderr}"
    );
}
