import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { seededRandom as prng } from '../../simulators/common.js';
import {
  CMD,
  FrameReader,
  encodeDisplay,
  encodeFrame,
  encodeOpen,
  encodeStatusQuery,
  frame485Topics,
  fromHex,
  interpretFrame,
  toHex,
  type RawFrame,
} from '../../devices/frame-485/codec.js';

interface Vectors {
  frames: { name: string; direction: 'gateway->board' | 'board->gateway'; hex: string; meaning: Record<string, unknown> }[];
  streams: { name: string; messages: string[]; frames: string[]; dropped?: string[] }[];
}
const v = JSON.parse(readFileSync(new URL('../fixtures/vectors/frame-485.json', import.meta.url), 'utf8')) as Vectors;

/** The one frame in `hex`, through the reader as it would arrive. */
function frameOf(hex: string): RawFrame {
  const { frames, dropped } = new FrameReader().push(fromHex(hex));
  expect(dropped).toEqual([]);
  expect(frames).toHaveLength(1);
  return frames[0] as RawFrame;
}

/** What the gateway would send for this meaning. */
function encodeRequest(m: Record<string, unknown>): Buffer {
  if (m.command === 'status-query') return encodeStatusQuery(m.board as number);
  if (m.command === 'open') {
    const out = encodeOpen(m.compartment as number);
    expect(out).toMatchObject({ board: m.board, lock: m.lock });
    return out.frame;
  }
  if (m.command === 'display') return encodeDisplay(m.seconds as number, m.text as string);
  throw new Error(`no encoder for ${String(m.command)}`);
}

describe('frame-485 vectors', () => {
  it.each(v.frames)('frame: $name', ({ direction, hex, meaning }) => {
    const frame = frameOf(hex);
    expect(toHex(frame.raw)).toBe(hex);
    expect(toHex(encodeFrame(frame.addr, frame.cmd, frame.data))).toBe(hex);
    if (direction === 'gateway->board') expect(toHex(encodeRequest(meaning))).toBe(hex);
    const r = interpretFrame(frame, direction === 'gateway->board' ? 'to-board' : 'from-board');
    expect(r).toMatchObject({ ok: true, message: meaning });
  });

  it.each(v.streams)('stream: $name', ({ messages, frames, dropped = [] }) => {
    const reader = new FrameReader();
    const got = { frames: [] as string[], dropped: [] as string[] };
    for (const m of messages) {
      const out = reader.push(fromHex(m));
      got.frames.push(...out.frames.map((f) => toHex(f.raw)));
      got.dropped.push(...out.dropped.map(toHex));
    }
    expect(got).toEqual({ frames, dropped });
    expect(reader.pending).toBe(0);
  });
});

describe('FrameReader', () => {
  it('a frame split at every byte boundary still yields exactly one frame', () => {
    for (const { hex } of v.frames) {
      const bytes = fromHex(hex);
      for (let cut = 1; cut < bytes.length; cut++) {
        const reader = new FrameReader();
        const a = reader.push(bytes.subarray(0, cut));
        expect(a.frames).toHaveLength(0);
        expect(reader.pending).toBe(cut);
        const b = reader.push(bytes.subarray(cut));
        expect(b.frames.map((f) => toHex(f.raw))).toEqual([hex]);
        expect([...a.dropped, ...b.dropped]).toEqual([]);
      }
    }
  });

  it('a stray STX whose LEN asks for bytes that never come does not hold back a good frame behind it', () => {
    // a corrupted copy where 0x02 reads as STX and 0x30 as LEN (48 bytes), then the real status answer
    const good = '02 02 30 04 0e 00 00 00 38 03';
    const reader = new FrameReader();
    const r = reader.push(fromHex(`02 03 31 30 ${good}`));
    expect(r.frames.map((f) => toHex(f.raw))).toEqual([good]);
    expect(r.dropped.map(toHex)).toEqual(['02 03 31 30']);
    expect(reader.pending).toBe(0);
  });

  it('counts noise bytes, including a header whose LEN is over 64', () => {
    expect(new FrameReader().push(fromHex(v.streams[2]?.messages[0] ?? '')).noiseBytes).toBe(3);
    expect(new FrameReader().push(fromHex(v.streams[4]?.messages[0] ?? '')).noiseBytes).toBe(4);
    // the bytes of a dropped frame are reported once, in `dropped`, not again as noise while resyncing
    expect(new FrameReader().push(fromHex(v.streams[3]?.messages[0] ?? '')).noiseBytes).toBe(0);
    const reader = new FrameReader();
    expect(reader.push(fromHex('02 01 32 03 06 01 00 c8 03 02 01')).noiseBytes).toBe(0);
    const next = reader.push(fromHex('30 00 31 03'));
    expect(next.frames.map((f) => toHex(f.raw))).toEqual(['02 01 30 00 31 03']);
    expect(next).toMatchObject({ noiseBytes: 0, dropped: [] });
    expect(reader.push(fromHex('ee ee 02 01'))).toMatchObject({ noiseBytes: 2, dropped: [] });
  });

  it('reset() drops a partial frame', () => {
    const reader = new FrameReader();
    reader.push(fromHex('02 01 30 04 10'));
    expect(reader.pending).toBe(5);
    reader.reset();
    expect(reader.pending).toBe(0);
    expect(reader.push(fromHex('02 01 30 00 31 03')).frames).toHaveLength(1);
  });

  it('never throws on random bytes fed one at a time, and its buffer stays bounded', () => {
    const rnd = prng(3);
    const reader = new FrameReader();
    // STX-rich garbage: the worst case for a reader that waits on plausible headers
    const pool = [0x02, 0x02, 0x03, 0x00, 0x01, 0x30, 0x40, 0xff];
    for (let i = 0; i < 20000; i++) {
      const byte = rnd() < 0.5 ? Math.floor(rnd() * 256) : (pool[Math.floor(rnd() * pool.length)] as number);
      reader.push(Uint8Array.of(byte));
      expect(reader.pending).toBeLessThan(70);
    }
    // after any garbage, a frame still comes through once the garbage's false starts are exhausted
    const frame = fromHex('02 01 30 00 31 03');
    const seen = [];
    for (let i = 0; i < 20; i++) seen.push(...reader.push(frame).frames);
    expect(seen.length).toBeGreaterThan(0);
  });

  it('handles one big chunk of garbage with a frame in the middle', () => {
    const noise = Buffer.alloc(300, 0xff);
    const { frames, noiseBytes } = new FrameReader().push(Buffer.concat([noise, fromHex('02 01 30 00 31 03'), noise]));
    expect(frames).toHaveLength(1);
    expect(noiseBytes).toBe(600);
  });
});

