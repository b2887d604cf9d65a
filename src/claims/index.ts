import type { Redis } from 'ioredis';
import type { Clock } from '../domain/clock.js';
import type { UnitProfile } from '../domain/model.js';
import type { Timelines } from '../evidence/timeline.js';
import type { Logger } from '../log.js';
import type { Counters } from '../metrics.js';
import type { Residents } from '../parcels/accounts.js';
import { ClaimStore } from '../store/claims.js';
import type { ParcelStore } from '../store/parcels.js';
import { ClaimExports } from './export.js';
import { MonthlyReports } from './report.js';
import { ClaimService, type ClaimPolicy } from './service.js';
import { ClaimSweep } from './sweep.js';

export { ClaimService, type ClaimPolicy } from './service.js';
export { ClaimError } from './errors.js';

export interface ClaimsDeps {
  redis: Redis;
  prefix: string;
  /** parcel lookups, and the atomic step (ParcelStore.commit) claims write through too */
  parcels: ParcelStore;
  residents: Residents;
  timelines: Timelines;
  units: readonly UnitProfile[];
  clock: Clock;
  logger: Logger;
  counters: Counters;
  policy: ClaimPolicy;
  timeZone: string;
  sweepMs: number;
}

/** Lost-parcel claims, wired: the service, the clocks' sweep, exports and the monthly report. */
export class Claims {
  readonly store: ClaimStore;
  readonly service: ClaimService;
  readonly sweep: ClaimSweep;
  readonly exports: ClaimExports;
  readonly reports: MonthlyReports;

  constructor(readonly d: ClaimsDeps) {
    this.store = new ClaimStore(d.redis, d.prefix, d.parcels);
    const logger = d.logger.child({ component: 'claims' });
    this.service = new ClaimService({ store: this.store, parcels: d.parcels, residents: d.residents, timelines: d.timelines, clock: d.clock, logger, counters: d.counters, policy: d.policy });
    this.sweep = new ClaimSweep({ service: this.service, clock: d.clock, logger, counters: d.counters, policy: d.policy, everyMs: d.sweepMs });
    this.exports = new ClaimExports({ service: this.service, units: d.units, clock: d.clock, timeZone: d.timeZone });
    this.reports = new MonthlyReports({ claims: this.store, parcels: d.parcels, clock: d.clock, timeZone: d.timeZone, clockPolicy: this.service.clockPolicy });
  }

  get timeZone(): string {
    return this.d.timeZone;
  }

  start(): void {
    if (!this.d.policy.dutyPhones.length) this.d.logger.warn('claims: no DUTY_PHONES: clock alerts go to the property webhook only');
    this.sweep.start();
  }

  stop(): Promise<void> {
    return this.sweep.stop();
  }
}
