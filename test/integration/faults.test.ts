/**
 * Faults on the wire, end to end (real redis-server, the real gateway and its embedded broker, simulators with their
 * fault knobs): duplicates, lost and garbled frame-485 traffic, silent boards, forged / expired / replayed commands,
 * malformed payloads from an authenticated unit.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UNITS } from '../../devices/units.js';
import type { CommandInfo, SimulatedUnit } from '../../simulators/index.js';
import { DEV_CREDENTIALS_FILE, type Credentials } from '../../src/config/credentials.js';
import type { EvidenceRecord as LoggedEvent } from '../../src/store/units.js';
import { Stack, eventually } from '../support/stack.js';

const [JSON_V1, COMPACT_V2, FRAME_485] = UNITS.map((u) => u.id) as [string, string, string];
const DIALECT: Record<string, string> = { [JSON_V1]: 'json-v1', [COMPACT_V2]: 'compact-v2', [FRAME_485]: 'frame-485' };

type Ev = LoggedEvent['event'] & { compartment?: number; occupied?: boolean };
const ev = (e: LoggedEvent): Ev => e.event as Ev;
const src = (e: LoggedEvent): Record<string, unknown> => (e.event.source ?? {}) as Record<string, unknown>;

function record(sim: SimulatedUnit): CommandInfo[] {
  const got: CommandInfo[] = [];
  sim.on('command', (c: CommandInfo) => got.push(c));
  return got;
}

async function online(stack: Stack, id: string): Promise<boolean> {
  return (await stack.unit(id)).online as boolean;
}

/** Door events (opened / closed) of one compartment in the log, oldest first. */
async function doorEvents(stack: Stack, id: string, no: number): Promise<LoggedEvent[]> {
  return (await stack.log(id)).filter((e) => ev(e).compartment === no && (ev(e).kind === 'door-opened' || ev(e).kind === 'door-closed'));
}

/** frame-485 request frame as the simulator reports it ("02 01 31 01 31 03") → [board, cmd, data...]. */
const frameHead = (raw: string) => raw.split(' ').slice(1, -2);

describe('duplicates dropped (every message sent twice)', () => {
  const stack = new Stack('embedded', { HEARTBEAT_TIMEOUT_MS: '60000' });
  beforeAll(() => stack.start());
  afterAll(() => stack.stop());

  it.each([
    [JSON_V1, 12],
    [COMPACT_V2, 9],
  ])('%s: each door event logged exactly once, copies counted', async (id, no) => {
    const sim = await stack.sim(id, { faults: { duplicateRate: 1 } });
    await eventually(() => online(stack, id), 5000, 'online');
    const cmd = await stack.gw!.bus.commands.send(id, { op: 'open', compartment: no });
    expect(cmd).toMatchObject({ state: 'done', result: 'done' });
    await eventually(async () => (await stack.unit(id)).compartments[no - 1].doorOpen, 5000, 'door open');
    sim.putParcel(no);
    sim.closeDoor(no);
    await eventually(async () => {
      const c = (await stack.unit(id)).compartments[no - 1];
      return !c.doorOpen && c.occupied;
    }, 5000, 'closed and occupied');
    // Let every copy arrive: the copy of the close is published right behind it; a status request answers last.
    await stack.gw!.bus.commands.send(id, { op: 'status' });

    const events = await doorEvents(stack, id, no);
    expect(events.map((e) => [ev(e).kind, src(e).reconciled ?? false])).toEqual([
      ['door-opened', false],
      ['door-closed', false],
    ]);
    expect(new Set(events.map((e) => JSON.stringify(src(e)))).size).toBe(2);
    expect(stack.gw!.counters.get('lg_duplicates_total', { unit: id })).toBeGreaterThanOrEqual(2);
    // The open command ran once although its reply came twice.
    const opens = (await stack.log(id)).filter((e) => {
      const c = e.event as { kind: string; op?: string; state?: string };
      return c.kind === 'command' && c.op === 'open' && c.state !== 'sent';
    });
    expect(opens).toHaveLength(1);
  });
});

