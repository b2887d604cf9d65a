import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { seededRandom as prng } from '../../simulators/common.js';
import {
  compactV2Topics,
  decodeCompactV2,
  encodeCompactV2Down,
  nextMsgId,
  signCompactV2,
  type CompactV2Down,
} from '../../devices/compact-v2/codec.js';

interface Vectors {
  deviceKeyHex: string;
  decode: { name: string; topic: string; payload: string; meaning: Record<string, unknown> }[];
  reject: { name: string; topic: string; payload: string }[];
  encode: { name: string; topic: string; command: CompactV2Down & { h: string }; payload: string }[];
}
const v = JSON.parse(readFileSync(new URL('../fixtures/vectors/compact-v2.json', import.meta.url), 'utf8')) as Vectors;
const key = Buffer.from(v.deviceKeyHex, 'hex');
const MAC = 'a4c138f0e2d1';
const UP = compactV2Topics.up(MAC);

describe('compact-v2 vectors', () => {
  it.each(v.decode)('decode: $name', ({ topic, payload, meaning }) => {
    const r = decodeCompactV2(topic, payload);
    expect(r).toMatchObject({ ok: true, message: meaning });
    expect(decodeCompactV2(topic, Buffer.from(payload, 'utf8'))).toEqual(r);
  });

  it.each(v.reject)('reject: $name', ({ topic, payload }) => {
    const r = decodeCompactV2(topic, payload);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).not.toBe('');
  });

  it.each(v.encode)('encode: $name', ({ topic, command, payload }) => {
    const { h, ...msg } = command;
    const out = encodeCompactV2Down(MAC, key, msg);
    expect(out.topic).toBe(topic);
    expect(out.payload).toBe(payload);
    expect(out.h).toBe(h);
    expect(signCompactV2(key, msg)).toBe(h);
  });
});

describe('compact-v2 rules', () => {
  const rejects = (payload: string, field: string, topic = UP) => {
    const r = decodeCompactV2(topic, payload);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toContain(field);
  };

  it('counts boxes in the status and accepts keypad entries of any plausible length', () => {
    const r = decodeCompactV2(UP, '{"t":5,"m":2,"d":{"doors":"0000","occ":"1001","fw":"2.3.1"}}');
    expect(r).toMatchObject({ ok: true, message: { boxes: 4, openDoors: [], occupied: [1, 4] } });
    expect(decodeCompactV2(UP, '{"t":3,"m":3,"d":{"k":"1"}}')).toMatchObject({ ok: true, message: { code: '1' } });
    expect(decodeCompactV2(UP, '{"t":9,"m":4,"d":{"c":4}}')).toMatchObject({ ok: true, message: { alarm: 'power' } });
  });

  it('rejects with a reason naming the field', () => {
    rejects('{"t":2,"m":0,"d":{"b":1,"s":1,"o":0}}', 'm');
    rejects('{"t":2,"m":1.5,"d":{"b":1,"s":1,"o":0}}', 'm');
    rejects('{"t":2,"m":1,"d":{"b":1,"s":2,"o":0}}', 'd.s');
    rejects('{"t":2,"m":1,"d":[1,1,0]}', 'd');
    rejects('{"t":3,"m":1,"d":{"k":"12a4"}}', 'd.k');
    rejects('{"t":3,"m":1,"d":{"k":"1234567890123"}}', 'd.k');
    rejects('{"t":4,"m":1,"d":{"a":33,"r":6}}', 'd.r');
    rejects('{"t":5,"m":1,"d":{"doors":"01x","occ":"010","fw":"1"}}', 'd.doors');
    rejects('{"t":9,"m":1,"d":{"c":5}}', 'd.c');
    rejects('{"t":101,"m":1,"d":{"b":1}}', 't');
    rejects('null', 'message');
    rejects('{"t":2,"m":1,"d":{"b":1,"s":1,"o":0}}', 'topic', compactV2Topics.down(MAC));
    rejects('{"t":2,"m":1,"d":{"b":1,"s":1,"o":0}}', 'topic', 'cab/A4C138F0E2D1/up');
  });

  it('refuses to sign a message id outside 1..65535', () => {
    expect(() => signCompactV2(key, { t: 102, m: 0, d: {}, e: 1 })).toThrow(RangeError);
    expect(() => signCompactV2(key, { t: 102, m: 65536, d: {}, e: 1 })).toThrow(RangeError);
  });

  it('nextMsgId counts 1..65535 and wraps to 1, never 0', () => {
    expect(nextMsgId(1)).toBe(2);
    expect(nextMsgId(65534)).toBe(65535);
    expect(nextMsgId(65535)).toBe(1);
    expect(nextMsgId(0)).toBe(1);
    let m = 65530;
    const seen: number[] = [];
    for (let i = 0; i < 8; i++) seen.push((m = nextMsgId(m)));
    expect(seen).toEqual([65531, 65532, 65533, 65534, 65535, 1, 2, 3]);
  });

  it('never throws, whatever the input', () => {
    const rnd = prng(2);
    const valid = v.decode.map((d) => JSON.parse(d.payload) as Record<string, unknown>);
    for (let i = 0; i < 2000; i++) {
      const bytes = Buffer.from(Array.from({ length: Math.floor(rnd() * 64) }, () => Math.floor(rnd() * 256)));
      const base = structuredClone(valid[i % valid.length]) as Record<string, unknown>;
      const d = (base.d ?? {}) as Record<string, unknown>;
      // replace one field of the envelope or of d with a random value
      const target = rnd() < 0.5 ? base : d;
      const keys = Object.keys(target);
      target[keys[Math.floor(rnd() * keys.length)] ?? 't'] = ATOMS[Math.floor(rnd() * ATOMS.length)];
      for (const payload of [bytes, JSON.stringify(base), `{"__proto__":{"t":2},"t":${i % 12},"m":1,"d":{"__proto__":{"b":1}}}`]) {
        const r = decodeCompactV2(UP, payload);
        if (!r.ok) expect(r.reason.length).toBeGreaterThan(0);
      }
    }
    expect(({} as Record<string, unknown>).b).toBeUndefined();
  });
});

const ATOMS: unknown[] = [null, true, 0, -1, 1, 7, 65535, 65536, 1.5, 1e308, 2 ** 53, '', '0101', '1', 'x', [], {}, [1], { b: 1 }];

