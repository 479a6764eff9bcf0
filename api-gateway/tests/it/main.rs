//! The integration tests of the gateway with real Redis, real workers and real FreeCAD.

mod agents;
mod auth;
mod backlog;
mod design;
mod errors;
mod events;
mod helpers;
mod processes;
mod ready;
mod reliability;
mod sandbox;
