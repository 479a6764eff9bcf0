//! Running model-written scripts in headless FreeCAD, safely and fast.
//!
//! - [`collect`]: files copied out of a job folder through descriptors, never by path.
//! - [`locate`]: finding `freecadcmd` from the settings and `PATH`.
//! - `check.py`: the static check (Python's `ast`) every script passes before it runs.
//! - `runner.py`: the fork server inside FreeCAD: a fresh child per job checks, runs,
//!   measures and exports; the warm parent never runs a job's code.
//! - [`sandbox`]: bubblewrap when the kernel allows it, rlimits and an unprivileged user always.
//! - [`seccomp`]: the system calls a sandboxed process is refused (bubblewrap's `--seccomp`).
//! - [`process`]: one runner process in its sandbox, spoken to line by line.
//! - [`pool`]: the warm pool of runner processes, recycled and replaced.
//! - [`state`]: the document's objects and the diff between iterations.
//! - [`runner`]: `FreecadRunner::run`, the one entry point the job handler calls.

mod collect;
mod locate;
mod pool;
mod process;
mod runner;
mod sandbox;
pub mod seccomp;
mod state;

pub use locate::{FreecadCommand, LocateError};
pub use pool::PoolStatus;
pub use runner::{ExecutionError, ExecutionOutcome, FreecadRunner, RunnerConfig};
pub use sandbox::{IsolationMode, Limits, SandboxError};
pub use state::{ObjectState, StateDiff};
