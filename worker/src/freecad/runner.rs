//! `FreecadRunner::run`: one script, checked and sandboxed, in a warm pool process (or a fresh
//! one with `FREECAD_POOL_SIZE=0`), under a wall-clock timeout; measured, exported and diffed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use shared::error_code::ErrorCode;
use shared::job::{Geometry, OutputFormat};
use shared::metrics::{
    FREECAD_EXECUTION_DURATION_SECONDS, FREECAD_EXECUTIONS_TOTAL, FREECAD_ISOLATION_MODE,
    FREECAD_SANDBOX_WEAKENED,
};
use shared::settings::{FreecadIsolation, Settings};
use tempfile::TempDir;

use super::FreecadCommand;
use super::collect::{self, CollectError, Expectations};
use super::pool::{Lease, Pool, PoolStatus};
use super::process::{FreecadProcess, ProcessFailure, RunnerAnswer, describe_signal};
use super::sandbox::{IsolationMode, Limits, Sandbox, SandboxError, owned_prefix};
use super::state::{self, ObjectState};
use crate::side_tasks::SideTasks;

/// Everything that decides how scripts run.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Wall-clock limit of one script (and of a process start).
    pub timeout: Duration,
    /// Warm processes; 0 means a fresh process per job.
    pub pool_size: usize,
    /// Jobs a warm process runs before it is replaced.
    pub pool_max_jobs: u32,
    pub limits: Limits,
    pub isolation: FreecadIsolation,
    pub tessellation: Tessellation,
}

/// How finely FreeCAD tessellates the result, once, for every mesh format and the thumbnail.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Tessellation {
    /// mm
    pub linear_deflection: f64,
    /// radians
    pub angular_deflection: f64,
}

impl RunnerConfig {
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            timeout: settings.queue.job_timeout,
            pool_size: settings.freecad.pool_size,
            pool_max_jobs: settings.freecad.pool_max_jobs,
            limits: Limits::from_settings(settings),
            isolation: settings.freecad.isolation,
            tessellation: Tessellation {
                linear_deflection: settings.freecad.mesh_linear_deflection,
                angular_deflection: settings.freecad.mesh_angular_deflection,
            },
        }
    }
}

pub struct FreecadRunner {
    sandbox: Arc<Sandbox>,
    pool: Option<Pool>,
    timeout: Duration,
    tessellation: Tessellation,
    /// Processes being retired after their last job.
    retiring: SideTasks,
    /// Scripts this runner has been given (the process-wide metric mixes every runner of a
    /// test process; this one is the runner's own).
    executions: AtomicU64,
}

/// A script that ran and left a measurable solid.
#[derive(Debug)]
pub struct ExecutionOutcome {
    pub geometry: Geometry,
    /// Everything the runner reported (faces, edges, centre of mass, objects, the diff from
    /// the previous iteration), for the job record's `execution_result`.
    pub report: serde_json::Value,
    /// The document's objects, to diff the next iteration against.
    pub objects: Vec<ObjectState>,
    /// The exported files: copies the worker made inside `work_dir` (never paths into the
    /// sandbox), read from the job folder through descriptors.
    pub files: Vec<(OutputFormat, PathBuf)>,
    pub duration: Duration,
    /// Removed when the outcome is dropped.
    pub work_dir: TempDir,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecutionError {
    #[error("could not run FreeCAD: {0}")]
    Io(#[from] std::io::Error),
    #[error("{message}")]
    Rejected { message: String },
    #[error("FreeCAD did not finish within {0:?} and was stopped")]
    Timeout(Duration),
    #[error("the script failed in FreeCAD: {message}")]
    ScriptFailed { message: String },
    #[error("{message}")]
    NoGeometry { message: String },
    #[error("{message}; its FreeCAD process was replaced")]
    MemoryExceeded { message: String },
    #[error("FreeCAD stopped without an answer ({status}); its log ends with: {log_tail}")]
    Crashed { status: String, log_tail: String },
}

impl ExecutionError {
    /// The job's `error_code` for this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Rejected { .. } => ErrorCode::ScriptRejected,
            Self::Timeout(_) => ErrorCode::ExecutionTimeout,
            Self::NoGeometry { .. } => ErrorCode::NoGeometry,
            Self::MemoryExceeded { .. } => ErrorCode::MemoryExceeded,
            Self::Crashed { .. } => ErrorCode::ExecutionCrashed,
            Self::Io(_) | Self::ScriptFailed { .. } => ErrorCode::ExecutionFailed,
        }
    }

