import { UNITS, LOW_COMPARTMENTS } from '../../devices/units.js';
import type { CommandBus } from '../bus/commands.js';
import { candidates, nearestUnits, sizeRank } from '../domain/allocation.js';
import { codeHash, maskCode, randomCode } from '../domain/codes.js';
import { ulid } from '../domain/ids.js';
import type { CommandResult, Size, UnitEvent, UnitProfile } from '../domain/model.js';
import {
  COLLECTABLE,
  LIVE_STATES,
  canStart,
  extendDeadline,
  onDeadline,
  onDepositAbandoned,
  onDoor,
  type Intent,
  type NoticeIntent,
  type Parcel,
  type Plan,
  type Slot,
} from '../domain/parcel.js';
import { presenceCodeValid } from '../domain/presence.js';
import type { Logger } from '../log.js';
import type { Counters } from '../metrics.js';
import { ParcelStore } from '../store/parcels.js';
import type { Check, Op } from '../store/tx.js';
import type { LoggedEvent, UnitStore } from '../store/units.js';
import type { Courier, Couriers, Residents } from './accounts.js';
import { ParcelError } from './errors.js';
import { FailureLimiter, type Attempt } from './limits.js';
import { noticesFor, pendingNoticeIds, type NoticePolicy } from './notices.js';

export interface ParcelPolicy extends NoticePolicy {
  holdMs: number;
  extendMs: number;
  depositOpenTimeoutMs: number;
  /** keypad events older than this (e.g. replayed after a reconnect) open nothing */
  codeMaxAgeMs: number;
  intentTimeoutMs: number;
  lockout: { max: number; windowMs: number; lockMs: number };
}

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

const MAX_RETRIES = 8;

/**
 * The product's main job: parcels in, the right person told, only that person takes them out.
 * Every change is read -> planned by the pure state machine (domain/parcel.ts) -> written in one atomic step with
 * its log entries and outbox notices (store/tx.ts), re-planned if anything changed in between.
 */
export class ParcelService {
  private readonly units: readonly UnitProfile[];
  private readonly keypadLimiter: FailureLimiter;
  readonly apiLimiter: FailureLimiter;

  constructor(
    private readonly d: {
      parcels: ParcelStore;
      unitStore: UnitStore;
      commands: CommandBus;
      couriers: Couriers;
      residents: Residents;
      codeKey: Buffer;
      policy: ParcelPolicy;
      logger: Logger;
      counters: Counters;
      units?: readonly UnitProfile[];
      now?: () => number;
    },
  ) {
    this.units = d.units ?? UNITS;
    this.keypadLimiter = new FailureLimiter(d.parcels.redis, d.policy.lockout);
    this.apiLimiter = new FailureLimiter(d.parcels.redis, d.policy.lockout);
  }

  private now(): number {
    return this.d.now?.() ?? Date.now();
  }

  private get k() {
    return this.d.parcels.k;
  }

  profile(id: string): UnitProfile {
    const u = this.units.find((x) => x.id === id);
    if (!u) throw new ParcelError('not_found', `no unit ${id}`);
    return u;
  }

  // ------------------------------------------------------------------ writing plans

