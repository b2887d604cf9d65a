import { OpenRefused } from '../bus/open-guard.js';
import type { CommandRecord, CommandResult } from '../domain/model.js';
import { canStart, onDoor, type Intent, type Parcel, type Slot } from '../domain/parcel.js';
import { systemActor, unitActor, type Actor, type EvidenceEntry } from '../evidence/entry.js';
import type { Op } from '../store/tx.js';
import type { UnitEvent } from '../domain/model.js';
import { unitChain } from '../evidence/log.js';
import type { Committer } from './commit.js';
import { MAX_RETRIES, type ParcelDeps } from './context.js';
import { ParcelError } from './errors.js';
import type { Screen } from './screen.js';

/**
 * Doors: opening one for a reason (the slot's intent, set before the command so the door events that follow are read
 * through it), giving up an intent whose door never opened, and applying the door events units report.
 */
export class Doors {
  constructor(
    private readonly d: ParcelDeps,
    private readonly commit: Committer,
    private readonly screen: Screen,
  ) {}

  private get k() {
    return this.d.parcels.k;
  }

  /**
   * A door opened or closed. Re-planned until it applies (a door event is never dropped because others wrote the
   * same compartment meanwhile); after a deposit's door closes the unit shows its presence code at once.
   */
  async onDoorEvent(e: Extract<UnitEvent, { kind: 'door-opened' | 'door-closed' }>): Promise<void> {
    const ev = e.kind === 'door-opened' ? { kind: 'opened' as const, at: e.at } : { kind: 'closed' as const, occupied: e.occupied, at: e.at };
    const actor = e.source.reconciled ? systemActor('reconcile') : unitActor(e.unit);
    const plan = await this.commit.step(e.unit, e.compartment, (cur, newCode) => onDoor(cur.slot, cur.parcels, ev, this.d.policy, newCode), actor, {
      at: e.at,
      retries: Infinity,
      // a door closing may store or collect parcels: their notices name the courier, read with the slot
      couriers: e.kind === 'door-closed',
    });
    if (e.kind === 'door-closed' && plan?.transitions.some((t) => t.to === 'stored' || t.to === 'cancelled')) void this.screen.presence(e.unit);
  }

  /**
   * Mark the compartment's intent and open its door. `ref` makes it idempotent: the same keypad event handled twice
   * (after a crash) or the same API request retried sends the same command id, so the door opens once.
   */
  async startOpen(
    unit: string,
    compartment: number,
    intent: Intent,
    /**
     * `admin`: an admin asked (passes a lockdown). `read`: the slot and its parcels as the caller just read them (the
     * first try plans on them). `with`: writes and evidence entries that go with the intent (one step), or on their
     * own when no intent is written (the same open again, or none may start).
     */
    opts: {
      ref: string;
      actor: Actor;
      phone?: string;
      courierId?: string;
      parcelId?: string;
      reason?: string;
      admin?: boolean;
      read?: { slot: Slot; parcels: Parcel[] } | null;
      with?: { ops: Op[]; entries: EvidenceEntry[] };
    },
  ): Promise<{ result: CommandResult; parcels: Parcel[] }> {
    let parcels: Parcel[] = [];
    let pending = opts.with ?? null;
    try {
      parcels = await this.markIntent(unit, compartment, intent, opts, () => (pending = null));
    } finally {
      if (pending) await this.d.parcels.commit(unitChain(unit), pending.entries, [], pending.ops);
    }
    return this.open(unit, compartment, intent, opts, parcels);
  }

