/**
 * frame-485 (unit 861234567890123): pure codec for shared/protocol/frame-485.md. No I/O.
 * Frame: STX(0x02) ADDR CMD LEN DATA[LEN] BCC ETX(0x03).
 */
import { FRAME485_BOARDS, FRAME485_KEYPAD_BOARD, LOCKS_PER_BOARD } from '../units.js';
import { accept, reject, type Decoded } from '../types.js';

/** The DTU's MQTT identity is its IMEI: 15 digits. */
const IMEI = /^[0-9]{15}$/;

export const frame485Topics = {
  rx: (imei: string) => `dtu/${imei}/rx`,
  tx: (imei: string) => `dtu/${imei}/tx`,
  state: (imei: string) => `dtu/${imei}/state`,
  parse(topic: string): { imei: string; leaf: 'rx' | 'tx' | 'state' } | null {
    if (typeof topic !== 'string') return null;
    const [root, imei, leaf, ...rest] = topic.split('/');
    if (root !== 'dtu' || rest.length > 0 || !imei || !IMEI.test(imei)) return null;
    return leaf === 'rx' || leaf === 'tx' || leaf === 'state' ? { imei, leaf } : null;
  },
};

export const CMD = { status: 0x30, open: 0x31, change: 0x32, keypad: 0x3a, display: 0x3b } as const;

const STX = 0x02;
const ETX = 0x03;
const MAX_LEN = 64;
/** STX ADDR CMD LEN + BCC ETX */
const OVERHEAD = 6;
const MAX_DISPLAY_TEXT = 32;

/** XOR of the bytes given; pass ADDR, CMD, LEN and DATA. */
export function bcc(bytes: Uint8Array): number {
  let x = 0;
  for (const b of bytes) x ^= b;
  return x;
}

const hex2 = (n: number) => n.toString(16).padStart(2, '0');
const isByte = (n: number) => Number.isInteger(n) && n >= 0 && n <= 0xff;

/** Build one frame. Throws RangeError on LEN > 64 or a non-byte value: those are programmer errors. */
export function encodeFrame(addr: number, cmd: number, data: Uint8Array | number[] = []): Buffer {
  if (data.length > MAX_LEN) throw new RangeError(`frame-485: LEN ${data.length} > ${MAX_LEN}`);
  if (!isByte(addr) || !isByte(cmd) || !Array.from(data).every(isByte)) throw new RangeError('frame-485: ADDR, CMD and DATA must be bytes');
  const body = Buffer.from([addr, cmd, data.length, ...data]);
  return Buffer.concat([Buffer.from([STX]), body, Buffer.from([bcc(body), ETX])]);
}

export interface RawFrame {
  addr: number;
  cmd: number;
  data: Buffer;
  raw: Buffer;
}

export type Frame485Message =
  | { board: number; command: 'status-query' }
  | { board: number; command: 'status'; openLocks: number[]; occupiedLocks: number[] }
  | { board: number; command: 'open'; lock: number; compartment: number }
  | { board: number; command: 'open-result'; lock: number; compartment: number; result: 'opened' | 'jammed' | 'no_such_lock' }
  | { board: number; command: 'change'; lock: number; compartment: number; doorOpen: boolean; occupied: boolean }
  | { board: number; command: 'keypad'; code: string }
  | { board: number; command: 'display'; seconds: number; text: string }
  | { board: number; command: 'display-ack' };

const OPEN_RESULTS = ['opened', 'jammed', 'no_such_lock'] as const;
const isLockBoard = (addr: number) => (FRAME485_BOARDS as readonly number[]).includes(addr);
const compartmentOf = (board: number, lock: number) => (board - 1) * LOCKS_PER_BOARD + lock;
const isLock = (n: number | undefined): n is number => n !== undefined && n >= 1 && n <= LOCKS_PER_BOARD;
const PRINTABLE = /^[\x20-\x7e]*$/;

/** Lock numbers (1-based) whose bit is set; lo byte first. */
function lockBits(lo: number, hi: number): number[] {
  const out: number[] = [];
  const word = lo | (hi << 8);
  for (let i = 0; i < LOCKS_PER_BOARD; i++) if (word & (1 << i)) out.push(i + 1);
  return out;
}

