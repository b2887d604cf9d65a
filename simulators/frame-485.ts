/**
 * Device side of shared/protocol/frame-485.md (unit 861234567890123): a transparent 4G DTU and the boards behind it.
 *
 * The DTU
 * - `dtu-{imei}`, username imei, keep-alive 120, clean session; will `0` retained (QoS 1) on dtu/{imei}/state,
 *   `1` retained after connecting; tx subscribed QoS 0, rx published QoS 0; keeps nothing while disconnected.
 * - Cuts the outgoing byte stream after 20 ms of silence or 256 bytes. Boards sometimes pause mid-frame (the frame is
 *   split across 2–3 messages, `chunking.splitRate`) and sometimes follow up within the silence window (an open
 *   response and the change report of the door that sprang open land in one message, `chunking.mergeRate`).
 * - stop(): publishes `0` retained on state, then disconnects cleanly (a DTU switched off on purpose should not leave
 *   a retained `1`). A reboot is a DTU reboot: the boards keep their doors, display and everything else.
 *
 * The boards
 * - Lock boards 0x01 / 0x02 (12 locks each; lock n of board b is compartment (b-1)*12+n if the unit has it), keypad /
 *   display board 0x0F. Requests are read from the tx stream by LEN, reassembled across messages; a partial frame older
 *   than 500 ms is discarded. Malformed requests (wrong LEN for the command, unknown CMD or address) get no answer.
 * - Open: response `lock result` (0 opened, 1 jammed, 2 no such lock); an opened door then also sends its change
 *   report (door 1). An already open door answers 0 and sends no report.
 * - Display: `seconds` then up to 32 ASCII bytes (more are cut, non-ASCII shown as '?'); ack 0x00.
 * - Unsolicited: change report on every door change, keypad frame (digits + '#') from 0x0F. There are no alarm
 *   frames in this dialect: a forced door is only a change report the gateway did not ask for.
 * - noisyLine: 1–4 junk bytes before some frames (never 0x02, so noise alone cannot stall a reader) and, now and then,
 *   a copy of the frame with a corrupted BCC just before the good one.
 */
import { FRAME485_BOARDS, FRAME485_KEYPAD_BOARD, LOCKS_PER_BOARD } from '../devices/units.js';
import type { AlarmKind, CommandResult } from '../src/domain/model.js';
import { sleep, toHex } from './common.js';
import { buildFrame, CMD, FrameReader, type Frame } from './frames.js';
import type { LinkConfig } from './link.js';
import type { SimOptions } from './types.js';
import { SimulatedUnit, type BootReason, type DoorState } from './unit.js';

const SILENCE_MS = 20;
const MAX_MESSAGE = 256;
const TURNAROUND_MS = 5;
const STALE_PARTIAL_MS = 500;
const NOISE_RATE = 0.3;
const CORRUPT_RATE = 0.15;
const DISPLAY_MAX_BYTES = 32;
const OPEN_RESULT: Record<number, CommandResult> = { 0: 'done', 1: 'jammed', 2: 'unknown_compartment' };

export class Frame485Unit extends SimulatedUnit {
  private readonly topic: { state: string; rx: string; tx: string };
  private readonly reader = new FrameReader();
  private lastTx = 0;
  private out: Buffer = Buffer.alloc(0);
  private silence: NodeJS.Timeout | null = null;
  private bus: Promise<void> = Promise.resolve();
  /** DTU connection count: frames queued on one connection are not delivered on the next. */
  private session = 0;
  private readonly splitRate: number;
  private readonly mergeRate: number;

  constructor(opts: SimOptions) {
    super(opts);
    const base = `dtu/${opts.unit.id}`;
    this.topic = { state: `${base}/state`, rx: `${base}/rx`, tx: `${base}/tx` };
    this.splitRate = opts.chunking?.splitRate ?? 0.25;
    this.mergeRate = opts.chunking?.mergeRate ?? 0.3;
  }

  protected linkConfig(): Omit<LinkConfig, 'password'> {
    const imei = this.unit.id;
    return {
      clientId: `dtu-${imei}`,
      username: imei,
      keepalive: 120,
      clean: true,
      will: { topic: this.topic.state, payload: '0', qos: 1, retain: true },
      subscriptions: [{ topic: this.topic.tx, qos: 0 }],
    };
  }

  protected async afterConnect(): Promise<void> {
    this.out = Buffer.alloc(0);
    this.reader.reset();
    await this.publishNow(this.topic.state, '1', 1, true);
  }

