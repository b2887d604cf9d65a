import { BaseDriver, type DriverContext, type OutgoingCommand } from '../../src/bus/driver.js';
import type { CommandResult } from '../../src/domain/model.js';
import {
  compactV2Topics,
  decodeCompactV2,
  encodeCompactV2Down,
  type CompactV2Down,
  type CompactV2Message,
} from './codec.js';

type EventMessage = Extract<CompactV2Message, { kind: 'event' }>;
type StateMessage = Extract<CompactV2Message, { kind: 'state' }>;

/** The unit answers a repeated m within its last 64 again instead of carrying it out (shared/protocol/compact-v2.md). */
const M_MEMORY = 64;

/**
 * compact-v2 (a4c138f0e2d1): everything on one up topic; heartbeats every 30 s and offline after 90 s of silence
 * or on the last will; the last 64 message ids dropped as repeats (a status with m = 1 after a reboot starts a new
 * window); the unit keeps nothing while away, so every reconnect is followed by a status request and reconciliation.
 */
export class CompactV2Driver extends BaseDriver {
  readonly subscriptions: { topic: string; qos: 0 | 1 }[];
  private online: boolean | null = null;
  private lastMessageAt = 0;
  private watchdog: NodeJS.Timeout | null = null;

  constructor(ctx: DriverContext) {
    super(ctx);
    this.subscriptions = [{ topic: compactV2Topics.up(ctx.unit.id), qos: 1 }];
    if (!ctx.key) throw new Error(`compact-v2 unit ${ctx.unit.id} needs a signing key (credentials.units.${ctx.unit.id}.keyHex)`);
  }

  override start(): void {
    // Check often enough that "offline after 90 s" is late by at most a few seconds.
    const every = Math.max(50, Math.min(5_000, Math.floor(this.ctx.timings.HEARTBEAT_TIMEOUT_MS / 10)));
    this.watchdog = setInterval(() => void this.enqueue('heartbeat-watchdog', () => this.checkSilence()), every);
    this.watchdog.unref();
  }

  override async stop(): Promise<void> {
    if (this.watchdog) clearInterval(this.watchdog);
    await super.stop();
  }

  private async checkSilence(): Promise<void> {
    if (this.online === null) {
      this.online = await this.ctx.store.isOnline(this.unit.id);
      this.lastMessageAt = (await this.ctx.store.lastSeen(this.unit.id)) ?? 0;
    }
    if (this.online && this.ctx.now() - this.lastMessageAt > this.ctx.timings.HEARTBEAT_TIMEOUT_MS) {
      await this.presence(false, 'heartbeat-timeout');
      this.online = false;
    }
  }

  protected async process(topic: string, payload: Buffer): Promise<void> {
    const decoded = decodeCompactV2(topic, payload);
    if (!decoded.ok) return this.malformed(topic, decoded.reason, payload);
    const msg = decoded.message;
    if (msg.unit !== this.unit.id) return this.malformed(topic, `message for unit ${msg.unit}`, payload);
    // Checked before the presence logic below: a message dropped as malformed must not bring the unit online (a
    // logged presence event) nor make the gateway ask it for status.
    if (msg.kind === 'state' && msg.boxes !== this.unit.compartments.length) {
      return this.malformed(topic, `status reports ${msg.boxes} boxes, unit has ${this.unit.compartments.length}`, payload);
    }
    if (msg.kind === 'event' && 'compartment' in msg && !this.knownCompartment(msg.compartment)) {
      return this.malformed(topic, `unit has no box ${msg.compartment}`, payload);
    }
    // What this driver believes about presence changes only once the store has it: a presence that could not be
    // written (Redis down) is written again with the message's redelivery, or with the next heartbeat. (Set first,
    // a failed write left the unit offline in the store while its heartbeats kept coming: deposits refused
    // unit_offline for minutes, seen in the soak.)
    if (msg.kind === 'presence') {
      await this.presence(false, 'last-will');
      this.online = false;
      return;
    }
    this.lastMessageAt = this.ctx.now();
    if (this.online !== true) {
      // First word after being away: it is back, and whatever happened meanwhile was never reported.
      await this.presence(true, 'message');
      this.online = true;
      if (msg.kind !== 'state') this.requestStatus('reconnect');
    }
    switch (msg.kind) {
      case 'heartbeat':
        return this.ctx.store.touch(this.unit.id, this.ctx.now(), { rssi: msg.rssi });
      case 'reply':
        return this.reply(msg.commandMsgId, msg.result);
      case 'state':
        return this.status(msg, topic, payload);
      case 'event':
        return this.event(msg, topic, payload);
    }
  }

