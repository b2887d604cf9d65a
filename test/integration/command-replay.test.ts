/**
 * Attack "Replay of a signed command" of issue 7: a json-v1 unit remembers its last 256 command ids and commands
 * stay valid for 60 s; the gateway sent 260 commands in under a second, after which a captured open command opened
 * the door again. No signed command may outlive the unit's memory of it (compact-v2: 64 message ids, same problem).
 * The attacker here has captured the open command on the wire and publishes it again to the unit's command topic.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { UNITS } from '../../devices/units.js';
import type { CommandInfo } from '../../simulators/index.js';
import { unitCommandTopic } from '../../src/broker/acl.js';
import type { CommandOp, CommandRecord } from '../../src/domain/model.js';
import { Stack, eventually } from '../support/stack.js';

const cases = [
  { dialect: 'json-v1', memory: 256 },
  { dialect: 'compact-v2', memory: 64 },
] as const;

let stack: Stack;
afterEach(() => stack.stop());

async function setUp(dialect: string, env: Record<string, string> = {}) {
  const unit = UNITS.find((u) => u.dialect === dialect)!;
  stack = await new Stack('embedded', env).start();
  const sim = await stack.sim(unit.id);
  await eventually(async () => (await stack.unit(unit.id)).online, 5000, 'online');
  const seen: CommandInfo[] = [];
  sim.on('command', (c: CommandInfo) => seen.push(c));
  return { unit, sim, seen };
}

const display = (i: number) => ({ op: 'display' as const, text: `msg ${i}`, seconds: 1 });

describe.each(cases)('$dialect: a captured open command replayed after a burst of commands', ({ dialect, memory }) => {
  it(`opens nothing: the unit still remembers it (${memory} command ids)`, async () => {
    const { unit, sim, seen } = await setUp(dialect);
    const topic = unitCommandTopic(unit);
    const wire = await stack.connectAsGateway();
    const captured: Buffer[] = [];
    wire.on('message', (t, payload) => t === topic && captured.push(payload));
    await wire.subscribeAsync(topic, { qos: 1 });

    const open = await stack.gw!.bus.commands.send(unit.id, { op: 'open', compartment: 5 });
    expect(open).toMatchObject({ state: 'done' });
    await eventually(() => sim.snapshot().doors[5]?.open, 5000, 'door 5 open');
    sim.closeDoor(5, false);
    await eventually(() => captured.length === 1, 5000, 'the open command captured');

    // More commands at once than the unit remembers.
    const burst: CommandRecord[] = await Promise.all(
      Array.from({ length: memory + 4 }, (_, i) => stack.gw!.bus.commands.send(unit.id, display(i))),
    );
    seen.length = 0;
    await wire.publishAsync(topic, captured[0]!, { qos: 1 });
    const replay = await eventually(() => seen.find((c) => c.op === 'open' || c.op === '101'), 5000, 'the replay reaching the unit');
    expect(sim.snapshot().doors[5]?.open, 'door 5 opened by the replay').toBe(false);
    expect(replay.duplicate, 'the unit recognised the replay').toBe(true);

    // What kept it in the unit's memory: the commands that would have pushed it out were not sent ('busy'; any
    // other result, 'timed_out' included, means the command went out).
    const busy = burst.filter((r) => r.result === 'busy').length;
    expect(burst.length - busy).toBeLessThan(memory - 1);
    expect(stack.gw!.counters.get('lg_command_throttled_total', { unit: unit.id })).toBe(busy);
  }, 30_000);
});

describe('the replay guard gives way once the command it protects has expired', () => {
  it('compact-v2, COMMAND_TTL_S=5: throttled commands go through again ~5 s later; screen texts alone are never held', async () => {
    const { unit } = await setUp('compact-v2', { COMMAND_TTL_S: '5', COMMAND_CLOCK_SKEW_S: '0', COMMAND_TIMEOUT_MS: '2000' });
    const send = (op: CommandOp) => stack.gw!.bus.commands.send(unit.id, op);

    // With no door command in the window, screen texts are not limited (nothing valuable to forget).
    const texts = await Promise.all(Array.from({ length: 80 }, (_, i) => send(display(i))));
    expect(texts.filter((r) => r.result === 'busy')).toEqual([]);

    expect((await send({ op: 'keypad', enabled: true })).result).toBe('done');
    const after = await Promise.all(Array.from({ length: 70 }, (_, i) => send(display(100 + i))));
    expect(after.filter((r) => r.result === 'busy').length).toBeGreaterThan(0);
    const t0 = Date.now();
    await eventually(async () => (await send(display(999))).result === 'done', 10_000, 'a command sent again');
    expect(Date.now() - t0).toBeGreaterThan(1000);
  }, 30_000);
});
