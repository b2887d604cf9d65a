import { onDeadline, onDepositAbandoned } from '../domain/parcel.js';
import { systemActor } from '../evidence/entry.js';
import { ParcelStore } from '../store/parcels.js';
import type { Committer } from './commit.js';
import type { ParcelDeps } from './context.js';
import type { Doors } from './doors.js';
import type { Keypad } from './keypad.js';
import type { FailureLimiter } from './limits.js';

const SWEEP = systemActor('sweep');

/**
 * Deposit windows, deadlines, stale intents and expired keypad locks. Idempotent: every gateway may run it. One bad
 * record is logged, counted and skipped; it never stops the sweep for the others.
 */
export class Sweep {
  constructor(
    private readonly d: ParcelDeps,
    private readonly commit: Committer,
    private readonly doors: Doors,
    private readonly keypad: Keypad,
    private readonly keypadLimiter: FailureLimiter,
  ) {}

  private get k() {
    return this.d.parcels.k;
  }

  async run(): Promise<void> {
    const now = this.d.clock.now();
    for (const id of await this.d.parcels.due(this.k.reservations, now)) {
      await this.each('deposit window', id, async () => {
        const p = await this.d.parcels.parcel(id);
        if (!p || p.state !== 'reserved') return void (await this.d.parcels.redis.zrem(this.k.reservations, id));
        this.d.logger.info('deposit cancelled: the door was not opened in time', { parcel: id });
        await this.commit.step(p.unit, p.compartment, (cur) => onDepositAbandoned(cur.slot, cur.parcels, id, now, 'no-door-open'), SWEEP);
      });
    }
    for (const id of await this.d.parcels.due(this.k.deadlines, now)) {
      await this.each('deadline', id, async () => {
        const p = await this.d.parcels.parcel(id);
        if (!p || p.state !== 'stored') return void (await this.d.parcels.redis.zrem(this.k.deadlines, id));
        await this.commit.step(p.unit, p.compartment, (cur) => onDeadline(cur.slot, cur.parcels, id, now), SWEEP);
      });
    }
    // Pickups and returns whose door never opened are given up (the index holds only those under way).
    for (const m of await this.d.parcels.due(this.k.intents, now - this.d.policy.intentTimeoutMs)) {
      await this.each('intent', m, async () => {
        const { unit, compartment } = ParcelStore.parseIntentMember(m);
        await this.doors.clearIntent(unit, compartment);
      });
    }
    for (const unit of this.d.units) {
      const state = await this.d.unitStore.unit(unit.id);
      if (state?.online && state.keypad === 'locked' && !(await this.keypadLimiter.lockedUntil(this.k.keypadLock(unit.id)))) {
        // Not awaited: an unanswered command must not hold up deadlines. At most one try a minute (the id).
        void this.keypad
          .unlock(unit.id, 'lock-expired', `kpunlock-${unit.id}-${Math.floor(now / 60_000)}`)
          .catch((err: unknown) => this.d.logger.warn('keypad unlock failed', { unit: unit.id, err }));
      }
    }
  }

  private async each(what: string, id: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.d.counters.inc('lg_sweep_errors_total', { what });
      this.d.logger.error('sweep: one item failed; the others go on', { what, id, err });
    }
  }
}
