//! The built-in offline planner (`builtin/offline`): plain English to a `DesignPlan`, no model.

mod offline;
mod prompt;

use serde::{Deserialize, Serialize};

pub use offline::{OfflinePlan, OfflinePlanner, Part};

/// What the planner expects the finished part to measure; the validator checks it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExpectedGeometry {
    /// [x, y, z] extents in mm.
    pub bbox: Option<[f64; 3]>,
    /// mm^3
    pub volume: Option<f64>,
    pub solids: Option<u32>,
}

/// The planner's answer (DESIGN.md section 6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DesignPlan {
    pub summary: String,
    pub steps: Vec<String>,
    pub expected: ExpectedGeometry,
}

/// Why a prompt could not be planned; `code` goes into the job's `error_code`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct PlanError {
    pub code: &'static str,
    pub message: String,
}
