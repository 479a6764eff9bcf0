//! The page at `/` end to end in Debian's headless Chromium, driven by Playwright
//! (`browser-tests/page.mjs`) against a real gateway with auth on, Redis and a worker with
//! FreeCAD: type a prompt, see `completed`, the thumbnail, the 3D view drawn, download a file.
//! The run's screenshot becomes `docs/page.png` (shown in the README).

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use e2e::{AppOptions, spawn_app_with};

const API_KEY: &str = "browser-test-key-123";
const PROMPT: &str =
    "a flange 120 mm OD, 60 mm bore, 12 mm thick with 6 holes of 10 mm on a 90 mm pitch circle";

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_designs_a_part_in_headless_chromium() {
    let root = repo_root();
    let spec = root.join("browser-tests/page.mjs");
    let playwright = root.join("browser-tests/node_modules/playwright-core");
    for (what, present) in [
        (
            "/usr/bin/chromium",
            std::path::Path::new("/usr/bin/chromium").exists(),
        ),
        ("node", which("node")),
        (
            "browser-tests/node_modules/playwright-core",
            playwright.exists(),
        ),
    ] {
        assert!(
            present,
            "{what} is missing: run `make test` (its dependency step installs it)"
        );
    }
    let app = spawn_app_with(AppOptions {
        env: vec![
            ("AUTH_ENABLED", "true".to_owned()),
            ("AUTH_API_KEYS", format!("browser:{API_KEY}")),
        ],
        ..AppOptions::default()
    })
    .await;
    let screenshot = root.join("docs/page.png");
    std::fs::create_dir_all(root.join("docs")).unwrap();
    let run = tokio::process::Command::new("node")
        .arg(&spec)
        .current_dir(root.join("browser-tests"))
        .env("BASE_URL", &app.address)
        .env("API_KEY", API_KEY)
        .env("SCREENSHOT", &screenshot)
        .env("PROMPT", PROMPT)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(240), run)
        .await
        .expect("the browser test finishes")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the browser test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let findings: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("no findings line ({e}): {stdout}"));

    assert_eq!(findings["problems"], serde_json::json!([]), "{findings}");
    assert!(
        findings["examples"].as_u64().unwrap() >= 10,
        "the catalogue's examples: {findings}"
    );
    assert!(
        findings["suggested"].as_str().unwrap().contains("mm"),
        "a click fills the prompt"
    );
    assert_eq!(findings["status"], "completed");
    assert!(
        findings["logLines"].as_u64().unwrap() >= 4,
        "live progress: {findings}"
    );
    assert!(
        findings["thumbnail"][0].as_u64().unwrap() >= 512,
        "{findings}"
    );
    let canvas = &findings["canvas"];
    let coverage = canvas["coverage"].as_f64().unwrap();
    assert!(
        (0.05..0.9).contains(&coverage),
        "the 3D view drew the part: {canvas}"
    );
    assert!(
        canvas["shades"].as_u64().unwrap() > 4,
        "shaded, not flat: {canvas}"
    );
    let geometry = findings["geometry"].as_str().unwrap();
    assert!(
        geometry.contains("120.00 × 120.00 × 12.00 mm"),
        "{geometry}"
    );
    let download = &findings["download"];
    assert_eq!(download["name"], "design.stl");
    let triangles = download["triangles"].as_u64().unwrap();
    assert_eq!(download["bytes"].as_u64().unwrap(), 84 + 50 * triangles);
    assert_eq!(
        canvas["triangles"].as_u64().unwrap(),
        triangles,
        "the view shows that mesh"
    );
    assert!(screenshot.is_file());
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}
