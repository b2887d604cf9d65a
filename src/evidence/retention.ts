import type { Redis } from 'ioredis';
import type { Clock } from '../domain/clock.js';
import type { Logger } from '../log.js';
import { keys, type Keys } from '../store/keys.js';
import type { Checkpoints } from './checkpoints.js';
import type { EvidenceLog } from './log.js';
import { compareIds } from './timeline.js';
import { decodeParcel } from '../store/records.js';
import { TRACKING_DROP, phoneTail, trackingBucket, trackingField, trackingKey } from '../store/indexes.js';

type WithTrackingDrop = { lgTrackingDrop(bucket: string, field: string, id: string): unknown };

/**
 * Keeps ended parcels and their evidence for EVIDENCE_RETENTION_DAYS, then trims them. A chain is cut only before
 * its oldest entry that is still needed (the retention period, and the deposit of any parcel still live), and only
 * after a trim checkpoint has recorded the last entry cut, so what remains still verifies from there.
 */
export class Retention {
  private readonly k: Keys;

  constructor(
    private readonly d: { redis: Redis; prefix: string; log: EvidenceLog; checkpoints: Checkpoints; clock: Clock; logger: Logger; retentionDays: number },
  ) {
    this.k = keys(d.prefix);
    if (!('lgTrackingDrop' in d.redis)) d.redis.defineCommand('lgTrackingDrop', { numberOfKeys: 1, lua: TRACKING_DROP });
  }

  async run(): Promise<{ parcels: number; entries: number }> {
    const cutoff = this.d.clock.now() - this.d.retentionDays * 86_400_000;
    let parcels = 0;
    for (;;) {
      const ids = await this.d.redis.zrangebyscore(this.k.ended, '-inf', cutoff, 'LIMIT', 0, 200);
      if (!ids.length) break;
      for (const id of ids) {
        await this.dropParcel(id);
        parcels++;
      }
    }
    // Keep everything since the oldest live parcel was deposited (its timeline needs it), and since the cutoff.
    const oldestLive = await this.d.redis.zrange(this.k.live, 0, 0, 'WITHSCORES');
    const keepFrom = Math.min(cutoff, oldestLive[1] !== undefined ? Number(oldestLive[1]) : Infinity);
    let entries = 0;
    for (const chain of await this.d.log.chains()) entries += await this.trimChain(chain, keepFrom);
    if (parcels || entries) this.d.logger.info('retention: trimmed evidence past the retention period', { parcels, entries, retentionDays: this.d.retentionDays });
    return { parcels, entries };
  }

  /** Drop an index's members up to and including stream id `upTo` (scores are the ids' ms; several share one). */
  private async dropIndexed(key: string, upTo: string): Promise<void> {
    const ms = upTo.slice(0, upTo.indexOf('-'));
    await this.d.redis.zremrangebyscore(key, '-inf', `(${ms}`);
    const same = (await this.d.redis.zrangebyscore(key, ms, ms)).filter((id) => compareIds(id, upTo) <= 0);
    if (same.length) await this.d.redis.zrem(key, ...same);
  }

  private async dropParcel(id: string): Promise<void> {
    const p = decodeParcel(await this.d.redis.hgetall(this.k.parcel(id)));
    const multi = this.d.redis.multi().del(this.k.parcel(id), this.k.evParcel(id)).zrem(this.k.ended, id);
    if (p) {
      // the parcel leaves the search by phone tail (and the search zset of its number written before issue 12), and
      // the tracking index (its id from the field, store/indexes.ts); a string key written before
      // issue 12 goes only if it still names this parcel (the number may have been used again since)
      (multi as typeof multi & WithTrackingDrop).lgTrackingDrop(this.k.trackingBucket(trackingBucket(p.trackingNumber)), trackingField(p.carrier, p.trackingNumber), id);
      multi.zrem(this.k.searchPhoneTail(phoneTail(p.phone)), id).zrem(this.k.searchTracking(trackingKey(p.trackingNumber)), id);
      const tracking = this.k.tracking(p.carrier, p.trackingNumber);
      if ((await this.d.redis.get(tracking)) === id) multi.del(tracking);
    }
    await multi.exec();
  }

  /**
   * Cut a chain up to its newest checkpoint taken before `keepFrom` (the clock's ms): checkpoints map the clock's
   * time to a place in the chain, and the one chosen becomes the trim checkpoint the rest verifies from.
   */
  private async trimChain(chain: string, keepFrom: number): Promise<number> {
    const cps = await this.d.checkpoints.of(chain);
    const floor = cps[0]?.why === 'trim' ? cps[0].n : 0;
    const cut = [...cps].reverse().find((c) => c.valid && c.at < keepFrom && c.entry && c.n > floor);
    if (!cut?.entry) return 0;
    const [ms, seq] = cut.entry.split('-').map(Number) as [number, number];
    await this.d.checkpoints.take(chain, 'trim', { n: cut.n, hash: cut.hash, id: cut.entry });
    const removed = await this.d.redis.xtrim(this.k.evidence(chain), 'MINID', `${ms}-${seq + 1}`);
    const unit = chain.startsWith('unit:') ? chain.slice(5) : null;
    if (unit) {
      await this.dropIndexed(this.k.evCodes(unit), cut.entry);
      let cursor = '0';
      do {
        const [next, found] = await this.d.redis.scan(cursor, 'MATCH', `${this.k.evCompartment(unit, 0).slice(0, -1)}*`, 'COUNT', 200);
        cursor = next;
        for (const key of found) await this.dropIndexed(key, cut.entry);
      } while (cursor !== '0');
    }
    await this.d.checkpoints.prune(chain);
    this.d.logger.info('retention: chain trimmed', { chain, upTo: cut.entry, n: cut.n, removed });
    return removed;
  }
}
