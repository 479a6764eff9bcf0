//! The worker: takes design jobs from the Redis queue and runs the agent pipeline.
//!
//! # Layout
//! - [`startup`]: `Application::build` (Redis, FreeCAD, artifact dir) and the supervised
//!   apalis worker loop.
//! - [`jobs`]: the design job handler: status updates, pipeline stages, final state.
//! - [`offline_planner`]: the built-in offline planner (plain English to a `DesignPlan`).
//! - [`agents`]: planner, generator, validator and orchestrator, each on a model or offline.
//! - [`llm`]: one layer over every model vendor: wire formats, streaming, retries, cost.
//! - [`freecad`]: finding `freecadcmd`; the static check, the sandbox and the warm pool in
//!   which every script runs; measuring and exporting.
//! - [`mesh`]: the result's one tessellation (FreeCAD's STL) and the OBJ, PLY, 3MF and GLB
//!   written from it, and the PNG thumbnail (the `thumbnail` crate's rasteriser).
//! - [`metrics_server`]: the worker's `/health`, `/ready` and `/metrics` listener.

pub mod agents;
pub mod freecad;
pub mod jobs;
pub mod llm;
pub mod mesh;
pub mod metrics_server;
pub mod offline_planner;
pub mod side_tasks;
pub mod startup;
