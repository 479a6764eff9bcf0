//! Real `freecadcmd`: a script that works is measured and exported; one that fails or hangs
//! fails with a clear error, and the runner goes on.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use shared::job::OutputFormat;
use shared::settings::Settings;
use worker::agents::generator::script_for;
use worker::freecad::{ExecutionError, FreecadCommand, FreecadRunner};
use worker::planner::OfflinePlanner;

fn runner(timeout: Duration) -> FreecadRunner {
    let env = HashMap::from([("PATH".to_owned(), std::env::var("PATH").unwrap_or_default())]);
    let settings = Settings::load_from(Path::new("/nonexistent-config-dir"), env).unwrap();
    let command = FreecadCommand::locate(&settings, settings.path.as_deref())
        .expect("freecadcmd must be installed (make test installs it)");
    FreecadRunner::new(command, timeout)
}

#[tokio::test]
async fn a_generated_box_is_measured_and_exported() {
    let script = script_for(&OfflinePlanner.plan("a box 12 x 34 x 56 mm").unwrap().part);
    let outcome = runner(Duration::from_secs(60))
        .run(&script, &OutputFormat::ALL)
        .await
        .expect("the box runs");
    assert!(outcome.geometry.valid);
    assert_eq!(outcome.geometry.solids, 1);
    assert!((outcome.geometry.volume - 12.0 * 34.0 * 56.0).abs() < 1e-6);
    assert_eq!(outcome.geometry.bbox, [12.0, 34.0, 56.0]);
    assert_eq!(outcome.report["geometry"]["faces"], 6);
    assert_eq!(outcome.files.len(), 3);
    let step = std::fs::read(&outcome.files[0].1).unwrap();
    assert!(step.starts_with(b"ISO-10303-21"));
    let work_dir = outcome.work_dir.path().to_owned();
    drop(outcome);
    assert!(
        !work_dir.exists(),
        "the working directory is removed afterwards"
    );
}

#[tokio::test]
async fn a_failing_script_reports_the_python_error() {
    let error = runner(Duration::from_secs(60))
        .run(
            "raise ValueError('the part is impossible')\n",
            &[OutputFormat::Step],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, ExecutionError::ScriptFailed { .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains("the part is impossible"),
        "{error}"
    );
    assert_eq!(error.code(), "execution_failed");
}

#[tokio::test]
async fn a_script_that_makes_nothing_fails_clearly() {
    let error = runner(Duration::from_secs(60))
        .run("x = 1\n", &[OutputFormat::Step])
        .await
        .unwrap_err();
    assert!(error.to_string().contains("made no shape"), "{error}");
}

#[tokio::test]
async fn a_hanging_script_is_stopped_at_the_timeout_and_the_runner_goes_on() {
    let runner = runner(Duration::from_secs(3));
    let started = Instant::now();
    let error = runner
        .run("while True:\n    pass\n", &[OutputFormat::Step])
        .await
        .unwrap_err();
    assert!(matches!(error, ExecutionError::Timeout(_)), "{error}");
    assert_eq!(error.code(), "execution_timeout");
    assert!(started.elapsed() < Duration::from_secs(30));

    let script = script_for(
        &OfflinePlanner
            .plan("a cylinder 2 mm in diameter, 1 mm tall")
            .unwrap()
            .part,
    );
    assert!(runner.run(&script, &[OutputFormat::Stl]).await.is_ok());
}
