/**
 * The monthly report's charts, as numbers: what happened on each day of the month (local to the community's time
 * zone) and how long claims took to resolve, beside the previous month. Pure: the report reads, this counts.
 */
import { claimClocks, type ClockPolicy } from '../domain/claim-clocks.js';
import type { Claim, ClaimEvent } from '../domain/claims.js';
import type { Parcel } from '../domain/parcel.js';
import { localParts } from '../notify/localtime.js';
import { firstRound } from './figures.js';

const H = 3600_000;

/** Resolution-time buckets: [label, upper bound in ms) — the last is open-ended. */
export const RESOLVE_BUCKETS: readonly { zh: string; en: string; below: number }[] = [
  { zh: '1 小时内', en: '< 1 h', below: H },
  { zh: '1–4 小时', en: '1–4 h', below: 4 * H },
  { zh: '4–12 小时', en: '4–12 h', below: 12 * H },
  { zh: '12–24 小时', en: '12–24 h', below: 24 * H },
  { zh: '1–2 天', en: '1–2 days', below: 48 * H },
  { zh: '2–3 天', en: '2–3 days', below: 72 * H },
  { zh: '3 天以上', en: '≥ 3 days', below: Infinity },
];

/** Days of the month that ends just before `to`, local to the zone (28 to 31). */
export function daysIn(to: number, timeZone: string): number {
  return localParts(to - 1, timeZone).day;
}

/** How many of `times` fall on each day of [from, to) (index 0: the 1st), local to the zone. */
export function perDay(times: readonly (number | null)[], from: number, to: number, timeZone: string): number[] {
  const out = new Array<number>(daysIn(to, timeZone)).fill(0);
  for (const t of times) {
    if (t === null || t < from || t >= to) continue;
    const d = localParts(t, timeZone).day - 1;
    if (d >= 0 && d < out.length) out[d]!++;
  }
  return out;
}

/** First-round resolve-clock times (waiting for the resident left out) of the claims resolved so far. */
export function resolveTimes(records: readonly { claim: Claim; log: readonly ClaimEvent[] }[], policy: ClockPolicy, asOf: number): number[] {
  const out: number[] = [];
  for (const { log } of records) {
    const c = claimClocks(firstRound(log), policy, asOf).resolve;
    if (c.stoppedAt !== null) out.push(c.elapsedMs);
  }
  return out;
}

/** How many values fall in each of RESOLVE_BUCKETS. */
export function bucketCounts(values: readonly number[]): number[] {
  const out = RESOLVE_BUCKETS.map(() => 0);
  for (const v of values) out[RESOLVE_BUCKETS.findIndex((b) => v < b.below)]!++;
  return out;
}

export interface MonthSeries {
  /** claims opened on each day */
  claimsOpened: number[];
  /** parcels collected on each day */
  collections: number[];
  /** parcels stored on each day */
  deposits: number[];
  /** resolved claims of the month's cohort by time to resolve (RESOLVE_BUCKETS) */
  resolveBuckets: number[];
}

export interface MonthlyCharts {
  month: string;
  previousMonth: string;
  current: MonthSeries;
  previous: MonthSeries;
}

/** One month's series from its claims (opened in the month) and the parcels that may have done something in it. */
export function monthSeries(
  claims: readonly { claim: Claim; log: readonly ClaimEvent[] }[],
  parcels: readonly Parcel[],
  range: { from: number; to: number },
  timeZone: string,
  policy: ClockPolicy,
  asOf: number,
): MonthSeries {
  const { from, to } = range;
  return {
    claimsOpened: perDay(claims.map((r) => r.claim.openedAt), from, to, timeZone),
    collections: perDay(parcels.filter((p) => p.state === 'collected').map((p) => p.endedAt), from, to, timeZone),
    deposits: perDay(parcels.map((p) => p.storedAt), from, to, timeZone),
    resolveBuckets: bucketCounts(resolveTimes(claims, policy, asOf)),
  };
}
