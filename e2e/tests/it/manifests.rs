//! The deployment files, checked without a container engine or a cluster: every Kubernetes
//! manifest with `kubernetes-validate` at Kubernetes 1.33, the KEDA ScaledObject and the
//! compose file with `check-jsonschema` (KEDA's schema is kept in `deploy/k8s/schemas`), and
//! every variable, port, command and probe cross-checked against what the binaries really read
//! and serve. The tools come from `.venv-tools`, which `make test` installs.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml::Value;
use shared::settings::{Settings, environment_variables};

use e2e::spawn_app;

/// The Kubernetes version the built-in kinds are validated at.
const KUBERNETES_VERSION: &str = "1.33.0";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn tool(name: &str) -> PathBuf {
    let path = repo().join(".venv-tools/bin").join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `make test` (scripts/install-python-tools.sh installs it)",
        path.display()
    );
    path
}

/// Runs a tool; returns whether it passed and what it printed.
fn run(tool_name: &str, args: &[&str], files: &[PathBuf]) -> (bool, String) {
    let output = Command::new(tool(tool_name))
        .args(args)
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("{tool_name}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// Every manifest under deploy/k8s (kustomizations aside), with its documents.
fn k8s_manifests() -> Vec<(PathBuf, Vec<Value>)> {
    let mut found = Vec::new();
    for dir in ["deploy/k8s/base", "deploy/k8s/overlays/example"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join(dir))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
            .filter(|path| !path.ends_with("kustomization.yaml"))
            .collect();
        files.sort();
        for file in files {
            let documents = yaml_documents(&file);
            found.push((file, documents));
        }
    }
    found
}

fn yaml_documents(file: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(file).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|document| {
            Value::deserialize(document).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
        })
        .filter(|document| !document.is_null())
        .collect()
}

use serde::Deserialize;

fn is_keda(document: &Value) -> bool {
    document["apiVersion"]
        .as_str()
        .is_some_and(|v| v.starts_with("keda.sh/"))
}

fn built_in_manifest_files() -> Vec<PathBuf> {
    k8s_manifests()
        .into_iter()
        .filter(|(_, documents)| !documents.iter().any(is_keda))
        .map(|(file, _)| file)
        .collect()
}

fn kubernetes_validate(files: &[PathBuf]) -> (bool, String) {
    run(
        "kubernetes-validate",
        &["--kubernetes-version", KUBERNETES_VERSION, "--strict"],
        files,
    )
}

#[test]
fn every_kubernetes_manifest_validates_at_the_stated_version() {
    let files = built_in_manifest_files();
    assert!(files.len() >= 6, "{files:?}");
    let (passed, output) = kubernetes_validate(&files);
    assert!(passed, "{output}");

    // The validator can fail: a misspelt field and a string port are refused.
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yaml");
    let gateway = std::fs::read_to_string(repo().join("deploy/k8s/base/gateway.yaml")).unwrap();
    std::fs::write(
        &broken,
        gateway.replacen("terminationGracePeriodSeconds", "terminationGracePeriod", 1),
    )
    .unwrap();
    let (passed, output) = kubernetes_validate(std::slice::from_ref(&broken));
    assert!(!passed, "a misspelt field passed: {output}");
    std::fs::write(
        &broken,
        gateway.replacen("containerPort: 8080", "containerPort: eighty", 1),
    )
    .unwrap();
    let (passed, output) = kubernetes_validate(std::slice::from_ref(&broken));
    assert!(!passed, "a string port passed: {output}");
}

fn keda_schema() -> String {
    repo()
        .join("deploy/k8s/schemas/keda-scaledobject-v1alpha1.json")
        .display()
        .to_string()
}

