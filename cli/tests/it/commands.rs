//! Every command and exit code of `designer`, run as a user would run it.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use tempfile::TempDir;

use e2e::{AppOptions, TestApp, spawn_app, spawn_app_with};

/// Runs `designer` with a clean environment (its own config dir) against `url`.
pub struct Designer {
    home: TempDir,
    url: String,
    api_key: Option<String>,
}

impl Designer {
    pub fn new(url: &str) -> Self {
        Self {
            home: tempfile::tempdir().unwrap(),
            url: url.to_owned(),
            api_key: None,
        }
    }

    pub fn with_key(mut self, key: &str) -> Self {
        self.api_key = Some(key.to_owned());
        self
    }

    pub fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_designer"));
        command
            .env_clear()
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join("config"))
            .env("XDG_DATA_HOME", self.home.path().join("data"))
            .env("DESIGNER_URL", &self.url)
            .stdin(Stdio::null());
        if let Some(key) = &self.api_key {
            command.env("DESIGNER_API_KEY", key);
        }
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("designer runs")
    }

    /// Runs with `--json` and parses the last line of stdout.
    pub fn json(&self, args: &[&str]) -> (i32, Value) {
        let output = self.run(&[args, &["--json"]].concat());
        let stdout = String::from_utf8_lossy(&output.stdout);
        let last = stdout.lines().last().unwrap_or("null");
        let value = serde_json::from_str(last)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\nstderr: {}", stderr(&output)));
        (output.status.code().unwrap_or(-1), value)
    }

    pub fn write_config(&self, text: &str) {
        let dir = self.home.path().join("config").join("designer");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.toml"), text).unwrap();
    }
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

