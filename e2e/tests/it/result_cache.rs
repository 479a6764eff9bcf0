//! The result cache end to end: an identical offline plan, from any principal, completes from
//! copies of the first result's files without running FreeCAD; a cache entry that cannot be
//! used (its files gone) leaves the job to run normally. (Model-written designs: `agents`.)

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use shared::api::DesignStatusResponse;
use shared::job::DesignStatus;

use e2e::{AppOptions, TestApp, spawn_app, spawn_app_with};

const JOB_LIMIT: Duration = Duration::from_secs(120);
const ALICE: &str = "alice-key-1";
const BOB: &str = "bob-key-2";

fn sha256s(status: &DesignStatusResponse) -> BTreeMap<String, String> {
    status
        .artifacts
        .iter()
        .map(|a| (a.format.as_str().to_owned(), a.sha256.clone()))
        .collect()
}

/// Scripts the app's workers' FreeCAD runners have been given, all together.
fn freecad_runs(app: &TestApp) -> u64 {
    app.worker_runners.iter().map(|r| r.executions()).sum()
}

async fn submit_as(app: &TestApp, key: &str, body: &Value) -> String {
    let response = app
        .client
        .post(app.url("/api/v1/design"))
        .header("x-api-key", key)
        .json(body)
        .send()
        .await
        .expect("POST /api/v1/design");
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    body["request_id"].as_str().unwrap().to_owned()
}

async fn download_as(app: &TestApp, key: &str, id: &str, format: &str) -> Vec<u8> {
    let response = app
        .client
        .get(app.url(&format!("/api/v1/design/{id}/download/{format}")))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{format} of {id}");
    response.bytes().await.unwrap().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_design_from_another_principal_is_answered_from_the_cache() {
    let app = spawn_app_with(AppOptions {
        env: vec![
            ("AUTH_ENABLED", "true".to_owned()),
            ("AUTH_API_KEYS", format!("alice:{ALICE},bob:{BOB}")),
            (
                "JWT_SECRET_KEY",
                "0123456789abcdef0123456789abcdef".to_owned(),
            ),
        ],
        ..AppOptions::default()
    })
    .await;
    let prompt = json!({ "prompt": "a box 40x30x20 mm with a 10 mm hole through the middle" });
    let first = submit_as(&app, ALICE, &prompt).await;
    let first = app.wait_for_end_as(&first, Some(ALICE), JOB_LIMIT).await;
    assert_eq!(first.status, DesignStatus::Completed, "{first:?}");
    assert!(!first.cached, "the first design is made by FreeCAD");
    let runs = freecad_runs(&app);
    assert_eq!(runs, 1);

    // Same plan, other words, other principal.
    let again = json!({ "prompt": "A box 40 x 30 x 20 mm with a 10 mm hole through the middle." });
    let second = submit_as(&app, BOB, &again).await;
    let second = app.wait_for_end_as(&second, Some(BOB), JOB_LIMIT).await;
    assert_eq!(second.status, DesignStatus::Completed, "{second:?}");
    assert!(second.cached, "{second:?}");
    assert_eq!(
        freecad_runs(&app),
        runs,
        "no FreeCAD execution for a cache hit"
    );
    assert_eq!(sha256s(&second), sha256s(&first));
    assert_eq!(second.artifacts.len(), first.artifacts.len());
    assert_eq!(second.geometry, first.geometry);
    assert_eq!(second.validation_score, first.validation_score);
    assert_eq!(second.generated_script, first.generated_script);
    assert_eq!(second.current_iteration, 1);
    let second_id = second.request_id.to_string();
    for artifact in &second.artifacts {
        assert!(artifact.url.contains(&second_id), "{}", artifact.url);
    }

    // The files are the new design's own: they outlive the first design's.
    let step = download_as(&app, BOB, &second_id, "step").await;
    let first_step = download_as(&app, ALICE, &first.request_id.to_string(), "step").await;
    assert_eq!(step, first_step);
    std::fs::remove_dir_all(app.artifact_dir().join(first.request_id.to_string())).unwrap();
    assert_eq!(download_as(&app, BOB, &second_id, "step").await, step);

    // A conversion starts from the cached design's own FCStd.
    let response = app
        .client
        .get(app.url(&format!("/api/v1/design/{second_id}/export?formats=glb")))
        .header("x-api-key", BOB)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202, "a conversion is queued");
    let converted = e2e::wait_until("the conversion", JOB_LIMIT, async || {
        let status = app.design_status_as(&second_id, Some(BOB)).await;
        status
            .artifacts
            .iter()
            .any(|a| a.format.as_str() == "glb")
            .then_some(status)
    })
    .await;
    assert!(converted.cached);
    assert_eq!(freecad_runs(&app), runs + 1, "the conversion ran FreeCAD");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_hit_sends_the_usual_events_and_an_entry_without_files_is_ignored() {
    let app = spawn_app().await;
    let prompt = json!({ "prompt": "a cylinder 30 mm in diameter and 12 mm tall" });
    let first = app.submit(&prompt).await;
    let first = app.wait_for_end(&first, JOB_LIMIT).await;
    assert_eq!(first.status, DesignStatus::Completed, "{first:?}");

    let second = app.submit(&prompt).await;
    let events = app
        .sse(None, &second, None)
        .await
        .collect_to_end(JOB_LIMIT)
        .await;
    let second = app.design_status(&second).await;
    assert!(second.cached, "{second:?}");
    let artifact_events = events.iter().filter(|e| e.event == "artifact").count();
    assert_eq!(artifact_events, second.artifacts.len(), "{events:?}");
    let last = events.last().expect("events");
    assert_eq!(last.event, "completed");
    assert_eq!(last.data["data"]["status"], "completed");
    assert!(
        !events
            .iter()
            .any(|e| e.data["data"]["status"] == "executing"),
        "a cache hit never executes: {events:?}"
    );
    let runs = freecad_runs(&app);
    assert_eq!(runs, 1);

    // The cached files are gone (swept): the next identical design runs normally.
    std::fs::remove_dir_all(app.artifact_dir().join(first.request_id.to_string())).unwrap();
    std::fs::remove_dir_all(app.artifact_dir().join(second.request_id.to_string())).unwrap();
    let third = app.submit(&prompt).await;
    let third = app.wait_for_end(&third, JOB_LIMIT).await;
    assert_eq!(third.status, DesignStatus::Completed, "{third:?}");
    assert!(!third.cached, "{third:?}");
    assert_eq!(freecad_runs(&app), runs + 1);
    assert_eq!(sha256s(&third).len(), sha256s(&first).len());
    assert_eq!(third.geometry, first.geometry);
    // Its result replaced the stale entry: the next one is a hit again.
    let fourth = app.submit(&prompt).await;
    let fourth = app.wait_for_end(&fourth, JOB_LIMIT).await;
    assert!(fourth.cached, "{fourth:?}");
    assert_eq!(sha256s(&fourth), sha256s(&third));
    assert_eq!(freecad_runs(&app), runs + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_cache_off_every_design_runs_freecad() {
    let app = spawn_app_with(AppOptions {
        env: vec![("RESULT_CACHE_TTL_SECONDS", "0".to_owned())],
        ..AppOptions::default()
    })
    .await;
    let prompt = json!({ "prompt": "a cube 15 mm", "output_formats": ["step"] });
    for round in 1..=2 {
        let id = app.submit(&prompt).await;
        let status = app.wait_for_end(&id, JOB_LIMIT).await;
        assert_eq!(status.status, DesignStatus::Completed, "{status:?}");
        assert!(!status.cached);
        assert_eq!(freecad_runs(&app), round);
    }
}
