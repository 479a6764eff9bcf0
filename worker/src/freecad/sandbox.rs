//! Where a FreeCAD process runs: inside bubblewrap when the kernel allows it (no network,
//! read-only system, one private writable folder, fresh `/tmp`), and in every mode as an
//! unprivileged user, without new privileges, under rlimits set by the runner itself.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use shared::settings::{FreecadIsolation, Settings};
use tempfile::TempDir;

use super::FreecadCommand;

const RUNNER_PY: &str = include_str!("runner.py");
const CHECK_PY: &str = include_str!("check.py");
/// Where the sandbox sees its writable folder and the runner's files (bubblewrap mode).
pub(crate) const SANDBOX_JOB_DIR: &str = "/job";
const SANDBOX_RUNNER_DIR: &str = "/runner";
/// The account FreeCAD runs as when the worker itself is root (Debian's `nobody`).
const UNPRIVILEGED_ID: u32 = 65534;
/// How long the start-up probe of bubblewrap may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(20);

/// How model code is kept away from the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsolationMode {
    /// bubblewrap namespaces plus rlimits.
    Bubblewrap,
    /// rlimits, an unprivileged user and no new privileges, but the host's file system and network.
    RlimitsOnly,
}

impl IsolationMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bubblewrap => "bubblewrap",
            Self::RlimitsOnly => "rlimits_only",
        }
    }
}

/// The per-process limits the runner sets on itself before any model code runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Limits {
    /// CPU seconds per job.
    pub cpu_seconds: u64,
    /// Address space of the FreeCAD process (and of each child it forks).
    pub memory_bytes: u64,
    /// Largest file the process may write.
    pub file_size_bytes: u64,
    /// Processes and threads the sandbox may hold at once.
    pub processes: u64,
    /// All the files of the job folder together (bubblewrap only: a tmpfs of this size).
    pub job_dir_bytes: u64,
}

