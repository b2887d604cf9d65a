import type { Redis } from 'ioredis';
import { ACTIVE_CLAIM_STATES, REOPEN_WINDOW_MS, type Claim, type ClaimEvent } from '../domain/claims.js';
import type { EvidenceEntry } from '../evidence/entry.js';
import { OFFICE_CHAIN } from '../evidence/log.js';
import type { Notice } from '../notify/types.js';
import { keys, type Keys } from './keys.js';
import type { ParcelStore } from './parcels.js';
import type { Check, Op } from './tx.js';
import { fieldMap } from './units.js';

/** A claim with its own log, oldest line first. */
export interface ClaimRecord {
  claim: Claim;
  log: ClaimEvent[];
}

/** A claim's entry in the office evidence chain, as read back for the export. */
export interface ClaimEvidenceItem {
  streamId: string;
  n: number;
  hash: string;
  entry: EvidenceEntry;
}

/**
 * Claims in Redis: each claim is a hash {v, j, state} plus its own log (a list), with indexes by opening time, state,
 * resident phone and unit. Every change is one atomic step (ParcelStore.commit: version check, writes, outbox
 * notices and the evidence entries on the office chain together, or nothing).
 */
export class ClaimStore {
  readonly k: Keys;

  constructor(
    readonly redis: Redis,
    prefix: string,
    private readonly steps: Pick<ParcelStore, 'commit'>,
  ) {
    this.k = keys(prefix);
  }

  async get(id: string): Promise<ClaimRecord | null> {
    const [[, j], [, log]] = (await this.redis.pipeline().hget(this.k.claim(id), 'j').lrange(this.k.claimLog(id), 0, -1).exec()) as [
      [unknown, string | null],
      [unknown, string[]],
    ];
    if (!j) return null;
    return { claim: JSON.parse(j) as Claim, log: log.map((l) => JSON.parse(l) as ClaimEvent) };
  }

  /** Several claims with their logs, in the order asked (missing ones left out). */
  async many(ids: readonly string[]): Promise<ClaimRecord[]> {
    if (!ids.length) return [];
    const pipe = this.redis.pipeline();
    for (const id of ids) pipe.hget(this.k.claim(id), 'j').lrange(this.k.claimLog(id), 0, -1);
    const res = (await pipe.exec()) ?? [];
    const out: ClaimRecord[] = [];
    for (let i = 0; i < ids.length; i++) {
      const j = res[2 * i]?.[1] as string | null;
      const log = (res[2 * i + 1]?.[1] as string[] | undefined) ?? [];
      if (j) out.push({ claim: JSON.parse(j) as Claim, log: log.map((l) => JSON.parse(l) as ClaimEvent) });
    }
    return out;
  }

  /** Ids in an index by opening time, newest first, opened within [from, to]. */
  async opened(index: string, from: number | '-inf', to: number | '+inf', limit: number): Promise<string[]> {
    return this.redis.zrevrangebyscore(index, to, from, 'LIMIT', 0, limit);
  }

  /** Ids in an index by opening time, oldest first (the report and the sweep); bounds as ZRANGEBYSCORE takes them. */
  async openedAsc(index: string, from: number | string, to: number | string): Promise<string[]> {
    return this.redis.zrangebyscore(index, from, to);
  }

  async nextRef(): Promise<string> {
    return `K${String(await this.redis.incr(this.k.claimSeq)).padStart(5, '0')}`;
  }

  /** Resolved claims whose reopening window has ended by `now`. */
  async dueForClosing(now: number, limit = 100): Promise<string[]> {
    return this.redis.zrangebyscore(this.k.claimsAutoClose, '-inf', now, 'LIMIT', 0, limit);
  }

  /** The unresolved claims about a parcel. */
  async activeForParcel(parcelId: string): Promise<string[]> {
    return this.redis.smembers(this.k.claimParcel(parcelId));
  }

  async alertsSent(id: string): Promise<Record<string, string>> {
    return this.redis.hgetall(this.k.claimAlerts(id));
  }

