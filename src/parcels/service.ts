import { UNITS } from '../../devices/units.js';
import { systemClock, type Clock } from '../domain/clock.js';
import type { CommandResult, UnitProfile } from '../domain/model.js';
import { COLLECTABLE, type Parcel } from '../domain/parcel.js';
import { unitChain } from '../evidence/log.js';
import { ParcelError } from './errors.js';
import type { Actor } from '../evidence/entry.js';
import type { LoggedEvent } from '../store/units.js';
import type { Courier } from './accounts.js';
import { Committer } from './commit.js';
import { unitProfile, type ParcelDeps, type ParcelPolicy } from './context.js';
import { Deposits, type DepositInput } from './deposit.js';
import { Doors } from './doors.js';
import { Keypad } from './keypad.js';
import { defineKeypadRead } from './keypad-lua.js';
import { FailureLimiter } from './limits.js';
import { Pickups } from './pickup.js';
import { Returns } from './returns.js';
import { Screen } from './screen.js';
import { Sweep } from './sweep.js';

export type { DepositInput, ParcelPolicy };

/**
 * The product's main job: parcels in, the right person told, only that person takes them out. One facade over the
 * flows (deposit, pickup, returns, doors, keypad, sweep, screen), which share one commit path (commit.ts): read ->
 * plan with the pure state machine (domain/parcel.ts) -> write the plan, its evidence and its notices in one
 * atomic step.
 */
export class ParcelService {
  readonly apiLimiter: FailureLimiter;
  readonly clock: Clock;
  private readonly d: ParcelDeps;
  private readonly deposits: Deposits;
  private readonly doors: Doors;
  private readonly keypad: Keypad;
  private readonly pickups: Pickups;
  private readonly returns: Returns;
  private readonly sweeper: Sweep;
  readonly screen: Screen;

  constructor(
    deps: Omit<ParcelDeps, 'units' | 'clock'> & {
      units?: readonly UnitProfile[];
      clock?: Clock;
      /** @deprecated pass a clock */
      now?: () => number;
    },
  ) {
    const clock = deps.clock ?? (deps.now ? { now: deps.now } : systemClock);
    this.clock = clock;
    this.d = { ...deps, units: deps.units ?? UNITS, clock };
    const commit = new Committer(this.d);
    this.screen = new Screen(this.d);
    const keypadLimiter = new FailureLimiter(deps.parcels.redis, deps.policy.lockout);
    defineKeypadRead(deps.parcels.redis); // before any traffic (keypad-lua.ts)
    this.apiLimiter = new FailureLimiter(deps.parcels.redis, deps.policy.lockout);
    this.doors = new Doors(this.d, commit, this.screen);
    this.deposits = new Deposits(this.d, commit, this.screen);
    this.keypad = new Keypad(this.d, this.doors, this.screen, keypadLimiter);
    this.pickups = new Pickups(this.d, commit, this.doors, this.apiLimiter);
    this.returns = new Returns(this.d, this.doors);
    this.sweeper = new Sweep(this.d, commit, this.doors, this.keypad, keypadLimiter);
  }

  profile(id: string): UnitProfile {
    return unitProfile(this.d.units, id);
  }

  deposit(courier: Courier, input: DepositInput): Promise<Parcel> {
    return this.deposits.deposit(courier, input);
  }

  get(id: string): Promise<Parcel | null> {
    return this.d.parcels.parcel(id);
  }

  /** Called for every event on the engine's input (so also after a crash). */
  async onUnitEvent(logged: LoggedEvent): Promise<void> {
    const e = logged.event;
    if (e.kind === 'door-opened' || e.kind === 'door-closed') await this.doors.onDoorEvent(e);
    else if (e.kind === 'code-entered') await this.keypad.onCode(e.unit, e.codeHash, e.code, e.at, logged.streamId);
  }

