//! The integration tests of the gateway with real Redis, real workers and real FreeCAD.

mod agents;
mod auth;
mod backlog;
mod deploy;
mod design;
mod errors;
mod formats;
mod events;
mod helpers;
mod metrics;
mod page;
mod processes;
mod promtool;
mod ready;
mod reliability;
mod sandbox;
