import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { UNITS } from '../../devices/units.js';
import { codeHash, maskCode } from '../../src/domain/codes.js';
import { codeField, codeFreeChecks, codeSetOps, TRACKING_ADD, TRACKING_DROP, trackingBucket, trackingField } from '../../src/store/indexes.js';
import { ParcelSearch } from '../../src/store/search.js';
import { Tx } from '../../src/store/tx.js';
import { standInParcels, storedCodes, unitsReady } from '../support/parcel-service.js';
import { redisForFile } from '../support/redis-file.js';

/**
 * Issue 12's shared indexes (store/indexes.ts): pickup codes as fields of a hash per unit, tracking numbers in shared
 * buckets, live parcels by phone tail. Records written in the form before (string keys `code:…`, `tracking:…`, zsets
 * `phone-live:…`, `srch:…`) are still found and honoured, and a parcel that ends leaves no field behind.
 */
const server = redisForFile();
let n = 0;

const U = UNITS[0]!.id;

async function world() {
  const prefix = `tix${process.pid}-${n++}:`;
  const redis = new Redis(server.url);
  const codeKey = randomBytes(32);
  const { store, parcels, couriers, service } = standInParcels(redis, prefix, codeKey);
  await unitsReady(store, [UNITS[0]!]);
  const { courier } = await couriers.issue({ name: 'First', carrier: 'SF' });
  const { courier: other } = await couriers.issue({ name: 'Other', carrier: 'SF' });
  let seq = 0;
  const event = (e: Record<string, unknown>) => service.onUnitEvent({ streamId: `${++seq}-0`, event: { unit: U, at: Date.now(), source: {}, ...e } as never });
  /** deposit and close the door: the parcel stored, its code read from the outbox */
  async function stored(tn: string, phone = '13800001234') {
    const p = await service.deposit(courier, { unit: U, size: 'S', trackingNumber: tn, carrier: 'SF', phone, shareCompartment: false });
    await event({ kind: 'door-opened', compartment: p.compartment });
    await event({ kind: 'door-closed', compartment: p.compartment, occupied: true });
    const code = (await storedCodes(redis, parcels.k.outbox)).get(p.id) ?? '';
    expect(code).toMatch(/^\d{6}$/);
    return { p, code, hash: codeHash(codeKey, U, code) };
  }
  async function collect(no: number, code: string) {
    await event({ kind: 'code-entered', code: maskCode(code), codeHash: codeHash(codeKey, U, code) });
    await event({ kind: 'door-opened', compartment: no });
    await event({ kind: 'door-closed', compartment: no, occupied: false });
  }
  const keysLike = async (pattern: string) => redis.keys(`${prefix}${pattern}`);
  return { redis, prefix, parcels, service, courier, other, stored, collect, keysLike, k: parcels.k, close: () => redis.disconnect() };
}

describe('pickup codes: one hash per unit', () => {
  it('a code is a field while the parcel waits, and the collection removes it: no field, no key left', async () => {
    const w = await world();
    const { p, code, hash } = await w.stored('TIX-1');
    expect(await w.redis.hgetall(w.k.codes(U))).toEqual({ [codeField(hash)]: String(p.compartment) });
    expect(await w.keysLike('code:*')).toEqual([]);
    await w.collect(p.compartment, code);
    expect((await w.parcels.parcel(p.id))?.state).toBe('collected');
    expect(await w.redis.exists(w.k.codes(U))).toBe(0);
    expect(await w.keysLike('code:*')).toEqual([]);
    w.close();
  });

  it('a code issued before the upgrade (its own string key) still opens its door, and its key goes with the collection', async () => {
    const w = await world();
    const { p, code, hash } = await w.stored('TIX-2');
    // as the code before issue 12 wrote it
    await w.redis.hdel(w.k.codes(U), codeField(hash));
    await w.redis.set(w.k.code(U, hash), p.compartment);
    expect(await w.parcels.codeSlot(U, hash)).toBe(p.compartment);
    await w.collect(p.compartment, code);
    expect((await w.parcels.parcel(p.id))?.state).toBe('collected');
    expect(await w.redis.exists(w.k.code(U, hash), w.k.codes(U))).toBe(0);
    w.close();
  });

  it('a new code is free only if neither its field nor a string key written before holds it', async () => {
    const w = await world();
    const tx = new Tx(w.redis);
    const [a, b] = ['a'.repeat(64), 'b'.repeat(64)];
    await w.redis.set(w.k.code(U, a), 3);
    expect(await tx.apply(codeFreeChecks(w.k, U, a), codeSetOps(w.k, U, a, 4))).toBeNull();
    expect(await tx.apply(codeFreeChecks(w.k, U, b), codeSetOps(w.k, U, b, 4))).toEqual([]);
    expect(await tx.apply(codeFreeChecks(w.k, U, b), codeSetOps(w.k, U, b, 5))).toBeNull();
    expect(await w.redis.hgetall(w.k.codes(U))).toEqual({ [codeField(b)]: '4' });
    w.close();
  });
});

