/**
 * Device side of shared/protocol/compact-v2.md (unit a4c138f0e2d1).
 *
 * - Up messages `{"t","m","d"}`; `m` counts 1–65535 and wraps to 1, survives reconnects, restarts at 1 after a
 *   (re)boot, when the first message is a status (t 5) with m 1. start() is a power-on boot, so it sends that status.
 * - Nothing is buffered: whatever happens while disconnected is never reported and uses up no `m`. An event lost to
 *   the dropRate fault did use up its `m` (it was sent and lost).
 * - Down messages: `h` is checked first; only correctly signed messages enter the 64-entry duplicate window (so a
 *   forger cannot make the unit ignore the gateway's next `m`). A repeated `m` is answered again with the first
 *   result, not carried out again. Then expiry (`e`, by the unit's clock), then the command.
 * - Results beyond the vendor's codes: an unknown `t` or malformed `d` is answered r 5 (the vendor has no
 *   "unsupported" code); display text over 40 characters is cut to 40 and shown (r 0), with a warning in the log.
 * - A reboot clears the duplicate window (it is RAM), resets keypad (enabled) and display.
 * - stop(): publishes `{"t":0}` itself, then disconnects cleanly. A clean DISCONNECT suppresses the last will, and a
 *   controller that powers down on purpose should not leave the gateway waiting 90 s for missing heartbeats.
 */
import type { AlarmKind, CommandResult } from '../src/domain/model.js';
import { canonicalJson, hmacHex, isMsgId, isPlainObject, nextMsgId, parseObject, RecentMap, safeEqual, truncateChars } from './common.js';
import type { LinkConfig } from './link.js';
import type { SimOptions } from './types.js';
import { SimulatedUnit, type BootReason, type DoorState } from './unit.js';

export const COMPACT_V2_FIRMWARE = '2.3.1';
const DUPLICATE_WINDOW = 64;
const DISPLAY_MAX_CHARS = 40;
const DEFAULT_HEARTBEAT_MS = 30_000;

const R: Record<number, CommandResult> = { 0: 'done', 1: 'jammed', 2: 'unknown_compartment', 3: 'bad_signature', 4: 'expired', 5: 'busy' };
const ALARM_CODE: Record<AlarmKind, number> = { tamper: 1, door_forced: 2, door_left_open: 3, power: 4 };
const OP_NAME: Record<number, string> = { 101: 'open', 102: 'status', 103: 'display', 105: 'keypad' };

interface Outcome {
  r: number;
  after?: () => void;
}

export class CompactV2Unit extends SimulatedUnit {
  private readonly key: Buffer;
  private readonly upTopic: string;
  private readonly downTopic: string;
  /** Next up `m`. */
  private upM = 1;
  private readonly seen = new RecentMap<number, number>(DUPLICATE_WINDOW);
  private statusDue = false;
  private heartbeat: NodeJS.Timeout | null = null;

  constructor(opts: SimOptions) {
    super(opts);
    if (!opts.key) throw new Error(`compact-v2 unit ${opts.unit.id} needs a signing key`);
    this.key = opts.key;
    this.upTopic = `cab/${opts.unit.id}/up`;
    this.downTopic = `cab/${opts.unit.id}/down`;
  }

  /** The `m` the next up message will carry. */
  get nextUpMsgId(): number {
    return this.upM;
  }

  protected linkConfig(): Omit<LinkConfig, 'password'> {
    const mac = this.unit.id;
    return {
      clientId: `cab-${mac}`,
      username: mac,
      keepalive: 60,
      clean: true,
      will: { topic: this.upTopic, payload: '{"t":0}', qos: 1, retain: false },
      subscriptions: [{ topic: this.downTopic, qos: 1 }],
    };
  }

  protected async afterConnect(): Promise<void> {
    const status = this.statusDue ? this.sendUp(5, this.status()) : Promise.resolve(true);
    this.statusDue = false;
    const period = this.opts.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    this.heartbeat = setInterval(() => {
      void this.sendUp(1, { up: Math.floor((this.now() - this.bootedAt) / 1000), rssi: -55 - Math.floor(this.rng() * 30) });
    }, period);
    await status;
  }

  protected override onLinkDown(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }

  protected onBoot(_reason: BootReason): void {
    this.upM = 1;
    this.seen.clear();
    this.statusDue = true;
    this.resetPanel();
  }

