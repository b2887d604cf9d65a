import { LOW_COMPARTMENTS } from '../../devices/units.js';
import { OpenRefused } from '../bus/open-guard.js';
import { candidates, nearestUnits, sizeRank } from '../domain/allocation.js';
import { ulid } from '../domain/ids.js';
import type { Size, UnitProfile, UnitState } from '../domain/model.js';
import { COLLECTABLE, LIVE_STATES, canStart, onDepositAbandoned, type Parcel, type Slot } from '../domain/parcel.js';
import type { Actor } from '../evidence/entry.js';
import { unitChain } from '../evidence/log.js';
import { latestTracking, sameTracking, trackingChecks, trackingSetOps, type TrackingWas } from '../store/indexes.js';
import { nothing, readAll } from '../store/reads.js';
import type { Op } from '../store/tx.js';
import type { Courier } from './accounts.js';
import { transitionEntry, type Committer } from './commit.js';
import { unitProfile, type ParcelDeps } from './context.js';
import { ParcelError } from './errors.js';
import { openRefusal } from './doors.js';
import type { Screen } from './screen.js';

export interface DepositInput {
  unit?: string | undefined;
  size: Size;
  trackingNumber: string;
  carrier: string;
  phone: string;
  name?: string | undefined;
  room?: string | undefined;
  /** put it with the recipient's other parcels at that unit when they fit (default true) */
  shareCompartment?: boolean | undefined;
}

const courierActor = (c: Courier): Actor => ({ type: 'courier', id: c.id });

/**
 * A courier asks for a compartment: the recipient's compartment when their parcels can share it, else the smallest
 * free one that fits (honouring a low-compartment preference), else the nearest unit with room. The reservation,
 * its indexes and its evidence entry are one atomic step; the slot key's absence guarantees one owner per
 * compartment, the tracking index's value (store/indexes.ts) that the same deposit asked twice at once reserves once.
 */
export class Deposits {
  constructor(
    private readonly d: ParcelDeps,
    private readonly commit: Committer,
    private readonly screen: Screen,
  ) {}

  private get k() {
    return this.d.parcels.k;
  }

  async deposit(courier: Courier, input: DepositInput): Promise<Parcel> {
    // What the first choice needs, in one round trip (store/reads.ts): the tracking index, the recipient's
    // preferences, the first unit's lockdown, state and allocated compartments, and the phone's live parcels (to share
    // a compartment). Further units and the retries read again, as they did.
    const first = input.unit ? this.d.units.find((u) => u.id === input.unit) : this.d.units[0];
    const opens = this.d.commands.opens;
    const [tracking, prefs, firstLockdown, firstState, firstAllocated, liveIds] = await readAll(this.d.parcels.redis, [
      this.d.parcels.trackingRead(input.carrier, input.trackingNumber),
      this.d.residents.prefsRead(input.phone),
      first && opens ? opens.lockdownRead(first.id) : nothing(null),
      first ? this.d.unitStore.unitRead(first.id) : nothing(null),
      first ? this.d.parcels.allocatedRead(first.id) : nothing(undefined),
      input.shareCompartment !== false ? this.d.parcels.liveParcelIdsRead(input.phone) : nothing(undefined),
    ] as const);
    const existingId = latestTracking(tracking);
    if (existingId) {
      const existing = await this.d.parcels.parcel(existingId);
      // The same deposit asked again (a retry after a lost answer): the same parcel.
      if (existing && LIVE_STATES.has(existing.state)) {
        if (existing.courierId !== courier.id) {
          // Another courier's parcel: tell nothing about it (not that it is in a locker, nor where; docs/security.md).
          this.d.logger.warn('deposit refused: the tracking number is another courier\'s live parcel', { courier: courier.id, parcel: existing.id });
          this.d.counters.inc('lg_deposits_refused_total', { reason: 'tracking-number-not-yours' });
          throw new ParcelError('conflict', 'this tracking number cannot be deposited from your account; if you hold the parcel, ask the property office');
        }
        return existing;
      }
    }
    if (prefs.consent === 'refused') {
      throw new ParcelError('consent_refused', 'the recipient has not agreed to locker delivery; deliver in person or by another agreed way');
    }
    const units = input.unit ? [unitProfile(this.d.units, input.unit)] : this.d.units;
    let lockedDown = 0;
    for (const unit of units) {
      const read = unit === first ? { allocated: firstAllocated, liveIds } : undefined;
      // A locked-down unit opens for admins only (open-guard.ts): no compartment is reserved there.
      const lockdown = read ? firstLockdown : await this.d.commands.opens?.lockdownOf(unit.id);
      if (lockdown) {
        if (input.unit) throw new ParcelError('locked_down', `unit ${unit.id} is locked down: deposits are paused until an admin lifts it; please call the property office`, { scope: lockdown.scope });
        lockedDown++;
        continue;
      }
      const state = read ? firstState : await this.d.unitStore.unit(unit.id);
      if (!state?.online || state.outOfService) {
        const why = state?.outOfService ? 'closed down by staff' : 'offline';
        if (input.unit) throw new ParcelError('unit_offline', `unit ${unit.id} is ${why}`, await this.suggest(unit, input.size));
        continue;
      }
      const parcel = await this.reserve(unit, courier, input, prefs, tracking, state, read);
      // The same deposit asked twice at once: the other request reserved it; answer with that parcel.
      if (parcel === 'tracking-taken') return this.deposit(courier, input);
      if (parcel) return this.openForDeposit(parcel, courier);
    }
    const from = units[0]!;
    if (lockedDown === units.length) throw new ParcelError('locked_down', 'every unit is locked down: deposits are paused until an admin lifts it; please call the property office');
    throw new ParcelError(
      'no_compartment',
      input.unit ? `no free ${input.size} compartment at ${from.id}` : `no free ${input.size} compartment at any unit`,
      input.unit ? await this.suggest(from, input.size) : undefined,
    );
  }

