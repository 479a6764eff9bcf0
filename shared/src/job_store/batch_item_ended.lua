-- A job of a batch has ended: counted out once (the ended set makes a repeat harmless). The
-- call that brings a settled batch to 0 claims its one callback: returns 1.
-- KEYS: 1 batch hash, 2 ended-items set; ARGV: 1 the request id, 2 TTL (s)
if redis.call('EXISTS', KEYS[1]) == 0 then
    return 0
end
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then
    return 0
end
redis.call('EXPIRE', KEYS[2], ARGV[2])
local left = redis.call('HINCRBY', KEYS[1], 'remaining', -1)
if left <= 0 and redis.call('HGET', KEYS[1], 'settled') == '1'
    and redis.call('HSETNX', KEYS[1], 'notified', '1') == 1 then
    return 1
end
return 0
