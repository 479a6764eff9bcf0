-- The record-refusal fragment, prepended to every script that writes to a job still running.
-- A record that is gone is never brought back as a stub, and an ended job's record never
-- changes again (a cancelled job stays cancelled, whatever a worker still writes).
-- `terminal` is a JSON array of the terminal statuses as stored (JSON texts), passed from
-- `DesignStatus::is_terminal` so the list lives in one place.
-- Answers 0 when the record is gone, -1 when the job has ended, nil when it may be written.
local function refusal(record, terminal)
    if redis.call('EXISTS', record) == 0 then
        return 0
    end
    local status = redis.call('HGET', record, 'status')
    for _, ended in ipairs(cjson.decode(terminal)) do
        if status == ended then
            return -1
        end
    end
    return nil
end