    /// The value of `freecad_executions_total{status}`.
    fn metric_status(&self) -> &'static str {
        match self {
            Self::Timeout(_) => "timeout",
            Self::Rejected { .. } => "rejected",
            _ => "failure",
        }
    }
}

impl From<ProcessFailure> for ExecutionError {
    fn from(failure: ProcessFailure) -> Self {
        match failure {
            ProcessFailure::Io(error) => Self::Io(error),
            ProcessFailure::Died { status, log_tail } => Self::Crashed { status, log_tail },
        }
    }
}

impl FreecadRunner {
    /// Decides the isolation (trying bubblewrap for real) and starts the warm pool.
    pub async fn start(
        command: FreecadCommand,
        config: RunnerConfig,
        search_path: Option<&str>,
    ) -> Result<Self, SandboxError> {
        let sandbox = Arc::new(
            Sandbox::detect(
                command,
                config.limits,
                config.pool_max_jobs,
                config.isolation,
                search_path,
            )
            .await?,
        );
        let retiring = SideTasks::default();
        let pool = (config.pool_size > 0).then(|| {
            Pool::start(
                sandbox.clone(),
                config.pool_size,
                config.pool_max_jobs,
                config.timeout,
                retiring.clone(),
            )
        });
        metrics::gauge!(FREECAD_ISOLATION_MODE.name, "mode" => sandbox.mode().as_str()).set(1.0);
        let weakened = sandbox.mode() == IsolationMode::RlimitsOnly;
        metrics::gauge!(FREECAD_SANDBOX_WEAKENED.name).set(if weakened { 1.0 } else { 0.0 });
        Ok(Self {
            sandbox,
            pool,
            timeout: config.timeout,
            tessellation: config.tessellation,
            retiring,
            executions: AtomicU64::new(0),
        })
    }

    /// At shutdown: waits up to `within` for retiring processes to end; returns how many had
    /// not (they die with the worker: bubblewrap's `--die-with-parent`).
    pub async fn drain(&self, within: Duration) -> usize {
        self.retiring.drain(within).await
    }

    pub fn isolation(&self) -> IsolationMode {
        self.sandbox.mode()
    }

    /// Whether the worker process runs as root (said at start, in `/ready` and in a metric).
    pub fn worker_is_root(&self) -> bool {
        self.sandbox.worker_is_root()
    }

    /// Why bubblewrap is not used (None when it is).
    pub fn isolation_fallback_reason(&self) -> Option<&str> {
        self.sandbox.fallback_reason()
    }

    /// How many scripts (jobs' and conversions') this runner has been given to run.
    pub fn executions(&self) -> u64 {
        self.executions.load(Ordering::Relaxed)
    }

    /// The warm pool's state; `None` with `FREECAD_POOL_SIZE=0`.
    pub fn pool_status(&self) -> Option<PoolStatus> {
        self.pool.as_ref().map(Pool::status)
    }

    /// Runs the first iteration's script.
    pub async fn run(
        &self,
        script: &str,
        formats: &[OutputFormat],
    ) -> Result<ExecutionOutcome, ExecutionError> {
        self.run_iteration(script, formats, None).await
    }

    /// Runs a script; the report's `diff` says what changed from `previous` (the objects of
    /// the iteration before, if any).
    pub async fn run_iteration(
        &self,
        script: &str,
        formats: &[OutputFormat],
        previous: Option<&[ObjectState]>,
    ) -> Result<ExecutionOutcome, ExecutionError> {
        let job = JobInput {
            script: Script::Checked(script),
            inputs: &[],
            formats,
        };
        self.run_job(&job, previous).await
    }

