-- The task-push fragment, prepended to every script that queues a task (Lua has no include).
-- It stores a task in apalis-redis 1.0's layout exactly as apalis-redis's `batch_push.lua` does
-- for a task with no extra metadata and no idempotency key.
-- Every script that includes it declares the same first keys and arguments:
-- KEYS: 1 task data hash, 2 active list, 3 signal list, 4 the task's metadata hash
-- ARGV: 1 task id, 2 task payload, 3 max attempts, 4 wake-up channel

-- The payload and fresh metadata, without queueing the task anywhere.
local function store_task()
    redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
    redis.call('HSET', KEYS[4], 'attempts', 0, 'max_attempts', ARGV[3], 'status', 'Pending',
        'idempotency_key', '')
end

-- Stores the task, appends it to the active list and wakes the workers up.
local function push_task()
    store_task()
    redis.call('RPUSH', KEYS[2], ARGV[1])
    redis.call('PUBLISH', ARGV[4], ARGV[1])
    redis.call('DEL', KEYS[3])
    redis.call('LPUSH', KEYS[3], 1)
end
