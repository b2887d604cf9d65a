import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { UNITS } from '../../devices/units.js';
import { UnitStore } from '../../src/store/units.js';
import { TestRedis } from '../support/redis.js';

const U = 'LSN-0001';
let server: TestRedis;
let redis: Redis;
let store: UnitStore;
let n = 0;

beforeAll(async () => {
  server = await new TestRedis().start();
  redis = server.client();
});
afterAll(async () => {
  redis.disconnect();
  await server.destroy();
});
beforeEach(() => {
  store = new UnitStore(redis, `t${++n}:`, UNITS);
});

const opened = (no: number, at = 1000) => ({ unit: U, at, source: {}, kind: 'door-opened' as const, compartment: no });
const closed = (no: number, occupied: boolean, at = 2000) => ({
  unit: U,
  at,
  source: {},
  kind: 'door-closed' as const,
  compartment: no,
  occupied,
});

describe('UnitStore', () => {
  it('applies an event and appends it to the log in one step', async () => {
    const r = await store.apply(opened(12), { mode: 'seq', seq: 1 });
    expect(r.status).toBe('ok');
    const unit = await store.unit(U);
    expect(unit?.compartments.find((c) => c.no === 12)).toMatchObject({ doorOpen: true });
    const log = await store.events(U);
    expect(log).toHaveLength(1);
    expect(log[0]!.event).toMatchObject({ kind: 'door-opened', compartment: 12 });
  });

  it('json-v1: a seq at or below the highest applied is a repeat', async () => {
    expect((await store.apply(opened(1), { mode: 'seq', seq: 5 })).status).toBe('ok');
    expect((await store.apply(opened(1), { mode: 'seq', seq: 5 })).status).toBe('dup');
    expect((await store.apply(opened(1), { mode: 'seq', seq: 3 })).status).toBe('dup');
    expect((await store.apply(closed(1, true), { mode: 'seq', seq: 6 })).status).toBe('ok');
    expect(await store.events(U)).toHaveLength(2);
    expect(await store.lastSeq(U)).toBe(6);
  });

  it('compact-v2: the last 64 message ids, across wrap-around, and a reboot window reset', async () => {
    const ids = [65534, 65535, 1, 2];
    for (const m of ids) expect((await store.apply(opened(1), { mode: 'window', msgId: m })).status).toBe('ok');
    for (const m of ids) expect((await store.apply(opened(1), { mode: 'window', msgId: m })).status).toBe('dup');
    // 64 newer ids push 65534 out of the window
    for (let m = 3; m < 3 + 64; m++) await store.apply(opened(1), { mode: 'window', msgId: m });
    expect((await store.apply(opened(1), { mode: 'window', msgId: 65534 })).status).toBe('ok');
    // reboot: status m=1 starts a new window, so m=2 is new again
    const snap = { unit: U, at: 1, source: {}, compartments: [] };
    expect(await store.reconcile(snap, { mode: 'window', msgId: 1, reset: true })).toEqual([]);
    expect((await store.apply(opened(1), { mode: 'window', msgId: 2 })).status).toBe('ok');
  });

  it('presence is logged only when it changes', async () => {
    const p = (online: boolean) => ({ unit: U, at: 5, source: {}, kind: 'presence' as const, online });
    expect((await store.apply(p(true))).status).toBe('ok');
    expect((await store.apply(p(true))).status).toBe('same');
    expect((await store.apply(p(false))).status).toBe('ok');
    const u = await store.unit(U);
    expect(u).toMatchObject({ online: false, since: 5 });
  });

  it('reconcile: first reading is taken silently, later differences become reconciled events', async () => {
    const reading = (c: { compartment: number; doorOpen: boolean; occupied: boolean }[]) => ({
      unit: U,
      at: 7000,
      source: {},
      compartments: c,
    });
    expect(
      await store.reconcile(
        reading([
          { compartment: 1, doorOpen: false, occupied: true },
          { compartment: 2, doorOpen: false, occupied: false },
          { compartment: 3, doorOpen: false, occupied: false },
        ]),
      ),
    ).toEqual([]);
    const inferred = await store.reconcile(
      reading([
        { compartment: 1, doorOpen: false, occupied: false }, // taken out while we were not told
        { compartment: 2, doorOpen: true, occupied: false }, // opened
        { compartment: 3, doorOpen: false, occupied: false }, // unchanged
      ]),
    );
    expect(inferred!.map((e) => [e.event.kind, 'compartment' in e.event ? e.event.compartment : null])).toEqual([
      ['door-opened', 1],
      ['door-closed', 1],
      ['door-opened', 2],
    ]);
    expect(inferred![1]!.event).toMatchObject({ occupied: false, source: { reconciled: true }, at: 7000 });
    const u = await store.unit(U);
    expect(u!.compartments.slice(0, 3).map((c) => [c.doorOpen, c.occupied])).toEqual([
      [false, false],
      [true, false],
      [false, false],
    ]);
    expect(await store.events(U)).toHaveLength(3);
  });

  it('state and log survive a Redis restart', async () => {
    await store.apply(opened(9), { mode: 'seq', seq: 100 });
    await server.restart();
    // ioredis reconnects by itself
    const u = await store.unit(U);
    expect(u!.compartments.find((c) => c.no === 9)!.doorOpen).toBe(true);
    expect(await store.lastSeq(U)).toBe(100);
    expect(await store.events(U)).toHaveLength(1);
  });
});
