import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Clock } from '../domain/clock.js';
import { keys, type Keys } from '../store/keys.js';
import { fieldMap } from '../store/units.js';
import type { ChainHead } from './entry.js';
import type { EvidenceLog } from './log.js';

export interface Checkpoint {
  id: string;
  chain: string;
  n: number;
  hash: string;
  /** stream id of the entry at n (maps the clock's time to a place in the chain, for retention) */
  entry: string | null;
  at: number;
  why: 'periodic' | 'trim';
  /** the signature checks out */
  valid: boolean;
}

/**
 * Checkpoints of each chain's head, in an append-only record of their own (one stream per chain), signed with a key
 * that is not in Redis (derived from the gateway's code key): a chain cut at its tail is caught because it ends
 * before a checkpoint, and a checkpoint rewritten to match is caught by its signature.
 */
export class Checkpoints {
  private readonly k: Keys;
  private readonly key: Buffer;
  private readonly last = new Map<string, number>();

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly log: EvidenceLog,
    secret: Buffer,
    private readonly clock: Clock,
  ) {
    this.k = keys(prefix);
    this.key = createHmac('sha256', secret).update('lg-evidence-checkpoints-v1').digest();
  }

  private sign(chain: string, n: number, hash: string, at: number, why: string): string {
    return createHmac('sha256', this.key).update(`${chain}|${n}|${hash}|${at}|${why}`).digest('hex');
  }

  /** Record the chain's head now (skipped when it has not moved since this process last did). */
  async take(chain: string, why: Checkpoint['why'] = 'periodic', head?: ChainHead): Promise<void> {
    const h = head ?? (await this.log.head(chain));
    if (h.n === 0 || (why === 'periodic' && this.last.get(chain) === h.n)) return;
    const at = this.clock.now();
    await this.redis.xadd(this.k.checkpoints(chain), '*', 'n', h.n, 'h', h.hash, 'id', h.id ?? '', 'at', at, 'why', why, 'sig', this.sign(chain, h.n, h.hash, at, why));
    this.last.set(chain, h.n);
  }

  async takeAll(): Promise<void> {
    for (const chain of await this.log.chains()) await this.take(chain);
  }

  /** A chain's checkpoints, oldest first, back to its newest trim checkpoint (all there are if it was never trimmed). */
  async of(chain: string): Promise<Checkpoint[]> {
    const out: Checkpoint[] = [];
    let end = '+';
    for (;;) {
      const rows = await this.redis.xrevrange(this.k.checkpoints(chain), end, '-', 'COUNT', 500);
      for (const [id, fields] of rows) {
        const f = fieldMap(fields);
        const cp: Checkpoint = { id, chain, n: Number(f.n), hash: f.h ?? '', entry: f.id || null, at: Number(f.at), why: f.why === 'trim' ? 'trim' : 'periodic', valid: false };
        const want = Buffer.from(this.sign(chain, cp.n, cp.hash, cp.at, f.why ?? ''), 'hex');
        const got = Buffer.from(f.sig ?? '', 'hex');
        cp.valid = got.length === want.length && timingSafeEqual(got, want);
        out.push(cp);
        if (cp.why === 'trim' && cp.valid) return out.reverse();
      }
      if (rows.length < 500) return out.reverse();
      end = `(${rows.at(-1)![0]}`;
    }
  }

  /** Checkpoints before the newest trim checkpoint serve no verification any more: drop them. */
  async prune(chain: string): Promise<void> {
    const trim = (await this.of(chain))[0];
    if (trim?.why === 'trim') await this.redis.xtrim(this.k.checkpoints(chain), 'MINID', trim.id);
  }
}
