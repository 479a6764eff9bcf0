//! Hostile scripts through the whole job path (POST, queue, worker, FreeCAD in its sandbox),
//! each as if the generator had written it: every one fails its job with a clear error,
//! leaves nothing on the host, and the worker serves the next good job.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use shared::job::DesignStatus;

use e2e::{AppOptions, TestApp, spawn_app_with, through_freecad_importer};

const JOB_LIMIT: Duration = Duration::from_secs(120);

/// Full Python inside the sandbox, past the static check (the test seam's unchecked line):
/// what a script gets through any side door the check misses. Runs `shell_command` and fails
/// the job if it fails; only the sandbox stands between it and the host.
fn past_the_check(shell_command: &str) -> String {
    format!(
        "{}import subprocess\nsubprocess.run({}, shell=True, check=True)\n",
        worker::jobs::UNCHECKED_OVERRIDE_LINE,
        serde_json::to_string(shell_command).unwrap()
    )
}

struct Hostile {
    what: &'static str,
    script: String,
    /// The job's `error_code`; `None` where more than one failure is a fair answer.
    code: Option<&'static str>,
    /// Part of the job's `error_message`.
    message: &'static str,
}

/// Files a script might have written, anywhere near its folder or in the host's `/tmp`.
fn escaped_files(name: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![std::env::temp_dir(), PathBuf::from("/")];
    if let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) {
        dirs.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
    }
    for dir in dirs {
        let candidate = dir.join(name);
        if candidate.exists() {
            found.push(candidate);
        }
    }
    found
}

