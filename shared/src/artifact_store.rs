//! Where a job's files live: a local folder (`file:///path`, the default, from `ARTIFACT_DIR`)
//! or any S3-compatible bucket (`s3://bucket/prefix`), behind one interface built on the
//! `object_store` crate. Workers put; gateways read (a byte range, streamed) or hand out a
//! short-lived presigned URL; the sweeper deletes the files of jobs whose record expired.
//!
//! Objects are named `{prefix}/{request_id}/{file_name}`, so a file store keeps the folder
//! layout of `ARTIFACT_DIR/{request_id}/design.step` that earlier versions wrote.

use crate::job_id::JobId;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::signer::Signer;
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, GetRange, ObjectStore, PutPayload, RetryConfig,
};
use secrecy::ExposeSecret;

use crate::job::OutputFormat;
use crate::settings::{S3Settings, Settings};

/// How long one request to an S3 store may take, and how long its retries may go on, before
/// the caller sees the error: a worker then retries the whole job later (a transient failure)
/// instead of holding a job slot for the crate's default three minutes.
const S3_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const S3_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const S3_RETRY_BUDGET: Duration = Duration::from_secs(15);
const S3_MAX_RETRIES: usize = 3;

/// Where the artifacts go, parsed from `ARTIFACT_STORE_URL` (or `ARTIFACT_DIR`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    Folder(PathBuf),
    S3 { bucket: String, prefix: String },
}

impl StoreLocation {
    /// `file:///absolute/path` or `s3://bucket[/prefix]`; `None` means the folder `artifact_dir`.
    pub fn parse(url: Option<&str>, artifact_dir: &std::path::Path) -> Result<Self, String> {
        let Some(url) = url.map(str::trim).filter(|url| !url.is_empty()) else {
            return Ok(Self::Folder(artifact_dir.to_path_buf()));
        };
        if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(format!(
                    "'{url}' is not file:///absolute/path (three slashes, then an absolute path)"
                ));
            }
            return Ok(Self::Folder(PathBuf::from(path)));
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let bucket_ok = !bucket.is_empty()
                && bucket
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-.".contains(c));
            if !bucket_ok {
                return Err(format!(
                    "'{url}' does not name a bucket (s3://bucket/prefix, lower-case bucket name)"
                ));
            }
            let prefix = prefix.trim_matches('/').to_owned();
            ObjectPath::parse(&prefix).map_err(|e| format!("'{url}': bad prefix: {e}"))?;
            return Ok(Self::S3 {
                bucket: bucket.to_owned(),
                prefix,
            });
        }
        Err(format!(
            "'{url}' is neither file:///path nor s3://bucket/prefix"
        ))
    }
}

impl std::fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Folder(path) => write!(f, "file://{}", path.display()),
            Self::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ArtifactStoreError {
    #[error("ARTIFACT_STORE_URL: {0}")]
    Config(String),
    #[error("the artifact store {location} failed: {source}")]
    Store {
        location: String,
        #[source]
        source: object_store::Error,
    },
}

/// A byte range of one stored file, streamed: nothing holds the whole file in memory.
pub struct ArtifactRead {
    /// The bytes of `range`, in order.
    pub body: BoxStream<'static, Result<Bytes, ArtifactStoreError>>,
    /// The bytes this read returns (end exclusive).
    pub range: Range<u64>,
    /// The whole file's size.
    pub size: u64,
}

/// What the store says about one stored file, without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredVersion {
    pub bytes: u64,
    pub e_tag: Option<String>,
}

/// The artifact store every binary uses; cheap to clone.
#[derive(Clone)]
pub struct ArtifactStore {
    objects: Arc<dyn ObjectStore>,
    /// Only S3 stores can presign; a folder has nothing to sign with.
    signer: Option<Arc<AmazonS3>>,
    prefix: ObjectPath,
    location: StoreLocation,
}

impl std::fmt::Debug for ArtifactStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ArtifactStore({})", self.location)
    }
}

