import { codeHash, randomCode } from '../domain/codes.js';
import { COLLECTABLE, LIVE_STATES, type Parcel, type Plan, type Slot, type Transition } from '../domain/parcel.js';
import type { Actor, EvidenceEntry } from '../evidence/entry.js';
import { unitChain } from '../evidence/log.js';
import { codeDelOps, codeFreeChecks, codeSetOps } from '../store/indexes.js';
import type { Check, Op } from '../store/tx.js';
import { Couriers, type Courier } from './accounts.js';
import { MAX_RETRIES, unitProfile, type ParcelDeps } from './context.js';
import { ParcelError } from './errors.js';
import { noticesFor, pendingNoticeIds } from './notices.js';

/** A plan to write, with who caused it. */
export type Planner = (s: { slot: Slot; parcels: Parcel[] }, codeHash: string) => Plan | null;

/**
 * The one commit path of the parcel flows. A step reads a compartment's slot and parcels, asks the pure state machine
 * (domain/parcel.ts) for a plan, and writes the plan in one atomic step (store/tx.ts): version checks on everything
 * read, the parcels and the slot, the index upkeep, the outbox notices and the evidence entries (each transition,
 * with its actor), together or not at all. A check that fails means something changed in between: read and plan
 * again.
 */
export class Committer {
  constructor(private readonly d: ParcelDeps) {}

  private get k() {
    return this.d.parcels.k;
  }

  /**
   * Read, plan, write; again from the top if something changed in between. `retries` bounds that (a door event is
   * re-planned until it applies: pass Infinity).
   */
  async step(
    unit: string,
    compartment: number,
    plan: Planner,
    actor: Actor,
    /** `couriers`: read the parcels' couriers with the slot (one round trip), for a step that may write notices */
    opts: { at?: number; retries?: number; couriers?: boolean } = {},
  ): Promise<Plan | null> {
    const retries = opts.retries ?? MAX_RETRIES;
    for (let i = 0; i < retries; i++) {
      let cur: { slot: Slot; parcels: Parcel[] } | null;
      let couriers: Map<string, Courier | null> | undefined;
      if (opts.couriers) {
        const read = await this.d.parcels.slotWithParcelsAndCouriers(unit, compartment);
        cur = read && { slot: read.slot, parcels: read.parcels };
        couriers = read ? new Map([...read.couriers].map(([id, raw]) => [id, Couriers.decode(raw)])) : undefined;
      } else {
        cur = await this.d.parcels.slotWithParcels(unit, compartment);
      }
      if (!cur) return null;
      const code = randomCode();
      const p = plan(cur, codeHash(this.d.codeKey, unit, code));
      if (!p || (p.transitions.length === 0 && p.slot === cur.slot && !p.codeIn)) return p;
      if (await this.write(cur, p, { code, at: opts.at ?? this.d.clock.now(), actor, ...(couriers ? { couriers } : {}) })) return p;
      this.d.counters.inc('lg_parcel_step_retries_total');
      // Many writers on one compartment: let the others through before reading again.
      if (i >= 2) await new Promise((r) => setTimeout(r, Math.min(50, 2 ** i)));
    }
    throw new ParcelError('conflict', `compartment ${compartment} at ${unit} kept changing; try again`);
  }

