import { Duplex } from 'node:stream';

/**
 * Two connected in-memory duplex streams: what one side writes, the other reads, with backpressure. The gateway's own
 * MQTT client talks to the embedded broker through such a pair rather than a loopback TCP socket (embedded.ts,
 * `connectLocal`): no system call, no kernel buffer and no second parse of the socket per packet for the half of
 * the broker's traffic that is the gateway's own.
 *
 * Node 22.6 has this as `stream.duplexPair()`; Node 20, the one this project runs on, has not. This follows that
 * implementation (lib/internal/streams/duplexpair.js); replace it with `duplexPair` once Node 20 is no longer
 * supported.
 */
class Side extends Duplex {
  other: Side | null = null;
  /** the write waiting for the other side to read (backpressure) */
  private pendingWrite: (() => void) | null = null;

  override _read(): void {
    const resume = this.other?.pendingWrite;
    if (resume && this.other) {
      this.other.pendingWrite = null;
      resume();
    }
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.deliver(chunk, cb);
  }

  /** mqtt-packet corks while it writes a packet's parts: the other side gets the packet as one chunk. */
  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    this.deliver(chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((c) => c.chunk)), cb);
  }

  private deliver(chunk: Buffer, cb: (err?: Error | null) => void): void {
    const other = this.other;
    if (!other || other.destroyed) return cb(new Error('the other side of the connection is closed'));
    if (other.push(chunk)) cb();
    else this.pendingWrite = () => cb();
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.other?.push(null);
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const other = this.other;
    this.other = null;
    const resume = this.pendingWrite;
    this.pendingWrite = null;
    resume?.();
    // Closing one end closes the connection: the other side ends as a socket does when its peer goes away.
    if (other && !other.destroyed) {
      other.other = null;
      other.destroy();
    }
    cb(err);
  }
}

export function duplexPair(): [Duplex, Duplex] {
  const a = new Side();
  const b = new Side();
  a.other = b;
  b.other = a;
  return [a, b];
}
