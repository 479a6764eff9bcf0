//! Webhook deliveries never reach the service's own network, whatever happened after the
//! gateway checked the URL: a name that now resolves to loopback (DNS rebinding), a redirect
//! to an internal address, a literal address that a changed policy no longer allows.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use shared::callback::CallbackPolicy;
use shared::job::{DesignJob, JobRecord, OutputFormat};
use shared::settings::Settings;
use worker::jobs::webhook::{HostLookup, WebhookSender};

fn policy(allow_private: bool) -> CallbackPolicy {
    let env = HashMap::from([
        ("WEBHOOK_SECRET".to_owned(), "s3cret-for-tests".to_owned()),
        (
            "WEBHOOK_ALLOW_PRIVATE".to_owned(),
            allow_private.to_string(),
        ),
    ]);
    let settings = Settings::load_from(Path::new("/nonexistent-config-dir"), env).unwrap();
    CallbackPolicy::from_settings(&settings)
}

fn finished_job(callback_url: String) -> JobRecord {
    let job = DesignJob {
        request_id: shared::job_id::JobId::new(),
        prompt: "a box 5x6x7".to_owned(),
        max_iterations: 1,
        enable_execution: true,
        output_formats: vec![OutputFormat::Step],
        model: None,
        feedback: None,
        convert: None,
        earlier_feedback: Vec::new(),
        cache: false,
        priority: Default::default(),
    };
    JobRecord::new_pending(&job, "tenant", Some(callback_url))
}

/// Every name resolves to loopback, as an attacker's DNS would after the gateway's check.
fn rebinding_lookup() -> HostLookup {
    Arc::new(|_host: String| Box::pin(async { Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]) }))
}

/// A local receiver: `/hook` counts and answers 204, `/redirect` answers 307 to `/hook`.
async fn receiver() -> (u16, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let hooked = Arc::new(AtomicUsize::new(0));
    let redirected = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (h, r) = (hooked.clone(), redirected.clone());
    let router = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(move || async move {
                h.fetch_add(1, Ordering::SeqCst);
                StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/redirect",
            axum::routing::post(move || async move {
                r.fetch_add(1, Ordering::SeqCst);
                let target = format!("http://127.0.0.1:{port}/hook");
                (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, target)]).into_response()
            }),
        );
    tokio::spawn(async move { axum::serve(listener, router).await });
    (port, hooked, redirected)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_rebound_to_loopback_after_submission_is_never_connected() {
    let (port, hooked, _) = receiver().await;
    let url = format!("http://hooks.attacker.example:{port}/hook");
    // The same name and lookup reach the receiver where private addresses are allowed, so the
    // refusal below is the policy's doing, not a broken test rig.
    let rig = WebhookSender::with_lookup(None, policy(true), rebinding_lookup());
    assert!(rig.deliver(finished_job(url.clone())).await);
    assert_eq!(hooked.load(Ordering::SeqCst), 1);

    let production = WebhookSender::with_lookup(None, policy(false), rebinding_lookup());
    assert!(!production.deliver(finished_job(url)).await);
    assert_eq!(
        hooked.load(Ordering::SeqCst),
        1,
        "a delivery reached loopback"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_literal_internal_address_is_refused_at_delivery() {
    let (port, hooked, _) = receiver().await;
    let sender = WebhookSender::with_lookup(None, policy(false), rebinding_lookup());
    for host in ["127.0.0.1", "[::ffff:127.0.0.1]", "2130706433", "0x7f.1"] {
        let url = format!("http://{host}:{port}/hook");
        assert!(!sender.deliver(finished_job(url)).await, "{host}");
    }
    assert_eq!(hooked.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_not_followed() {
    let (port, hooked, redirected) = receiver().await;
    let sender = WebhookSender::with_lookup(None, policy(true), rebinding_lookup());
    let url = format!("http://127.0.0.1:{port}/redirect");
    assert!(
        !sender.deliver(finished_job(url)).await,
        "a 307 is not a delivery"
    );
    assert!(
        redirected.load(Ordering::SeqCst) >= 1,
        "the first hop was asked"
    );
    assert_eq!(
        hooked.load(Ordering::SeqCst),
        0,
        "the redirect was followed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_for_deliveries_under_way() {
    // A receiver that takes its time: the delivery is still under way when shutdown begins.
    let hooked = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let counter = hooked.clone();
    let router = axum::Router::new().route(
        "/slow",
        axum::routing::post(move || async move {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            counter.fetch_add(1, Ordering::SeqCst);
            StatusCode::NO_CONTENT
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await });

    let sender = WebhookSender::new(None, policy(true));
    sender.deliver_in_background(finished_job(format!("http://127.0.0.1:{port}/slow")));
    let left = sender.drain(std::time::Duration::from_secs(30)).await;
    assert_eq!(left, 0, "a delivery was left unfinished");
    assert_eq!(
        hooked.load(Ordering::SeqCst),
        1,
        "the delivery was not made"
    );

    // One that cannot finish within the grace is counted, not waited for forever.
    let never = WebhookSender::new(None, policy(true));
    never.deliver_in_background(finished_job(format!("http://127.0.0.1:{port}/slow")));
    assert_eq!(never.drain(std::time::Duration::from_millis(10)).await, 1);
}
