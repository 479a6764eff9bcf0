//! Event delivery under many SSE clients: opens N streams on one job of a running gateway,
//! publishes events the way workers do (each carrying its publish time), and reports the
//! delivery latency from PUBLISH to client (p50, p99) and the gateway's RSS.
//!
//! `cargo run --release -p api-gateway --example sse_fanout -- \
//!     --gateway http://127.0.0.1:8080 --redis redis://127.0.0.1:6379/0 --clients 1000 \
//!     [--events 20] [--gateway-pid PID]`
//! Run it with no worker on the queue. (`make bench` runs it against a private Redis and
//! gateway.)

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use serde_json::json;
use shared::events::{EventPublisher, EventType};
use shared::job::{DesignJob, JobRecord, OutputFormat};
use shared::job_store::JobStore;
use shared::keys::Keys;

struct Args {
    gateway: String,
    redis: String,
    clients: usize,
    events: usize,
    gateway_pid: Option<u32>,
}

fn parse_args() -> Args {
    let mut args = Args {
        gateway: "http://127.0.0.1:8080".to_owned(),
        redis: "redis://127.0.0.1:6379/0".to_owned(),
        clients: 1000,
        events: 20,
        gateway_pid: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--gateway" => args.gateway = value,
            "--redis" => args.redis = value,
            "--clients" => args.clients = value.parse().expect("--clients N"),
            "--events" => args.events = value.parse().expect("--events N"),
            "--gateway-pid" => args.gateway_pid = Some(value.parse().expect("--gateway-pid PID")),
            other => panic!("unknown flag {other}"),
        }
    }
    args
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// Reads one SSE stream to its end; returns the latency (µs) of every event that carried a
/// publish time.
async fn follow(
    client: reqwest::Client,
    url: String,
    ready: tokio::sync::mpsc::Sender<()>,
) -> Vec<u64> {
    let response = match client.get(&url).send().await {
        Ok(response) if response.status() == 200 => response,
        Ok(response) => {
            eprintln!("GET {url}: {}", response.status());
            std::process::exit(1);
        }
        Err(error) => {
            eprintln!("GET {url}: {error}");
            std::process::exit(1);
        }
    };
    let _ = ready.send(()).await;
    let mut body = response.bytes_stream();
    let mut buffer = String::new();
    let mut latencies = Vec::new();
    while let Some(chunk) = body.next().await {
        let received = now_micros();
        buffer.push_str(std::str::from_utf8(&chunk.expect("chunk")).expect("UTF-8"));
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            for line in frame.lines() {
                if let Some(data) = line.strip_prefix("data:") {
                    let event: serde_json::Value = serde_json::from_str(data.trim()).expect("JSON");
                    if let Some(sent) = event["data"]["sent_us"].as_u64() {
                        latencies.push(received.saturating_sub(sent));
                    }
                }
            }
        }
    }
    latencies
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index] as f64 / 1000.0
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    let keys = Keys::new("designer:");
    let ttl = Duration::from_secs(3600);
    let redis = redis::Client::open(args.redis.as_str()).expect("Redis URL");
    let mut conn = redis
        .get_multiplexed_async_connection()
        .await
        .expect("Redis");

    // A job no worker runs: this measures the relay, not the pipeline.
    let job = DesignJob {
        request_id: shared::job_id::JobId::new(),
        prompt: "fan-out benchmark".to_owned(),
        max_iterations: 1,
        enable_execution: false,
        output_formats: vec![OutputFormat::Step],
        model: None,
        feedback: None,
        convert: None,
        earlier_feedback: Vec::new(),
        cache: false,
        priority: Default::default(),
    };
    let record = JobRecord::new_pending(&job, "anonymous", None);
    JobStore::new(keys.clone(), ttl)
        .enqueue(&mut conn, &record, &job, 1, 0, None)
        .await
        .expect("create the job");
    // Take it off the queue again; run this with no worker on the queue, which could still
    // fetch the job in between and end its stream early.
    let _: i64 = redis::cmd("LREM")
        .arg(keys.queue_active())
        .arg(0)
        .arg(&record.task_id)
        .query_async(&mut conn)
        .await
        .expect("LREM");

    let rss_before = args.gateway_pid.map(rss_mib);
    let url = format!("{}/api/v1/design/{}/events", args.gateway, job.request_id);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("HTTP client");
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(args.clients);
    let mut followers = Vec::with_capacity(args.clients);
    for _ in 0..args.clients {
        followers.push(tokio::spawn(follow(
            client.clone(),
            url.clone(),
            ready_tx.clone(),
        )));
    }
    drop(ready_tx);
    for _ in 0..args.clients {
        ready_rx.recv().await.expect("every client connects");
    }
    // Let the relays reach the live phase.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_connected = args.gateway_pid.map(rss_mib);

    let publisher = EventPublisher::new(keys, ttl);
    for i in 0..args.events {
        publisher
            .publish(
                &mut conn,
                job.request_id,
                EventType::Progress,
                json!({ "i": i, "sent_us": now_micros() }),
            )
            .await
            .expect("publish");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rss_peak = args.gateway_pid.map(rss_mib);
    publisher
        .publish(
            &mut conn,
            job.request_id,
            EventType::Completed,
            json!({ "status": "completed" }),
        )
        .await
        .expect("publish");

    let mut latencies = Vec::new();
    for follower in followers {
        let received = follower.await.expect("follower");
        assert_eq!(received.len(), args.events, "every client got every event");
        latencies.extend(received);
    }
    latencies.sort_unstable();
    println!(
        "clients={} events={} deliveries={} latency_ms p50={:.2} p99={:.2} max={:.2}",
        args.clients,
        args.events,
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0),
    );
    if let (Some(before), Some(connected), Some(peak)) = (rss_before, rss_connected, rss_peak) {
        println!(
            "gateway_rss_mib before={before:.1} connected={connected:.1} while_publishing={peak:.1}"
        );
    }
}
