//! Opening Redis connections with timeouts that suit a job queue.
//!
//! redis-rs (and so `apalis_redis::connect`) answers a command with a timeout error after
//! 500 ms; a slow Lua script or a busy server then kills apalis-redis's worker stream
//! (apalis-redis #76). Our connections wait longer and reconnect by themselves.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, RedisError};
use secrecy::{ExposeSecret, SecretString};

/// How long one command may take before it fails.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long opening a connection may take.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);

pub fn client(url: &SecretString) -> Result<Client, RedisError> {
    Client::open(url.expose_secret())
}

/// A multiplexed, self-reconnecting connection; clone it freely.
pub async fn connection_manager(client: &Client) -> Result<ConnectionManager, RedisError> {
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_connection_timeout(Some(CONNECTION_TIMEOUT))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_secs(2));
    client.get_connection_manager_with_config(config).await
}
