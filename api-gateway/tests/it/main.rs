//! The integration tests of the gateway with real Redis, real workers and real FreeCAD.

mod agents;
mod artifact_store;
mod auth;
mod backlog;
mod browser;
mod callbacks;
mod deploy;
mod design;
mod errors;
mod events;
mod formats;
mod helpers;
mod hostile;
mod manifests;
mod metrics;
mod page;
mod processes;
mod promtool;
mod ready;
mod reliability;
mod routing;
mod sandbox;
mod schemathesis;
mod throughput;
