//! The integration tests of the gateway with real Redis, real workers and real FreeCAD.

mod auth;
mod backlog;
mod deploy;
mod design;
mod errors;
mod events;
mod helpers;
mod metrics;
mod promtool;
mod ready;
mod sandbox;
