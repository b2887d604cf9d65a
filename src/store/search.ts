import type { Redis } from 'ioredis';
import type { Parcel } from '../domain/parcel.js';
import type { Keys } from './keys.js';
import type { Op } from './tx.js';
import { decodeParcel } from './records.js';

/** Tracking numbers are matched whatever their case and surrounding blanks. */
export const trackingKey = (tn: string) => tn.trim().toUpperCase();

/**
 * The staff console's parcel search index: parcel ids by the last 4 digits of the recipient's phone and by tracking
 * number (any carrier), each a sorted set scored by creation time. Written in the same atomic step as the parcel
 * (ParcelStore.lifeOps, while it is live: ZADD of the same member and score is idempotent), so a parcel is findable
 * from its deposit on. Retention drops parcels, not their index entries: a search skips (and removes) ids whose
 * parcel is gone.
 */
export function searchOps(k: Keys, p: Parcel): Op[] {
  return [
    ['ZADD', k.searchPhoneTail(p.phone.slice(-4)), p.createdAt, p.id],
    ['ZADD', k.searchTracking(trackingKey(p.trackingNumber)), p.createdAt, p.id],
  ];
}

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
  ) {}

  /** Parcels matching the query, newest first (at most `limit`). */
  async find(q: SearchQuery, limit = 50): Promise<Parcel[]> {
    const key = q.by === 'phone-tail' ? this.k.searchPhoneTail(q.last4) : this.k.searchTracking(q.tn);
    const ids = await this.redis.zrevrange(key, 0, limit - 1);
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
          n++;
        }
        await write.exec();
      }
    }
    await this.redis.set(this.k.searchBackfilled, String(Date.now()));
    return n;
  }
}