impl Limits {
    pub fn from_settings(settings: &Settings) -> Self {
        const MIB: u64 = 1024 * 1024;
        Self {
            cpu_seconds: settings.freecad.cpu_seconds,
            memory_bytes: settings.freecad.memory_mb * MIB,
            file_size_bytes: settings.freecad.file_size_mb * MIB,
            processes: settings.freecad.max_processes,
            job_dir_bytes: settings.freecad.job_dir_mb * MIB,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error(
        "bubblewrap cannot run here ({0}); FreeCAD scripts need it (FREECAD_ISOLATION=rlimits_only \
         runs them without it, an explicit and loud opt-in)"
    )]
    BubblewrapRequired(String),
    #[error("preparing the sandbox: {0}")]
    Io(#[from] std::io::Error),
}

/// The compiled seccomp filter's file name in the runner folder.
const SECCOMP_FILE: &str = "seccomp.bpf";

/// How every FreeCAD process of this worker is started.
#[derive(Debug)]
pub struct Sandbox {
    mode: IsolationMode,
    freecad: FreecadCommand,
    limits: Limits,
    max_jobs: u32,
    bwrap: Option<PathBuf>,
    setpriv: Option<PathBuf>,
    /// `runner.py`, `check.py` and the seccomp filter, readable but not writable by the sandbox.
    runner_dir: TempDir,
    /// Set when the worker runs as root: FreeCAD runs as this user and group instead.
    run_as: Option<u32>,
    /// The worker's own user.
    worker_uid: u32,
    /// Why bubblewrap is not used, for the start-up warning and `/ready`.
    fallback_reason: Option<String>,
}

impl Sandbox {
    /// Prepares the runner files and decides the isolation mode by trying bubblewrap for real.
    pub async fn detect(
        freecad: FreecadCommand,
        limits: Limits,
        max_jobs: u32,
        preference: FreecadIsolation,
        search_path: Option<&str>,
    ) -> Result<Self, SandboxError> {
        sweep_stale_folders(&std::env::temp_dir());
        let runner_dir = tempfile::Builder::new()
            .prefix(&owned_prefix("runner"))
            .tempdir()?;
        let filter = super::seccomp::filter_bytes().map_err(SandboxError::BubblewrapRequired)?;
        for (name, bytes) in [
            ("runner.py", RUNNER_PY.as_bytes()),
            ("check.py", CHECK_PY.as_bytes()),
            (SECCOMP_FILE, filter.as_slice()),
        ] {
            let path = runner_dir.path().join(name);
            std::fs::write(&path, bytes)?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
        }
        std::fs::set_permissions(runner_dir.path(), std::fs::Permissions::from_mode(0o755))?;
        let worker_uid = current_uid()?;
        let run_as = (worker_uid == 0).then_some(UNPRIVILEGED_ID);
        let setpriv = find_program("setpriv", search_path);
        let bwrap = find_program("bwrap", search_path);
        let mut sandbox = Self {
            mode: IsolationMode::RlimitsOnly,
            freecad,
            limits,
            max_jobs: max_jobs.max(1),
            bwrap: None,
            setpriv,
            runner_dir,
            run_as,
            worker_uid,
            fallback_reason: None,
        };
        if preference == FreecadIsolation::RlimitsOnly {
            sandbox.fallback_reason = Some("FREECAD_ISOLATION=rlimits_only".to_owned());
            return Ok(sandbox);
        }
        let probe = match bwrap {
            None => Err("bwrap is not installed (Debian: apt-get install bubblewrap)".to_owned()),
            Some(bwrap) => sandbox.probe(bwrap).await,
        };
        match probe {
            Ok(bwrap) => {
                sandbox.bwrap = Some(bwrap);
                sandbox.mode = IsolationMode::Bubblewrap;
            }
            Err(reason) => return Err(SandboxError::BubblewrapRequired(reason)),
        }
        Ok(sandbox)
    }

    /// Runs `true` in exactly the sandbox a FreeCAD process would get.
    async fn probe(&self, bwrap: PathBuf) -> Result<PathBuf, String> {
        let dir = self.private_dir().map_err(|e| e.to_string())?;
        let mut command = self.wrapped(Some(&bwrap), &dir.path().join("job"));
        command
            .arg("true")
            .stderr(Stdio::piped())
            .stdout(Stdio::null());
        let run = async {
            let output = command.kill_on_drop(true).output().await?;
            Ok::<_, std::io::Error>(output)
        };
        match tokio::time::timeout(PROBE_TIMEOUT, run).await {
            Ok(Ok(output)) if output.status.success() => Ok(bwrap),
            Ok(Ok(output)) => Err(format!(
                "a probe run failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )),
            Ok(Err(error)) => Err(format!("a probe run could not start: {error}")),
            Err(_) => Err(format!("a probe run took more than {PROBE_TIMEOUT:?}")),
        }
    }

    pub fn mode(&self) -> IsolationMode {
        self.mode
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Whether the worker itself runs as root (it should not; FreeCAD then runs as `nobody`).
    pub fn worker_is_root(&self) -> bool {
        self.worker_uid == 0
    }

    /// The user that owns what the sandbox writes (its files on the host).
    pub fn file_owner(&self) -> u32 {
        self.run_as.unwrap_or(self.worker_uid)
    }

    /// Why bubblewrap is not in use (None when it is).
    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback_reason.as_deref()
    }

    /// A new process folder: `job/` is the only place the sandbox may write, the folder itself
    /// (for the process's own log) is not even visible from inside bubblewrap.
    pub fn private_dir(&self) -> std::io::Result<TempDir> {
        let dir = tempfile::Builder::new()
            .prefix(&owned_prefix("freecad"))
            .tempdir()?;
        // Traversable, so that an unprivileged FreeCAD (and bwrap) can reach `job/`.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711))?;
        let job = dir.path().join("job");
        std::fs::create_dir(&job)?;
        std::fs::set_permissions(&job, std::fs::Permissions::from_mode(0o755))?;
        if let Some(id) = self.run_as {
            std::os::unix::fs::chown(&job, Some(id), Some(id))?;
        }
        Ok(dir)
    }

    /// The job folder as the runner inside sees it.
    pub fn inner_job_dir(&self, host_job_dir: &Path) -> PathBuf {
        match self.mode {
            IsolationMode::Bubblewrap => PathBuf::from(SANDBOX_JOB_DIR),
            IsolationMode::RlimitsOnly => host_job_dir.to_owned(),
        }
    }

    /// The command that starts the runner in FreeCAD, in its own process group, with nothing
    /// of the worker's environment (no secrets) but what the runner needs.
    pub fn runner_command(&self, host_job_dir: &Path) -> tokio::process::Command {
        let mut command = self.wrapped(self.bwrap.as_deref(), host_job_dir);
        let runner_dir = match self.mode {
            IsolationMode::Bubblewrap => PathBuf::from(SANDBOX_RUNNER_DIR),
            IsolationMode::RlimitsOnly => self.runner_dir.path().to_owned(),
        };
        command
            .arg(&self.freecad.program)
            .args(&self.freecad.leading_args)
            .arg(runner_dir.join("runner.py"))
            .env("DESIGNER_RUNNER_DIR", &runner_dir)
            .env(
                "DESIGNER_BUBBLEWRAP",
                if self.mode == IsolationMode::Bubblewrap {
                    "1"
                } else {
                    "0"
                },
            )
            .env(
                "DESIGNER_LIMITS",
                serde_json::json!({
                    "cpu_seconds": self.limits.cpu_seconds,
                    "memory_bytes": self.limits.memory_bytes,
                    "file_size_bytes": self.limits.file_size_bytes,
                    "processes": self.limits.processes,
                    "max_jobs": self.max_jobs,
                })
                .to_string(),
            );
        command
    }

    /// `[setpriv ...] [bwrap ... --]`, ready for the program and its arguments.
    fn wrapped(&self, bwrap: Option<&Path>, host_job_dir: &Path) -> tokio::process::Command {
        let mut parts: Vec<std::ffi::OsString> = Vec::new();
        if let Some(setpriv) = &self.setpriv {
            parts.push(setpriv.into());
            if let Some(id) = self.run_as {
                parts.push(format!("--reuid={id}").into());
                parts.push(format!("--regid={id}").into());
                parts.push("--clear-groups".into());
            }
            parts.push("--no-new-privs".into());
        }
        let home = match bwrap {
            Some(bwrap) => {
                // bubblewrap reads the seccomp filter from a descriptor; a shell (after
                // setpriv, so as the sandbox's user) opens the filter file as fd 9 for it,
                // since this crate forbids the unsafe code a `pre_exec` would need.
                parts.extend(
                    [
                        "/bin/sh",
                        "-c",
                        "filter=$1; shift; exec \"$@\" 9<\"$filter\"",
                        "sh",
                    ]
                    .map(Into::into),
                );
                parts.push(self.runner_dir.path().join(SECCOMP_FILE).into());
                parts.push(bwrap.into());
                parts.extend(["--seccomp", "9"].map(Into::into));
                parts.extend(self.bwrap_args());
                PathBuf::from("/tmp")
            }
            None => host_job_dir.to_owned(),
        };
        let mut command = tokio::process::Command::new(&parts[0]);
        command
            .args(&parts[1..])
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", home)
            .env("LANG", "C.UTF-8")
            .current_dir(host_job_dir)
            // The whole group is killed at a timeout, a crash or shutdown.
            .process_group(0)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    fn bwrap_args(&self) -> Vec<std::ffi::OsString> {
        let mut args: Vec<std::ffi::OsString> = [
            "--unshare-user",
            "--unshare-ipc",
            "--unshare-pid",
            "--unshare-net",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--die-with-parent",
            "--new-session",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            // No user namespaces inside (unshare, nested sandboxes).
            "--disable-userns",
        ]
        .into_iter()
        .map(Into::into)
        .collect();
        // A private /tmp no larger than the largest file a job may write.
        args.extend([
            "--size".into(),
            self.limits.file_size_bytes.to_string().into(),
            "--tmpfs".into(),
            "/tmp".into(),
        ]);
        // The system, read-only; merged-/usr links stay links.
        for dir in [
            "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc",
        ] {
            let path = Path::new(dir);
            match std::fs::symlink_metadata(path) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    if let Ok(target) = std::fs::read_link(path) {
                        args.extend(["--symlink".into(), target.into(), dir.into()]);
                    }
                }
                Ok(_) => args.extend(["--ro-bind".into(), dir.into(), dir.into()]),
                Err(_) => {}
            }
        }
        // A FreeCAD installed outside the system folders (FREECAD_PATH, an AppImage).
        if let Some(install) = self.freecad.program.parent() {
            let system = ["/usr", "/bin", "/sbin", "/etc"];
            if !system.iter().any(|dir| install.starts_with(dir)) {
                args.extend(["--ro-bind".into(), install.into(), install.into()]);
            }
        }
        // The job folder is a tmpfs of its own size, so that a script cannot fill the host's
        // disk file by file; the worker reaches it through the sandbox's `/proc/<pid>/root`
        // (`FreecadProcess::job_dir`).
        args.extend([
            "--ro-bind".into(),
            self.runner_dir.path().into(),
            SANDBOX_RUNNER_DIR.into(),
            "--size".into(),
            self.limits.job_dir_bytes.to_string().into(),
            "--perms".into(),
            "0755".into(),
            "--tmpfs".into(),
            SANDBOX_JOB_DIR.into(),
            "--chdir".into(),
            SANDBOX_JOB_DIR.into(),
            "--remount-ro".into(),
            "/".into(),
            "--".into(),
        ]);
        args
    }
}

/// `designer-{kind}-{pid}-`: the folders of this worker process carry its pid, so that the
/// next worker can tell a dead one's leftovers (after a SIGKILL) from a live neighbour's.
pub(crate) fn owned_prefix(kind: &str) -> String {
    format!("designer-{kind}-{}-", std::process::id())
}

/// Removes `designer-*-{pid}-*` folders in `tmp` whose worker process is gone.
pub(crate) fn sweep_stale_folders(tmp: &Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("designer-")) else {
            continue;
        };
        let mut parts = rest.splitn(3, '-');
        let (Some(_kind), Some(pid), Some(_)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir && !Path::new("/proc").join(pid.to_string()).exists() {
            match std::fs::remove_dir_all(entry.path()) {
                Ok(()) => {
                    tracing::info!(folder = %entry.path().display(), "removed a dead worker's folder")
                }
                Err(error) => {
                    tracing::warn!(folder = %entry.path().display(), %error, "could not remove a dead worker's folder")
                }
            }
        }
    }
}

/// The effective user of this process, read from `/proc/self` (no `unsafe` libc call).
fn current_uid() -> std::io::Result<u32> {
    Ok(std::fs::metadata("/proc/self")?.uid())
}

fn find_program(name: &str, search_path: Option<&str>) -> Option<PathBuf> {
    let dirs = search_path.unwrap_or("/usr/local/bin:/usr/bin:/bin");
    std::env::split_paths(dirs)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/bin")])
        .map(|dir| dir.join(name))
        .find(|candidate| {
            candidate
                .metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isolation_modes_are_named_as_in_settings() {
        assert_eq!(IsolationMode::Bubblewrap.as_str(), "bubblewrap");
        assert_eq!(IsolationMode::RlimitsOnly.as_str(), "rlimits_only");
    }
}
