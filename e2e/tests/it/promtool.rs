//! The shipped Prometheus files pass Prometheus's own checks: `promtool check config`,
//! `promtool check rules`, and the alert unit tests of `alerts.test.yml`.

use std::process::Command;

use crate::metrics::deploy_dir;

/// Runs promtool in `deploy/prometheus` and returns its output; panics with it on failure.
fn promtool(args: &[&str]) -> String {
    let output = Command::new("promtool")
        .args(args)
        .current_dir(deploy_dir().join("prometheus"))
        .output()
        .expect("promtool must be installed (make test installs Debian's prometheus)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

#[test]
fn the_prometheus_config_is_valid_and_finds_its_rules() {
    let output = promtool(&["check", "config", "prometheus.yml"]);
    assert!(output.contains("SUCCESS: 1 rule files found"), "{output}");
}

#[test]
fn the_alert_rules_are_valid() {
    let output = promtool(&["check", "rules", "alerts.yml"]);
    assert!(output.contains("SUCCESS"), "{output}");
}

#[test]
fn the_alert_unit_tests_pass() {
    let tests = std::fs::read_to_string(deploy_dir().join("prometheus/alerts.test.yml")).unwrap();
    // At least the backlog and no-worker alerts are tested firing.
    for alert in ["DesignQueueBacklogGrowing", "DesignNoWorkersAlive"] {
        assert!(tests.contains(&format!("alertname: {alert}")), "{alert}");
    }
    let output = promtool(&["test", "rules", "alerts.test.yml"]);
    assert!(output.contains("SUCCESS"), "{output}");
}
