import { afterEach, describe, expect, it } from 'vitest';
import { isoTime, setApiTimeZone, withIsoTimes } from '../../src/http/time.js';

describe('API times', () => {
  afterEach(() => setApiTimeZone('Asia/Shanghai'));

  it('are ISO 8601 with the community’s offset (Asia/Shanghai by default)', () => {
    expect(isoTime(Date.parse('2026-11-26T10:41:00.123Z'))).toBe('2026-11-26T18:41:00.123+08:00');
    expect(isoTime(Date.parse('2026-12-31T16:00:00Z'))).toBe('2027-01-01T00:00:00.000+08:00');
    expect(isoTime(null)).toBeNull();
    expect(Date.parse(isoTime(1_764_000_000_000))).toBe(1_764_000_000_000);
  });

  it('follow TIME_ZONE', () => {
    setApiTimeZone('UTC');
    expect(isoTime(0)).toBe('1970-01-01T00:00:00.000+00:00');
    setApiTimeZone('America/New_York');
    expect(isoTime(Date.parse('2026-07-01T12:00:00Z'))).toBe('2026-07-01T08:00:00.000-04:00');
  });

  it('withIsoTimes converts the time fields of a record and nothing else', () => {
    expect(withIsoTimes({ at: 0, updatedAt: null, since: 0, no: 17, seq: 5, text: 'x' })).toEqual({
      at: '1970-01-01T08:00:00.000+08:00',
      updatedAt: null,
      since: '1970-01-01T08:00:00.000+08:00',
      no: 17,
      seq: 5,
      text: 'x',
    });
  });
});
