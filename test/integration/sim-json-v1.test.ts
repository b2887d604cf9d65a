/**
 * The json-v1 simulator (LSN-0001) against shared/protocol/json-v1.md, over a real MQTT broker. The "gateway" here is a
 * plain MQTT client; commands are built and signed in this file from the document's formula.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { unitById } from '../../devices/units.js';
import { createSimulator, type SimOptions, type SimulatedUnit } from '../../simulators/index.js';
import { Probe, settle, startTestBroker, type Received, type TestBroker } from '../../simulators/testkit.js';

const SN = 'LSN-0001';
const UNIT = unitById(SN)!;
const vectors = JSON.parse(readFileSync(new URL('../fixtures/vectors/json-v1.json', import.meta.url), 'utf8')) as {
  deviceKeyHex: string;
  encode: { name: string; payload: string; command: { cid: string } }[];
};
const KEY = Buffer.from(vectors.deviceKeyHex, 'hex');
const T = (s: string) => `lockers/${SN}/${s}`;
/** The simulated unit's clock: 10,000 s before the vectors' expiry times. */
const CLOCK_MS = 1_794_990_000_000;
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

// ---------------------------------------------------------------- the test's own command encoding (from the document)

type Args = Record<string, string | number | boolean>;
const canonical = (args: Args) => JSON.stringify(Object.fromEntries(Object.entries(args).sort(([a], [b]) => (a < b ? -1 : 1))));
let cidCounter = 0;

function command(op: string, args: Args, o: { cid?: string; exp?: number; key?: Buffer; signArgs?: Args } = {}) {
  const cid = o.cid ?? `T${++cidCounter}-${Math.random().toString(36).slice(2, 8)}`;
  const exp = o.exp ?? CLOCK_MS / 1000 + 60;
  const sig = createHmac('sha256', o.key ?? KEY)
    .update(`${cid}|${op}|${exp}|${canonical(o.signArgs ?? args)}`, 'utf8')
    .digest('hex');
  return { cid, payload: JSON.stringify({ cid, op, args, exp, sig }) };
}

// ---------------------------------------------------------------- fixtures

const json = (m: Received) => JSON.parse(m.payload.toString('utf8')) as Record<string, unknown>;
const isEvent = (type: string, extra: Record<string, unknown> = {}) => (m: Received) =>
  m.topic === T('events') && json(m).type === type && Object.entries(extra).every(([k, v]) => json(m)[k] === v);
const isReply = (cid: string) => (m: Received) => m.topic === T('replies') && json(m).cid === cid;
const isPresence = (p: string) => (m: Received) => m.topic === T('presence') && m.payload.toString() === p;
const isState = (m: Received) => m.topic === T('state');

interface Ctx {
  broker: TestBroker;
  probe: Probe;
  sim: SimulatedUnit;
}
const open: (() => Promise<void>)[] = [];

async function setup(extra: Partial<SimOptions> = {}): Promise<Ctx> {
  const broker = await startTestBroker();
  const probe = await Probe.connect(broker.url, { [`lockers/${SN}/#`]: 1 });
  const sim = createSimulator({
    unit: UNIT,
    brokerUrl: broker.url,
    password: 'pw-LSN-0001',
    key: KEY,
    now: () => CLOCK_MS,
    seed: 1,
    reconnectMs: 0,
    ...extra,
  });
  open.push(async () => {
    await sim.stop();
    await probe.close();
    await broker.close();
  });
  await sim.start();
  await probe.waitFor(isState, { what: 'the initial snapshot' }); // the last of the initial publications
  return { broker, probe, sim };
}

afterEach(async () => {
  for (const close of open.splice(0)) await close();
});

async function send(probe: Probe, cmd: { cid: string; payload: string }) {
  const from = probe.mark();
  await probe.publish(T('commands'), cmd.payload);
  return json(await probe.waitFor(isReply(cmd.cid), { from, what: `reply to ${cmd.cid}` }));
}

function compartment(state: Record<string, unknown>, no: number) {
  return (state.compartments as { no: number }[]).find((c) => c.no === no) as Record<string, unknown>;
}

