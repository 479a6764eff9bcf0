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

/// The connection a worker's jobs and its queue backend share: one multiplexed
/// `ConnectionManager` (`REDIS_POOL_SIZE=0`, the default), or a deadpool-redis pool of that
/// many multiplexed connections, each command taking one (measured in BENCHMARKS.md, "Worker
/// throughput").
#[derive(Clone)]
pub enum SharedConnection {
    Multiplexed(ConnectionManager),
    /// The pool, and the database its connections select.
    Pooled(deadpool_redis::Pool, i64),
}

impl SharedConnection {
    /// `pool_size` 0: the one multiplexed connection `manager`; otherwise a pool.
    pub fn new(
        client: &Client,
        manager: ConnectionManager,
        pool_size: usize,
    ) -> Result<Self, RedisError> {
        if pool_size == 0 {
            return Ok(Self::Multiplexed(manager));
        }
        let config = redis::AsyncConnectionConfig::new()
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_connection_timeout(Some(CONNECTION_TIMEOUT));
        let manager =
            deadpool_redis::Manager::new_with_config(client.get_connection_info().clone(), config)?;
        let pool = deadpool_redis::Pool::builder(manager)
            .max_size(pool_size)
            .runtime(deadpool_redis::Runtime::Tokio1)
            .build()
            .map_err(|e| RedisError::from((redis::ErrorKind::Io, "redis pool", e.to_string())))?;
        Ok(Self::Pooled(
            pool,
            client.get_connection_info().redis_settings().db(),
        ))
    }
}

fn pool_error(error: deadpool_redis::PoolError) -> RedisError {
    match error {
        deadpool_redis::PoolError::Backend(error) => error,
        other => RedisError::from((redis::ErrorKind::Io, "redis pool", other.to_string())),
    }
}

impl redis::aio::ConnectionLike for SharedConnection {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            Self::Multiplexed(conn) => conn.req_packed_command(cmd),
            Self::Pooled(pool, _) => Box::pin(async move {
                let mut conn = pool.get().await.map_err(pool_error)?;
                conn.req_packed_command(cmd).await
            }),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Self::Multiplexed(conn) => conn.req_packed_commands(cmd, offset, count),
            Self::Pooled(pool, _) => Box::pin(async move {
                let mut conn = pool.get().await.map_err(pool_error)?;
                conn.req_packed_commands(cmd, offset, count).await
            }),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Multiplexed(conn) => conn.get_db(),
            Self::Pooled(_, db) => *db,
        }
    }
}
