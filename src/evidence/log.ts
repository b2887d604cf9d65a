import type { Redis } from 'ioredis';
import { keys, type Keys } from '../store/keys.js';
import { EMPTY_HEAD, linkHash, type ChainHead, type EvidenceEntry } from './entry.js';
import { EVIDENCE_LUA } from './lua.js';

/** The chain a unit's evidence goes to, and the one for staff actions that concern no unit. */
export const unitChain = (unit: string) => `unit:${unit}`;
export const OFFICE_CHAIN = 'office';

/** What a script gets to append: see evidence/lua.ts. */
export interface AppendSpec {
  s: string;
  hk: string;
  n0: number;
  p0: string;
  entries: { e: string; h: string; ix: [string, string][] }[];
}

/** A script found the head moved since the caller hashed against it. */
export class HeadMoved {
  constructor(readonly head: ChainHead) {}
  /** Scripts answer {'head', n, h} when the head moved; anything else is theirs to read. */
  static from(res: unknown): HeadMoved | null {
    if (Array.isArray(res) && res[0] === 'head') return new HeadMoved({ n: Number(res[1]), hash: String(res[2]) });
    return null;
  }
}

const KINDS_BY_COMPARTMENT = new Set(['door-opened', 'door-closed', 'fault', 'alarm', 'command', 'staff-open', 'service']);

/**
 * The one append path of the evidence log. A writer hands its entries and the step that writes its state change;
 * the entries are hashed here against the chain's head and written by that same step (one Lua call), so a change
 * and its evidence are stored together or not at all.
 *
 * Appends to one chain are serialised in this process (a small queue per chain), and the head is cached, so the
 * usual append costs no extra round trip. Another process that appended in between makes the step answer "head
 * moved" before it writes anything; the entries are hashed again against the new head and the step runs again.
 */
export class EvidenceLog {
  readonly k: Keys;
  private readonly heads = new Map<string, ChainHead>();
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(
    readonly redis: Redis,
    readonly prefix: string,
  ) {
    this.k = keys(prefix);
    if (!('lgEvAppend' in redis)) {
      redis.defineCommand('lgEvAppend', {
        numberOfKeys: 0,
        lua: `${EVIDENCE_LUA}
local spec = cjson.decode(ARGV[1])
local moved = ev_check(spec)
if moved then return moved end
ev_write(spec)
return {'ok'}`,
      });
    }
    if (!('lgEvAppendUnless' in redis)) {
      redis.defineCommand('lgEvAppendUnless', {
        numberOfKeys: 0,
        lua: `${EVIDENCE_LUA}
if redis.call('EXISTS', ARGV[2]) == 1 then return {'exists'} end
local spec = cjson.decode(ARGV[1])
local moved = ev_check(spec)
if moved then return moved end
redis.call('SET', ARGV[2], ARGV[3], 'EX', ARGV[4])
ev_write(spec)
return {'ok'}`,
      });
    }
  }

  /** Entries on their own, with no state change (a notice's delivery, a staff action on nothing stored here). */
  async append(chain: string, entries: EvidenceEntry[]): Promise<void> {
    if (!entries.length) return;
    const r = this.redis as Redis & { lgEvAppend(spec: string): Promise<unknown> };
    await this.within(chain, entries, async (spec) => {
      const res = await r.lgEvAppend(JSON.stringify(spec));
      return HeadMoved.from(res) ?? { result: undefined, appended: true };
    });
  }

  /**
   * append() guarded by a marker key, in one step: when `marker` exists nothing is written and false is returned;
   * otherwise the marker is set (`value`, expiring after `ttlS`) and the entries appended together, and true is
   * returned. (A notice's delivery: the job's "sent" key and its evidence, one round trip.)
   */
  async appendUnless(marker: { key: string; value: string; ttlS: number }, chain: string, entries: EvidenceEntry[]): Promise<boolean> {
    const r = this.redis as Redis & { lgEvAppendUnless(spec: string, key: string, value: string, ttl: number): Promise<unknown> };
    return this.within(chain, entries, async (spec) => {
      const res = await r.lgEvAppendUnless(JSON.stringify(spec), marker.key, marker.value, marker.ttlS);
      const moved = HeadMoved.from(res);
      if (moved) return moved;
      const first = Array.isArray(res) && res[0] === 'ok';
      return { result: first, appended: first };
    });
  }

