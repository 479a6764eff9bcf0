//! Puts a job's exported files into the artifact store (`{request_id}/{file_name}`), with size
//! and SHA-256.

use shared::job_id::JobId;
use std::path::PathBuf;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use shared::artifact_store::ArtifactStore;
use shared::job::{ArtifactInfo, OutputFormat};

/// Why a job's files did not reach the store; both are transient (the job runs again).
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("reading the exported {name}: {source}")]
    Read {
        name: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("uploading {name}: {source}")]
    Upload {
        name: &'static str,
        #[source]
        source: shared::artifact_store::ArtifactStoreError,
    },
}

/// Stores each file; the store makes each visible whole or not at all (the gateway never
/// serves a half-written file), and a re-run replaces the files of an earlier attempt.
pub async fn publish(
    store: &ArtifactStore,
    request_id: JobId,
    files: &[(OutputFormat, PathBuf)],
) -> Result<Vec<ArtifactInfo>, PublishError> {
    let mut artifacts = Vec::with_capacity(files.len());
    for (format, source) in files {
        let name = format.file_name();
        let bytes = tokio::fs::read(source)
            .await
            .map_err(|source| PublishError::Read { name, source })?;
        let info = describe(request_id, *format, &bytes);
        store
            .put(request_id, *format, Bytes::from(bytes))
            .await
            .map_err(|source| PublishError::Upload { name, source })?;
        artifacts.push(info);
    }
    Ok(artifacts)
}

/// What the record lists about one stored file.
pub fn describe(request_id: JobId, format: OutputFormat, bytes: &[u8]) -> ArtifactInfo {
    ArtifactInfo {
        format,
        name: format.file_name().to_owned(),
        bytes: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(bytes)),
        url: format!("/api/v1/design/{request_id}/download/{}", format.as_str()),
    }
}
