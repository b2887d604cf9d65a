/**
 * Door openings the hardware saw, attributed to the compartment uses (tenancies) of the ledger: each opening to
 * exactly one use. A compartment's uses follow one another in the order the API handed the compartment out (the
 * ledger's order); a use's span begins at the gateway's reservation (the answer's createdAt, a few ms of clock slack),
 * or, when the answer did not say, at its deposit request but never before the end of
 * the previous use of that compartment, whichever parcel it was: the previous parcel taken out, or put in (a use
 * never collected), or its reservation requested (a use given up). So a deposit whose first request went unanswered
 * (and dates from it) does not take in the openings of the parcels that used the compartment in between.
 */
import type { Tenancy } from './ledger.js';
import type { Opening } from './sims.js';

export interface DoorFindings {
  /** a deposit with more than one opening */
  deposit: string[];
  /** a pickup (one code) with more than one opening */
  pickup: string[];
  /** openings after the parcel was taken out, before the compartment's next use */
  afterCollection: string[];
  /** openings before any use of the compartment */
  unexplained: string[];
}

const SLACK_MS = 5;

/** When a use ends, as far as the next use's span is concerned. */
function endOf(t: Tenancy): number {
  return t.takenAt ?? t.closedAt ?? t.requestedAt;
}

/** For looking into a finding: the use's times and its openings' (ms from its request), and the previous use's. */
function timeline(t: Tenancy, xs: readonly Opening[], prev: Tenancy | undefined): string {
  const rel = (x: number | undefined) => (x === undefined ? '-' : `${x - t.requestedAt > 0 ? '+' : ''}${x - t.requestedAt}`);
  const use = (u: Tenancy) => `requested ${new Date(u.requestedAt).toISOString()} (${rel(u.requestedAt)}), closed ${rel(u.closedAt)}, taken ${rel(u.takenAt)}`;
  return `(openings at ${xs.map((x) => rel(x.at)).join(', ')} ms; this use ${use(t)}${prev ? `; previous use ${prev.parcelId} ${use(prev)}` : ''})`;
}

export function attributeOpenings(tenancies: readonly Tenancy[], openings: readonly Opening[]): DoorFindings {
  const out: DoorFindings = { deposit: [], pickup: [], afterCollection: [], unexplained: [] };
  const uses = new Map<string, Tenancy[]>();
  for (const t of tenancies) uses.set(`${t.unit}:${t.no}`, [...(uses.get(`${t.unit}:${t.no}`) ?? []), t]);
  const opens = new Map<string, Opening[]>();
  for (const x of openings) opens.set(`${x.unit}:${x.no}`, [...(opens.get(`${x.unit}:${x.no}`) ?? []), x]);
  for (const [key, xs] of opens) {
    const tens = uses.get(key) ?? [];
    // the span starts, in hand-out order; never earlier than the previous start or the previous use's end
    const starts: number[] = [];
    for (let i = 0; i < tens.length; i++) {
      const t = tens[i]!;
      // The gateway's reservation time is authoritative: it freed the compartment before it (the people's own
      // record of the previous use's end may come a few ms later). Without it, the previous use's end bounds it.
      const own = (t.reservedAt ?? t.requestedAt) - SLACK_MS;
      starts.push(i === 0 ? own : t.reservedAt !== undefined ? Math.max(own, starts[i - 1]!) : Math.max(own, starts[i - 1]!, endOf(tens[i - 1]!)));
    }
    const mine = tens.map(() => [] as Opening[]);
    for (const x of xs) {
      let i = -1;
      for (let j = 0; j < tens.length; j++) if (starts[j]! <= x.at) i = j;
      if (i < 0) out.unexplained.push(`${key} at ${new Date(x.at).toISOString()}`);
      else mine[i]!.push(x);
    }
    tens.forEach((t, i) => {
      const own = mine[i]!;
      const dep = own.filter((x) => t.closedAt === undefined || x.at <= t.closedAt);
      const pick = own.filter((x) => t.closedAt !== undefined && x.at > t.closedAt && (t.takenAt === undefined || x.at <= t.takenAt));
      const after = own.filter((x) => t.takenAt !== undefined && x.at > t.takenAt);
      if (dep.length > 1) out.deposit.push(`${key} ${t.parcelId}: ${dep.length} openings for one deposit ${timeline(t, dep, tens[i - 1])}`);
      if (pick.length > 1) out.pickup.push(`${key} ${t.parcelId}: ${pick.length} openings for one code`);
      if (after.length) out.afterCollection.push(`${key} ${t.parcelId}: opened ${after.length}× after collection${t.replayAt ? ' (old code typed again)' : ''}`);
    });
  }
  return out;
}
