//! The integration tests of the gateway with real Redis, real workers and real FreeCAD.

mod agents;
mod auth;
mod backlog;
mod browser;
mod deploy;
mod design;
mod errors;
mod events;
mod formats;
mod helpers;
mod metrics;
mod page;
mod processes;
mod promtool;
mod ready;
mod reliability;
mod sandbox;
