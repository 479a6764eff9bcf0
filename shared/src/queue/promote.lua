-- Moves up to a bounded number of due tasks from the scheduled set to the active list (after
-- the fair-dispatch fragment; while the queue is paused they are parked in their pending
-- lists at once, so a paused queue fetches no retry either).
-- apalis-redis's own fetch promotes every due task with one `unpack`, which fails past about
-- 8,000 and stops every worker; promoting in chunks first keeps that set small.
-- KEYS: 1 scheduled set, 2 active list, 3 signal list
-- ARGV: 1 chunk size, 2 wake-up channel, 3 the route (JSON; see the fair fragment)
-- Answers how many moved.
local now = tonumber(redis.call('TIME')[1])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
if #due == 0 then
    return 0
end
redis.call('RPUSH', KEYS[2], unpack(due))
redis.call('ZREM', KEYS[1], unpack(due))
local route = cjson.decode(ARGV[3])
if redis.call('EXISTS', route.paused) == 1 then
    park(route)
    return #due
end
redis.call('DEL', KEYS[3])
redis.call('LPUSH', KEYS[3], 1)
redis.call('PUBLISH', ARGV[2], due[1])
return #due
