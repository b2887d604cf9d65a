/**
 * Redis away during a request: the caller gets 503 `unavailable` with Retry-After in the error envelope, not a 500
 * "internal error". Found by the soak (npm run soak, redis-kill): 62 deposits answered 500 while redis-server was
 * down, which tells a courier's app the gateway is broken rather than to come back in a moment. Real redis-server,
 * stopped and started again on the same port.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack } from '../support/stack.js';

const STAFF = { authorization: 'Bearer dev-staff-token-not-for-production' };

describe('HTTP while the store is unreachable', () => {
  const stack = new Stack('embedded');
  beforeAll(() => stack.start(), 30_000);
  afterAll(() => stack.stop());

  it('answers 503 unavailable with Retry-After, and serves again once Redis is back', async () => {
    const issued = await stack.post('/v1/admin/couriers', { name: 'Wang', carrier: 'SF' }, STAFF);
    expect(issued.status).toBe(201);
    const courier = { authorization: `Bearer ${issued.body.token as string}` };
    expect((await stack.get('/v1/deposits/p_none', { headers: courier })).status).toBe(404);

    await stack.redis.stop();
    const res = await fetch(stack.gw!.url + '/v1/deposits/p_none', { headers: courier });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('2');
    const body = (await res.json()) as { error: { code: string; message: string; requestId: string } };
    expect(body.error.code).toBe('unavailable');
    expect(body.error.message).toMatch(/retry/);
    expect(body.error.requestId).not.toBe('-');

    await stack.redis.start();
    // the gateway's client reconnects by itself; the same request is answered as before
    const redis = stack.gw!.redis;
    if (redis.status !== 'ready') await new Promise<void>((resolve) => redis.once('ready', () => resolve()));
    expect((await stack.get('/v1/deposits/p_none', { headers: courier })).status).toBe(404);
  }, 60_000);
});
