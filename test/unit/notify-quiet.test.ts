import { describe, expect, it } from 'vitest';
import { localParts } from '../../src/notify/localtime.js';
import { inQuietHours, nextAllowed } from '../../src/notify/quiet.js';

const SH = 'Asia/Shanghai';
const night = { start: '22:00', end: '08:00' };
const sh = (local: string) => Date.parse(`${local}+08:00`);

describe('quiet hours (22:00-08:00, Asia/Shanghai)', () => {
  it('lets 21:59 through', () => {
    expect(nextAllowed(sh('2025-11-26T21:59:00'), SH, night)).toBe(sh('2025-11-26T21:59:00'));
  });

  it('moves 22:00 (start is inside) to 08:00 the next day', () => {
    expect(nextAllowed(sh('2025-11-26T22:00:00'), SH, night)).toBe(sh('2025-11-27T08:00:00'));
  });

  it('moves 23:00 to 08:00 the next day, across the month end', () => {
    expect(nextAllowed(sh('2025-11-30T23:00:00'), SH, night)).toBe(sh('2025-12-01T08:00:00'));
  });

  it('moves 03:00 to 08:00 the same day', () => {
    expect(nextAllowed(sh('2025-11-27T03:00:00'), SH, night)).toBe(sh('2025-11-27T08:00:00'));
  });

  it('moves 07:59:59.5 to exactly 08:00:00.000', () => {
    expect(nextAllowed(sh('2025-11-27T07:59:59.500'), SH, night)).toBe(sh('2025-11-27T08:00:00'));
    expect(nextAllowed(sh('2025-11-27T07:59:00'), SH, night)).toBe(sh('2025-11-27T08:00:00'));
  });

  it('lets 08:00 (end is outside) through', () => {
    expect(nextAllowed(sh('2025-11-27T08:00:00'), SH, night)).toBe(sh('2025-11-27T08:00:00'));
  });

  it('does nothing without quiet hours', () => {
    expect(nextAllowed(sh('2025-11-27T03:00:00'), SH, null)).toBe(sh('2025-11-27T03:00:00'));
    expect(inQuietHours(sh('2025-11-27T03:00:00'), SH, null)).toBe(false);
  });

  it('handles a window that does not cross midnight', () => {
    const lunch = { start: '12:00', end: '13:30' };
    expect(nextAllowed(sh('2025-11-27T11:59:00'), SH, lunch)).toBe(sh('2025-11-27T11:59:00'));
    expect(nextAllowed(sh('2025-11-27T12:45:10'), SH, lunch)).toBe(sh('2025-11-27T13:30:00'));
    expect(nextAllowed(sh('2025-11-27T13:30:00'), SH, lunch)).toBe(sh('2025-11-27T13:30:00'));
  });

  it('uses the zone, not a fixed offset: the same instant is quiet in Shanghai and not in Berlin', () => {
    const t = Date.parse('2025-11-26T15:00:00Z'); // 23:00 Shanghai, 16:00 Berlin
    expect(inQuietHours(t, SH, night)).toBe(true);
    expect(inQuietHours(t, 'Europe/Berlin', night)).toBe(false);
    expect(nextAllowed(Date.parse('2025-11-26T22:30:00+01:00'), 'Europe/Berlin', night)).toBe(Date.parse('2025-11-27T08:00:00+01:00'));
  });

  it('lands on local 08:00 across a daylight-saving change (New York, 9 March 2025)', () => {
    expect(nextAllowed(Date.parse('2025-03-08T23:00:00-05:00'), 'America/New_York', night)).toBe(
      Date.parse('2025-03-09T08:00:00-04:00'),
    );
    expect(nextAllowed(Date.parse('2025-11-01T23:00:00-04:00'), 'America/New_York', night)).toBe(
      Date.parse('2025-11-02T08:00:00-05:00'),
    );
  });
});

describe('localParts (answers kept per zone and second)', () => {
  it('gives each zone its own wall clock for the same instant, the same within a second, and copies', () => {
    const t = Date.parse('2025-03-09T06:59:59.250Z');
    const sh = localParts(t, SH);
    expect(sh).toEqual({ year: 2025, month: 3, day: 9, hour: 14, minute: 59, second: 59 });
    expect(localParts(t + 700, SH)).toEqual(sh);
    expect(localParts(t + 750, SH)).toEqual({ year: 2025, month: 3, day: 9, hour: 15, minute: 0, second: 0 });
    expect(localParts(t, 'America/New_York')).toEqual({ year: 2025, month: 3, day: 9, hour: 1, minute: 59, second: 59 });
    expect(localParts(t + 750, 'America/New_York')).toEqual({ year: 2025, month: 3, day: 9, hour: 3, minute: 0, second: 0 });
    sh.hour = 0;
    expect(localParts(t, SH).hour).toBe(14);
  });
});
