//! Test support for the whole system, and the home of its end-to-end tests (`tests/it`).
//!
//! Everything here starts or talks to the real parts: a private `redis-server`, the gateway
//! on port 0, in-process workers that run real `freecadcmd`. Only LLM vendors are ever faked.
//! The gateway's integration tests use it for Redis and a gateway alone; the worker's for the
//! fixtures they share with the whole-system tests.
//!
//! # Layout
//! - `redis`: [`TestRedis`], a `redis-server` on a free port (never 6379), killed on drop.
//! - `app`: [`spawn_app`] and [`TestApp`]: a gateway and any number of workers on a fresh
//!   Redis, with one helper per route, typed status polling and [`error_code`].
//! - `sse`: [`SseClient`], a minimal reader of a job's Server-Sent Events.
//! - `receiver`: [`callback_receiver`], a local endpoint that keeps the callbacks it gets.
//! - `wait`: [`wait_until`], the one polling loop with a deadline.
//! - `ws`: [`ws_connect`] and [`next_json`], a WebSocket client of `/ws`.
//! - `fixtures`: scripts more than one suite runs, such as [`through_freecad_importer`].

mod app;
mod fixtures;
mod receiver;
mod redis;
mod sse;
mod wait;
mod ws;

pub use app::{
    AppOptions, TestApp, error_code, spawn_app, spawn_app_with, spawn_app_with_worker_env,
    spawn_gateway, spawn_gateway_with,
};
pub use fixtures::through_freecad_importer;
pub use receiver::{Delivery, callback_receiver};
pub use redis::{TestRedis, free_port};
pub use sse::{SseClient, SseEvent, assert_consecutive};
pub use wait::wait_until;
pub use ws::{WsStream, next_json, ws_connect};
