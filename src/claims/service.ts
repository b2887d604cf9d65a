import type { Clock } from '../domain/clock.js';
import { claimClocks, type ClaimClocks, type ClockPolicy, type Stage } from '../domain/claim-clocks.js';
import {
  ACTIVE_CLAIM_STATES,
  allowedActions,
  decide,
  openClaim,
  type Claim,
  type ClaimAction,
  type ClaimActor,
  type ClaimChannel,
  type ClaimCommand,
  type ClaimEvent,
  type ClaimState,
  type ClaimSubject,
} from '../domain/claims.js';
import { ulid } from '../domain/ids.js';
import type { Parcel } from '../domain/parcel.js';
import type { EvidenceEntry } from '../evidence/entry.js';
import type { TimelineItem, Timelines } from '../evidence/timeline.js';
import type { Logger } from '../log.js';
import type { Counters } from '../metrics.js';
import { maskPhone } from '../notify/phone.js';
import type { Residents } from '../parcels/accounts.js';
import type { ClaimRecord, ClaimStore } from '../store/claims.js';
import type { ParcelStore } from '../store/parcels.js';
import { ClaimError } from './errors.js';
import { claimNotices, noticeEvidence, type ClaimNoticePolicy } from './notices.js';

export interface ClaimPolicy extends ClaimNoticePolicy {
  /** unresolved claims one resident may have at once (a flood guard, not a rule of the office) */
  maxOpenPerResident: number;
}

export const clockPolicy = (p: Pick<ClaimPolicy, 'ackHours' | 'resolveHours'>): ClockPolicy => ({
  ackMs: p.ackHours * 3600_000,
  resolveMs: p.resolveHours * 3600_000,
});

export interface OpenRequest {
  /** the resident the claim is for (their token's phone, or the one staff took down) */
  phone: string;
  channel: ClaimChannel;
  description: string;
  parcelId?: string | undefined;
  trackingNumber?: string | undefined;
  carrier?: string | undefined;
}

export interface ClaimFilter {
  states?: readonly ClaimState[];
  clock?: Stage;
  unit?: string;
  phone?: string;
  /** opened at least / at most this long ago */
  minAgeMs?: number;
  maxAgeMs?: number;
  limit: number;
}

/** A claim with its log and its clocks now. */
export interface ClaimView extends ClaimRecord {
  clocks: ClaimClocks;
}

/** What staff see of one claim: also its parcel, the parcel's timeline and what they may do next. */
export interface ClaimDetail extends ClaimView {
  parcel: Parcel | null;
  timeline: TimelineItem[];
  actions: ClaimAction[];
}

export interface ClaimServiceDeps {
  store: ClaimStore;
  parcels: ParcelStore;
  residents: Residents;
  timelines: Timelines;
  clock: Clock;
  logger: Logger;
  counters: Counters;
  policy: ClaimPolicy;
}

const MAX_RETRIES = 5;

/**
 * Lost-parcel claims: open, follow, act on. Every change is read -> decided by the pure state machine
 * (domain/claims.ts) -> written in one atomic step with its log line, evidence and notices (store/claims.ts).
 * Callable alike from the JSON routes and from server-rendered staff pages.
 */
export class ClaimService {
  readonly clockPolicy: ClockPolicy;

  constructor(private readonly d: ClaimServiceDeps) {
    this.clockPolicy = clockPolicy(d.policy);
  }

  get store(): ClaimStore {
    return this.d.store;
  }

  clocksOf(rec: ClaimRecord, now = this.d.clock.now()): ClaimClocks {
    return claimClocks(rec.log, this.clockPolicy, now);
  }

  view(rec: ClaimRecord, now = this.d.clock.now()): ClaimView {
    return { ...rec, clocks: this.clocksOf(rec, now) };
  }

