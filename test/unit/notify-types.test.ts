import { describe, expect, it } from 'vitest';
import { jobIdFor, limiterFor } from '../../src/notify/notifier.js';
import { capped } from '../../src/notify/jobs.js';
import { maskPhone, normalizePhone } from '../../src/notify/phone.js';
import { noticeSchema, notifyConfigSchema } from '../../src/notify/types.js';

describe('phone numbers', () => {
  it('normalises mainland mobiles written in the usual ways', () => {
    for (const v of ['13812345678', '+8613812345678', '0086 138 1234 5678', '8613812345678', '138-1234-5678']) {
      expect(normalizePhone(v), v).toBe('13812345678');
    }
    for (const v of ['1381234567', '23812345678', '12812345678', '+85261234567', '']) expect(normalizePhone(v), v).toBeNull();
  });

  it('masks to 138****5678', () => {
    expect(maskPhone('13812345678')).toBe('138****5678');
    expect(maskPhone('+86 138 1234 5678')).toBe('138****5678');
    expect(maskPhone(undefined)).toBe('');
  });
});

describe('notice schema', () => {
  const base = { id: 'P1.stored', kind: 'stored', to: { sms: '+8613812345678', lang: 'zh' }, params: {} } as const;

  it('normalises the phone and needs a destination', () => {
    expect(noticeSchema.parse(base).to.sms).toBe('13812345678');
    expect(noticeSchema.safeParse({ ...base, to: { lang: 'zh' } }).success).toBe(false);
    expect(noticeSchema.safeParse({ ...base, to: { sms: '12345', lang: 'zh' } }).success).toBe(false);
    expect(noticeSchema.safeParse({ ...base, kind: 'party' }).success).toBe(false);
    expect(
      noticeSchema.safeParse({ ...base, to: { lang: 'en', webhook: { courierId: 'c1', url: 'ftp://x', secret: '12345678' } } }).success,
    ).toBe(false);
  });

  it('config defaults: 6 attempts, 2 s exponential base, Shanghai time, quiet 22:00-08:00', () => {
    const c = notifyConfigSchema.parse({ prefix: 'lg' });
    expect(c).toMatchObject({ attempts: 6, backoffMs: 2000, timeZone: 'Asia/Shanghai', quietHours: { start: '22:00', end: '08:00' } });
    expect(notifyConfigSchema.safeParse({ prefix: 'lg', timeZone: 'Mars/Olympus' }).success).toBe(false);
    expect(notifyConfigSchema.safeParse({ prefix: 'lg', quietHours: { start: '25:00', end: '08:00' } }).success).toBe(false);
  });

  it('config: notices due a minute or more ahead wait in the later-store, pumped every second', () => {
    expect(notifyConfigSchema.parse({ prefix: 'lg' }).later).toEqual({ afterMs: 60_000, pollMs: 1000 });
    expect(notifyConfigSchema.parse({ prefix: 'lg', later: { afterMs: 5000 } }).later).toEqual({ afterMs: 5000, pollMs: 1000 });
    // the pump takes what is due within pollMs: a notice kept there must be due later than that
    expect(notifyConfigSchema.safeParse({ prefix: 'lg', later: { afterMs: 1000, pollMs: 1000 } }).success).toBe(false);
    expect(notifyConfigSchema.safeParse({ prefix: 'lg', later: { afterMs: 500 } }).success).toBe(false);
  });
});

describe('job ids and rates', () => {
  it('derives one id per notice and route, never with a colon (BullMQ refuses those)', () => {
    expect(jobIdFor('P1.stored', 'sms')).toBe('P1.stored.sms');
    expect(jobIdFor('P1.reminder-24h', 'webhook')).toBe('P1.reminder-24h.webhook');
    expect(jobIdFor('lg:parcel:42.stored', 'sms')).toBe('lg%3Aparcel%3A42.stored.sms');
    expect(jobIdFor('42', 'sms')).toBe('42.sms'); // never an integer id either
  });

  it('turns a rate into a BullMQ limiter', () => {
    expect(limiterFor(10)).toEqual({ max: 10, duration: 1000 });
    expect(limiterFor(0.5)).toEqual({ max: 1, duration: 2000 });
    expect(limiterFor(2.5)).toEqual({ max: 2, duration: 800 });
  });

  it('waits exponentially between attempts, never longer than the cap', () => {
    expect([1, 2, 3, 4, 5, 6].map((a) => capped(a, 500, 5000))).toEqual([500, 1000, 2000, 4000, 5000, 5000]);
    expect(capped(40, 2000, 600_000)).toBe(600_000);
    expect(capped(0, 500, 5000)).toBe(500);
    expect(notifyConfigSchema.parse({ prefix: 'x' }).backoffMaxMs).toBe(600_000);
  });
});
