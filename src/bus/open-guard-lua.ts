/**
 * The open guard's one atomic step (see open-guard.ts).
 *
 * KEYS: 1 unit lockdown, 2 fleet lockdown, 3 unit explained, 4 unit unexplained, 5 fleet explained, 6 fleet
 * unexplained, 7 unit burst, 8 fleet burst (zsets of command ids by time; a burst set holds the unexplained opens
 * since its lockdown was last lifted: lifting empties it, the rate limits still count them).
 * ARGV: now, window, command id, explained (1/0), admin (1/0), unit rate, fleet rate, unit burst, fleet burst.
 * Answers {outcome, scope, n}: `locked_down`; `rate_limited` (n = ms until a place frees up); `trip` (refused, and
 * this open trips a lockdown of scope: n unexplained opens in the window with it); `ok` (admitted and counted; scope
 * set when an admin's open trips a lockdown).
 *
 * ADMIT_FN defines it as a Lua function `lg_admit(KEYS, ARGV)`, so that the command's own script (command-lua.ts) runs
 * the same guard in the same atomic step as the command's record and its `sent` evidence entry; ADMIT runs it alone.
 */
export const ADMIT_FN = `
local function lg_admit(KEYS, ARGV)
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 3, 8 do redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window) end
local admin = ARGV[5] == '1'
local unitLocked = redis.call('EXISTS', KEYS[1]) == 1
local fleetLocked = redis.call('EXISTS', KEYS[2]) == 1
if not admin then
  if unitLocked then return {'locked_down', 'unit', 0} end
  if fleetLocked then return {'locked_down', 'fleet', 0} end
end
local function wait(a, b)
  local t = nil
  for _, k in ipairs({a, b}) do
    local o = redis.call('ZRANGE', k, 0, 0, 'WITHSCORES')
    if o[2] and (t == nil or tonumber(o[2]) < t) then t = tonumber(o[2]) end
  end
  if t == nil then return 1000 end
  return math.max(1, t + window - now)
end
if redis.call('ZCARD', KEYS[3]) + redis.call('ZCARD', KEYS[4]) >= tonumber(ARGV[6]) then return {'rate_limited', 'unit', wait(KEYS[3], KEYS[4])} end
if redis.call('ZCARD', KEYS[5]) + redis.call('ZCARD', KEYS[6]) >= tonumber(ARGV[7]) then return {'rate_limited', 'fleet', wait(KEYS[5], KEYS[6])} end
local explained = ARGV[4] == '1'
local trip, n = '', 0
if not explained and not fleetLocked then
  local u = redis.call('ZCARD', KEYS[7]) + 1
  local f = redis.call('ZCARD', KEYS[8]) + 1
  if not unitLocked and u > tonumber(ARGV[8]) then trip, n = 'unit', u
  elseif f > tonumber(ARGV[9]) then trip, n = 'fleet', f end
end
if trip ~= '' and not admin then return {'trip', trip, n} end
local sets = {3, 5}
if not explained then sets = {4, 6, 7, 8} end
for _, i in ipairs(sets) do
  redis.call('ZADD', KEYS[i], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[i], window)
end
return {'ok', trip, n}
end
`;

export const ADMIT = `${ADMIT_FN}
return lg_admit(KEYS, ARGV)
`;

export const ADMIT_KEYS = 8;
