import type { Redis } from 'ioredis';
import type { Parcel } from '../domain/parcel.js';
import { TRACKING_ADD, trackingBucket, trackingField } from './indexes.js';
import type { Keys } from './keys.js';
import type { Op } from './tx.js';
import { decodeParcel } from './records.js';

import { trackingKey } from './indexes.js';
export { trackingKey };

/**
 * The staff console's parcel search, by the last 4 digits of the recipient's phone: live parcels from the phone-tail
 * index (`ptail:{last4}`, store/indexes.ts), ended ones from a sorted set per tail (`srch:tail:{last4}`, scored by
 * creation time, written when the parcel ends; before issue 12 live parcels were written there too, at deposit).
 * By tracking number (any carrier): the tracking index's bucket of that number (store/indexes.ts), plus the sorted
 * set `srch:tn:{number}` that the code before issue 12 wrote for each number. Both are written in the parcel's own
 * atomic steps (ParcelStore.lifeOps, deposit), so a parcel is findable from its deposit on. Retention drops a
 * parcel's entries with it; a search skips (and removes) ids whose parcel is gone all the same.
 */
export function searchOps(k: Keys, p: Parcel): Op[] {
  return [['ZADD', k.searchPhoneTail(p.phone.slice(-4)), p.createdAt, p.id]];
}

const newest = (ps: Parcel[], limit: number): Parcel[] => ps.sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1)).slice(0, limit);

type WithTrackingAdd = Redis & { lgTrackingAdd(bucket: string, field: string, id: string): Promise<number> };

export type SearchQuery = { by: 'phone-tail'; last4: string } | { by: 'tracking'; tn: string };

/** What staff typed: 4 digits are a phone's last four; anything else (3 to 40 letters, digits, -) a tracking number. */
export function parseSearch(q: string): SearchQuery | null {
  const s = q.trim();
  if (/^\d{4}$/.test(s)) return { by: 'phone-tail', last4: s };
  if (/^[A-Za-z0-9-]{3,40}$/.test(s)) return { by: 'tracking', tn: trackingKey(s) };
  return null;
}

export class ParcelSearch {
  constructor(
    private readonly redis: Redis,
    private readonly k: Keys,
  ) {
    if (!('lgTrackingAdd' in redis)) redis.defineCommand('lgTrackingAdd', { numberOfKeys: 1, lua: TRACKING_ADD });
  }

  /** Parcels matching the query, newest first (at most `limit`). */
  async find(q: SearchQuery, limit = 50): Promise<Parcel[]> {
    if (q.by === 'tracking') return this.byTracking(q.tn, limit);
    const key = this.k.searchPhoneTail(q.last4);
    const res = (await this.redis.pipeline().zrevrange(this.k.phoneTail(q.last4), 0, limit - 1).zrevrange(key, 0, limit - 1).exec()) as [Error | null, string[]][];
    const err = res.find(([e]) => e)?.[0];
    if (err) throw err;
    const [[, live], [, ended]] = res as [[null, string[]], [null, string[]]];
    const ids = new Set([...live.map((m) => m.slice(m.indexOf('|') + 1)), ...ended]);
    return newest(await this.load([...ids], key), limit);
  }

  /**
   * Every carrier's parcels with this number: the fields of it in its tracking bucket (HSCAN matching the number in
   * any case: one call while the bucket is a listpack, up to ~500 fields), and the zset written before issue 12.
   */
  private async byTracking(tn: string, limit: number): Promise<Parcel[]> {
    const bucket = this.k.trackingBucket(trackingBucket(tn));
    const match = `*|${[...tn].map((c) => (/[A-Z]/.test(c) ? `[${c}${c.toLowerCase()}]` : c)).join('')}`;
    const ids = new Set<string>();
    let cursor = '0';
    do {
      const [next, flat] = await this.redis.hscan(bucket, cursor, 'MATCH', match, 'COUNT', 1000);
      cursor = next;
      for (let i = 1; i < flat.length; i += 2) for (const id of flat[i]!.split(' ')) ids.add(id);
    } while (cursor !== '0');
    const old = this.k.searchTracking(tn);
    for (const id of await this.redis.zrevrange(old, 0, limit - 1)) ids.add(id);
    return newest(await this.load([...ids], old), limit);
  }

  /** The parcels of these ids that still exist; ids whose parcel is gone leave the zset `key`. */
  private async load(ids: string[], key: string): Promise<Parcel[]> {
    if (!ids.length) return [];
    const pipe = this.redis.pipeline();
    for (const id of ids) pipe.hgetall(this.k.parcel(id));
    const rows = (await pipe.exec()) ?? [];
    const out: Parcel[] = [];
    const gone: string[] = [];
    rows.forEach(([, h], i) => {
      const p = decodeParcel(h as Record<string, string>);
      if (p) out.push(p);
      else gone.push(ids[i]!);
    });
    if (gone.length) await this.redis.zrem(key, ...gone);
    return out;
  }

  /**
   * Index parcels written before the index existed (live and ended ones still kept). Runs once per Redis (a marker
   * key); idempotent if two gateways run it at the same time. Returns how many parcels it indexed.
   */
  async backfill(batch = 500): Promise<number> {
    if (await this.redis.exists(this.k.searchBackfilled)) return 0;
    let n = 0;
    for (const set of [this.k.live, this.k.ended]) {
      for (let start = 0; ; start += batch) {
        const ids = await this.redis.zrange(set, start, start + batch - 1);
        if (!ids.length) break;
        const pipe = this.redis.pipeline();
        for (const id of ids) pipe.hgetall(this.k.parcel(id));
        const rows = (await pipe.exec()) ?? [];
        const write = this.redis.pipeline();
        for (const [, h] of rows) {
          const p = decodeParcel(h as Record<string, string>);
          if (!p) continue;
          for (const op of searchOps(this.k, p)) write.call(String(op[0]), ...op.slice(1).map(String));
          (write as unknown as WithTrackingAdd).lgTrackingAdd(this.k.trackingBucket(trackingBucket(p.trackingNumber)), trackingField(p.carrier, p.trackingNumber), p.id);
          n++;
        }
        await write.exec();
      }
    }
    await this.redis.set(this.k.searchBackfilled, String(Date.now()));
    return n;
  }
}