#[test]
fn the_scaled_object_validates_against_kedas_schema() {
    let scaled: Vec<PathBuf> = k8s_manifests()
        .into_iter()
        .filter(|(_, documents)| documents.iter().any(is_keda))
        .map(|(file, _)| file)
        .collect();
    assert_eq!(scaled.len(), 1, "{scaled:?}");
    let schema = keda_schema();
    let (passed, output) = run("check-jsonschema", &["--schemafile", &schema], &scaled);
    assert!(passed, "{output}");

    // An unquoted number in trigger metadata (KEDA reads strings only) is refused.
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("scaledobject.yaml");
    let text = std::fs::read_to_string(&scaled[0]).unwrap();
    std::fs::write(
        &broken,
        text.replacen("listLength: \"16\"", "listLength: 16", 1),
    )
    .unwrap();
    let (passed, output) = run("check-jsonschema", &["--schemafile", &schema], &[broken]);
    assert!(!passed, "a numeric metadata value passed: {output}");
}

#[test]
fn the_compose_file_validates_against_the_compose_spec() {
    let compose = repo().join("docker-compose.yml");
    let args = ["--builtin-schema", "vendor.compose-spec"];
    let (passed, output) = run("check-jsonschema", &args, std::slice::from_ref(&compose));
    assert!(passed, "{output}");

    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("docker-compose.yml");
    let text = std::fs::read_to_string(&compose).unwrap();
    std::fs::write(
        &broken,
        text.replacen("stop_grace_period:", "stop_grace:", 1),
    )
    .unwrap();
    let (passed, output) = run("check-jsonschema", &args, &[broken]);
    assert!(!passed, "an unknown service key passed: {output}");
}

/// One place a deployment file sets a variable.
struct Variable {
    file: String,
    name: String,
    value: Option<String>,
}

