//! The `designer` binary against a real stack: a private Redis, the gateway on port 0, a real
//! worker and real FreeCAD (the `e2e` crate's helpers start them).

mod browser;
mod commands;
mod keys;
mod limits;
mod listing;
mod run_local;
