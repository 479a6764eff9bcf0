//! The whole system's tests: real Redis, the real gateway, real workers running real FreeCAD
//! (in-process, or as the built binaries in `processes`), and the deployment files checked
//! against what the binaries read and serve. Only LLM vendors are faked.

mod agents;
mod artifact_store;
mod auth;
mod backlog;
mod batches;
mod browser;
mod budgets;
mod deploy;
mod design;
mod events;
mod fairness;
mod formats;
mod manifests;
mod metrics;
mod processes;
mod promtool;
mod ready;
mod reliability;
mod result_cache;
mod sandbox;
mod throughput;
