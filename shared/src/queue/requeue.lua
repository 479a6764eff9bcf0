-- Runs a job again under a new task: checks the record's status, rewrites its run fields and
-- queues the task, all at once, so two refines of one job cannot both win and a job is never
-- marked refining without being queued (after the task-push fragment).
-- KEYS: 1-4 the task (see the fragment), 5 job record, 6 the principal's jobs not yet ended
-- ARGV: 1-4 the task, 5 record TTL (s), 6 request id, 7 the status (JSON) the job must be in,
--       8.. record field/value pairs
-- Answers 1 queued, 0 no record, -1 the job is in another status.
if redis.call('EXISTS', KEYS[5]) == 0 then
    return 0
end
if redis.call('HGET', KEYS[5], 'status') ~= ARGV[7] then
    return -1
end
local now = tonumber(redis.call('TIME')[1])
redis.call('ZADD', KEYS[6], now, ARGV[6])
redis.call('EXPIRE', KEYS[6], ARGV[5])
redis.call('HSET', KEYS[5], unpack(ARGV, 8))
redis.call('EXPIRE', KEYS[5], ARGV[5])
push_task()
return 1
