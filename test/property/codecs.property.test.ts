/**
 * Property-based tests of the three codecs (issue 13): whatever arrives, decoding never throws; frame-485 reassembly
 * yields the same frames however the byte stream is split; commands survive encode -> the simulator's own check.
 * Seeds are printed by fast-check on failure, so a counterexample can be replayed.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UNITS } from '../../devices/units.js';
import { compactV2Topics, decodeCompactV2, encodeCompactV2Down } from '../../devices/compact-v2/codec.js';
import { FrameReader, encodeDisplay, encodeFrame, encodeOpen, encodeStatusQuery, frame485Topics, interpretFrame } from '../../devices/frame-485/codec.js';
import { decodeJsonV1, encodeJsonV1Command, jsonV1Topics } from '../../devices/json-v1/codec.js';
import { canonicalJson, hmacHex } from '../../simulators/common.js';
import { FrameReader as SimFrameReader } from '../../simulators/frames.js';

const [JSON_UNIT, COMPACT_UNIT, FRAME_UNIT] = UNITS.map((u) => u.id) as [string, string, string];
const RUNS = { numRuns: 300 };

const jsonTopics = Object.values(jsonV1Topics).filter((f): f is (s: string) => string => typeof f === 'function' && f.length === 1).map((f) => f(JSON_UNIT));
const compactTopics = [compactV2Topics.up(COMPACT_UNIT), compactV2Topics.down(COMPACT_UNIT)];
const topic = (known: string[]) => fc.oneof(fc.constantFrom(...known), fc.string(), fc.constantFrom('', '#', 'lockers/+/events', '$SYS/x'));
/** Payloads: random bytes, random JSON values, and objects shaped like the real messages with random fields. */
const payload = fc.oneof(
  fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b)),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc
    .record({
      seq: fc.oneof(fc.integer(), fc.double(), fc.string(), fc.constant(9007199254740991)),
      id: fc.string(),
      ts: fc.oneof(fc.string(), fc.date({ noInvalidDate: true }).map((d) => d.toISOString())),
      type: fc.constantFrom('door.opened', 'door.closed', 'code.entered', 'alarm', 'fault', 'x'),
      no: fc.oneof(fc.integer({ min: -5, max: 200 }), fc.string()),
      t: fc.integer({ min: -1, max: 300 }),
      m: fc.integer({ min: -1, max: 70000 }),
      d: fc.dictionary(fc.string({ maxLength: 4 }), fc.jsonValue({ maxDepth: 2 })),
    }, { requiredKeys: [] })
    .map((o) => JSON.stringify(o)),
);

describe('codecs never throw, whatever arrives', () => {
  it('json-v1', () => {
    fc.assert(fc.property(topic(jsonTopics), payload, (t, p) => {
      const r = decodeJsonV1(t, p);
      expect(typeof r.ok).toBe('boolean');
      if (!r.ok) expect(typeof r.reason).toBe('string');
    }), RUNS);
  });

  it('compact-v2', () => {
    fc.assert(fc.property(topic(compactTopics), payload, (t, p) => {
      const r = decodeCompactV2(t, p);
      expect(typeof r.ok).toBe('boolean');
      if (!r.ok) expect(typeof r.reason).toBe('string');
    }), RUNS);
  });

  it('frame-485: topics, raw frames in both directions, and a reader fed random bytes', () => {
    fc.assert(fc.property(fc.string(), (t) => void frame485Topics.parse(t)), RUNS);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 70 }), fc.boolean(), (addr, cmd, data, up) => {
        const raw = Buffer.from([0x02, addr, cmd, data.length, ...data, 0, 0x03]);
        const r = interpretFrame({ addr, cmd, data: Buffer.from(data), raw }, up ? 'from-board' : 'to-board');
        expect(typeof r.ok).toBe('boolean');
      }),
      RUNS,
    );
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 30 }), (chunks) => {
        const reader = new FrameReader();
        for (const c of chunks) reader.push(c);
        expect(reader.pending).toBeLessThanOrEqual(64 + 6);
      }),
      RUNS,
    );
  });
});

/** Valid frames, as the boards and the gateway write them. */
const frame = fc.record({ addr: fc.integer({ min: 0, max: 255 }), cmd: fc.integer({ min: 0, max: 255 }), data: fc.uint8Array({ maxLength: 64 }) }).map((f) => encodeFrame(f.addr, f.cmd, f.data));