  /**
   * Write a plan: version checks on the slot and every parcel read, the index upkeep the new states need, the log
   * entries and the outbox notices, all in one atomic step. Returns false if something changed meanwhile.
   */
  private async write(
    before: { slot: Slot; parcels: Parcel[] },
    plan: Plan,
    extra: { checks?: Check[]; ops?: Op[]; code?: string; at: number },
  ): Promise<boolean> {
    const { slot } = before;
    const checks: Check[] = [
      this.d.parcels.versionCheck(this.k.slot(slot.unit, slot.compartment), slot.v),
      ...before.parcels.map((p) => this.d.parcels.versionCheck(this.k.parcel(p.id), p.v)),
      ...(extra.checks ?? []),
    ];
    const ops: Op[] = [...(extra.ops ?? [])];
    const byId = new Map(before.parcels.map((p) => [p.id, p]));
    for (const p of plan.parcels) {
      if (byId.get(p.id) === p) continue;
      ops.push(this.d.parcels.putParcel(p), ...this.indexOps(p));
    }
    if (plan.slot === null) {
      ops.push(...this.d.parcels.delSlot(slot.unit, slot.compartment));
    } else if (plan.slot !== slot) {
      ops.push(...this.d.parcels.putSlot(plan.slot));
    }
    if (plan.codeOut && plan.codeOut !== plan.codeIn) ops.push(['DEL', this.k.code(slot.unit, plan.codeOut)]);
    if (plan.codeIn) {
      checks.push({ key: this.k.code(slot.unit, plan.codeIn), absent: true });
      ops.push(['SET', this.k.code(slot.unit, plan.codeIn), slot.compartment]);
    }
    for (const t of plan.transitions) ops.push(this.logOp(slot.unit, { ...t, compartment: slot.compartment }, extra.at));
    ops.push(...(await this.noticeOps(plan, slot, extra.code)));
    const ok = (await this.d.parcels.apply(checks, ops)) !== null;
    if (ok) {
      for (const t of plan.transitions) this.d.counters.inc('lg_parcel_transitions_total', { to: t.to });
    }
    return ok;
  }

  private indexOps(p: Parcel): Op[] {
    const ops: Op[] = [];
    if (!LIVE_STATES.has(p.state)) {
      ops.push(['SREM', this.k.phone(p.phone), p.id], ['ZREM', this.k.deadlines, p.id], ['ZREM', this.k.reservations, p.id]);
    } else {
      if (p.state !== 'reserved') ops.push(['ZREM', this.k.reservations, p.id]);
      if (p.state === 'stored' && p.deadline) ops.push(['ZADD', this.k.deadlines, p.deadline, p.id]);
      if (p.state === 'expired') ops.push(['ZREM', this.k.deadlines, p.id]);
    }
    return ops;
  }

  private logOp(unit: string, t: { parcelId: string; from: string; to: string; reason: string; compartment: number }, at: number): Op {
    const e: UnitEvent = { unit, at, source: {}, kind: 'parcel', ...t };
    return ['XADD', this.k.events(unit), '*', 'e', JSON.stringify(e)];
  }

  private async noticeOps(plan: Plan, slot: Slot, code: string | undefined): Promise<Op[]> {
    const ops: Op[] = [];
    const unit = this.profile(slot.unit);
    const couriers = new Map<string, Courier | null>();
    const courier = async (id: string) => {
      if (!couriers.has(id)) couriers.set(id, await this.d.couriers.get(id));
      return couriers.get(id) ?? null;
    };
    const storedNow = new Set(plan.transitions.filter((t) => t.to === 'stored' && t.from !== 'expired').map((t) => t.parcelId));
    const count = plan.parcels.filter((p) => COLLECTABLE.has(p.state)).length;
    for (const n of plan.notices) {
      const parcel = plan.parcels.find((p) => p.id === n.parcelId);
      if (!parcel) continue;
      const notices = noticesFor(n, {
        parcel,
        unit,
        courier: await courier(parcel.courierId),
        policy: this.d.policy,
        ...(n.kind === 'stored' ? { code, count, ...(storedNow.has(parcel.id) ? {} : { codeTag: plan.codeIn?.slice(0, 10) }) } : {}),
      });
      for (const notice of notices) ops.push(['XADD', this.k.outbox, '*', 'type', 'notice', 'notice', JSON.stringify(notice)]);
    }
    if (plan.cancelReminders.length) {
      const ids = plan.parcels.filter((p) => plan.cancelReminders.includes(p.id)).flatMap((p) => pendingNoticeIds(p, this.d.policy));
      ops.push(['XADD', this.k.outbox, '*', 'type', 'cancel', 'ids', JSON.stringify(ids)]);
    }
    return ops;
  }