  protected beforeStop(): Promise<boolean> {
    return this.send(this.upTopic, '{"t":0}', { qos: 1 });
  }

  // ------------------------------------------------------------------ up

  /** Send one up message with the next `m`; nothing (and no `m` used) while disconnected. */
  private sendUp(t: number, d: Record<string, unknown>, event = false): Promise<boolean> {
    if (!this.online) {
      this.log.debug('disconnected: up message lost', { t });
      return Promise.resolve(false);
    }
    const m = this.upM;
    this.upM = nextMsgId(m);
    return this.send(this.upTopic, JSON.stringify({ t, m, d }), { qos: 1, droppable: event });
  }

  private status(): Record<string, unknown> {
    let doors = '';
    let occ = '';
    for (const c of this.unit.compartments) {
      const d = this.door(c.no);
      doors += d.open ? '1' : '0';
      occ += d.occupied ? '1' : '0';
    }
    return { doors, occ, fw: COMPACT_V2_FIRMWARE };
  }

  protected reportDoor(no: number, d: DoorState): void {
    void this.sendUp(2, { b: no, s: d.open ? 1 : 0, o: d.occupied ? 1 : 0 }, true);
  }

  protected reportCode(code: string): void {
    void this.sendUp(3, { k: code }, true);
  }

  protected reportAlarm(kind: AlarmKind, no?: number): void {
    void this.sendUp(9, no === undefined ? { c: ALARM_CODE[kind] } : { c: ALARM_CODE[kind], b: no }, true);
  }

  // ------------------------------------------------------------------ down

  protected handleMessage(topic: string, payload: Buffer): void {
    if (topic !== this.downTopic) return;
    const raw = payload.toString('utf8');
    const msg = parseObject(raw);
    const { t, m, d, e, h } = msg ?? {};
    const op = typeof t === 'number' ? (OP_NAME[t] ?? `t${t}`) : '?';
    if (!isMsgId(m)) {
      this.log.warn('down message without a valid m ignored (no ack possible)', { raw });
      this.emitCommand({ op, result: 'unsupported', raw });
      return;
    }
    const authentic =
      typeof t === 'number' &&
      Number.isInteger(t) &&
      isPlainObject(d) &&
      typeof e === 'number' &&
      Number.isFinite(e) &&
      typeof h === 'string' &&
      safeEqual(h, hmacHex(this.key, `${t}|${m}|${e}|${canonicalJson(d)}`).slice(0, 16));
    if (!authentic) {
      this.ack(m, 3, op, raw);
      return;
    }
    const first = this.seen.get(m);
    if (first !== undefined) {
      this.ack(m, first, op, raw, true);
      return;
    }
    const outcome: Outcome = this.now() / 1000 > e ? { r: 4 } : this.execute(t, d);
    this.seen.set(m, outcome.r);
    this.ack(m, outcome.r, op, raw);
    outcome.after?.();
  }

  private execute(t: number, d: Record<string, unknown>): Outcome {
    switch (t) {
      case 101: {
        if (!this.hasCompartment(d.b)) return { r: 2 };
        const no = d.b;
        const release = this.releaseLock(no);
        if (release === 'jammed') return { r: 1 };
        if (release === 'opened') return { r: 0, after: () => this.reportDoor(no, this.door(no)) };
        return { r: 0 };
      }
      case 102:
        return { r: 0, after: () => void this.sendUp(5, this.status()) };
      case 103: {
        const { x, s } = d;
        if (typeof x !== 'string' || typeof s !== 'number' || !(s >= 0)) return { r: 5 };
        const text = truncateChars(x, DISPLAY_MAX_CHARS);
        if (text !== x) this.log.warn('display text over 40 characters cut', { text: x });
        this.showText(text, s);
        return { r: 0 };
      }
      case 105:
        if (d.e !== 0 && d.e !== 1) return { r: 5 };
        this.keypadEnabled = d.e === 1;
        return { r: 0 };
      default:
        this.log.warn('unknown down type, answered r 5', { t });
        return { r: 5 };
    }
  }

  private ack(a: number, r: number, op: string, raw: string, duplicate = false): void {
    void this.sendUp(4, { a, r });
    this.emitCommand({ op, result: R[r] ?? 'busy', raw, ...(duplicate ? { duplicate } : {}) });
  }
}
