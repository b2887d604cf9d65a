/**
 * Presence and session logic of each dialect, end to end: real redis-server, the real gateway and its embedded
 * broker, simulators driven by the test. Offline by last will or by silence, what a unit keeps (or does not keep)
 * while away, and what the gateway does when it comes back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UNITS } from '../../devices/units.js';
import type { CommandInfo, SimulatedUnit } from '../../simulators/index.js';
import type { JsonV1Unit } from '../../simulators/json-v1.js';
import type { EvidenceRecord as LoggedEvent } from '../../src/store/units.js';
import { Stack, eventually } from '../support/stack.js';

const [JSON_V1, COMPACT_V2, FRAME_485] = UNITS.map((u) => u.id) as [string, string, string];

type Ev = LoggedEvent['event'] & { compartment?: number; online?: boolean; reason?: string; occupied?: boolean };
const ev = (e: LoggedEvent): Ev => e.event as Ev;
const src = (e: LoggedEvent): Record<string, unknown> => (e.event.source ?? {}) as Record<string, unknown>;

/** The entries logged after the one with stream id `id` (which must be in `log`). */
function since(log: LoggedEvent[], id: string): LoggedEvent[] {
  const i = log.findIndex((e) => e.streamId === id);
  if (i < 0) throw new Error(`no log entry ${id}`);
  return log.slice(i + 1);
}

/** Every 'command' event the simulator emits from now on. */
function record(sim: SimulatedUnit): CommandInfo[] {
  const got: CommandInfo[] = [];
  sim.on('command', (c: CommandInfo) => got.push(c));
  return got;
}

async function online(stack: Stack, id: string): Promise<boolean> {
  const { body } = await stack.get('/v1/units');
  return body.units.find((u: { id: string }) => u.id === id).online as boolean;
}

describe('json-v1: last will, events buffered by the unit while away, replay in seq order', () => {
  const stack = new Stack();
  // The unit's own clock, moved by the test, so that device timestamps can be told from receipt times.
  let clock = Math.floor((Date.now() - 3_600_000) / 1000) * 1000;
  let sim: JsonV1Unit;

  beforeAll(async () => {
    await stack.start();
    sim = (await stack.sim(JSON_V1, { now: () => clock })) as JsonV1Unit;
    await eventually(() => online(stack, JSON_V1), 5000, 'LSN-0001 online');
  });
  afterAll(() => stack.stop());

  it('crash → offline by last will; events raised meanwhile arrive after reconnect, in order, once, with device times', async () => {
    // The boot event went through.
    await eventually(async () => (await stack.gw!.store.lastSeq(JSON_V1)) === sim.lastSeq, 5000, 'boot event applied');
    const seqBefore = sim.lastSeq;

    await sim.crash();
    await eventually(async () => !(await online(stack, JSON_V1)), 5000, 'offline after crash');
    const offline = (await stack.log(JSON_V1)).filter((e) => ev(e).kind === 'presence').at(-1)!;
    expect(ev(offline)).toMatchObject({ kind: 'presence', online: false, reason: 'last-will' });

    // A door forced open and closed with a parcel inside while the unit is away: it keeps the events.
    const t1 = clock + 60_000;
    const t2 = t1 + 7_000;
    clock = t1;
    sim.forceDoor(5);
    sim.putParcel(5);
    clock = t2;
    sim.closeDoor(5);
    expect(sim.buffered).toBe(3); // alarm, door.opened, door.closed
    expect(sim.lastSeq).toBe(seqBefore + 3);
    expect((await stack.unit(JSON_V1)).compartments[4]).toMatchObject({ doorOpen: false, occupied: false });

    // Reconnect with every message sent twice: the replay itself is duplicated.
    sim.setFaults({ duplicateRate: 1 });
    const dupsBefore = stack.gw!.counters.get('lg_duplicates_total', { unit: JSON_V1 });
    await sim.reconnect();
    await eventually(async () => (await stack.gw!.store.lastSeq(JSON_V1)) === seqBefore + 3, 5000, 'replayed events applied');
    await eventually(() => online(stack, JSON_V1), 5000, 'online again');
    await eventually(() => sim.buffered === 0, 5000, 'buffer drained');
    sim.setFaults({ duplicateRate: 0 });

    const log = await stack.log(JSON_V1);
    const replayed = log.filter((e) => typeof src(e).seq === 'number' && (src(e).seq as number) > seqBefore);
    expect(replayed.map((e) => [src(e).seq, ev(e).kind, ev(e).at])).toEqual([
      [seqBefore + 1, 'alarm', t1],
      [seqBefore + 2, 'door-opened', t1],
      [seqBefore + 3, 'door-closed', t2],
    ]);
    expect(replayed.map((e) => src(e).id)).toEqual([1, 2, 3].map((i) => `${JSON_V1}-${seqBefore + i}`));
    expect(ev(replayed[0]!)).toMatchObject({ alarm: 'door_forced', compartment: 5 });
    expect(ev(replayed[2]!)).toMatchObject({ compartment: 5, occupied: true });
    // Nothing was inferred: the real events told the story before the snapshot was reconciled.
    expect(log.filter((e) => ev(e).compartment === 5 && src(e).reconciled)).toEqual([]);
    // The unit said it was back before replaying.
    // (what the unit reported; the gateway's own entries, e.g. a staff alert about the forced door, sit between)
    const back = since(log, offline.streamId).filter((e) => (ev(e) as { actor?: { type?: string } }).actor?.type === 'unit');
    expect(ev(back[0]!)).toMatchObject({ kind: 'presence', online: true, reason: 'presence' });
    expect(back.slice(1, 4)).toEqual(replayed);
    // Every message came twice; the copies were dropped.
    expect(stack.gw!.counters.get('lg_duplicates_total', { unit: JSON_V1 })).toBeGreaterThanOrEqual(dupsBefore + 3);

    expect((await stack.get(`/v1/units/${JSON_V1}`)).body.compartments[4]).toMatchObject({ no: 5, doorOpen: false, occupied: true });
  });
});

