/**
 * A command's start is one atomic step (src/bus/command-lua.ts): its record (unless its id is taken), an open's open
 * guard and a door or keypad command's `sent` evidence entry. What must hold: a repeated id reaches the unit once, a
 * refused open leaves no record and is never sent, the chain verifies (also when another writer moved its head in
 * between), and a screen text without an id of the caller's gets no record.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { UNITS } from '../../devices/units.js';
import { CommandBus } from '../../src/bus/commands.js';
import type { Driver } from '../../src/bus/driver.js';
import { OpenGuard, OpenRefused, type OpenLimits } from '../../src/bus/open-guard.js';
import { ManualClock } from '../../src/domain/clock.js';
import type { CommandOp } from '../../src/domain/model.js';
import { Checkpoints } from '../../src/evidence/checkpoints.js';
import { EvidenceLog, unitChain } from '../../src/evidence/log.js';
import { Verifier } from '../../src/evidence/verify.js';
import { silentLogger } from '../../src/log.js';
import { Counters } from '../../src/metrics.js';
import { UnitStore, fieldMap } from '../../src/store/units.js';
import { TestRedis } from '../support/redis.js';

const unit = UNITS[0]!.id;
let server: TestRedis;
const conns: Redis[] = [];
let n = 0;

beforeAll(async () => {
  server = await new TestRedis().start();
});
afterAll(async () => {
  for (const c of conns) c.disconnect();
  await server.destroy();
});

function setUp(limits: OpenLimits = { perUnit: 100, fleet: 100, unexplainedPerUnit: 100, unexplainedFleet: 100 }) {
  const prefix = `cs${++n}:`;
  const clock = new ManualClock();
  const redis = server.client();
  conns.push(redis);
  const evidence = new EvidenceLog(redis, prefix);
  const store = new UnitStore(redis, prefix, UNITS, evidence);
  const counters = new Counters();
  const sent: { id: string; op: CommandOp }[] = [];
  let release: () => void = () => undefined;
  let gate: Promise<void> = Promise.resolve();
  const driver = {
    unit: UNITS[0]!,
    async execute(cmd: { id: string; op: CommandOp }) {
      sent.push(cmd);
      await gate;
      return 'done' as const;
    },
  } as unknown as Driver;
  const opens = new OpenGuard({ redis, prefix, evidence, units: UNITS, limits, counters, logger: silentLogger, now: () => clock.now() });
  const bus = new CommandBus({
    redis,
    prefix,
    drivers: new Map([[unit, driver]]),
    store,
    logger: silentLogger,
    counters,
    timeoutMs: 1_000,
    now: () => clock.now(),
    opens,
  });
  const entries = async () =>
    (await redis.xrange(`${prefix}evidence:${unitChain(unit)}`, '-', '+')).map(([, f]) => JSON.parse(fieldMap(f).e!) as Record<string, unknown>);
  const verify = async () => {
    const other = server.client();
    conns.push(other);
    const log = new EvidenceLog(other, prefix);
    return new Verifier(other, prefix, log, new Checkpoints(other, prefix, log, Buffer.from('k'), clock)).verify(unitChain(unit));
  };
  const hold = () => {
    gate = new Promise((r) => (release = r));
    return () => release();
  };
  return { prefix, redis, bus, sent, entries, verify, hold, clock };
}

describe('a command starts in one step: record, open guard, sent entry', () => {
  it('an open: the record, one sent and one done entry, counted by the guard; the same id again reaches the unit once', async () => {
    const s = setUp();
    const free = s.hold();
    const first = s.bus.send(unit, { op: 'open', compartment: 3 }, { id: 'o-1', intent: 'deposit', actor: { type: 'courier', id: 'c1' } });
    const again = s.bus.send(unit, { op: 'open', compartment: 3 }, { id: 'o-1', intent: 'deposit', actor: { type: 'courier', id: 'c1' } });
    await new Promise((r) => setTimeout(r, 20));
    free();
    const [a, b] = await Promise.all([first, again]);
    expect(a).toMatchObject({ id: 'o-1', state: 'done', result: 'done' });
    expect(b).toMatchObject({ id: 'o-1', state: 'done' });
    // later, from Redis (another process would see the same)
    expect(await s.bus.send(unit, { op: 'open', compartment: 3 }, { id: 'o-1', intent: 'deposit' })).toMatchObject({ state: 'done' });
    await expect(s.bus.send(unit, { op: 'open', compartment: 4 }, { id: 'o-1' })).rejects.toMatchObject({ code: 'command_conflict' });
    expect(s.sent.map((c) => c.id)).toEqual(['o-1']);
    const ev = await s.entries();
    expect(ev.map((e) => `${String(e.kind)}:${String(e.state)}`)).toEqual(['command:sent', 'command:done']);
    expect(ev[0]).toMatchObject({ commandId: 'o-1', compartment: 3, actor: { type: 'courier', id: 'c1' } });
    expect(await s.redis.zcard(`${s.prefix}opens:explained:unit:${unit}`)).toBe(1);
    expect((await s.verify()).ok).toBe(true);
  });

  it('a refused open leaves no record, is never sent, and is recorded as refused; the chain verifies', async () => {
    const s = setUp({ perUnit: 1, fleet: 100, unexplainedPerUnit: 100, unexplainedFleet: 100 });
    await s.bus.send(unit, { op: 'open', compartment: 1 }, { id: 'o-1', intent: 'deposit' });
    const refused = await s.bus.send(unit, { op: 'open', compartment: 2 }, { id: 'o-2', intent: 'deposit' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenRefused);
    expect(refused).toMatchObject({ why: 'rate_limited', scope: 'unit' });
    expect(await s.redis.exists(`${s.prefix}cmd:o-2`)).toBe(0);
    expect(s.sent.map((c) => c.id)).toEqual(['o-1']);
    expect((await s.entries()).map((e) => e.kind)).toEqual(['command', 'command', 'open-refused']);
    // once the window has moved on, the same id goes through
    s.clock.advance(61_000);
    expect(await s.bus.send(unit, { op: 'open', compartment: 2 }, { id: 'o-2', intent: 'deposit' })).toMatchObject({ state: 'done' });
    expect((await s.verify()).ok).toBe(true);
  });

  it('another writer moved the chain head in between: the step is hashed again, the chain verifies', async () => {
    const s = setUp();
    await s.bus.send(unit, { op: 'keypad', enabled: true }, { id: 'k-1' });
    const other = server.client();
    conns.push(other);
    await new EvidenceLog(other, s.prefix).append(unitChain(unit), [{ at: 1, kind: 'note', actor: { type: 'system', id: 'x' }, unit }]);
    await s.bus.send(unit, { op: 'open', compartment: 5 }, { id: 'o-5' });
    expect((await s.entries()).map((e) => `${String(e.kind)}:${String(e.state ?? '')}`)).toEqual([
      'command:sent',
      'command:done',
      'keypad:enabled',
      'note:',
      'command:sent',
      'command:done',
    ]);
    expect((await s.verify()).ok).toBe(true);
  });

  it('a screen text gets a record only when the caller gave it an id', async () => {
    const s = setUp();
    const shown = await s.bus.send(unit, { op: 'display', text: 'hi', seconds: 1 });
    expect(shown).toMatchObject({ state: 'done' });
    expect(await s.redis.exists(`${s.prefix}cmd:${shown.id}`)).toBe(0);
    await s.bus.send(unit, { op: 'display', text: 'hi', seconds: 1 }, { id: 'staff-key-1' });
    await s.bus.send(unit, { op: 'display', text: 'hi', seconds: 1 }, { id: 'staff-key-1' });
    expect(JSON.parse((await s.redis.get(`${s.prefix}cmd:staff-key-1`))!)).toMatchObject({ state: 'done', op: 'display' });
    expect(s.sent.map((c) => c.op.op)).toEqual(['display', 'display']);
    expect(await s.entries()).toEqual([]);
  });
});
