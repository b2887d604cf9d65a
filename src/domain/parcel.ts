/**
 * The parcel lifecycle: one state machine, in one place, with no I/O. The parcel service reads a compartment's
 * slot and its parcels, asks these functions for a Plan, and writes the plan in one atomic Redis step (with the
 * log entries and outbox notices it lists), retrying if anything changed in between.
 *
 * reserved -> (door opened) depositing -> (closed, occupied) stored -> (code accepted, door opened) collecting ->
 * (closed, empty) collected. Side exits: cancelled (closed empty after deposit, or no door-open in time), expired
 * (deadline passed), returning -> returned (courier took it back), missing (sensors say empty while stored).
 */
import type { Size } from './model.js';

export const PARCEL_STATES = [
  'reserved',
  'depositing',
  'stored',
  'collecting',
  'collected',
  'cancelled',
  'expired',
  'returning',
  'returned',
  'missing',
] as const;
export type ParcelState = (typeof PARCEL_STATES)[number];

/** States in which a parcel holds its compartment. */
export const LIVE_STATES: ReadonlySet<ParcelState> = new Set([
  'reserved',
  'depositing',
  'stored',
  'collecting',
  'expired',
  'returning',
]);
/** States in which the resident's code opens the door. */
export const COLLECTABLE: ReadonlySet<ParcelState> = new Set(['stored', 'expired']);

export type Lang = 'zh' | 'en';

export interface Parcel {
  id: string;
  state: ParcelState;
  unit: string;
  compartment: number;
  size: Size;
  phone: string;
  name: string | null;
  room: string | null;
  lang: Lang;
  trackingNumber: string;
  carrier: string;
  courierId: string;
  createdAt: number;
  storedAt: number | null;
  deadline: number | null;
  endedAt: number | null;
  extended: boolean;
  reason: string | null;
  /** optimistic-concurrency version, bumped on every write */
  v: number;
}

export type Intent = 'deposit' | 'pickup' | 'return';

/** A compartment given to one or more parcels of the same phone (they share one code). */
export interface Slot {
  unit: string;
  compartment: number;
  phone: string;
  parcels: string[];
  codeHash: string | null;
  /** why the door is being opened, set before the open command and cleared when the door closes */
  intent: Intent | null;
  intentAt: number | null;
  /** the request or keypad event that set the intent: handling it again resumes instead of failing as busy */
  intentRef?: string | null;
  /** a return takes back one courier's parcel, not everything overdue in a shared compartment */
  intentParcel?: string | null;
  v: number;
}

export interface Transition {
  parcelId: string;
  from: ParcelState;
  to: ParcelState;
  reason: string;
}

export type NoticeIntentKind =
  | 'stored'
  | 'collected'
  | 'returned'
  | 'deposit-cancelled'
  | 'overdue'
  | 'missing'
  | 'deadline-extended';

export interface NoticeIntent {
  kind: NoticeIntentKind;
  parcelId: string;
}

export interface Plan {
  parcels: Parcel[];
  /** the slot after the step; null = the compartment is free again */
  slot: Slot | null;
  transitions: Transition[];
  notices: NoticeIntent[];
  /** parcels whose pending reminders must be withdrawn */
  cancelReminders: string[];
  /** the code hash to drop from the code index, and the one to add */
  codeOut: string | null;
  codeIn: string | null;
}

export interface DoorEvent {
  kind: 'opened' | 'closed';
  occupied?: boolean;
  at: number;
}

export interface Policy {
  holdMs: number;
}

function move(p: Parcel, to: ParcelState, reason: string, at: number, out: Transition[]): Parcel {
  out.push({ parcelId: p.id, from: p.state, to, reason });
  const ended = !LIVE_STATES.has(to);
  return { ...p, state: to, reason, endedAt: ended ? at : p.endedAt };
}

/** Drop ended parcels from the slot; free it when none is left. */
function settle(slot: Slot, parcels: Parcel[], plan: Omit<Plan, 'slot' | 'parcels'>): Plan {
  const live = parcels.filter((p) => LIVE_STATES.has(p.state)).map((p) => p.id);
  if (live.length === 0) {
    return { ...plan, parcels, slot: null, codeOut: plan.codeOut ?? slot.codeHash, codeIn: null };
  }
  return { ...plan, parcels, slot: { ...slot, parcels: live } };
}