describe('frame-485 encoders and interpretation', () => {
  it('maps compartments to boards and locks', () => {
    expect(encodeOpen(1)).toMatchObject({ board: 1, lock: 1 });
    expect(encodeOpen(12)).toMatchObject({ board: 1, lock: 12 });
    expect(encodeOpen(13)).toMatchObject({ board: 2, lock: 1 });
    expect(encodeOpen(24)).toMatchObject({ board: 2, lock: 12 });
    for (const bad of [0, 25, 1.5, NaN]) expect(() => encodeOpen(bad)).toThrow(RangeError);
    expect(() => encodeStatusQuery(3)).toThrow(RangeError);
    expect(() => encodeFrame(1, CMD.display, new Uint8Array(65))).toThrow(RangeError);
    expect(encodeFrame(1, CMD.display, new Uint8Array(64))).toHaveLength(70);
  });

  it('display text: ASCII only, spaces collapsed, trimmed, at most 32 bytes', () => {
    const text = (b: Buffer) => b.subarray(5, b.length - 2).toString('latin1');
    expect(text(encodeDisplay(5, '取件碼錯誤 Wrong code'))).toBe('Wrong code');
    expect(text(encodeDisplay(5, 'Box\t 15\n'))).toBe('Box 15');
    expect(text(encodeDisplay(5, 'x'.repeat(40)))).toBe('x'.repeat(32));
    expect(text(encodeDisplay(5, '請取件'))).toBe('');
    expect(() => encodeDisplay(256, 'x')).toThrow(RangeError);
  });

  it('rejects unknown boards, commands, lengths and values', () => {
    const raw = (addr: number, cmd: number, data: number[]): RawFrame => {
      const r = encodeFrame(addr, cmd, data);
      return { addr, cmd, data: r.subarray(4, 4 + data.length), raw: r };
    };
    const cases: [RawFrame, 'to-board' | 'from-board'][] = [
      [raw(0x05, CMD.status, [0, 0, 0, 0]), 'from-board'],
      [raw(0x01, 0x99, []), 'from-board'],
      [raw(0x01, CMD.status, [0, 0, 0]), 'from-board'],
      [raw(0x01, CMD.status, [0, 0x10, 0, 0]), 'from-board'], // lock 13
      [raw(0x01, CMD.open, [13, 0]), 'from-board'],
      [raw(0x01, CMD.open, [3, 7]), 'from-board'],
      [raw(0x01, CMD.change, [3, 2, 0]), 'from-board'],
      [raw(0x0f, CMD.keypad, [...Buffer.from('48a913#')]), 'from-board'],
      [raw(0x0f, CMD.keypad, [...Buffer.from('482913')]), 'from-board'],
      [raw(0x0f, CMD.keypad, [...Buffer.from('#')]), 'from-board'],
      [raw(0x0f, CMD.display, [1]), 'from-board'],
      [raw(0x0f, CMD.display, [5, 0xe5, 0x8f]), 'to-board'],
      [raw(0x01, CMD.open, [0]), 'to-board'],
      [raw(0x01, CMD.change, [1, 1, 1]), 'to-board'],
    ];
    for (const [frame, dir] of cases) {
      const r = interpretFrame(frame, dir);
      expect(r.ok, toHex(frame.raw)).toBe(false);
      if (!r.ok) expect(r.reason).not.toBe('');
    }
    expect(interpretFrame(raw(0x0f, CMD.display, [0]), 'from-board')).toEqual({ ok: true, message: { board: 15, command: 'display-ack' } });
  });

  it('topics and hex helpers', () => {
    expect(frame485Topics.parse(frame485Topics.rx('861234567890123'))).toEqual({ imei: '861234567890123', leaf: 'rx' });
    expect(frame485Topics.parse('dtu/86123/rx')).toBeNull();
    expect(toHex(fromHex('02 0F 3a\n07'))).toBe('02 0f 3a 07');
    expect(() => fromHex('02 0')).toThrow(TypeError);
    expect(() => fromHex('zz')).toThrow(TypeError);
  });
});