  /** The nearest other unit that has a free compartment of that size, if any. */
  private async suggest(from: UnitProfile, size: Size): Promise<Record<string, unknown> | undefined> {
    for (const { unit, distanceM } of nearestUnits(from, this.d.units)) {
      const state = await this.d.unitStore.unit(unit.id);
      if (!state?.online || state.outOfService) continue;
      const free = candidates(state.compartments, await this.d.parcels.allocated(unit.id), size, { preferLow: false, low: [] });
      if (free.length) return { nearest: { unit: unit.id, site: unit.site, siteName: unit.siteName, distanceM, freeCompartments: free.length } };
    }
    return undefined;
  }

  private async reserve(
    unit: UnitProfile,
    courier: Courier,
    input: DepositInput,
    prefs: { lowCompartment: boolean; lang: 'zh' | 'en' },
    /** what the tracking index held when we looked: a concurrent deposit of the same parcel makes the step fail */
    trackingWas: TrackingWas,
    /** the unit's state, just read by the caller (read again if sharing a compartment was tried first) */
    fresh: UnitState,
    /** what the caller read with it (the first unit): its allocated compartments, the phone's live parcel ids */
    read?: { allocated: Set<number> | undefined; liveIds: string[] | undefined },
  ): Promise<Parcel | 'tracking-taken' | null> {
    const now = this.d.clock.now();
    const id = `p_${ulid(now).toLowerCase()}`;
    const base: Parcel = {
      id,
      state: 'reserved',
      unit: unit.id,
      compartment: 0,
      size: input.size,
      phone: input.phone,
      name: input.name ?? null,
      room: input.room ?? null,
      lang: prefs.lang,
      trackingNumber: input.trackingNumber,
      carrier: input.carrier,
      courierId: courier.id,
      createdAt: now,
      storedAt: null,
      deadline: null,
      endedAt: null,
      extended: false,
      reason: null,
      v: 0,
    };
    const write = (p: Parcel, slotCheck: ReturnType<ParcelDeps['parcels']['versionCheck']> | { key: string; absent: true }, slotOps: Op[]) =>
      this.d.parcels.commit(
        unitChain(unit.id),
        [transitionEntry(unit.id, p.compartment, { parcelId: p.id, from: 'new', to: 'reserved', reason: `deposit by ${courier.id}` }, now, courierActor(courier))],
        [slotCheck, { key: this.k.parcel(id), absent: true }, ...trackingChecks(this.k, input.carrier, input.trackingNumber, trackingWas)],
        [
          ...this.d.parcels.putParcel({ ...p, v: -1 }),
          ...this.d.parcels.lifeOps(p, true),
          ...trackingSetOps(this.k, p, trackingWas),
          ['ZADD', this.k.reservations, now + this.d.policy.depositOpenTimeoutMs, p.id],
          ...slotOps,
        ],
      );

    // 1. With the recipient's other parcels, when they fit and the compartment is not in use.
    let tried = false;
    if (input.shareCompartment !== false) {
      for (const sharedNo of await this.sharedCandidates(unit.id, input.phone, input.size, read?.liveIds)) {
        tried = true;
        const cur = await this.d.parcels.slotWithParcels(unit.id, sharedNo);
        if (!cur || cur.slot.phone !== input.phone || !canStart(cur.slot, cur.parcels, 'deposit')) continue;
        const parcel = { ...base, compartment: sharedNo };
        const slot: Slot = { ...cur.slot, parcels: [...cur.slot.parcels, id], intent: 'deposit', intentAt: now };
        if (await write(parcel, this.d.parcels.versionCheck(this.k.slot(unit.id, sharedNo), cur.slot.v), this.d.parcels.putSlot(slot))) return parcel;
        if (await this.trackingChanged(input, trackingWas)) return 'tracking-taken';
      }
    }
    // 2. The smallest free compartment that fits.
    const state = tried ? await this.d.unitStore.unit(unit.id) : fresh;
    if (!state) return null;
    const allocated = !tried && read?.allocated ? read.allocated : await this.d.parcels.allocated(unit.id);
    const order = candidates(state.compartments, allocated, input.size, { preferLow: prefs.lowCompartment, low: unit.low ?? LOW_COMPARTMENTS[unit.id] ?? [] });
    for (const no of order) {
      const parcel = { ...base, compartment: no };
      const slot: Slot = { unit: unit.id, compartment: no, phone: input.phone, parcels: [id], codeHash: null, intent: 'deposit', intentAt: now, v: -1 };
      if (await write(parcel, { key: this.k.slot(unit.id, no), absent: true }, [...this.d.parcels.putSlot(slot), ['SADD', this.k.slots(unit.id), no]])) return parcel;
      if (await this.trackingChanged(input, trackingWas)) return 'tracking-taken';
      this.d.counters.inc('lg_allocation_races_total', { unit: unit.id });
    }
    return null;
  }

