/**
 * Random bytes and random JSON into every driver change no state (issue 13). Each payload is published as the unit
 * itself over the real gateway's embedded broker, on one of the unit's own topics, so it takes the whole way in:
 * the bus's handleMessage, the unit's intake queue, the dialect's driver, the real redis-server. After each one:
 * nothing threw past the driver (no handler error), and a payload the driver dropped as malformed was counted
 * (lg_malformed_total) and left Redis exactly as it was (every key under the prefix, by value).
 *
 * Payloads: random bytes; random JSON; and, per dialect, messages of the right shape with one field given a wrong
 * type or value (the codec must refuse those), including compartments the unit does not have (the driver refuses).
 */
import fc from 'fast-check';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UNITS } from '../../devices/units.js';
import { decodeCompactV2 } from '../../devices/compact-v2/codec.js';
import { encodeFrame } from '../../devices/frame-485/codec.js';
import { decodeJsonV1 } from '../../devices/json-v1/codec.js';
import { unitPublishTopics } from '../../src/broker/acl.js';
import { Stack, eventually } from '../support/stack.js';

const [JSON_V1, COMPACT_V2, FRAME_485] = UNITS.map((u) => u.id) as [string, string, string];

// What the gateway writes on its own timers, whatever the units send, would land between two looks at the state:
// the compact-v2 watchdog's "offline" (HEARTBEAT_TIMEOUT_MS), frame-485 polls (POLL_INTERVAL_MS), and the evidence
// checkpoints into every chain (EVIDENCE_CHECKPOINT_S). Pushed out past the test.
const stack = new Stack('embedded', { HEARTBEAT_TIMEOUT_MS: '3600000', POLL_INTERVAL_MS: '3600000', EVIDENCE_CHECKPOINT_S: '86400' });
const clients = new Map<string, MqttClient>();

beforeAll(async () => {
  await stack.start();
  // Some state to keep: each unit comes online once through its simulator (presence, reconciled compartments, an
  // evidence chain), then the simulator leaves and the test takes its place.
  for (const u of UNITS) {
    const sim = await stack.sim(u.id);
    await eventually(async () => (await stack.unit(u.id))?.online, 10_000, `${u.id} online`);
    await eventually(async () => (await stack.gw!.redis.xlen(`lg:evidence:unit:${u.id}`)) > 0, 10_000, `${u.id} logged`);
    await sim.stop();
    // its leaving logged (last will, DTU state 0, or the compact-v2 unit's will) before the test starts looking
    await eventually(async () => !(await stack.unit(u.id)).online, 10_000, `${u.id} offline`);
  }
  for (const u of UNITS) clients.set(u.id, await stack.connectAsUnit(u.id));
}, 60_000);
afterAll(() => stack.stop());

/**
 * Every key under the gateway's prefix with its value. Streams by their entries: their consumer groups' cursors are
 * where readers (the parcel engine, the alert engine) have got to, and move on their own as those catch up; the
 * entries are the state. Everything else by DUMP (type and content). BullMQ's own keys are left out: its workers
 * write their stalled-job checks on a timer, and no unit message reaches a queue without passing the outbox (in).
 */
async function state(): Promise<Map<string, string>> {
  const r = stack.gw!.redis;
  const out = new Map<string, string>();
  const all = (await r.keys('lg:*')).filter((k) => !k.startsWith('lg:bull:')).sort();
  const types = await Promise.all(all.map((k) => r.type(k)));
  await Promise.all(
    all.map(async (k, i) => {
      if (types[i] !== 'stream') out.set(k, (await r.dumpBuffer(k))?.toString('base64') ?? 'gone');
      else {
        const entries = await r.xrange(k, '-', '+');
        // an empty stream is no state: readers create theirs (XGROUP CREATE ... MKSTREAM) when they start
        if (entries.length) out.set(k, JSON.stringify(entries));
      }
    }),
  );
  return out;
}

