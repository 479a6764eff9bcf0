-- Queues a conversion task for a design and records it as queued, unless one is queued
-- already: two exports at once queue one conversion (after the task-push fragment).
-- KEYS: 1-4 the task (see the fragment), 5 job record
-- ARGV: 1-4 the task, 5 the status (JSON) the job must be in, 6 the conversion (JSON)
-- Answers 1 queued, 2 one is queued already, 0 no record, -1 the job is in another status.
if redis.call('EXISTS', KEYS[5]) == 0 then
    return 0
end
if redis.call('HGET', KEYS[5], 'status') ~= ARGV[5] then
    return -1
end
local current = redis.call('HGET', KEYS[5], 'conversion')
if current and current ~= 'null' and cjson.decode(current).state == 'queued' then
    return 2
end
redis.call('HSET', KEYS[5], 'conversion', ARGV[6])
push_task()
return 1
