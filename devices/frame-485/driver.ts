import { performance } from 'node:perf_hooks';
import { BaseDriver, type DriverContext, type OutgoingCommand } from '../../src/bus/driver.js';
import type { CommandResult, CompartmentReading, UnitEvent } from '../../src/domain/model.js';
import { FRAME485_BOARDS, LOCKS_PER_BOARD } from '../units.js';
import {
  CMD,
  FrameReader,
  encodeDisplay,
  encodeOpen,
  encodeStatusQuery,
  frame485Topics,
  interpretFrame,
  toHex,
  type Frame485Message,
  type RawFrame,
} from './codec.js';

/** `02 0f 3a 07 ** ** ** ** ** ** ** 1f 03`: the frame with its data bytes hidden. */
function maskedFrame(raw: Buffer): string {
  const hex = toHex(raw).split(' ');
  for (let i = 4; i < hex.length - 2; i++) hex[i] = '**';
  return hex.join(' ');
}

/** Where in each POLL_INTERVAL_MS a unit's interval poll falls: spread by a hash of its id (FNV-1a), stable per unit. */
export function pollPhase(unitId: string, everyMs: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < unitId.length; i++) h = Math.imul(h ^ unitId.charCodeAt(i), 0x01000193);
  return (h >>> 0) % Math.max(1, everyMs);
}

/** how many BUS_TIMEOUT_MS a request may wait in all while the DTU's bytes are in but not handled yet */
const MAX_WAIT_ROUNDS = 10;

type Answer = { msg: Frame485Message; frame: RawFrame } | null;

interface BusRequest {
  board: number;
  cmd: number;
  frame: Buffer;
  what: string;
  resolve: (a: Answer) => void;
}

/**
 * frame-485 (861234567890123): an RS-485 bus behind a transparent 4G DTU. Bytes arrive cut anywhere (reassembled
 * by FrameReader), unsolicited reports travel at QoS 0 and can be lost, so the boards are polled (every
 * POLL_INTERVAL_MS and right after the DTU comes back) and their status reconciled. Half duplex: one request in
 * flight, 500 ms to answer. An `open` that got no answer is never repeated: the board's status says what happened.
 * The keypad board has no enable/disable command: the gateway enforces the keypad state itself.
 */
export class Frame485Driver extends BaseDriver {
  readonly subscriptions: { topic: string; qos: 0 | 1 }[];
  private readonly reader = new FrameReader();
  private readonly queue: BusRequest[] = [];
  private inFlight: (BusRequest & { timer: NodeJS.Timeout }) | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private online = false;
  private keypadEnabled = true;
  /** messages from the DTU that came in and are not handled yet (an answer may be among them) */
  private unread = 0;
  private readonly rxTopic: string;

  constructor(ctx: DriverContext) {
    super(ctx);
    const imei = ctx.unit.id;
    this.rxTopic = frame485Topics.rx(imei);
    this.subscriptions = [
      { topic: frame485Topics.rx(imei), qos: 0 },
      { topic: frame485Topics.state(imei), qos: 1 },
    ];
  }

  override start(): void {
    // The boards have no keypad switch: the gateway keeps it, and a restart must not forget a disabled keypad.
    this.ctx.store.unit(this.unit.id).then(
      (u) => {
        if (u) this.keypadEnabled = u.keypad === 'enabled';
      },
      (err: unknown) => this.log.warn('keypad state not read', { err }),
    );
    // Every unit polls every POLL_INTERVAL_MS, each at a phase of its own (from its id): started together, a
    // fleet's units would otherwise all poll at the same instant, and a gateway busy with hundreds of answers at
    // once let some wait past BUS_TIMEOUT_MS ("board did not answer"). A DTU coming back is still polled at once.
    const every = this.ctx.timings.POLL_INTERVAL_MS;
    const tick = () => {
      if (this.online) void this.pollAll('interval');
    };
    this.pollTimer = setTimeout(() => {
      tick();
      this.pollTimer = setInterval(tick, every);
      this.pollTimer.unref();
    }, pollPhase(this.unit.id, every));
    this.pollTimer.unref();
  }

  override async stop(): Promise<void> {
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pollTimer = null;
    this.failAll();
    await super.stop();
  }

  /** bytes from the DTU came in (the intake queues them for handle()) */
  arrived(topic: string): void {
    if (topic === this.rxTopic) this.unread++;
  }

  override handle(topic: string, payload: Buffer): Promise<void> {
    if (topic !== this.rxTopic) return super.handle(topic, payload);
    return super.handle(topic, payload).finally(() => (this.unread = Math.max(0, this.unread - 1)));
  }

