/**
 * The simulators' own wire helpers against the vendor vectors (test/fixtures/vectors). These are the device-side
 * implementations; the gateway's codecs are tested elsewhere and deliberately not used here.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { canonicalJson, hmacHex, nextMsgId, RecentMap, safeEqual } from '../../simulators/common.js';
import { bcc, buildFrame, FrameReader } from '../../simulators/frames.js';

const vectors = (name: string) =>
  JSON.parse(readFileSync(new URL(`../fixtures/vectors/${name}.json`, import.meta.url), 'utf8')) as Record<string, unknown>;

interface JsonV1Vectors {
  deviceKeyHex: string;
  encode: { name: string; command: { cid: string; op: string; args: Record<string, unknown>; exp: number; sig: string } }[];
}
interface CompactV2Vectors {
  deviceKeyHex: string;
  encode: { name: string; command: { t: number; m: number; d: Record<string, unknown>; e: number; h: string } }[];
}
interface Frame485Vectors {
  frames: { name: string; hex: string }[];
  streams: { name: string; messages: string[]; frames: string[]; dropped?: string[] }[];
}

const bytes = (hex: string) => Buffer.from(hex.replace(/\s+/g, ''), 'hex');

describe('simulator signing (device side) reproduces the vendor vectors', () => {
  const j = vectors('json-v1') as unknown as JsonV1Vectors;
  const c = vectors('compact-v2') as unknown as CompactV2Vectors;

  it.each(j.encode.map((v) => [v.name, v.command] as const))('json-v1 %s', (_name, cmd) => {
    const key = Buffer.from(j.deviceKeyHex, 'hex');
    expect(hmacHex(key, `${cmd.cid}|${cmd.op}|${cmd.exp}|${canonicalJson(cmd.args)}`)).toBe(cmd.sig);
  });

  it.each(c.encode.map((v) => [v.name, v.command] as const))('compact-v2 %s', (_name, cmd) => {
    const key = Buffer.from(c.deviceKeyHex, 'hex');
    expect(hmacHex(key, `${cmd.t}|${cmd.m}|${cmd.e}|${canonicalJson(cmd.d)}`).slice(0, 16)).toBe(cmd.h);
  });

  it('canonical JSON sorts keys recursively, keeps arrays, has no white space', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: 'x y' } })).toBe('{"a":{"c":"x y","d":[3,{"y":2,"z":1}]},"b":1}');
    expect(canonicalJson({})).toBe('{}');
  });

  it('signature comparison is exact', () => {
    expect(safeEqual('abc', 'abc')).toBe(true);
    expect(safeEqual('abc', 'ABC')).toBe(false);
    expect(safeEqual('abc', 'abcd')).toBe(false);
  });
});

describe('frame-485 frames (board side)', () => {
  const f = vectors('frame-485') as unknown as Frame485Vectors;

  it.each(f.frames.map((v) => [v.name, v.hex] as const))('builds %s', (_name, hex) => {
    const raw = bytes(hex);
    const data = raw.subarray(4, raw.length - 2);
    expect(buildFrame(raw[1] ?? 0, raw[2] ?? 0, data).equals(raw)).toBe(true);
    expect(bcc(raw[1] ?? 0, raw[2] ?? 0, data)).toBe(raw[raw.length - 2]);
  });

  it.each(f.streams.map((s) => [s.name, s] as const))('reassembles stream: %s', (_name, s) => {
    const reader = new FrameReader();
    const got = s.messages.flatMap((m) => reader.feed(bytes(m)).map((fr) => fr.raw.toString('hex')));
    expect(got).toEqual(s.frames.map((x) => bytes(x).toString('hex')));
    expect(reader.dropped).toBeGreaterThanOrEqual(s.dropped?.length ?? 0);
    expect(reader.pending).toBe(0);
  });

  it('reads by LEN: 0x02 and 0x03 inside a frame are data', () => {
    const frame = buildFrame(0x02, 0x31, [0x03, 0x02]);
    const reader = new FrameReader();
    expect(reader.feed(frame.subarray(0, 5))).toEqual([]);
    expect(reader.feed(frame.subarray(5)).map((x) => [...x.data])).toEqual([[0x03, 0x02]]);
  });
});

describe('helpers', () => {
  it('compact-v2 message ids wrap from 65535 to 1', () => {
    expect(nextMsgId(1)).toBe(2);
    expect(nextMsgId(65534)).toBe(65535);
    expect(nextMsgId(65535)).toBe(1);
  });

  it('RecentMap forgets the oldest key beyond its capacity', () => {
    const m = new RecentMap<number, string>(3);
    for (const k of [1, 2, 3, 4]) m.set(k, String(k));
    expect([m.has(1), m.has(2), m.has(4), m.size]).toEqual([false, true, true, 3]);
  });
});
