//! The rate limit every gateway replica shares: a sliding-window log per bucket in Redis,
//! checked and updated by one atomic Lua script on Redis's own clock.

use std::sync::LazyLock;
use std::time::Duration;

use redis::{Script, aio::ConnectionLike};

use crate::keys::Keys;

/// Drops entries older than the window, then admits the request if the log has room.
/// Returns {admitted (0/1), requests in the window after this one, ms until the oldest
/// entry leaves the window}.
static SLIDING_WINDOW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
-- KEYS: 1 the bucket's log; ARGV: 1 window (ms), 2 limit, 3 unique member
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
local admitted = 0
if count < limit then
    redis.call('ZADD', KEYS[1], now, ARGV[3])
    count = count + 1
    admitted = 1
end
redis.call('PEXPIRE', KEYS[1], window)
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local reset = window
if oldest[2] then
    reset = tonumber(oldest[2]) + window - now
end
return {admitted, count, reset}
",
    )
});

/// The verdict on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub admitted: bool,
    pub limit: u32,
    /// Requests left in the window after this one.
    pub remaining: u32,
    /// Until the oldest request in the window leaves it, so a slot frees (rounded up).
    pub reset: Duration,
    pub window: Duration,
}

impl Decision {
    /// Whole seconds until a slot frees, at least 1 (for `Retry-After`).
    pub fn retry_after_secs(&self) -> u64 {
        self.reset.as_millis().div_ceil(1000).max(1) as u64
    }

    /// `RateLimit-Policy` (IETF draft-07 form).
    pub fn policy_header(&self) -> String {
        format!("{};w={}", self.limit, self.window.as_secs())
    }

    /// `RateLimit` (IETF draft-07 form).
    pub fn limit_header(&self) -> String {
        format!(
            "limit={}, remaining={}, reset={}",
            self.limit,
            self.remaining,
            self.reset.as_millis().div_ceil(1000)
        )
    }
}

#[derive(Debug, Clone)]
pub struct RateLimiter {
    keys: Keys,
    limit: u32,
    window: Duration,
}

impl RateLimiter {
    pub fn new(keys: Keys, limit: u32, window: Duration) -> Self {
        Self {
            keys,
            limit,
            window,
        }
    }

    /// Counts one request of `bucket` and says whether it may pass.
    pub async fn check<C: ConnectionLike>(
        &self,
        conn: &mut C,
        bucket: &str,
        unique: &str,
    ) -> Result<Decision, redis::RedisError> {
        let (admitted, count, reset_ms): (u8, u32, i64) = SLIDING_WINDOW
            .key(self.keys.rate_limit(bucket))
            .arg(self.window.as_millis() as u64)
            .arg(self.limit)
            .arg(unique)
            .invoke_async(conn)
            .await?;
        Ok(Decision {
            admitted: admitted == 1,
            limit: self.limit,
            remaining: self.limit.saturating_sub(count),
            reset: Duration::from_millis(reset_ms.max(0) as u64),
            window: self.window,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_follow_the_draft() {
        let decision = Decision {
            admitted: false,
            limit: 100,
            remaining: 0,
            reset: Duration::from_millis(12_300),
            window: Duration::from_secs(60),
        };
        assert_eq!(decision.retry_after_secs(), 13);
        assert_eq!(decision.policy_header(), "100;w=60");
        assert_eq!(decision.limit_header(), "limit=100, remaining=0, reset=13");
        let soon = Decision {
            reset: Duration::from_millis(1),
            ..decision
        };
        assert_eq!(soon.retry_after_secs(), 1);
    }
}