/**
 * A door opened or closed at an allocated compartment. `newCode` is a fresh code hash, used if parcels become
 * stored (a compartment's parcels share one code; a new parcel in it gets a new code for all of them).
 */
export function onDoor(slot: Slot, parcels: Parcel[], ev: DoorEvent, policy: Policy, newCode: string): Plan {
  const t: Transition[] = [];
  const notices: NoticeIntent[] = [];
  const cancelReminders: string[] = [];
  let codeOut: string | null = null;
  let codeIn: string | null = null;
  let next = parcels;
  let nextSlot: Slot = slot;

  // An event older than the storage of a parcel now in the compartment is about an earlier use of it, delivered late
  // (a unit's buffer replayed after a reconnect, the engine's pending entries replayed after a restart): it changes
  // nothing now, neither the parcels nor the intent under way. Found by the soak: a door-opened of the previous
  // parcel's pickup, replayed 4 minutes late, made the next parcel `collecting` while its door stayed shut.
  const storedSince = Math.max(-Infinity, ...parcels.filter((p) => LIVE_STATES.has(p.state) && p.storedAt !== null).map((p) => p.storedAt!));
  if (ev.at < storedSince) return { parcels, slot, transitions: [], notices: [], cancelReminders: [], codeOut: null, codeIn: null };

  if (ev.kind === 'opened') {
    next = parcels.map((p) => {
      if (slot.intent === 'deposit' && p.state === 'reserved') return move(p, 'depositing', 'door-opened', ev.at, t);
      if (slot.intent === 'pickup' && COLLECTABLE.has(p.state)) return move(p, 'collecting', 'door-opened', ev.at, t);
      if (slot.intent === 'return' && p.state === 'expired' && (!slot.intentParcel || p.id === slot.intentParcel)) {
        return move(p, 'returning', 'door-opened', ev.at, t);
      }
      return p;
    });
    return { parcels: next, slot, transitions: t, notices, cancelReminders, codeOut, codeIn };
  }

  const occupied = ev.occupied === true;
  const hasOthers = (ids: Set<string>) => parcels.some((p) => !ids.has(p.id) && LIVE_STATES.has(p.state));
  switch (slot.intent) {
    case 'deposit': {
      const incoming = new Set(parcels.filter((p) => p.state === 'reserved' || p.state === 'depositing').map((p) => p.id));
      next = parcels.map((p) => {
        if (!incoming.has(p.id)) {
          // Closed empty although parcels were already stored here: they are gone.
          if (!occupied && COLLECTABLE.has(p.state)) {
            notices.push({ kind: 'missing', parcelId: p.id });
            cancelReminders.push(p.id);
            return move(p, 'missing', 'closed-empty-during-deposit', ev.at, t);
          }
          return p;
        }
        if (occupied) {
          notices.push({ kind: 'stored', parcelId: p.id });
          return { ...move(p, 'stored', 'deposited', ev.at, t), storedAt: ev.at, deadline: ev.at + policy.holdMs };
        }
        notices.push({ kind: 'deposit-cancelled', parcelId: p.id });
        return move(p, 'cancelled', 'closed-empty', ev.at, t);
      });
      if (occupied && incoming.size > 0) {
        codeOut = slot.codeHash;
        codeIn = newCode;
        nextSlot = { ...slot, codeHash: newCode };
        // Everybody sharing the compartment gets the new code.
        for (const p of next) {
          if (COLLECTABLE.has(p.state) && !incoming.has(p.id)) notices.push({ kind: 'stored', parcelId: p.id });
        }
      }
      break;
    }
    case 'pickup': {
      next = parcels.map((p) => {
        // Closed empty while a pickup was under way but its opening never reported (frame-485's change reports
        // travel at QoS 0 and can be lost; the board poll then agrees with the close and infers nothing): the
        // parcel was there and is gone, so the door did open for the code. Closed occupied without an opening
        // says nothing (a repeated old close report), so only the empty close counts.
        if (!occupied && COLLECTABLE.has(p.state)) p = move(p, 'collecting', 'door-opened-unreported', ev.at, t);
        if (p.state !== 'collecting') return p;
        if (!occupied) {
          notices.push({ kind: 'collected', parcelId: p.id });
          cancelReminders.push(p.id);
          return move(p, 'collected', 'closed-empty', ev.at, t);
        }
        // Closed with the parcel still inside: it stays waiting, and the code stays valid.
        const back: ParcelState = p.deadline !== null && p.deadline <= ev.at ? 'expired' : 'stored';
        return move(p, back, 'closed-occupied', ev.at, t);
      });
      break;
    }
    case 'return': {
      const returning = new Set(parcels.filter((p) => p.state === 'returning').map((p) => p.id));
      next = parcels.map((p) => {
        if (!returning.has(p.id)) return p;
        // With other parcels still in the compartment an occupied sensor cannot tell: trust the courier.
        if (!occupied || hasOthers(returning)) {
          notices.push({ kind: 'returned', parcelId: p.id });
          cancelReminders.push(p.id);
          return move(p, 'returned', 'courier-took-back', ev.at, t);
        }
        return move(p, 'expired', 'closed-occupied', ev.at, t);
      });
      break;
    }
    default: {
      if (!occupied) {
        next = parcels.map((p) => {
          if (!COLLECTABLE.has(p.state) && p.state !== 'collecting') return p;
          notices.push({ kind: 'missing', parcelId: p.id });
          cancelReminders.push(p.id);
          return move(p, 'missing', 'empty-without-pickup', ev.at, t);
        });
      }
    }
  }
  nextSlot = { ...nextSlot, intent: null, intentAt: null, intentRef: null, intentParcel: null };
  return settle(nextSlot, next, { transitions: t, notices, cancelReminders, codeOut, codeIn });
}

