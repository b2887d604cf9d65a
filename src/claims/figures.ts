/**
 * The monthly report's arithmetic, pure: months in the community's time zone, the claims' figures computed from
 * each claim's own log, the lockers' figures from the parcels, and each figure beside the previous month's.
 */
import { claimClocks, type ClockPolicy } from '../domain/claim-clocks.js';
import { OUTCOMES, type Claim, type ClaimEvent, type OutcomeKind } from '../domain/claims.js';
import type { Parcel } from '../domain/parcel.js';
import { localParts } from '../notify/localtime.js';

export const MONTH_RE = /^(\d{4})-(0[1-9]|1[0-2])$/;

/** The instant whose wall clock in `timeZone` is y-m-d 00:00 (no fixed offsets: zones with summer time work too). */
export function localMidnight(y: number, m: number, d: number, timeZone: string): number {
  const want = Date.UTC(y, m - 1, d);
  let t = want;
  for (let i = 0; i < 3; i++) {
    const p = localParts(t, timeZone);
    const diff = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - want;
    if (diff === 0) break;
    t -= diff;
  }
  return t;
}

/** [from, to) of a month `YYYY-MM`, local to the zone. */
export function monthRange(month: string, timeZone: string): { from: number; to: number } {
  const m = MONTH_RE.exec(month);
  if (!m) throw new RangeError(`not a month (YYYY-MM): ${month}`);
  const y = Number(m[1]);
  const mo = Number(m[2]);
  return { from: localMidnight(y, mo, 1, timeZone), to: mo === 12 ? localMidnight(y + 1, 1, 1, timeZone) : localMidnight(y, mo + 1, 1, timeZone) };
}

export function previousMonth(month: string): string {
  const [y, m] = month.split('-').map(Number) as [number, number];
  return m === 1 ? `${y - 1}-12` : `${y}-${String(m - 1).padStart(2, '0')}`;
}

/** Median: the middle value, or the mean of the two middle values. */
export function median(values: readonly number[]): number | null {
  if (!values.length) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Nearest-rank percentile: the smallest value with at least p of the values at or below it. */
export function percentile(values: readonly number[], p: number): number | null {
  if (!values.length) return null;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil(p * s.length) - 1)]!;
}

const share = (n: number, of: number): number | null => (of ? n / of : null);

export interface ClaimFigures {
  opened: number;
  byOutcome: Record<OutcomeKind | 'unresolved', number>;
  ackMs: { median: number | null; p90: number | null };
  resolveMs: { median: number | null; p90: number | null };
  withinAck: number | null;
  withinResolve: number | null;
  resolutionRate: number | null;
  averageRating: number | null;
  ratings: number;
  reopened: number;
}

/** The log up to the first reopening: the first round, which the response and resolution figures are about. */
export function firstRound(log: readonly ClaimEvent[]): ClaimEvent[] {
  const i = log.findIndex((e, n) => n > 0 && e.to === 'open' && e.from !== 'open');
  return i < 0 ? [...log] : log.slice(0, i);
}

/**
 * Figures of the claims opened in a month (a cohort), as of `asOf`. Times are clock times of the first round (the
 * resolve time leaves out waiting for the resident). A clock counts toward "within" once decided: stopped, or run
 * out while still counting; a claim still inside its time is not counted yet.
 */
export function claimFigures(records: readonly { claim: Claim; log: readonly ClaimEvent[] }[], policy: ClockPolicy, asOf: number): ClaimFigures {
  const byOutcome = Object.fromEntries([...OUTCOMES, 'unresolved'].map((o) => [o, 0])) as ClaimFigures['byOutcome'];
  const ack: number[] = [];
  const resolve: number[] = [];
  const decided = { ack: 0, ackMet: 0, resolve: 0, resolveMet: 0 };
  const ratings: number[] = [];
  let reopened = 0;
  for (const { claim, log } of records) {
    const resolved = claim.state === 'resolved' || claim.state === 'closed';
    byOutcome[resolved && claim.outcome ? claim.outcome.kind : 'unresolved']++;
    if (claim.rating) ratings.push(claim.rating.score);
    if (claim.reopened > 0) reopened++;
    const clocks = claimClocks(firstRound(log), policy, asOf);
    for (const [c, times, key] of [
      [clocks.ack, ack, 'ack'],
      [clocks.resolve, resolve, 'resolve'],
    ] as const) {
      if (c.stoppedAt !== null) times.push(c.elapsedMs);
      if (c.stoppedAt !== null || c.stage === 'breached') {
        decided[key]++;
        if (c.met) decided[`${key}Met`]++;
      }
    }
  }
  const opened = records.length;
  return {
    opened,
    byOutcome,
    ackMs: { median: median(ack), p90: percentile(ack, 0.9) },
    resolveMs: { median: median(resolve), p90: percentile(resolve, 0.9) },
    withinAck: share(decided.ackMet, decided.ack),
    withinResolve: share(decided.resolveMet, decided.resolve),
    resolutionRate: share(opened - byOutcome.unresolved, opened),
    averageRating: ratings.length ? ratings.reduce((a, b) => a + b, 0) / ratings.length : null,
    ratings: ratings.length,
    reopened,
  };
}

export interface LockerFigures {
  deposits: number;
  collections: number;
  overdue: number;
  returns: number;
}

/**
 * What the lockers did in [from, to): parcels stored (deposits), collected, gone past their deadline (overdue: the
 * deadline fell in the month and the parcel was still inside then), and taken back by couriers (returns).
 */
export function lockerFigures(parcels: readonly Parcel[], from: number, to: number, asOf: number): LockerFigures {
  const inMonth = (t: number | null) => t !== null && t >= from && t < to;
  const out: LockerFigures = { deposits: 0, collections: 0, overdue: 0, returns: 0 };
  for (const p of parcels) {
    if (inMonth(p.storedAt)) out.deposits++;
    if (p.state === 'collected' && inMonth(p.endedAt)) out.collections++;
    if (p.state === 'returned' && inMonth(p.endedAt)) out.returns++;
    if (p.storedAt !== null && p.deadline !== null && inMonth(p.deadline) && p.deadline <= asOf && (p.endedAt === null || p.endedAt > p.deadline)) out.overdue++;
  }
  return out;
}

export interface Figure {
  value: number | null;
  previous: number | null;
  /** value − previous (null when either is unknown) */
  change: number | null;
}

export const figure = (value: number | null, previous: number | null): Figure => ({
  value,
  previous,
  change: value !== null && previous !== null ? round(value - previous) : null,
});

/** Shares and averages to 4 decimals: enough for a report, and stable to compare. */
export const round = (n: number) => Math.round(n * 10_000) / 10_000;
