import type { Redis } from 'ioredis';
import type { Parcel, Slot } from '../domain/parcel.js';
import type { EvidenceEntry } from '../evidence/entry.js';
import { EvidenceLog, HeadMoved } from '../evidence/log.js';
import { keys, type Keys } from './keys.js';
import { decodeParcel, decodeSlot, parcelFields, readParcels, slotFields } from './records.js';
import { codeField, latestTracking, phoneTail, phoneTailMember, trackingBucket, trackingField, type TrackingWas } from './indexes.js';
import { readOne, type Read } from './reads.js';
import { searchOps } from './search.js';
import { Tx, type Check, type Op } from './tx.js';

/**
 * Lua: lg_slot_with_parcels(slot key, parcel key prefix) answers the slot's hash and each of its parcels' (HGETALL,
 * flat), either encoding (records.ts): the parcel ids are in field ps, or in the JSON of field j. Run alone
 * (slotWithParcels) or inside another read (the keypad's, parcels/keypad-lua.ts).
 */
export const SLOT_WITH_PARCELS_FN = `
local function lg_slot_with_parcels(slotKey, parcelPrefix)
local s = redis.call('HGETALL', slotKey)
local out = {s}
if #s == 0 then return out end
local h = {}
for i = 1, #s, 2 do h[s[i]] = s[i + 1] end
local ids = {}
if h.j then
  ids = cjson.decode(h.j).parcels or {}
elseif h.ps then
  for id in string.gmatch(h.ps, '%S+') do table.insert(ids, id) end
end
for _, id in ipairs(ids) do table.insert(out, redis.call('HGETALL', parcelPrefix .. id)) end
return out
end
`;

const SLOT_WITH_PARCELS = `${SLOT_WITH_PARCELS_FN}
return lg_slot_with_parcels(KEYS[1], ARGV[1])
`;

/**
 * Lua: lg_code_slot(keys, field) answers the compartment a code opens (a number), or nil; `keys` are codeKeys' (a
 * table: the unit's code hash, then the string key written before issue 12), `field` is codeField's.
 * With codeSlot, the only reader of the code index: where codes are kept is known here and there only.
 */
export const CODE_SLOT_FN = `
local function lg_code_slot(keys, field)
  local v = redis.call('HGET', keys[1], field)
  if not v then v = redis.call('GET', keys[2]) end
  if not v then return nil end
  return tonumber(v)
end
`;

/**
 * Lua: the slot and its parcels (lg_slot_with_parcels), and the record of each of their couriers (ARGV[2] the courier
 * key prefix; a parcel's courier id is its field co, or courierId in the JSON of field j): the notices a door step
 * writes name the courier (parcels/commit.ts). Answers {slot and parcels as lg_slot_with_parcels, {courier id,
 * record or nil, …}}.
 */
const SLOT_WITH_PARCELS_AND_COURIERS = `${SLOT_WITH_PARCELS_FN}
local out = lg_slot_with_parcels(KEYS[1], ARGV[1])
local cs = {}
local seen = {}
for i = 2, #out do
  local f = out[i]
  local co, j = nil, nil
  for x = 1, #f, 2 do
    if f[x] == 'co' then co = f[x + 1] elseif f[x] == 'j' then j = f[x + 1] end
  end
  if j then co = cjson.decode(j).courierId end
  if type(co) == 'string' and not seen[co] then
    seen[co] = true
    cs[#cs + 1] = co
    cs[#cs + 1] = redis.call('GET', ARGV[2] .. co)
  end
end
return {out, cs}
`;

type RedisWithReads = Redis & {
  lgSlotWithParcels(slotKey: string, parcelPrefix: string): Promise<string[][]>;
  lgSlotWithParcelsAndCouriers(slotKey: string, parcelPrefix: string, courierPrefix: string): Promise<[string[][], (string | null)[]]>;
};

function flatToHash(flat: string[] | undefined): Record<string, string> {
  const h: Record<string, string> = {};
  if (!flat) return h;
  for (let i = 0; i + 1 < flat.length; i += 2) h[flat[i]!] = flat[i + 1]!;
  return h;
}

/** Reads parcels and slots, and writes planned steps atomically (see tx.ts). */
export class ParcelStore {
  readonly k: Keys;
  readonly tx: Tx;

  readonly evidence: EvidenceLog;