  async open(req: OpenRequest, by: ClaimActor): Promise<ClaimView> {
    const now = this.d.clock.now();
    if (by.type === 'resident') {
      const mine = await this.d.store.many(await this.d.store.opened(this.d.store.k.claimsByPhone(req.phone), '-inf', '+inf', 200));
      const open = mine.filter((r) => ACTIVE_CLAIM_STATES.has(r.claim.state));
      if (open.length >= this.d.policy.maxOpenPerResident) {
        throw new ClaimError('too_many_open', `you have ${open.length} claims being handled; the office will answer those first`, { open: open.length });
      }
    }
    const subject = await this.subject(req, by);
    if (subject.parcelId) await this.refuseDuplicate(subject.parcelId);
    const id = `cl_${ulid(now).toLowerCase()}`;
    const { lang } = await this.d.residents.prefs(req.phone);
    const { claim, event } = openClaim(
      { id, ref: await this.d.store.nextRef(), phone: req.phone, lang, channel: req.channel, subject, description: req.description },
      by,
      now,
    );
    const notices = claimNotices(claim, event, 1, this.d.policy);
    const checks = subject.parcelId ? [{ key: this.d.store.k.claimParcel(subject.parcelId), absent: true as const }] : [];
    const ok = await this.d.store.write(null, claim, event, { notices, evidence: [changeEntry(claim, event), ...noticeEvidence(claim, notices, now)], checks });
    if (!ok) {
      // a new id cannot clash: only the parcel's "one claim at a time" check can fail (another opened it just now)
      if (subject.parcelId) await this.refuseDuplicate(subject.parcelId, true);
      throw new ClaimError('busy', 'the claim could not be written; try again');
    }
    this.d.counters.inc('lg_claims_total', { action: 'open', channel: claim.channel });
    this.d.logger.info('claim opened', { claim: id, ref: claim.ref, channel: claim.channel, parcel: subject.parcelId, by: by.type });
    return this.view({ claim: { ...claim, v: 1 }, log: [event] }, now);
  }

  async get(id: string): Promise<ClaimView | null> {
    const rec = await this.d.store.get(id);
    return rec ? this.view(rec) : null;
  }

  /** A resident's own claim; anyone else's is "not found" (its existence is not theirs to learn). */
  async getOwn(id: string, phone: string): Promise<ClaimView> {
    const rec = await this.d.store.get(id);
    if (!rec || rec.claim.phone !== phone) throw new ClaimError('not_found', 'no such claim');
    return this.view(rec);
  }

  async listOwn(phone: string): Promise<ClaimView[]> {
    return this.list({ phone, limit: 200 });
  }

  /** Staff: claims by state, clock stage, unit, phone and age, newest first. */
  async list(f: ClaimFilter): Promise<ClaimView[]> {
    const now = this.d.clock.now();
    const k = this.d.store.k;
    const index = f.phone
      ? k.claimsByPhone(f.phone)
      : f.unit
        ? k.claimsByUnit(f.unit)
        : f.states?.length === 1
          ? k.claimsByState(f.states[0]!)
          : k.claims;
    const from = f.maxAgeMs !== undefined ? now - f.maxAgeMs : '-inf';
    const to = f.minAgeMs !== undefined ? now - f.minAgeMs : '+inf';
    const out: ClaimView[] = [];
    const batch = Math.max(50, f.limit);
    for (let offset = 0; out.length < f.limit; offset += batch) {
      const ids = await this.d.store.redis.zrevrangebyscore(index, to, from, 'LIMIT', offset, batch);
      for (const rec of await this.d.store.many(ids)) {
        const c = rec.claim;
        if (f.states?.length && !f.states.includes(c.state)) continue;
        if (f.unit && c.subject.unit !== f.unit) continue;
        if (f.phone && c.phone !== f.phone) continue;
        const v = this.view(rec, now);
        if (f.clock && v.clocks.stage !== f.clock) continue;
        out.push(v);
        if (out.length >= f.limit) break;
      }
      if (ids.length < batch) break;
    }
    return out;
  }

  /** Staff's view of one claim: with its parcel, the parcel's evidence timeline and the actions open to staff. */
  async detail(id: string): Promise<ClaimDetail | null> {
    const rec = await this.d.store.get(id);
    if (!rec) return null;
    const now = this.d.clock.now();
    const parcel = rec.claim.subject.parcelId ? await this.d.parcels.parcel(rec.claim.subject.parcelId) : null;
    const timeline = parcel ? await this.d.timelines.of(parcel) : [];
    return { ...this.view(rec, now), parcel, timeline, actions: allowedActions(rec.claim, 'staff', now) };
  }

