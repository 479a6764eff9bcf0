-- Stores a user's feedback on a record that still exists (never bringing an expired one back).
-- KEYS: 1 job record; ARGV: 1 the feedback (JSON)
if redis.call('EXISTS', KEYS[1]) == 0 then
    return 0
end
redis.call('HSET', KEYS[1], 'user_feedback', ARGV[1])
return 1
