/**
 * The compact-v2 simulator (a4c138f0e2d1) against shared/protocol/compact-v2.md, over a real MQTT broker. Down messages
 * are built and signed in this file from the document's formula; the gateway's codecs are not used.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { unitById } from '../../devices/units.js';
import { createSimulator, type SimOptions, type SimulatedUnit } from '../../simulators/index.js';
import { Probe, settle, startTestBroker, type Received, type TestBroker } from '../../simulators/testkit.js';

const MAC = 'a4c138f0e2d1';
const UNIT = unitById(MAC)!;
const vectors = JSON.parse(readFileSync(new URL('../fixtures/vectors/compact-v2.json', import.meta.url), 'utf8')) as {
  deviceKeyHex: string;
  encode: { name: string; payload: string; command: { m: number } }[];
};
const KEY = Buffer.from(vectors.deviceKeyHex, 'hex');
const UP = `cab/${MAC}/up`;
const DOWN = `cab/${MAC}/down`;
const CLOCK_MS = 1_794_990_000_000;

// ---------------------------------------------------------------- the test's own down encoding (from the document)

type D = Record<string, string | number>;
const canonical = (d: D) => JSON.stringify(Object.fromEntries(Object.entries(d).sort(([a], [b]) => (a < b ? -1 : 1))));
let nextM = 200;

function down(t: number, d: D, o: { m?: number; e?: number; key?: Buffer; signD?: D } = {}) {
  const m = o.m ?? nextM++;
  const e = o.e ?? CLOCK_MS / 1000 + 60;
  const h = createHmac('sha256', o.key ?? KEY)
    .update(`${t}|${m}|${e}|${canonical(o.signD ?? d)}`, 'utf8')
    .digest('hex')
    .slice(0, 16);
  return { m, payload: JSON.stringify({ t, m, d, e, h }) };
}

// ---------------------------------------------------------------- fixtures

interface Up {
  t: number;
  m: number;
  d: Record<string, unknown>;
}
const up = (m: Received) => JSON.parse(m.payload.toString('utf8')) as Up;
const isUp = (t: number, d: Record<string, unknown> = {}) => (m: Received) =>
  m.topic === UP && up(m).t === t && Object.entries(d).every(([k, v]) => up(m).d?.[k] === v);
const isAck = (a: number) => isUp(4, { a });

const open: (() => Promise<void>)[] = [];

async function setup(extra: Partial<SimOptions> = {}): Promise<{ broker: TestBroker; probe: Probe; sim: SimulatedUnit }> {
  const broker = await startTestBroker();
  const probe = await Probe.connect(broker.url, { [UP]: 1 });
  const sim = createSimulator({
    unit: UNIT,
    brokerUrl: broker.url,
    password: 'pw-compact',
    key: KEY,
    now: () => CLOCK_MS,
    seed: 2,
    reconnectMs: 0,
    ...extra,
  });
  open.push(async () => {
    await sim.stop();
    await probe.close();
    await broker.close();
  });
  await sim.start();
  await probe.waitFor(isUp(5), { what: 'the boot status' });
  return { broker, probe, sim };
}

afterEach(async () => {
  for (const close of open.splice(0)) await close();
});

async function send(probe: Probe, cmd: { m: number; payload: string }): Promise<number> {
  const from = probe.mark();
  await probe.publish(DOWN, cmd.payload);
  return up(await probe.waitFor(isAck(cmd.m), { from, what: `ack of m ${cmd.m}` })).d.r as number;
}

const upIds = (probe: Probe, from = 0) => probe.find((m) => m.topic === UP && up(m).t !== 0, from).map((m) => up(m).m);

// ---------------------------------------------------------------- tests

describe('compact-v2 simulator', () => {
  it('connects as documented; its first message is a status with m 1', async () => {
    const { broker, probe } = await setup();
    expect(broker.connects.at(-1)).toEqual({
      clientId: `cab-${MAC}`,
      username: MAC,
      password: 'pw-compact',
      keepalive: 60,
      clean: true,
      will: { topic: UP, payload: '{"t":0}', qos: 1, retain: false },
    });
    expect(up(probe.messages[0]!)).toEqual({ t: 5, m: 1, d: { doors: '0'.repeat(30), occ: '0'.repeat(30), fw: '2.3.1' } });
  });

  it('carries out the vendor vectors: open, status request, display, keypad; every down is acked by its m', async () => {
    const { probe, sim } = await setup();
    const v = (name: string) => vectors.encode.find((x) => x.name === name)!;

    let from = probe.mark();
    await probe.publish(DOWN, v('open box 7').payload);
    expect(up(await probe.waitFor(isAck(33), { from }))).toEqual({ t: 4, m: 2, d: { a: 33, r: 0 } });
    expect(up(await probe.waitFor(isUp(2), { from }))).toEqual({ t: 2, m: 3, d: { b: 7, s: 1, o: 0 } });

    from = probe.mark();
    await probe.publish(DOWN, v('status request').payload);
    await probe.waitFor(isAck(34), { from });
    const status = up(await probe.waitFor(isUp(5), { from }));
    expect(status.d.doors).toBe(`${'0'.repeat(6)}1${'0'.repeat(23)}`);
    expect(probe.find(isAck(34), from)[0]!.index).toBeLessThan(probe.find(isUp(5), from)[0]!.index);

    expect(await send(probe, { m: 35, payload: v('show text').payload })).toBe(0);
    expect(sim.snapshot().display?.text).toBe('請取件 Box 7');
    expect(await send(probe, { m: 1, payload: v('disable keypad, message id after wrap-around').payload })).toBe(0);
    expect(sim.snapshot().keypadEnabled).toBe(false);

    expect(upIds(probe)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('reports a door closed by a person, with occupancy, and keypad entries', async () => {
    const { probe, sim } = await setup();
    expect(await send(probe, down(101, { b: 12 }))).toBe(0);
    sim.putParcel(12);
    const from = probe.mark();
    sim.closeDoor(12);
    expect(up(await probe.waitFor(isUp(2, { s: 0 }), { from })).d).toEqual({ b: 12, s: 0, o: 1 });
    sim.typeCode('482913');
    expect(up(await probe.waitFor(isUp(3), { from })).d).toEqual({ k: '482913' });
    sim.forceDoor(13);
    expect(up(await probe.waitFor(isUp(9), { from })).d).toEqual({ c: 2, b: 13 });
    expect(up(await probe.waitFor(isUp(2, { b: 13 }), { from })).d).toEqual({ b: 13, s: 1, o: 0 });
  });

  it('refuses forged, tampered, expired and unknown-box commands', async () => {
    const { probe, sim } = await setup();
    expect(await send(probe, down(101, { b: 1 }, { key: Buffer.alloc(32, 9) }))).toBe(3);
    expect(await send(probe, down(101, { b: 2 }, { signD: { b: 1 } }))).toBe(3);
    expect(await send(probe, { m: 300, payload: JSON.stringify({ t: 101, m: 300, d: { b: 1 }, e: CLOCK_MS / 1000 + 60 }) })).toBe(3);
    expect(await send(probe, down(101, { b: 1 }, { e: CLOCK_MS / 1000 - 1 }))).toBe(4);
    expect(await send(probe, down(101, { b: 31 }))).toBe(2);
    expect(await send(probe, down(101, { b: 0 }))).toBe(2);
    await settle(100);
    expect(probe.find(isUp(2))).toHaveLength(0);
    expect(Object.values(sim.snapshot().doors).some((d) => d.open)).toBe(false);
  });

  it('answers a repeated m again without carrying it out again; a forged m does not poison the window', async () => {
    const { probe, sim } = await setup();
    const cmd = down(101, { b: 4 });
    expect(await send(probe, cmd)).toBe(0);
    sim.closeDoor(4, false);
    await probe.waitFor(isUp(2, { b: 4, s: 0 }));
    const from = probe.mark();
    expect(await send(probe, cmd)).toBe(0);
    await settle(100);
    expect(probe.find(isAck(cmd.m))).toHaveLength(2);
    expect(probe.find(isUp(2, { b: 4, s: 1 }))).toHaveLength(1);
    expect(probe.find(isUp(2), from)).toHaveLength(0);
    expect(sim.snapshot().doors[4]?.open).toBe(false);

    const m = nextM++;
    expect(await send(probe, down(101, { b: 5 }, { m, key: Buffer.alloc(32, 1) }))).toBe(3);
    expect(await send(probe, down(101, { b: 5 }, { m }))).toBe(0);
    expect(sim.snapshot().doors[5]?.open).toBe(true);
  });

  it('answers r 1 for a jammed box and does not report a door change', async () => {
    const { probe, sim } = await setup({ faults: { jammed: [6] } });
    expect(await send(probe, down(101, { b: 6 }))).toBe(1);
    await settle(100);
    expect(probe.find(isUp(2))).toHaveLength(0);
    expect(sim.snapshot().doors[6]?.open).toBe(false);
  });

  it('sends heartbeats with uptime and rssi', async () => {
    const { probe } = await setup({ heartbeatMs: 80 });
    const from = probe.mark();
    await probe.waitFor(isUp(1), { from });
    await probe.waitFor((m) => isUp(1)(m) && m.index > probe.find(isUp(1), from)[0]!.index, { from });
    const beats = probe.find(isUp(1), from).map(up);
    expect(beats[0]!.d).toEqual({ up: 0, rssi: expect.any(Number) });
    expect(beats[0]!.d.rssi as number).toBeLessThanOrEqual(-55);
    expect(beats[1]!.m).toBe(beats[0]!.m + 1);
  });

  it('loses what happens while disconnected; a reconnect sends no status; m continues', async () => {
    const { probe, sim } = await setup();
    expect(await send(probe, down(101, { b: 8 }))).toBe(0); // m 2 ack, m 3 door opened
    let from = probe.mark();
    await sim.crash();
    expect(up(await probe.waitFor((m) => m.topic === UP && up(m).t === 0, { from, what: 'last will' }))).toEqual({ t: 0 });
    sim.closeDoor(8, true);
    sim.typeCode('123456');
    from = probe.mark();
    await sim.reconnect();
    expect(await send(probe, down(102, {}))).toBe(0);
    const status = up(await probe.waitFor(isUp(5), { from }));
    expect(status.d.occ).toBe(`${'0'.repeat(7)}1${'0'.repeat(22)}`);
    expect(probe.find((m) => m.topic === UP && [2, 3].includes(up(m).t), from)).toHaveLength(0);
    expect(upIds(probe, from)).toEqual([4, 5]); // the ack, then the status: no status on reconnect, m goes on
  });

  it('reboot: last will, then a status with m 1 and the counter restarting', async () => {
    const { probe, sim } = await setup();
    expect(await send(probe, down(105, { e: 0 }))).toBe(0);
    const from = probe.mark();
    await sim.reboot();
    await probe.waitFor((m) => m.topic === UP && up(m).t === 0, { from, what: 'last will' });
    expect(up(await probe.waitFor(isUp(5), { from }))).toMatchObject({ t: 5, m: 1 });
    expect(sim.snapshot().keypadEnabled).toBe(true);
    expect(await send(probe, down(102, {}))).toBe(0);
    expect(upIds(probe, from)).toEqual([1, 2, 3]);
  });

  it('drops events under the drop fault (their m is used up), never acks', async () => {
    const { probe, sim } = await setup({ faults: { dropRate: 1 } });
    expect(await send(probe, down(101, { b: 9 }))).toBe(0); // m 2; the door-opened event m 3 is lost
    sim.closeDoor(9);
    expect(await send(probe, down(102, {}))).toBe(0);
    await probe.waitFor(isUp(5, {}), { from: 1 });
    expect(probe.find(isUp(2))).toHaveLength(0);
    expect(upIds(probe)).toEqual([1, 2, 5, 6]);
  });

  it('raises "door left open" (t 9, c 3) when a door stays open', async () => {
    const { probe } = await setup({ doorLeftOpenMs: 50 });
    const from = probe.mark();
    expect(await send(probe, down(101, { b: 30 }))).toBe(0);
    expect(up(await probe.waitFor(isUp(9), { from })).d).toEqual({ c: 3, b: 30 });
  });

  it('stop() publishes {"t":0} and disconnects', async () => {
    const { probe, sim } = await setup();
    const from = probe.mark();
    await sim.stop();
    expect(up(await probe.waitFor((m) => m.topic === UP, { from }))).toEqual({ t: 0 });
  });
});
