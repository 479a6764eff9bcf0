//! The limits hold in every mode, also without bubblewrap: CPU, memory, processes.

use shared::job::OutputFormat;
use worker::agents::generator::script_for;
use worker::freecad::{ExecutionError, IsolationMode};
use worker::planner::OfflinePlanner;

use crate::helpers::runner_with;

#[tokio::test]
async fn without_bubblewrap_rlimits_still_stop_cpu_memory_and_fork_bombs() {
    let runner = runner_with(&[
        ("FREECAD_ISOLATION", "rlimits_only"),
        ("FREECAD_POOL_SIZE", "1"),
        ("FREECAD_CPU_SECONDS", "2"),
        ("FREECAD_MEMORY_MB", "2048"),
        ("FREECAD_MAX_PROCESSES", "64"),
        ("JOB_TIMEOUT_SECONDS", "60"),
    ])
    .await;
    assert_eq!(runner.isolation(), IsolationMode::RlimitsOnly);
    let good = script_for(&OfflinePlanner.plan("a box 1x2x3 mm").unwrap().part);

    let error = runner
        .run("while True:\n    pass\n", &[OutputFormat::Step])
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ExecutionError::Crashed { status, .. } if status.contains("CPU time limit")),
        "{error}"
    );
    runner.run(&good, &[OutputFormat::Step]).await.unwrap();

    let error = runner
        .run("x = bytearray(16 * 1024 ** 3)\n", &[OutputFormat::Step])
        .await
        .unwrap_err();
    assert_eq!(error.code(), "memory_exceeded", "{error}");
    runner.run(&good, &[OutputFormat::Step]).await.unwrap();

    // Full Python past the check, as a script through one of FreeCAD's side doors would get.
    let error = runner
        .run_unchecked_for_tests(
            "import os\nos.system('f(){ f|f& };f')\n",
            &[OutputFormat::Step],
        )
        .await
        .unwrap_err();
    assert_eq!(error.code(), "execution_failed", "{error}");
    assert!(error.to_string().contains("processes running"), "{error}");
    runner.run(&good, &[OutputFormat::Step]).await.unwrap();
}

#[tokio::test]
async fn isolation_is_bubblewrap_where_the_kernel_allows_it() {
    // `make test` installs bubblewrap; this fails loudly where it cannot run, rather than
    // letting the hostile-script suite pass in a weaker mode without anyone noticing.
    let runner = runner_with(&[
        ("FREECAD_ISOLATION", "bubblewrap"),
        ("FREECAD_POOL_SIZE", "0"),
    ])
    .await;
    assert_eq!(runner.isolation(), IsolationMode::Bubblewrap);
    assert!(runner.isolation_fallback_reason().is_none());
}
