import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { duplexPair } from '../../src/broker/pair.js';

describe('in-memory duplex pair (the gateway to its embedded broker)', () => {
  it('what one side writes the other reads, both ways, in order; corked parts arrive as one chunk', async () => {
    const [a, b] = duplexPair();
    const gotB: Buffer[] = [];
    const gotA: Buffer[] = [];
    b.on('data', (c: Buffer) => gotB.push(c));
    a.on('data', (c: Buffer) => gotA.push(c));
    a.write(Buffer.from('one'));
    a.cork();
    a.write(Buffer.from('tw'));
    a.write(Buffer.from('o'));
    a.uncork();
    b.write(Buffer.from('back'));
    await new Promise((r) => setImmediate(r));
    expect(gotB.map(String)).toEqual(['one', 'two']);
    expect(gotA.map(String)).toEqual(['back']);
  });

  it('a writer waits while the reader does not read (backpressure), and goes on when it does', async () => {
    const [a, b] = duplexPair();
    const chunk = Buffer.alloc(64 * 1024);
    let done = 0;
    for (let i = 0; i < 4; i++) a.write(chunk, () => done++);
    await new Promise((r) => setImmediate(r));
    expect(done).toBeLessThan(4);
    let read = 0;
    b.on('data', (c: Buffer) => (read += c.length));
    await new Promise<void>((resolve) => a.write(Buffer.alloc(0), () => resolve()));
    expect(done).toBe(4);
    expect(read).toBe(4 * 64 * 1024);
  });

  it('ending one side ends the other; destroying one side closes the other', async () => {
    const [a, b] = duplexPair();
    b.resume();
    const ended = once(b, 'end');
    a.end();
    await ended;

    const [c, d] = duplexPair();
    const closed = once(d, 'close');
    c.destroy();
    await closed;
    expect(d.destroyed).toBe(true);
    expect(d.write(Buffer.from('x'), () => undefined)).toBe(false);
  });
});
