//! The HTTP routes, one module per resource.

pub mod design;
pub mod health;
pub mod openapi;
