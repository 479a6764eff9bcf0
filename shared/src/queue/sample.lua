-- Acquires or renews the sampler lock and, for its holder only, counts the queue in the same
-- atomic step.
-- The one key built here: each worker's in-flight set is `{ARGV[3]}:{worker name}`, named
-- after the members of apalis-redis's workers set, so it cannot be declared before the script
-- reads that set (apalis-redis's own scripts do the same; fine on one Redis, not on a cluster).
-- The done, failed and dead collections are counted whatever their type, because
-- apalis-redis 1.0 writes done and dead as sets while its own stats script reads them as
-- sorted sets.
-- KEYS: 1 lock, 2 active list, 3 scheduled zset, 4 workers zset, 5 done, 6 failed, 7 dead,
--       8 our dead jobs (retries exhausted; apalis-redis never sees those die),
--       9 the count of done tasks forgotten (deleted to bound memory),
--       10 the principals with tasks in the fair pending lists
-- ARGV: 1 owner token, 2 lock ttl (ms), 3 in-flight key prefix, 4 alive since (unix s),
--       5 the pending lists' prefix (one list per priority and principal of KEYS[10], built
--       here for the same reason as the in-flight sets)
-- Answers false when another owner holds the lock, else {pending, running, scheduled, done,
-- failed, dead, workers alive}.
local owner = redis.call('GET', KEYS[1])
if owner == false then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
elseif owner == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
else
    return false
end
local function size(key)
    local kind = redis.call('TYPE', key)['ok']
    if kind == 'set' then return redis.call('SCARD', key) end
    if kind == 'zset' then return redis.call('ZCARD', key) end
    if kind == 'list' then return redis.call('LLEN', key) end
    if kind == 'hash' then return redis.call('HLEN', key) end
    return 0
end
local running = 0
for _, worker in ipairs(redis.call('ZRANGE', KEYS[4], 0, -1)) do
    running = running + redis.call('SCARD', ARGV[3] .. ':' .. worker)
end
local alive = redis.call('ZCOUNT', KEYS[4], ARGV[4], '+inf')
-- Pending: the active list and every fair pending list (not dispatched yet).
local pending = redis.call('LLEN', KEYS[2])
for _, principal in ipairs(redis.call('SMEMBERS', KEYS[10])) do
    for _, priority in ipairs({'high', 'normal', 'low'}) do
        pending = pending + redis.call('LLEN', ARGV[5] .. priority .. ':' .. principal)
    end
end
return { pending, running, redis.call('ZCARD', KEYS[3]),
         size(KEYS[5]) + (tonumber(redis.call('GET', KEYS[9])) or 0), size(KEYS[6]),
         size(KEYS[7]) + size(KEYS[8]), alive }