async fn assert_a_good_job_completes(app: &TestApp) {
    let id = app.submit(&json!({ "prompt": "a box 10x20x30" })).await;
    let status = app.wait_for_end(&id, JOB_LIMIT).await;
    assert_eq!(
        status.status,
        DesignStatus::Completed,
        "the next good job: {status:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_scripts_fail_their_jobs_touch_nothing_and_the_worker_goes_on() {
    let marker = format!("designer-escape-{}", uuid::Uuid::new_v4().simple());
    let tmp_marker = Path::new("/tmp").join(&marker);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let tmp = tmp_marker.display();
    let hostile = vec![
        Hostile {
            what: "os.system",
            script: format!("import os\nos.system('touch {tmp}')\n"),
            code: Some("script_rejected"),
            message: "line 1: import of 'os'",
        },
        Hostile {
            what: "__import__",
            script: format!("__import__('subprocess').run(['touch', '{tmp}'])\n"),
            code: Some("script_rejected"),
            message: "'__import__'",
        },
        Hostile {
            what: "open",
            script: format!("f = open('{tmp}', 'w')\nf.write('x')\n"),
            code: Some("script_rejected"),
            message: "'open'",
        },
        Hostile {
            what: "getattr on builtins",
            script: "imp = getattr(__builtins__, '__im' + 'port__')\nimp('os').system('true')\n"
                .to_owned(),
            code: Some("script_rejected"),
            message: "'getattr'",
        },
        Hostile {
            what: "a write to ../ through FreeCAD's own export",
            script: format!(
                "import Part\nbox = Part.makeBox(1, 1, 1)\nbox.exportStep('../{marker}')\n\
                 box.exportStep('../../{marker}')\nbox.exportStep('{tmp}')\n"
            ),
            code: None,
            message: "",
        },
        Hostile {
            what: "a socket, checked",
            script: format!("import socket\ns = socket.create_connection(('127.0.0.1', {port}))\n"),
            code: Some("script_rejected"),
            message: "import of 'socket'",
        },
        Hostile {
            what: "a socket, through a path the check misses",
            script: past_the_check(&format!(
                "python3 -c 'import socket;socket.create_connection((\"127.0.0.1\",{port}),2)'"
            )),
            code: Some("execution_failed"),
            message: "",
        },
        Hostile {
            what: "an endless loop",
            script: "while True:\n    pass\n".to_owned(),
            // The job's own limit (JOB_TIMEOUT_SECONDS) ends it; dropping the run kills FreeCAD.
            code: Some("timeout"),
            message: "did not finish",
        },
        Hostile {
            what: "a memory bomb",
            script: "blocks = []\nwhile True:\n    blocks.append(bytearray(256 * 1024 ** 2))\n"
                .to_owned(),
            code: Some("memory_exceeded"),
            message: "out of memory",
        },
        Hostile {
            what: "a fork bomb through a path the check misses",
            // A classic bomb dies out where forks fail; the sleepers keep the sandbox full.
            script: past_the_check("(while :; do sleep 60 & done) & f(){ f|f& };f"),
            // Whether the leftover processes or the wall clock stops it first depends on the
            // machine's load; either way the job fails and the sandbox goes with it.
            code: None,
            message: "",
        },
        Hostile {
            what: "a script that kills its own process, checked",
            script: "import os\nos.kill(os.getpid(), 9)\n".to_owned(),
            code: Some("script_rejected"),
            message: "import of 'os'",
        },
        Hostile {
            what: "a script that kills its own process, through a path the check misses",
            script: past_the_check("kill -9 0"),
            code: Some("execution_crashed"),
            message: "SIGKILL",
        },
        Hostile {
            what: "FreeCAD's preference side door (a converter program), checked",
            script: through_freecad_importer("touch x"),
            code: Some("script_rejected"),
            message: "'ParamGet'",
        },
        Hostile {
            what: "a Python exception",
            script: "import math\nraise ValueError('the part is impossible')\n".to_owned(),
            code: Some("execution_failed"),
            message: "ValueError: the part is impossible (design.py line 2)",
        },
        Hostile {
            what: "no solid",
            script: "import math\nx = math.pi\n".to_owned(),
            code: Some("no_geometry"),
            message: "made no solid",
        },
    ];

    // Test seam: the prompt "a box 1x1x{n}" runs hostile script n.
    let scripts: HashMap<String, String> = hostile
        .iter()
        .enumerate()
        .map(|(n, h)| (format!("a box 1x1x{}", n + 1), h.script.clone()))
        .collect();
    let app = spawn_app_with(AppOptions {
        env: vec![
            ("FREECAD_ISOLATION", "bubblewrap".to_owned()),
            ("FREECAD_POOL_SIZE", "2".to_owned()),
            ("FREECAD_MEMORY_MB", "2048".to_owned()),
            ("JOB_TIMEOUT_SECONDS", "15".to_owned()),
            ("WORKER_CONCURRENCY", "1".to_owned()),
        ],
        scripts: Some(Arc::new(move |job: &shared::job::DesignJob| {
            scripts.get(&job.prompt).cloned()
        })),
        ..AppOptions::default()
    })
    .await;

    for (n, case) in hostile.iter().enumerate() {
        let id = app
            .submit(&json!({ "prompt": format!("a box 1x1x{}", n + 1) }))
            .await;
        let status = app.wait_for_end(&id, JOB_LIMIT).await;
        let what = case.what;
        assert_eq!(status.status, DesignStatus::Failed, "{what}: {status:?}");
        if let Some(code) = case.code {
            assert_eq!(
                status.error_code.as_deref(),
                Some(code),
                "{what}: {status:?}"
            );
        }
        let message = status.error_message.as_deref().unwrap_or_default();
        assert!(!message.is_empty(), "{what}: a clear error");
        assert!(message.contains(case.message), "{what}: {message}");
        assert!(status.artifacts.is_empty(), "{what}");

        assert!(
            !tmp_marker.exists(),
            "{what} wrote {}",
            tmp_marker.display()
        );
        assert_eq!(escaped_files(&marker), Vec::<PathBuf>::new(), "{what}");
        match listener.accept() {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            other => panic!("{what}: a connection reached the host: {other:?}"),
        }
        assert_a_good_job_completes(&app).await;
    }

    let runner = &app.worker_runners[0];
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while runner.pool_status().unwrap().live != 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the pool is not full again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_reports_its_isolation_on_ready_and_in_metrics() {
    let app = spawn_app_with(AppOptions {
        env: vec![("FREECAD_POOL_SIZE", "1".to_owned())],
        ..AppOptions::default()
    })
    .await;
    let base = format!("http://127.0.0.1:{}", app.worker_metrics_ports[0]);
    let runner = &app.worker_runners[0];
    let mode = runner.isolation().as_str();

    let health = app
        .client
        .get(format!("{base}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let ready = app
        .client
        .get(format!("{base}/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["redis"], "ok", "{ready}");
    assert_eq!(ready["isolation"], mode, "{ready}");
    assert_eq!(ready["freecad_pool"]["size"], 1, "{ready}");
    // bubblewrap is the default: nothing weakened, and the worker's user is reported.
    assert_eq!(mode, "bubblewrap");
    assert_eq!(ready["sandbox_weakened"], false, "{ready}");
    let root = ready["worker_running_as_root"]
        .as_bool()
        .expect("worker_running_as_root in /ready");

    let metrics = app
        .client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let gauge = format!("freecad_isolation_mode{{mode=\"{mode}\"}} 1");
    assert!(metrics.contains(&gauge), "{metrics}");
    assert!(
        metrics.contains("\nfreecad_sandbox_weakened 0\n"),
        "{metrics}"
    );
    let as_root = format!("\nworker_running_as_root {}\n", u8::from(root));
    assert!(metrics.contains(&as_root), "{metrics}");
}