  /** Read a slot, plan, write; again from the top if something changed in between. */
  private async step(
    unit: string,
    compartment: number,
    plan: (s: { slot: Slot; parcels: Parcel[] }, code: string) => Plan | null,
    at = this.now(),
  ): Promise<Plan | null> {
    for (let i = 0; i < MAX_RETRIES; i++) {
      const cur = await this.d.parcels.slotWithParcels(unit, compartment);
      if (!cur) return null;
      const code = randomCode();
      const p = plan(cur, codeHash(this.d.codeKey, unit, code));
      if (!p || (p.transitions.length === 0 && p.slot === cur.slot && !p.codeIn)) return p;
      if (await this.write(cur, p, { code, at })) return p;
      this.d.counters.inc('lg_parcel_step_retries_total');
    }
    throw new ParcelError('conflict', `compartment ${compartment} at ${unit} kept changing; try again`);
  }

  // ------------------------------------------------------------------ courier deposit

  async deposit(courier: Courier, input: DepositInput): Promise<Parcel> {
    const existingId = await this.d.parcels.byTracking(input.carrier, input.trackingNumber);
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
    const prefs = await this.d.residents.prefs(input.phone);
    if (prefs.consent === 'refused') {
      throw new ParcelError(
        'consent_refused',
        'the recipient has not agreed to locker delivery; deliver in person or by another agreed way',
      );
    }
    const units = input.unit ? [this.profile(input.unit)] : this.units;
    for (const unit of units) {
      const state = await this.d.unitStore.unit(unit.id);
      if (!state?.online || state.outOfService) {
        const why = state?.outOfService ? 'closed down by staff' : 'offline';
        if (input.unit) throw new ParcelError('unit_offline', `unit ${unit.id} is ${why}`, await this.suggest(unit, input.size));
        continue;
      }
      const parcel = await this.reserve(unit, courier, input, prefs, existingId);
      if (parcel === 'tracking-taken') {
        // The same deposit asked twice at once: the other request reserved it; answer with that parcel.
        return this.deposit(courier, input);
      }
      if (parcel) return this.openForDeposit(parcel);
    }
    const from = units[0]!;
    throw new ParcelError(
      'no_compartment',
      input.unit ? `no free ${input.size} compartment at ${from.id}` : `no free ${input.size} compartment at any unit`,
      input.unit ? await this.suggest(from, input.size) : undefined,
    );
  }

  /** The nearest other unit that has a free compartment of that size, if any. */
  private async suggest(from: UnitProfile, size: Size): Promise<Record<string, unknown> | undefined> {
    for (const { unit, distanceM } of nearestUnits(from, this.units)) {
      const state = await this.d.unitStore.unit(unit.id);
      if (!state?.online || state.outOfService) continue;
      const free = candidates(state.compartments, await this.d.parcels.allocated(unit.id), size, { preferLow: false, low: [] });
      if (free.length) {
        return { nearest: { unit: unit.id, site: unit.site, siteName: unit.siteName, distanceM, freeCompartments: free.length } };
      }
    }
    return undefined;
  }

