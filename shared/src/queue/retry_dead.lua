-- Runs a dead job again from the start under a new task: checks that it is dead, rewrites its
-- run fields, takes it out of the dead set and queues the task through its principal's
-- pending list, all at once, so two retries of one job cannot both queue it (after the
-- fair-dispatch and task-push fragments).
-- KEYS: 1-4 the task (see the fragment), 5 job record, 6 the principal's jobs not yet ended,
--       7 the dead-jobs set
-- ARGV: 1-4 the task, 5 record TTL (s), 6 request id, 7.. record field/value pairs
-- Answers 1 queued, 0 no record, -1 the job is not dead.
if redis.call('EXISTS', KEYS[5]) == 0 then
    return 0
end
if redis.call('ZREM', KEYS[7], ARGV[6]) == 0 then
    return -1
end
local now = tonumber(redis.call('TIME')[1])
redis.call('ZADD', KEYS[6], now, ARGV[6])
redis.call('EXPIRE', KEYS[6], ARGV[5])
redis.call('HSET', KEYS[5], unpack(ARGV, 7))
redis.call('EXPIRE', KEYS[5], ARGV[5])
push_task()
return 1
