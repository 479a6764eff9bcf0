//! The `designer` binary against a real stack: a private Redis, the gateway on port 0, a real
//! worker and real FreeCAD (the gateway's own test helpers start them).

// The gateway's helpers, shared as they are rather than copied; not every one is used here.
#[allow(dead_code)]
#[path = "../../../api-gateway/tests/it/helpers.rs"]
mod helpers;

mod browser;
mod commands;
mod keys;
mod limits;
mod listing;
mod run_local;
