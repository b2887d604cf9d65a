/**
 * What every simulated unit has in common: doors and occupancy sensors, keypad and display, the people who use them,
 * the connection life cycle (start / stop / crash / reconnect / reboot) and the outgoing queue where faults apply.
 * The dialect classes (json-v1.ts, compact-v2.ts, frame-485.ts) add the wire protocol.
 */
import { EventEmitter } from 'node:events';
import type { AlarmKind, UnitProfile } from '../src/domain/model.js';
import { silentLogger, type Logger } from '../src/log.js';
import { seededRandom, sleep } from './common.js';
import { MqttLink, type LinkConfig } from './link.js';
import { NO_FAULTS, type BootReason, type CommandInfo, type DoorState, type Faults, type Release, type SimOptions, type SimSnapshot } from './types.js';

export type { BootReason, DoorState, Release } from './types.js';

const DEFAULT_RECONNECT_MS = 2_000;
const DEFAULT_DOOR_LEFT_OPEN_MS = 120_000;
const DEFAULT_AUTOPILOT_MS = 1_500;
const STOP_PUBLISH_TIMEOUT_MS = 3_000;

export abstract class SimulatedUnit extends EventEmitter {
  readonly unit: UnitProfile;
  protected readonly opts: SimOptions;
  protected readonly log: Logger;
  protected readonly now: () => number;
  protected readonly rng: () => number;
  protected faults: Faults;
  protected readonly doors = new Map<number, DoorState>();
  protected keypadEnabled = true;
  protected display: { text: string; until: number } | null = null;
  /** Clock value (ms) at the last firmware start. */
  protected bootedAt = 0;

  private link: MqttLink | null = null;
  /** Connected and the unit may publish. */
  private up = false;
  /** Incoming messages are handled (after the initial publications of a connection were queued). */
  private accepting = false;
  private early: { topic: string; payload: Buffer }[] = [];
  /** The unit wants to be connected: an unexpected loss triggers a reconnection. */
  private wanted = false;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly leftOpenTimers = new Map<number, NodeJS.Timeout>();
  private outChain: Promise<void> = Promise.resolve();
  private starting: Promise<void> | null = null;

  constructor(opts: SimOptions) {
    super();
    this.unit = opts.unit;
    this.opts = opts;
    this.now = opts.now ?? Date.now;
    const seed = opts.seed ?? Math.floor(Math.random() * 2 ** 32);
    this.rng = seededRandom(seed);
    this.faults = { ...NO_FAULTS, ...opts.faults };
    this.log = (opts.logger ?? silentLogger).child({ sim: opts.unit.id, dialect: opts.unit.dialect });
    this.log.debug('simulator created', { seed });
    for (const c of opts.unit.compartments) this.doors.set(c.no, { open: false, occupied: false, fault: null });
  }

  // ------------------------------------------------------------------ dialect hooks

  protected abstract linkConfig(): Omit<LinkConfig, 'password'>;
  /** Queue the publications that follow a connection; must queue synchronously before its first await. */
  protected abstract afterConnect(kind: 'boot' | 'reconnect'): Promise<void>;
  protected abstract handleMessage(topic: string, payload: Buffer): void;
  /** Firmware (re)start: reset volatile state, raise boot reports. Called before connecting. */
  protected abstract onBoot(reason: BootReason): void;
  /** Clean shutdown: the publications to make before DISCONNECT. */
  protected abstract beforeStop(): Promise<unknown>;
  protected abstract reportDoor(no: number, door: DoorState): void;
  protected abstract reportCode(code: string): void;
  protected abstract reportAlarm(kind: AlarmKind, no?: number): void;
  protected onLinkDown(): void {}
  protected validateCode(code: string): void {
    if (!/^\d{1,16}$/.test(code)) throw new Error(`keypad code must be 1–16 digits, got ${JSON.stringify(code)}`);
  }

  // ------------------------------------------------------------------ life cycle

  get online(): boolean {
    return this.up;
  }

  /**
   * Power on: the unit's non-volatile memory is read (if it has one, `opts.memory`), the firmware boots, then the
   * unit connects. A second call returns the first call's promise.
   */
  start(): Promise<void> {
    if (!this.starting) {
      const boot = () => {
        this.firmwareStart('power_on');
        return this.connectNow('boot');
      };
      const restoring = [this.restoreMemory(), this.restoreParcels()].filter((p): p is Promise<void> => p !== null);
      this.starting = restoring.length ? Promise.all(restoring).then(boot) : boot();
      this.starting.catch(() => (this.starting = null));
    }
    return this.starting;
  }

  /** Read the non-volatile memory before booting; null when the unit keeps nothing (then it boots at once). */
  protected restoreMemory(): Promise<void> | null {
    return null;
  }

  /** Write what the non-volatile memory keeps, at a clean stop. */
  protected async persistMemory(): Promise<void> {}

