/**
 * The end of a soak: with faults stopped and the system settled, what Redis, the simulators' hardware, the
 * receiver and the evidence chain say, against what the people did (the ledger).
 */
import type { Redis } from 'ioredis';
import { UNITS } from '../../devices/units.js';
import { systemClock } from '../../src/domain/clock.js';
import type { Parcel } from '../../src/domain/parcel.js';
import { Evidence, EvidenceLog } from '../../src/evidence/index.js';
import { silentLogger } from '../../src/log.js';
import { decodeParcel } from '../../src/store/records.js';
import { jobIdFor } from '../../src/notify/notifier.js';
import { attributeOpenings } from './doors.js';
import type { Ledger } from './ledger.js';
import type { Receiver } from './receiver.js';
import type { Sims } from './sims.js';

const LIVE = new Set(['reserved', 'depositing', 'stored', 'collecting', 'expired', 'returning']);

export async function allParcels(redis: Redis, prefix: string): Promise<Parcel[]> {
  const out: Parcel[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}parcel:*`, 'COUNT', 1000);
    cursor = next;
    if (!keys.length) continue;
    // the store's own decoding: one field an attribute since issue 12, a JSON `j` field before
    const hs = await redis.pipeline(keys.map((k) => ['hgetall', k])).exec();
    for (const [err, h] of hs ?? []) {
      const p = err ? null : decodeParcel(h as Record<string, string>);
      if (p) out.push(p);
    }
  } while (cursor !== '0');
  return out;
}

/** The notices (as job ids = Idempotency-Keys) a parcel's history calls for; the courier has a webhook. */
export function expectedKeys(p: Parcel): string[] {
  const keys: string[] = [];
  const three = (tag: string) => [jobIdFor(`${p.id}.${tag}`, 'sms'), jobIdFor(`${p.id}.${tag}.property`, 'webhook'), jobIdFor(`${p.id}.${tag}.courier`, 'webhook')];
  if (p.storedAt) keys.push(...three('stored'));
  if (p.state === 'collected') keys.push(...three('collected'));
  if (p.state === 'cancelled') keys.push(jobIdFor(`${p.id}.deposit-cancelled.property`, 'webhook'), jobIdFor(`${p.id}.deposit-cancelled.courier`, 'webhook'));
  if (p.state === 'missing') keys.push(jobIdFor(`${p.id}.missing.property`, 'webhook'));
  return keys;
}

/** Notices the receiver still lacks (for settling). */
export async function missingNotices(redis: Redis, prefix: string, receiver: Receiver): Promise<string[]> {
  const parcels = await allParcels(redis, prefix);
  return parcels.flatMap(expectedKeys).filter((k) => !receiver.byKey.has(k));
}

export interface Findings {
  parcels: { total: number; byState: Record<string, number> };
  deposited: number;
  collected: number;
  stillInLocker: number;
  parcelsLost: string[];
  pickupsNotRecorded: string[];
  unaccountedOccupied: string[];
  phantomParcels: string[];
  stuckTransient: string[];
  doubleAssignments: string[];
  doorsOpenedTwice: { deposit: string[]; pickup: string[]; afterCollection: string[]; unexplained: string[] };
  codeReplays: number;
  notices: {
    expected: number;
    delivered: number;
    lost: string[];
    unexpected: string[];
    reissuedCodes: number;
    /** staff alerts sent to the property webhook (units offline, doors left open: the faults cause them) */
    staffAlerts: number;
    redeliveredExplained: number;
    duplicates: string[];
  };
  chain: { ok: boolean; chains: number; entries: number; broken: string[] };
}

export async function check(o: {
  redis: Redis;
  prefix: string;
  ledger: Ledger;
  sims: Sims;
  receiver: Receiver;
  codeKey: Buffer;
  /** when the gateway or Redis was killed: a delivery repeated after one is explained */
  kills: number[];
}): Promise<Findings> {
  const { redis, prefix, ledger } = o;
  const parcels = await allParcels(redis, prefix);
  const byId = new Map(parcels.map((p) => [p.id, p]));
  const byState: Record<string, number> = {};
  for (const p of parcels) byState[p.state] = (byState[p.state] ?? 0) + 1;
  const snaps = new Map<string, Awaited<ReturnType<Sims['snapshot']>>>();
  for (const u of UNITS) snaps.set(u.id, await o.sims.snapshot(u.id));

  // ---- parcels: what the people did against what Redis and the hardware say ----
  const lost: string[] = [];
  const notRecorded: string[] = [];
  const inLocker = new Set<string>();
  let deposited = 0;
  let collected = 0;
  let still = 0;
  for (const life of ledger.lives) {
    if (!life.parcelId || life.physical === 'none') continue;
    deposited++;
    const p = byId.get(life.parcelId);
    const t = life.tenancies.find((x) => x.parcelId === life.parcelId)!;
    if (life.physical === 'out') {
      if (p?.state === 'collected') collected++;
      else notRecorded.push(`${life.parcelId} taken out of ${t.unit} #${t.no}, gateway says ${p?.state ?? 'nothing'}`);
      continue;
    }
    still++;
    inLocker.add(`${t.unit}:${t.no}`);
    const occupied = snaps.get(t.unit)?.doors[t.no]?.occupied === true;
    if (!occupied || !p || !LIVE.has(p.state) || p.unit !== t.unit || p.compartment !== t.no) {
      lost.push(`${life.parcelId} put in ${t.unit} #${t.no} (sensor ${occupied ? 'occupied' : 'EMPTY'}), gateway says ${p ? `${p.state} at ${p.unit} #${p.compartment}` : 'nothing'}`);
    }
  }
  const unaccounted: string[] = [];
  for (const [unit, s] of snaps) {
    for (const [no, d] of Object.entries(s.doors)) if (d.occupied && !inLocker.has(`${unit}:${no}`)) unaccounted.push(`${unit} #${no}`);
  }
  const phantom: string[] = [];
  const stuck: string[] = [];
  const live = new Map<string, string[]>();
  for (const p of parcels) {
    if (!LIVE.has(p.state)) continue;
    const key = `${p.unit}:${p.compartment}`;
    live.set(key, [...(live.get(key) ?? []), p.id]);
    if (p.state !== 'stored') stuck.push(`${p.id} ${p.state} at ${p.unit} #${p.compartment}`);
    if (p.state === 'stored' && snaps.get(p.unit)?.doors[p.compartment]?.occupied !== true) phantom.push(`${p.id} stored at ${p.unit} #${p.compartment}, sensor empty`);
  }
  const doubles = [
    ...ledger.doubles.map((d) => `${d.unit} #${d.no}: ${d.newcomer} given while ${d.holder} was ${d.holderState ?? 'held'}`),
    ...[...live].filter(([, ids]) => ids.length > 1).map(([k, ids]) => `${k}: live together ${ids.join(', ')}`),
  ];

  // ---- door openings, each attributed to one compartment use (doors.ts) ----
  const opened = attributeOpenings(ledger.tenancies, o.sims.openings);

  // ---- notices, counted by Idempotency-Key ----
  const expected = new Set(parcels.flatMap(expectedKeys));
  const kills = [...o.kills].sort((a, b) => a - b);
  const killBetween = (a: number, b: number) => kills.some((k) => k >= a && k <= b);
  let redelivered = 0;
  const duplicates: string[] = [];
  let reissued = 0;
  let alerts = 0;
  const unexpected: string[] = [];
  for (const rec of o.receiver.byKey.values()) {
    if (!expected.has(rec.key)) {
      if (/\.code-/.test(rec.noticeId)) reissued++;
      else if (rec.noticeId.startsWith('alert.')) alerts++;
      else unexpected.push(`${rec.key} (${rec.path})`);
    }
    for (let i = 1; i < rec.deliveries.length; i++) {
      const prev = rec.deliveries[i - 1]!;
      const cur = rec.deliveries[i]!;
      if (prev.answerLost || killBetween(prev.at - 50, cur.at)) redelivered++;
      else duplicates.push(`${rec.key}: delivered again ${cur.at - prev.at} ms after an answered delivery`);
    }
  }
  const lostNotices = [...expected].filter((k) => !o.receiver.byKey.has(k));

  // ---- the evidence chain (npm run verify) ----
  const log = new EvidenceLog(redis, prefix);
  const evidence = new Evidence(log, { redis, prefix, secret: o.codeKey, clock: systemClock, logger: silentLogger, retentionDays: 180 });
  const reports = await evidence.verifier.verifyAll();
  const broken = reports.filter((r) => !r.ok).map((r) => `${r.chain}: ${r.broken?.problem} at n=${r.broken?.n}`);

  return {
    parcels: { total: parcels.length, byState },
    deposited,
    collected,
    stillInLocker: still,
    parcelsLost: lost,
    pickupsNotRecorded: notRecorded,
    unaccountedOccupied: unaccounted,
    phantomParcels: phantom,
    stuckTransient: stuck,
    doubleAssignments: doubles,
    doorsOpenedTwice: opened,
    codeReplays: ledger.tenancies.filter((t) => t.replayAt).length,
    notices: {
      expected: expected.size,
      delivered: [...expected].filter((k) => o.receiver.byKey.has(k)).length,
      lost: lostNotices,
      unexpected,
      reissuedCodes: reissued,
      staffAlerts: alerts,
      redeliveredExplained: redelivered,
      duplicates,
    },
    chain: { ok: reports.length > 0 && broken.length === 0, chains: reports.length, entries: reports.reduce((n, r) => n + r.checked, 0), broken },
  };
}

/** Each invariant, true when it holds. */
export function invariants(f: Findings): Record<string, boolean> {
  return {
    'every deposited parcel is collected or still in its occupied compartment': f.parcelsLost.length === 0 && f.pickupsNotRecorded.length === 0 && f.unaccountedOccupied.length === 0 && f.phantomParcels.length === 0,
    'no compartment given to two parcels at once': f.doubleAssignments.length === 0,
    'no code opened a door twice': f.doorsOpenedTwice.pickup.length === 0 && f.doorsOpenedTwice.afterCollection.length === 0 && f.doorsOpenedTwice.deposit.length === 0,
    'each notice reached the receiver exactly once (by Idempotency-Key)': f.notices.lost.length === 0 && f.notices.unexpected.length === 0 && f.notices.duplicates.length === 0,
    'the evidence chain verifies': f.chain.ok,
    'nothing left half-way (reserved, depositing, collecting)': f.stuckTransient.length === 0,
  };
}
