//! Every Prometheus metric of the project: its name, type, labels and help text, in one place.
//!
//! The names are those of README.md's metrics table (the predecessor's dashboards and the fix plan's keep
//! working); the dashboard in `deploy/grafana/dashboards/` and the alert rules in
//! `deploy/prometheus/` use exactly these. Code records through the constants, never a literal:
//! `metrics::counter!(DESIGN_REQUESTS_TOTAL.name, "status" => "success")`.
//!
//! Label values are always from a small closed set (a status, a route *template*, a provider
//! name), never a job id, a raw path or a prompt, so every metric has few series.

use std::fmt::Write as _;

/// The Prometheus type of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
    /// With the buckets of [`crate::telemetry::LATENCY_BUCKETS`] (every name ends in `_seconds`).
    Histogram,
}

impl MetricKind {
    /// The word of the `# TYPE` line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

/// Which process exposes a metric on its `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposer {
    Gateway,
    Worker,
    /// Both binaries record it (each with its own series).
    Both,
}

/// One metric: what it is called, what it is, and what it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    pub name: &'static str,
    pub kind: MetricKind,
    pub labels: &'static [&'static str],
    pub help: &'static str,
    pub exposer: Exposer,
}

macro_rules! metric {
    ($const:ident, $name:literal, $kind:ident, [$($label:literal),*], $exposer:ident, $help:literal) => {
        #[doc = $help]
        pub const $const: Metric = Metric {
            name: $name,
            kind: MetricKind::$kind,
            labels: &[$($label),*],
            help: $help,
            exposer: Exposer::$exposer,
        };
    };
}

// --- Design jobs (worker) ---------------------------------------------------------------
metric!(
    DESIGN_REQUESTS_TOTAL,
    "design_requests_total",
    Counter,
    ["status"],
    Worker,
    "Design jobs that ended, by outcome: success, failure, timeout, cancelled."
);
metric!(
    DESIGN_DURATION_SECONDS,
    "design_duration_seconds",
    Histogram,
    [],
    Worker,
    "End-to-end time of a design job, from its submission to its final state."
);
metric!(
    ACTIVE_DESIGNS,
    "active_designs",
    Gauge,
    [],
    Worker,
    "Design jobs this worker is running now."
);
metric!(
    QUEUE_JOBS_RETRIED_TOTAL,
    "queue_jobs_retried_total",
    Counter,
    [],
    Worker,
    "Runs of a queued job that failed before with a retryable error (apalis-redis scheduled it again)."
);
metric!(
    WORKER_LOOP_RESTARTS_TOTAL,
    "worker_loop_restarts_total",
    Counter,
    [],
    Worker,
    "Times the supervisor restarted this worker's apalis loop after its stream died."
);

// --- Agents and models (worker) ----------------------------------------------------------
metric!(
    AGENT_CALL_DURATION_SECONDS,
    "agent_call_duration_seconds",
    Histogram,
    ["agent_name"],
    Worker,
    "Time of one agent call (planner, generator, validator, orchestrator)."
);
metric!(
    AGENT_RUNS_TOTAL,
    "agent_runs_total",
    Counter,
    ["agent_type", "status"],
    Worker,
    "Agent runs, by agent and outcome."
);
metric!(
    LLM_TOKENS_USED_TOTAL,
    "llm_tokens_used_total",
    Counter,
    ["provider", "model"],
    Worker,
    "Tokens (prompt and completion) used by model calls."
);
metric!(
    LLM_COST_USD_TOTAL,
    "llm_cost_usd_total",
    // The `metrics` crate's counters count whole numbers and dollars need a float, so this one
    // is kept outside the recorder (`add_llm_cost`) and rendered by `render_llm_cost`.
    Counter,
    ["provider"],
    Worker,
    "Cost of model calls in US dollars, from the shipped price table."
);
metric!(
    LLM_CALLS_TOTAL,
    "llm_calls_total",
    Counter,
    ["provider", "model", "status"],
    Worker,
    "Model calls, by provider, model and outcome."
);
metric!(
    LLM_CALL_DURATION_SECONDS,
    "llm_call_duration_seconds",
    Histogram,
    [],
    Worker,
    "Time of one model call, retries included."
);

