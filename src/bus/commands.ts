import type { Redis } from 'ioredis';
import { ulid } from '../domain/ids.js';
import type { CommandOp, CommandRecord, CommandResult, KeypadState } from '../domain/model.js';
import { systemActor, type Actor, type EvidenceEntry } from '../evidence/entry.js';
import { HeadMoved, unitChain } from '../evidence/log.js';
import type { Logger } from '../log.js';
import type { Counters } from '../metrics.js';
import { keys, type Keys } from '../store/keys.js';
import { Tx } from '../store/tx.js';
import type { UnitStore } from '../store/units.js';
import type { Driver } from './driver.js';
import { LOCKDOWN_SCREEN, OpenRefused, type Lockdown, type OpenGuard, type OpenIntent } from './open-guard.js';

export class CommandError extends Error {
  constructor(
    readonly code: 'unknown_unit' | 'command_conflict',
    message: string,
  ) {
    super(message);
    this.name = 'CommandError';
  }
}

/** The options of CommandBus.send: plain data, so a command can be handed to another gateway as JSON. */
export interface SendOptions {
  id?: string;
  reason?: string;
  timeoutMs?: number;
  actor?: Actor;
  parcel?: string;
  keypadState?: KeypadState;
  intent?: OpenIntent;
  admin?: boolean;
}

/** Hands a command for a unit another gateway serves to that gateway (src/scale/remote-commands.ts). */
export interface RemoteCommandSender {
  send(unit: string, op: CommandOp, opts: SendOptions & { id: string }): Promise<CommandRecord>;
}

/** Door and keypad commands are kept a week (evidence); screen texts and status requests an hour. */
const recordTtl = (op: CommandOp['op']) => (op === 'open' || op === 'keypad' ? 7 * 24 * 3600 : 3600);

/**
 * One interface for every dialect: send a command to a unit and follow it to a result. Records live in Redis; a
 * repeated command id is never sent twice (it returns the first command's record, waiting for it if it is still in
 * flight here), which is what makes `open` safe to retry from an API client.
 */
export class CommandBus {
  private readonly k: Keys;
  private readonly inFlight = new Map<string, Promise<CommandRecord>>();
  readonly opens: OpenGuard | null;
  private readonly tx: Tx;
  /** when each unit's screen last said it is locked down (a refused script must not flood the screen) */
  private readonly lockdownShown = new Map<string, number>();

  constructor(
    private readonly deps: {
      redis: Redis;
      prefix: string;
      drivers: ReadonlyMap<string, Driver>;
      store: UnitStore;
      logger: Logger;
      counters: Counters;
      timeoutMs: number;
      now?: () => number;
      /** rate limits and lockdowns of door opens (open-guard.ts); every open passes it */
      opens?: OpenGuard;
      /** every unit of the fleet (default: those with a driver here) */
      units?: readonly string[];
      /** commands for a known unit without a driver here go to its owner (several gateways) */
      remote?: RemoteCommandSender;
    },
  ) {
    this.k = keys(deps.prefix);
    this.tx = new Tx(deps.redis);
    this.opens = deps.opens ?? null;
  }

  private now(): number {
    return this.deps.now?.() ?? Date.now();
  }

  /**
   * `actor`: who asked (kept with the command's evidence entries); `parcel`: the parcel it is for, if one;
   * `keypadState`: the state a keypad command leaves once done (default enabled/disabled; a lock says locked).
   * An `open` passes the open guard first: `intent` is the parcel intent it is for (none: a raw open), `admin` that
   * the actor is an admin (passes a lockdown). A refused open throws OpenRefused and is never sent.
   */
  async send(
    unit: string,
    op: CommandOp,
    opts: SendOptions = {},
    /** false: only through a driver here (the owner running a command handed to it) */
    forward = true,
  ): Promise<CommandRecord> {
    const driver = this.deps.drivers.get(unit);
    const id = opts.id ?? ulid(this.now());
    if (!driver) {
      if (!forward) throw new CommandError('unknown_unit', `unit ${unit} is not served by this gateway`);
      // another gateway serves the unit: it sends the command (records, guard, evidence) and answers through Redis
      if (this.deps.remote && this.deps.units?.includes(unit)) return this.deps.remote.send(unit, op, { ...opts, id });
      throw new CommandError('unknown_unit', `no unit ${unit}`);
    }
    const local = this.inFlight.get(id);
    if (local) return this.sameCommand(await local, unit, op);

    const record: CommandRecord = { id, unit, op: op.op, args: op, state: 'sent', createdAt: this.now() };
    const created = await this.deps.redis.set(this.k.command(id), JSON.stringify(record), 'EX', recordTtl(op.op), 'NX');
    if (created === null) {
      const existing = await this.get(id);
      if (existing) return this.sameCommand(existing, unit, op);
    }
    const guarded = op.op === 'open' && this.opens ? this.guardOpen(record, op.compartment, opts) : Promise.resolve();
    const run = guarded.then(() => this.run(driver, record, opts, opts.timeoutMs ?? this.deps.timeoutMs));
    this.inFlight.set(id, run);
    try {
      return await run;
    } finally {
      this.inFlight.delete(id);
    }
  }

