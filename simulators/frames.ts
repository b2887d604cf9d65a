/**
 * RS-485 frames of shared/protocol/frame-485.md, board side: `STX ADDR CMD LEN DATA[LEN] BCC ETX`, BCC = XOR of ADDR,
 * CMD, LEN and DATA. Written from the document for the simulator; not shared with the gateway's codec.
 */
export const STX = 0x02;
export const ETX = 0x03;
export const MAX_DATA = 64;

export const CMD = {
  status: 0x30,
  open: 0x31,
  change: 0x32,
  keypad: 0x3a,
  display: 0x3b,
} as const;

export interface Frame {
  addr: number;
  cmd: number;
  data: Buffer;
  /** The whole frame, STX to ETX. */
  raw: Buffer;
}

export function bcc(addr: number, cmd: number, data: Uint8Array): number {
  let x = addr ^ cmd ^ data.length;
  for (const b of data) x ^= b;
  return x & 0xff;
}

export function buildFrame(addr: number, cmd: number, data: ArrayLike<number> = []): Buffer {
  const d = Buffer.from(Array.from(data));
  if (d.length > MAX_DATA) throw new Error(`frame data too long: ${d.length} > ${MAX_DATA}`);
  return Buffer.from([STX, addr, cmd, d.length, ...d, bcc(addr, cmd, d), ETX]);
}

/**
 * Reassembles frames from a byte stream that arrives in arbitrary pieces. Bytes before an STX are noise; a LEN over
 * 64, a wrong BCC or a missing ETX drops the candidate and reading resumes at the next STX after its first byte.
 */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  /** Candidate frames dropped so far (bad LEN, BCC or ETX). */
  dropped = 0;

  feed(chunk: Uint8Array): Frame[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : Buffer.from(chunk);
    const frames: Frame[] = [];
    for (;;) {
      const start = this.buf.indexOf(STX);
      if (start < 0) {
        this.buf = Buffer.alloc(0);
        break;
      }
      if (start > 0) this.buf = this.buf.subarray(start);
      if (this.buf.length < 4) break;
      const len = this.buf[3] ?? 0;
      if (len > MAX_DATA) {
        this.dropped++;
        this.buf = this.buf.subarray(1);
        continue;
      }
      const total = len + 6;
      if (this.buf.length < total) break;
      const addr = this.buf[1] ?? 0;
      const cmd = this.buf[2] ?? 0;
      const data = this.buf.subarray(4, 4 + len);
      if (this.buf[4 + len] !== bcc(addr, cmd, data) || this.buf[5 + len] !== ETX) {
        this.dropped++;
        this.buf = this.buf.subarray(1);
        continue;
      }
      const raw = Buffer.from(this.buf.subarray(0, total));
      frames.push({ addr, cmd, data: raw.subarray(4, 4 + len), raw });
      this.buf = this.buf.subarray(total);
    }
    return frames;
  }

  /** Bytes held waiting for the rest of a frame. */
  get pending(): number {
    return this.buf.length;
  }

  reset(): void {
    this.buf = Buffer.alloc(0);
  }
}
