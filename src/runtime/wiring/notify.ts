import { Redis } from 'ioredis';
import type { Config } from '../../config/config.js';
import type { Clock } from '../../domain/clock.js';
import type { EvidenceLog } from '../../evidence/index.js';
import { deliveryRecorder } from '../../evidence/notices.js';
import type { Logger } from '../../log.js';
import type { Counters } from '../../metrics.js';
import { Notifier, OutboxRelay } from '../../notify/index.js';
import type { ConsoleText } from '../../notify/channels/console.js';
import type { ParcelStore } from '../../store/parcels.js';
import { notifyConfig } from './policy.js';
import { duplicatePlain, quiet } from './redis.js';

export interface Notify {
  notifier: Notifier;
  /** null: this process runs no relay (ROLE=gateway: a ROLE=workers process does) */
  relay: OutboxRelay | null;
}

/**
 * The notifier (its queues: every process enqueues, cancels and lists jobs) and, with `run` (ROLE=all or workers),
 * its BullMQ workers and the outbox relay. Stopping each is pushed to `cleanups`.
 */
export function startNotify(d: {
  config: Config;
  redis: Redis;
  evidenceLog: EvidenceLog;
  parcelStore: ParcelStore;
  clock: Clock;
  logger: Logger;
  counters: Counters;
  cleanups: (() => Promise<unknown>)[];
  run: boolean;
  consoleInbox?: (t: ConsoleText) => void;
}): Notify {
  const { config, redis, parcelStore, logger, counters, cleanups } = d;
  const redisUrl = config.REDIS_URL!;
  const notifier = new Notifier({
    connection: () => quiet(new Redis(redisUrl, { maxRetriesPerRequest: null }), logger),
    config: notifyConfig(config),
    logger,
    counters,
    deliveries: deliveryRecorder(d.evidenceLog, d.clock),
    // a reminder goes only while its parcel waits (a relay behind on its cancel must not remind of a collected one)
    stillWanted: async (notice) => !notice.parcelId || (await parcelStore.parcel(notice.parcelId))?.state === 'stored',
    ...(d.consoleInbox ? { consoleInbox: d.consoleInbox } : {}),
  });
  cleanups.push(() => notifier.close());
  if (!d.run) return { notifier, relay: null };
  notifier.startWorkers();
  const relayRedis = quiet(duplicatePlain(redis), logger);
  const relay = new OutboxRelay({
    redis: relayRedis,
    keyPrefix: config.REDIS_PREFIX,
    notifier,
    logger,
    counters,
    consumer: config.MQTT_CLIENT_ID,
    // several gateways: a dead one's unrelayed notices are taken over (its relay silent for a lease's time)
    ...(config.UNIT_LEASES ? { claimDeadAfterMs: config.LEASE_TTL_MS + config.LEASE_RENEW_MS } : {}),
  });
  relay.start();
  cleanups.push(async () => {
    await relay.stop();
    relayRedis.disconnect();
  });
  return { notifier, relay };
}
