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
import { COMMAND_START } from './command-lua.js';
import { LOCKDOWN_SCREEN, OpenRefused, type Lockdown, type OpenGuard, type OpenIntent, type OpenRequest } from './open-guard.js';

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

type WithStart = Redis & { lgCmdStart(numKeys: number, ...keysAndArgs: (string | number)[]): Promise<(string | number)[]> };

/**
 * Whether a command gets a Redis record: all do but a screen text without an id of the caller's (nobody can repeat it
 * or ask for it by id, and it is no evidence). A caller's id (an Idempotency-Key) keeps it, so a retry is not shown twice.
 */
const hasRecord = (op: CommandOp, opts: SendOptions) => !(op.op === 'display' && opts.id === undefined);

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
  private readonly redis: WithStart;
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
    if (!('lgCmdStart' in deps.redis)) deps.redis.defineCommand('lgCmdStart', { lua: COMMAND_START });
    this.redis = deps.redis as WithStart;
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
    // In the map before the first await: the same id sent again meanwhile waits for this one.
    const run = this.start(driver, record, opts).then((r) => ('repeat' in r ? this.sameCommand(r.repeat, unit, op) : r.done));
    this.inFlight.set(id, run);
    try {
      return await run;
    } finally {
      this.inFlight.delete(id);
    }
  }

  /**
   * A command's start in one atomic step (command-lua.ts): its record unless one exists under its id (then that one
   * is answered: `repeat`), an open's open guard, and a door or keypad command's `sent` evidence entry. Then it goes
   * to the unit and its result is stored. A screen text with no id of the caller's gets no record (hasRecord): its
   * result is still counted (lg_commands_total) and logged when it did not reach the screen.
   */
  private async start(driver: Driver, record: CommandRecord, opts: SendOptions): Promise<{ repeat: CommandRecord } | { done: CommandRecord }> {
    const op = record.args;
    if (hasRecord(op, opts)) {
      const actor = opts.actor ?? systemActor('gateway');
      const guard: OpenRequest | null =
        op.op === 'open' && this.opens
          ? { unit: record.unit, compartment: op.compartment, commandId: record.id, actor, intent: opts.intent, admin: opts.admin }
          : null;
      const call = guard ? this.opens!.admitCall(guard) : null;
      // Door and keypad commands are evidence; screen texts and status requests would only bury it.
      const entries = op.op === 'open' || op.op === 'keypad' ? [this.entry(record, opts)] : [];
      const res = await this.deps.store.evidence.within(unitChain(record.unit), entries, async (spec) => {
        const r = await this.redis.lgCmdStart(
          1 + (call?.keys.length ?? 0),
          this.k.command(record.id),
          ...(call?.keys ?? []),
          JSON.stringify(record),
          recordTtl(op.op),
          spec ? JSON.stringify(spec) : '',
          call ? '1' : '0',
          ...(call?.args ?? []),
        );
        return HeadMoved.from(r) ?? { result: r, appended: r[0] === 'ok' && spec !== null };
      });
      if (res[0] === 'exists') return { repeat: JSON.parse(String(res[1])) as CommandRecord };
      if (guard) {
        const answer: [string, string, number | string] = res[0] === 'ok' ? ['ok', String(res[1]), res[2]!] : [String(res[1]), String(res[2]), res[3]!];
        await this.admitted(record, guard, opts, answer);
      }
    }
    return { done: await this.run(driver, record, opts, opts.timeoutMs ?? this.deps.timeoutMs) };
  }

  /** The open guard's word on a new open (counted, a burst locked down); a refused one is recorded (evidence) and thrown. */
  private async admitted(record: CommandRecord, req: OpenRequest, opts: SendOptions, answer: [string, string, number | string]): Promise<void> {
    const a = await this.opens!.settle(req, answer);
    if (a.tripped) this.showLockdown(a.tripped);
    if (a.ok) return;
    await this.deps.store.evidence.append(unitChain(record.unit), [
      {
        at: this.now(),
        kind: 'open-refused',
        actor: req.actor,
        unit: record.unit,
        compartment: req.compartment,
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

  /** A door or keypad command's evidence entry, in the state `r` is in. */
  private entry(r: CommandRecord, opts: { reason?: string; actor?: Actor; parcel?: string }): EvidenceEntry {
    const compartment = r.args.op === 'open' ? r.args.compartment : undefined;
    return {
      at: this.now(),
      kind: 'command',
      actor: opts.actor ?? systemActor('gateway'),
      unit: r.unit,
      commandId: r.id,
      op: r.op,
      state: r.state,
      ...(compartment !== undefined ? { compartment } : {}),
      ...(opts.parcel ? { parcel: opts.parcel } : {}),
      ...(r.result ? { result: r.result } : {}),
      ...(opts.reason ? { reason: opts.reason } : {}),
    };
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
    opts: SendOptions,
    timeoutMs: number,
  ): Promise<CommandRecord> {
    const { reason } = opts;
    const actor = opts.actor ?? systemActor('gateway');
    const logged = record.args.op === 'open' || record.args.op === 'keypad';
    let result: CommandResult;
    try {
      result = await driver.execute({ id: record.id, op: record.args }, timeoutMs);
    } catch (err) {
      this.deps.logger.error('command failed to send', { unit: record.unit, id: record.id, err });
      result = 'timed_out';
    }
    // the result and its evidence entry in one step (one round trip)
    const done = await this.finish(record, result, logged ? (r) => this.entry(r, opts) : undefined, hasRecord(record.args, opts));
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

  /**
   * Store the command's result; with `entry`, together with its evidence entry (one atomic step). `recorded` false: a
   * screen text without a record (see start): only counted, and logged when it did not reach the screen.
   */
  private async finish(record: CommandRecord, result: CommandResult, entry?: (done: CommandRecord) => EvidenceEntry, recorded = true): Promise<CommandRecord> {
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
    } else if (recorded) {
      await this.deps.redis.set(this.k.command(record.id), JSON.stringify(done), 'EX', recordTtl(record.op));
    } else if (result !== 'done') {
      this.deps.logger.info('screen text not shown', { unit: record.unit, id: record.id, result });
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
