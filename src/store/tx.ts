import type { Redis } from 'ioredis';
import { EVIDENCE_LUA } from '../evidence/lua.js';
import { HeadMoved, type AppendSpec } from '../evidence/log.js';

/**
 * One atomic step with optimistic concurrency, for writes planned in TypeScript (the parcel state machine is pure
 * code): every check must still hold (a hash's version field, a key's absence), otherwise nothing is written and
 * the caller re-reads and re-plans. All writes, evidence entries and outbox entries of a step go in together.
 */
export type Check =
  | { key: string; field: string; equals: string | null }
  | { key: string; absent: true }
  /** a plain string key holds exactly this value (null = does not exist) */
  | { key: string; value: string | null };

/** A Redis command as words, e.g. ['HSET', key, 'state', 'stored']. Only write commands belong here. */
export type Op = (string | number)[];

const CAS = `${EVIDENCE_LUA}
local spec = cjson.decode(ARGV[1])
local moved = ev_check(spec.ev)
if moved then return moved end
for i, c in ipairs(spec.checks) do
  if c.absent then
    if redis.call('EXISTS', c.key) == 1 then return {'conflict', tostring(i)} end
  elseif c.value ~= nil then
    local want = c.value
    if want == cjson.null then want = false end
    if redis.call('GET', c.key) ~= want then return {'conflict', tostring(i)} end
  else
    local v = redis.call('HGET', c.key, c.field)
    local want = c.equals
    if want == cjson.null then want = false end
    if v ~= want then return {'conflict', tostring(i)} end
  end
end
local out = {'ok'}
for _, op in ipairs(spec.ops) do
  local r = redis.call(unpack(op))
  if op[1] == 'XADD' then table.insert(out, r) end
end
ev_write(spec.ev)
return out
`;

type WithCas = Redis & { lgCas(spec: string): Promise<string[]> };

export class Tx {
  private readonly redis: WithCas;
  constructor(redis: Redis) {
    if (!('lgCas' in redis)) redis.defineCommand('lgCas', { numberOfKeys: 0, lua: CAS });
    this.redis = redis as WithCas;
  }

  /**
   * Returns the stream ids of XADDs in order, null when a check failed, or HeadMoved when the evidence chain moved
   * since `ev` was hashed (nothing written either way).
   */
  async apply(checks: Check[], ops: Op[], ev?: AppendSpec | null): Promise<string[] | null | HeadMoved> {
    const res = await this.redis.lgCas(JSON.stringify({ checks, ops: ops.map((o) => o.map(String)), ...(ev ? { ev } : {}) }));
    const moved = HeadMoved.from(res);
    if (moved) return moved;
    if (res[0] !== 'ok') return null;
    return res.slice(1);
  }
}