/** A unit's hash without `lastSeen`: bytes on a DTU's rx topic prove it is there, whatever they say (see below). */
async function withoutLastSeen(s: Map<string, string>, unit: string): Promise<Map<string, string>> {
  const copy = new Map(s);
  const key = `lg:unit:${unit}`;
  if (!copy.has(key)) return copy;
  const fields = Object.entries(await stack.gw!.redis.hgetall(key)).filter(([f]) => f !== 'lastSeen');
  if (fields.length) copy.set(key, JSON.stringify(fields.sort()));
  else copy.delete(key); // created by the first touch
  return copy;
}

function diff(a: Map<string, string>, b: Map<string, string>): string[] {
  const keys = new Set([...a.keys(), ...b.keys()]);
  return [...keys].filter((k) => a.get(k) !== b.get(k));
}

const counters = () => stack.gw!.counters;
const handled = (unit: string) => counters().get('lg_unit_messages_total', { unit });
const malformed = (unit: string, dialect: string) => counters().get('lg_malformed_total', { unit, dialect });
const handlerErrors = () => counters().total('lg_handler_errors_total');

/** Publish as the unit and wait until its driver has handled the message (the intake counts each one). */
async function send(unit: string, topic: string, payload: Buffer): Promise<void> {
  const before = handled(unit) + counters().get('lg_handler_errors_total', { unit });
  await clients.get(unit)!.publishAsync(topic, payload, { qos: 1 });
  const end = Date.now() + 10_000;
  while (handled(unit) + counters().get('lg_handler_errors_total', { unit }) === before) {
    if (Date.now() > end) throw new Error(`message on ${topic} never handled`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

// ---- payloads ----

const bytes = fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b));
const json = fc.jsonValue({ maxDepth: 3 }).map((v) => Buffer.from(JSON.stringify(v)));
/** Values that are wrong for nearly any field: the codec decides, and the property holds either way. */
const wrong = fc.oneof(
  fc.constantFrom<unknown>(null, [], {}, true, '', -1, 0, 1.5, 1e300, 2 ** 60, 'NaN', '1', '2026-13-45T99:99:99Z', 'x'.repeat(300)),
  fc.constantFrom<unknown>({ __proto__: null }, [1, 2, 3], '__proto__', 'constructor', 999, 65536, -200.5),
  fc.jsonValue({ maxDepth: 1 }),
);
/**
 * A valid-looking message with one field (maybe nested one level) replaced by a wrong value, or removed; or left
 * whole (then only a compartment the unit lacks gets it refused).
 */
function corrupt(base: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<Buffer> {
  return fc.oneof(base.map((m) => Buffer.from(JSON.stringify(m))), corrupted(base), corrupted(base));
}
function corrupted(base: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<Buffer> {
  return fc.tuple(base, fc.nat(), fc.nat(), wrong, fc.boolean()).map(([msg, i, j, bad, drop]) => {
    const o = structuredClone(msg);
    const keys = Object.keys(o);
    const k = keys[i % keys.length]!;
    const inner = o[k];
    if (inner && typeof inner === 'object' && !Array.isArray(inner) && Object.keys(inner).length) {
      const ik = Object.keys(inner)[j % Object.keys(inner).length]!;
      if (drop) delete (inner as Record<string, unknown>)[ik];
      else (inner as Record<string, unknown>)[ik] = bad;
    } else if (drop) delete o[k];
    else o[k] = bad;
    return Buffer.from(JSON.stringify(o));
  });
}

const ts = fc.date({ min: new Date('2020-01-01'), max: new Date('2030-01-01'), noInvalidDate: true }).map((d) => d.toISOString());
const [PRESENCE, STATE, EVENTS, REPLIES] = unitPublishTopics({ id: JSON_V1, dialect: 'json-v1' }) as [string, string, string, string];
const [UP] = unitPublishTopics({ id: COMPACT_V2, dialect: 'compact-v2' }) as [string];
const anyOf = (topics: string[]) => fc.tuple(fc.constantFrom(...topics), fc.oneof(bytes, json));
/** [topic, payload] for json-v1: anything on any topic, or the topic's own message shape, spoilt. */
const jsonV1Payloads = fc.oneof(
  anyOf([PRESENCE, STATE, EVENTS, REPLIES]),
  fc.tuple(fc.constant(PRESENCE), fc.constantFrom('online ', 'ONLINE', 'offline\n', '', '"online"', 'on\u0000line').map((t) => Buffer.from(t))),
  fc.tuple(
    fc.constant(EVENTS),
    corrupt(
      fc.record({
        seq: fc.nat(),
        ts,
        type: fc.constantFrom('door.opened', 'door.closed', 'code.entered', 'fault', 'alarm', 'boot'),
        no: fc.integer({ min: 1, max: 40 }),
        occupied: fc.boolean(),
        code: fc.constant('123456'),
        kind: fc.constantFrom('jammed', 'tamper'),
        fw: fc.constant('1.2'),
        reason: fc.constant('power-on'),
      }).map((e) => ({ id: `${JSON_V1}-${e.seq}`, ...e })),
    ),
  ),
  fc.tuple(fc.constant(REPLIES), corrupt(fc.record({ cid: fc.string({ minLength: 1, maxLength: 8 }), ok: fc.boolean(), result: fc.constantFrom('done', 'jammed'), ts }))),
  fc.tuple(
    fc.constant(STATE),
    corrupt(
      fc.record({
        sn: fc.constant(JSON_V1),
        fw: fc.constant('1.0.0'),
        seq: fc.nat({ max: 5 }),
        ts,
        compartments: fc.integer({ min: 1, max: 40 }).map((no) => [{ no, size: 'S', door: 'closed', occupied: false, fault: null }]),
      }),
    ),
  ),
);
const compactShaped = fc.oneof(
  fc.record({ t: fc.constant(1), m: fc.integer({ min: 1, max: 65535 }), d: fc.record({ up: fc.nat(), rssi: fc.integer({ min: -100, max: 0 }) }) }),
  fc.record({ t: fc.constant(2), m: fc.integer({ min: 1, max: 65535 }), d: fc.record({ b: fc.integer({ min: 25, max: 40 }), s: fc.constantFrom(0, 1), o: fc.constantFrom(0, 1) }) }),
  fc.record({ t: fc.constant(3), m: fc.integer({ min: 1, max: 65535 }), d: fc.record({ k: fc.constant('123456') }) }),
  fc.record({ t: fc.constant(4), m: fc.integer({ min: 1, max: 65535 }), d: fc.record({ a: fc.integer({ min: 1, max: 65535 }), r: fc.nat({ max: 5 }) }) }),
  fc.record({ t: fc.constant(5), m: fc.integer({ min: 1, max: 65535 }), d: fc.record({ doors: fc.constant('0000'), occ: fc.constant('0000'), fw: fc.constant('2.0') }) }),
  fc.record({ t: fc.constant(9), m: fc.integer({ min: 1, max: 65535 }), d: fc.record({ c: fc.integer({ min: 1, max: 4 }), b: fc.integer({ min: 25, max: 40 }) }) }),
);
/** Frames with a good BCC and ETX but random command and data: the frame decoder must judge their content. */
const frames = fc
  .array(fc.record({ addr: fc.integer({ min: 0, max: 255 }), cmd: fc.integer({ min: 0, max: 255 }), data: fc.uint8Array({ maxLength: 12 }) }), { minLength: 1, maxLength: 3 })
  .map((fs) => Buffer.concat(fs.map((f) => encodeFrame(f.addr, f.cmd, f.data))));

const RUNS = { numRuns: 250 };

/**
 * Whether the unit's driver must refuse a payload: the codec refuses it, or it decodes but names a compartment the
 * unit lacks (or, compact-v2 status, the wrong number of boxes). Accepted payloads are left out: what they change is
 * the business of the dialects' own tests, and their follow-ups (a status request, the parcel engine, alerts) land
 * later, in the middle of the next payload's before/after.
 */
function refusedByUnit(unit: string, topic: string, payload: Buffer): 'codec' | 'driver' | 'accepted' {
  const profile = UNITS.find((u) => u.id === unit)!;
  const nos = new Set(profile.compartments.map((c) => c.no));
  const d = profile.dialect === 'json-v1' ? decodeJsonV1(topic, payload) : decodeCompactV2(topic, payload);
  if (!d.ok) return 'codec';
  const m = d.message as { kind: string; compartment?: number; compartments?: { compartment: number }[]; boxes?: number };
  if (m.compartment !== undefined && !nos.has(m.compartment)) return 'driver';
  if (m.compartments?.some((c) => !nos.has(c.compartment))) return 'driver';
  if (profile.dialect === 'compact-v2' && m.kind === 'state' && m.boxes !== profile.compartments.length) return 'driver';
  return 'accepted';
}

describe('random payloads into every driver, through the real broker and Redis', () => {
  it.each([
    ['json-v1', JSON_V1, jsonV1Payloads],
    ['compact-v2', COMPACT_V2, fc.oneof(anyOf([UP]), fc.tuple(fc.constant(UP), corrupt(compactShaped)), fc.tuple(fc.constant(UP), corrupt(compactShaped)))],
  ] as const)('%s: never throws; what is refused is counted and changes nothing', async (dialect, unit, payloads) => {
    let driverOnly = 0;
    await fc.assert(
      fc.asyncProperty(
        payloads.filter(([t, p]) => refusedByUnit(unit, t, p) !== 'accepted'),
        async ([topic, payload]) => {
          if (refusedByUnit(unit, topic, payload) === 'driver') driverOnly++;
          const errors = handlerErrors();
          const bad = malformed(unit, dialect);
          const before = await state();
          await send(unit, topic, payload);
          expect(handlerErrors()).toBe(errors);
          expect(malformed(unit, dialect), `${topic} ${payload.toString('utf8').slice(0, 200)}`).toBe(bad + 1);
          expect(diff(before, await state()), `${topic} ${payload.toString('utf8').slice(0, 200)}`).toEqual([]);
        },
      ),
      RUNS,
    );
    // some were right by the codec and refused by the driver (a compartment the unit lacks, a wrong box count)
    expect(driverOnly).toBeGreaterThan(0);
  }, 60_000);

  it('frame-485: random bytes and frames on rx, random state payloads: never throws, changes nothing it refuses', async () => {
    const [rx, st] = unitPublishTopics({ id: FRAME_485, dialect: 'frame-485' }) as [string, string];
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.tuple(fc.constant(rx), fc.oneof(bytes, frames, json)),
          // "0" and "1" are the DTU's real states: kept out, the rest is refused
          fc.tuple(fc.constant(st), fc.oneof(bytes, json).filter((b) => b.toString() !== '0' && b.toString() !== '1')),
        ),
        async ([topic, payload]) => {
          const errors = handlerErrors();
          const bad = malformed(FRAME_485, 'frame-485');
          const logged = await stack.gw!.redis.xlen(`lg:evidence:unit:${FRAME_485}`);
          const before = await withoutLastSeen(await state(), FRAME_485);
          await send(FRAME_485, topic, payload);
          expect(handlerErrors()).toBe(errors);
          if (topic === st) expect(malformed(FRAME_485, 'frame-485')).toBe(bad + 1);
          // Bytes on rx are noise (counted in lg_line_noise_bytes_total), part of a frame still to come, a frame
          // refused (lg_malformed_total), or a real report, which is logged. Only the last may change state. The
          // DTU's lastSeen moves for all: it did send them.
          if ((await stack.gw!.redis.xlen(`lg:evidence:unit:${FRAME_485}`)) === logged) {
            refused++;
            const changed = diff(before, await withoutLastSeen(await state(), FRAME_485));
            expect(changed, `${topic} ${payload.toString('hex').slice(0, 200)}`).toEqual([]);
          }
        },
      ),
      RUNS,
    );
    expect(refused).toBeGreaterThan(RUNS.numRuns * 0.8);
    expect(counters().get('lg_line_noise_bytes_total', { unit: FRAME_485 })).toBeGreaterThan(0);
  }, 60_000);
});
