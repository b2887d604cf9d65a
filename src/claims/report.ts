import type { Clock } from '../domain/clock.js';
import type { ClockPolicy } from '../domain/claim-clocks.js';
import { OUTCOMES } from '../domain/claims.js';
import type { Parcel } from '../domain/parcel.js';
import type { ClaimStore } from '../store/claims.js';
import type { ParcelStore } from '../store/parcels.js';
import { monthSeries, type MonthlyCharts } from './series.js';
import { claimFigures, figure, lockerFigures, monthRange, previousMonth, round, type ClaimFigures, type Figure, type LockerFigures } from './figures.js';

export interface MonthlyReport {
  month: string;
  previousMonth: string;
  timeZone: string;
  /** the month, local to the time zone: [from, to) */
  from: number;
  to: number;
  /** the figures are as of this time (claims opened in the month and still open may change them) */
  asOf: number;
  claims: {
    opened: Figure;
    byOutcome: Record<string, Figure>;
    timeToAcknowledgeMs: { median: Figure; p90: Figure };
    timeToResolveMs: { median: Figure; p90: Figure };
    withinAckClock: Figure;
    withinResolveClock: Figure;
    resolutionRate: Figure;
    averageRating: Figure;
    ratings: Figure;
    reopened: Figure;
  };
  lockers: { deposits: Figure; collections: Figure; overdue: Figure; returns: Figure };
  definitions: Record<string, string>;
}

const DEFINITIONS: Record<string, string> = {
  claims: 'claims opened in the month (local time), with what has become of them as of asOf',
  byOutcome: 'the outcome of the latest resolution; unresolved: not resolved (or reopened) as of asOf',
  timeToAcknowledgeMs: 'opening to acknowledgement, first round; median (mean of the two middle values for an even count) and 90th percentile (nearest rank)',
  timeToResolveMs: 'opening to resolution on the resolve clock (time waiting for the resident left out), first round',
  withinAckClock: 'share of decided ack clocks (stopped, or run out) that stopped within CLAIM_ACK_HOURS, 0 to 1',
  withinResolveClock: 'the same for CLAIM_RESOLVE_HOURS',
  resolutionRate: 'share of the claims opened that are resolved or closed as of asOf, 0 to 1',
  averageRating: "mean of the residents' ratings (1 to 5) of these claims; ratings: how many rated",
  lockers: 'parcels stored (deposits), collected, past their deadline while still inside (overdue), taken back by couriers (returns), in the month',
  change: 'value minus previous',
};

/** GET /v1/admin/reports/monthly: the month's claims and lockers, each figure beside the previous month's. */
export class MonthlyReports {
  constructor(
    private readonly d: { claims: ClaimStore; parcels: ParcelStore; clock: Clock; timeZone: string; clockPolicy: ClockPolicy },
  ) {}

  async monthly(month: string): Promise<MonthlyReport> {
    const asOf = this.d.clock.now();
    const prev = previousMonth(month);
    const cur = monthRange(month, this.d.timeZone);
    const before = monthRange(prev, this.d.timeZone);
    const [c, p] = await Promise.all([this.claimFigures(cur.from, cur.to, asOf), this.claimFigures(before.from, before.to, asOf)]);
    const parcels = await this.parcelsTouching(before.from, cur.to);
    const lc = lockerFigures(parcels, cur.from, cur.to, asOf);
    const lp = lockerFigures(parcels, before.from, before.to, asOf);
    const r = (n: number | null) => (n === null ? null : round(n));
    return {
      month,
      previousMonth: prev,
      timeZone: this.d.timeZone,
      from: cur.from,
      to: cur.to,
      asOf,
      claims: {
        opened: figure(c.opened, p.opened),
        byOutcome: Object.fromEntries([...OUTCOMES, 'unresolved'].map((o) => [o, figure(c.byOutcome[o as keyof ClaimFigures['byOutcome']], p.byOutcome[o as keyof ClaimFigures['byOutcome']])])),
        timeToAcknowledgeMs: { median: figure(c.ackMs.median, p.ackMs.median), p90: figure(c.ackMs.p90, p.ackMs.p90) },
        timeToResolveMs: { median: figure(c.resolveMs.median, p.resolveMs.median), p90: figure(c.resolveMs.p90, p.resolveMs.p90) },
        withinAckClock: figure(r(c.withinAck), r(p.withinAck)),
        withinResolveClock: figure(r(c.withinResolve), r(p.withinResolve)),
        resolutionRate: figure(r(c.resolutionRate), r(p.resolutionRate)),
        averageRating: figure(r(c.averageRating), r(p.averageRating)),
        ratings: figure(c.ratings, p.ratings),
        reopened: figure(c.reopened, p.reopened),
      },
      lockers: Object.fromEntries((['deposits', 'collections', 'overdue', 'returns'] as (keyof LockerFigures)[]).map((k) => [k, figure(lc[k], lp[k])])) as MonthlyReport['lockers'],
      definitions: DEFINITIONS,
    };
  }

  /** The report's charts: claims, collections and deposits per day, and the time to resolve, beside the month before. */
  async charts(month: string): Promise<MonthlyCharts> {
    const asOf = this.d.clock.now();
    const prev = previousMonth(month);
    const cur = monthRange(month, this.d.timeZone);
    const before = monthRange(prev, this.d.timeZone);
    const [c, p, parcels] = await Promise.all([this.records(cur.from, cur.to), this.records(before.from, before.to), this.parcelsTouching(before.from, cur.to)]);
    const series = (claims: typeof c, range: typeof cur) => monthSeries(claims, parcels, range, this.d.timeZone, this.d.clockPolicy, asOf);
    return { month, previousMonth: prev, current: series(c, cur), previous: series(p, before) };
  }

  private async records(from: number, to: number) {
    return this.d.claims.many(await this.d.claims.openedAsc(this.d.claims.k.claims, from, `(${to}`));
  }

  private async claimFigures(from: number, to: number, asOf: number): Promise<ClaimFigures> {
    return claimFigures(await this.records(from, to), this.d.clockPolicy, asOf);
  }

  /**
   * Every parcel that may have done something in [from, to): those ended since `from` (ended parcels are indexed by
   * end time) and those still live that were created before `to`.
   */
  private async parcelsTouching(from: number, to: number): Promise<Parcel[]> {
    const ps = this.d.parcels;
    const [ended, live] = await Promise.all([ps.redis.zrangebyscore(ps.k.ended, from, '+inf'), ps.redis.zrangebyscore(ps.k.live, '-inf', `(${to}`)]);
    const ids = [...new Set([...ended, ...live])];
    const out: Parcel[] = [];
    for (let i = 0; i < ids.length; i += 500) out.push(...(await ps.parcels(ids.slice(i, i + 500))));
    return out;
  }
}