async function lateRetained(broker: TestBroker): Promise<Map<string, string>> {
  const late = await Probe.connect(broker.url, { [`lockers/${SN}/#`]: 1 });
  await settle(150);
  const retained = new Map(late.messages.filter((m) => m.retain).map((m) => [m.topic, m.payload.toString('utf8')]));
  await late.close();
  return retained;
}

// ---------------------------------------------------------------- tests

describe('json-v1 simulator', () => {
  it('connects as documented and publishes presence, a boot event and a retained snapshot', async () => {
    const { broker, probe } = await setup();
    expect(broker.connects.at(-1)).toEqual({
      clientId: SN,
      username: SN,
      password: 'pw-LSN-0001',
      keepalive: 30,
      clean: false,
      will: { topic: T('presence'), payload: 'offline', qos: 1, retain: true },
    });
    await probe.waitFor(isPresence('online'));
    const boot = json(await probe.waitFor(isEvent('boot')));
    expect(boot).toMatchObject({ id: `${SN}-1`, seq: 1, type: 'boot', fw: '1.8.2', reason: 'power_on' });
    expect(boot.ts).toMatch(RFC3339_UTC);
    const state = json(await probe.waitFor(isState));
    expect(state).toMatchObject({ sn: SN, fw: '1.8.2', seq: 1 });
    expect(state.compartments).toHaveLength(36);
    expect(compartment(state, 35)).toEqual({ no: 35, size: 'XL', door: 'closed', occupied: false, fault: null });

    const retained = await lateRetained(broker);
    expect(retained.get(T('presence'))).toBe('online');
    expect(JSON.parse(retained.get(T('state')) ?? '{}')).toMatchObject({ sn: SN, seq: 1 });
  });

  it('carries out the vendor vector "open compartment 12": reply done, door.opened, snapshot', async () => {
    const { probe, sim } = await setup();
    const vector = vectors.encode.find((v) => v.name === 'open compartment 12')!;
    const seen: unknown[] = [];
    sim.on('command', (c) => seen.push(c));
    const from = probe.mark();
    await probe.publish(T('commands'), vector.payload);
    const reply = json(await probe.waitFor(isReply(vector.command.cid), { from }));
    expect(reply).toMatchObject({ cid: vector.command.cid, ok: true, result: 'done' });
    expect(reply.ts).toMatch(RFC3339_UTC);
    const ev = json(await probe.waitFor(isEvent('door.opened', { no: 12 }), { from }));
    expect(ev).toMatchObject({ id: `${SN}-2`, seq: 2 });
    await probe.waitFor((m) => isState(m) && compartment(json(m), 12).door === 'open', { from });
    expect(sim.snapshot().doors[12]).toEqual({ open: true, occupied: false });
    expect(seen).toEqual([{ op: 'open', result: 'done', raw: vector.payload }]);
  });

  it('reports a door closed by a person with the occupancy sensor reading', async () => {
    const { probe, sim } = await setup();
    expect((await send(probe, command('open', { no: 5 }))).result).toBe('done');
    sim.putParcel(5);
    const from = probe.mark();
    sim.closeDoor(5);
    const ev = json(await probe.waitFor(isEvent('door.closed'), { from }));
    expect(ev).toMatchObject({ type: 'door.closed', no: 5, occupied: true });
    await probe.waitFor((m) => isState(m) && compartment(json(m), 5).occupied === true, { from });
    expect(() => sim.closeDoor(5)).toThrow(/already closed/);
    expect(() => sim.takeParcel(5)).toThrow(/closed/);
  });

  it('refuses forged, tampered, expired, unknown-compartment and unsupported commands', async () => {
    const { probe, sim } = await setup();
    const wrongKey = Buffer.alloc(32, 7);
    expect(await send(probe, command('open', { no: 1 }, { key: wrongKey }))).toMatchObject({ ok: false, result: 'bad_signature' });
    expect(await send(probe, command('open', { no: 2 }, { signArgs: { no: 1 } }))).toMatchObject({ result: 'bad_signature' });
    const unsigned = JSON.stringify({ cid: 'nosig', op: 'open', args: { no: 1 }, exp: CLOCK_MS / 1000 + 60 });
    expect(await send(probe, { cid: 'nosig', payload: unsigned })).toMatchObject({ result: 'bad_signature' });
    expect(await send(probe, command('open', { no: 1 }, { exp: CLOCK_MS / 1000 - 1 }))).toMatchObject({ ok: false, result: 'expired' });
    expect(await send(probe, command('open', { no: 37 }))).toMatchObject({ ok: false, result: 'unknown_compartment' });
    expect(await send(probe, command('display', { text: 'x'.repeat(41), seconds: 5 }))).toMatchObject({ result: 'unsupported' });
    expect(await send(probe, command('explode', {}))).toMatchObject({ result: 'unsupported' });
    await settle(100);
    expect(probe.find(isEvent('door.opened'))).toHaveLength(0);
    expect(Object.values(sim.snapshot().doors).some((d) => d.open)).toBe(false);
  });

  it('answers a replayed cid with its first reply and does not carry it out again', async () => {
    const { probe, sim } = await setup();
    const cmd = command('open', { no: 3 });
    const first = await send(probe, cmd);
    expect(first.result).toBe('done');
    sim.closeDoor(3, false);
    const from = probe.mark();
    await probe.publish(T('commands'), cmd.payload);
    const again = await probe.waitFor(isReply(cmd.cid), { from });
    expect(json(again)).toEqual(first);
    await settle(100);
    expect(probe.find(isEvent('door.opened', { no: 3 }))).toHaveLength(1);
    expect(sim.snapshot().doors[3]?.open).toBe(false);
  });

  it('answers jammed when the lock does not release, with a fault event and the fault in the snapshot', async () => {
    const { probe, sim } = await setup({ faults: { jammed: [7] } });
    const from = probe.mark();
    expect(await send(probe, command('open', { no: 7 }))).toMatchObject({ ok: false, result: 'jammed' });
    expect(json(await probe.waitFor(isEvent('fault'), { from }))).toMatchObject({ no: 7, kind: 'jammed' });
    await probe.waitFor((m) => isState(m) && compartment(json(m), 7).fault === 'jammed', { from });
    expect(sim.snapshot().doors[7]?.open).toBe(false);
    sim.setFaults({ jammed: [] });
    expect((await send(probe, command('open', { no: 7 }))).result).toBe('done');
  });

  it('buffers events while offline and replays them in seq order before new ones', async () => {
    const { probe, sim } = await setup();
    await probe.waitFor(isEvent('boot'));
    const offline = probe.mark();
    await sim.crash();
    await probe.waitFor(isPresence('offline'), { from: offline, what: 'last will' });

    sim.forceDoor(1); // alarm + door.opened
    sim.closeDoor(1, true);
    sim.typeCode('123456');
    const from = probe.mark();
    await sim.reconnect();
    sim.typeCode('654321');
    await probe.waitFor(isEvent('code.entered', { code: '654321' }), { from });
    const events = probe.find((m) => m.topic === T('events'), from).map(json);
    expect(events.map((e) => [e.seq, e.type])).toEqual([
      [2, 'alarm'],
      [3, 'door.opened'],
      [4, 'door.closed'],
      [5, 'code.entered'],
      [6, 'code.entered'],
    ]);
    expect(events[0]).toMatchObject({ kind: 'door_forced', no: 1 });
    expect(events[2]).toMatchObject({ no: 1, occupied: true });
    const presence = probe.find(isPresence('online'), from)[0]!;
    expect(presence.index).toBeLessThan(probe.find((m) => m.topic === T('events'), from)[0]!.index);
  });

  it('keeps at most 1,000 events while offline, dropping the oldest', async () => {
    const { probe, sim } = await setup();
    await sim.crash();
    for (let i = 0; i < 1005; i++) sim.typeCode(String(100000 + i));
    const from = probe.mark();
    await sim.reconnect();
    await probe.waitFor(isEvent('code.entered', { seq: 1006 }), { from, timeoutMs: 10_000 });
    // seq 1 (boot) may come again: it can have been in flight, unacknowledged, when the connection dropped.
    const seqs = probe.find((m) => m.topic === T('events') && json(m).seq !== 1, from).map((m) => json(m).seq);
    expect(seqs).toHaveLength(1000);
    expect(seqs[0]).toBe(7); // 2..6, the oldest, were dropped
    expect(seqs.every((s, i) => i === 0 || s === (seqs[i - 1] as number) + 1)).toBe(true);
  });

  it('reboot: last will, boot event with the next seq; a command sent during an outage arrives via the session', async () => {
    const { probe, sim } = await setup();
    await probe.waitFor(isEvent('boot'));
    let from = probe.mark();
    await sim.reboot();
    await probe.waitFor(isPresence('offline'), { from });
    expect(json(await probe.waitFor(isEvent('boot', { reason: 'reboot' }), { from }))).toMatchObject({ seq: 2, id: `${SN}-2` });

    await sim.crash();
    const cmd = command('open', { no: 9 });
    from = probe.mark();
    await probe.publish(T('commands'), cmd.payload); // queued by the broker in the unit's persistent session
    await sim.reconnect();
    expect(json(await probe.waitFor(isReply(cmd.cid), { from }))).toMatchObject({ result: 'done' });
    expect(json(await probe.waitFor(isEvent('door.opened', { no: 9 }), { from }))).toMatchObject({ seq: 3 });
  });

  it('query, keypad, display and set_time', async () => {
    const { probe, sim } = await setup();
    sim.setOccupied(9, true); // silently: no event
    let from = probe.mark();
    expect((await send(probe, command('query', {}))).result).toBe('done');
    await probe.waitFor((m) => isState(m) && compartment(json(m), 9).occupied === true, { from });
    expect(probe.find((m) => m.topic === T('events'), from)).toHaveLength(0);

    const display = vectors.encode.find((v) => v.name.startsWith('show text'))!;
    await probe.publish(T('commands'), display.payload);
    await probe.waitFor(isReply(display.command.cid));
    expect(sim.snapshot().display?.text).toBe('取件碼錯誤 Wrong code');

    expect((await send(probe, command('keypad', { enabled: false }))).result).toBe('done');
    from = probe.mark();
    sim.typeCode('482913');
    await settle(100);
    expect(probe.find(isEvent('code.entered'), from)).toHaveLength(0);
    expect(sim.snapshot()).toMatchObject({ keypadEnabled: false, display: { text: 'Keypad disabled' } });
    expect(() => sim.typeCode('12ab56')).toThrow(/6 digits/);

    expect((await send(probe, command('set_time', { now: CLOCK_MS + 3_600_000 }))).result).toBe('done');
    // exp is still in the future for the test's clock, but the unit's clock is now an hour ahead
    expect((await send(probe, command('open', { no: 1 }, { exp: CLOCK_MS / 1000 + 60 }))).result).toBe('expired');
  });

  it('autopilot: a person fills an empty compartment the gateway opened, empties an occupied one, closes the door', async () => {
    const { probe } = await setup({ autopilot: { enabled: true, delayMs: 30 } });
    let from = probe.mark();
    await send(probe, command('open', { no: 10 }));
    expect(json(await probe.waitFor(isEvent('door.closed', { no: 10 }), { from }))).toMatchObject({ occupied: true });
    from = probe.mark();
    await send(probe, command('open', { no: 10 }));
    expect(json(await probe.waitFor(isEvent('door.closed', { no: 10 }), { from }))).toMatchObject({ occupied: false });
  });

  it('publishes every message twice under the duplicate fault, with the same id', async () => {
    const { probe, sim } = await setup({ faults: { duplicateRate: 1 } });
    const from = probe.mark();
    sim.typeCode('111111');
    await probe.waitFor(isEvent('code.entered'), { from });
    await settle(100);
    const ids = probe.find(isEvent('code.entered'), from).map((m) => json(m).id);
    expect(ids).toEqual([`${SN}-2`, `${SN}-2`]);
  });

  it('stop() publishes a retained offline and disconnects cleanly', async () => {
    const { broker, probe, sim } = await setup();
    const from = probe.mark();
    await sim.stop();
    await probe.waitFor(isPresence('offline'), { from });
    expect(sim.snapshot().online).toBe(false);
    expect((await lateRetained(broker)).get(T('presence'))).toBe('offline');
  });
});
