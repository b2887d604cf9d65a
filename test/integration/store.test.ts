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

/** Commands Redis ran on data since the last CONFIG RESETSTAT (those scripts run included), by name. */
async function commandStats(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const m of (await redis.info('commandstats')).matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm)) {
    if (!/^(eval|evalsha|script\|.*|config\|.*|info)$/.test(m[1]!)) out[m[1]!] = Number(m[2]);
  }
  return out;
}

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

  it('reconcile: a reading that matches the stored state writes nothing and logs nothing (one read of the compartments)', async () => {
    const all = (c: (no: number) => { doorOpen: boolean; occupied: boolean; fault?: 'jammed' | null }) => ({
      unit: U,
      at: 7000,
      source: { seq: 10 },
      firmware: '1.8.2',
      compartments: Array.from({ length: 36 }, (_, i) => ({ compartment: i + 1, ...c(i + 1) })),
    });
    const first = all((no) => ({ doorOpen: false, occupied: no % 3 === 0, fault: no === 7 ? 'jammed' : null }));
    expect(await store.reconcile(first)).toEqual([]);
    const comp = await redis.hgetall(store.k.compartments(U));
    const unit = await redis.hgetall(store.k.unit(U));
    // the same reading later: no event, no evidence, the compartments untouched (their times too)
    await redis.config('RESETSTAT');
    expect(await store.reconcile({ ...first, at: 9000, source: { seq: 12 } }, { mode: 'none' }, 9500)).toEqual([]);
    const stats = await commandStats();
    expect(await redis.hgetall(store.k.compartments(U))).toEqual(comp);
    expect(await redis.hgetall(store.k.unit(U))).toEqual({ ...unit, lastSeen: '9500' });
    expect(await store.events(U)).toEqual([]);
    expect(await redis.xlen(store.k.events(U))).toBe(0);
    // the 36 compartments read at once; the unit's lastSeen and firmware written at once; nothing else
    expect(stats).toEqual({ hgetall: 1, hset: 1 });
  });

  it('reconcile: several differences are inferred in the order the reading lists them, and only what changed is written', async () => {
    const reading = (at: number, c: { compartment: number; doorOpen: boolean; occupied: boolean; fault?: 'jammed' | 'sensor' | null }[]) => ({ unit: U, at, source: {}, compartments: c });
    await store.reconcile(
      reading(7000, [
        { compartment: 1, doorOpen: false, occupied: true },
        { compartment: 2, doorOpen: false, occupied: false, fault: 'sensor' },
        { compartment: 3, doorOpen: true, occupied: false },
        { compartment: 4, doorOpen: false, occupied: false },
        { compartment: 5, doorOpen: false, occupied: false, fault: null },
      ]),
    );
    await redis.config('RESETSTAT');
    const inferred = await store.reconcile(
      reading(8000, [
        { compartment: 5, doorOpen: false, occupied: false, fault: 'jammed' }, // a fault only
        { compartment: 3, doorOpen: false, occupied: true }, // closed with a parcel
        { compartment: 4, doorOpen: false, occupied: false }, // unchanged
        { compartment: 1, doorOpen: false, occupied: false }, // taken out while we were not told
        { compartment: 2, doorOpen: true, occupied: false, fault: null }, // opened, its fault gone
      ]),
    );
    const stats = await commandStats();
    expect(inferred!.map((e) => [e.event.kind, 'compartment' in e.event ? e.event.compartment : null])).toEqual([
      ['fault', 5],
      ['door-closed', 3],
      ['door-opened', 1],
      ['door-closed', 1],
      ['door-opened', 2],
    ]);
    expect((await store.events(U)).map((r) => [r.n, r.event.kind, r.event.compartment])).toEqual([
      [5, 'door-opened', 2],
      [4, 'door-closed', 1],
      [3, 'door-opened', 1],
      [2, 'door-closed', 3],
      [1, 'fault', 5],
    ]);
    const u = await store.unit(U);
    expect(u!.compartments.slice(0, 5).map((c) => [c.no, c.doorOpen, c.occupied, c.fault, c.updatedAt])).toEqual([
      [1, false, false, null, 8000],
      [2, true, false, null, 8000],
      [3, false, true, null, 8000],
      [4, false, false, null, 7000],
      [5, false, false, 'jammed', 7000],
    ]);
    // per inferred event: its input entry, its evidence entry and its compartment index; the head written once; the
    // compartments read once and written once (the fault that went: one HDEL); the head read once, written once
    expect(stats).toEqual({ hgetall: 1, hmget: 1, hset: 3, hdel: 1, xadd: 10, zadd: 5 });
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
  it('onlineAndKeypad reads what unit() says of online and keypad, for every unit in one round trip; null for an unknown one', async () => {
    const [A, B, C] = UNITS.map((u) => u.id) as [string, string, string];
    await store.apply({ unit: A, at: 1000, source: {}, kind: 'presence', online: true });
    await store.apply({ unit: A, at: 1100, source: {}, kind: 'keypad', state: 'locked' });
    await store.apply({ unit: B, at: 1000, source: {}, kind: 'presence', online: true });
    await store.apply({ unit: B, at: 1200, source: {}, kind: 'presence', online: false });
    await store.apply({ unit: B, at: 1300, source: {}, kind: 'keypad', state: 'disabled' });
    // C: never heard from (no hash at all)
    const got = await store.onlineAndKeypad([A, 'NOPE', B, C]);
    expect(got).toEqual([{ online: true, keypad: 'locked' }, null, { online: false, keypad: 'disabled' }, { online: false, keypad: 'enabled' }]);
    for (const [i, id] of [A, B, C].entries()) {
      const u = await store.unit(id);
      expect({ online: u!.online, keypad: u!.keypad }).toEqual(got[[0, 2, 3][i]!]);
    }
    expect(await store.unit('NOPE')).toBeNull();
    expect(await store.onlineAndKeypad([])).toEqual([]);
  });
  it('briefs: online, since and whether a door is open, as units() reads them, for every unit in order', async () => {
    const [A, B] = UNITS.map((u) => u.id) as [string, string, string];
    await store.apply({ unit: A, at: 1000, source: {}, kind: 'presence', online: true });
    await store.apply({ unit: A, at: 1500, source: {}, kind: 'door-opened', compartment: 3 });
    await store.apply({ unit: B, at: 1000, source: {}, kind: 'presence', online: true });
    await store.apply({ unit: B, at: 1200, source: {}, kind: 'door-opened', compartment: 2 });
    await store.apply({ unit: B, at: 1300, source: {}, kind: 'door-closed', compartment: 2, occupied: true });
    await store.apply({ unit: B, at: 1400, source: {}, kind: 'presence', online: false });
    const briefs = await store.briefs();
    const full = await store.units();
    expect(briefs.map((b) => b.id)).toEqual(UNITS.map((u) => u.id));
    expect(briefs).toEqual(full.map((u) => ({ id: u.id, online: u.online, since: u.since, anyDoorOpen: u.compartments.some((c) => c.doorOpen) })));
    expect(briefs.map((b) => [b.online, b.since, b.anyDoorOpen])).toEqual([
      [true, 1000, true],
      [false, 1400, false],
      [false, null, false],
    ]);
  });
});
