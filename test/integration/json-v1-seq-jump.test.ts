/**
 * Defect 3 of issue 7: one absurd json-v1 seq must not become the watermark (every real event after it would be
 * dropped as a repeat). An impossible jump is logged, counted, reported to staff once, and ignored; a real unit
 * replaying its backlog after a long disconnect is not taken for one.
 */
import type { MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { JsonV1Unit } from '../../simulators/index.js';
import { TestReceiver } from '../support/receiver.js';
import { Stack, eventually } from '../support/stack.js';

const SN = 'LSN-0001';
const T = (s: string) => `lockers/${SN}/${s}`;
const ABSURD = 9007199254740991;
const T0 = Date.parse('2026-03-01T08:00:00Z');
const event = (seq: number, type: string, fields: Record<string, unknown>) =>
  JSON.stringify({ id: `${SN}-${seq}`, seq, ts: new Date(T0 + Math.min(seq, 1e6) * 1000).toISOString(), type, ...fields });

describe('json-v1: an impossible seq jump', () => {
  const hooks = new TestReceiver();
  let stack: Stack;
  let unit: MqttClient;
  let marks = 0;

  beforeAll(() => hooks.start());
  afterAll(() => hooks.stop());
  beforeEach(async () => {
    hooks.reset();
    stack = await new Stack('embedded', {
      PROPERTY_WEBHOOK_URL: `${hooks.url}/property`,
      PROPERTY_WEBHOOK_SECRET: 'property-secret-0123456789',
    }).start();
    unit = await stack.connectAsUnit(SN);
    marks = 0;
  });
  afterEach(() => stack.stop());

  const suspects = () => stack.gw!.counters.get('lg_seq_suspect_total', { unit: SN });

  /** Everything published before has been handled (the unit's messages are handled in order). */
  async function handled(): Promise<void> {
    marks++;
    await unit.publishAsync(T('events'), 'not json', { qos: 1 });
    await eventually(() => stack.gw!.counters.get('lg_malformed_total', { unit: SN, dialect: 'json-v1' }) === marks, 5000, 'marker');
  }

  it('is ignored: the watermark stays, later real events are applied, staff are told once', async () => {
    await unit.publishAsync(T('events'), event(1, 'boot', { fw: '1.8.2', reason: 'power_on' }), { qos: 1 });
    await unit.publishAsync(T('events'), event(2, 'door.opened', { no: 4 }), { qos: 1 });
    await unit.publishAsync(T('events'), event(ABSURD, 'door.opened', { no: 5 }), { qos: 1 });
    await unit.publishAsync(T('events'), event(ABSURD - 7, 'code.entered', { code: '123456' }), { qos: 1 });
    await unit.publishAsync(T('events'), event(3, 'door.opened', { no: 6 }), { qos: 1 });
    await unit.publishAsync(T('events'), event(4, 'door.closed', { no: 6, occupied: true }), { qos: 1 });
    await handled();

    expect(await stack.gw!.store.lastSeq(SN)).toBe(4);
    const doors = (await stack.unit(SN)).compartments as { doorOpen: boolean; occupied: boolean }[];
    expect([doors[3]!.doorOpen, doors[4]!.doorOpen, doors[5]!.doorOpen, doors[5]!.occupied]).toEqual([true, false, false, true]);
    // The unit's own events in its evidence log (the alert sent to staff may be logged there too).
    const seqs = (await stack.log(SN)).map((e) => e.event.source?.seq).filter((s) => s !== undefined);
    expect(seqs).toEqual([1, 2, 3, 4]);
    expect(suspects()).toBe(2);

    const [hook] = await hooks.waitFor(1, 10_000, '/property');
    expect(hook!.body).toMatchObject({ kind: 'seq-suspect', params: { unit: SN, seq: String(ABSURD), lastSeq: '2' } });
    expect(JSON.stringify(hook!.body)).not.toContain('123456');
    // The second suspect came while the watermark was still 2: the same alert, not sent again.
    await unit.publishAsync(T('events'), event(5, 'door.opened', { no: 7 }), { qos: 1 });
    await handled();
    expect(hooks.requests.filter((r) => r.path === '/property')).toHaveLength(1);
    // A new suspect after the watermark moved on is a new alert.
    await unit.publishAsync(T('events'), event(ABSURD - 9, 'door.opened', { no: 8 }), { qos: 1 });
    const [, second] = await hooks.waitFor(2, 10_000, '/property');
    expect(second!.body).toMatchObject({ kind: 'seq-suspect', params: { lastSeq: '5' } });
  });

  it('a snapshot claiming an impossible seq is not reconciled', async () => {
    const closed = (no: number) => ({ no, size: no <= 16 ? 'S' : no <= 28 ? 'M' : no <= 34 ? 'L' : 'XL', door: 'closed', occupied: false, fault: null });
    const compartments = Array.from({ length: 36 }, (_, i) => closed(i + 1));
    await unit.publishAsync(T('events'), event(1, 'boot', { fw: '1.8.2', reason: 'power_on' }), { qos: 1 });
    await unit.publishAsync(T('events'), event(2, 'door.opened', { no: 4 }), { qos: 1 });
    await handled();
    const state = (seq: number) => JSON.stringify({ sn: SN, fw: '1.8.2', seq, ts: new Date(T0 + 9000).toISOString(), compartments });
    await unit.publishAsync(T('state'), state(ABSURD), { qos: 1 });
    await handled();
    expect(suspects()).toBe(1);
    expect((await stack.unit(SN)).compartments[3].doorOpen).toBe(true);
    expect((await stack.log(SN)).filter((e) => e.event.source?.reconciled)).toEqual([]);
    // The same reading with a believable seq is reconciled.
    await unit.publishAsync(T('state'), state(2), { qos: 1 });
    await handled();
    expect((await stack.unit(SN)).compartments[3].doorOpen).toBe(false);
  });
});

// The unit keeps 1,000 events while away (the simulators' default); here 100, so that a backlog that lost events from
// its buffer (the only way a replay starts ahead of the watermark) stays quick to replay.
const BUFFER = 100;

describe('json-v1: a real unit replaying its backlog after a long disconnect', () => {
  it('with the default limits: 300 events raised offline (200 lost from its buffer) are taken, none suspect', async () => {
    const stack = await new Stack().start();
    try {
      const sim = (await stack.sim(SN, { extra: { bufferMax: BUFFER } })) as JsonV1Unit;
      await eventually(async () => (await stack.gw!.store.lastSeq(SN)) === sim.lastSeq, 5000, 'boot applied');
      await sim.crash();
      for (let i = 0; i < 100; i++) {
        sim.forceDoor(36);
        sim.closeDoor(36);
      }
      expect(sim.buffered).toBe(BUFFER);
      await sim.reconnect();
      await eventually(async () => (await stack.gw!.store.lastSeq(SN)) === sim.lastSeq, 20_000, 'backlog applied');
      expect(stack.gw!.counters.get('lg_seq_suspect_total', { unit: SN })).toBe(0);
    } finally {
      await stack.stop();
    }
  }, 40_000);

  it('with a tight limit, the time the unit was away is what lets its backlog through', async () => {
    // 20 ahead, plus one per second away. The backlog below starts 201 ahead of the watermark.
    const stack = await new Stack('embedded', { JSON_V1_SEQ_JUMP_MAX: '20', JSON_V1_SEQ_JUMP_PER_S: '1' }).start();
    try {
      const redis = stack.redis.client();
      const sim = (await stack.sim(SN, { extra: { bufferMax: BUFFER } })) as JsonV1Unit;
      await eventually(async () => (await stack.gw!.store.lastSeq(SN)) === sim.lastSeq, 5000, 'boot applied');
      const watermark = sim.lastSeq;
      await sim.crash();
      for (let i = 0; i < 100; i++) {
        sim.forceDoor(36);
        sim.closeDoor(36);
      }
      // The watermark last moved ten minutes ago: the unit was away that long (20 + 600 allowed).
      await redis.hset(`lg:unit:${SN}`, 'lastSeqAt', Date.now() - 600_000);
      await sim.reconnect();
      await eventually(async () => (await stack.gw!.store.lastSeq(SN)) === sim.lastSeq, 20_000, 'backlog applied');
      expect(stack.gw!.counters.get('lg_seq_suspect_total', { unit: SN })).toBe(0);
      expect(sim.lastSeq - watermark).toBe(300);

      // The same backlog after a few seconds away would be more than the unit could have raised in that time.
      await sim.crash();
      for (let i = 0; i < 100; i++) {
        sim.forceDoor(35);
        sim.closeDoor(35);
      }
      const before = await stack.gw!.store.lastSeq(SN);
      await sim.reconnect();
      await eventually(() => stack.gw!.counters.get('lg_seq_suspect_total', { unit: SN }) > 0, 10_000, 'suspect');
      expect(await stack.gw!.store.lastSeq(SN)).toBe(before);
      redis.disconnect();
    } finally {
      await stack.stop();
    }
  }, 40_000);
});
