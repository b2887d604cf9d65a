import { describe, expect, it } from 'vitest';
import { UnitIntake, type IncomingMessage } from '../../src/bus/intake.js';
import type { Driver } from '../../src/bus/driver.js';
import { silentLogger } from '../../src/log.js';
import { Counters } from '../../src/metrics.js';

/** A driver whose handle() waits until the test lets each message through (or fails it). */
function fakeDriver(id: string) {
  const started: string[] = [];
  const gates: { topic: string; pass: () => void; fail: (e: Error) => void }[] = [];
  const driver = {
    unit: { id },
    handle(topic: string) {
      started.push(topic);
      return new Promise<void>((pass, fail) => gates.push({ topic, pass, fail }));
    },
  } as unknown as Driver;
  return { driver, started, gates };
}

const tick = () => new Promise((r) => setImmediate(r));

function message(topic: string, acks: string[], qos: 0 | 1 = 1, generation = 0): IncomingMessage {
  return { topic, payload: Buffer.from(topic), qos, generation, ack: () => acks.push(topic) };
}

function intake(over: Partial<ConstructorParameters<typeof UnitIntake>[0]> = {}) {
  return new UnitIntake({ logger: silentLogger, counters: new Counters(), maxBytes: 1 << 20, failed: () => false, ...over });
}

describe('UnitIntake', () => {
  it("handles each unit's messages in order, one at a time; another unit's are not held up; acks only after handling", async () => {
    const a = fakeDriver('A');
    const b = fakeDriver('B');
    const acks: string[] = [];
    const q = intake();
    for (let i = 1; i <= 3; i++) q.push(a.driver, message(`a${i}`, acks), () => undefined);
    q.push(b.driver, message('b1', acks), () => undefined);
    await tick();
    expect(a.started).toEqual(['a1']);
    expect(b.started).toEqual(['b1']);
    b.gates[0]!.pass();
    await tick();
    expect(acks).toEqual(['b1']);
    a.gates[0]!.pass();
    await tick();
    expect(a.started).toEqual(['a1', 'a2']);
    a.gates[1]!.pass();
    await tick();
    a.gates[2]!.pass();
    await tick();
    expect(acks).toEqual(['b1', 'a1', 'a2', 'a3']);
  });

  it('a message that is to be delivered again drops what is queued behind it for that unit, unacknowledged', async () => {
    const a = fakeDriver('A');
    const acks: string[] = [];
    const failed: string[] = [];
    const q = intake({ failed: (m) => (failed.push(m.topic), false) });
    for (let i = 1; i <= 3; i++) q.push(a.driver, message(`a${i}`, acks), () => undefined);
    await tick();
    a.gates[0]!.fail(new Error('redis down'));
    await tick();
    expect(failed).toEqual(['a1']);
    expect(acks).toEqual([]);
    expect(a.started).toEqual(['a1']);
    expect(q.queued).toBe(0);
  });

  it('a poison message is acknowledged and dropped; the unit goes on', async () => {
    const a = fakeDriver('A');
    const acks: string[] = [];
    const q = intake({ failed: () => true });
    q.push(a.driver, message('a1', acks), () => undefined);
    q.push(a.driver, message('a2', acks), () => undefined);
    await tick();
    a.gates[0]!.fail(new Error('bad'));
    await tick();
    a.gates[1]!.pass();
    await tick();
    expect(acks).toEqual(['a1', 'a2']);
  });

  it('a lost connection forgets the QoS 1 messages not yet handled (the broker sends them again)', async () => {
    const a = fakeDriver('A');
    const acks: string[] = [];
    const q = intake();
    q.push(a.driver, message('a1', acks), () => undefined);
    q.push(a.driver, message('a2', acks), () => undefined);
    q.push(a.driver, message('r1', acks, 0), () => undefined);
    await tick();
    q.connectionLost(0);
    expect(q.queued).toBe(2); // a1 under way, r1 (QoS 0, never sent again)
    a.gates[0]!.pass();
    await tick();
    a.gates[1]!.pass();
    await tick();
    expect(a.started).toEqual(['a1', 'r1']);
  });

  it("a unit's full queue holds the reader until it is half empty", async () => {
    const a = fakeDriver('A');
    const acks: string[] = [];
    const counters = new Counters();
    const q = intake({ maxBytes: 3 * (2 + 2 + 256), counters });
    const resumed: string[] = [];
    for (let i = 1; i <= 4; i++) q.push(a.driver, message(`a${i}`, acks), () => resumed.push(`a${i}`));
    expect(resumed).toEqual(['a1', 'a2', 'a3']);
    expect(counters.get('lg_unit_queue_full_total', { unit: 'A' })).toBe(1);
    await tick();
    a.gates[0]!.pass();
    await tick();
    a.gates[1]!.pass();
    await tick();
    expect(resumed).toEqual(['a1', 'a2', 'a3']); // two left (a3 under way, a4): more than half
    a.gates[2]!.pass();
    await tick();
    expect(resumed).toEqual(['a1', 'a2', 'a3', 'a4']);
  });
});
