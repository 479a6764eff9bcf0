//! One runner process in its sandbox: started, fed one job at a time over stdin, answered over
//! stdout, and killed with its whole process group when it is done with or misbehaves.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use shared::error_code::ErrorCode;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

use super::sandbox::{IsolationMode, SANDBOX_JOB_DIR, Sandbox};

/// Marks the runner's answers among whatever else reaches its stdout (FreeCAD's banner).
const ANSWER_MARK: &str = "@@designer@@ ";
/// How much of a log goes into an error message.
const LOG_TAIL_BYTES: usize = 2000;
/// How long a retiring process may take to exit by itself before it is killed.
const RETIRE_GRACE: Duration = Duration::from_secs(2);

/// What the runner answered for one job.
#[derive(Debug, Deserialize)]
pub(crate) struct RunnerAnswer {
    pub ok: bool,
    /// Parsed here, where the runner's JSON enters the worker; a code the runner made up
    /// reads as `unknown` (a script failure).
    #[serde(default)]
    pub code: Option<ErrorCode>,
    #[serde(default)]
    pub error: Option<String>,
    /// The process must not run another job (processes of the job it could not stop).
    #[serde(default)]
    pub fatal: bool,
    /// The signal that ended the job's forked child (`execution_crashed`).
    #[serde(default)]
    pub signal: Option<i32>,
    /// The whole answer, for the job record.
    #[serde(skip)]
    pub raw: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct Ready {
    ready: bool,
}

/// Why a process gave no answer.
#[derive(Debug)]
pub(crate) enum ProcessFailure {
    Io(std::io::Error),
    /// It exited (or closed its stdout) without answering.
    Died {
        status: String,
        log_tail: String,
    },
}

impl From<std::io::Error> for ProcessFailure {
    fn from(error: std::io::Error) -> Self {
        Self::Io(error)
    }
}

pub(crate) struct FreecadProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    answers: Lines<BufReader<ChildStdout>>,
    /// Host pid of the wrapper, which is also the process group id.
    pid: u32,
    /// `job/` (the folder the runner works in without bubblewrap) and `stderr.log`.
    dir: TempDir,
    /// The job folder as the worker reaches it: under bubblewrap the sandbox's own tmpfs,
    /// through `/proc/<pid>/root` of the sandbox's first process; otherwise `dir/job`.
    job_dir: PathBuf,
    sandbox: Arc<Sandbox>,
    pub jobs_done: u32,
    killed: bool,
}

impl FreecadProcess {
    /// Starts a runner and waits until FreeCAD has loaded and the runner says it is ready.
    pub async fn start(sandbox: Arc<Sandbox>, limit: Duration) -> Result<Self, ProcessFailure> {
        let dir = sandbox.private_dir()?;
        let stderr = std::fs::File::create(dir.path().join("stderr.log"))?;
        let mut child = sandbox
            .runner_command(&dir.path().join("job"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()?;
        let pid = child.id().unwrap_or_default();
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| ProcessFailure::Io(std::io::Error::other("the runner has no stdout")))?;
        let mut process = Self {
            child,
            stdin,
            answers: BufReader::new(stdout).lines(),
            pid,
            job_dir: dir.path().join("job"),
            dir,
            sandbox,
            jobs_done: 0,
            killed: false,
        };
        let ready = match tokio::time::timeout(limit, process.next_answer()).await {
            Ok(answer) => answer?,
            Err(_) => {
                process.kill();
                return Err(ProcessFailure::Died {
                    status: format!("not ready after {limit:?}"),
                    log_tail: process.log_tail(),
                });
            }
        };
        match serde_json::from_str::<Ready>(&ready) {
            Ok(Ready { ready: true }) if process.sandbox.mode() == IsolationMode::RlimitsOnly => {
                Ok(process)
            }
            Ok(Ready { ready: true }) => match sandbox_root(pid) {
                Ok(root) => {
                    process.job_dir = root.join(SANDBOX_JOB_DIR.trim_start_matches('/'));
                    Ok(process)
                }
                Err(error) => {
                    process.kill();
                    Err(ProcessFailure::Io(error))
                }
            },
            _ => {
                process.kill();
                Err(ProcessFailure::Died {
                    status: format!("unexpected first answer {ready:?}"),
                    log_tail: process.log_tail(),
                })
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The job folder on the host.
    pub fn job_dir(&self) -> PathBuf {
        self.job_dir.clone()
    }

    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// Sends one job and waits for its answer (the caller bounds the wait).
    pub async fn run(&mut self, job: &serde_json::Value) -> Result<RunnerAnswer, ProcessFailure> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| std::io::Error::other("the runner's stdin is closed"))?;
        let mut line = job.to_string();
        line.push('\n');
        stdin.write_all(line.as_bytes()).await?;
        stdin.flush().await?;
        let text = self.next_answer().await?;
        self.jobs_done += 1;
        let raw: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            std::io::Error::other(format!("unreadable answer from the runner: {e}"))
        })?;
        let mut answer: RunnerAnswer = serde_json::from_value(raw.clone()).map_err(|e| {
            std::io::Error::other(format!("unexpected answer from the runner: {e}"))
        })?;
        answer.raw = raw;
        Ok(answer)
    }

