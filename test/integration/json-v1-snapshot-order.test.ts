/**
 * Defect 1 of issue 7: an old json-v1 snapshot must never overwrite state newer than itself. The unit here is a raw
 * MQTT client with the unit's credentials, so the test decides exactly what arrives and in which order.
 */
import type { MqttClient } from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UNITS, unitById } from '../../devices/units.js';
import { UnitStore } from '../../src/store/units.js';
import { TestRedis } from '../support/redis.js';
import { Stack, eventually } from '../support/stack.js';

const SN = 'LSN-0001';
const UNIT = unitById(SN)!;
const T = (s: string) => `lockers/${SN}/${s}`;
const T0 = Date.parse('2026-03-01T08:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

function snapshot(seq: number, at: number, open: Record<number, { door: 'open' | 'closed'; occupied: boolean }> = {}) {
  return JSON.stringify({
    sn: SN,
    fw: '1.8.2',
    seq,
    ts: iso(at),
    compartments: UNIT.compartments.map((c) => ({
      no: c.no,
      size: c.size,
      door: open[c.no]?.door ?? 'closed',
      occupied: open[c.no]?.occupied ?? false,
      fault: null,
    })),
  });
}

const event = (seq: number, at: number, type: string, fields: Record<string, unknown>) =>
  JSON.stringify({ id: `${SN}-${seq}`, seq, ts: iso(at), type, ...fields });

type Ev = { kind: string; compartment?: number; source: { reconciled?: boolean } };
const ev = (e: { event: unknown }) => e.event as Ev;

describe('json-v1: an old snapshot never undoes a newer door event', () => {
  let stack: Stack;
  let unit: MqttClient;
  let marks = 0;

  beforeEach(async () => {
    // A settle window long enough that nothing here depends on it running out.
    stack = await new Stack('embedded', { SNAPSHOT_SETTLE_MS: '20000' }).start();
    unit = await stack.connectAsUnit(SN);
    marks = 0;
  });
  afterEach(() => stack.stop());

  /** Everything published before has been handled: the unit's messages are handled in order, one at a time. */
  async function handled(): Promise<void> {
    marks++;
    await unit.publishAsync(T('events'), 'not json', { qos: 1 });
    await eventually(
      () => stack.gw!.counters.get('lg_malformed_total', { unit: SN, dialect: 'json-v1' }) === marks,
      5000,
      'the marker message',
    );
  }

  async function compartment(no: number) {
    return (await stack.unit(SN)).compartments[no - 1] as { doorOpen: boolean; occupied: boolean };
  }

  it('fresh Redis: a held retained snapshot (seq ahead) reconciled after a newer door event keeps the door open', async () => {
    await unit.publishAsync(T('presence'), 'online', { qos: 1, retain: true });
    // The retained snapshot from long ago: seq 5, everything closed and empty. Nothing applied yet, so it is held.
    await unit.publishAsync(T('state'), snapshot(5, T0), { qos: 1, retain: true });
    // A door event newer than the snapshot (seq 6) arrives within the settle window.
    await unit.publishAsync(T('events'), event(6, T0 + 60_000, 'door.opened', { no: 17 }), { qos: 1 });
    await handled();

    expect(await stack.gw!.store.lastSeq(SN)).toBe(6);
    expect(await compartment(17)).toMatchObject({ doorOpen: true });
    const log = await stack.log(SN);
    expect(log.filter((e) => ev(e).compartment === 17).map((e) => [ev(e).kind, ev(e).source.reconciled ?? false])).toEqual([
      ['door-opened', false],
    ]);
    // The rest of the snapshot was taken (silently, first reading).
    expect((await stack.unit(SN)).compartments.every((c: { updatedAt: number | null }) => c.updatedAt !== null)).toBe(true);
  });

  it('a stale snapshot delivered after newer events leaves the newer compartments alone, and reconciles the rest', async () => {
    await unit.publishAsync(T('state'), snapshot(1, T0), { qos: 1, retain: true });
    await unit.publishAsync(T('events'), event(1, T0, 'boot', { fw: '1.8.2', reason: 'power_on' }), { qos: 1 });
    await unit.publishAsync(T('events'), event(2, T0 + 1000, 'door.opened', { no: 17 }), { qos: 1 });
    await unit.publishAsync(T('events'), event(3, T0 + 5000, 'door.closed', { no: 17, occupied: true }), { qos: 1 });
    await handled();
    expect(await compartment(17)).toEqual(expect.objectContaining({ doorOpen: false, occupied: true }));

    // The snapshot published right after event 2 (door 17 open, empty), delivered late; it also says that door 3
    // was open, which no event reported.
    await unit.publishAsync(T('state'), snapshot(2, T0 + 1000, { 17: { door: 'open', occupied: false }, 3: { door: 'open', occupied: false } }), { qos: 1 });
    await handled();

    expect(await compartment(17)).toEqual(expect.objectContaining({ doorOpen: false, occupied: true }));
    expect(await compartment(3)).toEqual(expect.objectContaining({ doorOpen: true }));
    const inferred = (await stack.log(SN)).filter((e) => ev(e).source.reconciled).map((e) => [ev(e).kind, ev(e).compartment]);
    expect(inferred).toEqual([['door-opened', 3]]);
  });

  it('same second, seq decides: a snapshot with the seq before an event does not undo it even with the same time', async () => {
    await unit.publishAsync(T('state'), snapshot(1, T0), { qos: 1 });
    await unit.publishAsync(T('events'), event(1, T0, 'boot', { fw: '1.8.2', reason: 'power_on' }), { qos: 1 });
    await unit.publishAsync(T('events'), event(2, T0 + 1000, 'door.opened', { no: 9 }), { qos: 1 });
    await handled();
    // A unit whose clock has whole seconds: the snapshot of seq 1 carries the same time as event 2.
    await unit.publishAsync(T('state'), snapshot(1, T0 + 1000), { qos: 1 });
    await handled();
    expect(await compartment(9)).toMatchObject({ doorOpen: true });
    expect((await stack.log(SN)).filter((e) => ev(e).source.reconciled)).toEqual([]);
  });
});

describe('UnitStore.reconcile: readings without a seq (compact-v2 status, frame-485 poll) compare times', () => {
  it('a reading taken before an applied event leaves that compartment alone; a later one reconciles it', async () => {
    const server = await new TestRedis().start();
    const redis = server.client();
    try {
      const store = new UnitStore(redis, 'order:', UNITS);
      const U = 'a4c138f0e2d1';
      const reading = (at: number, open: number[]) => ({
        unit: U,
        at,
        source: {},
        compartments: [1, 2].map((no) => ({ compartment: no, doorOpen: open.includes(no), occupied: false })),
      });
      expect(await store.reconcile(reading(1000, []))).toEqual([]);
      await store.apply({ unit: U, at: 3000, source: { msgId: 7 }, kind: 'door-opened', compartment: 1 });
      // Taken at 2000 (before the door opened at 3000), handled after it: compartment 1 stays open.
      expect(await store.reconcile(reading(2000, [2]))).toMatchObject([{ event: { kind: 'door-opened', compartment: 2 } }]);
      expect((await store.unit(U))!.compartments.slice(0, 2).map((c) => c.doorOpen)).toEqual([true, true]);
      // A reading after the event is the truth: the door closed while we were not told.
      const later = await store.reconcile(reading(4000, []));
      expect(later!.map((e) => [e.event.kind, 'compartment' in e.event ? e.event.compartment : null])).toEqual([
        ['door-closed', 1],
        ['door-closed', 2],
      ]);
    } finally {
      redis.disconnect();
      await server.destroy();
    }
  });
});
