import { EVIDENCE_LUA } from '../evidence/lua.js';

/**
 * Lua run inside Redis so that dedupe, state change, the engine's input and the evidence log are one atomic step: a
 * crash can never leave an event applied but not logged, or logged twice.
 *
 * KEYS: 1 unit hash, 2 compartment hash, 3 engine input stream, 4 dedupe list
 * ARGV: 1 dedupe mode (none | seq | window | window-reset), 2 dedupe value, 3 payload JSON, 4 now (ms),
 *       5 evidence append spec (see evidence/lua.ts), 6 '1' to put the event on the engine's input,
 *       7 and 8 (seq mode, optional): the largest jump ahead of the watermark, and how much more per second since
 *       the watermark last moved (a unit replaying a long backlog), beyond which a seq is suspect
 */
const DEDUPE = `
-- The unit's and the compartments' fields this step writes, gathered so that each hash is written by one HSET
-- (dedupe_flush, which every path that gets past the dedupe calls before it returns).
local uset, cset = {}, {}
local mode = ARGV[1]
if mode == 'seq' then
  local wm = redis.call('HMGET', KEYS[1], 'lastSeq', 'lastSeqAt')
  local lastRaw = wm[1]
  local last = tonumber(lastRaw or '-1')
  local seq = tonumber(ARGV[2])
  if seq <= last then return {'dup'} end
  -- An impossible jump ahead of the watermark (ARGV 7: allowed jump, ARGV 8: plus this many per second since the
  -- watermark last moved) is suspect: not applied, and the watermark stays where it is.
  local jump = tonumber(ARGV[7] or '')
  if jump and lastRaw then
    local now = tonumber(ARGV[4])
    local movedAt = tonumber(wm[2] or ARGV[4])
    local allowed = jump + math.max(0, now - movedAt) / 1000 * tonumber(ARGV[8] or '0')
    if seq - last > allowed then return {'suspect', lastRaw} end
  end
  table.insert(uset, 'lastSeq'); table.insert(uset, ARGV[2])
  table.insert(uset, 'lastSeqAt'); table.insert(uset, ARGV[4])
  -- The seq of the last event applied to each compartment: a reading older than that never undoes it (RECONCILE).
  local e = cjson.decode(ARGV[3])
  if (e.kind == 'door-opened' or e.kind == 'door-closed' or e.kind == 'fault') and type(e.compartment) == 'number' then
    table.insert(cset, tostring(e.compartment) .. ':seq'); table.insert(cset, ARGV[2])
  end
elseif mode == 'window' or mode == 'window-reset' then
  if mode == 'window-reset' then
    redis.call('DEL', KEYS[4])
  elseif redis.call('LPOS', KEYS[4], ARGV[2]) then
    return {'dup'}
  end
  redis.call('LPUSH', KEYS[4], ARGV[2])
  redis.call('LTRIM', KEYS[4], 0, 63)
end
table.insert(uset, 'lastSeen'); table.insert(uset, ARGV[4])
local function dedupe_flush()
  redis.call('HSET', KEYS[1], unpack(uset))
  if #cset > 0 then redis.call('HSET', KEYS[2], unpack(cset)) end
end
`;

/**
 * Apply one normalised event (UnitEvent JSON). Returns {'head', n, h} (the evidence head moved: nothing written) |
 * {'dup'} | {'suspect', lastSeq} | {'same'} | {'ok', input stream id or ''}.
 */