  private async reserve(
    unit: UnitProfile,
    courier: Courier,
    input: DepositInput,
    prefs: { lowCompartment: boolean; lang: 'zh' | 'en' },
    /** what the tracking key held when we looked: a concurrent deposit of the same parcel makes the step fail */
    trackingWas: string | null,
  ): Promise<Parcel | 'tracking-taken' | null> {
    const now = this.now();
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
    const commonOps = (p: Parcel): Op[] => [
      this.d.parcels.putParcel({ ...p, v: -1 }),
      ['SADD', this.k.phone(p.phone), p.id],
      ['SET', this.k.tracking(p.carrier, p.trackingNumber), p.id],
      ['ZADD', this.k.reservations, now + this.d.policy.depositOpenTimeoutMs, p.id],
      this.logOp(unit.id, { parcelId: p.id, from: 'new', to: 'reserved', reason: `deposit by ${courier.id}`, compartment: p.compartment }, now),
    ];

    // 1. With the recipient's other parcels, when they fit and the compartment is not in use.
    if (input.shareCompartment !== false) {
      for (const sharedNo of await this.sharedCandidates(unit.id, input.phone, input.size)) {
        const cur = await this.d.parcels.slotWithParcels(unit.id, sharedNo);
        if (!cur || cur.slot.phone !== input.phone || !canStart(cur.slot, cur.parcels, 'deposit')) continue;
        const parcel = { ...base, compartment: sharedNo };
        const slot: Slot = { ...cur.slot, parcels: [...cur.slot.parcels, id], intent: 'deposit', intentAt: now };
        const written = await this.d.parcels.apply(
          [
            this.d.parcels.versionCheck(this.k.slot(unit.id, sharedNo), cur.slot.v),
            { key: this.k.parcel(id), absent: true },
            { key: this.k.tracking(input.carrier, input.trackingNumber), value: trackingWas },
          ],
          [...commonOps(parcel), ...this.d.parcels.putSlot(slot)],
        );
        if (written) return parcel;
        if (await this.trackingChanged(input, trackingWas)) return 'tracking-taken';
      }
    }
    // 2. The smallest free compartment that fits; the slot key's absence is what guarantees one parcel per compartment.
    const state = await this.d.unitStore.unit(unit.id);
    if (!state) return null;
    const allocated = await this.d.parcels.allocated(unit.id);
    const order = candidates(state.compartments, allocated, input.size, {
      preferLow: prefs.lowCompartment,
      low: LOW_COMPARTMENTS[unit.id] ?? [],
    });
    for (const no of order) {
      const parcel = { ...base, compartment: no };
      const slot: Slot = { unit: unit.id, compartment: no, phone: input.phone, parcels: [id], codeHash: null, intent: 'deposit', intentAt: now, v: -1 };
      const written = await this.d.parcels.apply(
        [
          { key: this.k.slot(unit.id, no), absent: true },
          { key: this.k.parcel(id), absent: true },
          { key: this.k.tracking(input.carrier, input.trackingNumber), value: trackingWas },
        ],
        [...commonOps(parcel), ...this.d.parcels.putSlot(slot), ['SADD', this.k.slots(unit.id), no]],
      );
      if (written) return parcel;
      if (await this.trackingChanged(input, trackingWas)) return 'tracking-taken';
      this.d.counters.inc('lg_allocation_races_total', { unit: unit.id });
    }
    return null;
  }

  private async trackingChanged(input: DepositInput, was: string | null): Promise<boolean> {
    return (await this.d.parcels.byTracking(input.carrier, input.trackingNumber)) !== was;
  }

  private async sharedCandidates(unit: string, phone: string, size: Size): Promise<number[]> {
    const parcels = await this.d.parcels.parcels(await this.d.parcels.liveParcelIds(phone));
    const nos = parcels
      .filter((p) => p.unit === unit && COLLECTABLE.has(p.state) && sizeRank(p.size) >= sizeRank(size))
      .map((p) => p.compartment);
    const profile = this.profile(unit);
    return [...new Set(nos)].filter((no) => {
      const c = profile.compartments.find((x) => x.no === no);
      return c && sizeRank(c.size) >= sizeRank(size);
    });
  }

  private async openForDeposit(parcel: Parcel): Promise<Parcel> {
    const cmd = await this.d.commands.send(
      parcel.unit,
      { op: 'open', compartment: parcel.compartment },
      { id: `deposit-${parcel.id}`, reason: `parcel ${parcel.id}: deposit` },
    );
    if (cmd.result === 'done' || cmd.result === 'timed_out' || cmd.state === 'sent') {
      // timed out: the door may still open; if it does not within the deposit window, the sweep cancels.
      void this.display(parcel.unit, `请放入 ${parcel.compartment}号`, `Box ${parcel.compartment}: put the parcel in`, 20);
      return (await this.d.parcels.parcel(parcel.id)) ?? parcel;
    }
    await this.abandon(parcel, `open-${cmd.result}`);
    throw new ParcelError('open_failed', `compartment ${parcel.compartment} did not open (${cmd.result}); ask again for another one`, {
      result: cmd.result,
    });
  }

