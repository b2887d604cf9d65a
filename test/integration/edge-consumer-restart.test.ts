/**
 * The site's edge consumer outlives a Redis restart. Found by the soak (npm run soak, redis-kill): the gateway's
 * Redis client gives up a command after 3 retries, and one failed command ended the consumer's loop for good
 * ("edge consumer stopped on an error"): the requests the edge Worker queued afterwards were never run until the
 * gateway itself restarted. Real redis-server (AOF), stopped and started again on the same port; the consumer reads
 * through a client with the gateway's own options.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEdgeConsumer } from '../../src/edge/consumer.js';
import { edgeKeys, type EdgeResult } from '../../src/edge/protocol.js';
import type { ApiDeps } from '../../src/http/deps.js';
import { silentLogger } from '../../src/log.js';
import { TestRedis } from '../support/redis.js';

const PREFIX = `edge-restart-${process.pid}:`;
const k = edgeKeys(PREFIX);
let redis: TestRedis;
let gw: Redis;
let test: Redis;

beforeAll(async () => {
  redis = await new TestRedis().start();
  gw = new Redis(redis.url, { maxRetriesPerRequest: 3, connectTimeout: 5_000 }); // as src/runtime/gateway.ts
  gw.on('error', () => {});
  test = redis.client();
  test.on('error', () => {});
}, 30_000);

afterAll(async () => {
  gw?.disconnect();
  test?.disconnect();
  await redis?.destroy();
});

/** A `get` request as the Worker queues it; resolves with the site's answer. */
async function ask(id: string): Promise<EdgeResult> {
  await test.xadd(k.stream('_site'), '*', 'req', JSON.stringify({ id, op: 'get', args: { id: 'p_1' }, deadline: Date.now() + 60_000 }));
  const got = await test.blpop(k.result(id), 20);
  if (!got) throw new Error(`no answer to ${id}`);
  return JSON.parse(got[1]) as EdgeResult;
}

describe('edge consumer', () => {
  it('answers the edge again after redis-server was down for a while', async () => {
    // the service behind the queue is not what this test is about: `get` answers with what it was asked for
    const api = { parcels: { get: async (id: string) => ({ id }) } } as unknown as ApiDeps;
    const consumer = startEdgeConsumer({ redis: gw, prefix: PREFIX, units: ['U1'], api, couriers: { get: async () => null }, logger: silentLogger, blockMs: 200 });
    try {
      expect(await ask('r1')).toEqual({ ok: true, value: { id: 'p_1' } });
      // down long enough for the gateway client's 3 retries to run out (each reconnect attempt waits longer)
      await redis.stop();
      await new Promise<void>((resolve) => gw.once('error', () => resolve()));
      await gw.set('probe', '1').then(
        () => {},
        () => {},
      ); // a command that fails: the retries are used up while Redis is away
      await redis.start();
      expect(await ask('r2')).toEqual({ ok: true, value: { id: 'p_1' } });
    } finally {
      await consumer.stop();
    }
  }, 60_000);
});
