import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ParcelStore } from '../../src/store/parcels.js';
import { TestRedis } from '../support/redis.js';

let server: TestRedis;
beforeAll(async () => {
  server = await new TestRedis().start();
});
afterAll(async () => {
  await server?.destroy();
});

describe('phone index (live parcels of a phone)', () => {
  it('reads the zset written now and the set written before issue 12, together', async () => {
    const redis = server.client();
    const store = new ParcelStore(redis, `tpi${process.pid}:`);
    const phone = '13812345678';
    expect(await store.liveParcelIds(phone)).toEqual([]);
    await redis.zadd(store.k.phoneLive(phone), 2, 'NEW2', 1, 'NEW1');
    expect(await store.liveParcelIds(phone)).toEqual(['NEW1', 'NEW2']);
    await redis.sadd(store.k.phone(phone), 'OLD1', 'NEW1');
    expect((await store.liveParcelIds(phone)).sort()).toEqual(['NEW1', 'NEW2', 'OLD1']);
    redis.disconnect();
  });
});