  private async abandon(parcel: Parcel, reason: string): Promise<void> {
    await this.step(parcel.unit, parcel.compartment, (cur) => onDepositAbandoned(cur.slot, cur.parcels, parcel.id, this.now(), reason));
  }

  async get(id: string): Promise<Parcel | null> {
    return this.d.parcels.parcel(id);
  }

  // ------------------------------------------------------------------ door and keypad events

  /** Called for every logged unit event (from the event-stream consumer, so also after a crash). */
  async onUnitEvent(logged: LoggedEvent): Promise<void> {
    const e = logged.event;
    if (e.kind === 'door-opened' || e.kind === 'door-closed') {
      const ev = e.kind === 'door-opened' ? { kind: 'opened' as const, at: e.at } : { kind: 'closed' as const, occupied: e.occupied, at: e.at };
      await this.step(e.unit, e.compartment, (cur, newCode) => onDoor(cur.slot, cur.parcels, ev, this.d.policy, newCode), e.at);
    } else if (e.kind === 'code-entered') {
      await this.keypadCode(e.unit, e.codeHash, e.code, e.at, logged.streamId);
    }
  }

  private async keypadCode(unit: string, hash: string, masked: string, at: number, ref: string): Promise<void> {
    if (this.now() - at > this.d.policy.codeMaxAgeMs) {
      // Typed long ago (replayed after a reconnect): nobody is standing there waiting for this door.
      this.d.counters.inc('lg_stale_codes_total', { unit });
      return;
    }
    const attempt = await this.keypadLimiter.admit(this.k.wrongCodes(unit), this.k.keypadLock(unit), this.now());
    if ('lockedMs' in attempt) {
      void this.display(unit, '键盘已锁定', 'Keypad locked', 5);
      return;
    }
    const no = await this.d.parcels.codeSlot(unit, hash);
    if (no === null) {
      this.d.counters.inc('lg_wrong_codes_total', { unit, via: 'keypad' });
      this.d.logger.info('wrong code at keypad', { unit, code: masked });
      const lockedUntil = await attempt.failed(this.now());
      if (lockedUntil) await this.lockKeypad(unit, lockedUntil);
      else void this.display(unit, '取件码错误', 'Wrong code', 5);
      return;
    }
    await attempt.ok();
    // The unit in the ref: stream ids are per unit's log, so two units' events of the same millisecond share one
    // (`<ms>-0`), and a command id may be used once across all units.
    try {
      await this.startOpen(unit, no, 'pickup', { ref: `pickup-${unit}-${ref}` });
    } catch (err) {
      if (err instanceof ParcelError && err.code === 'busy') void this.display(unit, '正在开门 请稍候', 'Please wait', 5);
      throw err;
    }
  }

  private async lockKeypad(unit: string, until: number): Promise<void> {
    this.d.logger.warn('keypad locked after repeated wrong codes', { unit, until });
    await this.d.commands.send(unit, { op: 'keypad', enabled: false }, { id: `kplock-${unit}-${until}`, reason: 'wrong-codes' });
    await this.d.unitStore.apply({ unit, at: this.now(), source: {}, kind: 'keypad', state: 'locked', reason: 'wrong-codes' });
    void this.display(unit, '键盘已锁定', 'Keypad locked', 30);
    const profile = this.profile(unit);
    await this.d.parcels.redis.xadd(
      this.k.outbox,
      '*',
      'type',
      'notice',
      'notice',
      JSON.stringify({
        id: `${unit}.keypad-locked.${until}`,
        kind: 'keypad-locked',
        to: { lang: 'zh', webhook: 'property' },
        params: { unit, siteZh: profile.siteName.zh, siteEn: profile.siteName.en, lockedUntil: until },
      }),
    );
  }

  /** Staff (or the sweep, when the lock expires) enable a locked keypad. */
  async unlockKeypad(unit: string, by: string, commandId = `kpunlock-${unit}-${this.now()}`): Promise<void> {
    this.profile(unit);
    await this.keypadLimiter.clear(this.k.wrongCodes(unit), this.k.keypadLock(unit));
    await this.d.commands.send(unit, { op: 'keypad', enabled: true }, { id: commandId, reason: by });
  }

