//! The HTTP routes, one module per resource.

pub mod design;
pub mod events;
pub mod health;
pub mod openapi;
