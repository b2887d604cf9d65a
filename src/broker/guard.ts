/**
 * What stands between a TCP connection and aedes, which by itself has no packet size limit: its parser (mqtt-packet)
 * keeps every byte of a packet until the announced length has arrived, so four connections announcing a 250 MB
 * CONNECT grew the gateway by a gigabyte before anyone had logged in. The guard reads the MQTT fixed header of every
 * packet as it arrives and
 * - closes the connection as soon as a packet announces more than its limit: the CONNECT (anyone, before login) and
 *   a unit's packets are small (MQTT_MAX_PACKET_BYTES); a client logged in as the gateway may send more
 *   (MQTT_GATEWAY_MAX_PACKET_BYTES). Nothing of such a packet is buffered;
 * - closes a connection that has not logged in within MQTT_CONNECT_TIMEOUT_MS (silent, or trickling its CONNECT);
 * - hands aedes at most MQTT_MAX_INFLIGHT complete packets at a time, the next ones only once aedes asks for more
 *   (aedes handles all packets of one read concurrently and reads again when they are done), and stops reading the
 *   socket meanwhile, so a client pipelining thousands of PUBLISHes is held back by TCP, not by our memory.
 * The bytes pass through unchanged; aedes still parses and checks everything itself.
 */
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';

/** MQTT control packet type of CONNECT (fixed header byte >> 4). */
const CONNECT = 1;

export interface GuardLimits {
  /** largest packet before login (the CONNECT) and from a unit */
  maxPacketBytes: number;
  /** largest packet from a client logged in as the gateway */
  gatewayMaxPacketBytes: number;
  connectTimeoutMs: number;
  /** complete packets handed to the broker at once */
  maxInflight: number;
}

export type GuardRefusal = 'packet-too-large' | 'not-mqtt' | 'login-timeout';

/**
 * Follows packet boundaries in an MQTT byte stream (pure, no I/O). `scan` walks a chunk and stops after `budget`
 * complete packets; it reports a packet whose announced size exceeds the limit before any of its body is kept.
 */
export class MqttFramer {
  /** bytes of the current packet's body still to come; -1 while reading a fixed header */
  private remaining = -1;
  private header: number[] = [];
  private first = true;

  /** Total size (header included) of the packet being read, once its header is complete. */
  lastPacketBytes = 0;

  scan(chunk: Buffer, budget: number, limit: number): { consumed: number; packets: number; error?: GuardRefusal } {
    let i = 0;
    let packets = 0;
    while (i < chunk.length && packets < budget) {
      if (this.remaining < 0) {
        this.header.push(chunk[i++]!);
        if (this.header.length === 1) {
          if (this.first && this.header[0]! >> 4 !== CONNECT) return { consumed: i, packets, error: 'not-mqtt' };
          continue;
        }
        const last = this.header[this.header.length - 1]!;
        if (last & 0x80) {
          if (this.header.length === 5) return { consumed: i, packets, error: 'not-mqtt' }; // length over 4 bytes
          continue;
        }
        let length = 0;
        for (let k = this.header.length - 1; k >= 1; k--) length = length * 128 + (this.header[k]! & 0x7f);
        this.lastPacketBytes = this.header.length + length;
        if (this.lastPacketBytes > limit) return { consumed: i, packets, error: 'packet-too-large' };
        this.header = [];
        this.first = false;
        this.remaining = length;
      } else {
        const take = Math.min(this.remaining, chunk.length - i);
        i += take;
        this.remaining -= take;
      }
      if (this.remaining === 0) {
        this.remaining = -1;
        packets++;
      }
    }
    return { consumed: i, packets };
  }
}

/**
 * The socket as aedes sees it. `loggedIn` (called from aedes' authenticate hook) ends the login timer and sets the
 * packet limit for the principal.
 */
export class GuardedConnection extends Duplex {
  private readonly framer = new MqttFramer();
  private pending: Buffer[] = [];
  private wanted = false;
  private ended = false;
  private limit: number;
  private loginTimer: NodeJS.Timeout | null;

  constructor(
    readonly socket: Socket,
    private readonly limits: GuardLimits,
    private readonly onRefused: (why: GuardRefusal, detail: { bytes?: number; limit?: number }) => void,
  ) {
    // Nothing is read ahead: aedes gets data only when it asks (highWaterMark 0).
    super({ readableHighWaterMark: 0, allowHalfOpen: false });
    this.limit = limits.maxPacketBytes;
    this.loginTimer = setTimeout(() => this.refuse('login-timeout', {}), limits.connectTimeoutMs);
    socket.on('data', (chunk: Buffer) => {
      this.pending.push(chunk);
      socket.pause();
      this.flush();
    });
    socket.on('end', () => {
      this.ended = true;
      this.flush();
    });
    socket.on('error', (err) => this.destroy(err));
    socket.on('close', () => this.destroy());
  }

  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }

  loggedIn(kind: 'gateway' | 'unit'): void {
    if (this.loginTimer) clearTimeout(this.loginTimer);
    this.loginTimer = null;
    this.limit = kind === 'gateway' ? this.limits.gatewayMaxPacketBytes : this.limits.maxPacketBytes;
  }

  private refuse(why: GuardRefusal, detail: { bytes?: number; limit?: number }): void {
    if (this.destroyed) return;
    this.onRefused(why, detail);
    this.pending = [];
    this.socket.destroy();
    this.destroy();
  }

  override _read(): void {
    this.wanted = true;
    // Not within read() itself: what aedes reads now is the batch it was told about, not the next one as well.
    setImmediate(() => this.flush());
  }

  /** Hand aedes the next batch: at most maxInflight complete packets (and the start of the next one). */
  private flush(): void {
    if (!this.wanted || this.destroyed) return;
    const batch: Buffer[] = [];
    const budget0 = this.limits.maxInflight;
    let budget = budget0;
    while (budget > 0 && this.pending.length) {
      const chunk = this.pending.shift()!;
      const r = this.framer.scan(chunk, budget, this.limit);
      if (r.error) return this.refuse(r.error, { bytes: this.framer.lastPacketBytes, limit: this.limit });
      budget -= r.packets;
      batch.push(r.consumed === chunk.length ? chunk : chunk.subarray(0, r.consumed));
      if (r.consumed < chunk.length) this.pending.unshift(chunk.subarray(r.consumed));
    }
    if (batch.length) {
      // A batch with no complete packet gives aedes nothing to work on, so it will not ask again: keep feeding it.
      if (budget < budget0) this.wanted = false;
      this.push(batch.length === 1 ? batch[0] : Buffer.concat(batch));
    }
    if (!this.pending.length) {
      if (this.ended) this.push(null);
      else this.socket.resume();
    }
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.socket.write(chunk, cb);
  }

  /**
   * mqtt-packet corks the stream while it writes a packet's parts (header, topic, payload) and every packet of the
   * same tick: hand them to the socket as one write. Without this, each part was a write() system call of its own,
   * a quarter of the gateway's socket writes in the bench's profile (docs/benchmarks.md).
   */
  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    this.socket.write(chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((c) => c.chunk)), cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.socket.end(() => cb());
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (this.loginTimer) clearTimeout(this.loginTimer);
    this.loginTimer = null;
    this.socket.destroy();
    cb(err);
  }
}
