import { describe, expect, it } from 'vitest';
import { MqttFramer } from '../../src/broker/guard.js';

const CONNECT = [0x10, 12, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x02, 0, 60, 0, 0];
const PINGREQ = [0xc0, 0];
const publish = (bytes: number) => {
  const len = bytes;
  const varint = len < 128 ? [len] : [(len % 128) | 0x80, Math.floor(len / 128)];
  return [0x32, ...varint, ...new Array<number>(len).fill(0x61)];
};

describe('MqttFramer', () => {
  it('counts complete packets, across chunks cut anywhere (inside the header too)', () => {
    const stream = Buffer.from([...CONNECT, ...publish(300), ...PINGREQ, ...publish(5)]);
    for (let cut = 1; cut < stream.length; cut += 7) {
      const f = new MqttFramer();
      const a = f.scan(stream.subarray(0, cut), 100, 1000);
      const b = f.scan(stream.subarray(cut), 100, 1000);
      expect([a.error, b.error]).toEqual([undefined, undefined]);
      expect(a.consumed + b.consumed).toBe(stream.length);
      expect(a.packets + b.packets).toBe(4);
    }
  });

  it('stops after `budget` complete packets, at the end of the last one', () => {
    const stream = Buffer.from([...CONNECT, ...PINGREQ, ...PINGREQ, ...PINGREQ]);
    const f = new MqttFramer();
    const r = f.scan(stream, 2, 1000);
    expect(r).toEqual({ consumed: CONNECT.length + 2, packets: 2 });
    expect(f.scan(stream.subarray(r.consumed), 5, 1000)).toEqual({ consumed: 4, packets: 2 });
  });

  it('refuses a packet announcing more than the limit as soon as its length is known', () => {
    // 250 MB CONNECT: 0x10, then the remaining length 262144000 in four bytes; nothing of the body is needed.
    const f = new MqttFramer();
    const r = f.scan(Buffer.from([0x10, 0x80, 0x80, 0x80, 0x7d]), 16, 16_384);
    expect(r.error).toBe('packet-too-large');
    expect(f.lastPacketBytes).toBe(5 + 262_144_000);
  });

  it('refuses a stream that does not start with CONNECT, and a length of more than four bytes', () => {
    expect(new MqttFramer().scan(Buffer.from('GET / HTTP/1.1\r\n'), 16, 16_384).error).toBe('not-mqtt');
    const f = new MqttFramer();
    f.scan(Buffer.from(CONNECT), 16, 16_384);
    expect(f.scan(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]), 16, 16_384).error).toBe('not-mqtt');
  });

  it('allows a packet of exactly the limit', () => {
    const f = new MqttFramer();
    f.scan(Buffer.from(CONNECT), 16, 1000);
    const p = Buffer.from(publish(200)); // 3 + 200 bytes
    expect(f.scan(p, 16, p.length)).toEqual({ consumed: p.length, packets: 1 });
    expect(new MqttFramer().scan(Buffer.from(CONNECT), 16, CONNECT.length - 1).error).toBe('packet-too-large');
  });
});