  constructor(
    readonly redis: Redis,
    prefix: string,
    evidence?: EvidenceLog,
  ) {
    if (!('lgSlotWithParcels' in redis)) redis.defineCommand('lgSlotWithParcels', { numberOfKeys: 1, lua: SLOT_WITH_PARCELS, readOnly: true });
    if (!('lgSlotWithParcelsAndCouriers' in redis)) {
      redis.defineCommand('lgSlotWithParcelsAndCouriers', { numberOfKeys: 1, lua: SLOT_WITH_PARCELS_AND_COURIERS, readOnly: true });
    }
    this.k = keys(prefix);
    this.tx = new Tx(redis);
    this.evidence = evidence ?? new EvidenceLog(redis, prefix);
  }

  async parcel(id: string): Promise<Parcel | null> {
    return decodeParcel(await this.redis.hgetall(this.k.parcel(id)));
  }

  async parcels(ids: readonly string[]): Promise<Parcel[]> {
    return readParcels(this.redis, this.k, ids);
  }

  async slot(unit: string, no: number): Promise<Slot | null> {
    return decodeSlot(await this.redis.hgetall(this.k.slot(unit, no)));
  }

  /** A slot and its parcels, read together: one round trip (a read-only script). */
  async slotWithParcels(unit: string, no: number): Promise<{ slot: Slot; parcels: Parcel[] } | null> {
    return ParcelStore.slotWithParcelsOf(await (this.redis as RedisWithReads).lgSlotWithParcels(this.k.slot(unit, no), this.k.parcel('')));
  }

  /**
   * slotWithParcels(), and the stored record of each of the parcels' couriers (raw, as parcels/accounts.ts wrote it;
   * null when there is none), in the same round trip: for a step that may write notices naming the courier.
   */
  async slotWithParcelsAndCouriers(unit: string, no: number): Promise<{ slot: Slot; parcels: Parcel[]; couriers: Map<string, string | null> } | null> {
    const [flats, cs] = await (this.redis as RedisWithReads).lgSlotWithParcelsAndCouriers(this.k.slot(unit, no), this.k.parcel(''), this.k.courier(''));
    const cur = ParcelStore.slotWithParcelsOf(flats);
    if (!cur) return null;
    const couriers = new Map<string, string | null>();
    for (let i = 0; i + 1 < cs.length; i += 2) couriers.set(cs[i]!, cs[i + 1] ?? null);
    return { ...cur, couriers };
  }

  /** What lg_slot_with_parcels answered, decoded: null when there is no slot. */
  static slotWithParcelsOf([slotFlat, ...parcelFlats]: string[][]): { slot: Slot; parcels: Parcel[] } | null {
    const slot = decodeSlot(flatToHash(slotFlat));
    if (!slot) return null;
    return { slot, parcels: parcelFlats.map((f) => decodeParcel(flatToHash(f))).filter((p): p is Parcel => p !== null) };
  }

  /** The keys lg_slot_with_parcels is given for a unit's slots in Lua: the slot's key is this prefix and its number. */
  slotKeyPrefix(unit: string): string {
    const key = this.k.slot(unit, 0);
    return key.slice(0, key.length - 1);
  }

  async allocated(unit: string): Promise<Set<number>> {
    return new Set((await this.redis.smembers(this.k.slots(unit))).map(Number));
  }

  /** allocated(), as a read that can share a pipeline (reads.ts). */
  allocatedRead(unit: string): Read<Set<number>> {
    return {
      n: 1,
      add: (pipe) => pipe.smembers(this.k.slots(unit)),
      decode: ([nos]) => new Set((nos as string[]).map(Number)),
    };
  }

  /** The keys CODE_SLOT_FN reads for a code (in Lua: lg_code_slot): the unit's code hash, then the string key written before issue 12. */
  codeKeys(unit: string, hash: string): string[] {
    return [this.k.codes(unit), this.k.code(unit, hash)];
  }

  /** The field CODE_SLOT_FN reads in the unit's code hash. */
  codeField(hash: string): string {
    return codeField(hash);
  }

  /** The compartment of a live code at a unit: its field in the unit's code hash, else a string key written before. */
  async codeSlot(unit: string, hash: string): Promise<number | null> {
    const v = (await this.redis.hget(this.k.codes(unit), codeField(hash))) ?? (await this.redis.get(this.k.code(unit, hash)));
    return v === null ? null : Number(v);
  }

  /** Live parcel ids of a phone, oldest first: the tail index, and the zset and set older records went to (one round trip). */
  async liveParcelIds(phone: string): Promise<string[]> {
    return readOne(this.redis, this.liveParcelIdsRead(phone));
  }

