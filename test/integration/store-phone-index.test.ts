import { describe, expect, it } from 'vitest';
import { ParcelStore } from '../../src/store/parcels.js';
import { redisForFile } from '../support/redis-file.js';

const server = redisForFile();

describe('phone index (live parcels of a phone)', () => {
  it('reads the phone-tail index, and the zset and the set written before, together', async () => {
    const redis = server.client();
    const store = new ParcelStore(redis, `tpi${process.pid}:`);
    const phone = '13812345678';
    expect(await store.liveParcelIds(phone)).toEqual([]);
    await redis.zadd(store.k.phoneLive(phone), 2, 'NEW2', 1, 'NEW1');
    expect(await store.liveParcelIds(phone)).toEqual(['NEW1', 'NEW2']);
    await redis.sadd(store.k.phone(phone), 'OLD1', 'NEW1');
    expect((await store.liveParcelIds(phone)).sort()).toEqual(['NEW1', 'NEW2', 'OLD1']);
    // issue 12's shared index: one zset per phone tail, members `phone|id`; another phone of the same tail is not ours
    await redis.zadd(store.k.phoneTail('5678'), 3, `${phone}|TAIL3`, 4, `13900005678|NOTMINE`);
    expect((await store.liveParcelIds(phone)).sort()).toEqual(['NEW1', 'NEW2', 'OLD1', 'TAIL3']);
    expect(await store.liveParcelIds('13900005678')).toEqual(['NOTMINE']);
    redis.disconnect();
  });
});