    /// Makes `formats` of a stored design from its FCStd (a conversion job): a fixed script
    /// of ours copies the saved document's top-level shapes into the run's document, which is
    /// then measured and exported like any result, in the same sandbox (the FCStd came from
    /// an untrusted script). The script is ours and constant, so it skips the static check,
    /// which turns `openDocument` away in model-written code.
    pub async fn convert_fcstd(
        &self,
        fcstd: &[u8],
        formats: &[OutputFormat],
    ) -> Result<ExecutionOutcome, ExecutionError> {
        let job = JobInput {
            script: Script::Ours(CONVERSION_SCRIPT),
            inputs: &[(CONVERSION_SOURCE, fcstd)],
            formats,
        };
        self.run_job(&job, None).await
    }

    /// Test seam: runs `script` as full Python in the sandbox, without the static check, so
    /// tests can prove that the sandbox (not the check) contains a hostile payload. Only code
    /// can call this; the job path never does, and no route, setting or environment variable
    /// reaches it.
    pub async fn run_unchecked_for_tests(
        &self,
        script: &str,
        formats: &[OutputFormat],
    ) -> Result<ExecutionOutcome, ExecutionError> {
        let job = JobInput {
            script: Script::Unchecked(script),
            inputs: &[],
            formats,
        };
        self.run_job(&job, None).await
    }

    async fn run_job(
        &self,
        job: &JobInput<'_>,
        previous: Option<&[ObjectState]>,
    ) -> Result<ExecutionOutcome, ExecutionError> {
        let started = Instant::now();
        self.executions.fetch_add(1, Ordering::Relaxed);
        // FreeCAD writes STEP, FCStd and one tessellation (STL); the worker derives the rest.
        let made_by_freecad = freecad_formats(job.formats);
        let in_freecad = JobInput {
            formats: &made_by_freecad,
            ..*job
        };
        let result = match &self.pool {
            Some(pool) => self.run_warm(pool, &in_freecad).await,
            None => self.run_cold(&in_freecad).await,
        };
        let duration = started.elapsed();
        metrics::histogram!(FREECAD_EXECUTION_DURATION_SECONDS.name).record(duration.as_secs_f64());
        let status = match &result {
            Ok(_) => "success",
            Err(error) => error.metric_status(),
        };
        metrics::counter!(FREECAD_EXECUTIONS_TOTAL.name, "status" => status).increment(1);
        let mut outcome = finish(result?, previous, duration)?;
        derive_formats(&mut outcome, job.formats).await?;
        Ok(outcome)
    }

    async fn run_warm(&self, pool: &Pool, job: &JobInput<'_>) -> Result<Collected, ExecutionError> {
        // Waiting for a free process counts against the same limit as the script.
        let mut lease: Lease = tokio::time::timeout(self.timeout, pool.lease())
            .await
            .map_err(|_| ExecutionError::Timeout(self.timeout))?
            .ok_or_else(|| std::io::Error::other("the FreeCAD pool is closed"))?;
        match self.execute(lease.process(), job).await {
            Ok(collected) if !collected.answer.fatal => {
                lease.give_back();
                Ok(collected)
            }
            Ok(fatal) => {
                lease.discard();
                Ok(fatal)
            }
            Err(error) => {
                lease.discard();
                Err(error)
            }
        }
    }

    async fn run_cold(&self, job: &JobInput<'_>) -> Result<Collected, ExecutionError> {
        let started = Instant::now();
        let mut process = tokio::time::timeout(
            self.timeout,
            FreecadProcess::start(self.sandbox.clone(), self.timeout),
        )
        .await
        .map_err(|_| ExecutionError::Timeout(self.timeout))??;
        let remaining = self.timeout.saturating_sub(started.elapsed());
        let result = self.execute_within(&mut process, job, remaining).await;
        self.retiring.spawn(process.retire());
        result
    }

    async fn execute(
        &self,
        process: &mut FreecadProcess,
        job: &JobInput<'_>,
    ) -> Result<Collected, ExecutionError> {
        self.execute_within(process, job, self.timeout).await
    }

