-- Creates a job: its record and its task, atomically (after the task-push fragment).
-- KEYS: 1-4 the task (see the fragment), 5 job record,
--       6 the principal's jobs not yet ended (sorted by submission time),
--       7 the idempotency entry (the record key again when there is none),
--       8 the principal's designs index (every job, scored by submission time in ms)
-- ARGV: 1-4 the task, 5 record TTL (s), 6 cap of jobs not yet ended (0: none), 7 request id,
--       8 '1' with an idempotency key, 9 the request's fingerprint, 10 the entry to store,
--       11 the entry's TTL (s), 12.. record field/value pairs
-- Answers {1, ''} created, {2, entry} an earlier identical request, {3, ''} the key reused
-- with another request, {-1, ''} over the cap, {0, ''} the record exists already.
if ARGV[8] == '1' then
    local earlier = redis.call('GET', KEYS[7])
    if earlier then
        if cjson.decode(earlier).fingerprint == ARGV[9] then
            return {2, earlier}
        end
        return {3, ''}
    end
end
if redis.call('EXISTS', KEYS[5]) == 1 then
    return {0, ''}
end
local now = tonumber(redis.call('TIME')[1])
-- Entries older than the TTL belong to records that have expired.
redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now - tonumber(ARGV[5]))
local cap = tonumber(ARGV[6])
if cap > 0 and redis.call('ZCARD', KEYS[6]) >= cap then
    return {-1, ''}
end
if ARGV[8] == '1' then
    redis.call('SET', KEYS[7], ARGV[10], 'EX', ARGV[11])
end
redis.call('ZADD', KEYS[6], now, ARGV[7])
redis.call('EXPIRE', KEYS[6], ARGV[5])
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[8], '-inf', now_ms - tonumber(ARGV[5]) * 1000)
redis.call('ZADD', KEYS[8], now_ms, ARGV[7])
redis.call('EXPIRE', KEYS[8], ARGV[5])
redis.call('HSET', KEYS[5], unpack(ARGV, 12))
redis.call('EXPIRE', KEYS[5], ARGV[5])
push_task()
return {1, ''}
