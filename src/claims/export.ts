import type { ClaimClocks } from '../domain/claim-clocks.js';
import type { Claim, ClaimEvent } from '../domain/claims.js';
import type { Clock } from '../domain/clock.js';
import type { UnitProfile } from '../domain/model.js';
import type { Parcel } from '../domain/parcel.js';
import type { Actor } from '../evidence/entry.js';
import { OFFICE_CHAIN, unitChain } from '../evidence/log.js';
import type { TimelineItem } from '../evidence/timeline.js';
import { maskPhone } from '../notify/phone.js';
import type { ClaimEvidenceItem } from '../store/claims.js';
import { ClaimError } from './errors.js';
import type { ClaimService } from './service.js';

export const EXPORT_FORMAT = 'locker-gateway/claim@1';

/** A parcel as a claim's record shows it: where, when, what became of it; the phone by its tail only. */
export interface ParcelRecord {
  id: string;
  state: string;
  unit: string;
  site: { zh: string; en: string } | null;
  compartment: number;
  size: string;
  carrier: string;
  trackingNumber: string;
  phoneTail: string;
  createdAt: number;
  storedAt: number | null;
  deadline: number | null;
  endedAt: number | null;
  reason: string | null;
}

/**
 * Everything known about a claim, for the file: the claim (the resident's phone masked), its own log, its clocks,
 * the parcel and its evidence timeline (positions and hashes in the unit's chain), and the claim's own entries in
 * the office chain (positions and hashes), so a printed or exported record can be checked against the chains later.
 */
export interface ClaimExport {
  format: typeof EXPORT_FORMAT;
  generatedAt: number;
  generatedBy: Actor;
  timeZone: string;
  claim: Omit<Claim, 'v'>;
  clocks: ClaimClocks;
  log: ClaimEvent[];
  parcel: ParcelRecord | null;
  timeline: { chain: string; items: TimelineItem[] } | null;
  evidence: { chain: string; items: ClaimEvidenceItem[] };
}

export class ClaimExports {
  constructor(private readonly d: { service: ClaimService; units: readonly UnitProfile[]; clock: Clock; timeZone: string }) {}

  async build(id: string, by: Actor): Promise<ClaimExport> {
    const detail = await this.d.service.detail(id);
    if (!detail) throw new ClaimError('not_found', 'no such claim');
    const { v: _v, ...claim } = detail.claim;
    const items = await this.d.service.store.evidence(id);
    return {
      format: EXPORT_FORMAT,
      generatedAt: this.d.clock.now(),
      generatedBy: by,
      timeZone: this.d.timeZone,
      claim: { ...claim, phone: maskPhone(claim.phone) },
      clocks: detail.clocks,
      log: detail.log,
      parcel: detail.parcel ? this.parcelRecord(detail.parcel) : null,
      timeline: detail.parcel ? { chain: unitChain(detail.parcel.unit), items: detail.timeline } : null,
      evidence: { chain: OFFICE_CHAIN, items },
    };
  }

  parcelRecord(p: Parcel): ParcelRecord {
    const unit = this.d.units.find((u) => u.id === p.unit);
    return {
      id: p.id,
      state: p.state,
      unit: p.unit,
      site: unit ? unit.siteName : null,
      compartment: p.compartment,
      size: p.size,
      carrier: p.carrier,
      trackingNumber: p.trackingNumber,
      phoneTail: p.phone.slice(-4),
      createdAt: p.createdAt,
      storedAt: p.storedAt,
      deadline: p.deadline,
      endedAt: p.endedAt,
      reason: p.reason,
    };
  }
}
