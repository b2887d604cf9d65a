/**
 * Lua shared by every script that appends to the evidence log, so that each append happens in the same atomic step
 * as the state change it records (store/tx.ts, store/lua.ts).
 *
 * An append spec (`ev`, JSON):
 *   { s: stream, hk: head key, n0: head n the caller hashed against, p0: head hash,
 *     entries: [{ e: entry JSON, h: link hash (from TypeScript), ix: [[ 'z' | 'l', index key ], …] }] }
 * `ev_check` runs first in a script, before any write: if the head moved (another writer appended), the script
 * returns {'head', n, h} and the caller re-hashes against the new head and tries again. Entries are hashed in
 * TypeScript (node's SHA-256 is ~100 times faster than Lua's); `ev_append_computed` hashes in Lua for the few entries
 * a script infers itself (reconciliation), with the same encoding as evidence/entry.ts linkHash (then `ev_computed_done`
 * writes the head once).
 *
 * Each stream entry has fields n (position, from 1), p (previous hash), h (this entry's hash), e (the entry).
 * The head (hash at `hk`) holds n, h and the id of the last entry. Index keys: 'z' = sorted set of stream ids by
 * their time (a compartment's door events, a unit's typed codes), 'l' = list of stream ids (a parcel's entries).
 */
export const SHA256_LUA = `
local band, bor, bxor, bnot, rshift, lshift, ror, tobit, tohex = bit.band, bit.bor, bit.bxor, bit.bnot, bit.rshift, bit.lshift, bit.ror, bit.tobit, bit.tohex
local K = {
0x428a2f98,0x71374491,0xb5c0fbcf,0xe9b5dba5,0x3956c25b,0x59f111f1,0x923f82a4,0xab1c5ed5,
0xd807aa98,0x12835b01,0x243185be,0x550c7dc3,0x72be5d74,0x80deb1fe,0x9bdc06a7,0xc19bf174,
0xe49b69c1,0xefbe4786,0x0fc19dc6,0x240ca1cc,0x2de92c6f,0x4a7484aa,0x5cb0a9dc,0x76f988da,
0x983e5152,0xa831c66d,0xb00327c8,0xbf597fc7,0xc6e00bf3,0xd5a79147,0x06ca6351,0x14292967,
0x27b70a85,0x2e1b2138,0x4d2c6dfc,0x53380d13,0x650a7354,0x766a0abb,0x81c2c92e,0x92722c85,
0xa2bfe8a1,0xa81a664b,0xc24b8b70,0xc76c51a3,0xd192e819,0xd6990624,0xf40e3585,0x106aa070,
0x19a4c116,0x1e376c08,0x2748774c,0x34b0bcb5,0x391c0cb3,0x4ed8aa4a,0x5b9cca4f,0x682e6ff3,
0x748f82ee,0x78a5636f,0x84c87814,0x8cc70208,0x90befffa,0xa4506ceb,0xbef9a3f7,0xc67178f2}
local function sha256(msg)
  local len = #msg
  local bits = len * 8
  msg = msg .. '\\128' .. string.rep('\\0', (55 - len) % 64) .. '\\0\\0\\0' ..
    string.char(math.floor(bits / 4294967296) % 256, math.floor(bits / 16777216) % 256, math.floor(bits / 65536) % 256, math.floor(bits / 256) % 256, bits % 256)
  local H = {0x6a09e667,0xbb67ae85,0x3c6ef372,0xa54ff53a,0x510e527f,0x9b05688c,0x1f83d9ab,0x5be0cd19}
  local w = {}
  for i = 1, #msg, 64 do
    for j = 0, 15 do
      local a, b, c, d = string.byte(msg, i + j * 4, i + j * 4 + 3)
      w[j] = bor(lshift(a, 24), lshift(b, 16), lshift(c, 8), d)
    end
    for j = 16, 63 do
      local x, y = w[j - 15], w[j - 2]
      w[j] = tobit(w[j - 16] + bxor(ror(x, 7), ror(x, 18), rshift(x, 3)) + w[j - 7] + bxor(ror(y, 17), ror(y, 19), rshift(y, 10)))
    end
    local a, b, c, d, e, f, g, h = H[1], H[2], H[3], H[4], H[5], H[6], H[7], H[8]
    for j = 0, 63 do
      local t1 = h + bxor(ror(e, 6), ror(e, 11), ror(e, 25)) + bxor(band(e, f), band(bnot(e), g)) + K[j + 1] + w[j]
      local t2 = bxor(ror(a, 2), ror(a, 13), ror(a, 22)) + bxor(band(a, b), band(a, c), band(b, c))
      h = g; g = f; f = e; e = tobit(d + t1); d = c; c = b; b = a; a = tobit(t1 + t2)
    end
    H[1] = tobit(H[1] + a); H[2] = tobit(H[2] + b); H[3] = tobit(H[3] + c); H[4] = tobit(H[4] + d)
    H[5] = tobit(H[5] + e); H[6] = tobit(H[6] + f); H[7] = tobit(H[7] + g); H[8] = tobit(H[8] + h)
  end
  local out = {}
  for i = 1, 8 do out[i] = tohex(H[i], 8) end
  return table.concat(out)
end
`;

export const EVIDENCE_LUA = `${SHA256_LUA}
local EV_GENESIS = string.rep('0', 64)
local function ev_head(hk)
  local cur = redis.call('HMGET', hk, 'n', 'h')
  return tonumber(cur[1] or '0'), cur[2] or EV_GENESIS
end
local function ev_check(spec)
  if not spec or not spec.s then return nil end
  local n, h = ev_head(spec.hk)
  if n ~= spec.n0 or h ~= spec.p0 then return {'head', tostring(n), h} end
  return nil
end
local function ev_index(ix, id)
  if not ix then return end
  local t = tonumber(string.match(id, '^(%d+)'))
  for _, x in ipairs(ix) do
    if x[1] == 'z' then redis.call('ZADD', x[2], t, id) else redis.call('RPUSH', x[2], id) end
  end
end
local function ev_write(spec)
  if not spec or not spec.s then return end
  local n, prev, id = spec.n0, spec.p0, nil
  for _, x in ipairs(spec.entries) do
    n = n + 1
    id = redis.call('XADD', spec.s, '*', 'n', n, 'p', prev, 'h', x.h, 'e', x.e)
    ev_index(x.ix, id)
    prev = x.h
  end
  if id then redis.call('HSET', spec.hk, 'n', n, 'h', prev, 'id', id) end
end
-- Entries a script infers itself (reconciliation), hashed here: the head is read at the first and written once by
-- ev_computed_done, which the script must call before it returns (one chain per script).
local ev_cn, ev_ch, ev_cid = nil, nil, nil
local function ev_append_computed(s, hk, json, ix)
  if not ev_cn then ev_cn, ev_ch = ev_head(hk) end
  ev_cn = ev_cn + 1
  local h = sha256('lg-ev1|' .. ev_cn .. '|' .. ev_ch .. '|' .. json)
  local id = redis.call('XADD', s, '*', 'n', ev_cn, 'p', ev_ch, 'h', h, 'e', json)
  ev_index(ix, id)
  ev_ch, ev_cid = h, id
  return id
end
local function ev_computed_done(hk)
  if ev_cid then redis.call('HSET', hk, 'n', ev_cn, 'h', ev_ch, 'id', ev_cid) end
end
`;
