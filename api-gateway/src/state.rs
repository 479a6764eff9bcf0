//! The state every handler shares.

use std::sync::Arc;

use redis::aio::ConnectionManager;
use shared::job_store::JobStore;
use shared::settings::Settings;

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    /// Multiplexed and self-reconnecting: one connection serves every request.
    pub conn: ConnectionManager,
    pub store: JobStore,
}
