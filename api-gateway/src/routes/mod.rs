//! The HTTP routes, one module per resource.

pub mod admin;
pub mod auth;
pub mod design;
pub mod designs;
pub mod download;
pub mod events;
pub mod health;
pub mod metrics;
pub mod openapi;
pub mod page;
