import type { CompartmentState, UnitState } from '../domain/model.js';
import type { EvidenceEntry } from '../evidence/entry.js';
import type { Alert, AlertDraft, AlertKind } from './types.js';

/**
 * Which evidence entries and which states are alerts. Pure: the engine feeds them entries from the evidence chains
 * and the units' state, and raises what they return (each once: see types.ts for keys and subjects).
 */
export interface AlertPolicy {
  /** a unit offline longer than this (ms) */
  offlineMs: number;
  /** a door open longer than this (ms), for units that do not report it themselves (frame-485) and as a backstop */
  doorOpenMs: number;
}

const ALARMS: Record<string, AlertKind> = { tamper: 'tamper', power: 'power', door_forced: 'door-forced', door_left_open: 'door-left-open' };

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown) => (typeof v === 'string' && v ? v : undefined);

/**
 * The alert an evidence entry raises, if any. `occurrence` names the entry (`chain/streamId`), for alerts whose every
 * occurrence counts; `doorOpenedAt` is when the entry's compartment door opened (from the live state), so a unit's
 * "left open" alarm and the gateway's own timer name the same occurrence.
 */
export function alertFromEntry(e: EvidenceEntry, occurrence: string, ctx: { doorOpenedAt?: number | null } = {}): AlertDraft | null {
  const unit = str(e.unit);
  const no = num(e.compartment);
  const at = num(e.at) ?? 0;
  const base = { ...(unit ? { unit } : {}), ...(no !== undefined ? { compartment: no } : {}), at };
  switch (e.kind) {
    case 'keypad': {
      // the lock itself (with its end); the keypad command's echo that follows carries no `until`
      const until = num(e.until);
      if (e.state !== 'locked' || !unit || until === undefined) return null;
      return { ...base, kind: 'keypad-locked', key: `keypad-locked:${unit}:${until}`, subject: `keypad-locked:${unit}`, detail: { until } };
    }
    case 'fault':
      if (e.fault !== 'jammed' || !unit || no === undefined) return null;
      return { ...base, kind: 'door-jammed', key: `door-jammed:${occurrence}`, subject: `door-jammed:${unit}:${no}`, detail: {} };
    case 'command':
      if (e.result !== 'jammed' || !unit || no === undefined) return null;
      return { ...base, kind: 'door-jammed', key: `door-jammed:${occurrence}`, subject: `door-jammed:${unit}:${no}`, detail: { op: String(e.op ?? '') } };
    case 'alarm': {
      const kind = ALARMS[String(e.alarm)];
      if (!kind || !unit) return null;
      const where = no !== undefined ? `${unit}:${no}` : unit;
      if (kind === 'door-left-open' && no !== undefined && ctx.doorOpenedAt) {
        return { ...base, kind, key: doorOpenKey(unit, no, ctx.doorOpenedAt), subject: `door-left-open:${where}`, detail: { openedAt: ctx.doorOpenedAt } };
      }
      return { ...base, kind, key: `${kind}:${occurrence}`, subject: `${kind}:${where}`, detail: {} };
    }
    case 'parcel': {
      const parcel = str(e.parcel);
      if (e.to !== 'missing' || !parcel) return null;
      return { ...base, parcel, kind: 'parcel-missing', key: `parcel-missing:${parcel}`, subject: `parcel-missing:${parcel}`, detail: { reason: String(e.reason ?? '') } };
    }
    case 'dead-letter': {
      const entry = str(e.entry);
      return {
        ...base,
        kind: 'dead-letter',
        key: `dead-letter:${unit ?? '-'}:${entry ?? occurrence}`,
        subject: `dead-letter:${unit ?? '-'}:${entry ?? occurrence}`,
        detail: { what: String(e.what ?? ''), attempts: num(e.attempts) ?? 0 },
      };
    }
    case 'lockdown': {
      // the open guard (or the member who locked down) has told staff already: the console shows it
      const scope = e.scope === 'fleet' ? 'fleet' : unit ?? 'fleet';
      return {
        ...base,
        kind: 'lockdown',
        key: `lockdown:${scope}:${at}`,
        subject: `lockdown:${scope}`,
        detail: { scope: String(e.scope ?? ''), cause: String(e.cause ?? ''), note: String(e.reason ?? '').slice(0, 80) },
        notified: true,
      };
    }
    default:
      return claimClockAlert(e, base);
  }
}

/**
 * A claim's clock alert, recorded by the claims' own sweep (which has already told the staff on duty): shown on the
 * console. Entries of kind `claim-alert` (or a `claim` entry naming an `alert` stage) with the claim's id and stage.
 */
function claimClockAlert(e: EvidenceEntry, base: { at: number; unit?: string; compartment?: number }): AlertDraft | null {
  if (!e.kind.startsWith('claim')) return null;
  const claim = str(e.claim);
  const stage = str(e.stage) ?? str(e.alert);
  if (!claim || !stage || !(e.kind === 'claim-alert' || str(e.alert))) return null;
  const clock = str(e.clock) ?? '';
  // a reopened claim starts a new round of clocks: its alerts are new occurrences
  const round = num(e.round) ?? 0;
  return {
    ...base,
    claim,
    kind: 'claim-clock',
    key: `claim-clock:${claim}:${round}:${clock}:${stage}`,
    subject: `claim-clock:${claim}:${round}:${clock}:${stage}`,
    detail: { clock, stage, ...(typeof e.ref === 'string' ? { ref: e.ref } : {}) },
    notified: true,
  };
}