describe('frame-485: lost reports, noisy line, silent boards', () => {
  const stack = new Stack();
  let sim: SimulatedUnit;
  let commands: CommandInfo[];

  beforeAll(async () => {
    await stack.start();
    // Seeded: the noise, corrupted copies and message cuts come out the same on every run.
    sim = await stack.sim(FRAME_485, { extra: { seed: 485, chunking: { splitRate: 0.5, mergeRate: 0.5 } } });
    commands = record(sim);
    await eventually(() => online(stack, FRAME_485), 5000, 'DTU online');
    await eventually(async () => (await stack.unit(FRAME_485)).compartments.every((c: { updatedAt: number | null }) => c.updatedAt !== null), 5000, 'first poll');
  });
  afterAll(() => stack.stop());

  it('every change report lost: the polls still find the door open, then closed with a parcel (reconciled)', async () => {
    sim.setFaults({ dropRate: 1 });
    const cmd = await stack.gw!.bus.commands.send(FRAME_485, { op: 'open', compartment: 4 });
    expect(cmd.result).toBe('done');
    await eventually(async () => (await stack.unit(FRAME_485)).compartments[3].doorOpen, 5000, 'door open by poll');
    sim.putParcel(4);
    sim.closeDoor(4);
    await eventually(async () => {
      const c = (await stack.unit(FRAME_485)).compartments[3];
      return !c.doorOpen && c.occupied;
    }, 5000, 'closed and occupied by poll');
    const events = await doorEvents(stack, FRAME_485, 4);
    expect(events.map((e) => [ev(e).kind, src(e)])).toEqual([
      ['door-opened', { reconciled: true }],
      ['door-closed', { reconciled: true }],
    ]);
    expect(ev(events[1]!).occupied).toBe(true);
    sim.setFaults({ dropRate: 0 });
  });

  it('noisy line and cut / merged messages: correct state, corrupted frames counted as malformed', async () => {
    const malformed = () => stack.gw!.counters.get('lg_malformed_total', { unit: FRAME_485, dialect: 'frame-485' });
    const before = malformed();
    sim.setFaults({ noisyLine: true });
    for (const no of [6, 19]) {
      expect((await stack.gw!.bus.commands.send(FRAME_485, { op: 'open', compartment: no })).result).toBe('done');
      await eventually(async () => (await stack.unit(FRAME_485)).compartments[no - 1].doorOpen, 5000, `door ${no} open`);
      sim.putParcel(no);
      sim.closeDoor(no);
    }
    await eventually(async () => {
      const cs = (await stack.unit(FRAME_485)).compartments;
      return [cs[5], cs[18]].every((c) => !c.doorOpen && c.occupied);
    }, 5000, 'both closed and occupied');
    await eventually(() => malformed() > before, 10_000, 'a corrupted frame counted');
    expect(stack.gw!.counters.get('lg_line_noise_bytes_total', { unit: FRAME_485 })).toBeGreaterThan(0);
    // The whole unit agrees with the boards, noise or not.
    const truth = JSON.stringify(Object.values(sim.snapshot().doors).map((d) => [d.open, d.occupied]));
    const state = async () => JSON.stringify((await stack.unit(FRAME_485)).compartments.map((c: { doorOpen: boolean; occupied: boolean }) => [c.doorOpen, c.occupied]));
    await eventually(async () => (await state()) === truth, 5000, 'unit state equals the boards');
    sim.setFaults({ noisyLine: false });
  });

  it('silent board: an unanswered open is never sent again blindly', async () => {
    const timeouts = () => stack.gw!.counters.get('lg_bus_timeouts_total', { unit: FRAME_485, board: '2' });
    const before = timeouts();
    const from = commands.length;
    sim.setFaults({ silentBoards: [2] });
    const cmd = await stack.gw!.bus.commands.send(FRAME_485, { op: 'open', compartment: 15 });
    // Not 'done': the board cannot answer the status request asked for after the open either.
    expect(cmd).toMatchObject({ state: 'timed_out', result: 'timed_out' });
    // Let more polls of board 2 go by: still no second open.
    const mark = commands.length;
    await eventually(() => commands.slice(mark).filter((c) => c.op === 'status' && frameHead(c.raw)[0] === '02').length >= 2, 5000, 'polls of board 2');
    const opens = commands.slice(from).filter((c) => c.op === 'open');
    expect(opens.map((c) => frameHead(c.raw))).toEqual([['02', '31', '01', '03']]); // board 2, open, lock 3
    expect(opens[0]!.answered).toBe(false);
    expect(timeouts()).toBeGreaterThan(before);
    expect(sim.snapshot().doors[15]!.open).toBe(true); // the lock did release

    // The board speaks again: the next poll tells the truth.
    sim.setFaults({ silentBoards: [] });
    await eventually(async () => (await stack.unit(FRAME_485)).compartments[14].doorOpen, 5000, 'door 15 open by poll');
    sim.closeDoor(15);
    await eventually(async () => !(await stack.unit(FRAME_485)).compartments[14].doorOpen, 5000, 'door 15 closed');
  });

  it('open response lost but the door opened: the status asked for afterwards says done, still one open frame', async () => {
    const from = commands.length;
    sim.setFaults({ silentBoards: [2] });
    // The board stays silent for the open only (response and change report lost), then answers again.
    const onOpen = (c: CommandInfo) => {
      if (c.op === 'open') sim.setFaults({ silentBoards: [] });
    };
    sim.on('command', onOpen);
    const cmd = await stack.gw!.bus.commands.send(FRAME_485, { op: 'open', compartment: 16 });
    sim.off('command', onOpen);
    expect(cmd.result).toBe('done');
    expect(commands.slice(from).filter((c) => c.op === 'open')).toHaveLength(1);
    expect((await stack.unit(FRAME_485)).compartments[15].doorOpen).toBe(true);
    sim.closeDoor(16);
    await eventually(async () => !(await stack.unit(FRAME_485)).compartments[15].doorOpen, 5000, 'door 16 closed');
  });
});

