//! Metrics operators can trust: every name of README.md's metrics table with its type after a real
//! job, every metric the dashboard and the alert rules use present in the live output, the
//! queue gauges against apalis-redis's real layout, and a real Prometheus scraping a real
//! gateway and worker.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use api_gateway::queue_sampler::QueueSampler;
use promql_parser::parser::{self, Expr};
use promql_parser::util::{ExprVisitor, walk_expr};
use serde_json::{Value, json};
use shared::job::DesignStatus;
use shared::metrics::{self as names, Exposer, MetricKind};

use e2e::{AppOptions, TestApp, spawn_app_with, wait_until};

const JOB_LIMIT: Duration = Duration::from_secs(90);

pub fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// One `/metrics` page: the `# TYPE` of each metric family and every sample's name and labels.
struct Exposition {
    types: HashMap<String, String>,
    samples: Vec<(String, String)>,
}

impl Exposition {
    fn parse(text: &str) -> Self {
        let mut types = HashMap::new();
        let mut samples = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut parts = rest.split_whitespace();
                let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
                    panic!("malformed TYPE line: {line}");
                };
                let earlier = types.insert(name.to_owned(), kind.to_owned());
                assert!(earlier.is_none(), "two TYPE lines for {name}");
            } else if !line.is_empty() && !line.starts_with('#') {
                let end = line.find(['{', ' ']).expect("a sample line has a value");
                let labels = line[end..].strip_prefix('{').map_or("", label_block);
                samples.push((line[..end].to_owned(), labels.to_owned()));
            }
        }
        Self { types, samples }
    }

    fn sample_names(&self) -> BTreeSet<&str> {
        self.samples.iter().map(|(name, _)| name.as_str()).collect()
    }

    fn has_sample(&self, name: &str, label: &str) -> bool {
        self.samples
            .iter()
            .any(|(n, labels)| n == name && labels.contains(label))
    }
}

/// The labels of a sample up to their closing brace, which may not be inside a quoted value
/// (a route template such as `/api/v1/design/{request_id}` holds braces).
fn label_block(after_brace: &str) -> &str {
    let mut quoted = false;
    let mut escaped = false;
    for (at, c) in after_brace.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            '}' if !quoted => return &after_brace[..at],
            _ => {}
        }
    }
    panic!("unclosed labels: {after_brace}")
}

/// The value of a metric without labels (0 when it is not there).
fn unlabelled_value(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|line| line.starts_with(&format!("{name} ")))
        .and_then(|line| line.split_whitespace().last()?.parse().ok())
        .unwrap_or(0.0)
}

async fn metrics_page(client: &reqwest::Client, base: &str) -> String {
    let response = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(response.status(), 200);
    response.text().await.expect("a text body")
}

async fn gateway_metrics(app: &TestApp) -> Exposition {
    Exposition::parse(&metrics_page(&app.client, &app.address).await)
}

async fn worker_metrics(app: &TestApp) -> Exposition {
    let base = format!("http://127.0.0.1:{}", app.worker_metrics_ports[0]);
    Exposition::parse(&metrics_page(&app.client, &base).await)
}

/// A gateway and one worker, the queue sampled every second, after one real job (with its
/// events read over SSE) that completed.
async fn app_after_one_job() -> TestApp {
    let app = spawn_app_with(AppOptions {
        env: vec![("QUEUE_METRICS_INTERVAL_SECONDS", "1".to_owned())],
        ..AppOptions::default()
    })
    .await;
    let id = app
        .submit(&json!({ "prompt": "a box 30 x 20 x 10 mm", "output_formats": ["step"] }))
        .await;
    let status = app.wait_for_end(&id, JOB_LIMIT).await;
    assert_eq!(status.status, DesignStatus::Completed, "{status:?}");
    let events = app
        .sse(None, &id, None)
        .await
        .collect_to_end(JOB_LIMIT)
        .await;
    assert_eq!(events.last().expect("events").event, "completed");
    app
}

