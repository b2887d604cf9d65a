import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leaseKeys, UnitLeases } from '../../src/scale/leases.js';
import { oncePerPeriod } from '../../src/scale/once.js';
import { TestRedis } from '../support/redis.js';
import { eventually, logger } from '../support/stack.js';

/**
 * Per-unit leases on a real Redis (src/scale/leases.ts): one owner per unit at any moment, fair shares, a clean stop
 * hands the units over at once, a lost lease stops the unit, and an owner cut off from Redis stops its units before
 * anybody else can take them.
 */
let redis: TestRedis;
const conns: Redis[] = [];
let n = 0;

beforeAll(async () => {
  redis = await new TestRedis().start();
});
afterAll(async () => {
  for (const c of conns) c.disconnect();
  await redis?.destroy();
});

const UNITS = ['u1', 'u2', 'u3', 'u4'];

/** A gateway's leases; `serving` is what it would run (drivers), checked against every other gateway's. */
function gateway(id: string, prefix: string, all: Map<string, Set<string>>, overlaps: string[], ttlMs = 1500, renewMs = 300) {
  const conn = new Redis(redis.url);
  conns.push(conn);
  const serving = new Set<string>();
  all.set(id, serving);
  const leases = new UnitLeases({
    redis: conn,
    prefix,
    gatewayId: id,
    units: UNITS,
    ttlMs,
    renewMs,
    logger,
    acquired: async (unit) => {
      for (const [other, s] of all) if (other !== id && s.has(unit)) overlaps.push(`${unit}: ${id} started it while ${other} served it`);
      serving.add(unit);
    },
    lost: async (unit) => {
      serving.delete(unit);
    },
  });
  return { leases, serving, conn };
}

describe('unit leases', () => {
  it('one owner per unit: the first gateway takes all, a second takes its fair share, a clean stop hands them back at once', async () => {
    const prefix = `t${n++}:`;
    const all = new Map<string, Set<string>>();
    const overlaps: string[] = [];
    const a = gateway('a', prefix, all, overlaps);
    const b = gateway('b', prefix, all, overlaps);
    await a.leases.start();
    expect([...a.serving].sort()).toEqual(UNITS);
    expect(a.leases.owned().sort()).toEqual(UNITS);
    await b.leases.start();
    await eventually(() => a.serving.size === 2 && b.serving.size === 2, 10_000, 'two units each');
    for (const u of UNITS) expect(a.leases.holds(u) !== b.leases.holds(u), u).toBe(true);
    const token = await a.conn.get(leaseKeys(prefix).lease([...a.serving][0]!));
    expect(token).toMatch(/^a\|[0-9a-f]{12}$/);

    const stoppedAt = Date.now();
    await b.leases.stop();
    expect(b.serving.size).toBe(0);
    await eventually(() => a.serving.size === 4, 5_000, 'a serves all again');
    // released, not expired: taken at the next round, well before a lease would have run out
    expect(Date.now() - stoppedAt).toBeLessThan(1500);
    await a.leases.stop();
    expect(await a.conn.keys(`${prefix}lease:*`)).toEqual([]);
    expect(overlaps).toEqual([]);
  });

  it('a dead gateway: its units are free once its leases run out, and taken by the survivor', async () => {
    const prefix = `t${n++}:`;
    const all = new Map<string, Set<string>>();
    const overlaps: string[] = [];
    const a = gateway('a', prefix, all, overlaps);
    const b = gateway('b', prefix, all, overlaps);
    await a.leases.start();
    await b.leases.start();
    await eventually(() => a.serving.size === 2 && b.serving.size === 2, 10_000, 'two units each');
    // a "dies": its process stops renewing (timers cleared, nothing released)
    const k = leaseKeys(prefix);
    const aUnits = [...a.serving];
    (a.leases as unknown as { stopped: boolean }).stopped = true;
    clearInterval((a.leases as unknown as { timer: NodeJS.Timeout }).timer);
    const diedAt = Date.now();
    await eventually(() => b.serving.size === 4, 10_000, 'b serves all');
    const took = Date.now() - diedAt;
    // not before the leases ran out (TTL 1.5 s, renewed every 0.3 s), and within TTL + a fair-share round or two
    expect(took).toBeGreaterThan(1000);
    expect(took).toBeLessThan(1500 + 3 * 300 + 1000);
    for (const u of aUnits) expect((await b.conn.get(k.lease(u)))?.startsWith('b|')).toBe(true);
    // a's watchdog dropped its units (it could not renew), so nothing ran twice
    await eventually(() => a.serving.size === 0, 5_000, 'a dropped its units');
    expect(overlaps).toEqual([]);
    await b.leases.stop();
    await a.leases.stop(); // its watchdog (nothing left to release)
  });

  it('fencing: a lease taken by another stops the unit at the next renewal; an owner cut off from Redis stops its units before they expire', async () => {
    const prefix = `t${n++}:`;
    const all = new Map<string, Set<string>>();
    const overlaps: string[] = [];
    const a = gateway('a', prefix, all, overlaps, 3000, 500);
    await a.leases.start();
    const k = leaseKeys(prefix);
    // someone else holds u1 now (an operator moved it, or a's lease lapsed during a pause)
    await a.conn.set(k.lease('u1'), 'z|000000000000', 'PX', 60_000);
    await eventually(() => !a.serving.has('u1'), 5_000, 'u1 dropped');
    expect(a.leases.holds('u1')).toBe(false);
    // cut off: no renewal reaches Redis any more
    const ttls = await Promise.all(['u2', 'u3', 'u4'].map((u) => a.conn.pttl(k.lease(u))));
    const cutAt = Date.now();
    a.conn.disconnect();
    await eventually(() => a.serving.size === 0, 10_000, 'a stopped its units');
    const stoppedAfter = Date.now() - cutAt;
    // before the first of its leases could expire in Redis (and be taken by another gateway)
    expect(stoppedAfter).toBeLessThan(Math.min(...ttls));
    expect(a.leases.owned()).toEqual([]);
    await a.leases.stop();
  });

  it('a periodic job runs on one gateway per period (evidence checkpoints and retention)', async () => {
    const prefix = `t${n++}:`;
    let now = 1_000_000;
    const conn = new Redis(redis.url);
    conns.push(conn);
    const a = oncePerPeriod(conn, prefix, 'a', () => now);
    const b = oncePerPeriod(conn, prefix, 'b', () => now);
    expect(await Promise.all([a('retention', 60_000), b('retention', 60_000)])).toEqual([true, false]);
    expect(await a('retention', 60_000)).toBe(false);
    expect(await b('checkpoint', 60_000)).toBe(true); // another job, its own turn
    now += 60_000;
    expect(await b('retention', 60_000)).toBe(true);
  });
});
