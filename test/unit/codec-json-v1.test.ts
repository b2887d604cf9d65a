import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { seededRandom as prng } from '../../simulators/common.js';
import { canonicalJson as canonicalFromCompact } from '../../devices/compact-v2/codec.js';
import {
  canonicalJson,
  decodeJsonV1,
  encodeJsonV1Command,
  jsonV1Topics,
  signJsonV1,
  type JsonV1Command,
} from '../../devices/json-v1/codec.js';

interface Vectors {
  deviceKeyHex: string;
  decode: { name: string; topic: string; payload: string; meaning: Record<string, unknown> }[];
  reject: { name: string; topic: string; payload: string }[];
  encode: { name: string; topic: string; command: JsonV1Command & { sig: string }; payload: string }[];
}
const v = JSON.parse(readFileSync(new URL('../fixtures/vectors/json-v1.json', import.meta.url), 'utf8')) as Vectors;
const key = Buffer.from(v.deviceKeyHex, 'hex');
const SN = 'LSN-0001';

describe('json-v1 vectors', () => {
  it.each(v.decode)('decode: $name', ({ topic, payload, meaning }) => {
    const r = decodeJsonV1(topic, payload);
    expect(r).toMatchObject({ ok: true, message: meaning });
    expect(decodeJsonV1(topic, Buffer.from(payload, 'utf8'))).toEqual(r); // MQTT hands us Buffers
  });

  it.each(v.reject)('reject: $name', ({ topic, payload }) => {
    const r = decodeJsonV1(topic, payload);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).not.toBe('');
  });

  it.each(v.encode)('encode: $name', ({ topic, command, payload }) => {
    const { sig, ...cmd } = command;
    const out = encodeJsonV1Command(SN, key, cmd);
    expect(out.topic).toBe(topic);
    expect(out.payload).toBe(payload); // byte for byte, args in the caller's key order
    expect(out.sig).toBe(sig);
    expect(signJsonV1(key, cmd)).toBe(sig);
  });
});

describe('json-v1 decode rules', () => {
  const event = (fields: Record<string, unknown>) =>
    JSON.stringify({ id: `${SN}-46`, seq: 46, ts: '2026-11-21T02:03:05Z', type: 'door.opened', no: 1, ...fields });
  const rejects = (topic: string, payload: string | Buffer, field: string) => {
    const r = decodeJsonV1(topic, payload);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toContain(field);
  };

  it('accepts a valid event, with an RFC 3339 offset, and an alarm without compartment', () => {
    expect(decodeJsonV1(jsonV1Topics.events(SN), event({ ts: '2026-11-21T10:03:05.250+08:00' })).ok).toBe(true);
    const r = decodeJsonV1(jsonV1Topics.events(SN), event({ type: 'alarm', kind: 'power', no: undefined }));
    expect(r).toMatchObject({ ok: true, message: { event: 'alarm', alarm: 'power' } });
    if (r.ok) expect(r.message).not.toHaveProperty('compartment');
  });

  it('rejects with a reason naming the field', () => {
    const t = jsonV1Topics.events(SN);
    rejects(t, event({ id: 'LSN-0002-46' }), 'id');
    rejects(t, event({ seq: 47 }), 'id');
    rejects(t, event({ no: 0 }), 'no');
    rejects(t, event({ no: 1.5 }), 'no');
    rejects(t, event({ seq: 2 ** 60 }), 'seq');
    rejects(t, event({ ts: '2026-11-21 02:03:05' }), 'ts');
    rejects(t, event({ ts: '2026-02-30T02:03:05Z' }), 'ts');
    rejects(t, event({ type: 'code.entered', code: '1234567' }), 'code');
    rejects(t, event({ type: '__proto__' }), 'type');
    rejects(t, event({ type: 'fault', kind: 'melted' }), 'kind');
    rejects(t, '{"id":"LSN-0001-1","seq":1e400,"ts":"2026-11-21T02:03:05Z","type":"door.opened","no":1}', 'seq');
    rejects(jsonV1Topics.commands(SN), event({}), 'topic');
    rejects('lockers/LSN-0001/events/extra', event({}), 'topic');
    rejects(jsonV1Topics.presence(SN), 'Online', 'presence');
    rejects(jsonV1Topics.events(SN), Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), 'UTF-8');
    rejects(jsonV1Topics.replies(SN), '{"cid":"c1","ok":true,"result":"jammed","ts":"2026-11-21T02:03:05Z"}', 'ok');
    const state = (sn: string, nos: number[]) =>
      JSON.stringify({ sn, fw: '1', seq: 1, ts: '2026-11-21T02:03:05Z', compartments: nos.map((no) => ({ no, size: 'S', door: 'closed', occupied: false, fault: null })) });
    expect(decodeJsonV1(jsonV1Topics.state(SN), state(SN, [1, 2])).ok).toBe(true);
    rejects(jsonV1Topics.state(SN), state('LSN-0002', [1]), 'sn');
    rejects(jsonV1Topics.state(SN), state(SN, [3, 3]), 'twice');
  });

  it('never throws and never pollutes prototypes, whatever the input', () => {
    const rnd = prng(1);
    const topics = [jsonV1Topics.events(SN), jsonV1Topics.state(SN), jsonV1Topics.replies(SN), jsonV1Topics.presence(SN)];
    const valid = v.decode.filter((d) => d.payload.startsWith('{')).map((d) => ({ topic: d.topic, value: JSON.parse(d.payload) as unknown }));
    for (let i = 0; i < 2000; i++) {
      const topic = topics[i % topics.length] as string;
      const bytes = Buffer.from(Array.from({ length: Math.floor(rnd() * 64) }, () => Math.floor(rnd() * 256)));
      const near = valid[i % valid.length] as (typeof valid)[number];
      const cases: [string, string | Buffer][] = [
        [topic, bytes],
        [topic, JSON.stringify(randomJson(rnd, 3))],
        [near.topic, JSON.stringify(mutate(rnd, near.value))], // a valid payload with one field replaced
      ];
      for (const [t, payload] of cases) {
        const r = decodeJsonV1(t, payload);
        if (!r.ok) expect(r.reason.length).toBeGreaterThan(0);
      }
    }
    expect(decodeJsonV1(jsonV1Topics.events(SN), '{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}}}').ok).toBe(false);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(decodeJsonV1(null as unknown as string, null as unknown as string).ok).toBe(false);
    expect(decodeJsonV1(jsonV1Topics.events(SN), 42 as unknown as string).ok).toBe(false);
  });
});

