import type { Redis } from 'ioredis';
import { redisUnitMemory, startSimulators, type SimulatedUnit } from '../../simulators/index.js';
import type { EmbeddedBroker } from '../broker/embedded.js';
import type { GatewayBus } from '../bus/gateway.js';
import { ConfigError, type Config } from '../config/config.js';
import { loadUnits } from '../config/units-file.js';
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
import { ParcelService } from '../parcels/service.js';
import { ParcelEngine } from '../parcels/engine.js';
import type { Notifier, OutboxRelay } from '../notify/index.js';
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
import { evidenceStaffActions } from '../evidence/staff.js';
import { ulid } from '../domain/ids.js';
import { startEdgeConsumer } from '../edge/consumer.js';
import { nodeClientAddress } from './client-address.js';
import { Claims } from '../claims/index.js';
import type { AlertEngine } from '../alerts/engine.js';
import type { AlertStore } from '../alerts/store.js';
import type { ChangeFeed } from '../store/feed.js';
import { startConsoleServices } from './console.js';
import type { UnitLeases } from '../scale/leases.js';
import { oncePerPeriod } from '../scale/once.js';
import { serveHttp } from './wiring/http.js';
import { startLeases, startMqtt } from './wiring/mqtt.js';
import { startNotify } from './wiring/notify.js';
import { parcelPolicy } from './wiring/policy.js';
import { connectRedis, duplicatePlain, quiet } from './wiring/redis.js';

export { parcelPolicy };

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
  /** null with ROLE=gateway (a ROLE=workers process relays) */
  relay: OutboxRelay | null;
  evidence: Evidence;
  staff: StaffService;
  residentSignIn: ResidentSignIn;
  claims: Claims;
  /** staff alerts (the engine, and the store the console reads) and the change feed of live console pages */
  alerts: AlertEngine;
  alertStore: AlertStore;
  feed: ChangeFeed;
  /** UNIT_LEASES=on: the leases of the units this gateway serves (null: it serves every unit) */
  leases: UnitLeases | null;
  close(): Promise<void>;
}

/** Wires the real dependencies once, in start-up order; close() shuts down in reverse. */
export async function startGateway(
  config: Config,
  /** clock: the one clock (tests inject one); scrypt: cheaper password hashes, for tests */
  opts: { logger?: Logger; units?: readonly UnitProfile[]; clock?: Clock; scrypt?: ScryptParams } = {},
): Promise<RunningGateway> {
  const logger = opts.logger ?? createLogger(config.LOG_LEVEL);
  const clock = opts.clock ?? systemClock;
  const units = opts.units ?? loadUnits(config.UNITS_FILE);
  const redisUrl = config.REDIS_URL;
  if (!redisUrl) throw new ConfigError('REDIS_URL: required (runtime/node.ts starts a redis-server of its own when it is unset)');
  if (config.ROLE === 'workers') throw new ConfigError('ROLE=workers runs no gateway: start it with startWorkers (runtime/workers-role.ts)');
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

    // One evidence log per process: UnitStore and ParcelStore append through it (one cached head per chain).
    const evidenceLog = new EvidenceLog(redis, config.REDIS_PREFIX);
    const store = new UnitStore(redis, config.REDIS_PREFIX, units, evidenceLog);
    const connection = () => quiet(duplicatePlain(redis), logger);
    const mqtt = await startMqtt({ config, credentials, units, redis, connection, store, evidenceLog, clock, logger, counters, cleanups });
    const { bus, broker, mqttUrl, leases } = mqtt;

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
    // several gateways: one of them checkpoints and trims per period (src/scale/once.ts)
    evidence.start(config.EVIDENCE_CHECKPOINT_S * 1000, config.UNIT_LEASES ? oncePerPeriod(redis, config.REDIS_PREFIX, config.GATEWAY_ID) : undefined);
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
    // ROLE=gateway: the relay and the notification workers run in a ROLE=workers process (docs/scaling.md)
    const { notifier, relay } = startNotify({
      config,
      redis,
      evidenceLog,
      parcelStore,
      clock,
      logger,
      counters,
      cleanups,
      run: config.ROLE !== 'gateway',
      ...(config.SIMULATORS ? { consoleInbox: (t: ConsoleText) => phones.add(t) } : {}),
    });
    const engineRedis = quiet(duplicatePlain(redis), logger);
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
      ...(leases ? { owned: () => leases.owned() } : {}),
    });
    await engine.start();
    cleanups.push(async () => {
      await engine.stop();
      engineRedis.disconnect();
    });
    // several gateways: serve this gateway's share of the units from now on
    await startLeases(leases, cleanups);

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
      connection,
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
    const metrics = await serveMetrics(app, counters, config, { redis, prefix: config.REDIS_PREFIX, units, store, parcels: parcelStore, queues: () => notifier.queues(), later: () => notifier.later.count() });
    cleanups.push(() => metrics.close());
    // Routes are all added before the server listens; the simulators fill this list once they run.
    const simulated: SimulatedUnit[] = [];
    if (config.SIMULATORS) app.route('/', devRoutes(simulated, { host: config.HOST, staff: staffAuthDeps(staffDeps) }, phones));
    const url = await serveHttp(app.fetch, config, cleanups);

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
    return { url, metricsUrl, mqttUrl, redis, bus, store, counters, broker, simulators, parcels, engine, couriers, residents, notifier, relay, evidence, staff, residentSignIn, claims, alerts, alertStore, feed, leases, close };
  } catch (err) {
    await close();
    throw err;
  }
}
