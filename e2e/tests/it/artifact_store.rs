//! The artifact store: a real S3-compatible server (moto's server mode, from the project's
//! `.venv-tools`, which `make test` installs) on a free port, with the gateway and the worker
//! given different local folders so nothing can pass through a shared disk; and the sweeper
//! deleting the files of expired jobs in both kinds of store.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use shared::artifact_store::ArtifactStore;
use shared::job::{DesignStatus, OutputFormat};
use shared::job_id::JobId;
use shared::settings::Settings;

use e2e::{AppOptions, free_port, spawn_app_with, spawn_app_with_worker_env};

const JOB_LIMIT: Duration = Duration::from_secs(90);
const BOX: &str = "Create a simple box 100x50x30mm";

/// A moto S3 server on a free port with one empty bucket, killed when dropped.
struct S3Server {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl S3Server {
    const BUCKET: &'static str = "designs";

    async fn start() -> Self {
        let moto = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv-tools/bin/moto_server");
        assert!(
            moto.is_file(),
            "{} is missing: run `make test` (scripts/install-python-tools.sh installs moto)",
            moto.display()
        );
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(&moto)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let server = Self {
            child,
            port,
            _dir: dir,
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let created = client
                .put(format!("{}/{}", server.endpoint(), Self::BUCKET))
                .send()
                .await;
            if created.as_ref().is_ok_and(|r| r.status().is_success()) {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "moto did not start on {port}: {created:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The settings that point a process at this server.
    fn env(&self) -> Vec<(&'static str, String)> {
        s3_env(&self.endpoint())
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn s3_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "ARTIFACT_STORE_URL",
            format!("s3://{}/tenant-a/artifacts", S3Server::BUCKET),
        ),
        ("AWS_ENDPOINT_URL", endpoint.to_owned()),
        ("AWS_ALLOW_HTTP", "true".to_owned()),
        ("AWS_ACCESS_KEY_ID", "test-key-id".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test-secret".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
    ]
}

fn settings_from(env: Vec<(&'static str, String)>) -> Settings {
    let env: HashMap<String, String> = env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    Settings::load_from(Path::new("/nonexistent-config-dir"), env).expect("settings")
}

/// A store of its own, opened by the test, to look at what the worker stored.
fn store_at(env: Vec<(&'static str, String)>) -> ArtifactStore {
    ArtifactStore::from_settings(&settings_from(env)).expect("the test's view of the store")
}

async fn stored_bytes(store: &ArtifactStore, id: &str, format: OutputFormat) -> Option<Vec<u8>> {
    let read = store
        .read(id.parse().unwrap(), format, None)
        .await
        .expect("the store answers")?;
    let chunks: Vec<bytes::Bytes> = read.body.try_collect().await.expect("the whole body");
    Some(chunks.concat())
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex_encode(&Sha256::digest(bytes))
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_box_made_by_a_worker_downloads_byte_identical_through_the_gateway_from_s3() {
    let s3 = S3Server::start().await;
    let gateway_dir = tempfile::tempdir().unwrap();
    let worker_dir = tempfile::tempdir().unwrap();
    let mut gateway_env = s3.env();
    gateway_env.push(("ARTIFACT_DIR", gateway_dir.path().display().to_string()));
    let app = spawn_app_with_worker_env(
        AppOptions {
            env: gateway_env,
            ..AppOptions::default()
        },
        vec![("ARTIFACT_DIR", worker_dir.path().display().to_string())],
    )
    .await;
    let id = app.submit(&json!({ "prompt": BOX })).await;
    let status = app.wait_for_end(&id, JOB_LIMIT).await;
    assert_eq!(status.status, DesignStatus::Completed, "{status:?}");

    let bucket = store_at(s3.env());
    for artifact in &status.artifacts {
        let format = artifact.format;
        let response = app
            .get(&format!("/api/v1/design/{id}/download/{}", format.as_str()))
            .await;
        assert_eq!(response.status(), 200);
        let headers = response.headers().clone();
        let downloaded = response.bytes().await.unwrap().to_vec();
        let in_bucket = stored_bytes(&bucket, &id, format).await.expect("in S3");
        assert_eq!(downloaded, in_bucket, "{format:?}: byte-identical");
        assert_eq!(artifact.sha256, sha256_hex(&downloaded), "{format:?}");
        assert_eq!(headers["content-length"], downloaded.len().to_string());
        assert_eq!(headers["etag"], format!("\"{}\"", artifact.sha256));
        assert_eq!(headers["accept-ranges"], "bytes");
    }
    assert!(
        files_under(gateway_dir.path()).is_empty() && files_under(worker_dir.path()).is_empty(),
        "nothing went through a local folder: {:?} {:?}",
        files_under(gateway_dir.path()),
        files_under(worker_dir.path())
    );

    let step = stored_bytes(&bucket, &id, OutputFormat::Step)
        .await
        .unwrap();
    assert_ranges_are_served(&app, &id, &step).await;
    assert_presigned_downloads_redirect_to_the_bucket(&app, &s3, &id, &step).await;
}

async fn assert_ranges_are_served(app: &e2e::TestApp, id: &str, step: &[u8]) {
    let size = step.len();
    let url = app.url(&format!("/api/v1/design/{id}/download/step"));
    let ranged = |range: String| app.client.get(&url).header("Range", range).send();

    let first = ranged("bytes=0-9".into()).await.unwrap();
    assert_eq!(first.status(), 206);
    assert_eq!(
        first.headers()["content-range"],
        format!("bytes 0-9/{size}")
    );
    assert_eq!(first.headers()["content-length"], "10");
    assert_eq!(first.bytes().await.unwrap(), step[..10]);

    let tail = ranged("bytes=-7".into()).await.unwrap();
    assert_eq!(tail.status(), 206);
    assert_eq!(tail.bytes().await.unwrap(), step[size - 7..]);

    let middle = ranged(format!("bytes=100-{}", size + 50)).await.unwrap();
    assert_eq!(
        middle.headers()["content-range"],
        format!("bytes 100-{}/{size}", size - 1)
    );
    assert_eq!(middle.bytes().await.unwrap(), step[100..]);

    let outside = ranged(format!("bytes={size}-")).await.unwrap();
    assert_eq!(outside.status(), 416);
    assert_eq!(
        outside.headers()["content-range"],
        format!("bytes */{size}")
    );
    let body: Value = outside.json().await.unwrap();
    assert_eq!(body["error"]["code"], "range_not_satisfiable", "{body}");

    let etag = format!("\"{}\"", sha256_hex(step));
    let cached = app
        .client
        .get(&url)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);
    // A range of another version of the file is ignored: the whole current file comes back.
    let stale = app
        .client
        .get(&url)
        .header("Range", "bytes=0-9")
        .header("If-Range", "\"an-older-version\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 200);
    assert_eq!(stale.bytes().await.unwrap(), step);
}

async fn assert_presigned_downloads_redirect_to_the_bucket(
    app: &e2e::TestApp,
    s3: &S3Server,
    id: &str,
    step: &[u8],
) {
    let mut env = s3.env();
    env.extend([
        ("REDIS_URL", app.redis.url()),
        ("GATEWAY_ADDR", "127.0.0.1:0".to_owned()),
        ("ARTIFACT_PRESIGNED_DOWNLOADS", "true".to_owned()),
        ("ARTIFACT_PRESIGNED_TTL_SECONDS", "60".to_owned()),
    ]);
    let gateway = api_gateway::startup::Application::build(settings_from(env))
        .await
        .expect("a presigning gateway builds");
    let base = format!("http://127.0.0.1:{}", gateway.port());
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(gateway.run_until_stopped(stop.clone()));
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = no_redirects
        .get(format!("{base}/api/v1/design/{id}/download/step"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 307);
    let location = answer.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("{}/{}/", s3.endpoint(), S3Server::BUCKET))
            && location.contains("X-Amz-Signature=")
            && location.contains("X-Amz-Expires=60"),
        "{location}"
    );
    let fetched = reqwest::get(&location).await.unwrap();
    assert_eq!(fetched.status(), 200, "the presigned URL works on its own");
    assert_eq!(fetched.bytes().await.unwrap(), step);
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_cannot_reach_the_store_retries_the_job_and_says_so() {
    let s3 = S3Server::start().await;
    // Nothing listens on this port: every upload is refused.
    let unreachable = format!("http://127.0.0.1:{}", free_port());
    let mut gateway_env = s3.env();
    gateway_env.push(("JOB_MAX_ATTEMPTS", "2".to_owned()));
    let app = spawn_app_with_worker_env(
        AppOptions {
            env: gateway_env,
            ..AppOptions::default()
        },
        vec![("AWS_ENDPOINT_URL", unreachable)],
    )
    .await;
    let id = app.submit(&json!({ "prompt": BOX })).await;
    let mut events = app.sse(None, &id, None).await;
    let retry_note = loop {
        let event = events.next(JOB_LIMIT).await.expect("the job goes on");
        let message = event.data["data"]["message"].as_str().unwrap_or_default();
        if message.contains("retrying") {
            break message.to_owned();
        }
    };
    assert!(
        retry_note.contains("Run 1 of 2")
            && retry_note.contains("uploading design.")
            && retry_note.contains("s3://designs/tenant-a/artifacts"),
        "{retry_note}"
    );
    let status = app.wait_for_end(&id, JOB_LIMIT).await;
    assert_eq!(status.status, DesignStatus::Failed, "{status:?}");
    let error = status.error_message.as_deref().unwrap();
    assert!(
        error.contains("failed 2 times") && error.contains("artifact store"),
        "{error}"
    );
    assert!(status.artifacts.is_empty(), "{status:?}");
}

/// Waits for the job's record to expire, then for its files to leave the store.
async fn wait_for_sweep(app: &e2e::TestApp, store: &ArtifactStore, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        // The store first: once the files are gone the record must be gone too (a record
        // never comes back once it has expired).
        let swept = stored_bytes(store, id, OutputFormat::Step).await.is_none();
        let gone = app.get(&format!("/api/v1/design/{id}")).await.status() == 404;
        if gone && swept {
            return;
        }
        assert!(
            !swept || gone,
            "files of a job whose record still exists were deleted"
        );
        assert!(
            Instant::now() < deadline,
            "the files of {id} were not swept"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A job record that will not expire during the test, with a file in the store.
async fn live_job_with_a_file(app: &e2e::TestApp, store: &ArtifactStore) -> JobId {
    let live = JobId::new();
    let _: () = redis::cmd("SET")
        .arg(app.keys().job(&live))
        .arg("a record")
        .arg("EX")
        .arg(600)
        .query(&mut app.redis.connection())
        .unwrap();
    store
        .put(
            live,
            OutputFormat::Step,
            bytes::Bytes::from_static(b"keep me"),
        )
        .await
        .unwrap();
    live
}

const EXPIRING_SOON: [(&str, &str); 2] = [
    ("JOB_TTL_SECONDS", "3"),
    ("ARTIFACT_SWEEP_INTERVAL_SECONDS", "1"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_in_a_folder_store_expire_with_their_job() {
    let app = spawn_app_with(AppOptions {
        env: EXPIRING_SOON
            .iter()
            .map(|(k, v)| (*k, (*v).to_owned()))
            .collect(),
        ..AppOptions::default()
    })
    .await;
    let dir = app.artifact_dir();
    let store = store_at(vec![("ARTIFACT_DIR", dir.display().to_string())]);
    let live = live_job_with_a_file(&app, &store).await;
    // Something in the folder that is not a job's: the sweeper never touches it.
    std::fs::create_dir_all(dir.join("not-a-job")).unwrap();
    std::fs::write(dir.join("not-a-job/notes.txt"), b"mine").unwrap();

    let id = app.submit(&json!({ "prompt": BOX })).await;
    let status = app.wait_for_end(&id, JOB_LIMIT).await;
    assert_eq!(status.status, DesignStatus::Completed, "{status:?}");
    assert!(dir.join(&id).join("design.step").is_file());
    wait_for_sweep(&app, &store, &id).await;

    assert!(!dir.join(&id).exists(), "the job's folder is gone too");
    assert_eq!(
        stored_bytes(&store, &live.to_string(), OutputFormat::Step).await,
        Some(b"keep me".to_vec()),
        "a job whose record lives keeps its files"
    );
    assert!(dir.join("not-a-job/notes.txt").is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_in_an_s3_store_expire_with_their_job() {
    let s3 = S3Server::start().await;
    let mut env = s3.env();
    env.extend(EXPIRING_SOON.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let app = spawn_app_with(AppOptions {
        env,
        ..AppOptions::default()
    })
    .await;
    let store = store_at(s3.env());
    let live = live_job_with_a_file(&app, &store).await;

    let id = app.submit(&json!({ "prompt": BOX })).await;
    let status = app.wait_for_end(&id, JOB_LIMIT).await;
    assert_eq!(status.status, DesignStatus::Completed, "{status:?}");
    assert!(stored_bytes(&store, &id, OutputFormat::Stl).await.is_some());
    wait_for_sweep(&app, &store, &id).await;

    let left = store.stored_jobs().await.unwrap();
    assert_eq!(left, vec![live], "only the live job's files are left");
}

/// The result cache copies inside the bucket (a server-side copy): a repeated design is
/// answered with byte-identical objects of its own, and nothing passes through a folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_hit_copies_the_objects_inside_an_s3_store() {
    let s3 = S3Server::start().await;
    let worker_dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with_worker_env(
        AppOptions {
            env: s3.env(),
            ..AppOptions::default()
        },
        vec![("ARTIFACT_DIR", worker_dir.path().display().to_string())],
    )
    .await;
    let first = app.submit(&json!({ "prompt": BOX })).await;
    let first = app.wait_for_end(&first, JOB_LIMIT).await;
    assert_eq!(first.status, DesignStatus::Completed, "{first:?}");
    let second = app.submit(&json!({ "prompt": BOX })).await;
    let second = app.wait_for_end(&second, JOB_LIMIT).await;
    assert_eq!(second.status, DesignStatus::Completed, "{second:?}");
    assert!(second.cached && !first.cached, "{second:?}");
    let runs: u64 = app.worker_runners.iter().map(|r| r.executions()).sum();
    assert_eq!(runs, 1, "FreeCAD ran for the first design only");

    let bucket = store_at(s3.env());
    let (first_id, second_id) = (first.request_id.to_string(), second.request_id.to_string());
    assert_eq!(first.artifacts.len(), second.artifacts.len());
    for (original, copy) in first.artifacts.iter().zip(&second.artifacts) {
        assert_eq!(original.sha256, copy.sha256);
        let format = copy.format;
        let copied = stored_bytes(&bucket, &second_id, format)
            .await
            .expect("copied");
        assert_eq!(sha256_hex(&copied), copy.sha256, "{format:?}");
        assert_eq!(Some(copied), stored_bytes(&bucket, &first_id, format).await);
    }
    let fcstd = stored_bytes(&bucket, &second_id, OutputFormat::Fcstd).await;
    assert!(fcstd.is_some(), "the FCStd is copied for later conversions");
    assert!(files_under(worker_dir.path()).is_empty());
}