// --- FreeCAD (worker) --------------------------------------------------------------------
metric!(
    FREECAD_EXECUTIONS_TOTAL,
    "freecad_executions_total",
    Counter,
    ["status"],
    Worker,
    "FreeCAD script runs, by outcome: success, failure, timeout, rejected."
);
metric!(
    FREECAD_EXECUTION_DURATION_SECONDS,
    "freecad_execution_duration_seconds",
    Histogram,
    [],
    Worker,
    "Time of one FreeCAD script run, export included."
);
metric!(
    FREECAD_SLOT_WAIT_SECONDS,
    "freecad_slot_wait_seconds",
    Histogram,
    [],
    Worker,
    "Time a job waited for a FreeCAD execution slot (FREECAD_POOL_SIZE at once per worker)."
);
metric!(
    FREECAD_ISOLATION_MODE,
    "freecad_isolation_mode",
    Gauge,
    ["mode"],
    Worker,
    "1 for the isolation FreeCAD scripts run in on this worker: bubblewrap or rlimits_only."
);
metric!(
    FREECAD_SANDBOX_WEAKENED,
    "freecad_sandbox_weakened",
    Gauge,
    [],
    Worker,
    "1 when FreeCAD scripts run without bubblewrap (FREECAD_ISOLATION=rlimits_only), else 0."
);
metric!(
    WORKER_RUNNING_AS_ROOT,
    "worker_running_as_root",
    Gauge,
    [],
    Worker,
    "1 when the worker process runs as root (it should run as an unprivileged user), else 0."
);
metric!(
    FREECAD_POOL_PROCESSES,
    "freecad_pool_processes",
    Gauge,
    [],
    Worker,
    "Warm FreeCAD processes alive in this worker's pool."
);

// --- Result cache (worker) ---------------------------------------------------------------
metric!(
    DESIGN_CACHE_HITS_TOTAL,
    "design_cache_hits_total",
    Counter,
    ["kind"],
    Worker,
    "Designs completed from the result cache without running FreeCAD, by kind: offline, model."
);
metric!(
    DESIGN_CACHE_FAILURES_TOTAL,
    "design_cache_failures_total",
    Counter,
    ["step"],
    Worker,
    "Result-cache steps that failed (the job ran normally), by step: lookup, restore, store."
);

// --- HTTP (gateway) ----------------------------------------------------------------------
metric!(
    HTTP_REQUESTS_TOTAL,
    "http_requests_total",
    Counter,
    ["method", "route", "status"],
    Gateway,
    "HTTP requests answered, by method, route template and status code."
);
metric!(
    HTTP_REQUEST_DURATION_SECONDS,
    "http_request_duration_seconds",
    Histogram,
    ["method", "route"],
    Gateway,
    "Time to the response head, by method and route template (a stream's life is not included)."
);
metric!(
    HTTP_REQUESTS_IN_FLIGHT,
    "http_requests_in_flight",
    Gauge,
    [],
    Gateway,
    "HTTP requests being handled now (up to their response head)."
);
metric!(
    WEBSOCKET_CONNECTIONS_ACTIVE,
    "websocket_connections_active",
    Gauge,
    [],
    Gateway,
    "Open WebSocket connections (/ws and /ws/{request_id})."
);
metric!(
    SSE_CONNECTIONS_ACTIVE,
    "sse_connections_active",
    Gauge,
    [],
    Gateway,
    "Open Server-Sent Events streams."
);
metric!(
    RATE_LIMIT_REJECTIONS_TOTAL,
    "rate_limit_rejections_total",
    Counter,
    [],
    Gateway,
    "Requests answered 429 by the shared rate limit."
);
metric!(
    RATE_LIMIT_FAIL_OPEN_TOTAL,
    "rate_limit_fail_open_total",
    Counter,
    [],
    Gateway,
    "Requests let through unchecked because the rate limiter could not reach Redis."
);
metric!(
    RATE_LIMIT_FAIL_CLOSED_TOTAL,
    "rate_limit_fail_closed_total",
    Counter,
    [],
    Gateway,
    "Requests answered 503 because the rate limiter could not reach Redis."
);

// --- Queue (sampled by the gateway holding the sampler lock) ------------------------------
metric!(
    QUEUE_DEPTH,
    "queue_depth",
    Gauge,
    ["state"],
    Gateway,
    "Jobs in the apalis-redis queue by state: pending, running, scheduled, done, failed, dead."
);
metric!(
    QUEUE_WORKERS_ALIVE,
    "queue_workers_alive",
    Gauge,
    [],
    Gateway,
    "Workers whose last heartbeat is within the orphan window (heartbeat x missed heartbeats)."
);