/** Meaning of a frame that passed BCC/ETX. The same CMD means different things in each direction. */
export function interpretFrame(frame: RawFrame, direction: 'to-board' | 'from-board'): Decoded<Frame485Message> {
  const { addr: board, cmd } = frame;
  const d = frame.data;
  const where = `frame (addr 0x${hex2(board)}, cmd 0x${hex2(cmd)}, ${direction})`;
  const bad = (why: string) => reject(`${where}: ${why}`);

  if (board === FRAME485_KEYPAD_BOARD) {
    if (cmd === CMD.display && direction === 'to-board') {
      if (d.length < 1) return bad('DATA: display needs a seconds byte');
      const text = d.subarray(1).toString('latin1');
      if (text.length > MAX_DISPLAY_TEXT || !PRINTABLE.test(text)) return bad('DATA: display text must be up to 32 printable ASCII bytes');
      return accept({ board, command: 'display', seconds: d[0] ?? 0, text });
    }
    if (cmd === CMD.display) return d.length === 1 && d[0] === 0 ? accept({ board, command: 'display-ack' }) : bad('DATA: display ack must be 0x00');
    if (cmd === CMD.keypad && direction === 'from-board') {
      // digits then '#'; 1..12 digits like compact-v2: a wrong length is the driver's to judge
      const m = /^([0-9]{1,12})#$/.exec(d.toString('latin1'));
      return m?.[1] ? accept({ board, command: 'keypad', code: m[1] }) : bad('DATA: keypad entry must be 1..12 ASCII digits then "#"');
    }
    return bad('unknown command for the keypad/display board');
  }

  if (!isLockBoard(board)) return bad('unknown board address');
  const lock = d[0];
  if (direction === 'to-board') {
    if (cmd === CMD.status) return d.length === 0 ? accept({ board, command: 'status-query' }) : bad('LEN: status query carries no DATA');
    if (cmd === CMD.open) {
      if (d.length !== 1 || !isLock(lock)) return bad('DATA: open needs one lock byte 1..12');
      return accept({ board, command: 'open', lock, compartment: compartmentOf(board, lock) });
    }
    return bad('unknown command to a lock board');
  }
  if (cmd === CMD.status) {
    if (d.length !== 4) return bad('LEN: status must carry 4 bytes');
    const [dLo = 0, dHi = 0, oLo = 0, oHi = 0] = d;
    // bits 13..16 name locks that do not exist: a garbled report, better refused than half-believed
    if ((dHi | oHi) & 0xf0) return bad('DATA: status sets bits for locks above 12');
    return accept({ board, command: 'status', openLocks: lockBits(dLo, dHi), occupiedLocks: lockBits(oLo, oHi) });
  }
  if (cmd === CMD.open) {
    const result = OPEN_RESULTS[d[1] ?? 0xff];
    if (d.length !== 2 || !isLock(lock) || !result) return bad('DATA: open result must be a lock 1..12 and a result 0..2');
    return accept({ board, command: 'open-result', lock, compartment: compartmentOf(board, lock), result });
  }
  if (cmd === CMD.change) {
    const [, door, occ] = d;
    if (d.length !== 3 || !isLock(lock) || (door !== 0 && door !== 1) || (occ !== 0 && occ !== 1)) {
      return bad('DATA: change must be a lock 1..12, door 0|1, occupancy 0|1');
    }
    return accept({ board, command: 'change', lock, compartment: compartmentOf(board, lock), doorOpen: door === 1, occupied: occ === 1 });
  }
  return bad('unknown command from a lock board');
}

// ---- stream reassembly -------------------------------------------------------------------------------------

/**
 * Reassembles frames from the DTU's byte stream, which the DTU cuts anywhere (20 ms silence or 256 bytes).
 * After push() the buffer holds at most one partial frame starting at an STX, so it never exceeds 69 bytes.
 */
/** Start of the first complete frame with a good BCC and ETX at or after `from`, or -1. */
function nextValidFrame(buf: Buffer, from: number): number {
  for (let i = buf.indexOf(STX, from); i >= 0; i = buf.indexOf(STX, i + 1)) {
    if (buf.length - i < 4) return -1;
    const len = buf[i + 3] ?? 0;
    if (len > MAX_LEN) continue;
    const end = i + len + OVERHEAD;
    if (end > buf.length) continue;
    if (buf[end - 1] === ETX && bcc(buf.subarray(i + 1, i + 4 + len)) === buf[i + 4 + len]) return i;
  }
  return -1;
}