  /** The open guard's word on a new open; a refused one is recorded (evidence), forgotten (its id) and thrown. */
  private async guardOpen(record: CommandRecord, compartment: number, opts: { actor?: Actor; parcel?: string; intent?: OpenIntent; admin?: boolean }) {
    const actor = opts.actor ?? systemActor('gateway');
    const a = await this.opens!.admit({ unit: record.unit, compartment, commandId: record.id, actor, intent: opts.intent, admin: opts.admin });
    if (a.tripped) this.showLockdown(a.tripped);
    if (a.ok) return;
    await this.deps.redis.del(this.k.command(record.id));
    await this.deps.store.evidence.append(unitChain(record.unit), [
      {
        at: this.now(),
        kind: 'open-refused',
        actor,
        unit: record.unit,
        compartment,
        commandId: record.id,
        why: a.why,
        scope: a.scope,
        ...(opts.intent ? { intent: opts.intent } : {}),
        ...(opts.parcel ? { parcel: opts.parcel } : {}),
      },
    ]);
    if (a.why === 'locked_down' && !a.tripped) this.showLockdown({ unit: record.unit }, true);
    throw new OpenRefused(a.why, a.scope, a.retryAfterMs);
  }

  /**
   * The screens of the units a lockdown stops say so: at once for a new lockdown; for a refused open (`again`) only
   * if the screen has not said so for a minute, so a refused script cannot flood the unit with screen texts.
   */
  showLockdown(l: Pick<Lockdown, 'unit'>, again = false): void {
    const now = this.now();
    for (const unit of l.unit ? [l.unit] : [...(this.deps.units ?? this.deps.drivers.keys())]) {
      if (again && now - (this.lockdownShown.get(unit) ?? -Infinity) < 60_000) continue;
      this.lockdownShown.set(unit, now);
      void this.send(unit, { op: 'display', text: `${LOCKDOWN_SCREEN.zh} ${LOCKDOWN_SCREEN.en}`, ascii: LOCKDOWN_SCREEN.en, seconds: 255 }, { timeoutMs: 3_000 }).catch(
        (err: unknown) => this.deps.logger.warn('lockdown screen text failed', { unit, err }),
      );
    }
  }

  private sameCommand(existing: CommandRecord, unit: string, op: CommandOp): CommandRecord {
    if (existing.unit !== unit || JSON.stringify(existing.args) !== JSON.stringify(op)) {
      throw new CommandError('command_conflict', `command id ${existing.id} was already used for another command`);
    }
    this.deps.counters.inc('lg_command_repeats_total', { unit });
    return existing;
  }

  private async run(
    driver: Driver,
    record: CommandRecord,
    opts: { reason?: string; actor?: Actor; parcel?: string; keypadState?: KeypadState },
    timeoutMs: number,
  ): Promise<CommandRecord> {
    const { reason } = opts;
    const actor = opts.actor ?? systemActor('gateway');
    const compartment = record.args.op === 'open' ? record.args.compartment : undefined;
    const entryOf = (r: CommandRecord): EvidenceEntry => ({
      at: this.now(),
      kind: 'command',
      actor,
      unit: r.unit,
      commandId: r.id,
      op: r.op,
      state: r.state,
      ...(compartment !== undefined ? { compartment } : {}),
      ...(opts.parcel ? { parcel: opts.parcel } : {}),
      ...(r.result ? { result: r.result } : {}),
      ...(reason ? { reason } : {}),
    });
    const logCommand = (r: CommandRecord) => this.deps.store.evidence.append(unitChain(r.unit), [entryOf(r)]);
    // Door and keypad commands are evidence; screen texts and status requests would only bury it.
    const logged = record.args.op === 'open' || record.args.op === 'keypad';
    if (logged) await logCommand(record);
    let result: CommandResult;
    try {
      result = await driver.execute({ id: record.id, op: record.args }, timeoutMs);
    } catch (err) {
      this.deps.logger.error('command failed to send', { unit: record.unit, id: record.id, err });
      result = 'timed_out';
    }
    // the result and its evidence entry in one step (one round trip)
    const done = await this.finish(record, result, logged ? entryOf : undefined);
    if (done.args.op === 'keypad' && result === 'done') {
      await this.deps.store.apply(
        {
          unit: done.unit,
          at: this.now(),
          source: {},
          kind: 'keypad',
          state: opts.keypadState ?? (done.args.enabled ? 'enabled' : 'disabled'),
          ...(reason ? { reason } : {}),
        },
        { mode: 'none' },
        this.now(),
        actor,
      );
    }
    return done;
  }

  /** Store the command's result; with `entry`, together with its evidence entry (one atomic step). */
  private async finish(record: CommandRecord, result: CommandResult, entry?: (done: CommandRecord) => EvidenceEntry): Promise<CommandRecord> {
    const done: CommandRecord = {
      ...record,
      state: result === 'done' ? 'done' : result === 'timed_out' ? 'timed_out' : 'failed',
      result,
      finishedAt: this.now(),
    };
    const set = ['SET', this.k.command(record.id), JSON.stringify(done), 'EX', recordTtl(record.op)];
    if (entry) {
      await this.deps.store.evidence.within(unitChain(record.unit), [entry(done)], async (spec) => {
        const r = await this.tx.apply([], [set], spec);
        return r instanceof HeadMoved ? r : { result: undefined, appended: true };
      });
    } else {
      await this.deps.redis.set(this.k.command(record.id), JSON.stringify(done), 'EX', recordTtl(record.op));
    }
    this.deps.counters.inc('lg_commands_total', { unit: record.unit, op: record.op, result });
    return done;
  }

  /** A reply that arrived for a command this process no longer waits for (sent before a restart). */
  async lateReply(id: string, result: CommandResult): Promise<void> {
    const existing = await this.get(id);
    if (!existing || existing.state !== 'sent') return;
    await this.finish(existing, result);
  }

  async get(id: string): Promise<CommandRecord | null> {
    const raw = await this.deps.redis.get(this.k.command(id));
    return raw ? (JSON.parse(raw) as CommandRecord) : null;
  }
}
