//! Formats through the API: the default thumbnail, the content types, and conversion on
//! demand (`export` of formats a completed design lacks, made from its stored FCStd by a
//! conversion job through the queue, with no planner or model involved).

use std::time::Duration;

use serde_json::json;
use shared::job::DesignStatus;

use e2e::{error_code, spawn_app};

const JOB_LIMIT: Duration = Duration::from_secs(120);

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_design_gets_a_png_thumbnail_by_default() {
    let app = spawn_app().await;
    let id = app.submit(&json!({ "prompt": "a 20 mm cube" })).await;
    let status = app.wait_for_end(&id, JOB_LIMIT).await;
    assert_eq!(status.status, DesignStatus::Completed, "{status:?}");
    let formats: Vec<&str> = status.artifacts.iter().map(|a| a.format.as_str()).collect();
    assert_eq!(formats, ["step", "stl", "fcstd", "png"]);
    let (content_type, png) = download(&app, &id, "png").await;
    assert_eq!(content_type, "image/png");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_converts_the_formats_a_design_lacks_from_its_fcstd() {
    let app = spawn_app().await;
    let id = app
        .submit(&json!({ "prompt": "a box 30 x 20 x 10 mm", "output_formats": ["step"] }))
        .await;
    let before = app.wait_for_end(&id, JOB_LIMIT).await;
    assert_eq!(before.status, DesignStatus::Completed, "{before:?}");
    assert_eq!(app.download_error(&id, "obj").await, "artifact_not_found");

    let first = app
        .get(&format!(
            "/api/v1/design/{id}/export?formats=obj,3mf,glb,ply"
        ))
        .await;
    assert_eq!(first.status(), 202, "the first ask starts a conversion");
    assert!(first.headers().contains_key("location"));

    let export = app.export_converted(&id, "obj,3mf,glb,ply").await;
    for (entry, (format, content_type)) in export.as_array().unwrap().iter().zip([
        ("obj", "model/obj"),
        ("3mf", "model/3mf"),
        ("glb", "model/gltf-binary"),
        ("ply", "application/ply"),
    ]) {
        assert_eq!(entry["format"], format);
        assert_eq!(entry["success"], true, "{entry}");
        let (served_type, bytes) = download(&app, &id, format).await;
        assert_eq!(served_type, content_type);
        assert_eq!(entry["file_size_bytes"], bytes.len());
    }
    let (_, obj) = download(&app, &id, "obj").await;
    let obj = String::from_utf8(obj).unwrap();
    assert_eq!(
        obj.lines().filter(|l| l.starts_with("f ")).count(),
        12,
        "a box is 12 triangles"
    );

    let after = app.design_status(&id).await;
    assert_eq!(
        after.status,
        DesignStatus::Completed,
        "a conversion leaves the design completed"
    );
    // Nothing was regenerated.
    assert_eq!(after.generated_script, before.generated_script);
    assert_eq!(after.plan_summary, before.plan_summary);
    assert_eq!(after.current_iteration, before.current_iteration);
    assert_eq!(after.usage, before.usage);
    assert_eq!(after.geometry, before.geometry);
    assert_eq!(after.artifacts.len(), 5);
    // Asked again: served at once.
    let again = app
        .get(&format!("/api/v1/design/{id}/export?formats=3mf"))
        .await;
    assert_eq!(again.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_formats_are_refused_with_the_list() {
    let app = spawn_app().await;
    let id = app.create_idle_job().await;
    let response = app
        .get(&format!("/api/v1/design/{id}/export?formats=obj,fbx"))
        .await;
    assert_eq!(error_code(response, 422).await, "validation_error");
    let response = app
        .post_design(&json!({ "prompt": "a 20 mm cube", "output_formats": ["fbx"] }))
        .await;
    assert_eq!(response.status(), 422);
    let response = app.get(&format!("/api/v1/design/{id}/download/fbx")).await;
    let body: serde_json::Value = response.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("glb, obj, ply, 3mf, png"), "{message}");
}
