/**
 * What survives a restart, end to end: the gateway restarted against an external broker (a real Mosquitto, so the
 * simulators stay connected and the gateway's persistent session keeps what the units publish meanwhile), and the
 * real redis-server restarted (appendonly, fsync always).
 */
import { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { UNITS } from '../../devices/units.js';
import type { SimulatedUnit } from '../../simulators/index.js';
import type { JsonV1Unit } from '../../simulators/json-v1.js';
import type { EvidenceRecord as LoggedEvent } from '../../src/store/units.js';
import { Stack, eventually } from '../support/stack.js';

const [JSON_V1, COMPACT_V2, FRAME_485] = UNITS.map((u) => u.id) as [string, string, string];
const IDS = [JSON_V1, COMPACT_V2, FRAME_485];

type Ev = LoggedEvent['event'] & { compartment?: number; occupied?: boolean };
const ev = (e: LoggedEvent): Ev => e.event as Ev;
const src = (e: LoggedEvent): Record<string, unknown> => (e.event.source ?? {}) as Record<string, unknown>;
type Compartment = { no: number; doorOpen: boolean; occupied: boolean };

describe('restarts: gateway (Mosquitto keeps its session) and Redis', () => {
  // A fixed client id: the restarted gateway takes over the persistent session of the one before.
  const stack = new Stack('mosquitto', { MQTT_CLIENT_ID: 'gw-durable', HEARTBEAT_TIMEOUT_MS: '60000' });
  const sims = new Map<string, SimulatedUnit>();
  const json = () => sims.get(JSON_V1) as JsonV1Unit;

  const noDelay = vi.spyOn(Socket.prototype, 'setNoDelay');
  beforeAll(async () => {
    await stack.start();
    for (const id of IDS) sims.set(id, await stack.sim(id));
    await eventually(async () => (await stack.gw!.store.units()).every((u) => u.online), 8000, 'all online');
    await eventually(async () => (await stack.unit(FRAME_485)).compartments.every((c: { updatedAt: number | null }) => c.updatedAt !== null), 5000, 'first poll');
  });
  afterAll(async () => {
    await stack.stop();
    noDelay.mockRestore();
  });

  it("the gateway reaches Mosquitto over a socket with Nagle off (a command must not wait ~40 ms)", () => {
    expect(stack.gw!.bus.transport).toBe('socket');
    const sockets = noDelay.mock.contexts as Socket[];
    expect(sockets.some((s, i) => s.remotePort === stack.mosquitto!.port && noDelay.mock.calls[i]![0] === true)).toBe(true);
  });

  async function compartments(): Promise<Record<string, Compartment[]>> {
    const { status, body } = await stack.get('/v1/units');
    expect(status).toBe(200);
    return Object.fromEntries(body.units.map((u: { id: string; compartments: Compartment[] }) => [u.id, u.compartments]));
  }

  async function streamIds(): Promise<Record<string, string[]>> {
    const out: Record<string, string[]> = {};
    for (const id of IDS) out[id] = (await stack.log(id)).map((e) => e.streamId);
    return out;
  }

  /** A person takes a parcel to compartment `no`: the gateway opens it, the parcel goes in, the door is closed. */
  async function deposit(id: string, no: number): Promise<void> {
    expect((await stack.gw!.bus.commands.send(id, { op: 'open', compartment: no })).result).toBe('done');
    await eventually(async () => (await stack.unit(id)).compartments[no - 1].doorOpen, 5000, `${id}: door ${no} open`);
    sims.get(id)!.putParcel(no);
    sims.get(id)!.closeDoor(no);
    await eventually(async () => {
      const c = (await stack.unit(id)).compartments[no - 1];
      return !c.doorOpen && c.occupied;
    }, 5000, `${id}: ${no} closed and occupied`);
  }

  it('gateway restart: state, log and json-v1 watermark survive; what the unit published meanwhile arrives; an old event redelivered is dropped', async () => {
    // Every json-v1 event as it went over the wire, to redeliver one later.
    const spy = await stack.connectAsGateway();
    const wire = new Map<number, Buffer>();
    spy.on('message', (topic, payload) => {
      if (topic === `lockers/${JSON_V1}/events`) wire.set((JSON.parse(payload.toString()) as { seq: number }).seq, payload);
    });
    await spy.subscribeAsync(`lockers/${JSON_V1}/events`, { qos: 1 });

    await deposit(JSON_V1, 5);
    await deposit(COMPACT_V2, 6);
    await deposit(FRAME_485, 7);
    const before = await compartments();
    const logBefore = await streamIds();
    const seqBefore = await stack.gw!.store.lastSeq(JSON_V1);
    expect(seqBefore).toBe(json().lastSeq);
    await eventually(() => wire.has(seqBefore), 3000, 'spy saw the last event');

    await stack.stopGateway();

    // While the gateway is down the json-v1 unit raises three events; the broker acknowledges them (QoS 1) and keeps
    // them in the gateway's session.
    json().forceDoor(9);
    json().putParcel(9);
    json().closeDoor(9);
    await eventually(() => json().buffered === 0, 5000, 'broker took the events');
    expect(json().lastSeq).toBe(seqBefore + 3);

    const restartedAt = Date.now();
    await stack.startGateway();
    await eventually(async () => (await stack.gw!.store.lastSeq(JSON_V1)) === seqBefore + 3, 5000, 'events from the session');
    await eventually(async () => (await stack.unit(JSON_V1)).compartments[8].occupied, 5000, 'compartment 9 occupied');

    // The events themselves, with their ids and the unit's times, in order, not inferred.
    const log = await stack.log(JSON_V1);
    const meanwhile = log.filter((e) => (src(e).seq as number) > seqBefore);
    expect(meanwhile.map((e) => [src(e).id, ev(e).kind, ev(e).compartment])).toEqual([
      [`${JSON_V1}-${seqBefore + 1}`, 'alarm', 9],
      [`${JSON_V1}-${seqBefore + 2}`, 'door-opened', 9],
      [`${JSON_V1}-${seqBefore + 3}`, 'door-closed', 9],
    ]);
    // Stamped by the unit when they happened (whole seconds), not on receipt after the restart.
    for (const e of meanwhile) expect([ev(e).at % 1000, ev(e).at < restartedAt]).toEqual([0, true]);
    expect(log.filter((e) => ev(e).compartment === 9 && src(e).reconciled)).toEqual([]);

    // Nothing lost from the log; every compartment as it was, except the one that changed meanwhile.
    const logAfter = await streamIds();
    for (const id of IDS) expect(logAfter[id]!.slice(0, logBefore[id]!.length)).toEqual(logBefore[id]);
    const after = await compartments();
    expect(after[JSON_V1]![8]).toMatchObject({ no: 9, doorOpen: false, occupied: true });
    expect({ ...after, [JSON_V1]: after[JSON_V1]!.filter((c) => c.no !== 9) }).toEqual({
      ...before,
      [JSON_V1]: before[JSON_V1]!.filter((c) => c.no !== 9),
    });
    expect(after[COMPACT_V2]![5]).toMatchObject({ doorOpen: false, occupied: true });
    expect(after[FRAME_485]![6]).toMatchObject({ doorOpen: false, occupied: true });

    // An old event delivered again (the unit itself on the wire, byte for byte): below the watermark, dropped.
    await json().crash();
    await eventually(async () => !(await stack.unit(JSON_V1)).online, 5000, 'json-v1 offline');
    const oldSeq = seqBefore - 1;
    const old = wire.get(oldSeq)!;
    expect(old).toBeDefined();
    const dups = stack.gw!.counters.get('lg_duplicates_total', { unit: JSON_V1 });
    const unit = await stack.connectAsUnit(JSON_V1);
    await unit.publishAsync(`lockers/${JSON_V1}/events`, old, { qos: 1 });
    await eventually(() => stack.gw!.counters.get('lg_duplicates_total', { unit: JSON_V1 }) === dups + 1, 5000, 'redelivery dropped');
    await unit.endAsync();
    expect((await stack.log(JSON_V1)).filter((e) => src(e).seq === oldSeq)).toHaveLength(1);
    expect(await stack.gw!.store.lastSeq(JSON_V1)).toBe(seqBefore + 3);
    await json().reconnect();
    await eventually(async () => (await stack.unit(JSON_V1)).online, 5000, 'json-v1 back');
  });

  it('Redis restart: units, compartments, the log and the json-v1 watermark survive; the gateway carries on', async () => {
    const before = await compartments();
    const logBefore = await streamIds();
    const seq = await stack.gw!.store.lastSeq(JSON_V1);

    await stack.redis.restart();

    await eventually(async () => (await stack.get('/v1/units')).status === 200, 8000, 'API answers again');
    expect(await compartments()).toEqual(before);
    const logAfter = await streamIds();
    for (const id of IDS) expect(logAfter[id]!.slice(0, logBefore[id]!.length)).toEqual(logBefore[id]);
    expect(await stack.gw!.store.lastSeq(JSON_V1)).toBe(seq);

    // And it goes on working with the restarted Redis.
    await deposit(JSON_V1, 11);
    await deposit(COMPACT_V2, 12);
    await deposit(FRAME_485, 13);
    const door11 = (await stack.log(JSON_V1)).filter((e) => ev(e).compartment === 11 && ev(e).kind.startsWith('door-'));
    expect(door11.map((e) => [ev(e).kind, src(e).seq])).toEqual([
      ['door-opened', seq + 1],
      ['door-closed', seq + 2],
    ]);
  });

  it('Redis down while a unit reports: the message is not acknowledged, and is stored once Redis is back', async () => {
    const seq = await stack.gw!.store.lastSeq(JSON_V1);
    await stack.redis.stop();
    // A person forces door 20 open and closes it while the gateway cannot store anything.
    json().forceDoor(20);
    json().closeDoor(20, false);
    // the gateway got them and could not store them (so it did not acknowledge them)...
    await eventually(() => stack.gw!.counters.get('lg_handler_errors_total', { unit: JSON_V1 }) > 0, 10_000, 'a failed store');
    // ...and keeps not acknowledging while Redis stays down (no "poison message" drop during an outage)
    await new Promise((r) => setTimeout(r, 3500));
    await stack.redis.start();
    await eventually(
      async () => (await stack.gw!.store.lastSeq(JSON_V1).catch(() => -1)) >= seq + 3,
      15_000,
      'the events of the outage stored',
    );
    // what the unit reported about door 20 (the staff alert the forced door raised is the gateway's own entry)
    const door20 = (await stack.log(JSON_V1)).filter((e) => ev(e).compartment === 20 && (ev(e) as { actor?: { type?: string } }).actor?.type === 'unit');
    // alarm door_forced, door-opened, door-closed: each exactly once, in seq order
    expect(door20.map((e) => src(e).seq)).toEqual([seq + 1, seq + 2, seq + 3]);
  });
});
