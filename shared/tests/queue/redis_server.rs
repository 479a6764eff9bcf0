//! The private `redis-server` of the `e2e` crate, and a one-line way to query it.

pub use e2e::TestRedis;

/// Runs one command on a synchronous connection.
pub fn query<T: redis::FromRedisValue>(conn: &mut redis::Connection, args: &[&str]) -> T {
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query(conn)
        .unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}