describe('compact-v2: heartbeats, reconnect reconciliation, reboot', () => {
  const HEARTBEAT_TIMEOUT_MS = 1500;
  const stack = new Stack('embedded', { HEARTBEAT_TIMEOUT_MS: String(HEARTBEAT_TIMEOUT_MS) });
  let sim: SimulatedUnit | null = null;

  beforeAll(() => stack.start());
  afterAll(() => stack.stop());

  /** A new simulator for the unit, once the gateway has its boot status (the one before powered off cleanly). */
  async function fresh(heartbeatMs: number): Promise<SimulatedUnit> {
    await sim?.stop();
    const mark = (await stack.log(COMPACT_V2)).at(-1)?.streamId;
    sim = await stack.sim(COMPACT_V2, { heartbeatMs });
    await eventually(async () => {
      const log = await stack.log(COMPACT_V2);
      return (mark ? since(log, mark) : log).some((e) => ev(e).kind === 'presence' && ev(e).online === true);
    }, 5000, 'a4c138f0e2d1 online');
    return sim;
  }

  it('silent for longer than the heartbeat timeout → offline (heartbeat-timeout); its next message → online and a status request', async () => {
    const s = await fresh(60_000); // boots (status, m 1), then says nothing
    const timeout = await eventually(
      async () => (await stack.log(COMPACT_V2)).find((e) => ev(e).kind === 'presence' && ev(e).reason === 'heartbeat-timeout'),
      HEARTBEAT_TIMEOUT_MS * 4,
      'heartbeat-timeout',
    );
    expect(ev(timeout)).toMatchObject({ online: false });
    expect(await online(stack, COMPACT_V2)).toBe(false);

    const commands = record(s);
    s.forceDoor(4); // alarm (t 9) and door (t 2): the unit speaks again
    await eventually(() => commands.some((c) => c.op === 'status'), 5000, 'status request');
    const status = commands.find((c) => c.op === 'status')!;
    expect(JSON.parse(status.raw)).toMatchObject({ t: 102, d: {} });
    expect(status).toMatchObject({ result: 'done' });
    await eventually(() => online(stack, COMPACT_V2), 1000, 'online again');

    const after = since(await stack.log(COMPACT_V2), timeout.streamId);
    expect(ev(after[0]!)).toMatchObject({ kind: 'presence', online: true, reason: 'message' });
    expect(after.some((e) => ev(e).kind === 'door-opened' && ev(e).compartment === 4 && typeof src(e).msgId === 'number')).toBe(true);
    s.closeDoor(4);
    await eventually(async () => !(await stack.unit(COMPACT_V2)).compartments[3].doorOpen, 5000, 'door 4 closed');
  });

  it('back while Redis is down: the unit is online in the store once Redis is back, not offline while its heartbeats come', async () => {
    const s = await fresh(200);
    const mark = (await stack.log(COMPACT_V2)).at(-1)!.streamId;
    await s.crash();
    await eventually(async () => since(await stack.log(COMPACT_V2), mark).some((e) => ev(e).kind === 'presence' && ev(e).reason === 'last-will'), 5000, 'last will');
    await stack.redis.stop();
    const failedBefore = stack.gw!.counters.get('lg_handler_errors_total', { unit: COMPACT_V2 });
    await s.reconnect(); // its heartbeats reach the gateway, which cannot write that it is back
    await eventually(() => stack.gw!.counters.get('lg_handler_errors_total', { unit: COMPACT_V2 }) > failedBefore, 10_000, 'a failed store');
    await stack.redis.start();
    await eventually(() => online(stack, COMPACT_V2).catch(() => false), 10_000, 'online in the store');
  });

  it('crash, a parcel appears while it is away (never reported), reconnect → status request reconciles it', async () => {
    const s = await fresh(300);
    expect((await stack.unit(COMPACT_V2)).compartments[7]).toMatchObject({ doorOpen: false, occupied: false });
    const mark = (await stack.log(COMPACT_V2)).at(-1)!.streamId;
    await s.crash();
    const offline = await eventually(
      async () => since(await stack.log(COMPACT_V2), mark).find((e) => ev(e).kind === 'presence' && ev(e).reason === 'last-will'),
      5000,
      'last will',
    );
    expect(await online(stack, COMPACT_V2)).toBe(false);

    s.setOccupied(8, true); // the controller keeps nothing and reports nothing
    const commands = record(s);
    const reconciledBefore = stack.gw!.counters.get('lg_reconciled_events_total', { unit: COMPACT_V2 });
    await s.reconnect(); // fresh session, no status of its own; its next heartbeat shows it is back

    await eventually(async () => (await stack.get(`/v1/units/${COMPACT_V2}`)).body.compartments[7].occupied, 5000, 'compartment 8 occupied');
    expect(commands.filter((c) => c.op === 'status')).toHaveLength(1);
    expect(await online(stack, COMPACT_V2)).toBe(true);
    const after = since(await stack.log(COMPACT_V2), offline.streamId);
    expect(ev(after[0]!)).toMatchObject({ kind: 'presence', online: true, reason: 'message' });
    const inferred = after.filter((e) => ev(e).compartment === 8);
    expect(inferred.map((e) => [ev(e).kind, ev(e).occupied, src(e)])).toEqual([
      ['door-opened', undefined, { reconciled: true }],
      ['door-closed', true, { reconciled: true }],
    ]);
    expect(stack.gw!.counters.get('lg_reconciled_events_total', { unit: COMPACT_V2 })).toBe(reconciledBefore + 2);
    // Only compartment 8 changed.
    expect(after.filter((e) => src(e).reconciled && ev(e).compartment !== 8)).toEqual([]);
  });

  it('reboot: status with m 1 starts a new duplicate window, so small message ids after it are not dropped', async () => {
    const s = await fresh(60_000);
    const doorEvents = async () =>
      (await stack.log(COMPACT_V2))
        .filter((e) => ev(e).compartment === 7 && ev(e).kind.startsWith('door-') && !src(e).reconciled)
        .map((e) => [ev(e).kind, src(e).msgId]);
    // m 1 was the boot status; the alarm, open and close take m 2, 3, 4 (all in the gateway's window now).
    s.forceDoor(7);
    s.closeDoor(7, true);
    await eventually(async () => (await doorEvents()).length === 2, 5000, 'door 7 events before the reboot');
    expect(await doorEvents()).toEqual([
      ['door-opened', 3],
      ['door-closed', 4],
    ]);
    const dups = stack.gw!.counters.get('lg_duplicates_total', { unit: COMPACT_V2 });

    await s.reboot(); // crash, boot: status with m 1, then the same small ids again
    s.forceDoor(7);
    s.closeDoor(7, false);
    await eventually(async () => (await doorEvents()).length === 4, 5000, 'door 7 events after the reboot');
    expect(await doorEvents()).toEqual([
      ['door-opened', 3],
      ['door-closed', 4],
      ['door-opened', 3],
      ['door-closed', 4],
    ]);
    expect(stack.gw!.counters.get('lg_duplicates_total', { unit: COMPACT_V2 })).toBe(dups);
    expect((await stack.unit(COMPACT_V2)).compartments[6]).toMatchObject({ doorOpen: false, occupied: false });
    const boot = (await stack.log(COMPACT_V2)).filter((e) => ev(e).kind === 'presence').at(-1)!;
    expect(ev(boot)).toMatchObject({ online: true });
  });
});

