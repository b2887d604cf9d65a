import type { Redis } from 'ioredis';
import { AlertEngine } from '../alerts/engine.js';
import { AlertStore } from '../alerts/store.js';
import type { Config } from '../config/config.js';
import type { Clock } from '../domain/clock.js';
import type { UnitProfile } from '../domain/model.js';
import type { EvidenceLog } from '../evidence/log.js';
import type { Logger } from '../log.js';
import type { Counters } from '../metrics.js';
import { ChangeFeed } from '../store/feed.js';
import { InventoryReader } from '../store/inventory.js';
import type { Keys } from '../store/keys.js';
import { ParcelSearch } from '../store/search.js';
import type { UnitStore } from '../store/units.js';

export interface ConsoleServices {
  alerts: AlertEngine;
  alertStore: AlertStore;
  feed: ChangeFeed;
  search: ParcelSearch;
  inventory: InventoryReader;
}

/**
 * The staff console's own services, started once per gateway process: the alert engine (a consumer of the evidence
 * chains), the change feed of live pages (one blocking connection), parcel search (and indexing parcels written
 * before its index existed). Each stop function goes into `cleanups`, to run before Redis closes.
 */
export async function startConsoleServices(d: {
  config: Config;
  redis: Redis;
  /** a new connection of its own, errors logged (gateway.ts `quiet`) */
  connection: () => Redis;
  log: EvidenceLog;
  store: UnitStore;
  k: Keys;
  units: readonly UnitProfile[];
  clock: Clock;
  logger: Logger;
  counters: Counters;
  /** the staff on duty, texted about every alert */
  dutyPhones: readonly string[];
  cleanups: (() => Promise<unknown>)[];
}): Promise<ConsoleServices> {
  const { config, logger } = d;
  const alertStore = new AlertStore(d.redis, config.REDIS_PREFIX, d.log);
  const alerts = new AlertEngine({
    blocking: d.connection(),
    redis: d.redis,
    log: d.log,
    units: d.store,
    profiles: d.units,
    alerts: alertStore,
    clock: d.clock,
    logger,
    counters: d.counters,
    policy: { offlineMs: config.ALERT_OFFLINE_MINUTES * 60_000, doorOpenMs: config.ALERT_DOOR_OPEN_MINUTES * 60_000 },
    dutyPhones: d.dutyPhones,
    consumer: config.MQTT_CLIENT_ID,
    checkMs: config.ALERT_CHECK_MS,
    // several gateways: a dead one's pending entries are taken over within seconds, not at the next start
    ...(config.UNIT_LEASES ? { claimIdleMs: config.LEASE_TTL_MS, claimEveryMs: config.LEASE_RENEW_MS } : {}),
  });
  await alerts.start();
  d.cleanups.push(() => alerts.stop());
  const feed = new ChangeFeed({ blocking: d.connection(), log: d.log, logger });
  await feed.start();
  d.cleanups.push(() => feed.stop());
  const search = new ParcelSearch(d.redis, d.k);
  void search.backfill().catch((err: unknown) => logger.warn('console: indexing older parcels for search failed', { err }));
  return { alerts, alertStore, feed, search, inventory: new InventoryReader(d.redis, d.k) };
}
