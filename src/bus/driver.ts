import type { Config } from '../config/config.js';
import { codeHash, maskCode } from '../domain/codes.js';
import type { AlarmKind, CommandOp, CommandResult, FaultKind, Snapshot, UnitEvent, UnitProfile } from '../domain/model.js';
import type { Logger } from '../log.js';
import type { Counters } from '../metrics.js';
import type { Dedupe, LoggedEvent, UnitStore } from '../store/units.js';

export type DriverTimings = Pick<
  Config,
  | 'COMMAND_TTL_S'
  | 'HEARTBEAT_TIMEOUT_MS'
  | 'POLL_INTERVAL_MS'
  | 'BUS_TIMEOUT_MS'
  | 'SNAPSHOT_SETTLE_MS'
  | 'JSON_V1_SEQ_JUMP_MAX'
  | 'JSON_V1_SEQ_JUMP_PER_S'
  | 'COMMAND_CLOCK_SKEW_S'
>;

/** A notice to staff (the property's webhook) about a unit, sent at most once per id. */
export interface StaffAlert {
  /** deterministic: the same alert raised again is not sent again */
  id: string;
  kind: 'seq-suspect';
  params: Record<string, string | number>;
}

/** What a driver needs from the gateway. Built once per unit by the bus. */
export interface DriverContext {
  unit: UnitProfile;
  /** HMAC key for signing commands (json-v1, compact-v2); null where the dialect has none */
  key: Buffer | null;
  /** key for hashing pickup codes typed at the keypad */
  codeKey: Buffer;
  publish(topic: string, payload: string | Buffer, qos: 0 | 1, retain?: boolean): Promise<void>;
  store: UnitStore;
  /** every event that made it into the log (for live views and the parcel engine) */
  onEvent(e: LoggedEvent): void;
  /** a reply for a command this process is not waiting for (sent before a restart) */
  onLateReply(commandId: string, result: CommandResult): void;
  /** compact-v2: message ids for down messages, persisted across restarts */
  nextDownMsgId(): Promise<number>;
  rememberDownMsg(m: number, commandId: string): Promise<void>;
  lookupDownMsg(m: number): Promise<string | null>;
  /**
   * Reserve a place for a signed command in the unit's replay window (see BaseDriver.commandSlot). Returns 0 when
   * reserved, else how many ms to wait before a place can free up.
   */
  reserveCommandSlot(slot: { commandId: string; sensitive: boolean; limit: number; windowMs: number }): Promise<number>;
  /** tell staff (outbox notice to the property's webhook), once per alert id */
  alertStaff(alert: StaffAlert): Promise<void>;
  counters: Counters;
  logger: Logger;
  now(): number;
  timings: DriverTimings;
}

/**
 * The start of a dropped payload, for the log, with anything that could be a pickup code taken out: a dropped
 * keypad message must not put a valid code in the logs. Text: runs of 4+ digits masked. Binary (frame-485): the
 * 4 header bytes only (the data of a keypad frame is the typed code).
 */
export function redactedHead(payload: Buffer): string {
  const text = payload.subarray(0, 120).toString('utf8');
  // eslint-disable-next-line no-control-regex
  if (/^[\x09\x0a\x0d\x20-\x7e\u00a0-\uffff]*$/.test(text) && !text.includes('\ufffd')) return text.replace(/\d{4,}/g, (d) => '#'.repeat(d.length));
  return payload.subarray(0, 4).toString('hex') + (payload.length > 4 ? ' …' : '');
}

/** The event shapes the JSON dialects' codecs decode to. */
export type DeviceEvent =
  | { event: 'door-opened'; compartment: number }
  | { event: 'door-closed'; compartment: number; occupied: boolean }
  | { event: 'code-entered'; code: string }
  | { event: 'fault'; compartment: number; fault: FaultKind }
  | { event: 'alarm'; alarm: AlarmKind; compartment?: number }
  | { event: 'boot'; firmware: string; reason: string };

export interface OutgoingCommand {
  id: string;
  op: CommandOp;
}

export interface Driver {
  readonly unit: UnitProfile;
  /** topic filters to subscribe (QoS per dialect) */
  readonly subscriptions: { topic: string; qos: 0 | 1 }[];
  handle(topic: string, payload: Buffer): Promise<void>;
  /**
   * A message for this unit came in from the broker and waits its turn (handle() follows, in order): for a dialect
   * that times its unit's answers (frame-485), so that an answer already in is not taken for one never sent.
   */
  arrived?(topic: string): void;
  /** the gateway's broker connection came (back) up: re-sync what the dialect needs */
  brokerConnected(): Promise<void>;
  /** send and wait for the unit's result; 'timed_out' after timeoutMs */
  execute(cmd: OutgoingCommand, timeoutMs: number): Promise<CommandResult>;
  start(): void;
  stop(): Promise<void>;
}