  private async reply(m: number, result: CommandResult): Promise<void> {
    if (this.settle(`m:${m}`, result)) return;
    const commandId = await this.ctx.lookupDownMsg(m);
    if (commandId) this.ctx.onLateReply(commandId, result);
  }

  private async status(msg: StateMessage, topic: string, payload: Buffer): Promise<void> {
    if (msg.boxes !== this.unit.compartments.length) {
      return this.malformed(topic, `status reports ${msg.boxes} boxes, unit has ${this.unit.compartments.length}`, payload);
    }
    const open = new Set(msg.openDoors);
    const occ = new Set(msg.occupied);
    await this.reconcile(
      {
        unit: this.unit.id,
        at: this.ctx.now(),
        firmware: msg.firmware,
        source: { msgId: msg.msgId },
        compartments: this.unit.compartments.map(({ no }) => ({ compartment: no, doorOpen: open.has(no), occupied: occ.has(no) })),
      },
      { mode: 'window', msgId: msg.msgId, reset: msg.msgId === 1 },
    );
  }

  private async event(msg: EventMessage, topic: string, payload: Buffer): Promise<void> {
    const event = this.toUnitEvent(msg, this.ctx.now(), { msgId: msg.msgId }, topic, payload);
    if (event) await this.emit(event, { mode: 'window', msgId: msg.msgId });
  }

  private requestStatus(why: string): void {
    this.execute({ id: `status-${why}-${this.ctx.now()}`, op: { op: 'status' } }, this.ctx.timings.COMMAND_TTL_S * 1000).then(
      (r) => {
        // Not answered: it is away; its next message counts as a reconnect and asks again.
        if (r !== 'done') this.log.info('status request not answered', { why, result: r });
      },
      (err: unknown) => this.log.error('status request failed', { why, err }),
    );
  }

  async brokerConnected(): Promise<void> {
    // We may have missed anything while our own connection was down. A unit that is away cannot answer (its
    // session is clean): it is asked when its next message shows it is back.
    if (await this.ctx.store.isOnline(this.unit.id)) this.requestStatus('gateway-reconnect');
  }

  async execute(cmd: OutgoingCommand, timeoutMs: number): Promise<CommandResult> {
    const down = toWire(cmd);
    if (!down) return 'unsupported';
    const deadline = this.ctx.now() + timeoutMs;
    if (!(await this.commandSlot(cmd, M_MEMORY, deadline))) return 'busy';
    const m = await this.ctx.nextDownMsgId();
    await this.ctx.rememberDownMsg(m, cmd.id);
    const { topic, payload } = encodeCompactV2Down(this.unit.id, this.ctx.key!, { ...down, m, e: this.expiry() });
    const result = this.waitFor(`m:${m}`, Math.max(1, deadline - this.ctx.now()));
    await this.ctx.publish(topic, payload, 1);
    return result;
  }
}

function toWire(cmd: OutgoingCommand): Pick<CompactV2Down, 't' | 'd'> | null {
  const op = cmd.op;
  switch (op.op) {
    case 'open':
      return { t: 101, d: { b: op.compartment } };
    case 'status':
      return { t: 102, d: {} };
    case 'display':
      return { t: 103, d: { x: op.text, s: op.seconds } };
    case 'keypad':
      return { t: 105, d: { e: op.enabled ? 1 : 0 } };
  }
}
