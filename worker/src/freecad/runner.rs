//! Runs one script in `freecadcmd` in a fresh working directory, with a wall-clock timeout,
//! and reads back what the embedded `runner.py` measured and exported.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::Deserialize;
use shared::job::{Geometry, OutputFormat};
use tempfile::TempDir;

use super::FreecadCommand;

const RUNNER_PY: &str = include_str!("runner.py");
/// How much of FreeCAD's console log goes into an error message.
const LOG_TAIL_BYTES: usize = 2000;

#[derive(Debug, Clone)]
pub struct FreecadRunner {
    command: FreecadCommand,
    timeout: Duration,
}

/// A script that ran and left a measurable shape.
#[derive(Debug)]
pub struct ExecutionOutcome {
    pub geometry: Geometry,
    /// Everything the runner reported (faces, edges, objects...), for the job record.
    pub report: serde_json::Value,
    /// The exported files, still inside `work_dir`.
    pub files: Vec<(OutputFormat, PathBuf)>,
    pub duration: Duration,
    /// Removed when the outcome is dropped.
    pub work_dir: TempDir,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecutionError {
    #[error("could not run FreeCAD: {0}")]
    Io(#[from] std::io::Error),
    #[error("FreeCAD did not finish within {0:?} and was stopped")]
    Timeout(Duration),
    #[error("the script failed in FreeCAD: {message}")]
    ScriptFailed { message: String },
    #[error("FreeCAD exited ({status}) without a result; its log ends with: {log_tail}")]
    NoResult { status: String, log_tail: String },
}

impl ExecutionError {
    /// The job's `error_code` for this failure.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Timeout(_) => "execution_timeout",
            _ => "execution_failed",
        }
    }
}

#[derive(Debug, Deserialize)]
struct RunnerResult {
    ok: bool,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    geometry: Option<Geometry>,
}

impl FreecadRunner {
    pub fn new(command: FreecadCommand, timeout: Duration) -> Self {
        Self { command, timeout }
    }

    pub async fn run(
        &self,
        script: &str,
        formats: &[OutputFormat],
    ) -> Result<ExecutionOutcome, ExecutionError> {
        let started = Instant::now();
        let work_dir = tempfile::Builder::new().prefix("designer-job-").tempdir()?;
        let dir = work_dir.path();
        let outputs: serde_json::Map<String, serde_json::Value> = formats
            .iter()
            .map(|f| {
                (
                    f.as_str().to_owned(),
                    dir.join(f.file_name()).display().to_string().into(),
                )
            })
            .collect();
        tokio::fs::write(dir.join("design.py"), script).await?;
        tokio::fs::write(dir.join("runner.py"), RUNNER_PY).await?;
        let job = serde_json::json!({ "script": "design.py", "outputs": outputs });
        tokio::fs::write(dir.join("job.json"), job.to_string()).await?;

        let log = std::fs::File::create(dir.join("freecad.log"))?;
        let mut child = tokio::process::Command::new(&self.command.program)
            .args(&self.command.leading_args)
            .arg("runner.py")
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()?;
        let status = match tokio::time::timeout(self.timeout, child.wait()).await {
            Ok(status) => status?,
            Err(_) => {
                child.kill().await?;
                return Err(ExecutionError::Timeout(self.timeout));
            }
        };

        let raw = match tokio::fs::read(dir.join("result.json")).await {
            Ok(raw) => raw,
            Err(_) => {
                return Err(ExecutionError::NoResult {
                    status: status.to_string(),
                    log_tail: log_tail(dir).await,
                });
            }
        };
        let report: serde_json::Value =
            serde_json::from_slice(&raw).map_err(|e| ExecutionError::ScriptFailed {
                message: format!("unreadable result from the runner: {e}"),
            })?;
        let result: RunnerResult =
            serde_json::from_value(report.clone()).map_err(|e| ExecutionError::ScriptFailed {
                message: format!("unexpected result from the runner: {e}"),
            })?;
        let geometry = match (result.ok, result.geometry) {
            (true, Some(geometry)) => geometry,
            _ => {
                return Err(ExecutionError::ScriptFailed {
                    message: result
                        .error
                        .unwrap_or_else(|| "no geometry reported".to_owned()),
                });
            }
        };
        let mut files = Vec::with_capacity(formats.len());
        for &format in formats {
            let path = dir.join(format.file_name());
            if !path.is_file() {
                return Err(ExecutionError::ScriptFailed {
                    message: format!("FreeCAD did not write the {} file", format.as_str()),
                });
            }
            files.push((format, path));
        }
        Ok(ExecutionOutcome {
            geometry,
            report,
            files,
            duration: started.elapsed(),
            work_dir,
        })
    }
}

async fn log_tail(dir: &Path) -> String {
    let log = tokio::fs::read(dir.join("freecad.log"))
        .await
        .unwrap_or_default();
    let start = log.len().saturating_sub(LOG_TAIL_BYTES);
    String::from_utf8_lossy(&log[start..]).trim().to_owned()
}