describe('forged commands refused by the units: wrong signing keys', () => {
  const dev = JSON.parse(readFileSync(DEV_CREDENTIALS_FILE, 'utf8')) as Credentials;
  const forged: Credentials = {
    ...dev,
    units: {
      ...dev.units,
      [JSON_V1]: { ...dev.units[JSON_V1]!, keyHex: 'ab'.repeat(32) },
      [COMPACT_V2]: { ...dev.units[COMPACT_V2]!, keyHex: 'cd'.repeat(32) },
    },
  };
  // Same broker passwords, other keys: the gateway signs every command with a key the units do not have.
  const stack = new Stack('embedded', { CREDENTIALS_JSON: JSON.stringify(forged), HEARTBEAT_TIMEOUT_MS: '60000' });
  beforeAll(() => stack.start());
  afterAll(() => stack.stop());

  it.each([JSON_V1, COMPACT_V2])('%s: bad_signature, nothing opens', async (id) => {
    const sim = await stack.sim(id);
    const commands = record(sim);
    await eventually(() => online(stack, id), 5000, 'online');
    const cmd = await stack.gw!.bus.commands.send(id, { op: 'open', compartment: 2 });
    expect(cmd).toMatchObject({ state: 'failed', result: 'bad_signature' });
    expect(commands.filter((c) => c.op === 'open').map((c) => c.result)).toEqual(['bad_signature']);
    expect(sim.snapshot().doors[2]!.open).toBe(false);
    expect(await doorEvents(stack, id, 2)).toEqual([]);
  });
});

describe('forged commands refused by the units: expired, replayed', () => {
  const stack = new Stack('embedded', { HEARTBEAT_TIMEOUT_MS: '60000' });
  beforeAll(() => stack.start());
  afterAll(() => stack.stop());

  it.each([JSON_V1, COMPACT_V2])('%s: a unit whose clock is an hour ahead finds the command expired', async (id) => {
    const sim = await stack.sim(id, { now: () => Date.now() + 3_600_000 });
    await eventually(() => online(stack, id), 5000, 'online');
    const cmd = await stack.gw!.bus.commands.send(id, { op: 'open', compartment: 3 });
    expect(cmd).toMatchObject({ state: 'failed', result: 'expired' });
    expect(sim.snapshot().doors[3]!.open).toBe(false);
    await sim.stop();
  });

  it.each([
    [JSON_V1, `lockers/${JSON_V1}/commands`],
    [COMPACT_V2, `cab/${COMPACT_V2}/down`],
  ])('%s: a captured command published again byte for byte is not carried out again', async (id, topic) => {
    const sim = await stack.sim(id, id === JSON_V1 ? { extra: { initialSeq: await stack.gw!.store.lastSeq(id) } } : {});
    const commands = record(sim);
    await eventually(() => online(stack, id), 5000, 'online');
    const spy = await stack.connectAsGateway();
    const captured: Buffer[] = [];
    spy.on('message', (t, payload) => {
      if (t === topic) captured.push(payload);
    });
    await spy.subscribeAsync(['lockers/#', 'cab/#'], { qos: 1 });

    expect((await stack.gw!.bus.commands.send(id, { op: 'open', compartment: 10 })).result).toBe('done');
    await eventually(async () => (await stack.unit(id)).compartments[9].doorOpen, 5000, 'door open');
    sim.closeDoor(10);
    await eventually(async () => !(await stack.unit(id)).compartments[9].doorOpen, 5000, 'door closed');
    const open = await eventually(() => captured.find((p) => /"op":"open"|"t":101/.test(p.toString())), 3000, 'captured open');

    await spy.publishAsync(topic, open, { qos: 1 });
    await eventually(() => commands.some((c) => c.duplicate), 5000, 'replay seen by the unit');
    const opens = commands.filter((c) => c.op === 'open');
    expect(opens.map((c) => [c.raw, c.result, c.duplicate ?? false])).toEqual([
      [open.toString(), 'done', false],
      [open.toString(), 'done', true],
    ]);
    expect(sim.snapshot().doors[10]!.open).toBe(false);
    // Give a wrongly carried out replay time to show up (the unit answers before a door event would follow).
    await stack.gw!.bus.commands.send(id, { op: 'status' });
    expect((await doorEvents(stack, id, 10)).map((e) => ev(e).kind)).toEqual(['door-opened', 'door-closed']);
    await sim.stop();
  });
});

