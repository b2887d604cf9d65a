import { codeHash } from '../domain/codes.js';
import type { CommandResult } from '../domain/model.js';
import { COLLECTABLE, LIVE_STATES, extendDeadline, type NoticeIntent, type Parcel } from '../domain/parcel.js';
import { presenceCodeValid } from '../domain/presence.js';
import { residentActor, type EvidenceEntry } from '../evidence/entry.js';
import { unitChain } from '../evidence/log.js';
import { maskCode } from '../domain/codes.js';
import type { Committer } from './commit.js';
import { unitProfile, type ParcelDeps } from './context.js';
import type { Doors } from './doors.js';
import { ParcelError } from './errors.js';
import { keypadRead } from './keypad-lua.js';
import type { Attempt, FailureLimiter } from './limits.js';
import type { Op } from '../store/tx.js';

/**
 * Residents: a remote pickup (code + phone + the presence code on the unit's screen), their parcels and one
 * extension, each proven by phone + one of their codes. Wrong attempts count per phone and per client address.
 */
export class Pickups {
  constructor(
    private readonly d: ParcelDeps,
    private readonly commit: Committer,
    private readonly doors: Doors,
    readonly limiter: FailureLimiter,
  ) {}

  private get k() {
    return this.d.parcels.k;
  }

  async remote(input: { unit: string; code: string; phone: string; presenceCode: string; client: string; ref: string }): Promise<{ compartment: number; parcels: Parcel[]; result: CommandResult }> {
    const unit = unitProfile(this.d.units, input.unit);
    const actor = residentActor(input.phone);
    const tried = (result: string, compartment?: number): EvidenceEntry => ({
      at: this.d.clock.now(),
      kind: 'code-checked',
      actor,
      unit: unit.id,
      via: 'api',
      code: maskCode(input.code),
      result,
      ...(compartment !== undefined ? { compartment } : {}),
    });
    // the limiters, then the code and its compartment's slot and parcels in the last one's script (keypad-lua.ts),
    // as at the keypad: the code is read whatever the presence code, and counts only once that is checked
    const attempt = await this.admit(input.phone, input.client, keypadRead(this.d.parcels, unit.id, codeHash(this.d.codeKey, unit.id, input.code)));
    if (!presenceCodeValid(this.d.codeKey, unit.id, input.presenceCode, this.d.clock.now())) {
      await attempt.failed();
      throw new ParcelError('wrong_presence_code', 'the presence code does not match the one on the unit screen');
    }
    const found = attempt.data;
    if (found === null || !found.cur || found.cur.slot.phone !== input.phone) {
      await attempt.failed();
      this.d.counters.inc('lg_wrong_codes_total', { unit: unit.id, via: 'api' });
      await this.d.parcels.evidence.append(unitChain(unit.id), [tried('wrong')]);
      throw new ParcelError('wrong_code', 'no parcel for this code and phone at this unit');
    }
    const no = found.no;
    // The attempts' end and the code's entry go with the pickup's intent (one step), or on their own if none is written.
    const { result, parcels } = await this.doors.startOpen(unit.id, no, 'pickup', {
      ref: input.ref,
      phone: input.phone,
      actor,
      reason: `pickup ${no}: remote`,
      read: found.cur,
      with: { ops: attempt.okOps(), entries: [tried('right', no)] },
    });
    if (result !== 'done' && result !== 'timed_out') {
      throw new ParcelError('open_failed', `the door did not open (${result}); please call the property office`, { result });
    }
    return { compartment: no, parcels: parcels.filter((p) => COLLECTABLE.has(p.state)), result };
  }