  /**
   * Apply a command: read, decide, write; again if the claim changed in between. `owner`: the resident's phone when
   * a resident acts (only on their own claims).
   */
  async act(id: string, cmd: ClaimCommand, by: ClaimActor, owner?: string): Promise<ClaimView> {
    for (let i = 0; i < MAX_RETRIES; i++) {
      const rec = await this.d.store.get(id);
      if (!rec || (owner !== undefined && rec.claim.phone !== owner)) throw new ClaimError('not_found', 'no such claim');
      const now = this.d.clock.now();
      const { claim, event } = decide(rec.claim, cmd, by, now);
      const notices = claimNotices(claim, event, rec.log.length + 1, this.d.policy);
      const evidence = [changeEntry(claim, event), ...noticeEvidence(claim, notices, now)];
      if (await this.d.store.write(rec.claim, claim, event, { notices, evidence })) {
        this.d.counters.inc('lg_claims_total', { action: cmd.action });
        this.d.logger.info('claim changed', { claim: id, action: cmd.action, from: event.from, to: event.to, by: by.type });
        return this.view({ claim: { ...claim, v: claim.v + 1 }, log: [...rec.log, event] }, now);
      }
    }
    throw new ClaimError('busy', 'the claim kept changing; try again');
  }

  /** What the claim is about: a parcel found by id or tracking number, or a tracking number the gateway never saw. */
  private async subject(req: OpenRequest, by: ClaimActor): Promise<ClaimSubject> {
    const ps = this.d.parcels;
    // a resident links only their own parcels; staff, taking a claim down for someone, may link any
    const usable = (p: Parcel | null) => (p && (by.type !== 'resident' || p.phone === req.phone) ? p : null);
    if (req.parcelId) {
      const p = usable(await ps.parcel(req.parcelId));
      if (!p) throw new ClaimError('not_found', 'no such parcel for this phone', { field: 'parcelId' });
      return fromParcel(p);
    }
    const tn = req.trackingNumber!;
    let found: Parcel | null = null;
    if (req.carrier) {
      const pid = await ps.byTracking(req.carrier, tn);
      found = usable(pid ? await ps.parcel(pid) : null);
    }
    if (!found) {
      // the resident's own parcels, live and recently ended, whatever the carrier
      const ended = await ps.redis.zrange(ps.k.phoneEnded(req.phone), 0, -1);
      const mine = await ps.parcels([...(await ps.liveParcelIds(req.phone)), ...ended]);
      found = mine.find((p) => p.trackingNumber === tn && (!req.carrier || p.carrier === req.carrier)) ?? null;
    }
    return found ? fromParcel(found) : { parcelId: null, trackingNumber: tn, carrier: req.carrier ?? null, unit: null, compartment: null };
  }

  private async refuseDuplicate(parcelId: string, raced = false): Promise<void> {
    const open = await this.d.store.activeForParcel(parcelId);
    if (open.length || raced) {
      throw new ClaimError('duplicate', 'a claim about this parcel is already being handled', { claim: open[0] ?? null, parcel: parcelId });
    }
  }
}

const fromParcel = (p: Parcel): ClaimSubject => ({ parcelId: p.id, trackingNumber: p.trackingNumber, carrier: p.carrier, unit: p.unit, compartment: p.compartment });

/** The evidence entry of a claim change: who, when, from what to what, and the note (the resident only masked). */
export function changeEntry(claim: Claim, event: ClaimEvent): EvidenceEntry {
  return {
    at: event.at,
    kind: 'claim',
    actor: event.by,
    claim: claim.id,
    ref: claim.ref,
    action: event.action,
    from: event.from,
    to: event.to,
    note: event.note,
    ...(event.outcome ? { outcome: event.outcome } : {}),
    ...(event.rating ? { rating: event.rating } : {}),
    ...(event.action === 'open' ? { channel: claim.channel, subject: claim.subject, resident: maskPhone(claim.phone) } : {}),
  };
}