  remotePickup(input: { unit: string; code: string; phone: string; presenceCode: string; client: string; ref: string }): Promise<{ compartment: number; parcels: Parcel[]; result: CommandResult }> {
    return this.pickups.remote(input);
  }

  residentParcels(phone: string, code: string, client: string): Promise<Parcel[]> {
    return this.pickups.residentParcels(phone, code, client);
  }

  extend(phone: string, code: string, parcelId: string, client: string): Promise<Parcel> {
    return this.pickups.extend(phone, code, parcelId, client);
  }

  /** A signed-in resident (by SMS) extends one of their own parcels. */
  async extendOwn(phone: string, parcelId: string): Promise<Parcel> {
    const parcel = await this.d.parcels.parcel(parcelId);
    if (!parcel || parcel.phone !== phone) throw new ParcelError('not_found', 'no such parcel for this phone');
    return this.pickups.extendOwn(phone, parcel);
  }

  /** A signed-in resident's parcels: live ones, and those ended since `endedSince` (cancelled deposits left out). */
  async residentHistory(phone: string, endedSince: number): Promise<Parcel[]> {
    const ended = await this.d.parcels.redis.zrangebyscore(this.d.parcels.k.phoneEnded(phone), endedSince, '+inf');
    const parcels = await this.d.parcels.parcels([...new Set([...(await this.d.parcels.liveParcelIds(phone)), ...ended])]);
    return parcels.filter((p) => p.phone === phone && p.state !== 'cancelled').sort((a, b) => b.createdAt - a.createdAt);
  }

  returnParcel(courier: Courier, parcelId: string, ref: string): Promise<{ parcel: Parcel; result: CommandResult }> {
    return this.returns.take(courier, parcelId, ref);
  }

  /**
   * Staff open a parcel's compartment for a reason (a resident at the office without a phone, a check): through the
   * parcel's pickup intent, so the door events that follow are read as a collection, never as a parcel gone missing.
   * It still counts as an unexplained open for the open guard (a staff member asked, not the parcel's resident);
   * `admin`: an admin asked (passes a lockdown).
   */
  async staffOpen(parcelId: string, actor: Actor, reason: string, ref: string, opts: { admin?: boolean } = {}): Promise<{ parcel: Parcel; result: CommandResult }> {
    const parcel = await this.d.parcels.parcel(parcelId);
    if (!parcel) throw new ParcelError('not_found', `no parcel ${parcelId}`);
    if (!COLLECTABLE.has(parcel.state)) throw new ParcelError('not_waiting', `the parcel is ${parcel.state}, not waiting in the locker`);
    await this.d.parcels.evidence.append(unitChain(parcel.unit), [
      { at: this.clock.now(), kind: 'staff-open', actor, unit: parcel.unit, compartment: parcel.compartment, parcel: parcel.id, reason },
    ]);
    const { result } = await this.doors.startOpen(parcel.unit, parcel.compartment, 'pickup', { ref, actor, reason: `staff open: ${reason}`, ...(opts.admin ? { admin: true } : {}) });
    return { parcel: (await this.d.parcels.parcel(parcelId)) ?? parcel, result };
  }

  unlockKeypad(unit: string, by: string, commandId?: string, actor?: Actor): Promise<void> {
    return this.keypad.unlock(unit, by, commandId, actor);
  }

  sweep(): Promise<void> {
    return this.sweeper.run();
  }

  display(unit: string, zh: string, en: string, seconds: number): Promise<void> {
    return this.screen.show(unit, zh, en, seconds);
  }

  /** For resident-facing views: nothing a stranger could use. */
  static publicView(p: Parcel) {
    return {
      id: p.id,
      state: p.state,
      unit: p.unit,
      compartment: p.compartment,
      size: p.size,
      carrier: p.carrier,
      trackingNumber: p.trackingNumber,
      storedAt: p.storedAt,
      deadline: p.deadline,
      extended: p.extended,
    };
  }
}
