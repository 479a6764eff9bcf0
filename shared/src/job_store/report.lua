-- One stage change of a running job in one round trip (after the record-refusal fragment):
-- writes the patch's fields (unless the record is gone or the job has ended), then numbers,
-- stores for replay and publishes each event (as `events::PUBLISH_SCRIPT` does for one).
-- With no fields, the events go out whenever the record exists.
-- KEYS: 1 job record (holds the seq counter), 2 replay stream,
--       3 the principal's jobs not yet ended when this write ends the job (else the record
--       key again, untouched)
-- ARGV: 1 '1' when this write ends the job, 2 request id, 3 channel, 4 TTL (s),
--       5 replay capacity, 6 count of field/value arguments (2n), 7 the terminal statuses
--       (a JSON array of their stored JSON texts), 8 the fair-dispatch route (JSON) when this
--       write ends the job, else '', 9..8+2n field/value pairs, then one event JSON tail
--       (after its seq) per event
-- A write that ends a job also dispatches (after the fair-dispatch fragment): a worker's
-- slot is about to free up, and the active list is refilled in the same round trip.
-- Answers {outcome, created_at}: 1 written, 0 no record, -1 the job had ended; and the
-- record's `created_at` when this write ended the job, else false.
local fields = tonumber(ARGV[6])
if fields == 0 and redis.call('EXISTS', KEYS[1]) == 0 then
    return {0, false}
end
local created = false
if fields > 0 then
    local refused = refusal(KEYS[1], ARGV[7])
    if refused then
        return {refused, false}
    end
    if ARGV[1] == '1' then
        redis.call('ZREM', KEYS[3], ARGV[2])
        created = redis.call('HGET', KEYS[1], 'created_at')
    end
    redis.call('HSET', KEYS[1], unpack(ARGV, 9, 8 + fields))
end
local head = '{"request_id":"' .. ARGV[2] .. '","seq":'
local first = 9 + fields
for i = first, #ARGV do
    local seq = redis.call('HINCRBY', KEYS[1], 'event_seq', 1)
    local event = head .. seq .. ARGV[i]
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '0-' .. seq, 'e', event)
    redis.call('PUBLISH', ARGV[3], event)
end
if #ARGV >= first then
    redis.call('EXPIRE', KEYS[2], ARGV[4])
end
if fields > 0 and ARGV[8] ~= '' then
    dispatch(cjson.decode(ARGV[8]))
end
return {1, created}
