import type { Queue } from 'bullmq';
import type { AlertStore } from '../../alerts/store.js';
import type { Claims } from '../../claims/index.js';
import type { CommandBus } from '../../bus/commands.js';
import type { Clock } from '../../domain/clock.js';
import type { Evidence } from '../../evidence/index.js';
import type { FailedNotice } from '../../notify/types.js';
import type { ParcelService } from '../../parcels/service.js';
import type { ChangeFeed } from '../../store/feed.js';
import type { InventoryReader } from '../../store/inventory.js';
import type { ParcelSearch } from '../../store/search.js';
import type { UnitStore } from '../../store/units.js';
import type { StaffAuthDeps } from '../auth.js';

/** What the console's pages read and act through: the same services as the API, passed in (createApp habit). */
export interface ConsoleDeps {
  auth: StaffAuthDeps;
  store: UnitStore;
  parcels: ParcelService;
  commands: CommandBus;
  evidence: Evidence;
  inventory: InventoryReader;
  search: ParcelSearch;
  alerts: AlertStore;
  notifications: { failures(limit?: number): Promise<FailedNotice[]>; queues(): Queue[] };
  /** changes for live pages (null: pages work, without live updates) */
  feed: ChangeFeed | null;
  clock: Clock;
  timeZone: string;
  /** lost-parcel claims and the monthly report (createApp passes the site's; without them those pages answer 404) */
  claims?: Claims | undefined;
}
