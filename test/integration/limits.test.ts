import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { FailureLimiter } from '../../src/parcels/limits.js';
import { TestRedis } from '../support/redis.js';

let server: TestRedis;
let redis: Redis;
beforeAll(async () => {
  server = await new TestRedis().start();
  redis = server.client();
});
afterAll(async () => {
  redis.disconnect();
  await server.destroy();
});

describe('FailureLimiter (wrong-code lockout)', () => {
  it('parallel guesses cannot slip past the limit: at most N are ever checked', async () => {
    const limiter = new FailureLimiter(redis, { max: 5, windowMs: 60_000, lockMs: 60_000 });
    const now = Date.now();
    const results = await Promise.all(Array.from({ length: 200 }, () => limiter.admit('f:1', 'l:1', now)));
    const admitted = results.filter((r) => !('lockedMs' in r));
    expect(admitted).toHaveLength(5);
    // every admitted guess was wrong: locked for the next one
    await Promise.all(admitted.map((a) => ('failed' in a ? a.failed(now) : null)));
    expect(await limiter.lockedUntil('l:1')).toBeGreaterThan(now);
    expect('lockedMs' in (await limiter.admit('f:1', 'l:1', now))).toBe(true);
  });

  it('a right code takes its attempt back; the Nth wrong one locks at once', async () => {
    const limiter = new FailureLimiter(redis, { max: 3, windowMs: 60_000, lockMs: 500 });
    const now = Date.now();
    for (let i = 0; i < 10; i++) {
      const a = await limiter.admit('f:2', 'l:2', now);
      if ('lockedMs' in a) throw new Error('locked by right codes');
      await a.ok();
    }
    const until: (number | null)[] = [];
    for (let i = 0; i < 3; i++) {
      const a = await limiter.admit('f:2', 'l:2', now);
      if ('lockedMs' in a) throw new Error('locked too early');
      until.push(await a.failed(now));
    }
    expect(until.slice(0, 2)).toEqual([null, null]);
    expect(until[2]).toBe(now + 500);
    const locked = await limiter.admit('f:2', 'l:2', now);
    expect('lockedMs' in locked && locked.lockedMs).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 600));
    expect('lockedMs' in (await limiter.admit('f:2', 'l:2', Date.now()))).toBe(false);
  });

  it('failures older than the window do not count', async () => {
    const limiter = new FailureLimiter(redis, { max: 2, windowMs: 1_000, lockMs: 60_000 });
    const t0 = Date.now();
    const a = await limiter.admit('f:3', 'l:3', t0 - 5_000);
    if (!('lockedMs' in a)) await a.failed(t0 - 5_000);
    const b = await limiter.admit('f:3', 'l:3', t0);
    expect('lockedMs' in b).toBe(false);
    if (!('lockedMs' in b)) expect(await b.failed(t0)).toBeNull();
  });
});