/** Split a buffer at the given cut points (sorted, deduplicated, within range). */
function split(buf: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const c of [...at, buf.length]) {
    out.push(buf.subarray(from, c));
    from = c;
  }
  return out;
}

describe('frame-485 reassembly', () => {
  it('yields the same frames however the stream is split', () => {
    fc.assert(
      fc.property(fc.array(frame, { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 20 }), (frames, cuts) => {
        const stream = Buffer.concat(frames);
        const reader = new FrameReader();
        const got = split(stream, cuts).flatMap((c) => reader.push(c).frames.map((f) => Buffer.from(f.raw).toString('hex')));
        expect(got).toEqual(frames.map((f) => f.toString('hex')));
        expect(reader.pending).toBe(0);
      }),
      RUNS,
    );
  });

  it('finds every frame again behind line noise that holds no STX', () => {
    const noise = fc.uint8Array({ maxLength: 12 }).map((b) => Buffer.from(b.filter((x) => x !== 0x02)));
    fc.assert(
      fc.property(fc.array(fc.tuple(noise, frame), { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 10 }), (pairs, cuts) => {
        const stream = Buffer.concat(pairs.flatMap(([n, f]) => [n, f]));
        const reader = new FrameReader();
        const got = split(stream, cuts).flatMap((c) => reader.push(c).frames.map((f) => Buffer.from(f.raw).toString('hex')));
        expect(got).toEqual(pairs.map(([, f]) => f.toString('hex')));
      }),
      RUNS,
    );
  });
});

describe('commands survive encode -> the simulated unit decoding them', () => {
  const key = Buffer.alloc(32, 9);
  const args = fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 });

  it('json-v1: the unit computes the same signature over what it parses', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 40 }).filter((s) => !s.includes('|')), fc.constantFrom('open', 'display', 'keypad', 'query') as fc.Arbitrary<'open'>, args, fc.integer({ min: 0, max: 2 ** 40 }), (cid, op, a, exp) => {
        const { payload } = encodeJsonV1Command(JSON_UNIT, key, { cid, op, args: a, exp });
        const seen = JSON.parse(payload) as { cid: string; op: string; args: unknown; exp: number; sig: string };
        expect(seen.sig).toBe(hmacHex(key, `${seen.cid}|${seen.op}|${seen.exp}|${canonicalJson(seen.args)}`));
      }),
      RUNS,
    );
  });

  it('compact-v2: likewise, with the 16-character signature', () => {
    fc.assert(
      fc.property(fc.constantFrom(101, 102, 103, 105) as fc.Arbitrary<101>, fc.integer({ min: 1, max: 65535 }), args, fc.integer({ min: 0, max: 2 ** 40 }), (t, m, d, e) => {
        const { payload } = encodeCompactV2Down(COMPACT_UNIT, key, { t, m, d, e });
        const seen = JSON.parse(payload) as { t: number; m: number; d: unknown; e: number; h: string };
        expect(seen.h).toBe(hmacHex(key, `${seen.t}|${seen.m}|${seen.e}|${canonicalJson(seen.d)}`).slice(0, 16));
      }),
      RUNS,
    );
  });

  it('frame-485: the boards read back exactly the request the gateway wrote', () => {
    const unit = UNITS.find((u) => u.id === FRAME_UNIT)!;
    const request = fc.oneof(
      fc.constantFrom(...unit.compartments.map((c) => c.no)).map((no) => encodeOpen(no).frame),
      fc.integer({ min: 1, max: 2 }).map((b) => encodeStatusQuery(b)),
      fc.tuple(fc.integer({ min: 1, max: 255 }), fc.string({ unit: fc.constantFrom(...'ABC xyz 0123:-'.split('')), maxLength: 32 })).map(([s, text]) => encodeDisplay(s, text)),
    );
    fc.assert(
      fc.property(fc.array(request, { minLength: 1, maxLength: 5 }), fc.array(fc.nat(), { maxLength: 8 }), (reqs, cuts) => {
        const sim = new SimFrameReader();
        const got = split(Buffer.concat(reqs), cuts).flatMap((c) => sim.feed(c).map((f) => Buffer.from(f.raw).toString('hex')));
        expect(got).toEqual(reqs.map((r) => r.toString('hex')));
        expect(sim.dropped).toBe(0);
      }),
      RUNS,
    );
  });
});
