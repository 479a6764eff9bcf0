-- The task-push fragment, prepended (after the fair-dispatch fragment) to every script that
-- queues a task. It stores a task in apalis-redis 1.0's layout exactly as apalis-redis's
-- `batch_push.lua` does for a task with no idempotency key, with its owner and priority as
-- extra metadata (apalis-redis keeps a task's extra metadata fields; `park` reads them).
-- Every script that includes it declares the same first keys and arguments:
-- KEYS: 1 task data hash, 2 active list, 3 signal list, 4 the task's metadata hash
-- ARGV: 1 task id, 2 task payload, 3 max attempts, 4 the route (JSON; see the fair fragment)
local route = cjson.decode(ARGV[4])

-- The payload and fresh metadata, without queueing the task anywhere.
local function store_task()
    redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
    redis.call('HSET', KEYS[4], 'attempts', 0, 'max_attempts', ARGV[3], 'status', 'Pending',
        'idempotency_key', '', 'fair_principal', route.principal, 'fair_priority',
        route.priority)
end

-- Stores the task, appends it to its principal's pending list and dispatches: on an idle
-- queue the task reaches the active list (and the workers are woken) in this same step.
local function push_task()
    store_task()
    redis.call('RPUSH', pending_key(route, route.priority, route.principal), ARGV[1])
    mark_ready(route, route.principal)
    dispatch(route)
end