describe('malformed payloads from an authenticated unit: counted, dropped, nothing logged', () => {
  const stack = new Stack('embedded', { HEARTBEAT_TIMEOUT_MS: '60000' });
  beforeAll(() => stack.start());
  afterAll(() => stack.stop());

  const ts = '2026-11-20T08:15:30Z';
  const garbage: Record<string, [string, string | Buffer][]> = {
    [JSON_V1]: [
      [`lockers/${JSON_V1}/events`, 'not json {'],
      [`lockers/${JSON_V1}/events`, JSON.stringify({ id: `${JSON_V1}-1`, seq: 1, ts, type: 'door.exploded', no: 1 })],
      [`lockers/${JSON_V1}/events`, JSON.stringify({ id: `${JSON_V1}-2`, seq: 2, ts, type: 'door.opened', no: 99 })],
      [`lockers/${JSON_V1}/presence`, 'maybe'],
      [`lockers/${JSON_V1}/replies`, JSON.stringify({ cid: 'x', ok: true, result: 'jammed', ts })],
    ],
    [COMPACT_V2]: [
      [`cab/${COMPACT_V2}/up`, 'not json {'],
      [`cab/${COMPACT_V2}/up`, JSON.stringify({ t: 7, m: 5, d: {} })],
      [`cab/${COMPACT_V2}/up`, JSON.stringify({ t: 2, m: 6, d: { b: 99, s: 1, o: 0 } })],
      [`cab/${COMPACT_V2}/up`, JSON.stringify({ t: 5, m: 7, d: { doors: '0101', occ: '0000', fw: '2.3.1' } })],
    ],
    [FRAME_485]: [
      // change report of board 1 lock 5, BCC wrong
      [`dtu/${FRAME_485}/rx`, Buffer.from([0x02, 0x01, 0x32, 0x03, 0x05, 0x01, 0x00, 0x00, 0x03])],
      // a well-framed change report for lock 99
      [`dtu/${FRAME_485}/rx`, frame(0x01, 0x32, [99, 1, 0])],
      [`dtu/${FRAME_485}/state`, '2'],
    ],
  };

  function frame(addr: number, cmd: number, data: number[]): Buffer {
    const bcc = data.reduce((x, b) => x ^ b, addr ^ cmd ^ data.length);
    return Buffer.from([0x02, addr, cmd, data.length, ...data, bcc, 0x03]);
  }

  it('garbage on each unit\'s own topics: lg_malformed_total counts each, no event, no state change; valid commands still work', async () => {
    for (const [id, messages] of Object.entries(garbage)) {
      const unit = await stack.connectAsUnit(id);
      for (const [topic, payload] of messages) await unit.publishAsync(topic, payload, { qos: 1 });
      const counted = () => stack.gw!.counters.get('lg_malformed_total', { unit: id, dialect: DIALECT[id]! });
      await eventually(() => counted() === messages.length, 5000, `${id}: ${messages.length} malformed`);
      await unit.endAsync();
    }
    for (const id of Object.keys(garbage)) {
      expect(await stack.log(id)).toEqual([]);
      const u = await stack.unit(id);
      expect(u.online).toBe(false);
      expect(u.compartments.filter((c: { doorOpen: boolean; occupied: boolean }) => c.doorOpen || c.occupied)).toEqual([]);
    }
    expect(await stack.gw!.store.lastSeq(JSON_V1)).toBe(-1);

    // The real units connect (taking back their client ids): everything works.
    for (const id of Object.keys(garbage)) {
      await stack.sim(id);
      await eventually(() => online(stack, id), 5000, `${id} online`);
      expect((await stack.gw!.bus.commands.send(id, { op: 'open', compartment: 1 })).result).toBe('done');
      await eventually(async () => (await stack.unit(id)).compartments[0].doorOpen, 5000, `${id}: door 1 open`);
      expect(stack.gw!.counters.get('lg_malformed_total', { unit: id, dialect: DIALECT[id]! })).toBe(garbage[id]!.length);
    }
  });
});
