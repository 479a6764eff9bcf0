-- Forgets finished tasks chosen by the caller: apalis-redis 1.0 keeps every done task's
-- payload and metadata forever; the job record (which expires) is what clients read.
-- A task is forgotten only by the call that removes it from the done set, so workers racing
-- on the same ids count each once.
-- KEYS: 1 done set, 2 task data hash, 3 forgotten counter, 4.. the tasks' metadata hashes
-- ARGV: the task ids, in the order of their metadata hashes
-- Answers how many were forgotten.
local forgotten = 0
for i, id in ipairs(ARGV) do
    if redis.call('SREM', KEYS[1], id) == 1 then
        redis.call('HDEL', KEYS[2], id)
        redis.call('DEL', KEYS[3 + i])
        forgotten = forgotten + 1
    end
end
if forgotten > 0 then
    redis.call('INCRBY', KEYS[3], forgotten)
end
return forgotten
