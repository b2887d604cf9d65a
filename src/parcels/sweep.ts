import { COLLECTABLE, onDeadline, onDepositAbandoned } from '../domain/parcel.js';
import { systemActor } from '../evidence/entry.js';
import { ParcelStore } from '../store/parcels.js';
import type { Committer } from './commit.js';
import type { ParcelDeps } from './context.js';
import type { Doors } from './doors.js';
import type { Keypad } from './keypad.js';
import type { FailureLimiter } from './limits.js';

const SWEEP = systemActor('sweep');
/** how long after a status answer its reading is trusted to be in (some dialects answer first, then report) */
const CHECK_SETTLE_MS = 1_000;
/** at most one status request per held reservation this often */
const ASK_EVERY_MS = 15_000;
/** how long a status answer counts for a held reservation */
const CHECKED_TTL_MS = 10 * 60_000;

/** KEYS: the index of locked keypads, the unit's hash; ARGV: the unit */
const DROP_UNLOCKED = `if redis.call('HGET', KEYS[2], 'keypad') ~= 'locked' then redis.call('SREM', KEYS[1], ARGV[1]) end return 0`;

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
      await this.each('deposit window', id, () => this.windowOver(id, now));
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
    await this.keypadLocks(now);
  }

  /** false until this process has looked at every unit once (locks written before the index of locked keypads) */
  private keypadScanned = false;

  /**
   * Keypads locked by wrong codes whose lock ran out are enabled again. The candidates are the index of locked
   * keypads (written with the lock), not every unit every sweep (1,000 units' state a second was most of an idle
   * fleet's Redis traffic and garbage); once per process every unit is read, for locks older than the index.
   */
  private async keypadLocks(now: number): Promise<void> {
    const redis = this.d.parcels.redis;
    const scan = !this.keypadScanned;
    const ids = scan ? this.d.units.map((u) => u.id) : await redis.smembers(this.k.keypadLocked);
    if (!ids.length) return;
    const states = await this.d.unitStore.onlineAndKeypad(ids);
    this.keypadScanned = true;
    for (const [i, unit] of ids.entries()) {
      const state = states[i];
      if (!state) continue; // not one of this gateway's units
      if (state.keypad !== 'locked') {
        // out of the index unless locked again since the read (a lock writes both in one step)
        if (!scan) await redis.eval(DROP_UNLOCKED, 2, this.k.keypadLocked, this.k.unit(unit), unit);
        continue;
      }
      if (scan) await redis.sadd(this.k.keypadLocked, unit);
      if (state.online && !(await this.keypadLimiter.lockedUntil(this.k.keypadLock(unit)))) {
        // Not awaited: an unanswered command must not hold up deadlines. At most one try a minute (the id).
        void this.keypad
          .unlock(unit, 'lock-expired', `kpunlock-${unit}-${Math.floor(now / 60_000)}`)
          .catch((err: unknown) => this.d.logger.warn('keypad unlock failed', { unit, err }));
      }
    }
  }

  /**
   * A deposit window ended with the parcel still `reserved`: the gateway never heard the door open. That is not proof
   * that it did not: the open may have been carried out while its report was lost (a Redis outage, a dropped frame,
   * an answer that timed out), and the courier may have put the parcel in. Cancelling on the clock alone would then
   * hand a full compartment to the next deposit (the soak saw it: docs/reliability.md, defect 4). So the unit is asked
   * for its status first (a full reading, reconciled as every reading is: a door found open or a parcel found inside
   * moves the parcel on), and the deposit is cancelled only once the unit has answered and its compartment is shut
   * and empty, or shut and holding the recipient's other parcels (a shared compartment: its sensor cannot tell one
   * parcel from two, so a shut door is all there is to go by, as before). A unit that cannot answer (offline, a
   * silent board) keeps the reservation until it can.
   */
  private async windowOver(id: string, now: number): Promise<void> {
    const redis = this.d.parcels.redis;
    const p = await this.d.parcels.parcel(id);
    if (!p || p.state !== 'reserved') {
      await redis.zrem(this.k.reservations, id);
      return void (await redis.del(this.k.depositChecked(id)));
    }
    const checkedAt = Number((await redis.get(this.k.depositChecked(id))) ?? NaN);
    const state = await this.d.unitStore.unit(p.unit);
    // A status answer precedes the reading it promises in some dialects (compact-v2): look a moment later.
    if (checkedAt <= now - CHECK_SETTLE_MS) {
      const c = state?.compartments.find((x) => x.no === p.compartment);
      if (c && !c.doorOpen && (!c.occupied || (await this.sharedWithParcelsInside(p.unit, p.compartment, id)))) {
        this.d.logger.info('deposit cancelled: the door was not opened in time (the unit confirms it shut and empty)', { parcel: id });
        await this.commit.step(p.unit, p.compartment, (cur) => onDepositAbandoned(cur.slot, cur.parcels, id, now, 'no-door-open'), SWEEP);
        return void (await redis.del(this.k.depositChecked(id)));
      }
      // open or occupied: the reading's events move the parcel on (the engine); nothing to cancel
      return;
    }
    if (!Number.isNaN(checkedAt) || !state?.online) return; // answered just now, or away: its reconnect brings a reading
    if ((await redis.set(this.k.depositAsking(id), String(now), 'PX', ASK_EVERY_MS, 'NX')) !== 'OK') return;
    void this.askStatus(p.unit, id, now);
  }

  /** The compartment holds other parcels of the slot, physically inside (a deposit that shares a compartment). */
  private async sharedWithParcelsInside(unit: string, no: number, id: string): Promise<boolean> {
    const cur = await this.d.parcels.slotWithParcels(unit, no);
    return !!cur?.parcels.some((x) => x.id !== id && COLLECTABLE.has(x.state));
  }

  private async askStatus(unit: string, id: string, now: number): Promise<void> {
    let result: string;
    try {
      const cmd = await this.d.commands.send(unit, { op: 'status' }, { id: `depcheck-${id}-${now}`, reason: `parcel ${id}: deposit window over; is the compartment shut and empty?`, actor: SWEEP });
      result = cmd.result ?? 'none';
    } catch (err) {
      result = err instanceof Error ? err.message : String(err);
    }
    if (result === 'done') {
      await this.d.parcels.redis.set(this.k.depositChecked(id), String(this.d.clock.now()), 'PX', CHECKED_TTL_MS).catch(() => {});
      return;
    }
    this.d.counters.inc('lg_deposits_held_total', { unit });
    this.d.logger.warn('deposit window over, but the unit did not answer a status request: the reservation is kept; asking again', { parcel: id, unit, result });
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