impl ArtifactStore {
    /// Opens the store `ARTIFACT_STORE_URL` names (creating a folder store's folder).
    /// Credentials, region and endpoint come from the `AWS_*` settings, never from the
    /// process environment directly.
    pub fn from_settings(settings: &Settings) -> Result<Self, ArtifactStoreError> {
        let location = settings.artifacts.location.clone();
        match &location {
            StoreLocation::Folder(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    ArtifactStoreError::Config(format!("creating {}: {e}", dir.display()))
                })?;
                let folder = LocalFileSystem::new_with_prefix(dir)
                    .map_err(|e| ArtifactStoreError::Config(format!("{}: {e}", dir.display())))?;
                Ok(Self {
                    objects: Arc::new(folder),
                    signer: None,
                    prefix: ObjectPath::default(),
                    location,
                })
            }
            StoreLocation::S3 { bucket, prefix } => {
                let s3 = Arc::new(
                    s3_builder(&settings.artifacts.s3, bucket)
                        .build()
                        .map_err(|e| ArtifactStoreError::Config(format!("{location}: {e}")))?,
                );
                Ok(Self {
                    objects: s3.clone(),
                    signer: Some(s3),
                    prefix: ObjectPath::from(prefix.as_str()),
                    location,
                })
            }
        }
    }

    pub fn location(&self) -> &StoreLocation {
        &self.location
    }

    /// Whether [`presigned_download`](Self::presigned_download) can answer.
    pub fn can_presign(&self) -> bool {
        self.signer.is_some()
    }

    fn job_path(&self, request_id: JobId) -> ObjectPath {
        self.prefix.child(request_id.to_string())
    }

    fn file_path(&self, request_id: JobId, format: OutputFormat) -> ObjectPath {
        self.job_path(request_id).child(format.file_name())
    }

    fn failed(&self, source: object_store::Error) -> ArtifactStoreError {
        ArtifactStoreError::Store {
            location: self.location.to_string(),
            source,
        }
    }

    /// Stores one file of a job, replacing an earlier attempt's. Both backends make it
    /// visible whole or not at all (a rename in a folder; one PUT in S3).
    pub async fn put(
        &self,
        request_id: JobId,
        format: OutputFormat,
        bytes: Bytes,
    ) -> Result<(), ArtifactStoreError> {
        self.objects
            .put(
                &self.file_path(request_id, format),
                PutPayload::from_bytes(bytes),
            )
            .await
            .map(drop)
            .map_err(|e| self.failed(e))
    }

    /// Streams `range` of a stored file (all of it for `None`); `Ok(None)` if it is not there.
    pub async fn read(
        &self,
        request_id: JobId,
        format: OutputFormat,
        range: Option<Range<u64>>,
    ) -> Result<Option<ArtifactRead>, ArtifactStoreError> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let result = match self
            .objects
            .get_opts(&self.file_path(request_id, format), options)
            .await
        {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(other) => return Err(self.failed(other)),
        };
        let size = result.meta.size;
        let range = result.range.clone();
        let location = self.location.to_string();
        let body = result
            .into_stream()
            .map_err(move |source| ArtifactStoreError::Store {
                location: location.clone(),
                source,
            })
            .boxed();
        Ok(Some(ArtifactRead { body, range, size }))
    }

    /// A whole stored file in memory (for the worker's conversions); `Ok(None)` if it is not
    /// there.
    pub async fn read_all(
        &self,
        request_id: JobId,
        format: OutputFormat,
    ) -> Result<Option<Bytes>, ArtifactStoreError> {
        match self.objects.get(&self.file_path(request_id, format)).await {
            Ok(result) => result.bytes().await.map(Some).map_err(|e| self.failed(e)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(other) => Err(self.failed(other)),
        }
    }

    /// A stored file's size and version tag (the store's ETag: a folder's changes when the
    /// file is replaced, S3's is the content's digest); `Ok(None)` if it is not there.
    pub async fn version(
        &self,
        request_id: JobId,
        format: OutputFormat,
    ) -> Result<Option<StoredVersion>, ArtifactStoreError> {
        match self.objects.head(&self.file_path(request_id, format)).await {
            Ok(meta) => Ok(Some(StoredVersion {
                bytes: meta.size,
                e_tag: meta.e_tag,
            })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(other) => Err(self.failed(other)),
        }
    }

    /// Copies one job's file to another job inside the store (a hard link in a folder, a
    /// server-side copy in S3): the bytes never pass through this process, and the copy stays
    /// when the original is replaced or deleted.
    pub async fn copy(
        &self,
        from: JobId,
        to: JobId,
        format: OutputFormat,
    ) -> Result<(), ArtifactStoreError> {
        self.objects
            .copy(&self.file_path(from, format), &self.file_path(to, format))
            .await
            .map_err(|e| self.failed(e))
    }

    /// A URL that lets anyone holding it GET the file for `expires_in`; `None` for a folder.
    pub async fn presigned_download(
        &self,
        request_id: JobId,
        format: OutputFormat,
        expires_in: Duration,
    ) -> Result<Option<String>, ArtifactStoreError> {
        let Some(signer) = &self.signer else {
            return Ok(None);
        };
        let url = signer
            .signed_url(http_get(), &self.file_path(request_id, format), expires_in)
            .await
            .map_err(|e| self.failed(e))?;
        Ok(Some(url.to_string()))
    }

    /// The jobs that have files in the store (entries that are not job ids are left alone).
    pub async fn stored_jobs(&self) -> Result<Vec<JobId>, ArtifactStoreError> {
        let prefix = (!self.prefix.as_ref().is_empty()).then_some(&self.prefix);
        let listing = self
            .objects
            .list_with_delimiter(prefix)
            .await
            .map_err(|e| self.failed(e))?;
        Ok(listing
            .common_prefixes
            .iter()
            .filter_map(|dir| dir.filename().and_then(|name| name.parse::<JobId>().ok()))
            .collect())
    }

    /// Deletes every file of a job; returns how many there were.
    pub async fn delete_job(&self, request_id: JobId) -> Result<usize, ArtifactStoreError> {
        let files: Vec<ObjectPath> = self
            .objects
            .list(Some(&self.job_path(request_id)))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await
            .map_err(|e| self.failed(e))?;
        for file in &files {
            match self.objects.delete(file).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(other) => return Err(self.failed(other)),
            }
        }
        if let StoreLocation::Folder(dir) = &self.location {
            // A folder store leaves the emptied job folder behind; S3 has no folders.
            let _ = tokio::fs::remove_dir(dir.join(request_id.to_string())).await;
        }
        Ok(files.len())
    }
}

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    pub jobs: usize,
    pub files: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Store(#[from] ArtifactStoreError),
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
}

