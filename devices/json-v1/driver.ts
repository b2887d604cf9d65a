import { BaseDriver, type DriverContext, type OutgoingCommand } from '../../src/bus/driver.js';
import type { CommandResult, Snapshot } from '../../src/domain/model.js';
import { decodeJsonV1, encodeJsonV1Command, jsonV1Topics, type JsonV1Command, type JsonV1Message } from './codec.js';

type EventMessage = Extract<JsonV1Message, { kind: 'event' }>;

/** The unit remembers its last 256 command ids (shared/protocol/json-v1.md). */
const CID_MEMORY = 256;

/**
 * A seq impossibly far ahead of the watermark: more than `max` ahead, plus `perSecond` for every second since the
 * watermark last moved. A real unit replaying its backlog after a long disconnect stays within it (it raised those
 * events in the time it was away); a corrupted counter (9007199254740991) does not. Mirrors the check the store
 * makes atomically for events (src/store/lua.ts, DEDUPE); this one is for snapshots. No watermark yet: no baseline.
 */
export function seqJumpSuspect(
  seq: number,
  watermark: { seq: number; movedAt: number | null },
  now: number,
  limit: { max: number; perSecond: number },
): boolean {
  if (watermark.seq < 0) return false;
  const elapsedS = Math.max(0, now - (watermark.movedAt ?? now)) / 1000;
  return seq - watermark.seq > limit.max + elapsedS * limit.perSecond;
}
type StateMessage = Extract<JsonV1Message, { kind: 'state' }>;

/**
 * json-v1 (LSN-0001): retained presence + last will, events with id/seq (QoS 1: repeats dropped by seq, buffered
 * events replayed in seq order after a reconnect), retained snapshots reconciled once the events they include have
 * been applied, signed commands answered by command id.
 */
export class JsonV1Driver extends BaseDriver {
  readonly subscriptions: { topic: string; qos: 0 | 1 }[];
  /** a snapshot that is ahead of the events applied so far: reconciled when they catch up, or after a settle time */
  private pendingSnapshot: StateMessage | null = null;
  private settleTimer: NodeJS.Timeout | null = null;

  constructor(ctx: DriverContext) {
    super(ctx);
    const sn = ctx.unit.id;
    this.subscriptions = [
      { topic: jsonV1Topics.presence(sn), qos: 1 },
      { topic: jsonV1Topics.state(sn), qos: 1 },
      { topic: jsonV1Topics.events(sn), qos: 1 },
      { topic: jsonV1Topics.replies(sn), qos: 1 },
    ];
    if (!ctx.key) throw new Error(`json-v1 unit ${sn} needs a signing key (credentials.units.${sn}.keyHex)`);
  }

  protected async process(topic: string, payload: Buffer): Promise<void> {
    const decoded = decodeJsonV1(topic, payload);
    if (!decoded.ok) return this.malformed(topic, decoded.reason, payload);
    const msg = decoded.message;
    if (msg.unit !== this.unit.id) return this.malformed(topic, `message for unit ${msg.unit}`, payload);
    switch (msg.kind) {
      case 'presence':
        return this.presence(msg.online, msg.online ? 'presence' : 'last-will');
      case 'reply':
        return this.reply(msg.commandId, msg.result);
      case 'state':
        return this.snapshot(msg, topic, payload);
      case 'event':
        return this.event(msg, topic, payload);
    }
  }

  private reply(cid: string, result: CommandResult): void {
    if (!this.settle(cid, result)) this.ctx.onLateReply(cid, result);
  }

  private async event(msg: EventMessage, topic: string, payload: Buffer): Promise<void> {
    const event = this.toUnitEvent(msg, Date.parse(msg.at), { seq: msg.seq, id: msg.id }, topic, payload);
    if (!event) return;
    await this.emit(event, { mode: 'seq', seq: msg.seq, jump: this.jumpLimit() });
    if (this.pendingSnapshot && msg.seq >= this.pendingSnapshot.seq) await this.flushSnapshot();
  }

  private async snapshot(msg: StateMessage, topic: string, payload: Buffer): Promise<void> {
    if (msg.compartments.some((c) => !this.knownCompartment(c.compartment))) {
      return this.malformed(topic, 'snapshot names a compartment the unit does not have', payload);
    }
    const watermark = await this.ctx.store.seqWatermark(this.unit.id);
    if (seqJumpSuspect(msg.seq, watermark, this.ctx.now(), this.jumpLimit())) {
      // A snapshot claiming to include events that cannot exist is not a reading to trust either.
      return this.suspectSeq(msg.seq, watermark.seq, 'snapshot');
    }
    await this.ctx.store.touch(this.unit.id, this.ctx.now(), { firmware: msg.firmware });
    if (msg.seq > watermark.seq) {
      // Events up to msg.seq are still on their way (replay after reconnect): reconciling now would log as
      // "inferred" what the real events will report with their own times and ids.
      this.pendingSnapshot = msg;
      if (this.settleTimer) clearTimeout(this.settleTimer);
      this.settleTimer = setTimeout(() => {
        void this.enqueue('snapshot-settle', () => this.flushSnapshot());
      }, this.ctx.timings.SNAPSHOT_SETTLE_MS);
      return;
    }
    this.pendingSnapshot = msg;
    await this.flushSnapshot();
  }

  private jumpLimit(): { max: number; perSecond: number } {
    return { max: this.ctx.timings.JSON_V1_SEQ_JUMP_MAX, perSecond: this.ctx.timings.JSON_V1_SEQ_JUMP_PER_S };
  }

  private async flushSnapshot(): Promise<void> {
    const msg = this.pendingSnapshot;
    this.pendingSnapshot = null;
    if (this.settleTimer) clearTimeout(this.settleTimer);
    this.settleTimer = null;
    if (!msg) return;
    const snap: Snapshot = {
      unit: this.unit.id,
      at: Date.parse(msg.at),
      firmware: msg.firmware,
      source: { seq: msg.seq },
      compartments: msg.compartments.map((c) => ({
        compartment: c.compartment,
        doorOpen: c.doorOpen,
        occupied: c.occupied,
        fault: c.fault,
      })),
    };
    await this.reconcile(snap);
  }

  async brokerConnected(): Promise<void> {
    // Retained presence and snapshot arrive with the subscription; nothing to ask for.
  }

  async execute(cmd: OutgoingCommand, timeoutMs: number): Promise<CommandResult> {
    const wire = toWire(cmd);
    if (!wire) return 'unsupported';
    const deadline = this.ctx.now() + timeoutMs;
    if (!(await this.commandSlot(cmd, CID_MEMORY, deadline))) return 'busy';
    const { topic, payload } = encodeJsonV1Command(this.unit.id, this.ctx.key!, { cid: cmd.id, ...wire, exp: this.expiry() });
    const result = this.waitFor(cmd.id, Math.max(1, deadline - this.ctx.now()));
    await this.ctx.publish(topic, payload, 1);
    return result;
  }

  override async stop(): Promise<void> {
    if (this.settleTimer) clearTimeout(this.settleTimer);
    await super.stop();
  }
}

function toWire(cmd: OutgoingCommand): Pick<JsonV1Command, 'op' | 'args'> | null {
  const op = cmd.op;
  switch (op.op) {
    case 'open':
      return { op: 'open', args: { no: op.compartment } };
    case 'display':
      return { op: 'display', args: { text: op.text, seconds: op.seconds } };
    case 'keypad':
      return { op: 'keypad', args: { enabled: op.enabled } };
    case 'status':
      return { op: 'query', args: {} };
  }
}
