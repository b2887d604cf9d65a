import { unitChain } from '../evidence/log.js';
import { unitActor, type Actor, type EvidenceEntry } from '../evidence/entry.js';
import type { Doors } from './doors.js';
import { unitProfile, type ParcelDeps } from './context.js';
import { ParcelError } from './errors.js';
import { keypadRead } from './keypad-lua.js';
import type { FailureLimiter } from './limits.js';
import type { Screen } from './screen.js';

/**
 * Codes typed at a unit's keypad. Only wrong codes count toward a lockout (see limits.ts); a lock reaches the unit
 * (keypad command), the state (`keypad: locked`, in the same step as its evidence entry and the staff notice) and
 * staff (property webhook), and is counted.
 */
export class Keypad {
  constructor(
    private readonly d: ParcelDeps,
    private readonly doors: Doors,
    private readonly screen: Screen,
    private readonly limiter: FailureLimiter,
  ) {}

  private get k() {
    return this.d.parcels.k;
  }

  async onCode(unit: string, hash: string, masked: string, at: number, ref: string): Promise<void> {
    const now = this.d.clock.now();
    const checked = (result: string, extra: Partial<EvidenceEntry> = {}): EvidenceEntry => ({
      at: now,
      kind: 'code-checked',
      actor: { type: 'system', id: 'keypad' },
      unit,
      code: masked,
      result,
      ...extra,
    });
    if (now - at > this.d.policy.codeMaxAgeMs) {
      // Typed long ago (replayed after a reconnect): nobody is standing there waiting for this door.
      this.d.counters.inc('lg_stale_codes_total', { unit });
      await this.d.parcels.evidence.append(unitChain(unit), [checked('stale')]);
      return;
    }
    // the limiter, the code and its compartment's slot: one round trip (keypad-lua.ts)
    const attempt = await this.limiter.admitWith(this.k.wrongCodes(unit), this.k.keypadLock(unit), now, keypadRead(this.d.parcels, unit, hash));
    if ('lockedMs' in attempt) {
      void this.screen.show(unit, '键盘已锁定', 'Keypad locked', 5);
      await this.d.parcels.evidence.append(unitChain(unit), [checked('locked')]);
      return;
    }
    if (attempt.data === null) {
      this.d.counters.inc('lg_wrong_codes_total', { unit, via: 'keypad' });
      this.d.logger.info('wrong code at keypad', { unit, code: masked });
      await this.d.parcels.evidence.append(unitChain(unit), [checked('wrong')]);
      const lockedUntil = await attempt.failed(this.d.clock.now());
      if (lockedUntil) await this.lock(unit, lockedUntil);
      else void this.screen.show(unit, '取件码错误', 'Wrong code', 5);
      return;
    }
    const { no, cur } = attempt.data;
    // The unit in the ref: stream ids are per unit's log, so two units' events of the same millisecond share one
    // (`<ms>-0`), and a command id may be used once across all units. The attempt's end and the code's entry are
    // written with the pickup's intent (one step), or on their own if no intent is written.
    try {
      await this.doors.startOpen(unit, no, 'pickup', {
        ref: `pickup-${unit}-${ref}`,
        actor: unitActor(unit),
        reason: `pickup ${no}: code at keypad`,
        read: cur,
        with: { ops: attempt.okOps(), entries: [checked('right', { compartment: no })] },
      });
    } catch (err) {
      if (err instanceof ParcelError && err.code === 'busy') void this.screen.show(unit, '正在开门 请稍候', 'Please wait', 5);
      throw err;
    }
  }

  /** Five wrong codes: the state, its evidence and the staff notice in one step, then the unit is told. */
  private async lock(unit: string, until: number): Promise<void> {
    const now = this.d.clock.now();
    this.d.logger.warn('keypad locked after repeated wrong codes', { unit, until });
    this.d.counters.inc('lg_keypad_locks_total', { unit });
    const profile = unitProfile(this.d.units, unit);
    const notice = {
      id: `${unit}.keypad-locked.${until}`,
      kind: 'keypad-locked',
      to: { lang: 'zh', webhook: 'property' },
      params: { unit, siteZh: profile.siteName.zh, siteEn: profile.siteName.en, lockedUntil: until },
    };
    await this.d.parcels.commit(
      unitChain(unit),
      [{ at: now, kind: 'keypad', actor: { type: 'system', id: 'keypad-limit' }, unit, state: 'locked', reason: 'wrong-codes', until }],
      [],
      [
        ['HSET', this.k.unit(unit), 'keypad', 'locked'],
        ['SADD', this.k.keypadLocked, unit],
        ['XADD', this.k.outbox, '*', 'type', 'notice', 'notice', JSON.stringify(notice)],
      ],
    );
    await this.d.commands.send(
      unit,
      { op: 'keypad', enabled: false },
      { id: `kplock-${unit}-${until}`, reason: 'wrong-codes', actor: { type: 'system', id: 'keypad-limit' }, keypadState: 'locked' },
    );
    void this.screen.show(unit, '键盘已锁定', 'Keypad locked', 30);
  }

  /** Staff (or the sweep, when the lock expires) enable a locked keypad. */
  async unlock(unit: string, by: string, commandId = `kpunlock-${unit}-${this.d.clock.now()}`, actor: Actor = { type: 'system', id: by }): Promise<void> {
    unitProfile(this.d.units, unit);
    await this.limiter.clear(this.k.wrongCodes(unit), this.k.keypadLock(unit));
    await this.d.commands.send(unit, { op: 'keypad', enabled: true }, { id: commandId, reason: by, actor });
  }
}
