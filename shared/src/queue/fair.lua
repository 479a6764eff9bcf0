-- The fair-dispatch fragment, prepended to every script that queues or dispatches a task (Lua
-- has no include). New tasks wait in per-principal, per-priority pending lists; `dispatch`
-- moves them into apalis-redis's active list only while that list is shorter than a small
-- depth, taking principals in turn from a ring (weighted: a principal of weight w gives w
-- tasks per turn) and, within a principal, high before normal before low, FIFO.
-- The pending lists are found through the ring, so they cannot be declared before the script
-- reads it (as apalis-redis's own scripts do with in-flight sets): fine on one Redis, not on a
-- cluster.
-- `route` is one JSON argument (`shared::queue::Route`): the fair keys (ring, ready, turns,
-- paused, pending prefix, meta prefix), the active and signal lists, the wake-up channel,
-- depth, weights and, for a task being queued, its principal and priority.

local PRIORITIES = {'high', 'normal', 'low'}

local function pending_key(route, priority, principal)
    return route.pending .. priority .. ':' .. principal
end

-- Puts a principal with pending work into the ring, once.
local function mark_ready(route, principal)
    if redis.call('SADD', route.ready, principal) == 1 then
        redis.call('RPUSH', route.ring, principal)
    end
end

local function has_pending(route, principal)
    for _, priority in ipairs(PRIORITIES) do
        if redis.call('LLEN', pending_key(route, priority, principal)) > 0 then
            return true
        end
    end
    return false
end

local function next_task(route, principal)
    for _, priority in ipairs(PRIORITIES) do
        local id = redis.call('LPOP', pending_key(route, priority, principal))
        if id then
            return id
        end
    end
    return nil
end

local function weight(route, principal)
    local w = tonumber(route.weights[principal]) or 1
    if w < 1 then
        return 1
    end
    return w
end

-- Ends the ring head's turn: it goes to the back, or leaves the ring when it has no work.
local function end_turn(route, principal)
    redis.call('HDEL', route.turns, principal)
    if has_pending(route, principal) then
        redis.call('LMOVE', route.ring, route.ring, 'LEFT', 'RIGHT')
    else
        redis.call('LPOP', route.ring)
        redis.call('SREM', route.ready, principal)
    end
end

local function wake_workers(route, first_id)
    redis.call('PUBLISH', route.channel, first_id)
    redis.call('DEL', route.signal)
    redis.call('LPUSH', route.signal, 1)
end

-- Fills the active list up to the depth, fairly; answers how many tasks moved. Nothing moves
-- while the queue is paused.
local function dispatch(route)
    if redis.call('EXISTS', route.paused) == 1 then
        return 0
    end
    local room = tonumber(route.depth) - redis.call('LLEN', route.active)
    local moved = {}
    while room > 0 do
        local principal = redis.call('LINDEX', route.ring, 0)
        if not principal then
            break
        end
        local id = next_task(route, principal)
        if id then
            moved[#moved + 1] = id
            room = room - 1
            if redis.call('HINCRBY', route.turns, principal, 1) >= weight(route, principal) then
                end_turn(route, principal)
            end
        else
            end_turn(route, principal)
        end
    end
    if #moved > 0 then
        redis.call('RPUSH', route.active, unpack(moved))
        wake_workers(route, moved[1])
    end
    return #moved
end

-- Moves every task of the active list back to the front of its pending list, in order, so
-- nothing is fetchable; answers how many moved. A task queued before fair dispatch existed
-- has no owner in its metadata: it goes to the empty principal's normal list.
local function park(route)
    local ids = redis.call('LRANGE', route.active, 0, -1)
    for i = #ids, 1, -1 do
        local owner = redis.call('HMGET', route.meta .. ':' .. ids[i], 'fair_principal',
            'fair_priority')
        local principal = owner[1] or ''
        local priority = owner[2] or 'normal'
        redis.call('LPUSH', pending_key(route, priority, principal), ids[i])
        mark_ready(route, principal)
    end
    redis.call('DEL', route.active)
    return #ids
end