// --- Users' feedback (gateway) ----------------------------------------------------------
metric!(
    DESIGN_FEEDBACK_TOTAL,
    "design_feedback_total",
    Counter,
    ["rating"],
    Gateway,
    "Feedback given on designs, by value: thumbs_up, thumbs_down, accepted, rejected."
);

// --- Budgets and usage ---------------------------------------------------------------
metric!(
    USAGE_USD_TOTAL,
    // Dollars need a float: kept outside the recorder like `llm_cost_usd_total`.
    "usage_usd_total",
    Counter,
    ["principal"],
    Worker,
    "Model dollars charged to principals' usage; labelled by principal only with METRICS_PER_PRINCIPAL=true."
);
metric!(
    USAGE_FREECAD_SECONDS_TOTAL,
    "usage_freecad_seconds_total",
    Counter,
    ["principal"],
    Worker,
    "FreeCAD seconds charged to principals' usage; labelled by principal only with METRICS_PER_PRINCIPAL=true."
);
metric!(
    BUDGET_ALERTS_TOTAL,
    "budget_alerts_total",
    Counter,
    ["threshold"],
    Worker,
    "Budget threshold crossings (50, 80, 100 percent) sent to BUDGET_WEBHOOK_URL's queue."
);
metric!(
    BUDGET_REJECTIONS_TOTAL,
    "budget_rejections_total",
    Counter,
    [],
    Gateway,
    "Submissions and refines answered 402 budget_exceeded."
);

// --- Redis (both) ------------------------------------------------------------------------
metric!(
    REDIS_ERRORS_TOTAL,
    "redis_errors_total",
    Counter,
    ["component"],
    Both,
    "Failed Redis operations, by the component that made them."
);

/// Every metric, in the order of the list above.
pub const ALL: &[Metric] = &[
    DESIGN_REQUESTS_TOTAL,
    DESIGN_DURATION_SECONDS,
    ACTIVE_DESIGNS,
    QUEUE_JOBS_RETRIED_TOTAL,
    WORKER_LOOP_RESTARTS_TOTAL,
    AGENT_CALL_DURATION_SECONDS,
    AGENT_RUNS_TOTAL,
    LLM_TOKENS_USED_TOTAL,
    LLM_COST_USD_TOTAL,
    LLM_CALLS_TOTAL,
    LLM_CALL_DURATION_SECONDS,
    FREECAD_EXECUTIONS_TOTAL,
    FREECAD_EXECUTION_DURATION_SECONDS,
    FREECAD_SLOT_WAIT_SECONDS,
    FREECAD_ISOLATION_MODE,
    FREECAD_SANDBOX_WEAKENED,
    WORKER_RUNNING_AS_ROOT,
    FREECAD_POOL_PROCESSES,
    DESIGN_CACHE_HITS_TOTAL,
    DESIGN_CACHE_FAILURES_TOTAL,
    HTTP_REQUESTS_TOTAL,
    HTTP_REQUEST_DURATION_SECONDS,
    HTTP_REQUESTS_IN_FLIGHT,
    WEBSOCKET_CONNECTIONS_ACTIVE,
    SSE_CONNECTIONS_ACTIVE,
    RATE_LIMIT_REJECTIONS_TOTAL,
    RATE_LIMIT_FAIL_OPEN_TOTAL,
    RATE_LIMIT_FAIL_CLOSED_TOTAL,
    QUEUE_DEPTH,
    QUEUE_WORKERS_ALIVE,
    DESIGN_FEEDBACK_TOTAL,
    USAGE_USD_TOTAL,
    USAGE_FREECAD_SECONDS_TOTAL,
    BUDGET_ALERTS_TOTAL,
    BUDGET_REJECTIONS_TOTAL,
    REDIS_ERRORS_TOTAL,
];

/// The outcomes of `design_requests_total{status}`.
pub const DESIGN_OUTCOMES: [&str; 4] = ["success", "failure", "timeout", "cancelled"];

/// The states of `queue_depth{state}`.
pub const QUEUE_STATES: [&str; 6] = ["pending", "running", "scheduled", "done", "failed", "dead"];

/// The kinds of `design_cache_hits_total{kind}`.
pub const CACHE_KINDS: [&str; 2] = ["offline", "model"];

/// The steps of `design_cache_failures_total{step}`.
pub const CACHE_STEPS: [&str; 3] = ["lookup", "restore", "store"];