    async fn next_answer(&mut self) -> Result<String, ProcessFailure> {
        loop {
            match self.answers.next_line().await? {
                Some(line) => {
                    if let Some(answer) = line.strip_prefix(ANSWER_MARK) {
                        return Ok(answer.to_owned());
                    }
                }
                None => {
                    // The runner is gone: collect how it ended, and kill what it left behind.
                    let status = tokio::time::timeout(RETIRE_GRACE, self.child.wait()).await;
                    self.kill();
                    return Err(ProcessFailure::Died {
                        status: describe_exit(status.ok().and_then(Result::ok)),
                        log_tail: self.log_tail(),
                    });
                }
            }
        }
    }

    /// FreeCAD's stderr and the current job's log, the end of each.
    pub fn log_tail(&self) -> String {
        let stderr = tail(&self.dir.path().join("stderr.log"));
        let job_log = tail(&self.job_dir().join("freecad.log"));
        [stderr, job_log]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Kills the whole process group at once (bubblewrap takes its namespace down with it).
    pub fn kill(&mut self) {
        if self.killed {
            return;
        }
        self.killed = true;
        if let Some(pid) = rustix::process::Pid::from_raw(self.pid as i32) {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
        let _ = self.child.start_kill();
    }

    /// Lets the runner leave by itself (stdin closed), then kills whatever is left.
    pub async fn retire(mut self) {
        self.stdin = None;
        let _ = tokio::time::timeout(RETIRE_GRACE, self.child.wait()).await;
        self.kill();
        let _ = self.child.wait().await;
    }

    /// Empties the job folder (the folder itself stays: bubblewrap has it bound).
    pub fn clear_job_dir(&self) -> std::io::Result<()> {
        for entry in std::fs::read_dir(self.job_dir())? {
            let path = entry?.path();
            if path.is_dir() && !path.is_symlink() {
                std::fs::remove_dir_all(&path)?;
            } else {
                std::fs::remove_file(&path)?;
            }
        }
        Ok(())
    }
}

impl Drop for FreecadProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The root folder of the sandbox that bubblewrap `wrapper` made, as the host sees it:
/// `/proc/<pid>/root` of bubblewrap's first child (the namespace's init, which runs no job
/// code and lives exactly as long as the sandbox). The wrapper is `exec`ed into bubblewrap, so
/// its pid is bubblewrap's own, which stays outside the namespaces.
fn sandbox_root(wrapper: u32) -> std::io::Result<PathBuf> {
    let children = std::fs::read_to_string(format!("/proc/{wrapper}/task/{wrapper}/children"))?;
    let init = children
        .split_whitespace()
        .next()
        .ok_or_else(|| std::io::Error::other("bubblewrap has no child: the sandbox is gone"))?;
    Ok(PathBuf::from(format!("/proc/{init}/root")))
}

fn describe_exit(status: Option<ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    let Some(status) = status else {
        return "still running; killed".to_owned();
    };
    // bubblewrap reports a child killed by signal N as exit code 128 + N.
    let signal = status
        .signal()
        .or_else(|| status.code().filter(|c| *c > 128).map(|c| c - 128));
    match signal {
        Some(_) => describe_signal(signal),
        None => status.to_string(),
    }
}

/// How a process killed by `signal` ended, in words (`None`: it ended without a report).
pub(crate) fn describe_signal(signal: Option<i32>) -> String {
    match signal {
        Some(24) => "killed by SIGXCPU: the CPU time limit was reached".to_owned(),
        Some(25) => "killed by SIGXFSZ: the file size limit was reached".to_owned(),
        Some(9) => "killed by SIGKILL".to_owned(),
        Some(6) => "aborted (SIGABRT), often an allocation that failed".to_owned(),
        Some(11) => "crashed (SIGSEGV)".to_owned(),
        Some(n) => format!("killed by signal {n}"),
        None => "ended without a report".to_owned(),
    }
}

fn tail(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    let start = bytes.len().saturating_sub(LOG_TAIL_BYTES);
    String::from_utf8_lossy(&bytes[start..]).trim().to_owned()
}