  protected override onLinkDown(): void {
    this.session++;
    if (this.silence) clearTimeout(this.silence);
    this.silence = null;
    this.out = Buffer.alloc(0);
    this.reader.reset();
  }

  protected onBoot(_reason: BootReason): void {
    // Only the DTU restarts; the boards keep their state.
  }

  protected beforeStop(): Promise<boolean> {
    this.flush();
    return this.publishNow(this.topic.state, '0', 1, true);
  }

  // ------------------------------------------------------------------ addressing

  private lockOf(no: number): { addr: number; lock: number } {
    const board = FRAME485_BOARDS[Math.floor((no - 1) / LOCKS_PER_BOARD)];
    if (board === undefined) throw new Error(`compartment ${no} is on no board`);
    return { addr: board, lock: ((no - 1) % LOCKS_PER_BOARD) + 1 };
  }

  private compartmentOf(addr: number, lock: number): number | undefined {
    const index = (FRAME485_BOARDS as readonly number[]).indexOf(addr);
    if (index < 0 || lock < 1 || lock > LOCKS_PER_BOARD) return undefined;
    const no = index * LOCKS_PER_BOARD + lock;
    return this.doors.has(no) ? no : undefined;
  }

  private isLockBoard(addr: number): boolean {
    return (FRAME485_BOARDS as readonly number[]).includes(addr);
  }

  // ------------------------------------------------------------------ requests from the gateway

  protected handleMessage(topic: string, payload: Buffer): void {
    if (topic !== this.topic.tx) return;
    const t = performance.now();
    if (this.reader.pending > 0 && t - this.lastTx > STALE_PARTIAL_MS) this.reader.reset();
    this.lastTx = t;
    for (const frame of this.reader.feed(payload)) this.onRequest(frame);
  }