  /**
   * Mark the compartment's intent and open its door. `ref` makes it idempotent: the same keypad event handled
   * twice (after a crash) or the same API request retried sends the same command id, so the door opens once.
   */
  private async startOpen(
    unit: string,
    compartment: number,
    intent: Intent,
    opts: { ref: string; phone?: string; courierId?: string; parcelId?: string },
  ): Promise<{ result: CommandResult; parcels: Parcel[] }> {
    let parcels: Parcel[] = [];
    for (let i = 0; ; i++) {
      const cur = await this.d.parcels.slotWithParcels(unit, compartment);
      if (!cur) throw new ParcelError('not_found', 'no parcel waits there');
      if (opts.phone && cur.slot.phone !== opts.phone) throw new ParcelError('wrong_code', 'code and phone do not match');
      parcels = cur.parcels;
      const mine = cur.slot.intentRef === opts.ref;
      if (mine) break;
      if (!canStart(cur.slot, cur.parcels, intent, opts)) {
        throw new ParcelError('busy', intent === 'pickup' ? 'that compartment is being opened already' : 'nothing to take back there');
      }
      const slot: Slot = { ...cur.slot, intent, intentAt: this.now(), intentRef: opts.ref, intentParcel: intent === 'return' ? (opts.parcelId ?? null) : null };
      const ok = await this.d.parcels.apply([this.d.parcels.versionCheck(this.k.slot(unit, compartment), cur.slot.v)], this.d.parcels.putSlot(slot));
      if (ok) break;
      if (i >= MAX_RETRIES) throw new ParcelError('conflict', 'try again');
    }
    const cmd = await this.d.commands.send(unit, { op: 'open', compartment }, { id: opts.ref, reason: `${intent} ${compartment}` });
    const result = cmd.result ?? 'timed_out';
    if (result === 'done') {
      void this.display(
        unit,
        intent === 'pickup' ? `请取件 ${compartment}号` : `${compartment}号已开`,
        intent === 'pickup' ? `Box ${compartment}: take your parcel` : `Box ${compartment} open`,
        15,
      );
    } else if (result !== 'timed_out') {
      await this.clearIntent(unit, compartment, opts.ref);
      void this.display(unit, '开门失败 请联系物业', 'Call office', 10);
    }
    return { result, parcels };
  }

  /** Give up an intent whose door never opened (a failed open, or nobody came). Never once the door is open. */
  private async clearIntent(unit: string, compartment: number, ref?: string): Promise<void> {
    for (let i = 0; i < MAX_RETRIES; i++) {
      const cur = await this.d.parcels.slotWithParcels(unit, compartment);
      if (!cur || cur.slot.intent === null) return;
      if (ref && cur.slot.intentRef !== ref) return;
      // The door opened: the close will settle it (collected, returned, or back to waiting).
      if (cur.parcels.some((p) => p.state === 'collecting' || p.state === 'returning')) return;
      const slot: Slot = { ...cur.slot, intent: null, intentAt: null, intentRef: null, intentParcel: null };
      const checks = [
        this.d.parcels.versionCheck(this.k.slot(unit, compartment), cur.slot.v),
        ...cur.parcels.map((p) => this.d.parcels.versionCheck(this.k.parcel(p.id), p.v)),
      ];
      if (await this.d.parcels.apply(checks, this.d.parcels.putSlot(slot))) return;
    }
  }

  // ------------------------------------------------------------------ resident pickups and self-service