export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  /** Bytes at the head of `buf` already reported in `dropped`: not counted again as noise when rescanned. */
  private reported = 0;

  push(chunk: Uint8Array): { frames: RawFrame[]; dropped: Buffer[]; noiseBytes: number } {
    const frames: RawFrame[] = [];
    const dropped: Buffer[] = [];
    let noiseBytes = 0;
    const buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : Buffer.from(chunk);
    let pos = 0;
    let reportedEnd = this.reported; // absolute index in buf

    const skip = (to: number) => {
      noiseBytes += Math.max(0, to - Math.max(pos, reportedEnd));
      pos = to;
    };

    while (pos < buf.length) {
      const stx = buf.indexOf(STX, pos);
      if (stx < 0) {
        skip(buf.length); // bytes before an STX are line noise
        break;
      }
      skip(stx);
      if (buf.length - pos < 4) break; // need LEN to know the size: wait
      const len = buf[pos + 3] ?? 0;
      if (len > MAX_LEN) {
        skip(pos + 1); // not a frame: resync at the next STX after this one
        continue;
      }
      const end = pos + len + OVERHEAD;
      if (buf.length < end) {
        // Partial frame: wait for more bytes, unless a complete, valid frame already stands after this STX. Then
        // this "STX" was noise (e.g. 0x02 in a corrupted copy, with a LEN asking for bytes that never come), and
        // waiting would hold back that good frame until the next message (a status answer taken as the next
        // request's). A real frame split across messages has no complete valid frame inside it.
        const next = nextValidFrame(buf, pos + 1);
        if (next < 0) break;
        dropped.push(Buffer.from(buf.subarray(pos, next)));
        reportedEnd = Math.max(reportedEnd, next);
        pos = next;
        continue;
      }
      const raw = Buffer.from(buf.subarray(pos, end)); // copy: do not pin the chunk
      if (raw[raw.length - 1] === ETX && bcc(raw.subarray(1, 4 + len)) === raw[4 + len]) {
        frames.push({ addr: raw[1] ?? 0, cmd: raw[2] ?? 0, data: raw.subarray(4, 4 + len), raw });
        pos = end;
      } else {
        // corrupt: report it, then resume at the next STX after its first byte (a real frame may start inside)
        dropped.push(raw);
        reportedEnd = Math.max(reportedEnd, end);
        pos += 1;
      }
    }

    this.buf = Buffer.from(buf.subarray(pos));
    this.reported = Math.max(0, reportedEnd - pos);
    return { frames, dropped, noiseBytes };
  }

  /** Drop any partial frame, e.g. after the DTU reconnected: the rest of it is never coming. */
  reset(): void {
    this.buf = Buffer.alloc(0);
    this.reported = 0;
  }

  /** Bytes buffered (a partial frame). */
  get pending(): number {
    return this.buf.length;
  }
}

// ---- requests (gateway -> board) -------------------------------------------------------------------------

export function encodeStatusQuery(board: number): Buffer {
  if (!isLockBoard(board)) throw new RangeError(`frame-485: no lock board ${board}`);
  return encodeFrame(board, CMD.status);
}

/** Compartments 1..12 are board 1, 13..24 board 2; locks 1..12 on each. */
export function encodeOpen(compartment: number): { board: number; lock: number; frame: Buffer } {
  const maxCompartment = FRAME485_BOARDS.length * LOCKS_PER_BOARD;
  if (!Number.isInteger(compartment) || compartment < 1 || compartment > maxCompartment) {
    throw new RangeError(`frame-485: no compartment ${compartment}`);
  }
  const board = Math.ceil(compartment / LOCKS_PER_BOARD);
  const lock = compartment - (board - 1) * LOCKS_PER_BOARD;
  return { board, lock, frame: encodeFrame(board, CMD.open, [lock]) };
}

/**
 * The board shows printable ASCII only (no Chinese): white space becomes a space, anything else outside
 * 0x20..0x7e is removed, runs of spaces collapse, then the text is trimmed and cut to 32 bytes.
 * The text may come out empty (a Chinese-only message): the frame then carries only `seconds`.
 */
export function encodeDisplay(seconds: number, text: string): Buffer {
  if (!isByte(seconds)) throw new RangeError(`frame-485: display seconds ${seconds} is not 0..255`);
  const ascii = text
    .replace(/\s/g, ' ')
    .replace(/[^\x20-\x7e]/g, '')
    .replace(/ {2,}/g, ' ')
    .trim()
    .slice(0, MAX_DISPLAY_TEXT)
    .trimEnd();
  return encodeFrame(FRAME485_KEYPAD_BOARD, CMD.display, [seconds, ...Buffer.from(ascii, 'latin1')]);
}

// ---- hex -----------------------------------------------------------------------------------------------------

/** "02 01 30 00 31 03": lower-case, space separated, as in the vectors and the logs. */
export const toHex = (b: Uint8Array): string => Array.from(b, hex2).join(' ');

/** Inverse of toHex; white space anywhere is ignored. Throws TypeError on anything that is not hex bytes. */
export const fromHex = (s: string): Buffer => {
  const digits = s.replace(/\s+/g, '');
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(digits)) throw new TypeError(`fromHex: not hex bytes: ${s.slice(0, 40)}`);
  return Buffer.from(digits, 'hex');
};