  private onRequest(f: Frame): void {
    const raw = toHex(f.raw);
    if (this.isLockBoard(f.addr) && f.cmd === CMD.status && f.data.length === 0) {
      const answered = this.answer(f.addr, CMD.status, this.statusData(f.addr));
      this.emitCommand({ op: 'status', result: 'done', raw, answered });
    } else if (this.isLockBoard(f.addr) && f.cmd === CMD.open && f.data.length === 1) {
      const lock = f.data[0] ?? 0;
      const no = this.compartmentOf(f.addr, lock);
      const release = no === undefined ? null : this.releaseLock(no);
      const code = release === null ? 2 : release === 'jammed' ? 1 : 0;
      const answered = this.answer(f.addr, CMD.open, [lock, code]);
      if (release === 'opened' && no !== undefined) {
        const gap = this.rng() < this.mergeRate ? 0 : SILENCE_MS + 10 + Math.floor(this.rng() * 30);
        this.report(f.addr, CMD.change, [lock, 1, this.door(no).occupied ? 1 : 0], gap);
      }
      this.emitCommand({ op: 'open', result: OPEN_RESULT[code] ?? 'unsupported', raw, answered });
    } else if (f.addr === FRAME485_KEYPAD_BOARD && f.cmd === CMD.display && f.data.length >= 1) {
      const seconds = f.data[0] ?? 0;
      const bytes = f.data.subarray(1, 1 + DISPLAY_MAX_BYTES);
      const text = Array.from(bytes, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '?')).join('');
      this.showText(text, seconds);
      const answered = this.answer(f.addr, CMD.display, [0x00]);
      this.emitCommand({ op: 'display', result: 'done', raw, answered });
    } else {
      this.log.debug('frame nobody answers', { raw });
      this.emitCommand({ op: `0x${f.cmd.toString(16)}@0x${f.addr.toString(16)}`, result: 'unsupported', raw, answered: false });
    }
  }

  private statusData(addr: number): number[] {
    let doors = 0;
    let occ = 0;
    for (let lock = 1; lock <= LOCKS_PER_BOARD; lock++) {
      const no = this.compartmentOf(addr, lock);
      const d = no === undefined ? undefined : this.doors.get(no);
      if (d?.open) doors |= 1 << (lock - 1);
      if (d?.occupied) occ |= 1 << (lock - 1);
    }
    return [doors & 0xff, doors >> 8, occ & 0xff, occ >> 8];
  }

  // ------------------------------------------------------------------ unsolicited reports

  protected reportDoor(no: number, d: DoorState): void {
    const { addr, lock } = this.lockOf(no);
    this.report(addr, CMD.change, [lock, d.open ? 1 : 0, d.occupied ? 1 : 0], 0);
  }

  protected reportCode(code: string): void {
    this.report(FRAME485_KEYPAD_BOARD, CMD.keypad, Buffer.from(`${code}#`, 'ascii'), 0);
  }

  protected reportAlarm(kind: AlarmKind, no?: number): void {
    this.log.info('alarm (frame-485 has no alarm frame, not reported)', { kind, no });
  }

  // ------------------------------------------------------------------ the bus and the DTU

  /** A board answers a request. Returns false when the board is silent. */
  private answer(addr: number, cmd: number, data: ArrayLike<number>): boolean {
    if (this.faults.silentBoards.includes(addr)) {
      this.log.debug('silent board does not answer', { addr });
      return false;
    }
    this.transmit(buildFrame(addr, cmd, data), TURNAROUND_MS);
    return true;
  }

  /** A board reports something on its own (QoS 0 all the way: can be lost). */
  private report(addr: number, cmd: number, data: ArrayLike<number>, gapMs: number): void {
    if (this.faults.silentBoards.includes(addr)) return;
    if (this.rng() < this.faults.dropRate) {
      this.log.debug('fault: report dropped', { addr, cmd });
      return;
    }
    this.transmit(buildFrame(addr, cmd, data), gapMs);
  }

  /**
   * Boards take turns on the half-duplex bus: frames never interleave. What a board sends while the DTU is offline is
   * lost, even if the DTU is back by the time the frame's turn on the (simulated) bus comes. Every random choice is
   * made here, when the frame is queued, so that a seeded run makes the same choices whatever the timing.
   */
  private transmit(frame: Buffer, gapMs: number): void {
    if (!this.online) return;
    const session = this.session;
    const noisy = this.faults.noisyLine;
    const noise = noisy && this.rng() < NOISE_RATE ? this.noise() : null;
    const corrupt = noisy && this.rng() < CORRUPT_RATE ? this.corrupted(frame) : null;
    const cuts = this.rng() < this.splitRate ? this.cuts(frame.length) : [];
    const twice = this.rng() < this.faults.duplicateRate;
    const wait = gapMs + this.faults.delayMs;
    this.bus = this.bus
      .then(async () => {
        if (wait > 0) await sleep(wait);
        const live = () => session === this.session;
        if (!live()) return;
        if (noise) this.write(noise);
        if (corrupt) this.write(corrupt);
        // At each cut the board pauses for longer than the DTU's silence window, so the DTU ends a message there.
        let from = 0;
        for (const cut of cuts) {
          this.write(frame.subarray(from, cut));
          this.flush();
          await sleep(1);
          if (!live()) return;
          from = cut;
        }
        this.write(frame.subarray(from));
        if (twice) this.write(frame);
      })
      .catch((err: unknown) => this.log.error('bus write failed', { err }));
  }

  /** 1 or 2 distinct cut positions inside a frame (2–3 pieces), ascending. */
  private cuts(length: number): number[] {
    const pieces = 2 + Math.floor(this.rng() * 2);
    const cuts = new Set<number>();
    while (cuts.size < Math.min(pieces - 1, length - 1)) cuts.add(1 + Math.floor(this.rng() * (length - 1)));
    return [...cuts].sort((a, b) => a - b);
  }

  private noise(): Buffer {
    const n = 1 + Math.floor(this.rng() * 4);
    return Buffer.from(Array.from({ length: n }, () => {
      const b = Math.floor(this.rng() * 255);
      return b >= 0x02 ? b + 1 : b; // never STX
    }));
  }

  private corrupted(frame: Buffer): Buffer {
    const copy = Buffer.from(frame);
    const i = copy.length - 2;
    copy[i] = (copy[i] ?? 0) ^ (1 + Math.floor(this.rng() * 255));
    return copy;
  }

  /** Bytes the DTU read from the bus. Lost when it is not connected. */
  private write(bytes: Buffer): void {
    if (!this.online) return;
    this.out = this.out.length ? Buffer.concat([this.out, bytes]) : Buffer.from(bytes);
    while (this.out.length >= MAX_MESSAGE) {
      void this.publishNow(this.topic.rx, this.out.subarray(0, MAX_MESSAGE), 0);
      this.out = this.out.subarray(MAX_MESSAGE);
    }
    if (this.silence) clearTimeout(this.silence);
    this.silence = setTimeout(() => this.flush(), SILENCE_MS);
  }

  private flush(): void {
    if (this.silence) clearTimeout(this.silence);
    this.silence = null;
    if (this.out.length === 0) return;
    void this.publishNow(this.topic.rx, this.out, 0);
    this.out = Buffer.alloc(0);
  }
}
