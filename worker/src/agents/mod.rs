//! The pipeline's agents after the planner.
//!
//! - [`generator`]: turns an offline plan into a FreeCAD script from a template.
//! - [`validator`]: scores measured geometry against the plan's expectations.

pub mod generator;
pub mod validator;