/**
 * What every dialect shares: messages of one unit are handled one at a time and in order; anything that does
 * not decode is logged, counted and dropped; results are matched to waiting commands.
 */
export abstract class BaseDriver implements Driver {
  abstract readonly subscriptions: { topic: string; qos: 0 | 1 }[];
  private chain: Promise<void> = Promise.resolve();
  private readonly waiters = new Map<string, { resolve: (r: CommandResult) => void; timer: NodeJS.Timeout }>();
  protected readonly log: Logger;
  private readonly compartments: Set<number>;

  constructor(protected readonly ctx: DriverContext) {
    this.log = ctx.logger.child({ unit: ctx.unit.id, dialect: ctx.unit.dialect });
    this.compartments = new Set(ctx.unit.compartments.map((c) => c.no));
  }

  get unit(): UnitProfile {
    return this.ctx.unit;
  }

  /** Rejects when the message could not be handled (e.g. Redis is down), so it is not acknowledged to the broker. */
  handle(topic: string, payload: Buffer): Promise<void> {
    return this.enqueue(topic, () => this.process(topic, payload), true);
  }

  /**
   * Run `fn` on this unit's queue, after everything already queued. A failure never stops the queue; it is logged,
   * and passed on to the caller only when asked (`rethrow`).
   */
  protected enqueue(what: string, fn: () => Promise<void>, rethrow = false): Promise<void> {
    const run = this.chain.then(fn);
    this.chain = run.catch((err: unknown) => {
      this.ctx.counters.inc('lg_handler_errors_total', { unit: this.unit.id });
      this.log.error('message handling failed', { what, err });
    });
    return rethrow ? run : this.chain;
  }

  protected abstract process(topic: string, payload: Buffer): Promise<void>;
  abstract brokerConnected(): Promise<void>;
  abstract execute(cmd: OutgoingCommand, timeoutMs: number): Promise<CommandResult>;
  start(): void {}

  async stop(): Promise<void> {
    for (const [key, w] of this.waiters) {
      clearTimeout(w.timer);
      w.resolve('timed_out');
      this.waiters.delete(key);
    }
    await this.chain;
  }

  protected malformed(topic: string, reason: string, payload?: Buffer): void {
    this.ctx.counters.inc('lg_malformed_total', { unit: this.unit.id, dialect: this.unit.dialect });
    this.log.warn('malformed payload dropped', { topic, reason, bytes: payload?.length, head: payload ? redactedHead(payload) : undefined });
  }

  protected knownCompartment(no: number | undefined): boolean {
    return no === undefined || this.compartments.has(no);
  }

  /**
   * A decoded device event (json-v1 and compact-v2 name their fields alike) as a canonical event. Returns null,
   * after counting it as malformed, when it names a compartment the unit does not have.
   */
  protected toUnitEvent(msg: DeviceEvent, at: number, source: UnitEvent['source'], topic: string, payload: Buffer): UnitEvent | null {
    const base = { unit: this.unit.id, at, source };
    let event: UnitEvent;
    switch (msg.event) {
      case 'door-opened':
        event = { ...base, kind: 'door-opened', compartment: msg.compartment };
        break;
      case 'door-closed':
        event = { ...base, kind: 'door-closed', compartment: msg.compartment, occupied: msg.occupied };
        break;
      case 'code-entered':
        event = this.codeEvent(msg.code, at, source);
        break;
      case 'fault':
        event = { ...base, kind: 'fault', compartment: msg.compartment, fault: msg.fault };
        break;
      case 'alarm':
        event = { ...base, kind: 'alarm', alarm: msg.alarm, ...(msg.compartment ? { compartment: msg.compartment } : {}) };
        break;
      case 'boot':
        event = { ...base, kind: 'boot', firmware: msg.firmware, reason: msg.reason };
        break;
    }
    if ('compartment' in event && !this.knownCompartment(event.compartment)) {
      this.malformed(topic, `unit has no compartment ${event.compartment}`, payload);
      return null;
    }
    return event;
  }

  /** Turn a typed code into its logged form (masked + keyed hash). */
  protected codeEvent(code: string, at: number, source: UnitEvent['source']): UnitEvent {
    return {
      unit: this.unit.id,
      at,
      source,
      kind: 'code-entered',
      code: maskCode(code),
      codeHash: codeHash(this.ctx.codeKey, this.unit.id, code),
    };
  }