fn mapping_entries(value: &Value) -> Vec<(String, Option<String>)> {
    value
        .as_mapping()
        .map(|map| {
            map.iter()
                .map(|(k, v)| {
                    let value = match v {
                        Value::String(s) => Some(s.clone()),
                        Value::Number(n) => Some(n.to_string()),
                        Value::Bool(b) => Some(b.to_string()),
                        _ => None,
                    };
                    (k.as_str().unwrap().to_owned(), value)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn containers(document: &Value) -> Vec<&Value> {
    document["spec"]["template"]["spec"]["containers"]
        .as_sequence()
        .map(|c| c.iter().collect())
        .unwrap_or_default()
}

/// Every variable set by compose, the Kubernetes manifests and the Dockerfiles.
fn deployment_variables() -> Vec<Variable> {
    let mut found = Vec::new();
    let compose = yaml_documents(&repo().join("docker-compose.yml")).remove(0);
    for service in ["gateway", "worker"] {
        for (name, value) in mapping_entries(&compose["services"][service]["environment"]) {
            found.push(Variable {
                file: format!("docker-compose.yml ({service})"),
                name,
                value,
            });
        }
    }
    for (file, documents) in k8s_manifests() {
        let file = file.display().to_string();
        for document in documents {
            let kind = document["kind"].as_str().unwrap_or_default();
            let data = match kind {
                "ConfigMap" => mapping_entries(&document["data"]),
                "Secret" => mapping_entries(&document["stringData"]),
                _ => Vec::new(),
            };
            for (name, value) in data {
                found.push(Variable {
                    file: file.clone(),
                    name,
                    value,
                });
            }
            for container in containers(&document) {
                for entry in container["env"].as_sequence().into_iter().flatten() {
                    found.push(Variable {
                        file: file.clone(),
                        name: entry["name"].as_str().unwrap().to_owned(),
                        value: entry["value"].as_str().map(str::to_owned),
                    });
                }
            }
        }
    }
    for dockerfile in ["Dockerfile.gateway", "Dockerfile.worker"] {
        let path = repo().join("deploy/docker").join(dockerfile);
        let text = std::fs::read_to_string(&path).unwrap().replace("\\\n", " ");
        for line in text.lines().filter_map(|l| l.trim().strip_prefix("ENV ")) {
            for pair in line.split_whitespace() {
                let (name, value) = pair.split_once('=').unwrap();
                found.push(Variable {
                    file: dockerfile.to_owned(),
                    name: name.to_owned(),
                    value: Some(value.to_owned()),
                });
            }
        }
    }
    found
}

#[test]
fn every_deployment_variable_is_one_the_binaries_read_with_a_valid_value() {
    let known: BTreeSet<String> = environment_variables().into_iter().collect();
    let variables = deployment_variables();
    assert!(variables.len() > 20, "{}", variables.len());
    let unknown: Vec<String> = variables
        .iter()
        .filter(|v| !known.contains(&v.name))
        .map(|v| format!("{} in {}", v.name, v.file))
        .collect();
    assert!(unknown.is_empty(), "no binary reads: {unknown:?}");
    // Each file's values (each compose service's) load together, as the binaries load them.
    let files: BTreeSet<&str> = variables.iter().map(|v| v.file.as_str()).collect();
    for file in files {
        let env: std::collections::HashMap<String, String> = variables
            .iter()
            .filter(|v| v.file == file)
            .filter_map(|v| Some((v.name.clone(), v.value.clone()?)))
            .collect();
        if let Err(error) = Settings::load_from(Path::new("/nonexistent"), env) {
            panic!("the values of {file} do not load: {error}");
        }
    }
}

fn port_of(addr: &str) -> u64 {
    addr.rsplit(':').next().unwrap().parse().unwrap()
}

fn variable(documents: &[Value], container: &Value, name: &str) -> Option<String> {
    let direct = container["env"]
        .as_sequence()
        .into_iter()
        .flatten()
        .find(|e| e["name"] == name)
        .and_then(|e| e["value"].as_str().map(str::to_owned));
    direct.or_else(|| {
        documents
            .iter()
            .filter(|d| d["kind"] == "ConfigMap")
            .find_map(|d| d["data"][name].as_str().map(str::to_owned))
    })
}

fn all_documents() -> Vec<Value> {
    k8s_manifests()
        .into_iter()
        .filter(|(file, _)| file.starts_with(repo().join("deploy/k8s/base")))
        .flat_map(|(_, documents)| documents)
        .collect()
}

fn find<'a>(documents: &'a [Value], kind: &str, name: &str) -> &'a Value {
    documents
        .iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn named_port(container: &Value, port: &Value) -> u64 {
    match port {
        Value::Number(n) => n.as_u64().unwrap(),
        Value::String(name) => container["ports"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name.as_str())
            .and_then(|p| p["containerPort"].as_u64())
            .unwrap_or_else(|| panic!("no port named {name}")),
        other => panic!("port {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ports_probes_commands_and_grace_periods_match_the_binaries() {
    let documents = all_documents();
    let defaults = Settings::load_from(Path::new("/nonexistent"), Default::default()).unwrap();
    let app = spawn_app().await;
    let served_by = [
        ("gateway", app.port, "api-gateway", "GATEWAY_ADDR"),
        (
            "worker",
            app.worker_metrics_ports[0],
            "worker",
            "WORKER_METRICS_ADDR",
        ),
    ];
    for (name, live_port, binary, address_variable) in served_by {
        let deployment = find(&documents, "Deployment", name);
        let container = containers(deployment)[0];
        let command: Vec<&str> = container["command"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert_eq!(command, [format!("/usr/local/bin/{binary}")], "{name}");
        let dockerfile =
            std::fs::read_to_string(repo().join(format!("deploy/docker/Dockerfile.{name}")))
                .unwrap();
        assert!(
            dockerfile.contains(&format!("--bin {binary}"))
                && dockerfile.contains(&format!("ENTRYPOINT [\"/usr/local/bin/{binary}\"]")),
            "Dockerfile.{name} builds and runs {binary}"
        );
        let address = variable(&documents, container, address_variable).unwrap();
        let listens_on = port_of(&address);
        for probe in ["readinessProbe", "livenessProbe"] {
            let http = &container[probe]["httpGet"];
            assert_eq!(
                named_port(container, &http["port"]),
                listens_on,
                "{name} {probe}"
            );
            let path = http["path"].as_str().unwrap();
            let answer = app
                .client
                .get(format!("http://127.0.0.1:{live_port}{path}"))
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 200, "{name} serves {path}");
        }
    }
    let service = find(&documents, "Service", "gateway");
    let gateway = containers(find(&documents, "Deployment", "gateway"))[0];
    assert_eq!(
        named_port(gateway, &service["spec"]["ports"][0]["targetPort"]),
        8080
    );

    let worker = find(&documents, "Deployment", "worker");
    let grace = variable(
        &documents,
        containers(worker)[0],
        "WORKER_SHUTDOWN_GRACE_SECONDS",
    )
    .map_or(defaults.queue.worker_shutdown_grace.as_secs(), |v| {
        v.parse().unwrap()
    });
    let termination = worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .unwrap();
    assert!(termination > grace, "{termination} <= {grace}");

    let compose = yaml_documents(&repo().join("docker-compose.yml")).remove(0);
    let services = &compose["services"];
    let stop = services["worker"]["stop_grace_period"].as_str().unwrap();
    let stop: u64 = stop.trim_end_matches('s').parse().unwrap();
    let compose_grace: u64 = services["worker"]["environment"]["WORKER_SHUTDOWN_GRACE_SECONDS"]
        .as_str()
        .map_or(defaults.queue.worker_shutdown_grace.as_secs(), |v| {
            v.parse().unwrap()
        });
    assert!(stop > compose_grace, "{stop} <= {compose_grace}");
    let gateway_port = port_of(
        services["gateway"]["environment"]["GATEWAY_ADDR"]
            .as_str()
            .unwrap(),
    );
    let published = services["gateway"]["ports"][0].as_str().unwrap();
    assert_eq!(port_of(published), gateway_port, "{published}");
    for service in ["gateway", "worker"] {
        let drops = &services[service]["cap_drop"];
        assert_eq!(drops[0], "ALL", "{service}");
        let options = services[service]["security_opt"].as_sequence().unwrap();
        assert!(
            options.iter().any(|o| o == "no-new-privileges:true"),
            "{service}"
        );
    }
}

#[test]
fn keda_scales_the_worker_deployment_on_the_queue_the_workers_fetch_from() {
    let documents = all_documents();
    let scaled = documents.iter().find(|d| is_keda(d)).unwrap();
    assert_eq!(scaled["spec"]["scaleTargetRef"]["name"], "worker");
    find(&documents, "Deployment", "worker");
    assert_eq!(scaled["spec"]["minReplicaCount"], 0, "scale to zero");
    assert!(scaled["spec"]["maxReplicaCount"].as_u64().unwrap() > 1);
    let trigger = &scaled["spec"]["triggers"][0];
    assert_eq!(trigger["type"], "redis");
    let keys = shared::keys::Keys::new("designer:");
    assert_eq!(
        trigger["metadata"]["listName"],
        keys.queue_active().as_str()
    );
    // The trigger reads the Redis the pods use.
    let redis_url = find(&documents, "ConfigMap", "designer-config")["data"]["REDIS_URL"]
        .as_str()
        .unwrap()
        .to_owned();
    let address = trigger["metadata"]["address"].as_str().unwrap();
    assert!(
        redis_url.starts_with(&format!("redis://{address}/")),
        "{redis_url} vs {address}"
    );
    let (host, port) = address.split_once(':').unwrap();
    let service = find(&documents, "Service", host);
    assert_eq!(
        service["spec"]["ports"][0]["port"].as_u64(),
        port.parse().ok()
    );
    let redis = find(&documents, "StatefulSet", "redis");
    let command: Vec<&str> = containers(redis)[0]["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(
        command.windows(2).any(|w| w == ["--appendonly", "yes"]),
        "AOF on"
    );
}

#[test]
fn the_kustomizations_list_every_manifest_and_nothing_missing() {
    for dir in ["deploy/k8s/base", "deploy/k8s/overlays/example"] {
        let dir = repo().join(dir);
        let kustomization = yaml_documents(&dir.join("kustomization.yaml")).remove(0);
        let mut listed: BTreeSet<String> = BTreeSet::new();
        for key in ["resources", "patches"] {
            for entry in kustomization[key].as_sequence().into_iter().flatten() {
                let path = entry.as_str().or(entry["path"].as_str()).unwrap();
                assert!(
                    dir.join(path).exists(),
                    "{}: {path} is missing",
                    dir.display()
                );
                listed.insert(path.to_owned());
            }
        }
        for file in std::fs::read_dir(&dir).unwrap() {
            let name = file.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".yaml") && name != "kustomization.yaml" {
                assert!(listed.contains(&name), "{name} is not in {}", dir.display());
            }
        }
    }
}
