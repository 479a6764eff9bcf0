//! Moves a job's exported files into `ARTIFACT_DIR/{request_id}/`, with size and SHA-256.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use shared::job::{ArtifactInfo, OutputFormat};
use uuid::Uuid;

/// Copies each file into place through a temporary name and a rename, so the gateway never
/// serves a half-written file, and a re-run replaces the files of an earlier attempt.
pub async fn publish(
    artifact_dir: &Path,
    request_id: Uuid,
    files: &[(OutputFormat, PathBuf)],
) -> std::io::Result<Vec<ArtifactInfo>> {
    let job_dir = artifact_dir.join(request_id.to_string());
    tokio::fs::create_dir_all(&job_dir).await?;
    let mut artifacts = Vec::with_capacity(files.len());
    for (format, source) in files {
        let bytes = tokio::fs::read(source).await?;
        let target = format.artifact_path(artifact_dir, request_id);
        let partial = job_dir.join(format!(".{}.partial", format.file_name()));
        tokio::fs::write(&partial, &bytes).await?;
        tokio::fs::rename(&partial, &target).await?;
        artifacts.push(ArtifactInfo {
            format: *format,
            name: format.file_name().to_owned(),
            bytes: bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(&bytes)),
            url: format!("/api/v1/design/{request_id}/download/{}", format.as_str()),
        });
    }
    Ok(artifacts)
}
