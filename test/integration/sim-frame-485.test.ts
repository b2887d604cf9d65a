/**
 * The frame-485 simulator (DTU 861234567890123 and its boards) against shared/protocol/frame-485.md, over a real MQTT
 * broker. Frames are built and parsed in this file (a minimal reader), not with the simulator's or gateway's code.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { unitById } from '../../devices/units.js';
import { createSimulator, type SimOptions, type SimulatedUnit } from '../../simulators/index.js';
import { Probe, settle, startTestBroker, type Received, type TestBroker } from '../../simulators/testkit.js';

const IMEI = '861234567890123';
const UNIT = unitById(IMEI)!;
const STATE = `dtu/${IMEI}/state`;
const RX = `dtu/${IMEI}/rx`;
const TX = `dtu/${IMEI}/tx`;
const vectors = JSON.parse(readFileSync(new URL('../fixtures/vectors/frame-485.json', import.meta.url), 'utf8')) as {
  frames: { name: string; hex: string }[];
};

// ---------------------------------------------------------------- the test's own frames

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const vector = (name: string) => hex(vectors.frames.find((f) => f.name === name)!.hex);

function frame(addr: number, cmd: number, data: number[] = []): Buffer {
  const bcc = data.reduce((x, b) => x ^ b, addr ^ cmd ^ data.length);
  return Buffer.from([0x02, addr, cmd, data.length, ...data, bcc, 0x03]);
}

/** Minimal reader: skip to STX, read by LEN, check BCC and ETX, resync one byte after a bad candidate. */
function parse(bytes: Buffer): { frames: Buffer[]; dropped: number } {
  const frames: Buffer[] = [];
  let dropped = 0;
  let i = 0;
  while (i < bytes.length) {
    if (bytes[i] !== 0x02) {
      i++;
      continue;
    }
    if (i + 4 > bytes.length) break;
    const len = bytes[i + 3]!;
    if (len > 64) {
      dropped++;
      i++;
      continue;
    }
    if (i + len + 6 > bytes.length) break;
    let bcc = 0;
    for (let k = i + 1; k < i + 4 + len; k++) bcc ^= bytes[k]!;
    if (bytes[i + 4 + len] === bcc && bytes[i + 5 + len] === 0x03) {
      frames.push(bytes.subarray(i, i + len + 6));
      i += len + 6;
    } else {
      dropped++;
      i++;
    }
  }
  return { frames, dropped };
}

// ---------------------------------------------------------------- fixtures

const open: (() => Promise<void>)[] = [];

async function setup(extra: Partial<SimOptions> = {}): Promise<{ broker: TestBroker; probe: Probe; sim: SimulatedUnit }> {
  const broker = await startTestBroker();
  const probe = await Probe.connect(broker.url, { [`dtu/${IMEI}/#`]: 0 });
  const sim = createSimulator({
    unit: UNIT,
    brokerUrl: broker.url,
    password: 'pw-dtu',
    key: null,
    seed: 3,
    reconnectMs: 0,
    chunking: { splitRate: 0, mergeRate: 0 },
    ...extra,
  });
  open.push(async () => {
    await sim.stop();
    await probe.close();
    await broker.close();
  });
  await sim.start();
  await probe.waitFor(isState('1'));
  return { broker, probe, sim };
}

afterEach(async () => {
  for (const close of open.splice(0)) await close();
});

const isState = (p: string) => (m: Received) => m.topic === STATE && m.payload.toString() === p;
const rxMessages = (probe: Probe, from: number) => probe.find((m) => m.topic === RX, from).map((m) => m.payload);
const rxFrames = (probe: Probe, from: number) => parse(Buffer.concat(rxMessages(probe, from))).frames;

/** Wait until a frame matching `pred` has arrived on rx since `from`. */
async function waitFrame(probe: Probe, from: number, pred: (f: Buffer) => boolean, timeoutMs = 1_500): Promise<Buffer> {
  await probe.waitFor((m) => m.topic === RX && rxFrames(probe, from).some(pred), { from, timeoutMs, what: 'a frame' });
  return rxFrames(probe, from).find(pred)!;
}
const reply = (addr: number, cmd: number) => (f: Buffer) => f[1] === addr && f[2] === cmd;

/** Send a request and return the board's response (same address and CMD). */
async function request(probe: Probe, req: Buffer): Promise<Buffer> {
  const from = probe.mark();
  await probe.publish(TX, req, 0);
  return waitFrame(probe, from, reply(req[1]!, req[2]!));
}

// ---------------------------------------------------------------- tests