  /**
   * A remote pickup: code + phone, and the presence code on the unit's screen (so a leaked code and phone alone
   * cannot open a door from afar). Failures count per phone and per client address.
   */
  async remotePickup(input: { unit: string; code: string; phone: string; presenceCode: string; client: string; ref: string }): Promise<{ compartment: number; parcels: Parcel[]; result: CommandResult }> {
    const unit = this.profile(input.unit);
    const attempt = await this.admitApi(input.phone, input.client);
    if (!presenceCodeValid(this.d.codeKey, unit.id, input.presenceCode, this.now())) {
      await attempt.failed();
      throw new ParcelError('wrong_presence_code', 'the presence code does not match the one on the unit screen');
    }
    const no = await this.d.parcels.codeSlot(unit.id, codeHash(this.d.codeKey, unit.id, input.code));
    const slot = no === null ? null : await this.d.parcels.slot(unit.id, no);
    if (no === null || !slot || slot.phone !== input.phone) {
      await attempt.failed();
      this.d.counters.inc('lg_wrong_codes_total', { unit: unit.id, via: 'api' });
      throw new ParcelError('wrong_code', 'no parcel for this code and phone at this unit');
    }
    await attempt.ok();
    const { result, parcels } = await this.startOpen(unit.id, no, 'pickup', { ref: input.ref, phone: input.phone });
    if (result !== 'done' && result !== 'timed_out') {
      throw new ParcelError('open_failed', `the door did not open (${result}); please call the property office`, { result });
    }
    return { compartment: no, parcels: parcels.filter((p) => COLLECTABLE.has(p.state)), result };
  }

  /**
   * Count a remote attempt against the phone and the client address before its code is checked (see limits.ts),
   * or refuse it if either is locked.
   */
  private async admitApi(phone: string, client: string): Promise<{ ok(): Promise<void>; failed(): Promise<void> }> {
    const now = this.now();
    const attempts: Attempt[] = [];
    for (const [kind, id] of [['phone', phone], ['ip', client]] as const) {
      const a = await this.apiLimiter.admit(this.k.apiFailures(kind, id), this.k.apiLock(kind, id), now);
      if ('lockedMs' in a) {
        await Promise.all(attempts.map((x) => x.ok())); // not checked: does not count
        throw new ParcelError('locked_out', 'too many wrong attempts; try again later', {
          until: now + a.lockedMs,
          retryAfterS: Math.ceil(a.lockedMs / 1000),
        });
      }
      attempts.push(a);
    }
    return {
      ok: async () => {
        await Promise.all(attempts.map((a) => a.ok()));
      },
      failed: async () => {
        await Promise.all(attempts.map((a) => a.failed(this.now())));
      },
    };
  }

  /** Phone + one of the resident's codes proves who they are; no listing by phone alone. */
  async residentParcels(phone: string, code: string, client: string): Promise<Parcel[]> {
    const attempt = await this.admitApi(phone, client);
    const ids = await this.d.parcels.liveParcelIds(phone);
    const parcels = await this.d.parcels.parcels(ids);
    for (const unit of new Set(parcels.map((p) => p.unit))) {
      const no = await this.d.parcels.codeSlot(unit, codeHash(this.d.codeKey, unit, code));
      if (no !== null && parcels.some((p) => p.unit === unit && p.compartment === no)) {
        await attempt.ok();
        return parcels.filter((p) => LIVE_STATES.has(p.state)).sort((a, b) => a.createdAt - b.createdAt);
      }
    }
    await attempt.failed();
    throw new ParcelError('wrong_code', 'no parcel for this code and phone');
  }

  async extend(phone: string, code: string, parcelId: string, client: string): Promise<Parcel> {
    const mine = await this.residentParcels(phone, code, client);
    const parcel = mine.find((p) => p.id === parcelId);
    if (!parcel) throw new ParcelError('not_found', 'no such parcel for this phone');
    const plan = await this.step(parcel.unit, parcel.compartment, (cur) => {
      const p = cur.parcels.find((x) => x.id === parcelId);
      if (!p) throw new ParcelError('not_found', 'no such parcel for this phone');
      const r = extendDeadline(p, this.now(), this.d.policy.extendMs);
      if (r === 'already-extended') throw new ParcelError('already_extended', 'the deadline can be extended once, and already was');
      if (r === 'not-waiting') throw new ParcelError('not_waiting', `the parcel is ${p.state}, not waiting in the locker`);
      const parcels = cur.parcels.map((x) => (x.id === parcelId ? r.parcel : x));
      const notices: NoticeIntent[] = [{ kind: 'deadline-extended', parcelId }];
      return {
        parcels,
        slot: cur.slot,
        transitions: r.transition ? [r.transition] : [{ parcelId, from: p.state, to: p.state, reason: 'deadline-extended' }],
        notices,
        cancelReminders: [],
        codeOut: null,
        codeIn: null,
      };
    });
    return plan!.parcels.find((p) => p.id === parcelId)!;
  }

