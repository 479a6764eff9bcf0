//! One job, one interpreter: what a hostile script does (run as full Python, past the check)
//! never reaches another job, and its files leave the sandbox only as what they are.

use shared::job::OutputFormat;
use worker::agents::generator::script_for;
use worker::freecad::FreecadRunner;
use worker::offline_planner::OfflinePlanner;

use crate::helpers::runner_with;

fn box_100x50x30() -> String {
    script_for(&OfflinePlanner.plan("a box 100x50x30 mm").unwrap().part)
}

/// The next tenant's ordinary box comes out as that box, in its record and in its STEP file.
async fn assert_honest_box(runner: &FreecadRunner, after: &str) {
    let outcome = runner
        .run(&box_100x50x30(), &[OutputFormat::Step])
        .await
        .unwrap_or_else(|e| panic!("the box after {after}: {e}"));
    assert_eq!(outcome.geometry.bbox, [100.0, 50.0, 30.0], "after {after}");
    let step = std::fs::read_to_string(&outcome.files[0].1).unwrap();
    assert!(
        step.contains("100.") && step.contains("50.") && step.contains("30."),
        "after {after}, the STEP file is not the 100x50x30 box:\n{}",
        &step[..step.len().min(3000)]
    );
}

#[tokio::test]
async fn a_patched_module_and_a_stashed_shape_do_not_survive_into_the_next_job() {
    let runner = runner_with(&[("FREECAD_POOL_SIZE", "1")]).await;
    let patch = "import FreeCAD as App\nimport Part\n\
                 m = Part\n\
                 def export(objects, path):\n    Part.makeBox(1, 1, 1).exportStep(path)\n\
                 m.export = export\n\
                 m.stash = 'tenant A: ' + str(Part.makeBox(123, 45, 67).BoundBox)\n\
                 App.ActiveDocument.addObject('Part::Box', 'A')\n";
    runner
        .run_unchecked_for_tests(patch, &[OutputFormat::Step])
        .await
        .expect("the patching job itself runs");
    assert_honest_box(&runner, "a job that patched Part.export").await;

    let error = runner
        .run(
            "import Part\nraise ValueError(Part.stash)\n",
            &[OutputFormat::Step],
        )
        .await
        .expect_err("Part.stash does not exist in a fresh job");
    let message = error.to_string();
    assert!(!message.contains("tenant A"), "{message}");
    assert!(message.contains("stash"), "{message}");
}

#[tokio::test]
async fn a_forged_answer_written_to_every_descriptor_reaches_no_other_job() {
    let runner = runner_with(&[("FREECAD_POOL_SIZE", "1")]).await;
    let forge = r#"
import json, os
import FreeCAD as App
box = {"valid": True, "solids": 1, "shells": 1, "faces": 6, "edges": 12, "volume": 1.0,
       "area": 6.0, "bbox": [1.0, 1.0, 1.0], "bbox_min": [0.0, 0.0, 0.0],
       "bbox_max": [1.0, 1.0, 1.0], "center_of_mass": [0.5, 0.5, 0.5]}
forged = {"ok": True, "top_level": ["Box"], "objects": [], "geometry": box}
line = ("@@designer@@ " + json.dumps(forged) + "\n").encode()
for fd in range(3, 1024):
    for _ in range(3):
        try:
            os.write(fd, line)
        except OSError:
            pass
App.ActiveDocument.addObject('Part::Box', 'A')
"#;
    // What this job itself reports is its own business; the next job's answer is not.
    let _ = runner
        .run_unchecked_for_tests(forge, &[OutputFormat::Step])
        .await;
    assert_honest_box(&runner, "a job that forged answers").await;
    assert_honest_box(&runner, "a job that forged answers, twice").await;
}

#[tokio::test]
async fn a_thread_swapping_in_a_symlink_never_leaks_a_host_file() {
    let secret = tempfile::NamedTempFile::new().unwrap();
    let marker = format!("FAKE-SECRET-{}", uuid::Uuid::new_v4());
    std::fs::write(secret.path(), &marker).unwrap();
    // Alternates a regular file and a symlink to the host's secret under the exported name,
    // from a thread left running after the script returned.
    let swap = format!(
        r#"
import os, threading
import FreeCAD as App
SECRET = {secret:?}
def swap():
    while True:
        try:
            with open("fake.tmp", "w") as f:
                f.write("ISO-10303-21; a regular file")
            os.rename("fake.tmp", "design.step")
            os.symlink(SECRET, "link.tmp")
            os.rename("link.tmp", "design.step")
        except OSError:
            pass
threading.Thread(target=swap, daemon=True).start()
App.ActiveDocument.addObject('Part::Box', 'A')
"#,
        secret = secret.path().display().to_string()
    );
    let runner = runner_with(&[("FREECAD_POOL_SIZE", "1")]).await;
    for attempt in 0..12 {
        match runner
            .run_unchecked_for_tests(&swap, &[OutputFormat::Step])
            .await
        {
            Ok(outcome) => {
                let bytes = std::fs::read(&outcome.files[0].1).unwrap();
                let text = String::from_utf8_lossy(&bytes);
                assert!(
                    !text.contains(&marker),
                    "attempt {attempt}: the host file leaked"
                );
            }
            Err(error) => {
                let message = error.to_string();
                // Refused ("a symbolic link") or missing: never the host file.
                assert!(!message.contains(&marker), "attempt {attempt}: {message}");
            }
        }
    }
    assert_honest_box(&runner, "the swapping jobs").await;
}