/** Nobody opened the door in time after a deposit was reserved, or the open failed. */
export function onDepositAbandoned(slot: Slot, parcels: Parcel[], parcelId: string, at: number, reason: string): Plan {
  const t: Transition[] = [];
  const notices: NoticeIntent[] = [];
  const next = parcels.map((p) => {
    if (p.id !== parcelId || p.state !== 'reserved') return p;
    notices.push({ kind: 'deposit-cancelled', parcelId: p.id });
    return move(p, 'cancelled', reason, at, t);
  });
  const stillDepositing = next.some((p) => p.state === 'reserved' || p.state === 'depositing');
  const nextSlot = stillDepositing ? slot : { ...slot, intent: null, intentAt: null, intentRef: null, intentParcel: null };
  return settle(nextSlot, next, { transitions: t, notices, cancelReminders: [], codeOut: null, codeIn: null });
}

/** The deadline passed: the parcel is overdue (the resident may still collect it; the courier may take it back). */
export function onDeadline(slot: Slot, parcels: Parcel[], parcelId: string, at: number): Plan {
  const t: Transition[] = [];
  const notices: NoticeIntent[] = [];
  const next = parcels.map((p) => {
    if (p.id !== parcelId || p.state !== 'stored' || p.deadline === null || p.deadline > at) return p;
    notices.push({ kind: 'overdue', parcelId: p.id });
    return move(p, 'expired', 'deadline-passed', at, t);
  });
  return { parcels: next, slot, transitions: t, notices, cancelReminders: [], codeOut: null, codeIn: null };
}

/** The resident extends the deadline, once, by `byMs`. */
export function extendDeadline(p: Parcel, at: number, byMs: number): { parcel: Parcel; transition: Transition | null } | 'already-extended' | 'not-waiting' {
  if (!COLLECTABLE.has(p.state) || p.deadline === null) return 'not-waiting';
  if (p.extended) return 'already-extended';
  const deadline = Math.max(p.deadline, at) + byMs;
  if (p.state === 'expired') {
    return {
      parcel: { ...p, state: 'stored', deadline, extended: true, reason: 'deadline-extended' },
      transition: { parcelId: p.id, from: 'expired', to: 'stored', reason: 'deadline-extended' },
    };
  }
  return { parcel: { ...p, deadline, extended: true }, transition: null };
}

/** Whether a door may be opened for this intent now. */
export function canStart(slot: Slot, parcels: Parcel[], intent: Intent, opts: { courierId?: string; parcelId?: string } = {}): boolean {
  if (slot.intent !== null) return false;
  if (intent === 'pickup') return parcels.some((p) => COLLECTABLE.has(p.state));
  if (intent === 'return') {
    return parcels.some((p) => p.id === opts.parcelId && p.state === 'expired' && p.courierId === opts.courierId);
  }
  return true;
}
