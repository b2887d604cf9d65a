import type { Redis } from 'ioredis';
import { keys, type Keys } from '../store/keys.js';
import { fieldMap } from '../store/units.js';
import { Checkpoints, type Checkpoint } from './checkpoints.js';
import { GENESIS, linkHash } from './entry.js';
import type { EvidenceLog } from './log.js';

export interface BrokenLink {
  /** stream id of the entry where the chain breaks (or of the last entry, for a cut tail) */
  entry: string | null;
  n: number;
  problem: 'altered' | 'missing' | 'relinked' | 'truncated' | 'unreadable';
  expected: string;
  found: string;
}

export interface ChainReport {
  chain: string;
  ok: boolean;
  /** entries walked */
  checked: number;
  /** the first entry walked (after the last trim) and the last */
  from: number;
  to: number;
  /** the newest checkpoint the tail was held against */
  checkpoint: { n: number; at: number } | null;
  broken: BrokenLink | null;
}

/**
 * Walks each evidence chain and reports the first broken link:
 * - an entry whose stored hash is not the hash of its content ("altered");
 * - a position that skips ("missing": an entry was deleted);
 * - an entry whose link does not name the entry before it ("relinked": altered and re-hashed, or inserted);
 * - a chain shorter than its newest checkpoint says, or whose entry at that position differs ("truncated").
 * A trimmed chain starts after its last trim checkpoint: its first entry must link to the hash that checkpoint kept.
 * Checkpoints are HMAC-signed, so a rewritten checkpoint record is reported too.
 */
export class Verifier {
  private readonly k: Keys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly log: EvidenceLog,
    private readonly checkpoints: Checkpoints,
  ) {
    this.k = keys(prefix);
  }

  async verifyAll(): Promise<ChainReport[]> {
    const out: ChainReport[] = [];
    for (const chain of await this.log.chains()) out.push(await this.verify(chain));
    return out;
  }

  async verify(chain: string): Promise<ChainReport> {
    const cps = await this.checkpoints.of(chain);
    const forged = cps.find((c) => !c.valid);
    const trim = [...cps].reverse().find((c) => c.why === 'trim') ?? null;
    const latest = cps.at(-1) ?? null;
    const report: ChainReport = {
      chain,
      ok: true,
      checked: 0,
      from: trim ? trim.n + 1 : 1,
      to: trim ? trim.n : 0,
      checkpoint: latest ? { n: latest.n, at: latest.at } : null,
      broken: null,
    };
    const fail = (b: BrokenLink) => ({ ...report, ok: false, broken: b });
    if (forged) return fail({ entry: null, n: forged.n, problem: 'altered', expected: 'a checkpoint signed by this gateway', found: `checkpoint ${forged.id} with a bad signature` });

    let n = trim ? trim.n : 0;
    let prev = trim ? trim.hash : GENESIS;
    let seenLatest = !latest || latest.n <= n;
    let cursor = '-';
    for (;;) {
      const rows = await this.redis.xrange(this.k.evidence(chain), cursor, '+', 'COUNT', 1000);
      if (!rows.length) break;
      for (const [id, fields] of rows) {
        const f = fieldMap(fields);
        const en = Number(f.n);
        if (!f.e || !f.h || !f.p || !Number.isInteger(en)) return fail({ entry: id, n: n + 1, problem: 'unreadable', expected: 'fields n, p, h, e', found: Object.keys(f).join(', ') });
        if (en !== n + 1) return fail({ entry: id, n: n + 1, problem: 'missing', expected: `entry n=${n + 1}`, found: `entry n=${en}` });
        if (f.p !== prev) return fail({ entry: id, n: en, problem: 'relinked', expected: `link to ${prev}`, found: `link to ${f.p}` });
        const h = linkHash(en, f.p, f.e);
        if (h !== f.h) return fail({ entry: id, n: en, problem: 'altered', expected: `hash ${h} of its content`, found: `stored hash ${f.h}` });
        if (latest && en === latest.n) {
          if (h !== latest.hash) return fail({ entry: id, n: en, problem: 'altered', expected: `hash ${latest.hash} (checkpoint of ${new Date(latest.at).toISOString()})`, found: h });
          seenLatest = true;
        }
        n = en;
        prev = h;
        report.checked++;
      }
      cursor = `(${rows.at(-1)![0]}`;
    }
    report.to = n;
    if (!seenLatest && latest) {
      return fail({ entry: null, n: n + 1, problem: 'truncated', expected: `entries up to n=${latest.n} (checkpoint of ${new Date(latest.at).toISOString()})`, found: `the chain ends at n=${n}` });
    }
    const head = await this.log.head(chain);
    if (head.n > n) return fail({ entry: null, n: n + 1, problem: 'truncated', expected: `entries up to n=${head.n} (the chain's head)`, found: `the chain ends at n=${n}` });
    return report;
  }
}

export type { Checkpoint };