describe('frame-485: DTU state, last will, poll right after it comes back', () => {
  // Interval polls far apart: a poll seen after the reconnect can only be the one the DTU's return triggered.
  const stack = new Stack('embedded', { POLL_INTERVAL_MS: '60000' });
  let sim: SimulatedUnit;

  beforeAll(async () => {
    await stack.start();
    sim = await stack.sim(FRAME_485);
    await eventually(() => online(stack, FRAME_485), 5000, 'DTU online');
    await eventually(async () => (await stack.unit(FRAME_485)).compartments.every((c: { updatedAt: number | null }) => c.updatedAt !== null), 5000, 'first poll');
  });
  afterAll(() => stack.stop());

  it('crash → offline (retained 0); reconnect → online and both boards polled at once', async () => {
    await sim.crash();
    await eventually(async () => !(await online(stack, FRAME_485)), 5000, 'offline after crash');
    const offline = (await stack.log(FRAME_485)).filter((e) => ev(e).kind === 'presence').at(-1)!;
    expect(ev(offline)).toMatchObject({ online: false, reason: 'dtu-last-will' });

    // The will is retained: anyone subscribing now learns the DTU is away.
    const spy = await stack.connectAsGateway();
    const retained: { payload: string; retain: boolean }[] = [];
    spy.on('message', (_t, payload, packet) => retained.push({ payload: payload.toString(), retain: packet.retain }));
    await spy.subscribeAsync(`dtu/${FRAME_485}/state`, { qos: 1 });
    await eventually(() => retained.length > 0, 3000, 'retained DTU state');
    expect(retained[0]).toEqual({ payload: '0', retain: true });

    sim.setOccupied(3, true); // nobody reports it: only a poll can tell
    const commands = record(sim);
    await sim.reconnect();
    await eventually(async () => (await stack.unit(FRAME_485)).compartments[2].occupied, 5000, 'compartment 3 occupied by the poll');
    expect(await online(stack, FRAME_485)).toBe(true);
    await eventually(() => retained.length > 1, 3000, 'live DTU state');
    expect(retained.slice(1)).toEqual([{ payload: '1', retain: false }]);
    const polls = commands.filter((c) => c.op === 'status').map((c) => c.raw.split(' ')[1]);
    expect(polls.sort()).toEqual(['01', '02']);

    const after = since(await stack.log(FRAME_485), offline.streamId);
    expect(ev(after[0]!)).toMatchObject({ kind: 'presence', online: true, reason: 'dtu-state' });
    expect(after.filter((e) => ev(e).compartment === 3).map((e) => [ev(e).kind, src(e).reconciled])).toEqual([
      ['door-opened', true],
      ['door-closed', true],
    ]);
  });
});