  protected async process(topic: string, payload: Buffer): Promise<void> {
    const parsed = frame485Topics.parse(topic);
    if (!parsed || parsed.imei !== this.unit.id) return this.malformed(topic, 'unexpected topic', payload);
    if (parsed.leaf === 'state') return this.dtuState(topic, payload);
    if (parsed.leaf !== 'rx') return this.malformed(topic, 'unexpected topic', payload);
    await this.ctx.store.touch(this.unit.id, this.ctx.now());
    const { frames, dropped, noiseBytes } = this.reader.push(payload);
    if (noiseBytes) this.ctx.counters.inc('lg_line_noise_bytes_total', { unit: this.unit.id }, noiseBytes);
    for (const d of dropped) this.malformed(topic, 'frame with bad BCC or ETX', d);
    for (const frame of frames) await this.frame(topic, frame);
  }

  private async dtuState(topic: string, payload: Buffer): Promise<void> {
    const s = payload.toString('utf8');
    if (s !== '0' && s !== '1') return this.malformed(topic, 'DTU state must be 0 or 1', payload);
    const online = s === '1';
    this.online = online;
    this.reader.reset();
    await this.presence(online, online ? 'dtu-state' : 'dtu-last-will');
    if (online) void this.pollAll('dtu-online');
    else this.failAll();
  }

  private async frame(topic: string, frame: RawFrame): Promise<void> {
    const decoded = interpretFrame(frame, 'from-board');
    if (!decoded.ok) return this.malformed(topic, decoded.reason, frame.raw);
    const msg = decoded.message;
    const req = this.inFlight;
    if (req && req.board === frame.addr && req.cmd === frame.cmd && msg.command !== 'change' && msg.command !== 'keypad') {
      clearTimeout(req.timer);
      try {
        // Applied here, in line, while the bus is still ours: a change report behind the answer in the same DTU
        // message is newer than the reading and must be applied after it.
        if (msg.command === 'status') await this.reconcileStatus(frame.addr, msg, frame);
      } finally {
        if (this.inFlight === req) {
          this.inFlight = null;
          req.resolve({ msg, frame });
          this.next();
        }
      }
      return;
    }
    const at = this.ctx.now();
    // A keypad frame's data is the typed code: the log keeps its header and length, never the digits.
    const source = { frame: msg.command === 'keypad' ? maskedFrame(frame.raw) : toHex(frame.raw) };
    let event: UnitEvent;
    if (msg.command === 'change') {
      if (!this.knownCompartment(msg.compartment)) return this.malformed(topic, `no compartment ${msg.compartment}`, frame.raw);
      event = msg.doorOpen
        ? { unit: this.unit.id, at, source, kind: 'door-opened', compartment: msg.compartment }
        : { unit: this.unit.id, at, source, kind: 'door-closed', compartment: msg.compartment, occupied: msg.occupied };
    } else if (msg.command === 'keypad') {
      if (!this.keypadEnabled) {
        this.ctx.counters.inc('lg_keypad_ignored_total', { unit: this.unit.id });
        return;
      }
      event = this.codeEvent(msg.code, at, source);
    } else {
      // An answer nobody is waiting for (it came after its 500 ms): the poll will tell the truth.
      this.ctx.counters.inc('lg_late_answers_total', { unit: this.unit.id });
      return;
    }
    await this.emit(event);
  }

  // ---- the bus: one request in flight ----

  private request(board: number, cmd: number, frame: Buffer, what: string): Promise<Answer> {
    return new Promise((resolve) => {
      if (!this.online) return resolve(null);
      this.queue.push({ board, cmd, frame, what, resolve });
      if (!this.inFlight) this.next();
    });
  }

  private next(): void {
    const req = this.queue.shift();
    if (!req) return;
    const timeoutMs = this.ctx.timings.BUS_TIMEOUT_MS;
    const sentAt = performance.now();
    const arm = (round: number): NodeJS.Timeout => {
      const timer = setTimeout(() => {
        if (this.inFlight?.timer !== timer) return;
        // The gateway, not the board, may be the late one: the DTU's bytes are in and wait their turn (a busy
        // gateway: a fleet connecting), or its event loop was held up (the timer fires late, ahead of the socket
        // reads that came due meanwhile). Then it waits on, BUS_TIMEOUT_MS at a time (at most 10 in all), before
        // the board is said not to have answered.
        const late = round === 0 && performance.now() - sentAt > 1.5 * timeoutMs;
        if (round < MAX_WAIT_ROUNDS - 1 && (this.unread > 0 || late)) {
          this.inFlight.timer = arm(round + 1);
          return;
        }
        this.inFlight = null;
        this.ctx.counters.inc('lg_bus_timeouts_total', { unit: this.unit.id, board: String(req.board) });
        this.log.warn('board did not answer', { board: req.board, what: req.what });
        req.resolve(null);
        this.next();
      }, timeoutMs);
      return timer;
    };
    this.inFlight = { ...req, timer: arm(0) };
    this.ctx.publish(frame485Topics.tx(this.unit.id), req.frame, 0).catch((err: unknown) => {
      this.log.error('publish to DTU failed', { err });
    });
  }

