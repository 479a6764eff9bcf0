//! Running scripts in headless FreeCAD.
//!
//! - [`locate`]: finding `freecadcmd` from the settings and `PATH`.
//! - [`runner`]: one script in a fresh working directory, with a timeout; measures and exports.

mod locate;
mod runner;

pub use locate::{FreecadCommand, LocateError};
pub use runner::{ExecutionError, ExecutionOutcome, FreecadRunner};
