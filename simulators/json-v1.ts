/**
 * Device side of shared/protocol/json-v1.md (unit LSN-0001).
 *
 * - Events carry id `{sn}-{seq}`; seq grows by one per event and survives reboots (and, like the 1,000-event buffer
 *   and the 256 remembered cids, lives in the unit's non-volatile memory: a reboot keeps all three).
 * - Every event goes through a buffer and leaves it only once the broker acknowledged it, so events raised while
 *   offline (and events in flight when the connection dropped) are published after the next connection, in seq
 *   order, before any newer event. Buffer limit 1,000, oldest dropped first.
 * - After every connection: presence `online`, then the buffered events, then a retained snapshot.
 * - Commands: the signature is checked first; only a correctly signed command's cid is remembered (so a forger cannot
 *   poison the cid memory). A remembered cid gets its first reply again and is not carried out again. Then expiry by
 *   the unit's clock (which `set_time` sets), then the op itself.
 * - Display text over 40 characters is refused with `unsupported`; malformed args too.
 * - stop(): publishes `offline` (retained) on presence, then disconnects cleanly: a unit that shuts down on purpose
 *   must not leave a retained `online` behind, and a clean DISCONNECT suppresses the last will.
 */
import type { AlarmKind, CommandResult } from '../src/domain/model.js';
import { canonicalJson, charCount, hmacHex, isPlainObject, parseObject, RecentMap, rfc3339, safeEqual } from './common.js';
import type { LinkConfig } from './link.js';
import type { SimOptions } from './types.js';
import { SimulatedUnit, type BootReason, type DoorState } from './unit.js';

export const JSON_V1_FIRMWARE = '1.8.2';
const BUFFER_MAX = 1000;
const CID_MEMORY = 256;
const DISPLAY_MAX_CHARS = 40;

interface BufferedEvent {
  seq: number;
  payload: string;
}

interface Outcome {
  result: CommandResult;
  /** What follows the reply (the door.opened or fault event). */
  after?: () => void;
}

export class JsonV1Unit extends SimulatedUnit {
  private readonly key: Buffer;
  private readonly topic: { presence: string; state: string; events: string; replies: string; commands: string };
  private seq: number;
  private buffer: BufferedEvent[] = [];
  /** seq → connection generation it was sent on, while waiting for the broker's ack. */
  private readonly inflight = new Map<number, number>();
  private generation = 0;
  private eventsFlowing = false;
  private readonly replies = new RecentMap<string, string>(CID_MEMORY);
  private clockOffset = 0;
  /** the last seq write to the non-volatile memory */
  private saving: Promise<void> = Promise.resolve();

  constructor(opts: SimOptions) {
    super(opts);
    if (!opts.key) throw new Error(`json-v1 unit ${opts.unit.id} needs a signing key`);
    this.key = opts.key;
    this.seq = opts.initialSeq ?? 0;
    const base = `lockers/${opts.unit.id}`;
    this.topic = {
      presence: `${base}/presence`,
      state: `${base}/state`,
      events: `${base}/events`,
      replies: `${base}/replies`,
      commands: `${base}/commands`,
    };
  }

  /** seq of the last event raised. */
  get lastSeq(): number {
    return this.seq;
  }

  /** Events waiting for the broker's acknowledgement (raised offline, or in flight). */
  get buffered(): number {
    return this.buffer.length;
  }

  protected override restoreMemory(): Promise<void> | null {
    const memory = this.opts.memory;
    if (!memory) return null;
    return memory.load().then((kept) => {
      if (kept.seq !== undefined && kept.seq > this.seq) this.seq = kept.seq;
      if (kept.buffer) this.buffer = kept.buffer.filter((e) => e.seq <= this.seq).slice(-(this.opts.bufferMax ?? BUFFER_MAX));
      for (const [cid, reply] of kept.replies ?? []) this.replies.set(cid, reply);
    });
  }

  protected override async persistMemory(): Promise<void> {
    await this.saving;
    await this.opts.memory?.save({ seq: this.seq, buffer: this.buffer, replies: this.replies.entries() });
  }

  private clock(): number {
    return this.now() + this.clockOffset;
  }

  protected linkConfig(): Omit<LinkConfig, 'password'> {
    const sn = this.unit.id;
    return {
      clientId: sn,
      username: sn,
      keepalive: 30,
      clean: false,
      will: { topic: this.topic.presence, payload: 'offline', qos: 1, retain: true },
      subscriptions: [{ topic: this.topic.commands, qos: 1 }],
    };
  }

  protected async afterConnect(): Promise<void> {
    const presence = this.send(this.topic.presence, 'online', { qos: 1, retain: true });
    this.eventsFlowing = true;
    this.pump();
    const state = this.publishState();
    await Promise.all([presence, state]);
  }

  protected override onLinkDown(): void {
    this.eventsFlowing = false;
    this.generation++;
    this.inflight.clear();
  }

  protected onBoot(reason: BootReason): void {
    this.resetPanel();
    this.raise('boot', { fw: JSON_V1_FIRMWARE, reason }, false);
  }

  protected beforeStop(): Promise<boolean> {
    return this.send(this.topic.presence, 'offline', { qos: 1, retain: true });
  }

  // ------------------------------------------------------------------ events and snapshot

  private raise(type: string, fields: Record<string, unknown>, changesCompartment: boolean): void {
    this.seq++;
    const memory = this.opts.memory;
    if (memory) {
      const seq = this.seq;
      this.saving = this.saving.then(() => memory.save({ seq })).catch((err: unknown) => this.log.error('seq not saved', { err }));
    }
    const ev = { id: `${this.unit.id}-${this.seq}`, seq: this.seq, ts: rfc3339(this.clock()), type, ...fields };
    this.buffer.push({ seq: this.seq, payload: JSON.stringify(ev) });
    if (this.buffer.length > (this.opts.bufferMax ?? BUFFER_MAX)) {
      const lost = this.buffer.shift();
      this.log.warn('event buffer full, oldest event dropped', { seq: lost?.seq });
    }
    this.pump();
    if (changesCompartment) void this.publishState();
  }

