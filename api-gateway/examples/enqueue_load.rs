//! Enqueue throughput: POSTs N design jobs (`enable_execution: false`) to a running gateway
//! with C requests in flight, optionally with an API key, and prints jobs per second.
//!
//! `cargo run --release -p api-gateway --example enqueue_load -- \
//!     --gateway http://127.0.0.1:8080 [--requests 20000] [--concurrency 64] [--api-key KEY]`
//! (`make bench` runs it with authentication and rate limiting off and on, in one run.)

use std::time::Instant;

use futures::StreamExt;
use serde_json::json;

fn main() {
    let mut gateway = "http://127.0.0.1:8080".to_owned();
    let mut requests = 20_000usize;
    let mut concurrency = 64usize;
    let mut api_key: Option<String> = None;
    // A fixed request body instead of planning-only boxes of varying sizes.
    let mut body: Option<serde_json::Value> = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--gateway" => gateway = value,
            "--requests" => requests = value.parse().expect("--requests N"),
            "--concurrency" => concurrency = value.parse().expect("--concurrency N"),
            "--api-key" => api_key = Some(value),
            "--body" => body = Some(serde_json::from_str(&value).expect("--body JSON")),
            other => panic!("unknown flag {other}"),
        }
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async move {
        let client = reqwest::Client::new();
        let url = format!("{gateway}/api/v1/design");
        let started = Instant::now();
        let accepted = futures::stream::iter(0..requests)
            .map(|i| {
                let payload = body.clone().unwrap_or_else(|| {
                    json!({
                        "prompt": format!("a box {}x{}x{} mm", 1 + i % 50, 1 + i % 30, 1 + i % 20),
                        "enable_execution": false,
                    })
                });
                let mut request = client.post(&url).json(&payload);
                if let Some(key) = &api_key {
                    request = request.header("x-api-key", key);
                }
                async move { request.send().await.map(|r| r.status().as_u16()) }
            })
            .buffer_unordered(concurrency)
            .filter(|status| std::future::ready(matches!(status, Ok(202))))
            .count()
            .await;
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "requests={requests} accepted={accepted} seconds={seconds:.2} jobs_per_second={:.0}",
            accepted as f64 / seconds
        );
        if accepted != requests {
            eprintln!("{} requests were not accepted", requests - accepted);
            std::process::exit(1);
        }
    });
}
