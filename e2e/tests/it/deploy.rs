//! The compose stack, which cannot run here (no Docker engine), at least wires its parts to
//! the shipped files: Prometheus scrapes the ports gateway and workers listen on, Grafana's
//! provider path is where the dashboards are mounted, and every panel uses the provisioned
//! data source.

use serde_json::Value;

use crate::metrics::deploy_dir;

fn yaml(relative: &str) -> serde_yaml::Value {
    let path = deploy_dir().join(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

fn port_of(addr: &str) -> u64 {
    addr.rsplit(':').next().unwrap().parse().unwrap()
}

#[test]
fn prometheus_scrapes_the_ports_the_compose_services_listen_on() {
    let compose = yaml("../docker-compose.yml");
    let services = &compose["services"];
    let gateway_port = port_of(
        services["gateway"]["environment"]["GATEWAY_ADDR"]
            .as_str()
            .unwrap(),
    );
    let worker_port = port_of(
        services["worker"]["environment"]["WORKER_METRICS_ADDR"]
            .as_str()
            .unwrap(),
    );
    let prometheus = yaml("prometheus/prometheus.yml");
    let mut jobs = Vec::new();
    for scrape in prometheus["scrape_configs"].as_sequence().unwrap() {
        let job = scrape["job_name"].as_str().unwrap();
        let discovery = &scrape["dns_sd_configs"][0];
        let service = discovery["names"][0].as_str().unwrap();
        assert!(
            services.get(service).is_some(),
            "{job} scrapes unknown service {service}"
        );
        let expected = match service {
            "gateway" => gateway_port,
            "worker" => worker_port,
            other => panic!("unexpected scrape target {other}"),
        };
        assert_eq!(discovery["port"].as_u64(), Some(expected), "{job}");
        jobs.push(job.to_owned());
    }
    assert_eq!(jobs, ["gateway", "worker"]);
    // Redis keeps accepted jobs across a restart.
    let redis_command: Vec<&str> = services["redis"]["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|part| part.as_str().unwrap())
        .collect();
    assert!(
        redis_command
            .windows(2)
            .any(|w| w == ["--appendonly", "yes"])
    );
}

#[test]
fn grafana_loads_the_dashboard_from_where_compose_mounts_it() {
    let compose = yaml("../docker-compose.yml");
    let mounts: Vec<&str> = compose["services"]["grafana"]["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|mount| mount.as_str().unwrap())
        .collect();
    let provider = yaml("grafana/provisioning/dashboards/designer.yml");
    let path = provider["providers"][0]["options"]["path"]
        .as_str()
        .unwrap();
    assert!(
        mounts.contains(&format!("./deploy/grafana/dashboards:{path}:ro").as_str()),
        "{mounts:?} does not mount the dashboards at {path}"
    );
    assert!(mounts.contains(&"./deploy/grafana/provisioning:/etc/grafana/provisioning:ro"));

    let datasources = yaml("grafana/provisioning/datasources/prometheus.yml");
    let uid = datasources["datasources"][0]["uid"].as_str().unwrap();
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(deploy_dir().join("grafana/dashboards/designer.json")).unwrap(),
    )
    .unwrap();
    for panel in dashboard["panels"].as_array().unwrap() {
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(panel["datasource"]["uid"], uid, "{}", panel["title"]);
        for target in panel["targets"].as_array().unwrap() {
            assert_eq!(target["datasource"]["uid"], uid, "{}", panel["title"]);
        }
    }
}