/// What made a Redis call that failed: the bounded values of `redis_errors_total{component}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisComponent {
    /// Gateway handlers (job records, enqueue, cancel).
    Api,
    /// The gateway's shared rate limiter.
    RateLimiter,
    /// The gateway's event subscription and replay reads.
    Events,
    /// The gateway's queue sampler.
    QueueSampler,
    /// A worker's job records and progress events.
    Jobs,
    /// A worker's "task available" subscription.
    WakeUps,
    /// A worker's queue upkeep: promoting due retries, forgetting finished tasks, renewing
    /// the workers' metadata expiry.
    QueueUpkeep,
    /// The gateway's artifact sweeper (its election lock and the expired-jobs index).
    ArtifactSweeper,
}

impl RedisComponent {
    pub const GATEWAY: [Self; 5] = [
        Self::Api,
        Self::RateLimiter,
        Self::Events,
        Self::QueueSampler,
        Self::ArtifactSweeper,
    ];
    pub const WORKER: [Self; 3] = [Self::Jobs, Self::WakeUps, Self::QueueUpkeep];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::RateLimiter => "rate_limiter",
            Self::Events => "events",
            Self::QueueSampler => "queue_sampler",
            Self::Jobs => "jobs",
            Self::WakeUps => "wake_ups",
            Self::QueueUpkeep => "queue_upkeep",
            Self::ArtifactSweeper => "artifact_sweeper",
        }
    }
}

/// Counts one failed Redis operation.
pub fn record_redis_error(component: RedisComponent) {
    metrics::counter!(REDIS_ERRORS_TOTAL.name, "component" => component.as_str()).increment(1);
}

/// Gives every metric its help text (rendered as `# HELP` once the metric has a series).
pub fn describe_all() {
    for metric in ALL {
        match metric.kind {
            MetricKind::Counter => metrics::describe_counter!(metric.name, metric.help),
            MetricKind::Gauge => metrics::describe_gauge!(metric.name, metric.help),
            MetricKind::Histogram => metrics::describe_histogram!(metric.name, metric.help),
        }
    }
}

/// Creates the gateway's series at zero, so that they are scraped (and alerts and rates work)
/// before the first event, e.g. a fail-open counter that has never fired. Adding zero (never
/// setting) leaves a value alone that another component of the process has already recorded
/// (tests run several gateways and workers in one process, sharing one recorder).
pub fn init_gateway_series() {
    describe_all();
    for counter in [
        RATE_LIMIT_REJECTIONS_TOTAL,
        RATE_LIMIT_FAIL_OPEN_TOTAL,
        RATE_LIMIT_FAIL_CLOSED_TOTAL,
        BUDGET_REJECTIONS_TOTAL,
    ] {
        metrics::counter!(counter.name).increment(0);
    }
    for gauge in [
        HTTP_REQUESTS_IN_FLIGHT,
        WEBSOCKET_CONNECTIONS_ACTIVE,
        SSE_CONNECTIONS_ACTIVE,
    ] {
        metrics::gauge!(gauge.name).increment(0.0);
    }
    for rating in crate::job::FeedbackRating::ALL {
        metrics::counter!(DESIGN_FEEDBACK_TOTAL.name, "rating" => rating.as_str()).increment(0);
    }
    for component in RedisComponent::GATEWAY {
        metrics::counter!(REDIS_ERRORS_TOTAL.name, "component" => component.as_str()).increment(0);
    }
}

/// Creates the worker's series at zero.
///
/// The agent and model metrics get one unlabelled zero series each: their label values (which
/// provider, which model) exist only once a model is called, yet the dashboards and alerts
/// must find the names with the right type on a worker that has used only the offline planner.
/// An unlabelled series adds nothing to a `sum by (provider)`: it shows as one group `{}` at 0.
pub fn init_worker_series() {
    describe_all();
    for outcome in DESIGN_OUTCOMES {
        metrics::counter!(DESIGN_REQUESTS_TOTAL.name, "status" => outcome).increment(0);
    }
    for counter in [
        QUEUE_JOBS_RETRIED_TOTAL,
        WORKER_LOOP_RESTARTS_TOTAL,
        AGENT_RUNS_TOTAL,
        LLM_TOKENS_USED_TOTAL,
        LLM_CALLS_TOTAL,
    ] {
        metrics::counter!(counter.name).increment(0);
    }
    for histogram in [
        DESIGN_DURATION_SECONDS,
        AGENT_CALL_DURATION_SECONDS,
        LLM_CALL_DURATION_SECONDS,
        FREECAD_EXECUTION_DURATION_SECONDS,
        FREECAD_SLOT_WAIT_SECONDS,
    ] {
        // Registering a histogram renders its buckets at zero; no sample is recorded.
        let _ = metrics::histogram!(histogram.name);
    }
    metrics::gauge!(ACTIVE_DESIGNS.name).increment(0.0);
    for status in ["success", "failure", "timeout", "rejected"] {
        metrics::counter!(FREECAD_EXECUTIONS_TOTAL.name, "status" => status).increment(0);
    }
    for threshold in crate::budget::THRESHOLDS_PERCENT {
        metrics::counter!(BUDGET_ALERTS_TOTAL.name, "threshold" => threshold.to_string())
            .increment(0);
    }
    for component in RedisComponent::WORKER {
        metrics::counter!(REDIS_ERRORS_TOTAL.name, "component" => component.as_str()).increment(0);
    }
    for kind in CACHE_KINDS {
        metrics::counter!(DESIGN_CACHE_HITS_TOTAL.name, "kind" => kind).increment(0);
    }
    for step in CACHE_STEPS {
        metrics::counter!(DESIGN_CACHE_FAILURES_TOTAL.name, "step" => step).increment(0);
    }
}

