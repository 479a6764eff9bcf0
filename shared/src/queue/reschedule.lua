-- Queues a job again for a later run: a new task in the scheduled set, and the record pointed
-- at it, unless the record is gone or the job has ended (after the task-push fragment and the
-- record-refusal fragment; the active and signal lists are declared but not touched).
-- KEYS: 1-4 the task (see the fragment), 5 job record, 6 scheduled set
-- ARGV: 1-4 the task, 5 run at (unix s), 6 retries so far,
--       7 the terminal statuses (a JSON array of their stored JSON texts),
--       8.. record field/value pairs
-- Answers 1 scheduled, 0 no record, -1 the job has ended.
local refused = refusal(KEYS[5], ARGV[7])
if refused then
    return refused
end
redis.call('HSET', KEYS[5], 'task_id', cjson.encode(ARGV[1]), 'retries', ARGV[6],
    unpack(ARGV, 8))
store_task()
redis.call('ZADD', KEYS[6], ARGV[5], ARGV[1])
return 1
