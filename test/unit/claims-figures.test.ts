import { describe, expect, it } from 'vitest';
import { claimFigures, figure, localMidnight, median, monthRange, percentile, previousMonth } from '../../src/claims/figures.js';
import { ConfigError, parseConfig } from '../../src/config/config.js';
import { decide, openClaim, type ClaimCommand } from '../../src/domain/claims.js';

const H = 3600_000;
const STAFF = { type: 'staff' as const, id: 's', name: 'x' };

describe('monthly report arithmetic', () => {
  it('cuts months at local midnight, in zones with and without summer time', () => {
    expect(monthRange('2026-11', 'Asia/Shanghai')).toEqual({ from: Date.UTC(2026, 9, 31, 16), to: Date.UTC(2026, 10, 30, 16) });
    expect(monthRange('2026-12', 'Asia/Shanghai').to).toBe(Date.UTC(2026, 11, 31, 16));
    // Berlin: UTC+1 in March until the 29th, UTC+2 in April
    expect(monthRange('2026-04', 'Europe/Berlin')).toEqual({ from: Date.UTC(2026, 2, 31, 22), to: Date.UTC(2026, 3, 30, 22) });
    expect(localMidnight(2026, 3, 1, 'UTC')).toBe(Date.UTC(2026, 2, 1));
    expect(previousMonth('2026-01')).toBe('2025-12');
    expect(previousMonth('2026-11')).toBe('2026-10');
    expect(() => monthRange('2026-13', 'UTC')).toThrow(RangeError);
  });

  it('takes medians and nearest-rank percentiles', () => {
    expect(median([])).toBeNull();
    expect(median([5, 1, 3])).toBe(3);
    expect(median([40, 10, 20, 30])).toBe(25);
    expect(percentile([10, 20, 30, 40], 0.9)).toBe(40);
    expect(percentile(Array.from({ length: 10 }, (_, i) => i + 1), 0.9)).toBe(9);
    expect(percentile([7], 0.9)).toBe(7);
    expect(figure(5, 2)).toEqual({ value: 5, previous: 2, change: 3 });
    expect(figure(0.6, null)).toEqual({ value: 0.6, previous: null, change: null });
  });

  it("counts each claim's first round from its log, deciding a clock only once it stopped or ran out", () => {
    const policy = { ackMs: 2 * H, resolveMs: 48 * H };
    const t0 = Date.UTC(2026, 10, 2);
    const claim = (steps: [number, ClaimCommand, 'staff' | 'resident'][]) => {
      let { claim: c, event } = openClaim(
        { id: 'c', ref: 'K1', phone: '13800138000', lang: 'zh', channel: 'phone', subject: { parcelId: null, trackingNumber: 'X1', carrier: null, unit: null, compartment: null }, description: 'd' },
        STAFF,
        t0,
      );
      const log = [event];
      for (const [at, cmd, by] of steps) {
        ({ claim: c, event } = decide(c, cmd, by === 'staff' ? STAFF : { type: 'resident', phone: '138****8000' }, t0 + at));
        log.push(event);
      }
      return { claim: c, log };
    };
    const f = claimFigures(
      [
        // acked in 30 min, resolved in 10 h, rated 5, then reopened and still open: unresolved, but its first round counts
        claim([
          [0.5 * H, { action: 'acknowledge' }, 'staff'],
          [10 * H, { action: 'resolve', outcome: { kind: 'found', reason: null } }, 'staff'],
          [11 * H, { action: 'rate', score: 5 }, 'resident'],
          [12 * H, { action: 'reopen', reason: 'no' }, 'resident'],
        ]),
        // acked late (3 h); waited 20 h for the resident; resolved 30 h after opening = 10 h on the clock
        claim([
          [3 * H, { action: 'acknowledge' }, 'staff'],
          [4 * H, { action: 'ask', question: '?' }, 'staff'],
          [24 * H, { action: 'answer', text: '!' }, 'resident'],
          [30 * H, { action: 'resolve', outcome: { kind: 'rejected', reason: 'r' } }, 'staff'],
          [31 * H, { action: 'rate', score: 2 }, 'resident'],
        ]),
        // never acknowledged: past the ack clock (decided, late), the resolve clock still inside (undecided)
        claim([]),
      ],
      policy,
      t0 + 40 * H,
    );
    expect(f).toEqual({
      opened: 3,
      byOutcome: { found: 0, wrong_person: 0, compensated: 0, rejected: 1, other: 0, unresolved: 2 },
      ackMs: { median: 1.75 * H, p90: 3 * H },
      resolveMs: { median: 10 * H, p90: 10 * H },
      withinAck: 1 / 3,
      withinResolve: 1,
      resolutionRate: 1 / 3,
      averageRating: 3.5,
      ratings: 2,
      reopened: 1,
    });
  });
});

describe('claims settings', () => {
  it('defaults to 2 h and 48 h, no duty phones, a sweep every 30 s', () => {
    const c = parseConfig({});
    expect([c.CLAIM_ACK_HOURS, c.CLAIM_RESOLVE_HOURS, c.DUTY_PHONES, c.CLAIM_SWEEP_MS]).toEqual([2, 48, [], 30_000]);
  });

  it('takes duty phones as mainland mobiles, normalised and without repeats', () => {
    expect(parseConfig({ DUTY_PHONES: '+86 139-0000-0001, 13900000002,13900000001' }).DUTY_PHONES).toEqual(['13900000001', '13900000002']);
  });

  it.each([
    [{ DUTY_PHONES: '13900000001,110' }, /DUTY_PHONES: "110" is not a mainland mobile number/],
    [{ CLAIM_ACK_HOURS: '0' }, /CLAIM_ACK_HOURS/],
    [{ CLAIM_ACK_HOURS: '50' }, /CLAIM_ACK_HOURS: must not exceed CLAIM_RESOLVE_HOURS/],
    [{ CLAIM_RESOLVE_HOURS: 'two days' }, /CLAIM_RESOLVE_HOURS/],
    [{ CLAIM_SWEEP_MS: '10' }, /CLAIM_SWEEP_MS/],
  ])('refuses %j naming the key', (env, msg) => {
    expect(() => parseConfig(env)).toThrow(ConfigError);
    expect(() => parseConfig(env)).toThrow(msg);
  });
});