/// Polls the gateway until it exports the queue gauges (it samples at start, then every second).
async fn wait_for_queue_gauges(app: &TestApp) -> Exposition {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let page = gateway_metrics(app).await;
        if page.types.contains_key(names::QUEUE_DEPTH.name) {
            return page;
        }
        assert!(
            Instant::now() < deadline,
            "the gateway never exported queue_depth"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_one_job_every_metric_is_exposed_with_its_type() {
    let app = app_after_one_job().await;
    let gateway = wait_for_queue_gauges(&app).await;
    let worker = worker_metrics(&app).await;

    // shared::metrics::ALL holds every name of README.md's metrics table (its unit tests check that).
    for metric in names::ALL {
        let pages: &[(&str, &Exposition)] = match metric.exposer {
            Exposer::Gateway => &[("gateway", &gateway)],
            Exposer::Worker => &[("worker", &worker)],
            Exposer::Both => &[("gateway", &gateway), ("worker", &worker)],
        };
        for (process, page) in pages {
            assert_eq!(
                page.types.get(metric.name).map(String::as_str),
                Some(metric.kind.as_str()),
                "{} on the {process}'s /metrics",
                metric.name
            );
        }
    }

    // The job is counted where it ended, with its end-to-end time.
    assert!(worker.has_sample("design_requests_total", "status=\"success\""));
    assert!(worker.has_sample("design_duration_seconds_bucket", "le=\"600\""));
    assert!(worker.has_sample("freecad_executions_total", "status=\"success\""));
    // Every outcome and every queue state is a series, so rates and ratios are defined.
    for outcome in names::DESIGN_OUTCOMES {
        assert!(worker.has_sample("design_requests_total", &format!("status=\"{outcome}\"")));
    }
    for state in names::QUEUE_STATES {
        assert!(gateway.has_sample("queue_depth", &format!("state=\"{state}\"")));
    }
    // Histograms have real buckets, milliseconds to minutes, not summaries.
    for histogram in names::ALL
        .iter()
        .filter(|m| m.kind == MetricKind::Histogram)
    {
        for le in ["0.001", "600", "+Inf"] {
            let page = if histogram.exposer == Exposer::Gateway {
                &gateway
            } else {
                &worker
            };
            let bucket = format!("{}_bucket", histogram.name);
            assert!(
                page.has_sample(&bucket, &format!("le=\"{le}\"")),
                "{bucket} le={le}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_metrics_use_route_templates_never_raw_paths() {
    let app = spawn_app_with(AppOptions {
        workers: 0,
        ..AppOptions::default()
    })
    .await;
    let id = app.create_idle_job().await.to_string();
    assert_eq!(app.get(&format!("/api/v1/design/{id}")).await.status(), 200);
    let unknown = shared::job_id::JobId::new().to_string();
    assert_eq!(
        app.get(&format!("/api/v1/design/{unknown}")).await.status(),
        404
    );
    assert_eq!(app.get(&format!("/no/such/{unknown}")).await.status(), 404);

    let text = metrics_page(&app.client, &app.address).await;
    let page = Exposition::parse(&text);
    let http_lines: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with("http_requests_total"))
        .collect();
    assert!(!http_lines.is_empty());
    assert!(
        page.has_sample(
            "http_requests_total",
            "route=\"/api/v1/design/{request_id}\",status=\"200\""
        ),
        "{http_lines:#?}"
    );
    assert!(page.has_sample(
        "http_requests_total",
        "route=\"/api/v1/design/{request_id}\",status=\"404\""
    ));
    assert!(page.has_sample("http_requests_total", "route=\"unmatched\",status=\"404\""));
    assert!(page.has_sample(
        "http_request_duration_seconds_bucket",
        "method=\"GET\",route=\"/api/v1/design/{request_id}\""
    ));
    for raw in [&id, &unknown] {
        assert!(
            !text.contains(raw.as_str()),
            "a job id became a label value"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_event_streams_are_counted() {
    let app = spawn_app_with(AppOptions {
        workers: 0,
        ..AppOptions::default()
    })
    .await;
    let id = app.create_idle_job().await.to_string();
    let _sse = app.sse(None, &id, None).await;
    let (_socket, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/ws/{id}", app.port))
            .await
            .expect("WebSocket upgrade");
    // The socket's task starts after the upgrade answer; poll until it has counted itself.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = metrics_page(&app.client, &app.address).await;
        // Other tests of this binary share the process's recorder: at least ours are open.
        if unlabelled_value(&text, "sse_connections_active") >= 1.0
            && unlabelled_value(&text, "websocket_connections_active") >= 1.0
        {
            break;
        }
        assert!(Instant::now() < deadline, "connections not counted: {text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A storage error is not the job's fault: the handler returns an error, apalis-redis schedules
/// the job again, and the run that picks it up counts as a retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_hits_a_storage_error_is_retried_and_counted() {
    let app = spawn_app_with(AppOptions::default()).await;
    let worker = format!("http://127.0.0.1:{}", app.worker_metrics_ports[0]);
    let before = unlabelled_value(
        &metrics_page(&app.client, &worker).await,
        names::QUEUE_JOBS_RETRIED_TOTAL.name,
    );
    // The artifact folder becomes a file: publishing the job's files fails with an I/O error.
    std::fs::remove_dir_all(app.artifact_dir()).unwrap();
    std::fs::write(app.artifact_dir(), b"not a folder").unwrap();
    let id = app
        .submit(&json!({ "prompt": "a 10 mm cube", "output_formats": ["stl"] }))
        .await;

    wait_until("a retry counted", JOB_LIMIT, async || {
        let text = metrics_page(&app.client, &worker).await;
        // No other test of this binary makes a job fail with a retryable error.
        (unlabelled_value(&text, names::QUEUE_JOBS_RETRIED_TOTAL.name) > before).then_some(())
    })
    .await;
    let status = app.design_status(&id).await;
    assert_ne!(status.status, DesignStatus::Completed, "{status:?}");
    assert_ne!(
        status.status,
        DesignStatus::Failed,
        "a retryable error does not end the job: {status:?}"
    );
}

/// The queue script reads apalis-redis's own layout: set up each state by hand with the key
/// names of `shared::keys` (which a worker unit test checks against apalis-redis).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_sampler_counts_every_state_and_only_one_gateway_samples() {
    let app = spawn_app_with(AppOptions {
        workers: 0,
        ..AppOptions::default()
    })
    .await;
    for _ in 0..3 {
        app.create_idle_job().await;
    }
    let keys = app.keys();
    let mut conn = app.async_redis().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let orphan_window = app.settings.queue.worker_orphan_window().as_secs();
    let _: () = redis::pipe()
        .cmd("ZADD")
        .arg(keys.queue_workers())
        .arg(now)
        .arg("alive-worker")
        .cmd("ZADD")
        .arg(keys.queue_workers())
        .arg(now - orphan_window - 5)
        .arg("silent-worker")
        .cmd("SADD")
        .arg(format!("{}:alive-worker", keys.queue_inflight_prefix()))
        .arg("t1")
        .arg("t2")
        .cmd("SADD")
        .arg(format!("{}:silent-worker", keys.queue_inflight_prefix()))
        .arg("t3")
        .cmd("ZADD")
        .arg(keys.queue_scheduled())
        .arg(now + 60)
        .arg("t4")
        .cmd("SADD")
        .arg(keys.queue_done())
        .arg("t5")
        .arg("t6")
        .arg("t7")
        .arg("t8")
        .cmd("SADD")
        .arg(keys.queue_dead())
        .arg("t9")
        .query_async(&mut conn)
        .await
        .unwrap();

    // The test's gateway samples too; take its lock away so that these two compete alone.
    let _: () = redis::cmd("DEL")
        .arg(keys.queue_sampler_lock())
        .query_async(&mut conn)
        .await
        .unwrap();
    let first = sampler(&app, 200).await;
    let second = sampler(&app, 200).await;
    let snapshot = first
        .sample_once()
        .await
        .unwrap()
        .expect("the first to ask holds the lock");
    // pending, running, scheduled, done, failed, dead
    assert_eq!(snapshot.depth, [3, 3, 1, 4, 0, 1]);
    assert_eq!(snapshot.workers_alive, 1);
    assert_eq!(
        second.sample_once().await.unwrap(),
        None,
        "one sampler at a time"
    );
    assert!(
        first.sample_once().await.unwrap().is_some(),
        "the holder renews"
    );

    // The holder dies: its lock expires after three intervals and the other takes over.
    drop(first);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(second.sample_once().await.unwrap(), Some(snapshot));
}

async fn sampler(app: &TestApp, interval_ms: u64) -> QueueSampler {
    let client = shared::redis_conn::client(&app.settings.redis.url).unwrap();
    QueueSampler::new(
        shared::redis_conn::connection_manager(&client)
            .await
            .unwrap(),
        app.keys(),
        Duration::from_millis(interval_ms),
        app.settings.queue.worker_orphan_window(),
    )
}

/// Metric names a PromQL expression reads (its vector and range selectors).
fn selected_metrics(expression: &str) -> BTreeSet<String> {
    struct Names(BTreeSet<String>);
    impl ExprVisitor for Names {
        type Error = String;
        fn pre_visit(&mut self, expr: &Expr) -> Result<bool, String> {
            let selector = match expr {
                Expr::VectorSelector(selector) => selector,
                Expr::MatrixSelector(matrix) => &matrix.vs,
                _ => return Ok(true),
            };
            let name = selector
                .name
                .clone()
                .ok_or_else(|| format!("a selector without a metric name in {expr}"))?;
            self.0.insert(name);
            Ok(true)
        }
    }
    // Grafana replaces its interval variables before the query reaches Prometheus.
    let promql = grafana_to_promql(expression);
    let parsed = parser::parse(&promql).unwrap_or_else(|e| panic!("{promql}: {e}"));
    let mut names = Names(BTreeSet::new());
    walk_expr(&mut names, &parsed).unwrap_or_else(|e| panic!("{e}"));
    names.0
}

fn grafana_to_promql(expression: &str) -> String {
    expression
        .replace("$__rate_interval", "1m")
        .replace("$__interval", "1m")
}

/// Every target expression of the shipped dashboard, with its panel's title.
fn dashboard_expressions() -> Vec<(String, String)> {
    let path = deploy_dir().join("grafana/dashboards/designer.json");
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("the dashboard")).unwrap();
    assert_eq!(dashboard["uid"], "freecad-ai-designer", "a stable uid");
    let mut expressions = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().expect("a PromQL target");
            let title = panel["title"].as_str().unwrap_or("?");
            expressions.push((title.to_owned(), expr.to_owned()));
        }
    }
    assert!(expressions.len() >= 20, "{expressions:?}");
    expressions
}

/// Every alert rule's expression, with its name.
fn alert_expressions() -> Vec<(String, String)> {
    let path = deploy_dir().join("prometheus/alerts.yml");
    let rules: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&path).expect("the alert rules")).unwrap();
    let mut expressions = Vec::new();
    for group in rules["groups"].as_sequence().expect("groups") {
        for rule in group["rules"].as_sequence().expect("rules") {
            let name = rule["alert"].as_str().expect("an alert name");
            let expr = rule["expr"].as_str().expect("an expression");
            expressions.push((name.to_owned(), expr.to_owned()));
        }
    }
    expressions
}

#[test]
fn selected_metrics_reads_selectors_not_functions_labels_or_keywords() {
    assert_eq!(
        selected_metrics(
            r#"sum by (le, route) (rate(http_request_duration_seconds_bucket{route="/x", status=~"5.."}[$__rate_interval]))
               / on() group_left sum(rate(http_requests_total[5m] offset 1m)) > bool 0 or vector(1)"#
        ),
        BTreeSet::from([
            "http_request_duration_seconds_bucket".to_owned(),
            "http_requests_total".to_owned()
        ])
    );
    assert_eq!(
        selected_metrics("absent(queue_depth) and max(queue_workers_alive) == 0"),
        BTreeSet::from(["queue_depth".to_owned(), "queue_workers_alive".to_owned()])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_of_the_dashboard_and_the_alerts_exists_live() {
    let app = app_after_one_job().await;
    let gateway = wait_for_queue_gauges(&app).await;
    let worker = worker_metrics(&app).await;
    let live: BTreeSet<&str> = gateway
        .sample_names()
        .union(&worker.sample_names())
        .copied()
        .collect();
    let types: HashMap<&str, &str> = gateway
        .types
        .iter()
        .chain(&worker.types)
        .map(|(name, kind)| (name.as_str(), kind.as_str()))
        .collect();

    let mut checked = 0;
    for (source, expressions) in [
        ("dashboard", dashboard_expressions()),
        ("alerts", alert_expressions()),
    ] {
        for (title, expression) in expressions {
            let names = selected_metrics(&expression);
            assert!(!names.is_empty(), "{source} {title}: {expression}");
            for name in names {
                assert!(
                    live.contains(name.as_str()),
                    "{source} '{title}' uses {name}, which no /metrics exposes"
                );
                // A histogram is read through its series, never by its family name.
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|suffix| name.strip_suffix(suffix))
                    .filter(|family| types.get(family) == Some(&"histogram"));
                let kind = types.get(family.unwrap_or(&name)).copied();
                assert!(kind.is_some(), "{name} has no TYPE line");
                if name.ends_with("_bucket") {
                    assert_eq!(kind, Some("histogram"), "{source} '{title}': {name}");
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 30, "only {checked} metric references checked");
}

/// A `prometheus` server on a free port with its own storage, killed when dropped.
struct TestPrometheus {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for TestPrometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl TestPrometheus {
    /// The shipped `prometheus.yml` with its targets replaced by the test's gateway and worker
    /// and a one-second scrape interval; the shipped alert rules are loaded.
    async fn start(gateway: u16, worker: u16) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let shipped = deploy_dir().join("prometheus/prometheus.yml");
        let mut config: serde_yaml::Value =
            serde_yaml::from_str(&std::fs::read_to_string(&shipped).unwrap()).unwrap();
        config["global"]["scrape_interval"] = "1s".into();
        config["global"]["evaluation_interval"] = "1s".into();
        let alerts = deploy_dir().join("prometheus/alerts.yml");
        config["rule_files"] =
            serde_yaml::to_value(vec![alerts.canonicalize().unwrap().display().to_string()])
                .unwrap();
        let scrape_configs = config["scrape_configs"]
            .as_sequence_mut()
            .expect("scrape_configs");
        let mut jobs = Vec::new();
        for scrape in scrape_configs.iter_mut() {
            let job = scrape["job_name"].as_str().unwrap().to_owned();
            let port = match job.as_str() {
                "gateway" => gateway,
                "worker" => worker,
                other => panic!("unexpected scrape job {other}"),
            };
            let scrape = scrape.as_mapping_mut().unwrap();
            scrape.remove("dns_sd_configs");
            scrape.insert(
                "static_configs".into(),
                serde_yaml::to_value(vec![json!({ "targets": [format!("127.0.0.1:{port}")] })])
                    .unwrap(),
            );
            jobs.push(job);
        }
        assert_eq!(jobs, ["gateway", "worker"]);
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, serde_yaml::to_string(&config).unwrap()).unwrap();

        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus must be installed (make test installs Debian's prometheus)");
        let prometheus = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = client
                .get(format!("{}/-/ready", prometheus.base))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            if ready {
                return prometheus;
            }
            assert!(Instant::now() < deadline, "prometheus did not become ready");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn api(&self, path: &str, query: &[(&str, &str)]) -> Value {
        let response = reqwest::Client::new()
            .get(format!("{}{path}", self.base))
            .query(query)
            .send()
            .await
            .expect("the Prometheus API");
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["status"], "success", "{path} {query:?}: {body}");
        body["data"].clone()
    }

    /// The instant vector of `expression`, once it has any sample.
    async fn query_until_data(&self, expression: &str) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let data = self.api("/api/v1/query", &[("query", expression)]).await;
            let result = data["result"].as_array().cloned().unwrap_or_default();
            if !result.is_empty() {
                return result;
            }
            assert!(Instant::now() < deadline, "no data for {expression}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_both_and_every_dashboard_panel_has_data() {
    let app = app_after_one_job().await;
    let prometheus = TestPrometheus::start(app.port, app.worker_metrics_ports[0]).await;

    // Both targets are scraped...
    let up = prometheus.query_until_data("sum by (job) (up == 1)").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut up = up;
    while up.len() < 2 {
        assert!(Instant::now() < deadline, "not both targets up: {up:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
        up = prometheus.query_until_data("sum by (job) (up == 1)").await;
    }
    // ...and the shipped alert rules load.
    let rules = prometheus.api("/api/v1/rules", &[]).await;
    let loaded: usize = rules["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|group| group["rules"].as_array().unwrap().len())
        .sum();
    assert_eq!(loaded, alert_expressions().len());

    // Every panel's expression, as Grafana sends it, returns samples.
    for (title, expression) in dashboard_expressions() {
        let result = prometheus
            .query_until_data(&grafana_to_promql(&expression))
            .await;
        assert!(!result.is_empty(), "panel '{title}'");
    }
    // And the values mean what the panels say: one worker alive, the queue by its six states.
    let alive = prometheus
        .query_until_data("max(queue_workers_alive)")
        .await;
    assert_eq!(alive[0]["value"][1], "1", "{alive:?}");
    let states = prometheus
        .query_until_data("max by (state) (queue_depth)")
        .await;
    let states: BTreeSet<&str> = states
        .iter()
        .filter_map(|series| series["metric"]["state"].as_str())
        .collect();
    assert_eq!(states, BTreeSet::from(names::QUEUE_STATES));
    let done = prometheus
        .query_until_data("sum(design_requests_total{status=\"success\"})")
        .await;
    // Other tests of this binary share the process's recorder: at least this test's job.
    let done: f64 = done[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!(done >= 1.0);
}
