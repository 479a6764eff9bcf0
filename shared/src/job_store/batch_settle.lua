-- Runs right after a batch's items were created, in the same pipeline: an item whose record
-- does not exist was refused (its principal's active cap), so it leaves the item list and
-- counts as ended. The batch is then settled: from now on the item that ends it claims its
-- callback (see batch_item_ended.lua). Returns 1 when nothing is left to wait for (no item
-- was created); then no callback is sent: the 202 answer said so already.
-- KEYS: 1 batch hash, 2 ended-items set, 3 item list, 4.. the items' job records
-- ARGV: 1 TTL (s), 2.. the items' request ids, in the order of KEYS 4..
for i = 4, #KEYS do
    local id = ARGV[i - 2]
    if redis.call('EXISTS', KEYS[i]) == 0 then
        redis.call('LREM', KEYS[3], 1, id)
        if redis.call('SADD', KEYS[2], id) == 1 then
            redis.call('HINCRBY', KEYS[1], 'remaining', -1)
        end
    end
end
redis.call('HSET', KEYS[1], 'settled', '1')
if redis.call('EXISTS', KEYS[2]) == 1 then
    redis.call('EXPIRE', KEYS[2], ARGV[1])
end
if tonumber(redis.call('HGET', KEYS[1], 'remaining')) <= 0 then
    redis.call('HSET', KEYS[1], 'notified', '1')
    return 1
end
return 0
