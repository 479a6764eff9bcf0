//! The API docs page in headless Chromium (Debian's `chromium`, driven by playwright-core from
//! `browser-tests/`): it renders the design endpoints from the gateway alone, and the check
//! fails on a page whose assets do not load.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

use e2e::{AppOptions, spawn_app_with};

fn browser_tests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../browser-tests")
}

/// Runs `node browser-tests/<spec> <url>`; (passed, output).
fn run_spec(spec: &str, url: &str) -> (bool, String) {
    let dir = browser_tests_dir();
    assert!(
        dir.join("node_modules/playwright-core").exists()
            && PathBuf::from("/usr/bin/chromium").exists(),
        "the browser tests need chromium and browser-tests/node_modules: run `make test` (its \
         dependency step installs them)"
    );
    let output = Command::new("node")
        .arg(dir.join(spec))
        .arg(url)
        .current_dir(&dir)
        .output()
        .expect("node runs (make test installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_page_lists_the_design_endpoints_in_a_browser() {
    let app = spawn_app_with(AppOptions {
        workers: 0,
        ..AppOptions::default()
    })
    .await;
    let url = format!("{}/docs/", app.address);
    let (passed, output) = tokio::task::spawn_blocking(move || run_spec("docs.mjs", &url))
        .await
        .unwrap();
    assert!(passed, "{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_check_fails_when_the_assets_do_not_load() {
    let app = spawn_app_with(AppOptions {
        workers: 0,
        ..AppOptions::default()
    })
    .await;
    // The gateway's own page, served by a server whose every other route is missing: the
    // page's HTML arrives, its scripts and the OpenAPI document do not, so it stays blank.
    let html = reqwest::get(format!("{}/docs/", app.address))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/docs/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(&stream);
            let mut request_line = String::new();
            let _ = reader.read_line(&mut request_line);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let (status, body) = if request_line.starts_with("GET /docs/ ") {
                ("200 OK", html.as_str())
            } else {
                ("404 Not Found", "")
            };
            let mut stream = &stream;
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let (passed, output) = tokio::task::spawn_blocking(move || run_spec("docs.mjs", &url))
        .await
        .unwrap();
    assert!(!passed, "the check passed on a blank page: {output}");
    assert!(output.contains("FAIL"), "{output}");
}
