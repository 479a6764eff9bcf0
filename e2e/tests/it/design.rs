//! Jobs from POST to their final state, with real FreeCAD files.

use std::f64::consts::PI;
use std::time::Duration;

use serde_json::json;
use sha2::{Digest, Sha256};
use shared::api::DesignStatusResponse;
use shared::job::DesignStatus;

use e2e::spawn_app;

const JOB_LIMIT: Duration = Duration::from_secs(90);

fn assert_close(measured: f64, exact: f64, tolerance: f64) {
    let error = ((measured - exact) / exact).abs();
    assert!(
        error <= tolerance,
        "measured {measured}, exact {exact}: off by {:.4} %",
        error * 100.0
    );
}

async fn download(app: &e2e::TestApp, id: &str, format: &str) -> (String, Vec<u8>) {
    let response = app
        .get(&format!("/api/v1/design/{id}/download/{format}"))
        .await;
    assert_eq!(response.status(), 200, "download {format}");
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    (content_type, response.bytes().await.unwrap().to_vec())
}

/// Every artifact the status lists can be downloaded and has the size and hash it claims.
async fn assert_artifacts_match(app: &e2e::TestApp, id: &str, status: &DesignStatusResponse) {
    let artifacts = &status.artifacts;
    // The predecessor's three and the thumbnail.
    assert_eq!(artifacts.len(), 4, "{status:?}");
    for artifact in artifacts {
        let format = artifact.format.as_str();
        let (_, bytes) = download(app, id, format).await;
        assert_eq!(artifact.bytes, bytes.len() as u64, "{format} size");
        assert_eq!(artifact.sha256, hex_sha256(&bytes), "{format} checksum");
    }
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_box_goes_from_post_to_completed_with_real_cad_files() {
    let app = spawn_app().await;
    let id = app
        .submit(&json!({ "prompt": "Create a simple box 100x50x30mm" }))
        .await;

    let status = app.wait_for_end(&id, JOB_LIMIT).await;
    assert_eq!(status.status, DesignStatus::Completed, "{status:?}");
    assert_eq!(status.progress, 1.0);
    assert_eq!(status.validation_score, Some(1.0));
    assert_eq!(status.plan_summary.as_deref(), Some("Box 100 x 50 x 30 mm"));
    let geometry = status.geometry.as_ref().expect("geometry");
    assert!(geometry.valid);
    assert_eq!(geometry.solids, 1);
    assert_close(geometry.volume, 100.0 * 50.0 * 30.0, 0.001);
    assert_eq!(geometry.bbox, [100.0, 50.0, 30.0]);

    let (content_type, step) = download(&app, &id, "step").await;
    assert_eq!(content_type, "application/step");
    assert!(step.starts_with(b"ISO-10303-21"), "a STEP file");
    let (content_type, stl) = download(&app, &id, "stl").await;
    assert_eq!(content_type, "model/stl");
    assert!(stl.len() > 84, "an STL with triangles");
    let (_, fcstd) = download(&app, &id, "fcstd").await;
    assert!(fcstd.starts_with(b"PK"), "an FCStd file is a zip archive");
    assert_artifacts_match(&app, &id, &status).await;
    assert!(
        app.artifact_dir().join(&id).join("design.step").is_file(),
        "stored under ARTIFACT_DIR/{{request_id}}/"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cylinder_goes_from_post_to_completed() {
    let app = spawn_app().await;
    let id = app
        .submit(&json!({ "prompt": "a cylinder 40 mm in diameter and 25 mm tall" }))
        .await;

    let status = app.wait_for_end(&id, JOB_LIMIT).await;
    assert_eq!(status.status, DesignStatus::Completed, "{status:?}");
    let geometry = status.geometry.as_ref().expect("geometry");
    assert_close(geometry.volume, PI * 20.0 * 20.0 * 25.0, 0.001);
    assert_close(geometry.area, 2.0 * PI * 400.0 + PI * 40.0 * 25.0, 0.001);
    let (_, step) = download(&app, &id, "step").await;
    assert!(step.starts_with(b"ISO-10303-21"));
    assert_artifacts_match(&app, &id, &status).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_move_forward_through_the_pipeline() {
    let app = spawn_app().await;
    let id = app.submit(&json!({ "prompt": "a 20 mm cube" })).await;
    let order = [
        DesignStatus::Pending,
        DesignStatus::Planning,
        DesignStatus::Generating,
        DesignStatus::Executing,
        DesignStatus::Validating,
        DesignStatus::Completed,
    ];
    let mut last = 0;
    loop {
        let status = app.design_status(&id).await;
        let name = status.status;
        let position = order
            .iter()
            .position(|s| *s == name)
            .unwrap_or_else(|| panic!("unexpected status {name}: {status:?}"));
        assert!(
            position >= last,
            "status went back from {} to {name}",
            order[last]
        );
        last = position;
        if name == DesignStatus::Completed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_execution_the_job_stops_after_the_script() {
    let app = spawn_app().await;
    let id = app
        .submit(&json!({ "prompt": "box 10 by 20 by 30 cm", "enable_execution": false }))
        .await;
    let status = app.wait_for_end(&id, JOB_LIMIT).await;
    assert_eq!(status.status, DesignStatus::Completed, "{status:?}");
    let script = status.generated_script.as_deref().expect("a script");
    assert!(
        script.contains("Part.makeBox(100.0, 200.0, 300.0)"),
        "10 by 20 by 30 cm in millimetres: {script}"
    );
    assert!(status.artifacts.is_empty());

    assert_eq!(app.download_error(&id, "step").await, "artifact_not_found");
    let export = app.export(&id, "step").await;
    assert_eq!(export[0]["success"], false);
    assert!(export[0]["error"].as_str().unwrap().contains("step"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_requested_formats_are_produced() {
    let app = spawn_app().await;
    let id = app
        .submit(&json!({ "prompt": "a box 10x10x10", "output_formats": ["stl"] }))
        .await;
    let status = app.wait_for_end(&id, JOB_LIMIT).await;
    assert_eq!(status.status, DesignStatus::Completed, "{status:?}");
    assert_eq!(status.artifacts.len(), 1);
    assert_eq!(app.download_error(&id, "step").await, "artifact_not_found");

    // A format it lacks is converted on demand from the stored FCStd.
    let export = app.export_converted(&id, "stl,step").await;
    assert_eq!(export[0]["format"], "stl");
    assert_eq!(export[0]["success"], true);
    assert_eq!(
        export[0]["url"],
        format!("/api/v1/design/{id}/download/stl")
    );
    assert_eq!(export[1]["success"], true, "{export}");
    let (_, step) = download(&app, &id, "step").await;
    assert!(step.starts_with(b"ISO-10303-21"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsupported_prompt_fails_and_says_what_is_supported() {
    let app = spawn_app().await;
    let id = app
        .submit(&json!({ "prompt": "a teapot with a curly spout" }))
        .await;
    let status = app.wait_for_end(&id, JOB_LIMIT).await;
    assert_eq!(status.status, DesignStatus::Failed, "{status:?}");
    assert_eq!(status.error_code.as_deref(), Some("unsupported_prompt"));
    // It names the word it cannot use and gives an example or two, not the whole catalogue.
    let message = status.error_message.as_deref().unwrap();
    assert!(
        message.contains("'teapot'") && message.contains("For example"),
        "{message}"
    );
    assert!(
        message.len() < 400,
        "{} characters: {message}",
        message.len()
    );
    assert!(status.artifacts.is_empty());

    let id = app
        .submit(&json!({ "prompt": "a box 100x50x30 with a 10 mm keyway along the top" }))
        .await;
    let status = app.wait_for_end(&id, JOB_LIMIT).await;
    assert_eq!(
        status.error_code.as_deref(),
        Some("unsupported_prompt"),
        "a feature outside the catalogue, never a plain box: {status:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_with_a_hole_through_the_middle_is_made_exactly() {
    let app = spawn_app().await;
    let id = app
        .submit(&json!({ "prompt": "a box 100x50x30 mm with a 10 mm hole through the middle" }))
        .await;
    let status = app.wait_for_end(&id, JOB_LIMIT).await;
    assert_eq!(status.status, DesignStatus::Completed, "{status:?}");
    let exact = 100.0 * 50.0 * 30.0 - PI * 5.0 * 5.0 * 30.0;
    assert_close(status.geometry.as_ref().unwrap().volume, exact, 0.001);
    assert_eq!(status.geometry.as_ref().unwrap().bbox, [100.0, 50.0, 30.0]);
}