    /// One job in one process: fresh inputs in its folder, the answer, the files moved out.
    async fn execute_within(
        &self,
        process: &mut FreecadProcess,
        input: &JobInput<'_>,
        limit: Duration,
    ) -> Result<Collected, ExecutionError> {
        let (script, formats) = (input.script, input.formats);
        let host_dir = process.job_dir();
        // The runner empties the folder and writes the script and inputs itself, as the
        // sandbox's user: the worker only ever reads from the job folder (under bubblewrap it
        // is the sandbox's own tmpfs, where a file of the worker's could not even be created).
        let inputs: serde_json::Map<String, serde_json::Value> = input
            .inputs
            .iter()
            .map(|(name, contents)| ((*name).to_owned(), BASE64.encode(contents).into()))
            .collect();
        let inner_dir = process.sandbox().inner_job_dir(&host_dir);
        let outputs: serde_json::Map<String, serde_json::Value> = formats
            .iter()
            .map(|f| {
                (
                    f.as_str().to_owned(),
                    inner_dir.join(f.file_name()).display().to_string().into(),
                )
            })
            .collect();
        let job = serde_json::json!({
            "dir": inner_dir.display().to_string(),
            "script": "design.py",
            "script_text": script.text(),
            "inputs": inputs,
            "outputs": outputs,
            "unchecked": !matches!(script, Script::Checked(_)),
            "tessellation": self.tessellation,
        });
        let answer = match tokio::time::timeout(limit, process.run(&job)).await {
            Ok(answer) => answer?,
            Err(_) => {
                process.kill();
                return Err(ExecutionError::Timeout(self.timeout));
            }
        };
        // The fork server answers only once the job's processes are all gone: nothing of the
        // job can still change its folder while the files are collected.
        let work_dir = tempfile::Builder::new()
            .prefix(&owned_prefix("job"))
            .tempdir()?;
        let files = if answer.ok {
            let expect = Expectations {
                owner: process.sandbox().file_owner(),
                max_bytes: process.sandbox().limits().file_size_bytes,
            };
            collect::collect(&host_dir, formats, expect, work_dir.path())
        } else {
            Ok(Vec::new())
        };
        // A crashed child is reported by `finish`; the warm process itself is fine.
        let log_tail = if answer.code == Some(ErrorCode::ExecutionCrashed) {
            process.log_tail()
        } else {
            String::new()
        };
        // The runner empties the folder again before the next job; emptying it now gives an
        // idle process's tmpfs memory back at once instead of holding this job's files.
        process.clear_job_dir()?;
        let files = files.map_err(|error| match error {
            CollectError::Io(error) => ExecutionError::Io(error),
            other => ExecutionError::ScriptFailed {
                message: other.to_string(),
            },
        })?;
        Ok(Collected {
            answer,
            work_dir,
            files,
            log_tail,
        })
    }
}

/// A job's script, and whether it passes the static check first.
#[derive(Clone, Copy)]
enum Script<'a> {
    Checked(&'a str),
    /// Only from [`FreecadRunner::run_unchecked_for_tests`].
    Unchecked(&'a str),
    /// A constant script of this crate (the conversion), never built from any input.
    Ours(&'static str),
}

impl Script<'_> {
    fn text(&self) -> &str {
        match self {
            Self::Checked(text) | Self::Unchecked(text) => text,
            Self::Ours(text) => text,
        }
    }
}

/// One run's inputs: the script, files placed beside it, the formats asked for.
#[derive(Clone, Copy)]
struct JobInput<'a> {
    script: Script<'a>,
    inputs: &'a [(&'a str, &'a [u8])],
    formats: &'a [OutputFormat],
}

/// What one job left: the runner's answer and the files copied out of its folder.
struct Collected {
    answer: RunnerAnswer,
    work_dir: TempDir,
    files: Vec<(OutputFormat, PathBuf)>,
    /// The job's log, when its child crashed.
    log_tail: String,
}

/// Turns the runner's answer into an outcome or the error its code names.
fn finish(
    collected: Collected,
    previous: Option<&[ObjectState]>,
    duration: Duration,
) -> Result<ExecutionOutcome, ExecutionError> {
    let Collected {
        answer,
        work_dir,
        files,
        log_tail,
    } = collected;
    let message = answer
        .error
        .clone()
        .unwrap_or_else(|| "the runner gave no reason".to_owned());
    if !answer.ok {
        return Err(match answer.code {
            Some(ErrorCode::ScriptRejected) => ExecutionError::Rejected { message },
            Some(ErrorCode::NoGeometry) => ExecutionError::NoGeometry { message },
            Some(ErrorCode::MemoryExceeded) => ExecutionError::MemoryExceeded { message },
            Some(ErrorCode::ExecutionCrashed) => ExecutionError::Crashed {
                status: describe_signal(answer.signal),
                log_tail,
            },
            _ => ExecutionError::ScriptFailed { message },
        });
    }
    let mut report = answer.raw;
    let geometry: Geometry = serde_json::from_value(report["geometry"].clone())
        .map_err(|e| std::io::Error::other(format!("unexpected geometry from the runner: {e}")))?;
    let objects: Vec<ObjectState> = serde_json::from_value(report["objects"].clone())
        .map_err(|e| std::io::Error::other(format!("unexpected objects from the runner: {e}")))?;
    report["diff"] = serde_json::to_value(state::diff(previous, &objects))
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(ExecutionOutcome {
        geometry,
        report,
        objects,
        files,
        duration,
        work_dir,
    })
}

