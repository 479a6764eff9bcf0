-- Adds one job attempt's spend to a principal's usage window and claims the thresholds it
-- crossed, atomically: of two workers charging at once, only one claims a threshold.
-- KEYS: 1 the window's usage hash
-- ARGV: 1 usd to add, 2 FreeCAD seconds to add, 3 expiry (Unix seconds),
--       4 usd limit, 5 FreeCAD seconds limit ('' = no limit), 6.. thresholds in percent
local usd = redis.call('HINCRBYFLOAT', KEYS[1], 'usd', ARGV[1])
local seconds = redis.call('HINCRBYFLOAT', KEYS[1], 'freecad_seconds', ARGV[2])
redis.call('EXPIREAT', KEYS[1], ARGV[3])

-- The largest share of a limit used, in percent (as Budget::percent_used computes it).
local function share(limit, used)
    if limit == '' then
        return 0
    end
    limit = tonumber(limit)
    used = tonumber(used)
    if limit > 0 then
        return used * 100 / limit
    end
    return 100
end
local percent = math.max(share(ARGV[4], usd), share(ARGV[5], seconds))

local crossed = {}
for i = 6, #ARGV do
    if percent >= tonumber(ARGV[i]) and
        redis.call('HSETNX', KEYS[1], 'alerted:' .. ARGV[i], '1') == 1 then
        table.insert(crossed, ARGV[i])
    end
end
return {usd, seconds, crossed}
