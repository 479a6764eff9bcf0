//! A local HTTP receiver of callbacks (job, batch and budget webhooks) that keeps every
//! delivery, headers and body, for the test to check.

use std::sync::{Arc, Mutex};

/// One delivery: its headers and its body.
pub type Delivery = (axum::http::HeaderMap, Vec<u8>);

/// Starts a receiver on 127.0.0.1 answering `path` with 204; returns its URL. Every POST is
/// appended to `deliveries`.
pub async fn callback_receiver(path: &str, deliveries: Arc<Mutex<Vec<Delivery>>>) -> String {
    let router = axum::Router::new().route(
        path,
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let deliveries = deliveries.clone();
                async move {
                    deliveries
                        .lock()
                        .expect("deliveries lock")
                        .push((headers, body.to_vec()));
                    axum::http::StatusCode::NO_CONTENT
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a local port");
    let url = format!(
        "http://{}{path}",
        listener.local_addr().expect("an address")
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}