const doorOpenKey = (unit: string, no: number, openedAt: number) => `door-left-open:${unit}:${no}:${openedAt}`;

/** Alerts that come from time passing: units offline too long, doors open too long. */
/** What alertsFromState reads of a unit: a UnitState, or less (compartments may list only those whose door is open). */
export type UnitCondition = Pick<UnitState, 'id' | 'online' | 'since'> & { compartments: readonly Pick<CompartmentState, 'no' | 'doorOpen' | 'updatedAt'>[] };

export function alertsFromState(units: readonly UnitCondition[], now: number, policy: AlertPolicy): AlertDraft[] {
  const out: AlertDraft[] = [];
  for (const u of units) {
    // a unit never seen since the gateway first ran has no `since`: it is not "offline for 5 minutes", it is not there
    if (!u.online && u.since !== null && now - u.since >= policy.offlineMs) {
      out.push({
        kind: 'unit-offline',
        key: `unit-offline:${u.id}:${u.since}`,
        subject: `unit-offline:${u.id}`,
        unit: u.id,
        at: u.since,
        detail: { minutes: Math.floor((now - u.since) / 60_000) },
      });
    }
    // an offline unit's doors are as it last reported them: the offline alert covers it
    if (!u.online) continue;
    for (const c of u.compartments) {
      if (!c.doorOpen || c.updatedAt === null || now - c.updatedAt < policy.doorOpenMs) continue;
      out.push({
        kind: 'door-left-open',
        key: doorOpenKey(u.id, c.no, c.updatedAt),
        subject: `door-left-open:${u.id}:${c.no}`,
        unit: u.id,
        compartment: c.no,
        at: c.updatedAt,
        detail: { openedAt: c.updatedAt },
      });
    }
  }
  return out;
}

/**
 * What an evidence entry ends: the subjects of open alerts whose condition it ends (exact, or every subject starting
 * with a prefix), and why. Pure. The engine clears them; the state check (alertsEnded) is the backstop for an entry
 * read before the alert it ends was raised.
 */
export function clearsFromEntry(e: EvidenceEntry): { subjects: string[]; prefix?: string; reason: string } | null {
  const unit = str(e.unit);
  const no = num(e.compartment);
  switch (e.kind) {
    case 'presence':
      return e.online === true && unit ? { subjects: [`unit-offline:${unit}`], reason: 'unit-online' } : null;
    case 'door-closed':
      return unit && no !== undefined ? { subjects: [`door-left-open:${unit}:${no}`], reason: 'door-closed' } : null;
    case 'door-opened':
      // the lock released since: the jam is over (the fault a unit reported stays recorded until it reports otherwise)
      return unit && no !== undefined ? { subjects: [`door-jammed:${unit}:${no}`], reason: 'door-opened' } : null;
    case 'keypad':
      return unit && e.state !== undefined && e.state !== 'locked' ? { subjects: [`keypad-locked:${unit}`], reason: 'keypad-unlocked' } : null;
    case 'parcel': {
      const parcel = str(e.parcel);
      return e.from === 'missing' && e.to !== 'missing' && parcel ? { subjects: [`parcel-missing:${parcel}`], reason: `parcel-${String(e.to)}` } : null;
    }
    case 'claim': {
      const claim = str(e.claim);
      return claim && (e.to === 'resolved' || e.to === 'closed') ? { subjects: [], prefix: `claim-clock:${claim}:`, reason: `claim-${e.to}` } : null;
    }
    case 'lockdown-lifted': {
      const scope = e.scope === 'fleet' ? 'fleet' : unit ?? 'fleet';
      return { subjects: [`lockdown:${scope}`], reason: 'lockdown-lifted' };
    }
    default:
      return null;
  }
}

/**
 * Why an open alert's condition has ended, by the live state, or null while it lasts (or when the state cannot
 * tell: parcels, claims and lockdowns are ended by entries only). Alarms that are events rather than conditions (a
 * door forced, tamper, power, a dead letter) never end by themselves: a forced door closed again a minute later must
 * still reach someone, so they stay open until acknowledged.
 */
export function alertEnded(a: Pick<Alert, 'kind' | 'unit' | 'compartment' | 'at'>, units: readonly UnitState[]): string | null {
  const u = a.unit ? units.find((x) => x.id === a.unit) : undefined;
  if (!u) return null;
  const c = a.compartment !== undefined ? u.compartments.find((x) => x.no === a.compartment) : undefined;
  switch (a.kind) {
    case 'unit-offline':
      return u.online ? 'unit-online' : null;
    case 'keypad-locked':
      return u.keypad !== 'locked' ? 'keypad-unlocked' : null;
    case 'door-left-open':
      return c && !c.doorOpen ? 'door-closed' : null;
    case 'door-jammed':
      // the door has worked since (a later change with no fault): a jam that was never recorded as a fault too
      return c && c.fault === null && c.updatedAt !== null && c.updatedAt > a.at ? 'door-working' : null;
    default:
      return null;
  }
}