describe('frame-485 simulator', () => {
  it('DTU connects as documented: retained state 1, last will 0, 1 again after reconnecting', async () => {
    const { broker, probe, sim } = await setup();
    expect(broker.connects.at(-1)).toEqual({
      clientId: `dtu-${IMEI}`,
      username: IMEI,
      password: 'pw-dtu',
      keepalive: 120,
      clean: true,
      will: { topic: STATE, payload: '0', qos: 1, retain: true },
    });
    const late = await Probe.connect(broker.url, { [STATE]: 0 });
    const retained = await late.waitFor(isState('1'));
    expect(retained.retain).toBe(true);
    await late.close();

    const from = probe.mark();
    await sim.crash();
    await probe.waitFor(isState('0'), { from, what: 'last will' });
    await sim.reconnect();
    await probe.waitFor((m) => isState('1')(m) && m.index > probe.find(isState('0'), from)[0]!.index, { from });
  });

  it('answers a status request with the vector bytes', async () => {
    const { probe, sim } = await setup();
    for (const no of [1, 3, 12]) sim.setOccupied(no, true);
    expect(await request(probe, frame(0x01, 0x31, [5]))).toEqual(frame(0x01, 0x31, [5, 0]));
    expect(await request(probe, vector('status query to board 1'))).toEqual(
      vector('status of board 1: lock 5 door open; locks 1, 3, 12 occupied'),
    );
    expect(await request(probe, frame(0x02, 0x30))).toEqual(frame(0x02, 0x30, [0, 0, 0, 0]));
  });

  it('opens a lock: response, then the change report of the door; jammed and no-such-lock results', async () => {
    const { probe, sim } = await setup({ faults: { jammed: [16] } });
    const from = probe.mark();
    expect(await request(probe, vector('open board 2 lock 3 (compartment 15)'))).toEqual(vector('board 2 lock 3 opened'));
    expect(await waitFrame(probe, from, reply(0x02, 0x32))).toEqual(frame(0x02, 0x32, [3, 1, 0]));
    expect(sim.snapshot().doors[15]?.open).toBe(true);

    expect(await request(probe, frame(0x02, 0x31, [4]))).toEqual(frame(0x02, 0x31, [4, 1])); // compartment 16 jammed
    expect(await request(probe, frame(0x02, 0x31, [13]))).toEqual(frame(0x02, 0x31, [13, 2]));
    expect(await request(probe, frame(0x01, 0x31, [0]))).toEqual(frame(0x01, 0x31, [0, 2]));
    expect(sim.snapshot().doors[16]?.open).toBe(false);
  });

  it('shows text on the display board and acks with 0x00', async () => {
    const { probe, sim } = await setup();
    expect(await request(probe, vector('display "Box 15" for 5 s'))).toEqual(frame(0x0f, 0x3b, [0x00]));
    expect(sim.snapshot().display?.text).toBe('Box 15');
  });

  it('reports a door change and keypad entries with the vector bytes', async () => {
    const { probe, sim } = await setup();
    await request(probe, frame(0x01, 0x31, [5]));
    await settle(100);
    const from = probe.mark();
    sim.closeDoor(5, true);
    expect(await waitFrame(probe, from, reply(0x01, 0x32))).toEqual(vector('change report: board 1 lock 5 closed, occupied'));
    sim.typeCode('482913');
    expect(await waitFrame(probe, from, reply(0x0f, 0x3a))).toEqual(vector('keypad entry 482913'));
    sim.forceDoor(24);
    expect(await waitFrame(probe, from, reply(0x02, 0x32))).toEqual(frame(0x02, 0x32, [12, 1, 0]));
  });

  it('output stream: frames split across messages and merged into one still reassemble', async () => {
    const split = await setup({ chunking: { splitRate: 1, mergeRate: 0 } });
    let from = split.probe.mark();
    expect(await request(split.probe, frame(0x01, 0x30))).toEqual(frame(0x01, 0x30, [0, 0, 0, 0]));
    const pieces = rxMessages(split.probe, from);
    expect(pieces.length).toBeGreaterThanOrEqual(2);
    expect(pieces.length).toBeLessThanOrEqual(3);
    expect(pieces.every((p) => p.length < 10)).toBe(true);

    const merged = await setup({ chunking: { splitRate: 0, mergeRate: 1 } });
    from = merged.probe.mark();
    await request(merged.probe, frame(0x01, 0x31, [7]));
    await waitFrame(merged.probe, from, reply(0x01, 0x32));
    const messages = rxMessages(merged.probe, from);
    expect(messages).toHaveLength(1);
    expect(parse(messages[0]!).frames).toEqual([frame(0x01, 0x31, [7, 0]), frame(0x01, 0x32, [7, 1, 0])]);
  });

  it('output stream with random cuts (seeded) always reassembles', async () => {
    const { probe } = await setup({ seed: 42, chunking: { splitRate: 0.5, mergeRate: 0.5 } });
    const from = probe.mark();
    for (let lock = 1; lock <= 12; lock++) {
      expect(await request(probe, frame(0x01, 0x31, [lock]))).toEqual(frame(0x01, 0x31, [lock, 0]));
    }
    await probe.waitFor(() => rxFrames(probe, from).filter(reply(0x01, 0x32)).length === 12, { from, timeoutMs: 2_000 });
    const messages = rxMessages(probe, from);
    const whole = (m: Buffer) => parse(m).frames.reduce((n, f) => n + f.length, 0) === m.length;
    expect(messages.some((m) => !whole(m))).toBe(true); // some frames were split
    expect(messages.some((m) => parse(m).frames.length >= 2)).toBe(true); // some were merged
    expect(parse(Buffer.concat(rxMessages(probe, from))).dropped).toBe(0);
  });

  it('boards reassemble requests split across tx messages and answer two requests sent in one message', async () => {
    const { probe } = await setup();
    const req = frame(0x01, 0x30);
    let from = probe.mark();
    await probe.publish(TX, req.subarray(0, 2), 0);
    await probe.publish(TX, req.subarray(2, 4), 0);
    await probe.publish(TX, req.subarray(4), 0);
    await waitFrame(probe, from, reply(0x01, 0x30));

    from = probe.mark();
    await probe.publish(TX, Buffer.concat([hex('ff 00'), frame(0x01, 0x30), frame(0x02, 0x30)]), 0);
    await waitFrame(probe, from, reply(0x02, 0x30));
    expect(rxFrames(probe, from).map((f) => f[1])).toEqual([0x01, 0x02]);
  });

  it('a silent board does not answer (but still carries out what it hears); the others do', async () => {
    const { probe, sim } = await setup({ faults: { silentBoards: [0x02] } });
    const from = probe.mark();
    await probe.publish(TX, frame(0x02, 0x31, [1]), 0);
    await probe.publish(TX, frame(0x02, 0x30), 0);
    expect(await request(probe, frame(0x01, 0x30))).toEqual(frame(0x01, 0x30, [0, 0, 0, 0]));
    await settle(600);
    expect(rxFrames(probe, from).filter((f) => f[1] === 0x02)).toHaveLength(0);
    sim.setFaults({ silentBoards: [] });
    expect(await request(probe, frame(0x02, 0x30))).toEqual(frame(0x02, 0x30, [1, 0, 0, 0]));
  });

  it('noisy line: junk between frames and corrupted copies, every response still arrives intact', async () => {
    const { probe } = await setup({ seed: 7, faults: { noisyLine: true }, chunking: { splitRate: 0.3, mergeRate: 0.3 } });
    const from = probe.mark();
    let answered = 0;
    for (let i = 0; i < 60; i++) {
      expect(await request(probe, frame(0x01, 0x30))).toEqual(frame(0x01, 0x30, [0, 0, 0, 0]));
      answered++;
      const bytes = Buffer.concat(rxMessages(probe, from));
      const { frames, dropped } = parse(bytes);
      const junk = bytes.length - frames.reduce((n, f) => n + f.length, 0);
      if (i >= 10 && dropped > 0 && junk > 10 * dropped) break;
    }
    const bytes = Buffer.concat(rxMessages(probe, from));
    const { frames, dropped } = parse(bytes);
    expect(frames.filter(reply(0x01, 0x30)).length).toBe(answered);
    expect(dropped).toBeGreaterThan(0);
    expect(bytes.length - frames.reduce((n, f) => n + f.length, 0)).toBeGreaterThan(10 * dropped);
  });

  it('loses change reports under the drop fault and while the DTU is offline; status tells the truth', async () => {
    const { probe, sim } = await setup({ faults: { dropRate: 1 } });
    await request(probe, frame(0x01, 0x31, [2]));
    let from = probe.mark();
    sim.closeDoor(2, true);
    await settle(100);
    expect(rxFrames(probe, from)).toHaveLength(0);

    sim.setFaults({ dropRate: 0 });
    await request(probe, frame(0x01, 0x31, [3]));
    await sim.crash();
    sim.closeDoor(3, true);
    sim.typeCode('111111');
    from = probe.mark();
    await sim.reconnect();
    await probe.waitFor(isState('1'), { from });
    expect(await request(probe, frame(0x01, 0x30))).toEqual(frame(0x01, 0x30, [0, 0, 0b110, 0]));
    expect(rxFrames(probe, from).filter((f) => f[2] === 0x32 || f[2] === 0x3a)).toHaveLength(0);
  });

  it('DTU reboot: the boards keep their doors; stop() publishes a retained 0', async () => {
    const { probe, sim } = await setup();
    await request(probe, frame(0x02, 0x31, [12]));
    let from = probe.mark();
    await sim.reboot();
    await probe.waitFor(isState('0'), { from });
    await probe.waitFor(isState('1'), { from });
    expect(await request(probe, frame(0x02, 0x30))).toEqual(frame(0x02, 0x30, [0, 0b1000, 0, 0]));
    from = probe.mark();
    await sim.stop();
    await probe.waitFor(isState('0'), { from });
  });
});