/// Deletes the files of every job whose record has expired (`JOB_TTL_SECONDS`), so files live
/// as long as their job. A record exists from the job's creation, before any file is stored,
/// so a missing record means an expired (or deleted) job, never one still being made.
pub async fn sweep_expired(
    store: &ArtifactStore,
    conn: &mut impl redis::aio::ConnectionLike,
    keys: &crate::keys::Keys,
) -> Result<SweepReport, SweepError> {
    let mut report = SweepReport::default();
    for request_id in store.stored_jobs().await? {
        let alive: bool = redis::cmd("EXISTS")
            .arg(keys.job(&request_id))
            .query_async(conn)
            .await?;
        if !alive {
            report.files += store.delete_job(request_id).await?;
            report.jobs += 1;
        }
    }
    Ok(report)
}

fn http_get() -> http::Method {
    http::Method::GET
}

fn s3_builder(s3: &S3Settings, bucket: &str) -> AmazonS3Builder {
    let retry = RetryConfig {
        backoff: BackoffConfig::default(),
        max_retries: S3_MAX_RETRIES,
        retry_timeout: S3_RETRY_BUDGET,
    };
    let client = ClientOptions::new()
        .with_timeout(S3_REQUEST_TIMEOUT)
        .with_connect_timeout(S3_CONNECT_TIMEOUT)
        .with_allow_http(s3.allow_http);
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_region(s3.region.clone())
        .with_allow_http(s3.allow_http)
        .with_retry(retry)
        .with_client_options(client);
    if let Some(key) = &s3.access_key_id {
        builder = builder.with_access_key_id(key.expose_secret());
    }
    if let Some(secret) = &s3.secret_access_key {
        builder = builder.with_secret_access_key(secret.expose_secret());
    }
    if let Some(token) = &s3.session_token {
        builder = builder.with_token(token.expose_secret());
    }
    if let Some(endpoint) = &s3.endpoint_url {
        // A custom endpoint (MinIO, Ceph, R2, moto) is addressed path-style:
        // `{endpoint}/{bucket}/{key}`, which needs no wildcard DNS.
        builder = builder
            .with_endpoint(endpoint.clone())
            .with_virtual_hosted_style_request(false);
    }
    builder
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn store_urls_parse_or_say_what_is_wrong() {
        let dir = Path::new("./data/artifacts");
        assert_eq!(
            StoreLocation::parse(None, dir).unwrap(),
            StoreLocation::Folder(dir.to_path_buf())
        );
        assert_eq!(
            StoreLocation::parse(Some("file:///srv/artifacts"), dir).unwrap(),
            StoreLocation::Folder(PathBuf::from("/srv/artifacts"))
        );
        assert_eq!(
            StoreLocation::parse(Some("s3://designs/prod/artifacts/"), dir).unwrap(),
            StoreLocation::S3 {
                bucket: "designs".into(),
                prefix: "prod/artifacts".into()
            }
        );
        assert_eq!(
            StoreLocation::parse(Some("s3://designs"), dir).unwrap(),
            StoreLocation::S3 {
                bucket: "designs".into(),
                prefix: String::new()
            }
        );
        for bad in [
            "file://relative/path",
            "s3://",
            "s3://Upper/x",
            "gs://bucket",
            "/srv/artifacts",
        ] {
            let err = StoreLocation::parse(Some(bad), dir).unwrap_err();
            assert!(err.contains(bad), "{bad}: {err}");
        }
    }

    fn folder_store(dir: &Path) -> ArtifactStore {
        let settings = Settings::load_from(
            Path::new("/nonexistent"),
            [(
                "ARTIFACT_STORE_URL".to_owned(),
                format!("file://{}", dir.display()),
            )]
            .into(),
        )
        .unwrap();
        ArtifactStore::from_settings(&settings).unwrap()
    }

    #[tokio::test]
    async fn a_folder_store_keeps_the_artifact_dir_layout_and_reads_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let store = folder_store(dir.path());
        let id = JobId::new();
        store
            .put(id, OutputFormat::Step, Bytes::from_static(b"0123456789"))
            .await
            .unwrap();
        let on_disk = OutputFormat::Step.artifact_path(dir.path(), id);
        assert_eq!(std::fs::read(on_disk).unwrap(), b"0123456789");

        let read = store
            .read(id, OutputFormat::Step, Some(2..5))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((read.range.clone(), read.size), (2..5, 10));
        let bytes: Vec<Bytes> = read.body.try_collect().await.unwrap();
        assert_eq!(bytes.concat(), b"234");
        assert!(
            store
                .read(id, OutputFormat::Stl, None)
                .await
                .unwrap()
                .is_none()
        );
        assert!(!store.can_presign());

        assert_eq!(store.stored_jobs().await.unwrap(), vec![id]);
        assert_eq!(store.delete_job(id).await.unwrap(), 1);
        assert!(store.stored_jobs().await.unwrap().is_empty());
        assert!(!dir.path().join(id.to_string()).exists());
    }

    #[tokio::test]
    async fn a_copy_keeps_its_bytes_when_the_original_is_replaced_and_versions_tell() {
        let dir = tempfile::tempdir().unwrap();
        let store = folder_store(dir.path());
        let (source, copy) = (JobId::new(), JobId::new());
        store
            .put(source, OutputFormat::Step, Bytes::from_static(b"first"))
            .await
            .unwrap();
        let before = store.version(source, OutputFormat::Step).await.unwrap();
        let before = before.expect("the stored file has a version");
        assert_eq!(before.bytes, 5);
        assert!(before.e_tag.is_some());

        store.copy(source, copy, OutputFormat::Step).await.unwrap();
        store
            .put(source, OutputFormat::Step, Bytes::from_static(b"other"))
            .await
            .unwrap();
        let after = store.version(source, OutputFormat::Step).await.unwrap();
        assert_ne!(after.unwrap().e_tag, before.e_tag, "same size, other file");
        let copied = store.read_all(copy, OutputFormat::Step).await.unwrap();
        assert_eq!(copied.unwrap(), Bytes::from_static(b"first"));

        assert_eq!(store.delete_job(source).await.unwrap(), 1);
        assert!(
            store
                .version(source, OutputFormat::Step)
                .await
                .unwrap()
                .is_none()
        );
        assert!(store.copy(source, copy, OutputFormat::Step).await.is_err());
        let copied = store.read_all(copy, OutputFormat::Step).await.unwrap();
        assert_eq!(copied.unwrap(), Bytes::from_static(b"first"));
    }
}
