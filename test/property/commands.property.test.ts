/**
 * Commands survive encode -> simulator decode, for real (issue 13): random commands of every op (open, display,
 * keypad, status) go through the gateway's command bus, its driver's encoder and the real broker to the simulated unit
 * of each dialect, which checks the signature, decodes and carries them out. The result is `done`, and the unit's
 * physical state is what was asked: that door released, that text on the screen, the keypad on or off.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UNITS } from '../../devices/units.js';
import type { CommandOp } from '../../src/domain/model.js';
import type { SimulatedUnit } from '../../simulators/index.js';
import { Stack, eventually } from '../support/stack.js';

// The units remember only their last 64 (compact-v2) or 256 (json-v1) commands, so the replay guard lets ~62 follow a
// still-valid door or keypad command and holds the rest until it expires (`busy` past the timeout). A short validity
// keeps that wait short; a held command must still arrive intact.
const stack = new Stack('embedded', {
  HEARTBEAT_TIMEOUT_MS: '60000',
  POLL_INTERVAL_MS: '3600000',
  EVIDENCE_CHECKPOINT_S: '86400',
  COMMAND_TTL_S: '5',
  COMMAND_CLOCK_SKEW_S: '0',
});
const sims = new Map<string, SimulatedUnit>();

beforeAll(async () => {
  await stack.start();
  for (const u of UNITS) {
    sims.set(u.id, await stack.sim(u.id));
    await eventually(async () => (await stack.unit(u.id))?.online, 10_000, `${u.id} online`);
  }
}, 60_000);
afterAll(() => stack.stop());

/** Screen text each dialect's screen takes: 40 characters of anything (json-v1, compact-v2); 32 of printable ASCII. */
const wide = fc.string({ unit: fc.constantFrom(...'取件码快递柜请关门ABCxyz 0123:-_!é€😀'), minLength: 1, maxLength: 40 });
const ascii = fc.string({ unit: fc.constantFrom(...'ABCDEFGHXYZ abcxyz 0123456789:-_!?#.'), minLength: 1, maxLength: 32 }).filter((t) => t.trim() !== '');

function ops(unit: (typeof UNITS)[number]): fc.Arbitrary<CommandOp> {
  const text = unit.dialect === 'frame-485' ? ascii : wide;
  return fc.oneof(
    fc.constantFrom(...unit.compartments.map((c) => c.no)).map((no): CommandOp => ({ op: 'open', compartment: no })),
    fc.tuple(text, fc.integer({ min: 5, max: 255 })).map(([t, seconds]): CommandOp => ({ op: 'display', text: t, seconds })),
    fc.boolean().map((enabled): CommandOp => ({ op: 'keypad', enabled })),
    fc.constant<CommandOp>({ op: 'status' }),
  );
}

describe('every command op reaches each simulated unit intact and is carried out', () => {
  it.each(UNITS.map((u) => [u.dialect, u] as const))('%s', async (_dialect, unit) => {
    const sim = sims.get(unit.id)!;
    const seen = new Set<string>();
    await fc.assert(
      fc.asyncProperty(fc.array(ops(unit), { minLength: 1, maxLength: 4 }), async (cmds) => {
        for (const op of cmds) {
          seen.add(op.op);
          const rec = await stack.gw!.bus.commands.send(unit.id, op, { timeoutMs: 15_000 });
          expect(rec, JSON.stringify(op)).toMatchObject({ state: 'done', result: 'done' });
          const snap = sim.snapshot();
          switch (op.op) {
            case 'open':
              expect(snap.doors[op.compartment]?.open, `door ${op.compartment}`).toBe(true);
              sim.closeDoor(op.compartment);
              await eventually(async () => !(await stack.unit(unit.id)).compartments[op.compartment - 1].doorOpen, 8_000, `door ${op.compartment} closed`);
              break;
            case 'display':
              // the frame-485 screen gets the text with runs of spaces folded and the ends trimmed (encodeDisplay)
              expect(snap.display?.text).toBe(unit.dialect === 'frame-485' ? op.text.replace(/ {2,}/g, ' ').trim() : op.text);
              break;
            case 'keypad':
              // frame-485 boards have no keypad switch: the gateway keeps it (and ignores typed codes itself)
              if (unit.dialect !== 'frame-485') expect(snap.keypadEnabled).toBe(op.enabled);
              break;
            case 'status':
              break;
          }
        }
      }),
      { numRuns: 25 },
    );
    expect([...seen].sort()).toEqual(['display', 'keypad', 'open', 'status']);
    // leave the keypad as found
    await stack.gw!.bus.commands.send(unit.id, { op: 'keypad', enabled: true });
  }, 180_000);
});
