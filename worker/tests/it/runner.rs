//! Real `freecadcmd`: a script that works is measured and exported; one that fails or hangs
//! fails with a clear error, and the runner goes on. Cold (a process per job) and warm.

use shared::error_code::ErrorCode;
use std::time::{Duration, Instant};

use shared::job::OutputFormat;
use worker::agents::generator::script_for;
use worker::freecad::ExecutionError;
use worker::offline_planner::OfflinePlanner;

use crate::helpers::runner_with;

#[tokio::test]
async fn a_generated_box_is_measured_and_exported_cold_and_warm() {
    let script = script_for(&OfflinePlanner.plan("a box 12 x 34 x 56 mm").unwrap().part);
    for pool_size in ["0", "1"] {
        let runner = runner_with(&[("FREECAD_POOL_SIZE", pool_size)]).await;
        let outcome = runner
            .run(
                &script,
                &[OutputFormat::Step, OutputFormat::Stl, OutputFormat::Fcstd],
            )
            .await
            .expect("the box runs");
        assert!(outcome.geometry.valid);
        assert_eq!(outcome.geometry.solids, 1);
        assert!((outcome.geometry.volume - 12.0 * 34.0 * 56.0).abs() < 1e-6);
        assert_eq!(outcome.geometry.bbox, [12.0, 34.0, 56.0]);
        let report = &outcome.report;
        assert_eq!(report["geometry"]["faces"], 6);
        assert_eq!(report["geometry"]["edges"], 12);
        assert_eq!(report["geometry"]["shells"], 1);
        let centre: Vec<f64> =
            serde_json::from_value(report["geometry"]["center_of_mass"].clone()).unwrap();
        for (measured, exact) in centre.iter().zip([6.0, 17.0, 28.0]) {
            assert!((measured - exact).abs() < 1e-9, "{centre:?}");
        }
        assert_eq!(report["diff"]["added"], serde_json::json!(["Part"]));
        assert_eq!(outcome.files.len(), 3);
        let step = std::fs::read(&outcome.files[0].1).unwrap();
        assert!(step.starts_with(b"ISO-10303-21"));
        let fcstd = std::fs::read(&outcome.files[2].1).unwrap();
        assert!(fcstd.starts_with(b"PK"));
        let work_dir = outcome.work_dir.path().to_owned();
        drop(outcome);
        assert!(
            !work_dir.exists(),
            "the working directory is removed afterwards"
        );
    }
}

#[tokio::test]
async fn the_diff_between_iterations_names_added_removed_and_changed_objects() {
    let runner = runner_with(&[("FREECAD_POOL_SIZE", "1")]).await;
    let first = runner
        .run(
            "import FreeCAD as App\ndoc = App.ActiveDocument\n\
             a = doc.addObject('Part::Box', 'Base')\nb = doc.addObject('Part::Cylinder', 'Peg')\n",
            &[OutputFormat::Step],
        )
        .await
        .expect("the first iteration runs");
    assert_eq!(
        first.report["diff"]["added"],
        serde_json::json!(["Base", "Peg"])
    );
    let second = runner
        .run_iteration(
            "import FreeCAD as App\ndoc = App.ActiveDocument\n\
             a = doc.addObject('Part::Box', 'Base')\na.Length = 20\n\
             c = doc.addObject('Part::Sphere', 'Knob')\n",
            &[OutputFormat::Step],
            Some(&first.objects),
        )
        .await
        .expect("the second iteration runs");
    let diff = &second.report["diff"];
    assert_eq!(diff["added"], serde_json::json!(["Knob"]));
    assert_eq!(diff["removed"], serde_json::json!(["Peg"]));
    assert_eq!(diff["changed"], serde_json::json!(["Base"]));
}

#[tokio::test]
async fn a_failing_script_reports_the_last_line_of_the_traceback() {
    let runner = runner_with(&[("FREECAD_POOL_SIZE", "1")]).await;
    let error = runner
        .run(
            "import math\nx = math.sqrt(4)\nraise ValueError('the part is impossible')\n",
            &[OutputFormat::Step],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, ExecutionError::ScriptFailed { .. }),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.contains("ValueError: the part is impossible"),
        "{message}"
    );
    assert!(message.contains("line 3"), "{message}");
    assert_eq!(error.code(), ErrorCode::ExecutionFailed);
}

#[tokio::test]
async fn a_script_that_makes_no_solid_fails_with_no_geometry() {
    let runner = runner_with(&[("FREECAD_POOL_SIZE", "1")]).await;
    for script in [
        "x = 1\n",
        "import FreeCAD as App\nimport Part\n\
         App.ActiveDocument.addObject('Part::Feature', 'Wire').Shape = \
         Part.makeLine(App.Vector(0, 0, 0), App.Vector(1, 0, 0))\n",
    ] {
        let error = runner.run(script, &[OutputFormat::Step]).await.unwrap_err();
        assert_eq!(error.code(), ErrorCode::NoGeometry, "{error}");
        assert!(error.to_string().contains("made no solid"), "{error}");
    }
}

#[tokio::test]
async fn a_hanging_script_is_stopped_at_the_timeout_and_the_runner_goes_on() {
    for pool_size in ["0", "1"] {
        let runner = runner_with(&[
            ("FREECAD_POOL_SIZE", pool_size),
            ("JOB_TIMEOUT_SECONDS", "4"),
        ])
        .await;
        let started = Instant::now();
        let error = runner
            .run("while True:\n    pass\n", &[OutputFormat::Step])
            .await
            .unwrap_err();
        assert!(matches!(error, ExecutionError::Timeout(_)), "{error}");
        assert_eq!(error.code(), ErrorCode::ExecutionTimeout);
        assert!(started.elapsed() < Duration::from_secs(60));

        let script = script_for(
            &OfflinePlanner
                .plan("a cylinder 2 mm in diameter, 1 mm tall")
                .unwrap()
                .part,
        );
        assert!(runner.run(&script, &[OutputFormat::Stl]).await.is_ok());
    }
}