/// Adds one to a gauge now and takes it off again when dropped, so that a connection or a job
/// that ends any way at all (finished, failed, cancelled future, panic) is counted out.
#[must_use = "the gauge goes down again when this guard is dropped"]
pub struct GaugeGuard {
    gauge: metrics::Gauge,
}

impl GaugeGuard {
    pub fn increment(metric: Metric) -> Self {
        debug_assert_eq!(metric.kind, MetricKind::Gauge);
        let gauge = metrics::gauge!(metric.name);
        gauge.increment(1.0);
        Self { gauge }
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.gauge.decrement(1.0);
    }
}

/// Writes series that this process does not keep in the recorder (a snapshot read from Redis,
/// a float counter) in the Prometheus text format, with their `# HELP` and `# TYPE` lines.
pub fn render_series(out: &mut String, metric: Metric, series: &[(&[(&str, &str)], f64)]) {
    let kind = match metric.kind {
        MetricKind::Counter => "counter",
        MetricKind::Gauge => "gauge",
        MetricKind::Histogram => unreachable!("histograms live in the recorder"),
    };
    let _ = writeln!(out, "# HELP {} {}", metric.name, metric.help);
    let _ = writeln!(out, "# TYPE {} {kind}", metric.name);
    for (labels, value) in series {
        out.push_str(metric.name);
        if !labels.is_empty() {
            let pairs: Vec<String> = labels
                .iter()
                .map(|(name, value)| format!("{name}=\"{}\"", escape_label_value(value)))
                .collect();
            let _ = write!(out, "{{{}}}", pairs.join(","));
        }
        let _ = writeln!(out, " {value}");
    }
    out.push('\n');
}

/// Dollars spent on model calls so far in this process, by provider.
static LLM_COST_BY_PROVIDER: std::sync::Mutex<std::collections::BTreeMap<String, f64>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// Counts the cost of one model call into `llm_cost_usd_total{provider}`.
pub fn add_llm_cost(provider: &str, usd: f64) {
    if usd.is_finite() && usd > 0.0 {
        let mut costs = LLM_COST_BY_PROVIDER.lock().expect("cost lock");
        *costs.entry(provider.to_owned()).or_insert(0.0) += usd;
    }
}

/// `llm_cost_usd_total` as a counter with float values; one unlabelled zero series before any
/// call, like the other zero series of the worker.
pub fn render_llm_cost(out: &mut String) {
    let costs = LLM_COST_BY_PROVIDER.lock().expect("cost lock").clone();
    let providers: Vec<[(&str, &str); 1]> =
        costs.keys().map(|p| [("provider", p.as_str())]).collect();
    let series: Vec<(&[(&str, &str)], f64)> = if costs.is_empty() {
        vec![(&[], 0.0)]
    } else {
        providers
            .iter()
            .zip(costs.values())
            .map(|(labels, usd)| (&labels[..], *usd))
            .collect()
    };
    render_series(out, LLM_COST_USD_TOTAL, &series);
}

/// Usage charged so far in this process: (principal, or `None` when not labelled by
/// principal) -> (dollars, FreeCAD seconds).
static USAGE_BY_PRINCIPAL: std::sync::Mutex<
    std::collections::BTreeMap<Option<String>, (f64, f64)>,
> = std::sync::Mutex::new(std::collections::BTreeMap::new());