  /** Send every buffered event not already in flight, in seq order. */
  private pump(): void {
    if (!this.eventsFlowing) return;
    const gen = this.generation;
    for (const ev of this.buffer) {
      if (this.inflight.has(ev.seq)) continue;
      this.inflight.set(ev.seq, gen);
      void this.send(this.topic.events, ev.payload, { qos: 1 }).then((acked) => {
        if (this.inflight.get(ev.seq) === gen) this.inflight.delete(ev.seq);
        if (acked) this.buffer = this.buffer.filter((b) => b.seq !== ev.seq);
      });
    }
  }

  private publishState(): Promise<boolean> {
    if (!this.eventsFlowing) return Promise.resolve(false);
    const snapshot = {
      sn: this.unit.id,
      fw: JSON_V1_FIRMWARE,
      seq: this.seq,
      ts: rfc3339(this.clock()),
      compartments: this.unit.compartments.map((c) => {
        const d = this.door(c.no);
        return { no: c.no, size: c.size, door: d.open ? 'open' : 'closed', occupied: d.occupied, fault: d.fault };
      }),
    };
    return this.send(this.topic.state, JSON.stringify(snapshot), { qos: 1, retain: true });
  }

  protected reportDoor(no: number, d: DoorState): void {
    if (d.open) this.raise('door.opened', { no }, true);
    else this.raise('door.closed', { no, occupied: d.occupied }, true);
  }

  protected reportCode(code: string): void {
    this.raise('code.entered', { code }, false);
  }

  protected reportAlarm(kind: AlarmKind, no?: number): void {
    this.raise('alarm', no === undefined ? { kind } : { kind, no }, false);
  }

  protected override validateCode(code: string): void {
    if (!/^\d{6}$/.test(code)) throw new Error(`the json-v1 keypad takes exactly 6 digits, got ${JSON.stringify(code)}`);
  }

  // ------------------------------------------------------------------ commands

  protected handleMessage(topic: string, payload: Buffer): void {
    if (topic !== this.topic.commands) return;
    const raw = payload.toString('utf8');
    const cmd = parseObject(raw);
    const cid = cmd?.cid;
    if (!cmd || typeof cid !== 'string' || cid === '') {
      this.log.warn('command without a cid ignored (no reply possible)', { raw });
      this.emitCommand({ op: typeof cmd?.op === 'string' ? cmd.op : '?', result: 'unsupported', raw });
      return;
    }
    const { op, args, exp, sig } = cmd;
    const opName = typeof op === 'string' ? op : '?';
    const authentic =
      typeof op === 'string' &&
      isPlainObject(args) &&
      typeof exp === 'number' &&
      Number.isFinite(exp) &&
      typeof sig === 'string' &&
      safeEqual(sig, hmacHex(this.key, `${cid}|${op}|${exp}|${canonicalJson(args)}`));
    if (!authentic) {
      this.reply(cid, opName, 'bad_signature', raw, false);
      return;
    }
    const first = this.replies.get(cid);
    if (first !== undefined) {
      void this.send(this.topic.replies, first, { qos: 1 });
      const result = (JSON.parse(first) as { result: CommandResult }).result;
      this.emitCommand({ op: opName, result, raw, duplicate: true });
      return;
    }
    const outcome: Outcome = this.clock() / 1000 > exp ? { result: 'expired' } : this.execute(opName, args);
    this.reply(cid, opName, outcome.result, raw, true);
    outcome.after?.();
  }

  private execute(op: string, args: Record<string, unknown>): Outcome {
    switch (op) {
      case 'open': {
        const no = args.no;
        if (typeof no !== 'number') return { result: 'unsupported' };
        if (!this.hasCompartment(no)) return { result: 'unknown_compartment' };
        const hadFault = this.door(no).fault !== null;
        const release = this.releaseLock(no);
        if (release === 'jammed') return { result: 'jammed', after: () => this.raise('fault', { no, kind: 'jammed' }, true) };
        if (release === 'opened') return { result: 'done', after: () => this.raise('door.opened', { no }, true) };
        return { result: 'done', after: () => void (hadFault ? this.publishState() : undefined) };
      }
      case 'display': {
        const { text, seconds } = args;
        if (typeof text !== 'string' || typeof seconds !== 'number' || !(seconds >= 0)) return { result: 'unsupported' };
        if (charCount(text) > DISPLAY_MAX_CHARS) return { result: 'unsupported' };
        this.showText(text, seconds);
        return { result: 'done' };
      }
      case 'keypad': {
        if (typeof args.enabled !== 'boolean') return { result: 'unsupported' };
        this.keypadEnabled = args.enabled;
        return { result: 'done' };
      }
      case 'query':
        // "publish a fresh state snapshot": done once it is on its way, so the snapshot precedes the reply.
        void this.publishState();
        return { result: 'done' };
      case 'set_time': {
        if (typeof args.now !== 'number' || !Number.isFinite(args.now)) return { result: 'unsupported' };
        this.clockOffset = args.now - this.now();
        return { result: 'done' };
      }
      default:
        return { result: 'unsupported' };
    }
  }

  private reply(cid: string, op: string, result: CommandResult, raw: string, remember: boolean): void {
    const payload = JSON.stringify({ cid, ok: result === 'done', result, ts: rfc3339(this.clock()) });
    if (remember) this.replies.set(cid, payload);
    void this.send(this.topic.replies, payload, { qos: 1 });
    this.emitCommand({ op, result, raw });
  }
}
