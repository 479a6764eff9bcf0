//! The gateway's integration tests: its HTTP, SSE and WebSocket surface against real Redis,
//! with no worker (jobs stay pending). Tests that need jobs to run are the whole system's, in
//! the `e2e` crate.

mod budgets;
mod callbacks;
mod errors;
mod events;
mod hostile;
mod page;
mod routing;
mod schemathesis;