describe('tracking numbers: shared buckets', () => {
  it('a tracking number deposited before the upgrade (its string key) is still a duplicate, and moves into the bucket when deposited again', async () => {
    const w = await world();
    const { p, code } = await w.stored('TIX-OLD');
    const bucket = w.k.trackingBucket(trackingBucket('TIX-OLD'));
    // as the code before issue 12 wrote it
    await w.redis.hdel(bucket, trackingField('SF', 'TIX-OLD'));
    await w.redis.set(w.k.tracking('SF', 'TIX-OLD'), p.id);
    expect(await w.parcels.byTracking('SF', 'TIX-OLD')).toBe(p.id);
    // the same deposit asked again: the same parcel; another courier: refused
    expect((await w.service.deposit(w.courier, { unit: U, size: 'S', trackingNumber: 'TIX-OLD', carrier: 'SF', phone: '13800001234' })).id).toBe(p.id);
    await expect(w.service.deposit(w.other, { unit: U, size: 'S', trackingNumber: 'TIX-OLD', carrier: 'SF', phone: '13800001234' })).rejects.toThrow(/cannot be deposited from your account/);
    // once it has ended, the number may be deposited again: a new parcel, both in the field, the string key gone
    await w.collect(p.compartment, code);
    const again = await w.service.deposit(w.courier, { unit: U, size: 'S', trackingNumber: 'TIX-OLD', carrier: 'SF', phone: '13800001234' });
    expect(again.id).not.toBe(p.id);
    expect(await w.redis.hget(bucket, trackingField('SF', 'TIX-OLD'))).toBe(`${again.id} ${p.id}`);
    expect(await w.redis.exists(w.k.tracking('SF', 'TIX-OLD'))).toBe(0);
    expect(await w.parcels.byTracking('SF', 'TIX-OLD')).toBe(again.id);
    // the console finds both by number, newest first, whatever the case typed
    const found = await new ParcelSearch(w.redis, w.k).find({ by: 'tracking', tn: 'TIX-OLD' });
    expect(found.map((x) => x.id)).toEqual([again.id, p.id]);
    w.close();
  });

  it('the bucket scripts: an id is added once, newest first; dropped, the field goes with its last id', async () => {
    const w = await world();
    w.redis.defineCommand('tAdd', { numberOfKeys: 1, lua: TRACKING_ADD });
    w.redis.defineCommand('tDrop', { numberOfKeys: 1, lua: TRACKING_DROP });
    const r = w.redis as unknown as { tAdd(...a: string[]): Promise<number>; tDrop(...a: string[]): Promise<number> };
    const key = w.k.trackingBucket('00');
    expect(await r.tAdd(key, 'SF|X', 'p_01a')).toBe(1);
    expect(await r.tAdd(key, 'SF|X', 'p_01c')).toBe(1);
    expect(await r.tAdd(key, 'SF|X', 'p_01a')).toBe(0);
    expect(await w.redis.hget(key, 'SF|X')).toBe('p_01c p_01a');
    expect(await r.tDrop(key, 'SF|X', 'p_01c')).toBe(1);
    expect(await r.tDrop(key, 'SF|X', 'p_nope')).toBe(0);
    expect(await r.tDrop(key, 'SF|X', 'p_01a')).toBe(1);
    expect(await w.redis.exists(key)).toBe(0);
    w.close();
  });
});

describe('live parcels by phone tail, and the console search', () => {
  it('a live parcel is a member of its phone tail; when it ends it leaves it for the search zset of its tail', async () => {
    const w = await world();
    const { p, code } = await w.stored('TIX-3', '13800005678');
    expect(await w.redis.zrange(w.k.phoneTail('5678'), 0, -1)).toEqual([`13800005678|${p.id}`]);
    expect(await w.parcels.liveParcelIds('13800005678')).toEqual([p.id]);
    expect(await w.parcels.liveParcelIds('13900005678')).toEqual([]);
    const search = new ParcelSearch(w.redis, w.k);
    expect((await search.find({ by: 'phone-tail', last4: '5678' })).map((x) => x.id)).toEqual([p.id]);
    await w.collect(p.compartment, code);
    expect(await w.redis.exists(w.k.phoneTail('5678'), w.k.phoneLive('13800005678'))).toBe(0);
    expect(await w.parcels.liveParcelIds('13800005678')).toEqual([]);
    expect((await search.find({ by: 'phone-tail', last4: '5678' })).map((x) => x.id)).toEqual([p.id]);
    w.close();
  });

  it('parcels indexed before the upgrade (phone zset, search zsets per tail and per number) are still found, and emptied as they end', async () => {
    const w = await world();
    const { p, code } = await w.stored('TIX-4', '13800009999');
    // as the code before issue 12 wrote it
    await w.redis.del(w.k.phoneTail('9999'));
    await w.redis.zadd(w.k.phoneLive('13800009999'), p.createdAt, p.id);
    await w.redis.zadd(w.k.searchPhoneTail('9999'), p.createdAt, p.id);
    await w.redis.zadd(w.k.searchTracking('TIX-4'), p.createdAt, p.id);
    await w.redis.del(w.k.trackingBucket(trackingBucket('TIX-4')));
    const search = new ParcelSearch(w.redis, w.k);
    expect(await w.parcels.liveParcelIds('13800009999')).toEqual([p.id]);
    expect((await search.find({ by: 'phone-tail', last4: '9999' })).map((x) => x.id)).toEqual([p.id]);
    expect((await search.find({ by: 'tracking', tn: 'TIX-4' })).map((x) => x.id)).toEqual([p.id]);
    await w.collect(p.compartment, code);
    expect(await w.redis.exists(w.k.phoneLive('13800009999'))).toBe(0);
    expect(await w.parcels.liveParcelIds('13800009999')).toEqual([]);
    w.close();
  });
});
