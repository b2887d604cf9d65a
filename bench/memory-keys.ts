/**
 * Redis memory key by key (MEMORY USAGE, SAMPLES 0: exact), summed by kind: the method of bench/memory.ts, shared
 * with `npm run bench`. Per-parcel kinds only: unit state, command records, the outbox and BullMQ are left out.
 */
import type { Redis } from 'ioredis';

export function kindOf(k: string): string | null {
  if (/^(evidence|evhead|evcheckpoints):/.test(k)) return 'evidence: chains';
  if (k.startsWith('evx:')) return 'evidence: indexes';
  // not per parcel: unit state and logs, commands (records, replay-guard windows, compact-v2 message ids), open-rate
  // windows and lockdowns, the outbox and BullMQ, accounts, sign-in, claims and alerts
  if (/^(outbox|cmd:|cmdwin|events:|unit:|comp:|dedupe:|downm|opens:|lockdown|wrong|kplock|courier|bull|staff|claim|alert|sim:|otp|login|api|deadletter)/.test(k)) {
    return null;
  }
  return `live: ${k.split(':')[0]}`;
}

/** Bytes by kind of every key under `prefix` that `match` names (null: skipped). */
export async function keyBytes(redis: Redis, prefix: string, match: (key: string) => string | null = kindOf): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    const keys = batch.map((key) => ({ key, kind: match(key.slice(prefix.length)) })).filter((k): k is { key: string; kind: string } => k.kind !== null);
    if (!keys.length) continue;
    const p = redis.pipeline();
    for (const k of keys) p.memory('USAGE', k.key, 'SAMPLES', 0);
    const res = (await p.exec()) ?? [];
    keys.forEach((k, i) => out.set(k.kind, (out.get(k.kind) ?? 0) + Number(res[i]?.[1] ?? 0)));
  } while (cursor !== '0');
  return out;
}

/** (after - before) / n per kind, for the kinds `filter` keeps. */
export function perKind(after: Map<string, number>, before: Map<string, number>, n: number, filter: (kind: string) => boolean): [string, number][] {
  return [...after.entries()].filter(([k]) => filter(k)).map(([k, v]) => [k, (v - (before.get(k) ?? 0)) / n]);
}