  /**
   * Run `step` with an append spec for `entries` on `chain` (null when there are none). The step answers HeadMoved
   * (nothing written; try again) or its result and whether the entries were written.
   */
  async within<T>(
    chain: string,
    entries: EvidenceEntry[],
    step: (spec: AppendSpec | null) => Promise<HeadMoved | { result: T; appended: boolean }>,
  ): Promise<T> {
    if (!entries.length) {
      const r = await step(null);
      if (r instanceof HeadMoved) throw new Error('a step without evidence reported a moved head');
      return r.result;
    }
    return this.serial(chain, async () => {
      const jsons = entries.map((e) => JSON.stringify(e));
      for (;;) {
        const head = this.heads.get(chain) ?? (await this.head(chain));
        const spec = this.spec(chain, head, entries, jsons);
        const r = await step(spec);
        if (r instanceof HeadMoved) {
          this.heads.set(chain, r.head);
          continue;
        }
        if (r.appended) this.heads.set(chain, { n: head.n + entries.length, hash: spec.entries.at(-1)!.h });
        return r.result;
      }
    });
  }

  /** Run a script that appends to `chain` hashing in Lua itself (reconciliation); the cached head is then stale. */
  async hashedInLua<T>(chain: string, script: () => Promise<T>): Promise<T> {
    return this.serial(chain, async () => {
      try {
        return await script();
      } finally {
        this.heads.delete(chain);
      }
    });
  }

  async head(chain: string): Promise<ChainHead> {
    const [n, h, id] = await this.redis.hmget(this.k.evidenceHead(chain), 'n', 'h', 'id');
    return n ? { n: Number(n), hash: h ?? EMPTY_HEAD.hash, ...(id ? { id } : {}) } : EMPTY_HEAD;
  }

  /** Chains that exist (units' and the office's). */
  async chains(): Promise<string[]> {
    const found: string[] = [];
    let cursor = '0';
    const pattern = `${this.k.evidenceHead('')}*`;
    do {
      const [next, batch] = await this.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 200);
      cursor = next;
      for (const key of batch) found.push(key.slice(this.k.evidenceHead('').length));
    } while (cursor !== '0');
    return found.sort();
  }

  private spec(chain: string, head: ChainHead, entries: EvidenceEntry[], jsons: string[]): AppendSpec {
    let prev = head.hash;
    return {
      s: this.k.evidence(chain),
      hk: this.k.evidenceHead(chain),
      n0: head.n,
      p0: head.hash,
      entries: entries.map((entry, i) => {
        const e = jsons[i]!;
        const h = linkHash(head.n + i + 1, prev, e);
        prev = h;
        return { e, h, ix: this.indexes(entry) };
      }),
    };
  }

  /** Which indexes an entry goes into: its parcel's list, its compartment's and its unit keypad's timelines, its claim's list. */
  indexes(e: EvidenceEntry): [string, string][] {
    const ix: [string, string][] = [];
    if (e.parcel) ix.push(['l', this.k.evParcel(e.parcel)]);
    if (e.unit && e.compartment !== undefined && KINDS_BY_COMPARTMENT.has(e.kind)) ix.push(['z', this.k.evCompartment(e.unit, e.compartment)]);
    if (e.unit && (e.kind === 'code-entered' || e.kind === 'code-checked')) ix.push(['z', this.k.evCodes(e.unit)]);
    // a claim's entries (office chain): its evidence in the export and on the printed page
    if (typeof e.claim === 'string') ix.push(['l', this.k.evClaim(e.claim)]);
    return ix;
  }

  private serial<T>(chain: string, fn: () => Promise<T>): Promise<T> {
    const before = this.queues.get(chain) ?? Promise.resolve();
    const run = before.then(fn, fn);
    const settled = run.catch(() => undefined);
    this.queues.set(chain, settled);
    void settled.then(() => {
      if (this.queues.get(chain) === settled) this.queues.delete(chain);
    });
    return run;
  }
}
