//! The built-in offline planner (`builtin/offline`): plain English to a `DesignPlan`, no model.
//!
//! # Layout
//! - `prompt`: tokens (numbers with units, fractions, word numbers, `M6`, `Ø`, `x` / `by`).
//! - `parse`: quantities, labels and counts read from the tokens ("four 6 mm holes").
//! - [`catalogue`]: the parametric parts, one file per family, with their parameters,
//!   validation, exact expected geometry and FreeCAD template.
//! - `offline`: [`OfflinePlanner`], which ties them together into an [`OfflinePlan`].
//! - `refine`: [`refine`], feedback on a completed design applied to its parameters.

pub mod catalogue;
mod offline;
pub(crate) mod parse;
mod prompt;
mod refine;

use serde::{Deserialize, Serialize};
use shared::error_code::ErrorCode;

pub use catalogue::{CATALOGUE, Entry, Part};
pub use offline::{OfflinePlan, OfflinePlanner};
pub use refine::refine;

/// What the planner expects the finished part to measure; the validator checks it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExpectedGeometry {
    /// [x, y, z] extents in mm.
    pub bbox: Option<[f64; 3]>,
    /// mm^3
    pub volume: Option<f64>,
    pub solids: Option<u32>,
    /// How far (mm) FreeCAD's measured bounding box may lie outside the exact one because of
    /// how it is measured: a tessellated shape's box is widened by the mesh deflection. The
    /// validator allows this on each axis besides its relative tolerance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bbox_allowance_mm: Option<f64>,
}

/// The planner's answer (ARCHITECTURE.md, "worker").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DesignPlan {
    pub summary: String,
    pub steps: Vec<String>,
    pub expected: ExpectedGeometry,
    /// What the prompt said that is not geometry, recorded as said: "material: aluminium",
    /// "purpose: a shelf", "process: 3D printed". The part is the same without them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Why a prompt could not be planned; `code` goes into the job's `error_code`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct PlanError {
    pub code: ErrorCode,
    pub message: String,
}

/// A number without needless decimals: 100, 12.5, 0.125.
pub(crate) fn fmt(value: f64) -> String {
    let text = format!("{value:.4}");
    let trimmed = text.trim_end_matches('0').trim_end_matches('.');
    if trimmed == "-0" {
        "0".to_owned()
    } else {
        trimmed.to_owned()
    }
}