fn designer(app: &TestApp) -> std::sync::Arc<Designer> {
    std::sync::Arc::new(Designer::new(&app.address))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_wait_download_status_refine_feedback_and_list() {
    let app = spawn_app().await;
    let cli = designer(&app);
    let out = tempfile::tempdir().unwrap();
    let out_dir = out.path().to_str().unwrap().to_owned();

    let c = cli.clone();
    let submitted = blocking(move || {
        c.run(&[
            "submit",
            "a box 100 x 50 x 30 mm",
            "--wait",
            "--formats",
            "step,stl",
            "--out",
            &out_dir,
            "--json",
        ])
    })
    .await;
    assert_eq!(code(&submitted), 0, "{}", stderr(&submitted));
    // One JSON line for the design, then one for the files saved.
    let printed: Vec<Value> = String::from_utf8_lossy(&submitted.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let design = &printed[0];
    assert_eq!(printed[1].as_array().unwrap().len(), 2, "{}", printed[1]);
    let id = design["request_id"].as_str().unwrap().to_owned();
    assert_eq!(design["status"], "completed");
    for format in ["step", "stl"] {
        let file = out.path().join(format!("design-{id}.{format}"));
        assert!(std::fs::metadata(&file).unwrap().len() > 100, "{file:?}");
    }
    assert!(!out.path().join(format!("design-{id}.fcstd")).exists());

    let (c, i) = (cli.clone(), id.clone());
    let status_out = blocking(move || c.run(&["status", &i])).await;
    assert_eq!(code(&status_out), 0);
    let text = String::from_utf8_lossy(&status_out.stdout);
    assert!(text.contains(&id) && text.contains("completed"), "{text}");

    let dl = tempfile::tempdir().unwrap();
    let dl_dir = dl.path().to_str().unwrap().to_owned();
    let (c, i) = (cli.clone(), id.clone());
    let saved =
        blocking(move || c.run(&["download", &i, "--out", &dl_dir, "--formats", "stl"])).await;
    assert_eq!(code(&saved), 0, "{}", stderr(&saved));
    assert!(dl.path().join(format!("design-{id}.stl")).exists());

    let (c, i) = (cli.clone(), id.clone());
    let (rated, body) =
        blocking(move || c.json(&["feedback", &i, "thumbs_up", "--comment", "nice"])).await;
    assert_eq!(rated, 0, "{body}");
    let (c, i) = (cli.clone(), id.clone());
    let bad_rating = blocking(move || c.run(&["feedback", &i, "meh"])).await;
    assert_eq!(code(&bad_rating), 2, "an unknown rating is a usage error");

    let (c, i) = (cli.clone(), id.clone());
    let (refined, after) =
        blocking(move || c.json(&["refine", &i, "make it 60 mm tall", "--wait"])).await;
    assert_eq!(refined, 0, "{after}");
    assert_eq!(after["status"], "completed");
    assert_eq!(
        after["feedback"]["rating"], "thumbs_up",
        "feedback is kept on the record"
    );
    assert_eq!(after["feedback"]["comment"], "nice");

    let c = cli.clone();
    let (listed, page) = blocking(move || c.json(&["list", "--status", "completed"])).await;
    assert_eq!(listed, 0);
    assert_eq!(page["designs"][0]["request_id"], id.as_str());

    // Cancelling a design that has ended is refused: exit 1.
    let (c, i) = (cli.clone(), id.clone());
    let cancel = blocking(move || c.run(&["cancel", &i])).await;
    assert_eq!(code(&cancel), 1, "{}", stderr(&cancel));
    assert!(stderr(&cancel).contains("409"), "{}", stderr(&cancel));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_follows_the_stages_and_a_failed_design_exits_1() {
    let app = spawn_app().await;
    let cli = designer(&app);
    let c = cli.clone();
    let watched = blocking(move || {
        c.run(&[
            "submit",
            "a cylinder 40 mm in diameter and 25 mm tall",
            "--watch",
        ])
    })
    .await;
    let text = String::from_utf8_lossy(&watched.stdout);
    assert_eq!(code(&watched), 0, "{text}{}", stderr(&watched));
    for stage in ["stage: planning", "stage: generating", "completed"] {
        assert!(text.contains(stage), "{stage} missing from:\n{text}");
    }

    let c = cli.clone();
    let (failed, body) =
        blocking(move || c.json(&["submit", "a teapot with a curly spout", "--wait"])).await;
    assert_eq!(failed, 1, "{body}");

    // `watch` of a design that has ended replays its events and exits with its outcome.
    let c = cli.clone();
    let (_, page) = blocking(move || c.json(&["list", "--status", "failed"])).await;
    let failed_id = page["designs"][0]["request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let c = cli.clone();
    let (code_, events) = blocking(move || c.json(&["watch", &failed_id])).await;
    assert_eq!(code_, 1);
    assert_eq!(events["error"]["exit_code"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_a_pending_design_and_exit_codes_for_usage_connection_and_not_found() {
    // No worker: the design stays pending, so cancelling it succeeds.
    let app = spawn_app_with(AppOptions {
        workers: 0,
        ..AppOptions::default()
    })
    .await;
    let cli = designer(&app);
    let c = cli.clone();
    let (submitted, body) =
        blocking(move || c.json(&["submit", "a 20 mm cube", "--idempotency-key", "k1"])).await;
    assert_eq!(submitted, 0);
    let id = body["request_id"].as_str().unwrap().to_owned();
    let c = cli.clone();
    let (_, again) =
        blocking(move || c.json(&["submit", "a 20 mm cube", "--idempotency-key", "k1"])).await;
    assert_eq!(
        again["request_id"],
        id.as_str(),
        "the same key gives the same design"
    );
    let (c, i) = (cli.clone(), id.clone());
    let cancelled = blocking(move || c.run(&["cancel", &i])).await;
    assert_eq!(code(&cancelled), 0, "{}", stderr(&cancelled));
    let (c, i) = (cli.clone(), id.clone());
    assert_eq!(
        code(&blocking(move || c.run(&["status", &i])).await),
        1,
        "a cancelled design exits 1"
    );

    let c = cli.clone();
    let unknown =
        blocking(move || c.run(&["status", "00000000-0000-4000-8000-000000000000"])).await;
    assert_eq!(code(&unknown), 3);
    assert!(
        stderr(&unknown).contains("not found"),
        "{}",
        stderr(&unknown)
    );

    let c = cli.clone();
    assert_eq!(
        code(&blocking(move || c.run(&["status", "not-an-id"])).await),
        2
    );
    let c = cli.clone();
    assert_eq!(code(&blocking(move || c.run(&["frobnicate"])).await), 2);
    let c = cli.clone();
    let invalid = blocking(move || c.run(&["submit", "x", "--max-iterations", "99"])).await;
    assert_eq!(
        code(&invalid),
        1,
        "a refused submission: {}",
        stderr(&invalid)
    );
    assert!(
        stderr(&invalid).contains("max_iterations"),
        "{}",
        stderr(&invalid)
    );

    let port = e2e::free_port();
    let nobody = Designer::new(&format!("http://127.0.0.1:{port}"));
    let refused = blocking(move || nobody.run(&["list"])).await;
    assert_eq!(code(&refused), 3);
    assert!(
        stderr(&refused).contains("cannot reach"),
        "{}",
        stderr(&refused)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_precedence_auth_errors_and_rate_limit_message() {
    let app = spawn_app_with(AppOptions {
        workers: 0,
        env: vec![
            ("AUTH_ENABLED", "true".to_owned()),
            (
                "AUTH_API_KEYS",
                "alice:alice-secret-key-0123456789".to_owned(),
            ),
            ("RATE_LIMIT_REQUESTS", "2".to_owned()),
        ],
        ..AppOptions::default()
    })
    .await;
    // The file names the service and the key; the environment's URL wins over the file's.
    let cli = Designer::new(&app.address);
    cli.write_config("url = \"http://127.0.0.1:1\"\napi_key = \"alice-secret-key-0123456789\"\n");
    let cli = std::sync::Arc::new(cli);
    let c = cli.clone();
    let listed = blocking(move || c.run(&["list"])).await;
    assert_eq!(code(&listed), 0, "{}", stderr(&listed));
    // A flag wins over both.
    let c = cli.clone();
    let wrong = blocking(move || c.run(&["list", "--api-key", "wrong-key"])).await;
    assert_eq!(code(&wrong), 3);
    assert!(stderr(&wrong).contains("API key"), "{}", stderr(&wrong));
    let c = cli.clone();
    let bad_url = blocking(move || c.run(&["list", "--url", "ftp://x"])).await;
    assert_eq!(code(&bad_url), 2);

    // The write budget (2) runs out; reads go on.
    for _ in 0..2 {
        let c = cli.clone();
        assert_eq!(
            code(&blocking(move || c.run(&["submit", "a 20 mm cube"])).await),
            0
        );
    }
    let c = cli.clone();
    let limited = blocking(move || c.run(&["submit", "a 20 mm cube"])).await;
    assert_eq!(code(&limited), 1);
    assert!(
        stderr(&limited).contains("rate limited: retry in"),
        "{}",
        stderr(&limited)
    );
    let c = cli.clone();
    assert_eq!(
        code(&blocking(move || c.run(&["list"])).await),
        0,
        "reads have their own budget"
    );
    let keyed = Designer::new(&app.address).with_key("alice-secret-key-0123456789");
    assert_eq!(
        code(&blocking(move || keyed.run(&["list"])).await),
        0,
        "environment key"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interactive_mode_reads_commands_from_stdin_with_help_and_history() {
    let app = spawn_app_with(AppOptions {
        workers: 0,
        ..AppOptions::default()
    })
    .await;
    let cli = designer(&app);
    let output = blocking(move || {
        let mut child = cli
            .command()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(
                b"help\nsubmit \"a 20 mm cube\" --json\nlist\nstatus nope\nhistory\n!2\nexit\n",
            )
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(code(&output), 0, "{stdout}{}", stderr(&output));
    assert!(
        stdout.contains("history    the commands typed so far"),
        "help: {stdout}"
    );
    assert!(
        stdout.contains("\"status\":\"pending\""),
        "submit: {stdout}"
    );
    assert!(stdout.contains("a 20 mm cube"), "list: {stdout}");
    assert!(
        stderr(&output).contains("not a design id"),
        "errors go on: {}",
        stderr(&output)
    );
    assert!(
        stdout.contains("   1  submit \"a 20 mm cube\" --json"),
        "history: {stdout}"
    );
    assert!(stdout.contains("   2  list"), "history: {stdout}");
    // `!2` ran `list` again: the listing shows twice.
    assert_eq!(stdout.matches("a 20 mm cube").count(), 3, "{stdout}");
}
