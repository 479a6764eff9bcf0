//! The integration tests of the gateway with real Redis, real workers and real FreeCAD.

mod backlog;
mod design;
mod errors;
mod helpers;
mod ready;
mod sandbox;
