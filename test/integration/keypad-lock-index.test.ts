import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { UNITS } from '../../devices/units.js';
import { standInParcels, unitsReady } from '../support/parcel-service.js';
import { eventually } from '../support/stack.js';
import { redisForFile } from '../support/redis-file.js';

/**
 * The sweep lifts expired keypad locks from the index of locked keypads (`kplocked`, written with the lock), not by
 * reading every unit every second. A lock written before the index existed is found by the full read each process
 * makes at its first sweep; a unit no longer locked leaves the index.
 */
const server = redisForFile();
let n = 0;

const [A, B] = UNITS.map((u) => u.id) as [string, string];

async function world() {
  const prefix = `kpi${process.pid}-${n++}:`;
  const redis = new Redis(server.url);
  const w = standInParcels(redis, prefix, randomBytes(32));
  await unitsReady(w.store);
  const keypad = async (unit: string) => (await w.store.unit(unit))?.keypad;
  return { redis, ...w, keypad, k: w.parcels.k };
}

describe('keypad locks: the index the sweep reads', () => {
  it('a lock older than the index is lifted by the first sweep (every unit read once); unlocked, it leaves the index', async () => {
    const w = await world();
    // locked before the index existed: the unit's state says locked, the lock itself has run out, no index entry
    await w.redis.hset(w.k.unit(A), 'keypad', 'locked');
    expect(await w.redis.smembers(w.k.keypadLocked)).toEqual([]);
    await w.service.sweep();
    expect(await w.redis.smembers(w.k.keypadLocked)).toEqual([A]);
    await eventually(async () => (await w.keypad(A)) === 'enabled' || undefined, 5000, 'keypad enabled again');
    // the next sweep reads the index only, finds the unit unlocked and drops it
    await w.service.sweep();
    expect(await w.redis.smembers(w.k.keypadLocked)).toEqual([]);
    w.redis.disconnect();
  });

  it('a lock still running stays locked and indexed; a later lock (after the first sweep) is found through the index', async () => {
    const w = await world();
    await w.service.sweep(); // the first sweep's full read: nothing locked
    // locked as the keypad's limit locks (state and index in one step), the lock running for a minute
    await w.redis.multi().hset(w.k.unit(B), 'keypad', 'locked').sadd(w.k.keypadLocked, B).set(w.k.keypadLock(B), '1', 'PX', 60_000).exec();
    await w.service.sweep();
    expect(await w.keypad(B)).toBe('locked');
    expect(await w.redis.smembers(w.k.keypadLocked)).toEqual([B]);
    // the lock runs out
    await w.redis.del(w.k.keypadLock(B));
    await w.service.sweep();
    await eventually(async () => (await w.keypad(B)) === 'enabled' || undefined, 5000, 'keypad enabled again');
    await w.service.sweep();
    expect(await w.redis.smembers(w.k.keypadLocked)).toEqual([]);
    w.redis.disconnect();
  });
});
