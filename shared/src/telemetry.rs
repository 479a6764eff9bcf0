//! Log and metric set-up shared by both binaries: pretty lines locally, JSON lines in
//! production; one Prometheus recorder per process.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Buckets of every latency histogram (`*_seconds`): from a millisecond to ten minutes.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
    600.0,
];

use tracing::Subscriber;
use tracing_subscriber::{EnvFilter, fmt::MakeWriter, layer::SubscriberExt};

use crate::settings::LogFormat;

/// Builds a subscriber that writes to `sink`, filtered by `filter` (`RUST_LOG` syntax).
pub fn get_subscriber<Sink>(
    filter: &str,
    format: LogFormat,
    sink: Sink,
) -> Box<dyn Subscriber + Send + Sync>
where
    Sink: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Json => Box::new(
            registry.with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_writer(sink),
            ),
        ),
        LogFormat::Pretty => {
            Box::new(registry.with(tracing_subscriber::fmt::layer().with_writer(sink)))
        }
    }
}

/// Installs the subscriber for the whole process; a second call is a no-op (tests call it often).
pub fn init_subscriber(subscriber: Box<dyn Subscriber + Send + Sync>) {
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// The process's Prometheus recorder, installed on first use. Every component of a process
/// (a gateway and workers share one in tests) records into it and renders `/metrics` from it.
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), LATENCY_BUCKETS)
            .expect("the bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder was installed first; ours then renders an empty page,
        // which the metrics tests would catch.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}