  /** Write a plan (see step). Returns false if something changed meanwhile. */
  async write(
    before: { slot: Slot; parcels: Parcel[] },
    plan: Plan,
    /** `couriers`: the parcels' couriers, read with the slot (others are read when a notice needs them) */
    extra: { checks?: Check[]; ops?: Op[]; code?: string; at: number; actor: Actor; evidence?: EvidenceEntry[]; couriers?: Map<string, Courier | null> },
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
      ops.push(...this.d.parcels.putParcel(p), ...this.indexOps(p));
    }
    if (plan.slot === null) {
      ops.push(...this.d.parcels.delSlot(slot.unit, slot.compartment));
    } else if (plan.slot !== slot) {
      ops.push(...this.d.parcels.putSlot(plan.slot));
    }
    if (plan.codeOut && plan.codeOut !== plan.codeIn) ops.push(...codeDelOps(this.k, slot.unit, plan.codeOut));
    if (plan.codeIn) {
      checks.push(...codeFreeChecks(this.k, slot.unit, plan.codeIn));
      ops.push(...codeSetOps(this.k, slot.unit, plan.codeIn, slot.compartment));
    }
    const { ops: noticeOps, evidence: noticeEvidence } = await this.notices(plan, slot, extra.code, extra.at, extra.couriers);
    ops.push(...noticeOps);
    const entries = [
      ...(extra.evidence ?? []),
      ...plan.transitions.map((t) => transitionEntry(slot.unit, slot.compartment, t, extra.at, extra.actor)),
      ...noticeEvidence,
    ];
    const ok = await this.d.parcels.commit(unitChain(slot.unit), entries, checks, ops);
    if (ok) {
      for (const t of plan.transitions) this.d.counters.inc('lg_parcel_transitions_total', { to: t.to });
    }
    return ok;
  }

  indexOps(p: Parcel): Op[] {
    const ops: Op[] = [...this.d.parcels.lifeOps(p, LIVE_STATES.has(p.state))];
    if (!LIVE_STATES.has(p.state)) {
      ops.push(['SREM', this.k.phone(p.phone), p.id], ['ZREM', this.k.phoneLive(p.phone), p.id], ['ZREM', this.k.deadlines, p.id], ['ZREM', this.k.reservations, p.id]);
      // a signed-in resident's recent parcels: the newest 50 ended ones of the phone
      ops.push(['ZADD', this.k.phoneEnded(p.phone), p.endedAt ?? p.createdAt, p.id], ['ZREMRANGEBYRANK', this.k.phoneEnded(p.phone), 0, -51]);
    } else {
      if (p.state !== 'reserved') ops.push(['ZREM', this.k.reservations, p.id]);
      if (p.state === 'stored' && p.deadline) ops.push(['ZADD', this.k.deadlines, p.deadline, p.id]);
      if (p.state === 'expired') ops.push(['ZREM', this.k.deadlines, p.id]);
    }
    return ops;
  }

  /** The outbox entries of a plan's notices and withdrawn reminders, and an evidence entry for each notice queued. */
  private async notices(
    plan: Plan,
    slot: Slot,
    code: string | undefined,
    at: number,
    read?: Map<string, Courier | null>,
  ): Promise<{ ops: Op[]; evidence: EvidenceEntry[] }> {
    const ops: Op[] = [];
    const evidence: EvidenceEntry[] = [];
    if (!plan.notices.length && !plan.cancelReminders.length) return { ops, evidence };
    const unit = unitProfile(this.d.units, slot.unit);
    const couriers = new Map<string, Courier | null>(read ?? []);
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
      for (const notice of notices) {
        ops.push(['XADD', this.k.outbox, '*', 'type', 'notice', 'notice', JSON.stringify(notice)]);
        const to = notice.to.sms ? 'sms' : notice.to.webhook ? 'webhook' : 'other';
        evidence.push({ at, kind: 'notice-queued', actor: { type: 'system', id: 'notices' }, unit: slot.unit, parcel: parcel.id, notice: notice.id, noticeKind: notice.kind, channel: to });
      }
    }
    if (plan.cancelReminders.length) {
      const ids = plan.parcels.filter((p) => plan.cancelReminders.includes(p.id)).flatMap((p) => pendingNoticeIds(p, this.d.policy));
      ops.push(['XADD', this.k.outbox, '*', 'type', 'cancel', 'ids', JSON.stringify(ids)]);
    }
    return { ops, evidence };
  }
}

export function transitionEntry(unit: string, compartment: number, t: Omit<Transition, 'from'> & { from: string }, at: number, actor: Actor): EvidenceEntry {
  return { at, kind: 'parcel', actor, unit, compartment, parcel: t.parcelId, from: t.from, to: t.to, reason: t.reason };
}
