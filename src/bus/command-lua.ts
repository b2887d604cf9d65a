import { EVIDENCE_LUA } from '../evidence/lua.js';
import { ADMIT_FN } from './open-guard-lua.js';

/**
 * A command's start, one atomic step (one round trip): its record (unless one exists under its id: a repeated
 * command is never sent twice), for an open the open guard's word (open-guard-lua.ts, the same script), and its
 * `sent` evidence entry (door and keypad commands), hashed in TypeScript against the chain's head like every append
 * (evidence/log.ts `within`). Before, these were a `SET NX`, the guard's script and an evidence append.
 *
 * KEYS: 1 the command's record; 2–9 (an open the guard checks) the guard's keys, in its order.
 * ARGV: 1 the record (JSON), 2 its time to live (s), 3 the evidence append spec (JSON; '' for none), 4 '1' when the
 * guard checks it, 5… the guard's ARGV.
 * Answers {'head', n, h} (the chain's head moved: nothing written), {'exists', record JSON} (nothing written),
 * {'refused', outcome, scope, n} (the guard refused it: nothing written but the guard's own bookkeeping), or
 * {'ok', scope, n} (written; scope set when an admin's open trips a lockdown: see the guard).
 */
export const COMMAND_START = `${EVIDENCE_LUA}
${ADMIT_FN}
local spec = nil
if ARGV[3] ~= '' then spec = cjson.decode(ARGV[3]) end
local moved = ev_check(spec)
if moved then return moved end
local existing = redis.call('GET', KEYS[1])
if existing then return {'exists', existing} end
local guard = {'ok', '', 0}
if ARGV[4] == '1' then
  local gk, ga = {}, {}
  for i = 2, #KEYS do gk[i - 1] = KEYS[i] end
  for i = 5, #ARGV do ga[i - 4] = ARGV[i] end
  guard = lg_admit(gk, ga)
  if guard[1] ~= 'ok' then return {'refused', guard[1], guard[2], guard[3]} end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
ev_write(spec)
return {'ok', guard[2], guard[3]}
`;