export const APPLY_EVENT = `${EVIDENCE_LUA}
local evspec = cjson.decode(ARGV[5])
local moved = ev_check(evspec)
if moved then return moved end
${DEDUPE}
local function put(t, ...) for _, x in ipairs({...}) do table.insert(t, x) end end
local function same() dedupe_flush() return {'same'} end
local ev = cjson.decode(ARGV[3])
local k = ev.kind
local c = ev.compartment and tostring(ev.compartment) or nil
local at = tostring(ev.at)
if k == 'door-opened' then
  put(cset, c .. ':door', '1', c .. ':at', at)
elseif k == 'door-closed' then
  put(cset, c .. ':door', '0', c .. ':occ', ev.occupied and '1' or '0', c .. ':at', at)
elseif k == 'fault' then
  put(cset, c .. ':fault', ev.fault, c .. ':at', at)
elseif k == 'presence' then
  local want = ev.online and '1' or '0'
  if redis.call('HGET', KEYS[1], 'online') == want then return same() end
  put(uset, 'online', want, 'since', at)
elseif k == 'boot' then
  if ev.firmware then put(uset, 'firmware', ev.firmware) end
elseif k == 'service' then
  local v = ev.outOfService and '1' or '0'
  if c then
    if redis.call('HGET', KEYS[2], c .. ':oos') == v then return same() end
    put(cset, c .. ':oos', v)
  else
    if redis.call('HGET', KEYS[1], 'oos') == v then return same() end
    put(uset, 'oos', v)
  end
elseif k == 'keypad' then
  if redis.call('HGET', KEYS[1], 'keypad') == ev.state then return same() end
  put(uset, 'keypad', ev.state)
end
dedupe_flush()
local id = ''
if ARGV[6] == '1' then id = redis.call('XADD', KEYS[3], '*', 'e', ARGV[3]) end
ev_write(evspec)
return {'ok', id}
`;

/**
 * Reconcile a full reading (json-v1 snapshot, compact-v2 status, frame-485 board poll) with the stored state.
 * Differences become events marked reconciled, appended to the log, so lost change reports are recovered and
 * the evidence says they were inferred. A compartment never seen before is initialised silently.
 * Inferred events go to the engine's input and to the evidence log (hashed here, in Lua: they are known only here).
 * A reading never undoes newer state: a compartment whose last applied event is newer than the reading is left as it
 * is. Newer means a higher seq where both have one (json-v1: the snapshot's seq is that of the last event it
 * includes), else a later time (compact-v2 and frame-485 stamp on receipt, so it only guards against a reading that
 * was taken before an event that is already applied).
 * Redis work: the compartments' fields are read by one HGETALL and only the fields that change are written (one HSET,
 * one HDEL), so a reading that matches the stored state costs that HGETALL and the unit's lastSeen; each inferred event
 * adds its input entry, its evidence entry and its compartment index, and the evidence head is written once.
 * ARGV 3: {"unit","at","seq"?,"firmware"?,"compartments":[{"compartment","doorOpen","occupied","fault"?}]}
 * ARGV 5: {"s": evidence stream, "hk": its head, "cx": compartment index key prefix}
 * Returns {'dup'} | {'ok', n, id1, json1, id2, json2, ...}.
 */