/// Counts one job attempt's spend into `usage_usd_total` and `usage_freecad_seconds_total`,
/// under the principal's label only when `per_principal` (`METRICS_PER_PRINCIPAL`), so that
/// the series stay bounded otherwise.
pub fn add_usage(principal: &str, per_principal: bool, usd: f64, freecad_seconds: f64) {
    let label = per_principal.then(|| principal.to_owned());
    let mut usage = USAGE_BY_PRINCIPAL.lock().expect("usage lock");
    let entry = usage.entry(label).or_insert((0.0, 0.0));
    entry.0 += usd.max(0.0);
    entry.1 += freecad_seconds.max(0.0);
}

/// The usage counters (floats); one unlabelled zero series each before any charge.
pub fn render_usage(out: &mut String) {
    let usage = USAGE_BY_PRINCIPAL.lock().expect("usage lock").clone();
    let labels: Vec<Vec<(&str, &str)>> = usage
        .keys()
        .map(|principal| match principal {
            Some(name) => vec![("principal", name.as_str())],
            None => Vec::new(),
        })
        .collect();
    for (metric, pick) in [
        (
            USAGE_USD_TOTAL,
            (|v: &(f64, f64)| v.0) as fn(&(f64, f64)) -> f64,
        ),
        (USAGE_FREECAD_SECONDS_TOTAL, |v: &(f64, f64)| v.1),
    ] {
        let series: Vec<(&[(&str, &str)], f64)> = if usage.is_empty() {
            vec![(&[], 0.0)]
        } else {
            labels
                .iter()
                .zip(usage.values())
                .map(|(labels, value)| (&labels[..], pick(value)))
                .collect()
        };
        render_series(out, metric, &series);
    }
}

fn escape_label_value(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// The predecessor's metric names, kept word for word (README.md's metrics table lists them).
    const PREDECESSOR_NAMES: &[(&str, MetricKind)] = &[
        ("design_requests_total", MetricKind::Counter),
        ("design_duration_seconds", MetricKind::Histogram),
        ("agent_call_duration_seconds", MetricKind::Histogram),
        ("llm_tokens_used_total", MetricKind::Counter),
        ("llm_cost_usd_total", MetricKind::Counter),
        ("active_designs", MetricKind::Gauge),
        ("http_requests_total", MetricKind::Counter),
        ("http_request_duration_seconds", MetricKind::Histogram),
        ("http_requests_in_flight", MetricKind::Gauge),
        ("llm_calls_total", MetricKind::Counter),
        ("llm_call_duration_seconds", MetricKind::Histogram),
        ("freecad_executions_total", MetricKind::Counter),
        ("freecad_execution_duration_seconds", MetricKind::Histogram),
        ("agent_runs_total", MetricKind::Counter),
        ("websocket_connections_active", MetricKind::Gauge),
    ];

    #[test]
    fn every_predecessor_name_is_defined_with_its_type() {
        for (name, kind) in PREDECESSOR_NAMES {
            let metric = ALL
                .iter()
                .find(|m| m.name == *name)
                .unwrap_or_else(|| panic!("{name} is missing from metrics::ALL"));
            assert_eq!(metric.kind, *kind, "{name}");
        }
    }

    #[test]
    fn names_are_unique_and_follow_prometheus_conventions() {
        let mut seen = HashSet::new();
        for metric in ALL {
            assert!(seen.insert(metric.name), "{} twice", metric.name);
            assert!(
                metric
                    .name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{}",
                metric.name
            );
            match metric.kind {
                MetricKind::Counter => assert!(metric.name.ends_with("_total"), "{}", metric.name),
                MetricKind::Histogram => {
                    // The latency buckets are set for every name with this suffix.
                    assert!(metric.name.ends_with("_seconds"), "{}", metric.name)
                }
                MetricKind::Gauge => assert!(!metric.name.ends_with("_total"), "{}", metric.name),
            }
            assert!(!metric.help.is_empty());
        }
    }

    #[test]
    fn rendered_gauges_are_valid_text_format() {
        let mut out = String::new();
        render_series(
            &mut out,
            QUEUE_DEPTH,
            &[(&[("state", "pending")], 3.0), (&[("state", "a\"b")], 0.0)],
        );
        render_series(&mut out, QUEUE_WORKERS_ALIVE, &[(&[], 2.0)]);
        assert!(out.contains("# TYPE queue_depth gauge\n"));
        assert!(out.contains("queue_depth{state=\"pending\"} 3\n"));
        assert!(out.contains("queue_depth{state=\"a\\\"b\"} 0\n"));
        assert!(out.contains("\nqueue_workers_alive 2\n"));
    }
}
