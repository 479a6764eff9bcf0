//! Bad input gets the right status and the JSON error body; never a 500.

use serde_json::json;

use e2e::{error_code, spawn_gateway, spawn_gateway_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_is_a_400() {
    let app = spawn_gateway().await;
    for body in ["{bad", "", "[1, 2", "{\"prompt\": \"a box\""] {
        let code = error_code(app.post_raw(body).await, 400).await;
        assert_eq!(code, "malformed_json", "{body:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fields_out_of_range_are_a_422() {
    let app = spawn_gateway().await;
    let long_prompt = "x".repeat(5001);
    for body in [
        json!({}),
        json!({ "prompt": "" }),
        json!({ "prompt": "   " }),
        json!({ "prompt": 42 }),
        json!({ "prompt": long_prompt }),
        json!({ "prompt": "a box 1x1x1", "max_iterations": 0 }),
        json!({ "prompt": "a box 1x1x1", "max_iterations": 11 }),
        json!({ "prompt": "a box 1x1x1", "max_iterations": -1 }),
        json!({ "prompt": "a box 1x1x1", "output_formats": ["fbx"] }),
        json!({ "prompt": "a box 1x1x1", "output_formats": [] }),
        json!({ "prompt": "a box 1x1x1", "model": "no-slash" }),
    ] {
        let code = error_code(app.post_design(&body).await, 422).await;
        assert_eq!(code, "validation_error", "{body}");
    }
    // The limits themselves are allowed.
    for body in [
        json!({ "prompt": "x".repeat(5000), "max_iterations": 1 }),
        json!({ "prompt": "a box 1x1x1", "max_iterations": 10 }),
    ] {
        assert_eq!(app.post_design(&body).await.status(), 202, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_is_a_413() {
    let app = spawn_gateway_with(vec![("MAX_BODY_BYTES", "1024".to_owned())]).await;
    let body = json!({ "prompt": "y".repeat(2000) }).to_string();
    let code = error_code(app.post_raw(body).await, 413).await;
    assert_eq!(code, "payload_too_large");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_json_content_type_is_a_415() {
    let app = spawn_gateway().await;
    let response = app
        .client
        .post(app.url("/api/v1/design"))
        .body(r#"{"prompt":"a box 1x1x1"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(response, 415).await, "unsupported_media_type");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_malformed_ids_are_a_404() {
    let app = spawn_gateway().await;
    for path in [
        "/api/v1/design/3f1c4a52-8c8e-4d43-9d0c-1f6c5c1f0f00",
        "/api/v1/design/not-a-uuid",
        "/api/v1/design/'%20OR%201=1",
        "/api/v1/design/3f1c4a52-8c8e-4d43-9d0c-1f6c5c1f0f00/export",
        "/api/v1/design/not-a-uuid/download/step",
    ] {
        let code = error_code(app.get(path).await, 404).await;
        assert_eq!(code, "design_not_found", "{path}");
    }
    assert_eq!(
        error_code(app.get("/no/such/route").await, 404).await,
        "route_not_found"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_formats_are_refused() {
    let app = spawn_gateway().await;
    let id = app
        .submit(&json!({ "prompt": "a box 1x1x1", "enable_execution": false }))
        .await;
    assert_eq!(app.download_error(&id, "obj").await, "artifact_not_found");
    let code = error_code(
        app.get(&format!("/api/v1/design/{id}/export?formats=step,fbx"))
            .await,
        422,
    )
    .await;
    assert_eq!(code, "validation_error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_and_openapi_are_served() {
    let app = spawn_gateway().await;
    let spec: serde_json::Value = app.get("/openapi.json").await.json().await.unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    assert!(spec["paths"]["/api/v1/design"]["post"].is_object());
    assert!(spec["paths"]["/api/v1/design/{request_id}/download/{format}"].is_object());
    let docs = app.get("/docs").await;
    assert_eq!(docs.status(), 200);
    // Swagger UI from the binary; that it renders is checked in a browser (cli/tests/it/browser.rs).
    assert!(docs.text().await.unwrap().contains("swagger-ui"));
    let health: serde_json::Value = app.get("/health").await.json().await.unwrap();
    assert_eq!(health, json!({ "status": "ok" }));
}