  /** startOpen's first half: the intent on the slot (with `opts.with`; `written` is called once that is written). */
  private async markIntent(
    unit: string,
    compartment: number,
    intent: Intent,
    opts: { ref: string; phone?: string; courierId?: string; parcelId?: string; read?: { slot: Slot; parcels: Parcel[] } | null; with?: { ops: Op[]; entries: EvidenceEntry[] } },
    written: () => void,
  ): Promise<Parcel[]> {
    let parcels: Parcel[] = [];
    for (let i = 0; ; i++) {
      const cur = i === 0 && opts.read !== undefined ? opts.read : await this.d.parcels.slotWithParcels(unit, compartment);
      if (!cur) throw new ParcelError('not_found', 'no parcel waits there');
      if (opts.phone && cur.slot.phone !== opts.phone) throw new ParcelError('wrong_code', 'code and phone do not match');
      parcels = cur.parcels;
      if (cur.slot.intentRef === opts.ref) break;
      const now = this.d.clock.now();
      if (!canStart(cur.slot, cur.parcels, intent, opts) && !this.staleOpen(cur.slot, cur.parcels, intent, now, opts)) {
        throw new ParcelError('busy', intent === 'pickup' ? 'that compartment is being opened already' : 'nothing to take back there');
      }
      const slot: Slot = { ...cur.slot, intent, intentAt: now, intentRef: opts.ref, intentParcel: intent === 'return' ? (opts.parcelId ?? null) : null };
      const w = opts.with ?? { ops: [], entries: [] };
      const ok = await this.d.parcels.commit(
        unitChain(unit),
        w.entries,
        [this.d.parcels.versionCheck(this.k.slot(unit, compartment), cur.slot.v)],
        [...this.d.parcels.putSlot(slot), ...w.ops],
      );
      if (ok) {
        written();
        break;
      }
      if (i >= MAX_RETRIES) throw new ParcelError('conflict', 'try again');
    }
    return parcels;
  }

  /** startOpen's second half: the open command, and what the screen says after it. */
  private async open(
    unit: string,
    compartment: number,
    intent: Intent,
    opts: { ref: string; actor: Actor; parcelId?: string; reason?: string; admin?: boolean },
    parcels: Parcel[],
  ): Promise<{ result: CommandResult; parcels: Parcel[] }> {
    let cmd: CommandRecord;
    try {
      cmd = await this.d.commands.send(
        unit,
        { op: 'open', compartment },
        {
          id: opts.ref,
          reason: opts.reason ?? `${intent} ${compartment}`,
          actor: opts.actor,
          intent,
          ...(opts.admin ? { admin: true } : {}),
          ...(parcels.length === 1 ? { parcel: parcels[0]!.id } : {}),
        },
      );
    } catch (err) {
      if (!(err instanceof OpenRefused)) throw err;
      // Never sent: the compartment is free for the next open once the lockdown or the rate limit allows it.
      await this.clearIntent(unit, compartment, opts.ref);
      // (a lockdown's own text is shown by the command bus)
      if (err.why === 'rate_limited') void this.screen.show(unit, '请稍候再试', 'Busy: try again shortly', 10);
      throw openRefusal(err);
    }
    const result = cmd.result ?? 'timed_out';
    if (result === 'done') {
      void this.screen.show(
        unit,
        intent === 'pickup' ? `请取件 ${compartment}号` : `${compartment}号已开`,
        intent === 'pickup' ? `Box ${compartment}: take your parcel` : `Box ${compartment} open`,
        15,
      );
    } else if (result !== 'timed_out') {
      await this.clearIntent(unit, compartment, opts.ref);
      void this.screen.show(unit, '开门失败 请联系物业', 'Call office', 10);
    }
    return { result, parcels };
  }

  /** Give up an intent whose door never opened (a failed open, or nobody came). Never once the door is open. */
  /**
   * An earlier open of this compartment that never came back (its door did not open within staleOpenMs: the gateway
   * serving the unit died between setting the intent and sending the open): a new one may take its place, as the
   * sweep would let it after intentTimeoutMs.
   */
  private staleOpen(slot: Slot, parcels: Parcel[], intent: Intent, now: number, opts: { courierId?: string; parcelId?: string }): boolean {
    if (slot.intent === null || slot.intentAt === null || slot.intent !== intent) return false;
    if (now - slot.intentAt <= (this.d.policy.staleOpenMs ?? this.d.policy.intentTimeoutMs)) return false;
    if (parcels.some((p) => p.state === 'collecting' || p.state === 'returning')) return false;
    return canStart({ ...slot, intent: null }, parcels, intent, opts);
  }

  async clearIntent(unit: string, compartment: number, ref?: string): Promise<void> {
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
      if (await this.d.parcels.commit(unitChain(unit), [], checks, this.d.parcels.putSlot(slot))) return;
    }
  }
}

/** An open the guard refused, for the parcel flows: 503 locked_down (call the office) or 429 rate_limited. */
export function openRefusal(err: OpenRefused): ParcelError {
  if (err.why === 'locked_down') {
    return new ParcelError('locked_down', `${err.message} (快递柜已暂停使用，请联系物业)`, { scope: err.scope });
  }
  const retryAfterS = Math.max(1, Math.ceil((err.retryAfterMs ?? 1000) / 1000));
  return new ParcelError('rate_limited', err.message, { scope: err.scope, retryAfterS });
}