describe('canonicalJson', () => {
  it('sorts keys recursively, keeps array order, no white space', () => {
    expect(canonicalJson({ b: { d: 1, c: [{ z: 1, a: 2 }, 3] }, a: 'x', 10: 1, 2: 2 })).toBe(
      '{"10":1,"2":2,"a":"x","b":{"c":[{"a":2,"z":1},3],"d":1}}',
    );
    expect(canonicalJson({})).toBe('{}');
    expect(canonicalJson({ text: '取件 "x"', seconds: 5 })).toBe('{"seconds":5,"text":"取件 \\"x\\""}');
  });

  it('signs what JSON.stringify puts on the wire (undefined keys dropped)', () => {
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
    expect(canonicalFromCompact).toBe(canonicalJson);
  });
});

// ---- helpers: fuzz inputs (seeded, so a failure can be replayed) --------------------------------------------

const KEYS = ['id', 'seq', 'ts', 'type', 'no', 'code', 'kind', 'occupied', 'cid', 'ok', 'result', 'sn', 'fw', 'compartments', '__proto__', 'constructor'];
const ATOMS: unknown[] = [null, true, false, 0, -1, 1, 12, 1.5, 1e308, -1e308, 2 ** 53, '', 'x', 'door.opened', 'LSN-0001-1', '482913', 'tamper', '2026-11-20T08:15:30Z'];

function randomJson(rnd: () => number, depth: number): unknown {
  const r = rnd();
  if (depth <= 0 || r < 0.5) return ATOMS[Math.floor(rnd() * ATOMS.length)];
  if (r < 0.7) return Array.from({ length: Math.floor(rnd() * 4) }, () => randomJson(rnd, depth - 1));
  const o: Record<string, unknown> = {};
  // defineProperty: an own "__proto__" key, as JSON.parse would make it
  for (let n = Math.floor(rnd() * 6); n > 0; n--) {
    const k = KEYS[Math.floor(rnd() * KEYS.length)] as string;
    Object.defineProperty(o, k, { value: randomJson(rnd, depth - 1), enumerable: true, configurable: true, writable: true });
  }
  return o;
}

/** A valid payload with one field replaced: reaches deeper into the schemas than pure noise. */
function mutate(rnd: () => number, valid: unknown): unknown {
  const copy = structuredClone(valid) as Record<string, unknown>;
  const keys = Object.keys(copy);
  copy[keys[Math.floor(rnd() * keys.length)] as string] = randomJson(rnd, 2);
  return copy;
}