export const RECONCILE = `${EVIDENCE_LUA}${DEDUPE}
local evs = cjson.decode(ARGV[5])
local snap = cjson.decode(ARGV[3])
local unit = snap.unit
local at = tostring(snap.at)
local snapSeq = nil
if type(snap.seq) == 'number' then snapSeq = snap.seq end
if snap.firmware and snap.firmware ~= cjson.null then table.insert(uset, 'firmware'); table.insert(uset, snap.firmware) end
dedupe_flush()
-- The compartments' stored fields, read at once (HGETALL: one pass over the hash, where an HMGET of every field
-- would look each up in the listpack); what changes is written at the end (one HSET, one HDEL).
local st, order, dirty = {}, {}, {}
local all = redis.call('HGETALL', KEYS[2])
for i = 1, #all, 2 do st[all[i]] = all[i + 1] end
local function get(f) return st[f] or false end
-- v false: the field is deleted
local function put(f, v)
  if get(f) == v then return end
  st[f] = v
  if not dirty[f] then dirty[f] = true; table.insert(order, f) end
end
local out = {'ok', 0}
local function emit(json, c)
  local id = redis.call('XADD', KEYS[3], '*', 'e', json)
  local evjson = string.sub(json, 1, -2) .. ',"actor":{"type":"system","id":"reconcile"}}'
  ev_append_computed(evs.s, evs.hk, evjson, {{'z', evs.cx .. c}})
  table.insert(out, id)
  table.insert(out, json)
  out[2] = out[2] + 1
end
local function ev(kind, c, extra)
  return '{"unit":' .. cjson.encode(unit) .. ',"at":' .. at .. ',"source":{"reconciled":true},"kind":"' .. kind ..
    '","compartment":' .. c .. extra .. '}'
end
local function newerThanReading(cseq, cat)
  if snapSeq and cseq then return tonumber(cseq) > snapSeq end
  if cat then return tonumber(cat) > snap.at end
  return false
end
for _, r in ipairs(snap.compartments) do
  local c = tostring(r.compartment)
  local door = r.doorOpen and '1' or '0'
  local occ = r.occupied and '1' or '0'
  local cur = {get(c .. ':door'), get(c .. ':occ'), get(c .. ':fault'), get(c .. ':seq'), get(c .. ':at')}
  if not newerThanReading(cur[4], cur[5]) then
    if cur[1] then
      if cur[1] ~= door then
        if door == '1' then emit(ev('door-opened', c, ''), c)
        else emit(ev('door-closed', c, ',"occupied":' .. (r.occupied and 'true' or 'false')), c) end
      elseif door == '0' and cur[2] ~= occ then
        -- closed before and after, but occupancy changed: the door opened and closed while we were not told.
        emit(ev('door-opened', c, ''), c)
        emit(ev('door-closed', c, ',"occupied":' .. (r.occupied and 'true' or 'false')), c)
      end
      if r.fault ~= nil and r.fault ~= cjson.null and r.fault ~= (cur[3] or '') then
        emit(ev('fault', c, ',"fault":' .. cjson.encode(r.fault)), c)
      end
    end
    if cur[1] ~= door or cur[2] ~= occ then
      put(c .. ':door', door)
      put(c .. ':occ', occ)
      put(c .. ':at', at)
      if snapSeq then put(c .. ':seq', string.format('%.0f', snapSeq)) end
    end
    if r.fault ~= nil then
      if r.fault == cjson.null then put(c .. ':fault', false)
      else put(c .. ':fault', r.fault) end
    end
  end
end
ev_computed_done(evs.hk)
local set, del = {}, {}
for _, f in ipairs(order) do
  if st[f] then table.insert(set, f); table.insert(set, st[f]) else table.insert(del, f) end
end
for i = 1, #set, 1000 do redis.call('HSET', KEYS[2], unpack(set, i, math.min(i + 999, #set))) end
for i = 1, #del, 1000 do redis.call('HDEL', KEYS[2], unpack(del, i, math.min(i + 999, #del))) end
return out
`;

/**
 * Every unit in brief (UnitStore.briefs), in one call: KEYS unit hash and compartment hash of each unit, in turn;
 * ARGV per unit its compartment numbers, comma-separated ('' for none). Returns per unit three values: 1/0 online,
 * `since` ('' when unset), 1/0 any of its doors open (`<no>:door` = '1').
 */
export const BRIEFS = `
local out = {}
for i = 1, #KEYS, 2 do
  local u = redis.call('HMGET', KEYS[i], 'online', 'since')
  local open = 0
  local nos = ARGV[(i + 1) / 2]
  if nos ~= '' then
    local fields = {}
    for no in string.gmatch(nos, '[^,]+') do fields[#fields + 1] = no .. ':door' end
    for _, v in ipairs(redis.call('HMGET', KEYS[i + 1], unpack(fields))) do
      if v == '1' then open = 1 break end
    end
  end
  out[#out + 1] = u[1] == '1' and 1 or 0
  out[#out + 1] = u[2] or ''
  out[#out + 1] = open
end
return out
`;
