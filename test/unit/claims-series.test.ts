import { describe, expect, it } from 'vitest';
import { monthRange } from '../../src/claims/figures.js';
import { bucketCounts, daysIn, monthSeries, perDay, RESOLVE_BUCKETS } from '../../src/claims/series.js';
import { decide, openClaim, type Claim, type ClaimEvent } from '../../src/domain/claims.js';
import type { Parcel } from '../../src/domain/parcel.js';
import { niceMax } from '../../src/http/console/charts.js';

const H = 3600_000;
const TZ = 'Asia/Shanghai';
const STAFF = { type: 'staff' as const, id: 's', name: 'x' };

function claim(openedAt: number, steps: [number, 'acknowledge' | 'ask' | 'investigate' | 'resolve'][]): { claim: Claim; log: ClaimEvent[] } {
  let { claim: c, event } = openClaim(
    { id: 'c', ref: 'K1', phone: '13800138000', lang: 'zh', channel: 'phone', subject: { parcelId: null, trackingNumber: 'X1', carrier: null, unit: null, compartment: null }, description: 'd' },
    STAFF,
    openedAt,
  );
  const log = [event];
  for (const [at, action] of steps) {
    const cmd = action === 'resolve' ? { action, outcome: { kind: 'found' as const, reason: null } } : action === 'ask' ? { action, question: 'q?' } : { action };
    ({ claim: c, event } = decide(c, cmd, STAFF, at));
    log.push(event);
  }
  return { claim: c, log };
}

describe("the monthly report's charts, as numbers", () => {
  it('counts per local day of the month, whatever the UTC date', () => {
    const nov = monthRange('2026-11', TZ);
    expect(daysIn(nov.to, TZ)).toBe(30);
    expect(daysIn(monthRange('2026-02', TZ).to, TZ)).toBe(28);
    expect(daysIn(monthRange('2028-02', TZ).to, TZ)).toBe(29);
    // 1 Nov 00:30 Shanghai is still 31 Oct in UTC; 30 Nov 23:59 Shanghai is the last day; 1 Dec is out
    const days = perDay([nov.from + 30 * 60_000, nov.from + 30 * 60_000 + 1, nov.to - 60_000, nov.to, nov.from - 1, null], nov.from, nov.to, TZ);
    expect(days).toHaveLength(30);
    expect(days[0]).toBe(2);
    expect(days[29]).toBe(1);
    expect(days.reduce((a, b) => a + b, 0)).toBe(3);
  });

  it('buckets the time to resolve, leaving out the time waiting for the resident', () => {
    expect(bucketCounts([0, H - 1, H, 23 * H, 24 * H, 71 * H, 72 * H, 500 * H])).toEqual([2, 1, 0, 1, 1, 1, 2]);
    expect(RESOLVE_BUCKETS.at(-1)!.below).toBe(Infinity);
    const nov = monthRange('2026-11', TZ);
    const t0 = nov.from + 24 * H;
    const policy = { ackMs: 2 * H, resolveMs: 48 * H };
    const claims = [
      // 30 h open, of which 20 h waiting for the resident: 10 h on the clock (4–12 h)
      claim(t0, [[t0 + H, 'acknowledge'], [t0 + 2 * H, 'ask'], [t0 + 22 * H, 'investigate'], [t0 + 30 * H, 'resolve']]),
      claim(t0 + 5 * H, [[t0 + 5.5 * H, 'acknowledge'], [t0 + 5.8 * H, 'resolve']]),
      claim(t0, [[t0 + H, 'acknowledge']]), // not resolved: not in the distribution
    ];
    const collected = { state: 'collected', storedAt: t0, endedAt: t0 + 2 * 24 * H } as Parcel;
    const s = monthSeries(claims, [collected, { state: 'stored', storedAt: t0, endedAt: null } as Parcel], nov, TZ, policy, t0 + 40 * H);
    expect(s.resolveBuckets).toEqual([1, 0, 1, 0, 0, 0, 0]);
    expect(s.claimsOpened[1]).toBe(3);
    expect(s.deposits[1]).toBe(2);
    expect(s.collections[3]).toBe(1);
    expect(s.collections.reduce((a, b) => a + b, 0)).toBe(1);
  });

  it('tops the scale of a chart at 1, 2 or 5 times a power of ten', () => {
    expect([0, 1, 3, 7, 10, 11, 48, 260].map(niceMax)).toEqual([1, 1, 5, 10, 10, 20, 50, 500]);
  });
});