  /**
   * Write a claim change: the claim (checked against the version read), its log line, the indexes, the notices and
   * the evidence entries, in one step. False when the claim changed in between (nothing written): read and decide again.
   */
  async write(before: Claim | null, after: Claim, event: ClaimEvent, extra: { notices: Notice[]; evidence: EvidenceEntry[]; checks?: Check[] }): Promise<boolean> {
    const k = this.k;
    const id = after.id;
    const checks: Check[] = [{ key: k.claim(id), field: 'v', equals: before ? String(before.v) : null }, ...(extra.checks ?? [])];
    const ops: Op[] = [
      ['HSET', k.claim(id), 'v', after.v + 1, 'j', JSON.stringify({ ...after, v: after.v + 1 }), 'state', after.state],
      ['RPUSH', k.claimLog(id), JSON.stringify(event)],
    ];
    if (!before) {
      ops.push(['ZADD', k.claims, after.openedAt, id], ['ZADD', k.claimsByPhone(after.phone), after.openedAt, id]);
      if (after.subject.unit) ops.push(['ZADD', k.claimsByUnit(after.subject.unit), after.openedAt, id]);
    }
    if (!before || before.state !== after.state) {
      if (before) ops.push(['ZREM', k.claimsByState(before.state), id]);
      ops.push(['ZADD', k.claimsByState(after.state), after.openedAt, id]);
    }
    const parcel = after.subject.parcelId;
    const wasActive = before !== null && ACTIVE_CLAIM_STATES.has(before.state);
    const isActive = ACTIVE_CLAIM_STATES.has(after.state);
    if (parcel && isActive && !wasActive) ops.push(['SADD', k.claimParcel(parcel), id]);
    if (parcel && wasActive && !isActive) ops.push(['SREM', k.claimParcel(parcel), id]);
    if (after.state === 'resolved' && after.resolvedAt !== null) ops.push(['ZADD', k.claimsAutoClose, after.resolvedAt + REOPEN_WINDOW_MS, id]);
    else if (before?.state === 'resolved' && after.state !== 'resolved') ops.push(['ZREM', k.claimsAutoClose, id]);
    for (const n of extra.notices) ops.push(['XADD', k.outbox, '*', 'type', 'notice', 'notice', JSON.stringify(n)]);
    return this.steps.commit(OFFICE_CHAIN, extra.evidence, checks, ops);
  }

  /** Record an alert as sent, with its notices, once: false if it was sent already or the claim moved on. */
  async alert(claim: Claim, key: string, at: number, notices: Notice[], evidence: EvidenceEntry[]): Promise<boolean> {
    const k = this.k;
    const checks: Check[] = [
      { key: k.claim(claim.id), field: 'v', equals: String(claim.v) },
      { key: k.claimAlerts(claim.id), field: key, equals: null },
    ];
    const ops: Op[] = [['HSET', k.claimAlerts(claim.id), key, at], ...notices.map((n): Op => ['XADD', k.outbox, '*', 'type', 'notice', 'notice', JSON.stringify(n)])];
    return this.steps.commit(OFFICE_CHAIN, evidence, checks, ops);
  }

  /** A claim's entries in the office chain, in order (those trimmed by retention are gone). */
  async evidence(id: string): Promise<ClaimEvidenceItem[]> {
    const ids = await this.redis.lrange(this.k.evClaim(id), 0, -1);
    if (!ids.length) return [];
    const stream = this.k.evidence(OFFICE_CHAIN);
    const pipe = this.redis.pipeline();
    for (const sid of ids) pipe.xrange(stream, sid, sid);
    const rows = ((await pipe.exec()) ?? []).map(([, r]) => (r as [string, string[]][] | undefined)?.[0]).filter((r) => r !== undefined);
    return rows.map(([streamId, fields]) => {
      const f = fieldMap(fields);
      return { streamId, n: Number(f.n), hash: f.h ?? '', entry: JSON.parse(f.e ?? '{}') as EvidenceEntry };
    });
  }
}
