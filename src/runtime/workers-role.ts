import { OpenAPIHono } from '@hono/zod-openapi';
import type { Redis } from 'ioredis';
import { ConfigError, type Config } from '../config/config.js';
import { systemClock, type Clock } from '../domain/clock.js';
import { EvidenceLog } from '../evidence/index.js';
import type { AppEnv } from '../http/app.js';
import { healthRoutes } from '../http/routes/health.js';
import type { Logger } from '../log.js';
import { Counters } from '../metrics.js';
import type { Notifier, OutboxRelay } from '../notify/index.js';
import { ParcelStore } from '../store/parcels.js';
import { createLogger } from './logger.js';
import { serveMetrics } from './metrics-server.js';
import { serveHttp } from './wiring/http.js';
import { startNotify } from './wiring/notify.js';
import { connectRedis } from './wiring/redis.js';

export interface RunningWorkers {
  /** /healthz, /readyz and (without METRICS_PORT) /metrics; no API */
  url: string;
  metricsUrl: string;
  redis: Redis;
  counters: Counters;
  notifier: Notifier;
  relay: OutboxRelay;
  close(): Promise<void>;
}

/**
 * ROLE=workers (docs/scaling.md, "Processes on one machine"): the outbox relay and the notification workers (SMS,
 * webhook, console texts), off the event loop of the gateway processes that serve the units and the API. Nothing
 * per unit runs here: no MQTT, no parcel engine, no units file or unit credentials. Several may run (UNIT_LEASES=on
 * gives each a relay consumer of its own and takes over a dead one's pending entries); BullMQ shares the jobs and
 * the SMS rate limit between them through Redis.
 */
export async function startWorkers(config: Config, opts: { logger?: Logger; clock?: Clock } = {}): Promise<RunningWorkers> {
  const logger = opts.logger ?? createLogger(config.LOG_LEVEL);
  const clock = opts.clock ?? systemClock;
  if (!config.REDIS_URL) throw new ConfigError('REDIS_URL: required with ROLE=workers');
  const counters = new Counters();
  const cleanups: (() => Promise<unknown>)[] = [];
  const close = async () => {
    for (const fn of cleanups.reverse()) await fn().catch((err: unknown) => logger.error('shutdown step failed', { err }));
  };
  try {
    const redis = await connectRedis(config.REDIS_URL, logger);
    cleanups.push(async () => redis.quit());
    // delivery evidence goes to the same chains the gateway appends to (EvidenceLog appends atomically in Redis)
    const evidenceLog = new EvidenceLog(redis, config.REDIS_PREFIX);
    const parcelStore = new ParcelStore(redis, config.REDIS_PREFIX, evidenceLog);
    const { notifier, relay } = startNotify({ config, redis, evidenceLog, parcelStore, clock, logger, counters, cleanups, run: true });

    const app = new OpenAPIHono<AppEnv>();
    // "mqtt" here: this process's own work runs (it serves no unit)
    app.route('/', healthRoutes({ health: { redis: async () => (await redis.ping()) === 'PONG', mqtt: () => relay !== null } }));
    const metrics = await serveMetrics(app, counters, config, null);
    cleanups.push(() => metrics.close());
    const url = await serveHttp(app.fetch, config, cleanups);
    return { url, metricsUrl: metrics.url ?? `${url}/metrics`, redis, counters, notifier, relay: relay!, close };
  } catch (err) {
    await close();
    throw err;
  }
}
