-- Rampart's GCRA decision: one atomic call per request.
-- KEYS[1] = state key; ARGV[1] = emission interval (µs); ARGV[2] = burst × interval (µs).
-- Returns {admitted (0|1), retry_after (µs), reset (µs)}. Time is read here, so instances
-- with skewed clocks agree; PX lets an idle key expire once its bucket is full again.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local new_tat = tat + interval
local ahead = new_tat - now
if ahead > limit then
  return {0, ahead - limit, tat - now}
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil(ahead / 1000))
return {1, 0, ahead}