  /** liveParcelIds(), as a read that can share a pipeline (reads.ts). */
  liveParcelIdsRead(phone: string): Read<string[]> {
    return {
      n: 3,
      add: (pipe) => pipe.zrange(this.k.phoneTail(phoneTail(phone)), 0, -1).zrange(this.k.phoneLive(phone), 0, -1).smembers(this.k.phone(phone)),
      decode: (replies) => {
        const [tail, zset, set] = replies as [string[], string[], string[]];
        const prefix = `${phone}|`;
        const ids = tail.filter((m) => m.startsWith(prefix)).map((m) => m.slice(prefix.length));
        return zset.length || set.length ? [...new Set([...ids, ...zset, ...set])] : ids;
      },
    };
  }

  /** The parcel a carrier and tracking number name (the newest deposited), either form (store/indexes.ts). */
  async byTracking(carrier: string, tn: string): Promise<string | null> {
    return latestTracking(await this.trackingState(carrier, tn));
  }

  /** What the tracking index holds for a carrier and number, both forms, in one round trip. */
  async trackingState(carrier: string, tn: string): Promise<TrackingWas> {
    return readOne(this.redis, this.trackingRead(carrier, tn));
  }

  /** trackingState(), as a read that can share a pipeline (reads.ts). */
  trackingRead(carrier: string, tn: string): Read<TrackingWas> {
    return {
      n: 2,
      add: (pipe) => pipe.hget(this.k.trackingBucket(trackingBucket(tn)), trackingField(carrier, tn)).get(this.k.tracking(carrier, tn)),
      decode: (replies) => {
        const [ids, old] = replies as [string | null, string | null];
        return { ids, old };
      },
    };
  }

  async due(zset: string, now: number, limit = 100): Promise<string[]> {
    return this.redis.zrangebyscore(zset, '-inf', now, 'LIMIT', 0, limit);
  }

  // ---- building one atomic step ----

  versionCheck(key: string, v: number | null): Check {
    return { key, field: 'v', equals: v === null ? null : String(v) };
  }

  /** Write a parcel (the whole hash: a record of the older encoding is replaced, see records.ts). */
  putParcel(p: Parcel): Op[] {
    return [['DEL', this.k.parcel(p.id)], ['HSET', this.k.parcel(p.id), ...parcelFields(p, p.v + 1)]];
  }

  /**
   * Live parcels by creation (retention keeps their evidence) and in the phone-tail index (store/indexes.ts); ended
   * ones by end time (retention trims them) and in the console's search by phone tail.
   */
  lifeOps(p: Parcel, live: boolean): Op[] {
    const tail = this.k.phoneTail(phoneTail(p.phone));
    return live
      ? [['ZADD', this.k.live, p.createdAt, p.id], ['ZADD', tail, p.createdAt, phoneTailMember(p)]]
      : [['ZREM', this.k.live, p.id], ['ZADD', this.k.ended, p.endedAt ?? p.createdAt, p.id], ['ZREM', tail, phoneTailMember(p)], ...searchOps(this.k, p)];
  }

  /** Write a slot, and keep the index of pickups/returns under way (the sweep gives up stale ones). */
  putSlot(s: Slot): Op[] {
    const member = ParcelStore.intentMember(s.unit, s.compartment);
    return [
      ['DEL', this.k.slot(s.unit, s.compartment)],
      ['HSET', this.k.slot(s.unit, s.compartment), ...slotFields(s, s.v + 1)],
      s.intent && s.intent !== 'deposit' && s.intentAt !== null ? ['ZADD', this.k.intents, s.intentAt, member] : ['ZREM', this.k.intents, member],
    ];
  }

  delSlot(unit: string, no: number): Op[] {
    return [
      ['DEL', this.k.slot(unit, no)],
      ['SREM', this.k.slots(unit), no],
      ['ZREM', this.k.intents, ParcelStore.intentMember(unit, no)],
    ];
  }

  static intentMember(unit: string, no: number): string {
    return `${unit}|${no}`;
  }

  static parseIntentMember(m: string): { unit: string; compartment: number } {
    const i = m.lastIndexOf('|');
    return { unit: m.slice(0, i), compartment: Number(m.slice(i + 1)) };
  }

  /**
   * One atomic step: every check holds, then all ops and the evidence entries (on `chain`) are written together.
   * False when a check failed (nothing written): the caller re-reads and re-plans.
   */
  async commit(chain: string, entries: EvidenceEntry[], checks: Check[], ops: Op[]): Promise<boolean> {
    return this.evidence.within(chain, entries, async (spec) => {
      const r = await this.tx.apply(checks, ops, spec);
      if (r instanceof HeadMoved) return r;
      return { result: r !== null, appended: r !== null };
    });
  }
}
