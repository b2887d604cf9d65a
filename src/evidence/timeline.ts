import type { Redis } from 'ioredis';
import type { Parcel } from '../domain/parcel.js';
import { keys, type Keys } from '../store/keys.js';
import { fieldMap } from '../store/units.js';
import type { EvidenceEntry } from './entry.js';
import { unitChain } from './log.js';

export interface TimelineItem {
  streamId: string;
  /** position in the unit's chain */
  n: number;
  hash: string;
  at: number;
  kind: string;
  /** reported by the unit, inferred by reconciliation, or done by the gateway (transitions, commands, notices…) */
  origin: 'unit' | 'reconciled' | 'gateway';
  entry: EvidenceEntry;
}

const msOf = (id: string) => Number(id.slice(0, id.indexOf('-')));

/**
 * A parcel's timeline, read from indexes written with each entry (no scan of the unit's log): the parcel's own
 * entries (deposit, transitions, commands and notices naming it), and, between its first and last entry (now, while
 * it is live), every door, sensor and command entry of its compartment and every code typed at its unit, right or
 * wrong (masked). In chain order.
 */
export class Timelines {
  private readonly k: Keys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.k = keys(prefix);
  }

  async of(p: Parcel): Promise<TimelineItem[]> {
    const own = await this.redis.lrange(this.k.evParcel(p.id), 0, -1);
    if (!own.length) return [];
    const from = msOf(own[0]!);
    const ended = p.endedAt !== null;
    const to = ended ? msOf(own.at(-1)!) : '+inf';
    const [door, codes] = await Promise.all([
      this.redis.zrangebyscore(this.k.evCompartment(p.unit, p.compartment), from, to),
      this.redis.zrangebyscore(this.k.evCodes(p.unit), from, to),
    ]);
    const ids = [...new Set([...own, ...door, ...codes])].sort(compareIds);
    const stream = this.k.evidence(unitChain(p.unit));
    const pipe = this.redis.pipeline();
    for (const id of ids) pipe.xrange(stream, id, id);
    const rows = ((await pipe.exec()) ?? []).map(([, r]) => (r as [string, string[]][] | undefined)?.[0]).filter((r) => r !== undefined);
    return rows.map(([streamId, fields]) => {
      const f = fieldMap(fields);
      const entry = JSON.parse(f.e ?? '{}') as EvidenceEntry;
      const origin = entry.source?.reconciled ? 'reconciled' : entry.actor?.type === 'unit' ? 'unit' : 'gateway';
      return { streamId, n: Number(f.n), hash: f.h ?? '', at: entry.at, kind: entry.kind, origin, entry };
    });
  }
}

export function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(Number) as [number, number];
  const [bm, bs] = b.split('-').map(Number) as [number, number];
  return am - bm || as - bs;
}
