//! The api-gateway: validates and enqueues design jobs, serves their state and files.
//!
//! # Layout
//! - [`startup`]: `Application::build` (binds, connects Redis), the router and its layers.
//! - [`state`]: `AppState`, shared by every handler.
//! - [`error`]: the one `Error` type and the JSON error body.
//! - [`extract`]: the JSON extractor whose rejections use that body.
//! - [`routes`]: one module per resource (`design`, `health`, `openapi`).

pub mod error;
pub mod extract;
pub mod routes;
pub mod startup;
pub mod state;
