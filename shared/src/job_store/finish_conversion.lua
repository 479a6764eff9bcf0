-- Ends a conversion: its state, and the artifacts with the new formats, written only while
-- the design is still in the given status (a refine meanwhile makes the conversion moot).
-- KEYS: 1 job record; ARGV: 1 the status (JSON) the job must be in, 2 the conversion (JSON),
--       3 the artifacts (JSON), or '' to leave them
-- Answers 1 written, 0 no record, -1 the job is in another status.
if redis.call('EXISTS', KEYS[1]) == 0 then
    return 0
end
if redis.call('HGET', KEYS[1], 'status') ~= ARGV[1] then
    return -1
end
redis.call('HSET', KEYS[1], 'conversion', ARGV[2])
if ARGV[3] ~= '' then
    redis.call('HSET', KEYS[1], 'artifacts', ARGV[3])
end
return 1