  /**
   * Admit a remote attempt against the phone and the client address before its code is checked (see limits.ts), or
   * refuse it if either is locked.
   */
  private async admit(phone: string, client: string): Promise<{ ok(): Promise<void>; failed(): Promise<void> }>;
  private async admit<T>(
    phone: string,
    client: string,
    /** the last limiter's script, reading more in the same step (FailureLimiter.admitWith): its reading is `data` */
    read: (keys: [string, string, string], args: (string | number)[]) => Promise<[number, T]>,
  ): Promise<{ ok(): Promise<void>; okOps(): Op[]; failed(): Promise<void>; data: T }>;
  private async admit<T>(
    phone: string,
    client: string,
    read?: (keys: [string, string, string], args: (string | number)[]) => Promise<[number, T]>,
  ): Promise<{ ok(): Promise<void>; okOps(): Op[]; failed(): Promise<void>; data: T | undefined }> {
    const now = this.d.clock.now();
    const attempts: Attempt[] = [];
    let data: T | undefined;
    const limits = [['phone', phone], ['ip', client]] as const;
    for (const [i, [kind, id]] of limits.entries()) {
      const failKey = this.k.apiFailures(kind, id);
      const lockKey = this.k.apiLock(kind, id);
      const a = read && i === limits.length - 1 ? await this.limiter.admitWith(failKey, lockKey, now, read) : await this.limiter.admit(failKey, lockKey, now);
      if ('lockedMs' in a) {
        await Promise.all(attempts.map((x) => x.ok())); // not checked: does not count
        throw new ParcelError('locked_out', 'too many wrong attempts; try again later', { until: now + a.lockedMs, retryAfterS: Math.ceil(a.lockedMs / 1000) });
      }
      if ('data' in a) data = a.data as T;
      attempts.push(a);
    }
    return {
      data,
      ok: async () => {
        await Promise.all(attempts.map((a) => a.ok()));
      },
      okOps: () => attempts.flatMap((a) => a.okOps()),
      failed: async () => {
        await Promise.all(attempts.map((a) => a.failed(this.d.clock.now())));
      },
    };
  }

  /** Phone + one of the resident's codes proves who they are; no listing by phone alone. */
  async residentParcels(phone: string, code: string, client: string): Promise<Parcel[]> {
    const attempt = await this.admit(phone, client);
    const parcels = await this.d.parcels.parcels(await this.d.parcels.liveParcelIds(phone));
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
    return this.extendOwn(phone, parcel);
  }

  /** Extend a parcel already proven to be the resident's (by a code, or a signed-in resident). */
  async extendOwn(phone: string, parcel: Parcel): Promise<Parcel> {
    if (parcel.phone !== phone) throw new ParcelError('not_found', 'no such parcel for this phone');
    if (!LIVE_STATES.has(parcel.state)) throw new ParcelError('not_waiting', `the parcel is ${parcel.state}, not waiting in the locker`);
    const parcelId = parcel.id;
    const plan = await this.commit.step(
      parcel.unit,
      parcel.compartment,
      (cur) => {
        const p = cur.parcels.find((x) => x.id === parcelId);
        if (!p) throw new ParcelError('not_found', 'no such parcel for this phone');
        const r = extendDeadline(p, this.d.clock.now(), this.d.policy.extendMs);
        if (r === 'already-extended') throw new ParcelError('already_extended', 'the deadline can be extended once, and already was');
        if (r === 'not-waiting') throw new ParcelError('not_waiting', `the parcel is ${p.state}, not waiting in the locker`);
        const notices: NoticeIntent[] = [{ kind: 'deadline-extended', parcelId }];
        return {
          parcels: cur.parcels.map((x) => (x.id === parcelId ? r.parcel : x)),
          slot: cur.slot,
          transitions: r.transition ? [r.transition] : [{ parcelId, from: p.state, to: p.state, reason: 'deadline-extended' }],
          notices,
          cancelReminders: [],
          codeOut: null,
          codeIn: null,
        };
      },
      residentActor(phone),
    );
    const after = plan?.parcels.find((p) => p.id === parcelId);
    if (!after) throw new ParcelError('not_waiting', 'the parcel is no longer waiting in the locker');
    return after;
  }
}