  private async trackingChanged(input: DepositInput, was: TrackingWas): Promise<boolean> {
    return !sameTracking(await this.d.parcels.trackingState(input.carrier, input.trackingNumber), was);
  }

  private async sharedCandidates(unit: string, phone: string, size: Size, liveIds?: string[]): Promise<number[]> {
    const parcels = await this.d.parcels.parcels(liveIds ?? (await this.d.parcels.liveParcelIds(phone)));
    const nos = parcels.filter((p) => p.unit === unit && COLLECTABLE.has(p.state) && sizeRank(p.size) >= sizeRank(size)).map((p) => p.compartment);
    const profile = unitProfile(this.d.units, unit);
    return [...new Set(nos)].filter((no) => {
      const c = profile.compartments.find((x) => x.no === no);
      return c && sizeRank(c.size) >= sizeRank(size);
    });
  }

  private async openForDeposit(parcel: Parcel, courier: Courier): Promise<Parcel> {
    const abandon = (why: string) =>
      this.commit.step(parcel.unit, parcel.compartment, (cur) => onDepositAbandoned(cur.slot, cur.parcels, parcel.id, this.d.clock.now(), why), courierActor(courier));
    let cmd;
    try {
      cmd = await this.d.commands.send(
        parcel.unit,
        { op: 'open', compartment: parcel.compartment },
        { id: `deposit-${parcel.id}`, reason: `parcel ${parcel.id}: deposit`, actor: courierActor(courier), parcel: parcel.id, intent: 'deposit' },
      );
    } catch (err) {
      if (!(err instanceof OpenRefused)) throw err;
      // locked down or over the rate limit since the check above: never sent, the reservation is let go
      await abandon(`open-${err.why}`);
      throw openRefusal(err);
    }
    if (cmd.result === 'done' || cmd.result === 'timed_out' || cmd.state === 'sent') {
      // timed out: the door may still open; if it does not within the deposit window, the sweep cancels.
      void this.screen.show(parcel.unit, `请放入 ${parcel.compartment}号`, `Box ${parcel.compartment}: put the parcel in`, 20);
      return (await this.d.parcels.parcel(parcel.id)) ?? parcel;
    }
    await abandon(`open-${cmd.result}`);
    throw new ParcelError('open_failed', `compartment ${parcel.compartment} did not open (${cmd.result}); ask again for another one`, { result: cmd.result });
  }
}