/// The stored FCStd's name inside a conversion run's folder.
const CONVERSION_SOURCE: &str = "source.FCStd";

/// A conversion run's script (ours, checked like any other): the saved document's top-level
/// shapes, copied into the run's document. The runner's folder is the working directory.
const CONVERSION_SCRIPT: &str = r#"import FreeCAD as App

target = App.ActiveDocument
source = App.openDocument("source.FCStd")
for obj in source.Objects:
    if hasattr(obj, "Shape") and not obj.InList and not obj.Shape.isNull():
        target.addObject("Part::Feature", obj.Name).Shape = obj.Shape.copy()
App.closeDocument(source.Name)
App.setActiveDocument(target.Name)
"#;

/// What FreeCAD itself writes for `formats`: STEP and FCStd as asked, and the one
/// tessellation (STL) whenever any mesh format or the thumbnail is wanted.
fn freecad_formats(formats: &[OutputFormat]) -> Vec<OutputFormat> {
    let mut made: Vec<OutputFormat> = formats
        .iter()
        .copied()
        .filter(|f| !f.is_from_mesh())
        .collect();
    if formats.iter().any(|f| f.is_from_mesh()) {
        made.push(OutputFormat::Stl);
    }
    made
}

/// Writes the formats derived from the tessellation (OBJ, PLY, 3MF, GLB, PNG) next to it and
/// leaves in `files` exactly the formats asked for.
async fn derive_formats(
    outcome: &mut ExecutionOutcome,
    formats: &[OutputFormat],
) -> Result<(), ExecutionError> {
    let dir = outcome.work_dir.path().to_path_buf();
    let wanted = formats.to_vec();
    let bbox = outcome.geometry.bbox;
    let derived = tokio::task::spawn_blocking(move || write_derived(&dir, &wanted, bbox))
        .await
        .map_err(|e| std::io::Error::other(format!("the mesh writer stopped: {e}")))??;
    outcome.files.retain(|(format, _)| formats.contains(format));
    outcome.files.extend(derived);
    // In the order they were asked for.
    outcome
        .files
        .sort_by_key(|(format, _)| formats.iter().position(|f| f == format));
    Ok(())
}

fn write_derived(
    dir: &Path,
    formats: &[OutputFormat],
    bbox: [f64; 3],
) -> Result<Vec<(OutputFormat, PathBuf)>, ExecutionError> {
    let derived: Vec<OutputFormat> = formats
        .iter()
        .copied()
        .filter(|f| f.is_from_mesh() && *f != OutputFormat::Stl)
        .collect();
    if derived.is_empty() {
        return Ok(Vec::new());
    }
    let stl = std::fs::read(dir.join(OutputFormat::Stl.file_name()))?;
    let mesh = crate::mesh::read_binary_stl(&stl).map_err(|e| ExecutionError::ScriptFailed {
        message: format!("the tessellation FreeCAD wrote is unreadable: {e}"),
    })?;
    let mut files = Vec::with_capacity(derived.len());
    for format in derived {
        let bytes = match format {
            OutputFormat::Png => crate::mesh::thumbnail(&mesh, bbox)
                .map_err(|e| std::io::Error::other(format!("PNG encoding: {e}")))?,
            other => crate::mesh::encode(&mesh, other).ok_or_else(|| {
                std::io::Error::other(format!("no writer for {}", other.as_str()))
            })?,
        };
        let path = dir.join(format.file_name());
        std::fs::write(&path, bytes)?;
        files.push((format, path));
    }
    Ok(files)
}