  /** The parcels in the compartments, as the unit was left (a restart does not empty them); null: nothing kept. */
  private restoreParcels(): Promise<void> | null {
    const memory = this.opts.memory;
    if (!memory) return null;
    return memory.load().then((kept) => {
      for (const no of kept.occupied ?? []) {
        const d = this.doors.get(no);
        if (d) d.occupied = true;
      }
    });
  }

  /** Keeps which compartments hold a parcel, after every change (saves are applied in order). */
  private parcelsChanged(): void {
    const occupied = [...this.doors].filter(([, d]) => d.occupied).map(([no]) => no);
    this.opts.memory?.save({ occupied }).catch((err: unknown) => this.log.error('parcels not saved', { err }));
  }

  async stop(): Promise<void> {
    this.wanted = false;
    this.cancelReconnect();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const t of this.leftOpenTimers.values()) clearTimeout(t);
    this.leftOpenTimers.clear();
    const link = this.link;
    if (link && this.up) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, STOP_PUBLISH_TIMEOUT_MS)));
      await Promise.race([this.beforeStop(), timeout]);
      clearTimeout(timer);
    }
    await link?.close();
    await this.persistMemory().catch((err: unknown) => this.log.error('memory not saved', { err }));
  }

  async crash(): Promise<void> {
    this.wanted = false;
    this.cancelReconnect();
    await this.link?.kill();
  }

  async reconnect(): Promise<void> {
    if (this.up) return;
    await this.connectNow('reconnect');
  }

  async reboot(): Promise<void> {
    await this.crash();
    this.firmwareStart('reboot');
    await this.connectNow('boot');
  }

  private firmwareStart(reason: BootReason): void {
    this.bootedAt = this.now();
    this.onBoot(reason);
  }

  private async connectNow(kind: 'boot' | 'reconnect'): Promise<void> {
    this.wanted = true;
    this.cancelReconnect();
    const link = new MqttLink(this.opts.brokerUrl, { ...this.linkConfig(), password: this.opts.password }, this.log);
    this.link = link;
    link.on('message', (topic, payload) => {
      if (this.link !== link) return;
      if (this.accepting) this.safeHandle(topic, payload);
      else this.early.push({ topic, payload });
    });
    link.on('close', () => this.linkClosed(link));
    try {
      await link.open();
    } catch (err) {
      if (this.link === link) this.link = null;
      if (kind === 'reconnect' && this.wanted) this.scheduleReconnect();
      else this.wanted = false;
      throw err;
    }
    if (this.link !== link || !link.connected) throw new Error(`${this.unit.id}: connection lost while connecting`);
    this.up = true;
    this.log.info('connected', { kind });
    const initial = this.afterConnect(kind);
    this.accepting = true;
    const early = this.early;
    this.early = [];
    for (const m of early) this.safeHandle(m.topic, m.payload);
    await initial;
    if (this.link === link && this.up) this.emit('connected');
  }

  private linkClosed(link: MqttLink): void {
    if (this.link !== link) return;
    this.link = null;
    const wasUp = this.up;
    this.up = false;
    this.accepting = false;
    this.early = [];
    this.onLinkDown();
    if (wasUp) {
      this.log.info('disconnected');
      this.emit('disconnected');
    }
    if (this.wanted) this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    const ms = this.opts.reconnectMs ?? DEFAULT_RECONNECT_MS;
    if (ms <= 0 || this.reconnectTimer) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (!this.wanted || this.up) return;
      this.connectNow('reconnect').catch((err: unknown) => this.log.warn('reconnect failed', { err }));
    }, ms);
  }

  private cancelReconnect(): void {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
  }

  private safeHandle(topic: string, payload: Buffer): void {
    try {
      this.handleMessage(topic, payload);
    } catch (err) {
      this.log.error('message handler failed', { err, topic });
    }
  }

  // ------------------------------------------------------------------ publishing

  /** Publish without faults (presence and the like). */
  protected publishNow(topic: string, payload: string | Buffer, qos: 0 | 1, retain = false): Promise<boolean> {
    return this.link && this.up ? this.link.publish(topic, payload, qos, retain) : Promise.resolve(false);
  }

  /**
   * Publish through the unit's outgoing queue, in order, with the delay and duplicate faults applied (and the drop
   * fault when `droppable`). Resolves true once acknowledged; false when lost or the connection went first.
   * A message queued on one connection is never sent on the next one.
   */
  protected send(
    topic: string,
    payload: string | Buffer,
    o: { qos: 0 | 1; retain?: boolean; droppable?: boolean },
  ): Promise<boolean> {
    const link = this.link;
    if (!link || !this.up) return Promise.resolve(false);
    if (o.droppable && this.rng() < this.faults.dropRate) {
      this.log.debug('fault: event dropped', { topic });
      return Promise.resolve(false);
    }
    return new Promise<boolean>((resolve) => {
      this.outChain = this.outChain
        .then(async () => {
          if (this.faults.delayMs > 0) await sleep(this.faults.delayMs);
          if (this.link !== link || !this.up) return resolve(false);
          void link.publish(topic, payload, o.qos, o.retain ?? false).then(resolve);
          if (this.rng() < this.faults.duplicateRate) {
            this.log.debug('fault: duplicated', { topic });
            void link.publish(topic, payload, o.qos, o.retain ?? false);
          }
        })
        .catch((err: unknown) => {
          this.log.error('send failed', { err });
          resolve(false);
        });
    });
  }

  protected emitCommand(info: CommandInfo): void {
    this.log.debug('command', { ...info });
    this.emit('command', info);
  }

  /** A timer that stop() cancels. */
  protected later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      try {
        fn();
      } catch (err) {
        this.log.warn('timer action failed', { err });
      }
    }, ms);
    t.unref();
    this.timers.add(t);
  }

  // ------------------------------------------------------------------ hardware

  protected door(no: number): DoorState {
    const d = this.doors.get(no);
    if (!d) throw new Error(`${this.unit.id} has no compartment ${no}`);
    return d;
  }

  protected hasCompartment(no: unknown): no is number {
    return typeof no === 'number' && this.doors.has(no);
  }

  /** A command released (or tried to release) the lock of compartment `no`. Reporting is up to the dialect. */
  protected releaseLock(no: number): Release {
    const d = this.door(no);
    if (this.faults.jammed.includes(no)) {
      d.fault = 'jammed';
      return 'jammed';
    }
    d.fault = null;
    if (d.open) return 'already_open';
    d.open = true;
    this.armLeftOpen(no);
    const ap = this.opts.autopilot;
    if (ap?.enabled) {
      this.later(ap.delayMs ?? DEFAULT_AUTOPILOT_MS, () => {
        if (!d.open) return;
        if (d.occupied) this.takeParcel(no);
        else this.putParcel(no);
        this.closeDoor(no);
      });
    }
    return 'opened';
  }

  protected showText(text: string, seconds: number): void {
    this.display = { text, until: this.now() + seconds * 1000 };
  }

  protected resetPanel(): void {
    this.keypadEnabled = true;
    this.display = null;
  }

  private armLeftOpen(no: number): void {
    const ms = this.opts.doorLeftOpenMs ?? DEFAULT_DOOR_LEFT_OPEN_MS;
    const old = this.leftOpenTimers.get(no);
    if (old) clearTimeout(old);
    const t = setTimeout(() => {
      this.leftOpenTimers.delete(no);
      if (this.doors.get(no)?.open) this.reportAlarm('door_left_open', no);
    }, ms);
    t.unref();
    this.leftOpenTimers.set(no, t);
  }

  private disarmLeftOpen(no: number): void {
    const t = this.leftOpenTimers.get(no);
    if (t) clearTimeout(t);
    this.leftOpenTimers.delete(no);
  }

  // ------------------------------------------------------------------ people at the unit

  closeDoor(no: number, occupied?: boolean): void {
    const d = this.door(no);
    if (!d.open) throw new Error(`compartment ${no} of ${this.unit.id} is already closed`);
    d.open = false;
    if (occupied !== undefined && occupied !== d.occupied) {
      d.occupied = occupied;
      this.parcelsChanged();
    }
    this.disarmLeftOpen(no);
    this.reportDoor(no, d);
  }

  putParcel(no: number): void {
    const d = this.door(no);
    if (!d.open) throw new Error(`compartment ${no} of ${this.unit.id} is closed: open it first`);
    d.occupied = true;
    this.parcelsChanged();
  }

  takeParcel(no: number): void {
    const d = this.door(no);
    if (!d.open) throw new Error(`compartment ${no} of ${this.unit.id} is closed: open it first`);
    d.occupied = false;
    this.parcelsChanged();
  }

  typeCode(code: string): void {
    this.validateCode(code);
    if (!this.keypadEnabled) {
      this.showText('Keypad disabled', 5);
      this.log.info('code typed on a disabled keypad, ignored');
      return;
    }
    this.reportCode(code);
  }

  forceDoor(no: number): void {
    const d = this.door(no);
    if (d.open) throw new Error(`compartment ${no} of ${this.unit.id} is already open`);
    d.open = true;
    this.armLeftOpen(no);
    this.reportAlarm('door_forced', no);
    this.reportDoor(no, d);
  }

  setOccupied(no: number, occupied: boolean): void {
    this.door(no).occupied = occupied;
    this.parcelsChanged();
  }

  setFaults(f: Partial<Faults>): void {
    this.faults = { ...this.faults, ...f };
    this.log.info('faults set', { faults: this.faults });
  }

  snapshot(): SimSnapshot {
    const doors: SimSnapshot['doors'] = {};
    for (const [no, d] of this.doors) doors[no] = { open: d.open, occupied: d.occupied };
    const display = this.display && this.display.until > this.now() ? { ...this.display } : null;
    return { online: this.up, keypadEnabled: this.keypadEnabled, display, doors };
  }
}

