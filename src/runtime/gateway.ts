import { createAdaptorServer } from '@hono/node-server';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { UNITS } from '../../devices/units.js';
import { redisUnitMemory, startSimulators, type SimulatedUnit } from '../../simulators/index.js';
import { startEmbeddedBroker, type EmbeddedBroker } from '../broker/embedded.js';
import { GatewayBus } from '../bus/gateway.js';
import { OpenGuard, openLimits } from '../bus/open-guard.js';
import { ConfigError, type Config } from '../config/config.js';
import { loadCredentials } from '../config/credentials.js';
import type { UnitProfile } from '../domain/model.js';
import { systemClock, type Clock } from '../domain/clock.js';
import { createApp, staffAuthDeps, type StaffDeps } from '../http/app.js';
import type { Logger } from '../log.js';
import { createLogger } from './logger.js';
import { Counters } from '../metrics.js';
import { UnitStore } from '../store/units.js';
import { ParcelStore } from '../store/parcels.js';
import { Couriers, Residents } from '../parcels/accounts.js';
import { ParcelService, type ParcelPolicy } from '../parcels/service.js';
import { ParcelEngine } from '../parcels/engine.js';
import { Notifier, OutboxRelay } from '../notify/index.js';
import { mountBullBoard } from '../http/bullboard.js';
import { ResidentSignIn, DEFAULT_SIGNIN_POLICY } from '../residents/signin.js';
import { StaffService } from '../staff/service.js';
import type { ScryptParams } from '../staff/types.js';
import { StaffStore } from '../store/staff.js';
import { DevPhones, devRoutes } from '../http/routes/dev.js';
import type { ConsoleText } from '../notify/channels/console.js';
import { serveMetrics } from './metrics-server.js';
import { setApiTimeZone } from '../http/time.js';
import { IdempotencyKeys } from '../http/idempotency.js';
import { Evidence, EvidenceLog } from '../evidence/index.js';
import { deliveryRecorder } from '../evidence/notices.js';
import { evidenceStaffActions } from '../evidence/staff.js';
import { ulid } from '../domain/ids.js';
import { startEdgeConsumer } from '../edge/consumer.js';
import { nodeClientAddress } from './client-address.js';
import { Claims } from '../claims/index.js';
import type { AlertEngine } from '../alerts/engine.js';
import type { AlertStore } from '../alerts/store.js';
import type { ChangeFeed } from '../store/feed.js';
import { startConsoleServices } from './console.js';

export interface RunningGateway {
  url: string;
  /** GET here for Prometheus metrics (METRICS_TOKEN as bearer token when set) */
  metricsUrl: string;
  mqttUrl: string;
  redis: Redis;
  bus: GatewayBus;
  store: UnitStore;
  counters: Counters;
  broker: EmbeddedBroker | null;
  simulators: SimulatedUnit[];
  parcels: ParcelService;
  engine: ParcelEngine;
  couriers: Couriers;
  residents: Residents;
  notifier: Notifier;
  relay: OutboxRelay;
  evidence: Evidence;
  staff: StaffService;
  residentSignIn: ResidentSignIn;
  claims: Claims;
  /** staff alerts (the engine, and the store the console reads) and the change feed of live console pages */
  alerts: AlertEngine;
  alertStore: AlertStore;
  feed: ChangeFeed;
  close(): Promise<void>;
}

export function parcelPolicy(config: Config): ParcelPolicy {
  return {
    holdMs: config.HOLD_HOURS * 3600_000,
    extendMs: config.EXTEND_HOURS * 3600_000,
    reminderHours: config.REMINDER_HOURS,
    depositOpenTimeoutMs: config.DEPOSIT_OPEN_TIMEOUT_MS,
    codeMaxAgeMs: config.CODE_MAX_AGE_MS,
    intentTimeoutMs: config.INTENT_TIMEOUT_MS,
    lockout: { max: config.LOCKOUT_ATTEMPTS, windowMs: config.LOCKOUT_WINDOW_MS, lockMs: config.LOCKOUT_MS },
    presenceCodes: config.PRESENCE_CODES,
  };
}

function notifyConfig(config: Config) {
  const [start, end] = config.QUIET_HOURS === 'off' ? [] : config.QUIET_HOURS.split('-');
  return {
    prefix: `${config.REDIS_PREFIX}bull`,
    timeZone: config.TIME_ZONE,
    quietHours: start && end ? { start, end } : null,
    sms: config.SMS_URL ? { url: config.SMS_URL, ...(config.SMS_TOKEN ? { token: config.SMS_TOKEN } : {}), ratePerSecond: config.SMS_RATE_PER_S } : null,
    propertyWebhook:
      config.PROPERTY_WEBHOOK_URL && config.PROPERTY_WEBHOOK_SECRET ? { url: config.PROPERTY_WEBHOOK_URL, secret: config.PROPERTY_WEBHOOK_SECRET } : null,
    webhookRatePerSecond: config.WEBHOOK_RATE_PER_S,
    attempts: config.NOTIFY_ATTEMPTS,
    backoffMs: config.NOTIFY_BACKOFF_MS,
  };
}