  // ------------------------------------------------------------------ courier returns

  async returnParcel(courier: Courier, parcelId: string, ref: string): Promise<{ parcel: Parcel; result: CommandResult }> {
    const parcel = await this.d.parcels.parcel(parcelId);
    if (!parcel || parcel.courierId !== courier.id) throw new ParcelError('not_found', `no parcel ${parcelId} deposited by you`);
    if (parcel.state !== 'expired') {
      throw new ParcelError('not_waiting', `only overdue parcels can be taken back; this one is ${parcel.state}`);
    }
    const { result } = await this.startOpen(parcel.unit, parcel.compartment, 'return', { ref, courierId: courier.id, parcelId });
    if (result !== 'done' && result !== 'timed_out') throw new ParcelError('open_failed', `the door did not open (${result})`, { result });
    return { parcel: (await this.d.parcels.parcel(parcelId)) ?? parcel, result };
  }

  // ------------------------------------------------------------------ timers

  /** Deposit windows, deadlines and stale intents. Idempotent: every instance may run it. */
  async sweep(): Promise<void> {
    const now = this.now();
    for (const id of await this.d.parcels.due(this.k.reservations, now)) {
      const p = await this.d.parcels.parcel(id);
      if (!p || p.state !== 'reserved') {
        await this.d.parcels.redis.zrem(this.k.reservations, id);
        continue;
      }
      this.d.logger.info('deposit cancelled: the door was not opened in time', { parcel: id });
      await this.step(p.unit, p.compartment, (cur) => onDepositAbandoned(cur.slot, cur.parcels, id, now, 'no-door-open'));
    }
    for (const id of await this.d.parcels.due(this.k.deadlines, now)) {
      const p = await this.d.parcels.parcel(id);
      if (!p || p.state !== 'stored') {
        await this.d.parcels.redis.zrem(this.k.deadlines, id);
        continue;
      }
      await this.step(p.unit, p.compartment, (cur) => onDeadline(cur.slot, cur.parcels, id, now));
    }
    // Pickups and returns whose door never opened are given up (the index holds only those under way).
    // (clearIntent's write drops the index entry; one whose door opened stays until the door closes)
    for (const m of await this.d.parcels.due(this.k.intents, now - this.d.policy.intentTimeoutMs)) {
      const { unit, compartment } = ParcelStore.parseIntentMember(m);
      await this.clearIntent(unit, compartment);
    }
    for (const unit of this.units) {
      const state = await this.d.unitStore.unit(unit.id);
      if (state?.online && state.keypad === 'locked' && !(await this.keypadLimiter.lockedUntil(this.k.keypadLock(unit.id)))) {
        // Not awaited: an unanswered command must not hold up deadlines. At most one try a minute (the id).
        void this.unlockKeypad(unit.id, 'lock-expired', `kpunlock-${unit.id}-${Math.floor(now / 60_000)}`).catch((err: unknown) =>
          this.d.logger.warn('keypad unlock failed', { unit: unit.id, err }),
        );
      }
    }
  }

  /**
   * Show a message on the unit's screen, Chinese then English (≤ 40 characters); a screen that shows only ASCII
   * (frame-485) gets the English alone. Failures are only logged: a screen message is never worth failing a pickup.
   */
  async display(unit: string, zh: string, en: string, seconds: number): Promise<void> {
    try {
      await this.d.commands.send(unit, { op: 'display', text: `${zh} ${en}`.slice(0, 40), ascii: en, seconds }, { timeoutMs: 3_000 });
    } catch (err) {
      this.d.logger.warn('display failed', { unit, err });
    }
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

export { maskCode };