  private failAll(): void {
    if (this.inFlight) {
      clearTimeout(this.inFlight.timer);
      this.inFlight.resolve(null);
      this.inFlight = null;
    }
    for (const r of this.queue.splice(0)) r.resolve(null);
  }

  // ---- polling and reconciliation ----

  /** The poll under way per board. A caller that finds one waits for its answer rather than taking it as done. */
  private polling = new Map<number, Promise<boolean>>();

  private poll(board: number, why: string): Promise<boolean> {
    const running = this.polling.get(board);
    if (running) return running;
    const p = this.pollOnce(board, why).finally(() => {
      if (this.polling.get(board) === p) this.polling.delete(board);
    });
    this.polling.set(board, p);
    return p;
  }

  private async pollOnce(board: number, why: string): Promise<boolean> {
    const answer = await this.request(board, CMD.status, encodeStatusQuery(board), `status (${why})`);
    // The reading was reconciled by frame(), on the unit's queue, in the order the bytes arrived.
    return answer?.msg.command === 'status';
  }

  private async reconcileStatus(board: number, msg: Extract<Frame485Message, { command: 'status' }>, frame: RawFrame): Promise<void> {
    const { openLocks, occupiedLocks } = msg;
    const first = (board - 1) * LOCKS_PER_BOARD;
    const readings: CompartmentReading[] = [];
    for (let lock = 1; lock <= LOCKS_PER_BOARD; lock++) {
      const compartment = first + lock;
      if (!this.knownCompartment(compartment)) continue;
      readings.push({ compartment, doorOpen: openLocks.includes(lock), occupied: occupiedLocks.includes(lock) });
    }
    await this.reconcile({ unit: this.unit.id, at: this.ctx.now(), compartments: readings, source: { frame: toHex(frame.raw) } });
  }

  private async pollAll(why: string): Promise<boolean> {
    const results = await Promise.all(FRAME485_BOARDS.map((b) => this.poll(b, why)));
    return results.every(Boolean);
  }

  async brokerConnected(): Promise<void> {
    // The retained DTU state arrives with the subscription and triggers a poll.
    this.reader.reset();
  }

  async execute(cmd: OutgoingCommand, _timeoutMs: number): Promise<CommandResult> {
    const op = cmd.op;
    switch (op.op) {
      case 'status':
        return (await this.pollAll('command')) ? 'done' : 'timed_out';
      case 'keypad':
        this.keypadEnabled = op.enabled;
        return 'done';
      case 'display': {
        const a = await this.request(0x0f, CMD.display, encodeDisplay(op.seconds, op.ascii ?? op.text), 'display');
        return a ? 'done' : 'timed_out';
      }
      case 'open':
        return this.open(op.compartment);
    }
  }

  private async open(compartment: number): Promise<CommandResult> {
    if (!this.knownCompartment(compartment)) return 'unknown_compartment';
    const { board, lock, frame } = encodeOpen(compartment);
    const a = await this.request(board, CMD.open, frame, `open ${compartment}`);
    if (a?.msg.command === 'open-result') {
      if (a.msg.result === 'opened') return 'done';
      if (a.msg.result === 'no_such_lock') return 'unknown_compartment';
      await this.enqueue('fault', () =>
        this.emit({ unit: this.unit.id, at: this.ctx.now(), source: { frame: toHex(a.frame.raw) }, kind: 'fault', compartment, fault: 'jammed' }).then(() => undefined),
      );
      return 'jammed';
    }
    // No answer: never open again blindly. Ask the board; an open door means the lock did release.
    if (!(await this.poll(board, `after unanswered open of lock ${lock}`))) return 'timed_out';
    const state = await this.ctx.store.unit(this.unit.id);
    const door = state?.compartments.find((c) => c.no === compartment);
    return door?.doorOpen ? 'done' : 'timed_out';
  }
}
