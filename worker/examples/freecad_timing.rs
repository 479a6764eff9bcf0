//! FreeCAD time per box job: cold (a fresh sandboxed process per job), warm pool, and a bare
//! warm `exec` of the same script in one plain FreeCAD process (no check, no sandbox, no IPC).
//!
//! `cargo run --release -p worker --example freecad_timing [jobs]` (default 100 jobs each).

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use shared::job::OutputFormat;
use shared::settings::Settings;
use worker::agents::generator::script_for;
use worker::freecad::{FreecadCommand, FreecadRunner, RunnerConfig};
use worker::offline_planner::OfflinePlanner;

/// The bare baseline: the same document work as the runner (new document, exec, recompute,
/// the three exports, close), timed inside one FreeCAD process.
const BARE_PY: &str = r#"
import json, os, time
import FreeCAD as App, Part, Mesh
script = open("design.py").read()
code = compile(script, "design.py", "exec")
jobs = int(open("jobs").read())
times = []
for i in range(jobs + 1):
    start = time.perf_counter()
    doc = App.newDocument("Design")
    App.setActiveDocument(doc.Name)
    exec(code, {"__name__": "__design__"})
    doc.recompute()
    objs = [o for o in doc.Objects if hasattr(o, "Shape") and not o.InList]
    Part.export(objs, "design.step")
    Mesh.export(objs, "design.stl")
    doc.saveAs(os.path.abspath("design.FCStd"))
    App.closeDocument(doc.Name)
    if i > 0:  # the first one warms the process up, as the pool's start does
        times.append(time.perf_counter() - start)
json.dump(times, open("times.json", "w"))
"#;

fn settings(pool_size: &str) -> Settings {
    let env = HashMap::from([
        ("PATH".to_owned(), std::env::var("PATH").unwrap_or_default()),
        ("FREECAD_POOL_SIZE".to_owned(), pool_size.to_owned()),
        ("FREECAD_POOL_MAX_JOBS".to_owned(), "1000".to_owned()),
    ]);
    Settings::load_from(Path::new("/nonexistent-config-dir"), env).expect("settings")
}

async fn runner(pool_size: &str) -> FreecadRunner {
    let settings = settings(pool_size);
    let command = FreecadCommand::locate(&settings, settings.freecad.search_path.as_deref())
        .expect("freecadcmd");
    FreecadRunner::start(
        command,
        RunnerConfig::from_settings(&settings),
        settings.freecad.search_path.as_deref(),
    )
    .await
    .expect("runner")
}

async fn time_jobs(runner: &FreecadRunner, script: &str, jobs: usize) -> Vec<Duration> {
    let mut times = Vec::with_capacity(jobs);
    for _ in 0..jobs {
        let started = Instant::now();
        runner
            .run(
                script,
                &[OutputFormat::Step, OutputFormat::Stl, OutputFormat::Fcstd],
            )
            .await
            .expect("the box job runs");
        times.push(started.elapsed());
    }
    times
}

fn bare_exec(script: &str, jobs: usize) -> Vec<Duration> {
    let settings = settings("0");
    let command = FreecadCommand::locate(&settings, settings.freecad.search_path.as_deref())
        .expect("freecadcmd");
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("design.py"), script).unwrap();
    std::fs::write(dir.path().join("bare.py"), BARE_PY).unwrap();
    std::fs::write(dir.path().join("jobs"), jobs.to_string()).unwrap();
    let status = std::process::Command::new(&command.program)
        .args(&command.leading_args)
        .arg("bare.py")
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .status()
        .expect("freecadcmd runs");
    assert!(status.success(), "the bare run failed: {status}");
    let times: Vec<f64> =
        serde_json::from_slice(&std::fs::read(dir.path().join("times.json")).unwrap()).unwrap();
    times.into_iter().map(Duration::from_secs_f64).collect()
}

/// (median, p95) in milliseconds.
fn summary(mut times: Vec<Duration>) -> (f64, f64) {
    times.sort();
    let at = |q: f64| {
        let index = ((times.len() as f64 - 1.0) * q).round() as usize;
        times[index].as_secs_f64() * 1000.0
    };
    (at(0.5), at(0.95))
}

#[tokio::main]
async fn main() {
    let jobs: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse().expect("a number of jobs"))
        .unwrap_or(100);
    let script = script_for(&OfflinePlanner.plan("a box 100x50x30 mm").unwrap().part);

    let cold = runner("0").await;
    let isolation = cold.isolation().as_str();
    let cold_times = time_jobs(&cold, &script, jobs).await;

    let warm = runner("2").await;
    // Waits for the pool to be started: the pool's start-up is not a job's time.
    while warm.pool_status().is_some_and(|s| s.idle < s.size) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let warm_times = time_jobs(&warm, &script, jobs).await;
    let bare_times = tokio::task::spawn_blocking(move || bare_exec(&script, jobs))
        .await
        .unwrap();

    let (cold_median, cold_p95) = summary(cold_times);
    let (warm_median, warm_p95) = summary(warm_times);
    let (bare_median, bare_p95) = summary(bare_times);
    println!(
        "FreeCAD time per box job (100x50x30 mm, STEP + STL + FCStd), {jobs} jobs each, isolation {isolation}"
    );
    println!("| mode | median | p95 |");
    println!("|---|---|---|");
    println!(
        "| cold: fresh sandboxed process per job (FREECAD_POOL_SIZE=0) | {cold_median:.1} ms | {cold_p95:.1} ms |"
    );
    println!("| warm pool (FREECAD_POOL_SIZE=2) | {warm_median:.1} ms | {warm_p95:.1} ms |");
    println!(
        "| bare warm exec in one plain FreeCAD process | {bare_median:.1} ms | {bare_p95:.1} ms |"
    );
    println!(
        "warm / bare: {:.2}x (median), {:.2}x (p95); cold / warm: {:.1}x (median)",
        warm_median / bare_median,
        warm_p95 / bare_p95,
        cold_median / warm_median
    );
}
