import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UNITS } from '../../devices/units.js';
import { Stack, credentials, eventually } from '../support/stack.js';
import { presenceCodeValid } from '../../src/domain/presence.js';

const [JSON_V1, COMPACT_V2, FRAME_485] = UNITS.map((u) => u.id) as [string, string, string];

/** Each driver against its simulator, through the embedded broker and through a real Mosquitto. */
describe.each(['embedded', 'mosquitto'] as const)('three units through the %s broker', (broker) => {
  const stack = new Stack(broker);

  beforeAll(async () => {
    await stack.start();
    for (const u of UNITS) await stack.sim(u.id);
  });
  afterAll(() => stack.stop());

  it('shows all three units online in GET /v1/units, with every compartment', async () => {
    await eventually(async () => {
      const { body } = await stack.get('/v1/units');
      return body.units.every((u: { online: boolean }) => u.online);
    }, 10_000, 'all units online');
    const { status, body } = await stack.get('/v1/units');
    expect(status).toBe(200);
    expect(body.units.map((u: { id: string; compartments: unknown[] }) => [u.id, u.compartments.length])).toEqual([
      [JSON_V1, 36],
      [COMPACT_V2, 30],
      [FRAME_485, 24],
    ]);
    const one = await stack.get(`/v1/units/${JSON_V1}`);
    expect(one.body).toMatchObject({ id: JSON_V1, dialect: 'json-v1', online: true, keypad: 'enabled' });
    expect((await stack.get('/v1/units/NOPE')).status).toBe(404);
  });

  it.each([
    [JSON_V1, 12],
    [COMPACT_V2, 7],
    [FRAME_485, 15],
  ])('%s: open → door open → person puts a parcel in and closes → occupied, all logged with source ids', async (id, no) => {
    const cmd = await stack.gw!.bus.commands.send(id, { op: 'open', compartment: no });
    expect(cmd).toMatchObject({ state: 'done', result: 'done' });
    await eventually(async () => (await stack.unit(id)).compartments[no - 1].doorOpen, 5000, 'door open');
    const sim = stack.sims.find((s) => s.unit.id === id)!;
    sim.putParcel(no);
    sim.closeDoor(no);
    await eventually(async () => {
      const c = (await stack.unit(id)).compartments[no - 1];
      return !c.doorOpen && c.occupied;
    }, 5000, 'closed and occupied');
    const { body } = await stack.staffGet(`/v1/units/${id}/events?limit=20`);
    const kinds = body.events.map((e: { event: { kind: string } }) => e.event.kind);
    expect(kinds).toEqual(expect.arrayContaining(['door-opened', 'door-closed', 'command']));
    const closed = body.events.find((e: { event: { kind: string; compartment?: number } }) => e.event.kind === 'door-closed' && e.event.compartment === no);
    const source = closed.event.source;
    if (id === JSON_V1) expect(source).toMatchObject({ seq: expect.any(Number), id: expect.stringMatching(/^LSN-0001-\d+$/) });
    if (id === COMPACT_V2) expect(source.msgId ?? source.reconciled).toBeTruthy();
    if (id === FRAME_485) expect(source.frame ?? source.reconciled).toBeTruthy();
  });

  it('display, keypad and status work on every dialect', async () => {
    for (const id of [JSON_V1, COMPACT_V2, FRAME_485]) {
      const bus = stack.gw!.bus.commands;
      expect((await bus.send(id, { op: 'display', text: '请取件 Box 7', seconds: 5 })).result).toBe('done');
      expect((await bus.send(id, { op: 'keypad', enabled: false })).result).toBe('done');
      expect((await stack.unit(id)).keypad).toBe('disabled');
      expect((await bus.send(id, { op: 'keypad', enabled: true })).result).toBe('done');
      expect((await bus.send(id, { op: 'status' })).result).toBe('done');
    }
    const sims = stack.sims;
    expect(sims.find((s) => s.unit.id === JSON_V1)!.snapshot().display?.text).toBe('请取件 Box 7');
  });

  it('an unknown compartment is refused with a reason, never thrown', async () => {
    for (const id of [JSON_V1, COMPACT_V2, FRAME_485]) {
      const r = await stack.gw!.bus.commands.send(id, { op: 'open', compartment: 99 });
      expect(r).toMatchObject({ state: 'failed', result: 'unknown_compartment' });
    }
  });

  it('a repeated command id is not sent again: the first result is returned', async () => {
    const sim = stack.sims.find((s) => s.unit.id === COMPACT_V2)!;
    const opened: unknown[] = [];
    sim.on('command', (c: { op: string }) => opened.push(c));
    const first = await stack.gw!.bus.commands.send(COMPACT_V2, { op: 'open', compartment: 3 }, { id: 'same-id-1' });
    const again = await stack.gw!.bus.commands.send(COMPACT_V2, { op: 'open', compartment: 3 }, { id: 'same-id-1' });
    expect(again).toEqual(first);
    expect(opened).toHaveLength(1);
    await expect(stack.gw!.bus.commands.send(COMPACT_V2, { op: 'open', compartment: 4 }, { id: 'same-id-1' })).rejects.toThrow(/already used/);
    sim.closeDoor(3);
  });

  it('a typed code never reaches the event log in clear, on any dialect', async () => {
    for (const id of [JSON_V1, COMPACT_V2, FRAME_485]) {
      stack.sims.find((s) => s.unit.id === id)!.typeCode('482913');
      const { body } = await eventually(async () => {
        const r = await stack.staffGet(`/v1/units/${id}/events?limit=50`);
        return r.body.events.some((e: { event: { kind: string } }) => e.event.kind === 'code-entered') ? r : null;
      }, 5000, `code logged at ${id}`);
      const entry = body.events.find((e: { event: { kind: string } }) => e.event.kind === 'code-entered');
      expect(entry.event).toMatchObject({ code: '48****', codeHash: expect.stringMatching(/^[0-9a-f]{64}$/) });
      const text = JSON.stringify(entry);
      expect(text).not.toContain('482913');
      expect(text).not.toContain('34 38 32 39 31 33'); // the ASCII digits inside a frame-485 keypad frame
    }
  });

  it('GET /healthz and /readyz', async () => {
    expect((await stack.get('/healthz')).body).toEqual({ ok: true });
    expect((await stack.get('/readyz')).body).toEqual({ ready: true, redis: true, mqtt: true });
  });
});

describe('presence codes on the unit screens', () => {
  const stack = new Stack('embedded', { PRESENCE_CODES: 'on' });
  beforeAll(async () => {
    await stack.start();
    await stack.sim(JSON_V1);
    await stack.sim(FRAME_485);
  });
  afterAll(() => stack.stop());

  it('a unit that comes online shows the code of the minute (English only on the ASCII screen)', async () => {
    const key = Buffer.from(credentials.gateway.codeKeyHex!, 'hex');
    const json = stack.sims.find((s) => s.unit.id === JSON_V1)!;
    const text = await eventually(() => json.snapshot().display?.text, 5000, 'json-v1 screen');
    const code = /现场码 (\d{4}) Presence code \1/.exec(text)?.[1];
    expect(code).toBeDefined();
    expect(presenceCodeValid(key, JSON_V1, code!, Date.now())).toBe(true);
    const frame = stack.sims.find((s) => s.unit.id === FRAME_485)!;
    const ascii = await eventually(() => frame.snapshot().display?.text, 5000, 'frame-485 screen');
    expect(ascii).toMatch(/^Presence code \d{4}$/);
  });
});