  protected async emit(event: UnitEvent, dedupe?: Dedupe): Promise<boolean> {
    const res = await this.ctx.store.apply(event, dedupe, this.ctx.now());
    if (res.status === 'suspect') {
      await this.suspectSeq(event.source.seq ?? NaN, res.lastSeq, event.kind);
      return false;
    }
    if (res.status === 'dup') {
      this.ctx.counters.inc('lg_duplicates_total', { unit: this.unit.id });
      this.log.debug('duplicate dropped', { kind: event.kind, source: event.source });
      return false;
    }
    if (res.status === 'ok') this.ctx.onEvent({ streamId: res.streamId, event });
    return true;
  }

  protected async reconcile(snap: Snapshot, dedupe?: Dedupe): Promise<boolean> {
    const inferred = await this.ctx.store.reconcile(snap, dedupe, this.ctx.now());
    if (inferred === null) {
      this.ctx.counters.inc('lg_duplicates_total', { unit: this.unit.id });
      return false;
    }
    if (inferred.length) {
      this.ctx.counters.inc('lg_reconciled_events_total', { unit: this.unit.id }, inferred.length);
      this.log.info('reconciled state with the unit', { inferred: inferred.map((e) => e.event.kind) });
    }
    for (const e of inferred) this.ctx.onEvent(e);
    return true;
  }

  /**
   * A seq impossibly far ahead of the watermark (a corrupted counter would otherwise become the watermark and every
   * real event after it would be dropped as a repeat): not applied; logged, counted, and staff are told once per
   * watermark. If the unit's counter really jumped (a replaced controller), staff reset the watermark.
   */
  protected async suspectSeq(seq: number, lastSeq: number, what: string): Promise<void> {
    this.ctx.counters.inc('lg_seq_suspect_total', { unit: this.unit.id });
    this.log.warn('impossible seq jump: message ignored, watermark kept', { seq, lastSeq, what });
    const { zh, en } = this.unit.siteName;
    await this.ctx.alertStaff({
      id: `${this.unit.id}.seq-suspect.${lastSeq}`,
      kind: 'seq-suspect',
      params: { unit: this.unit.id, siteZh: zh, siteEn: en, seq: String(seq), lastSeq: String(lastSeq) },
    });
  }

  protected async presence(online: boolean, reason: string): Promise<void> {
    await this.emit({ unit: this.unit.id, at: this.ctx.now(), source: {}, kind: 'presence', online, reason });
  }

  /** Wait for the result keyed `key` (cid, message id, bus request). */
  protected waitFor(key: string, timeoutMs: number): Promise<CommandResult> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(key);
        resolve('timed_out');
      }, timeoutMs);
      this.waiters.set(key, { resolve, timer });
    });
  }

  /** Returns false when nobody in this process was waiting. */
  protected settle(key: string, result: CommandResult): boolean {
    const w = this.waiters.get(key);
    if (!w) return false;
    clearTimeout(w.timer);
    this.waiters.delete(key);
    w.resolve(result);
    return true;
  }

  /**
   * A signed command must never outlive the unit's memory of it. The unit remembers its last `memory` command ids
   * (json-v1 256, compact-v2 64) and refuses a remembered one; a command is valid until its expiry, COMMAND_TTL_S
   * after sending by our clock, and up to COMMAND_CLOCK_SKEW_S longer by a unit whose clock lags. If `memory` more
   * commands reached the unit within that time, a captured command would be forgotten while still valid and could
   * be replayed. So while a door or keypad command is still valid, fewer than `memory` commands (less a margin for
   * sends racing each other) may follow it; a further command waits until that one has expired, or gives up with
   * `busy` when that is later than its timeout. Screen texts and status requests are harmless to replay, but they
   * use up the unit's memory all the same, so they count. The window lives in Redis: restarts and several gateway
   * instances share it.
   */
  protected async commandSlot(cmd: OutgoingCommand, memory: number, deadline: number): Promise<boolean> {
    const windowMs = (this.ctx.timings.COMMAND_TTL_S + this.ctx.timings.COMMAND_CLOCK_SKEW_S) * 1000;
    const sensitive = cmd.op.op === 'open' || cmd.op.op === 'keypad';
    const limit = memory - Math.max(2, Math.floor(memory / 32));
    for (;;) {
      const waitMs = await this.ctx.reserveCommandSlot({ commandId: cmd.id, sensitive, limit, windowMs });
      if (waitMs <= 0) return true;
      if (this.ctx.now() + waitMs > deadline) {
        this.ctx.counters.inc('lg_command_throttled_total', { unit: this.unit.id });
        this.log.warn('signed command not sent: the unit could forget a still valid command (replay guard)', {
          id: cmd.id,
          op: cmd.op.op,
          waitMs,
        });
        return false;
      }
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
  }

  protected expiry(): number {
    return Math.floor(this.ctx.now() / 1000) + this.ctx.timings.COMMAND_TTL_S;
  }
}
