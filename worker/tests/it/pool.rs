//! The warm pool: back to full size after a timeout or a crash, recycled after its share of
//! jobs, and the same geometry as cold runs over 100 jobs.

use shared::error_code::ErrorCode;
use std::path::Path;
use std::time::Duration;

use shared::job::OutputFormat;
use worker::agents::generator::script_for;
use worker::freecad::FreecadRunner;
use worker::offline_planner::OfflinePlanner;

use e2e::wait_until;

use crate::helpers::runner_with;

/// How long the pool may take to replace or recycle a process.
const POOL_LIMIT: Duration = Duration::from_secs(60);

async fn full_pool(runner: &FreecadRunner) -> Vec<u32> {
    let size = runner.pool_status().unwrap().size;
    wait_until("the pool is full", POOL_LIMIT, async || {
        let status = runner.pool_status().unwrap();
        (status.live == size && status.idle == size).then_some(())
    })
    .await;
    runner.pool_status().unwrap().pids
}

fn box_script() -> String {
    script_for(&OfflinePlanner.plan("a box 10x20x30 mm").unwrap().part)
}

#[tokio::test]
async fn after_a_timeout_or_a_crash_the_pool_is_back_to_full_size() {
    let runner = runner_with(&[("FREECAD_POOL_SIZE", "2"), ("JOB_TIMEOUT_SECONDS", "5")]).await;
    let mut pids = full_pool(&runner).await;
    // (script, error code, whether the warm process itself is replaced): a crash or a memory
    // overrun ends only the job's forked child; a timeout takes the whole process down.
    let hostile = [
        ("while True:\n    pass\n", ErrorCode::ExecutionTimeout, true),
        (
            "import os\nos.kill(0, 9)\n",
            ErrorCode::ExecutionCrashed,
            false,
        ),
        (
            "x = bytearray(64 * 1024 ** 3)\n",
            ErrorCode::MemoryExceeded,
            false,
        ),
    ];
    for (script, code, replaced) in hostile {
        let error = runner
            .run_unchecked_for_tests(script, &[OutputFormat::Step])
            .await
            .expect_err(script);
        assert_eq!(error.code(), code, "{error}");
        let before = pids.clone();
        if replaced {
            wait_until("the failed process is replaced", POOL_LIMIT, async || {
                let status = runner.pool_status().unwrap();
                (status.live == 2 && status.pids != before).then_some(())
            })
            .await;
        }
        pids = full_pool(&runner).await;
        let gone: Vec<_> = before.iter().filter(|p| !pids.contains(p)).collect();
        assert_eq!(gone.len(), usize::from(replaced), "{before:?} -> {pids:?}");
        for pid in gone {
            let proc = Path::new("/proc").join(pid.to_string());
            wait_until("the failed process is gone", POOL_LIMIT, async || {
                (!proc.exists()).then_some(())
            })
            .await;
        }
        runner
            .run(&box_script(), &[OutputFormat::Step])
            .await
            .expect("the pool serves the next job");
    }
}

#[tokio::test]
async fn a_process_is_recycled_after_its_share_of_jobs() {
    let runner = runner_with(&[("FREECAD_POOL_SIZE", "1"), ("FREECAD_POOL_MAX_JOBS", "3")]).await;
    let first = full_pool(&runner).await;
    for _ in 0..3 {
        runner
            .run(&box_script(), &[OutputFormat::Step])
            .await
            .unwrap();
    }
    wait_until("the process is recycled", POOL_LIMIT, async || {
        let status = runner.pool_status().unwrap();
        (status.live == 1 && status.pids != first).then_some(())
    })
    .await;
    runner
        .run(&box_script(), &[OutputFormat::Step])
        .await
        .expect("the new process serves jobs");
}

/// The predecessor's three formats (the mesh formats have their own test, `formats`).
const THREE: [OutputFormat; 3] = [OutputFormat::Step, OutputFormat::Stl, OutputFormat::Fcstd];

#[tokio::test]
async fn a_hundred_jobs_through_a_pool_of_two_match_a_cold_run() {
    let cold = runner_with(&[("FREECAD_POOL_SIZE", "0")]).await;
    let expected = cold
        .run(&box_script(), &THREE)
        .await
        .expect("the cold run")
        .geometry;
    let warm = runner_with(&[("FREECAD_POOL_SIZE", "2")]).await;
    for job in 0..100 {
        let outcome = warm
            .run(&box_script(), &THREE)
            .await
            .unwrap_or_else(|e| panic!("job {job}: {e}"));
        assert_eq!(outcome.geometry, expected, "job {job}");
        assert_eq!(outcome.files.len(), 3, "job {job}");
    }
}