/** Wires the real dependencies once, in start-up order; close() shuts down in reverse. */
export async function startGateway(
  config: Config,
  /** clock: the one clock (tests inject one); scrypt: cheaper password hashes, for tests */
  opts: { logger?: Logger; units?: readonly UnitProfile[]; clock?: Clock; scrypt?: ScryptParams } = {},
): Promise<RunningGateway> {
  const logger = opts.logger ?? createLogger(config.LOG_LEVEL);
  const clock = opts.clock ?? systemClock;
  const units = opts.units ?? UNITS;
  const redisUrl = config.REDIS_URL;
  if (!redisUrl) throw new ConfigError('REDIS_URL: required (runtime/node.ts starts a redis-server of its own when it is unset)');
  const credentials = loadCredentials({ file: config.credentialsFile, json: config.CREDENTIALS_JSON, production: config.NODE_ENV === 'production' });
  if (!credentials.gateway.codeKeyHex) {
    throw new ConfigError('credentials.gateway.codeKeyHex: required (the key that hashes pickup codes)');
  }
  for (const u of units) {
    const c = credentials.units[u.id];
    if (!c) throw new ConfigError(`credentials.units.${u.id}: missing (broker password for the unit)`);
    if (u.dialect !== 'frame-485' && !c.keyHex) throw new ConfigError(`credentials.units.${u.id}.keyHex: required for ${u.dialect}`);
  }
  const counters = new Counters();
  const cleanups: (() => Promise<unknown>)[] = [];
  const close = async () => {
    for (const fn of cleanups.reverse()) await fn().catch((err: unknown) => logger.error('shutdown step failed', { err }));
  };

  try {
    const redis = await connectRedis(redisUrl, logger);
    cleanups.push(async () => redis.quit());

    let broker: EmbeddedBroker | null = null;
    let mqttUrl = config.MQTT_URL;
    if (!mqttUrl) {
      broker = await startEmbeddedBroker({
        host: config.MQTT_HOST,
        port: config.MQTT_PORT,
        credentials,
        units,
        logger,
        counters,
        limits: {
          maxPacketBytes: config.MQTT_MAX_PACKET_BYTES,
          gatewayMaxPacketBytes: config.MQTT_GATEWAY_MAX_PACKET_BYTES,
          connectTimeoutMs: config.MQTT_CONNECT_TIMEOUT_MS,
          maxInflight: config.MQTT_MAX_INFLIGHT,
        },
      });
      cleanups.push(() => broker!.close());
      mqttUrl = broker.url;
      logger.info('embedded MQTT broker listening', { url: mqttUrl });
    }

    // One evidence log per process: UnitStore and ParcelStore append through it (one cached head per chain).
    const evidenceLog = new EvidenceLog(redis, config.REDIS_PREFIX);
    const store = new UnitStore(redis, config.REDIS_PREFIX, units, evidenceLog);
    // Every door open passes the open guard (rate limits, lockdowns), through the command bus.
    const opens = new OpenGuard({ redis, prefix: config.REDIS_PREFIX, evidence: evidenceLog, units, limits: openLimits(config), counters, logger, now: () => clock.now() });
    const bus = new GatewayBus({
      opens,
      mqttUrl,
      clientId: config.MQTT_CLIENT_ID,
      shareGroup: config.MQTT_SHARE_GROUP,
      credentials,
      codeKey: Buffer.from(credentials.gateway.codeKeyHex, 'hex'),
      units,
      redis,
      prefix: config.REDIS_PREFIX,
      store,
      logger,
      counters,
      timings: config,
    });
    cleanups.push(() => bus.stop());
    await bus.start();

    // ---- parcels and notifications ----
    const codeKey = Buffer.from(credentials.gateway.codeKeyHex, 'hex');
    const phones = new DevPhones(); // with simulators: the residents' phones (GET /dev/phones/{phone}/sms)
    const parcelStore = new ParcelStore(redis, config.REDIS_PREFIX, evidenceLog);
    const evidence = new Evidence(evidenceLog, {
      redis,
      prefix: config.REDIS_PREFIX,
      secret: codeKey,
      clock,
      logger,
      retentionDays: config.EVIDENCE_RETENTION_DAYS,
    });
    evidence.start(config.EVIDENCE_CHECKPOINT_S * 1000);
    cleanups.push(() => evidence.stop());
    const couriers = new Couriers(redis, parcelStore.k);
    const residents = new Residents(redis, parcelStore.k);
    const parcels = new ParcelService({
      parcels: parcelStore,
      unitStore: store,
      commands: bus.commands,
      couriers,
      residents,
      codeKey,
      policy: parcelPolicy(config),
      logger,
      counters,
      units,
      clock,
    });
    const notifier = new Notifier({
      connection: () => quiet(new Redis(redisUrl, { maxRetriesPerRequest: null }), logger),
      config: notifyConfig(config),
      logger,
      counters,
      deliveries: deliveryRecorder(evidenceLog, clock),
      ...(config.SIMULATORS ? { consoleInbox: (t: ConsoleText) => phones.add(t) } : {}),
    });
    notifier.startWorkers();
    cleanups.push(() => notifier.close());
    const relayRedis = quiet(redis.duplicate(), logger);
    const relay = new OutboxRelay({ redis: relayRedis, keyPrefix: config.REDIS_PREFIX, notifier, logger, counters, consumer: config.MQTT_CLIENT_ID });
    relay.start();
    cleanups.push(async () => {
      await relay.stop();
      relayRedis.disconnect();
    });
    const engineRedis = quiet(redis.duplicate(), logger);
    const engine = new ParcelEngine({
      blocking: engineRedis,
      redis,
      prefix: config.REDIS_PREFIX,
      units,
      service: parcels,
      unitStore: store,
      logger,
      counters,
      consumer: config.MQTT_CLIENT_ID,
      sweepMs: config.SWEEP_MS,
      presenceCodes: config.PRESENCE_CODES,
      clock,
      options: { maxAttempts: config.ENGINE_MAX_ATTEMPTS, backoffMs: config.ENGINE_BACKOFF_MS },
    });
    await engine.start();
    cleanups.push(async () => {
      await engine.stop();
      engineRedis.disconnect();
    });

    setApiTimeZone(config.TIME_ZONE); // API times are ISO 8601 with this zone's offset
    // ---- staff and resident sign-in ----
    const lockout = { max: config.LOCKOUT_ATTEMPTS, windowMs: config.LOCKOUT_WINDOW_MS, lockMs: config.LOCKOUT_MS };
    const now = { now: () => clock.now() };
    const staff = new StaffService({
      store: new StaffStore(redis, config.REDIS_PREFIX),
      policy: { sessionMs: config.STAFF_SESSION_HOURS * 3600_000, lockout, ...(opts.scrypt ? { scrypt: opts.scrypt } : {}) },
      logger,
      ...now,
    });
    const residentSignIn = new ResidentSignIn({
      redis,
      k: parcelStore.k,
      codeKey,
      residents,
      policy: {
        ...DEFAULT_SIGNIN_POLICY,
        perAddress: { max: config.OTP_PER_ADDRESS, windowMs: 15 * 60_000 },
        sessionMs: config.RESIDENT_SESSION_MINUTES * 60_000,
      },
      logger,
      ...now,
    });
    // ---- lost-parcel claims: the service, its clocks' sweep (idempotent: every gateway runs it), the report ----
    const claims = new Claims({
      redis,
      prefix: config.REDIS_PREFIX,
      parcels: parcelStore,
      residents,
      timelines: evidence.timelines,
      units,
      clock,
      logger,
      counters,
      policy: { ackHours: config.CLAIM_ACK_HOURS, resolveHours: config.CLAIM_RESOLVE_HOURS, dutyPhones: config.DUTY_PHONES, maxOpenPerResident: 5 },
      timeZone: config.TIME_ZONE,
      sweepMs: config.CLAIM_SWEEP_MS,
    });
    claims.start();
    cleanups.push(() => claims.stop());

    const runtime = { clock, ids: { next: () => ulid(clock.now()) }, clientAddress: nodeClientAddress(config.TRUST_PROXY) };
    const staffDeps: StaffDeps = {
      members: staff,
      bootstrapToken: config.STAFF_TOKEN,
      production: config.NODE_ENV === 'production',
      trustProxy: config.TRUST_PROXY,
      clientAddress: runtime.clientAddress,
    };

    // ---- staff console and alerts ----
    const consoleServices = await startConsoleServices({
      config,
      redis,
      connection: () => quiet(redis.duplicate(), logger),
      log: evidenceLog,
      store,
      k: parcelStore.k,
      units,
      clock,
      logger,
      counters,
      dutyPhones: [],
      cleanups,
    });
    const { alerts, alertStore, feed } = consoleServices;

    const api = { parcels, couriers, residents, residentSignIn, idempotency: new IdempotencyKeys(redis, config.REDIS_PREFIX) };
    const app = createApp({
      staffActions: evidenceStaffActions(evidenceLog),
      logger,
      runtime,
      health: {
        redis: async () => (await redis.ping()) === 'PONG',
        mqtt: () => bus.connected,
      },
      api,
      site: {
        store,
        staff: staffDeps,
        parcels: { service: parcels, couriers, residents, commands: bus.commands, notifications: notifier, evidence },
        claims,
        console: {
          auth: staffAuthDeps(staffDeps),
          store,
          parcels,
          commands: bus.commands,
          evidence,
          inventory: consoleServices.inventory,
          search: consoleServices.search,
          alerts: alertStore,
          notifications: notifier,
          feed,
          clock,
          timeZone: config.TIME_ZONE,
        },
      },
    });
    // Requests the edge (Cloudflare Worker) queued for this site: run through the same services (src/edge/consumer.ts).
    const edgeConsumer = startEdgeConsumer({ redis, prefix: config.REDIS_PREFIX, units: units.map((u) => u.id), api, couriers, logger });
    cleanups.push(() => edgeConsumer.stop());
    mountBullBoard(app, notifier.queues(), staffAuthDeps(staffDeps));
    const metrics = await serveMetrics(app, counters, config, { redis, prefix: config.REDIS_PREFIX, units, store, parcels: parcelStore, queues: () => notifier.queues() });
    cleanups.push(() => metrics.close());
    // Routes are all added before the server listens; the simulators fill this list once they run.
    const simulated: SimulatedUnit[] = [];
    if (config.SIMULATORS) app.route('/', devRoutes(simulated, { host: config.HOST, staff: staffAuthDeps(staffDeps) }, phones));
    const server = createAdaptorServer({ fetch: app.fetch }) as Server;
    await listen(server, config.PORT, config.HOST);
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    );
    const port = (server.address() as AddressInfo).port;
    const url = `http://${config.HOST === '0.0.0.0' ? '127.0.0.1' : config.HOST}:${port}`;

    let simulators: SimulatedUnit[] = [];
    if (config.SIMULATORS) {
      simulators = await startSimulators({
        brokerUrl: mqttUrl,
        credentials,
        units,
        autopilot: { enabled: config.SIM_AUTOPILOT },
        logger: logger.child({ component: 'simulator' }),
        // Like real units, they keep their seq (and unsent events, remembered commands) across restarts.
        memory: redisUnitMemory(redis, config.REDIS_PREFIX),
      });
      cleanups.push(() => Promise.all(simulators.map((s) => s.stop())));
      simulated.push(...simulators);
    }
    const metricsUrl = metrics.url ?? `${url}/metrics`;
    return { url, metricsUrl, mqttUrl, redis, bus, store, counters, broker, simulators, parcels, engine, couriers, residents, notifier, relay, evidence, staff, residentSignIn, claims, alerts, alertStore, feed, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Every connection reports its errors to the log (ioredis prints "Unhandled error event" otherwise). */
function quiet(r: Redis, logger: Logger): Redis {
  let last = 0;
  r.on('error', (err: Error) => {
    // a Redis outage makes every connection fail every retry: one line per connection per 10 s is enough
    if (Date.now() - last > 10_000) logger.error('redis connection error', { err });
    last = Date.now();
  });
  return r;
}

async function connectRedis(url: string, logger: Logger): Promise<Redis> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 3, connectTimeout: 5_000 });
  let lastError: Error | null = null;
  redis.on('error', (err: Error) => {
    lastError = err;
  });
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    redis.disconnect();
    const why = (lastError ?? (err as Error)).message;
    throw new ConfigError(`REDIS_URL: cannot reach Redis at ${url} (${why}). Start redis-server or set REDIS_URL.`);
  }
  const policy = await evictionPolicy(redis).catch(() => null);
  if (policy !== 'noeviction') {
    redis.disconnect();
    throw new ConfigError(
      `REDIS_URL: Redis at ${url} has maxmemory-policy ${policy ?? '(unreadable)'}; the gateway keeps parcels, codes and ` +
        'the event log there and eviction would delete them silently. Set maxmemory-policy noeviction ' +
        '(redis.conf, or CONFIG SET maxmemory-policy noeviction) and persist with appendonly yes (README, "Redis").',
    );
  }
  if ((await redis.info('persistence').catch(() => '')).includes('aof_enabled:0')) {
    logger.warn('Redis has no append-only file (appendonly no): a Redis restart loses every write since its last snapshot', { url });
  }
  redis.removeAllListeners('error');
  redis.on('error', (err: Error) => logger.error('redis error', { err }));
  return redis;
}

/** maxmemory-policy from INFO (CONFIG is often disabled on managed Redis; INFO is not). */
async function evictionPolicy(redis: Redis): Promise<string | null> {
  const info = await redis.info('memory');
  return /^maxmemory_policy:(\S+)/m.exec(info)?.[1] ?? null;
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE'
          ? new ConfigError(`PORT ${port} on ${host} is already in use. Set PORT to a free port.`)
          : err,
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
