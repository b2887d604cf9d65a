import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { z } from 'zod';
import { normalizePhone } from '../notify/phone.js';
import { DEV_CREDENTIALS_FILE } from './credentials.js';
import { DEV_METRICS_TOKEN, DEV_STAFF_TOKEN, productionProblems } from './production.js';

export { DEV_METRICS_TOKEN, DEV_STAFF_TOKEN };

/**
 * Every setting the gateway reads, parsed once at start-up. A bad value refuses to start and names the key.
 * The README's settings table is written from this file: keep them together.
 */
const bool = z
  .enum(['on', 'off', 'true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'on' || v === 'true' || v === '1' || v === 'yes');
const port = z.coerce.number().int().min(0).max(65535);
const ms = z.coerce.number().int().positive();
const url = (protocols: string[]) =>
  z
    .string()
    .url()
    .refine((u) => URL.canParse(u) && protocols.includes(new URL(u).protocol), `must start with ${protocols.join(' or ')}//`);

export const ConfigSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: port.default(3000),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),

  /** unset = `npm start` runs a redis-server of its own (see REDIS_DATA_DIR) */
  REDIS_URL: url(['redis:', 'rediss:']).optional(),
  REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,32}$/, 'letters, digits and _ . : - only, at most 32')
    .default('lg:'),

  MQTT_URL: url(['mqtt:', 'mqtts:', 'ws:', 'wss:']).optional(),
  MQTT_HOST: z.string().min(1).default('127.0.0.1'),
  MQTT_PORT: port.default(1883),
  MQTT_CLIENT_ID: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and - only')
    .default('locker-gateway-1'),
  /** $share group for scale-out: several gateways split the units' messages between them. Empty = no sharing. */
  MQTT_SHARE_GROUP: z.string().regex(/^[A-Za-z0-9_-]{0,32}$/).default(''),

  SIMULATORS: bool.default(true),
  SIM_AUTOPILOT: bool.default(true),
  CREDENTIALS_FILE: z.string().min(1).optional(),
  CREDENTIALS_JSON: z.string().min(1).optional(),

  COMMAND_TIMEOUT_MS: ms.default(10_000),
  COMMAND_TTL_S: z.coerce.number().int().min(5).max(3600).default(60),
  HEARTBEAT_TIMEOUT_MS: ms.default(90_000),
  POLL_INTERVAL_MS: ms.default(5_000),
  BUS_TIMEOUT_MS: ms.default(500),
  /** json-v1: how long to wait for replayed events before reconciling a snapshot that is ahead of them */
  SNAPSHOT_SETTLE_MS: ms.default(3_000),

  // ---- staff ----
  /** development bootstrap (the admin `bootstrap`; the API refuses it in production); production requires a strong one (production.ts) */
  STAFF_TOKEN: z.string().min(16, 'at least 16 characters').optional(),
  /** take the client address from X-Forwarded-For (only behind a proxy you run) */
  TRUST_PROXY: bool.default(false),

  // ---- parcels ----
  HOLD_HOURS: z.coerce.number().positive().max(24 * 30).default(72),
  REMINDER_HOURS: z
    .string()
    .regex(/^(\d+(\.\d+)?)(,\d+(\.\d+)?)*$|^off$/, 'comma-separated hours, e.g. 24,48, or off')
    .default('24,48')
    .transform((v) => (v === 'off' ? [] : v.split(',').map(Number))),
  EXTEND_HOURS: z.coerce.number().positive().max(24 * 14).default(48),
  DEPOSIT_OPEN_TIMEOUT_MS: ms.default(120_000),
  CODE_MAX_AGE_MS: ms.default(120_000),
  INTENT_TIMEOUT_MS: ms.default(120_000),
  LOCKOUT_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(5),
  LOCKOUT_WINDOW_MS: ms.default(600_000),
  LOCKOUT_MS: ms.default(600_000),
  PRESENCE_CODES: bool.default(true),
  SWEEP_MS: ms.default(1_000),

  // ---- opening doors: rate limits and lockdowns (src/bus/open-guard.ts) ----
  /** door opens admitted per unit per minute (sliding window), of every kind, admins' too */
  OPEN_RATE_PER_UNIT_PER_MIN: z.coerce.number().int().min(1).max(100_000).default(30),
  /** door opens admitted across the fleet per minute */
  OPEN_RATE_FLEET_PER_MIN: z.coerce.number().int().min(1).max(100_000).default(60),
  /** more unexplained opens (no parcel intent of the parcel's own party: staff opens) within a minute lock a unit down */
  LOCKDOWN_UNEXPLAINED_PER_UNIT_PER_MIN: z.coerce.number().int().min(1).max(100_000).default(5),
  /** … across the fleet, lock the whole fleet down */
  LOCKDOWN_UNEXPLAINED_FLEET_PER_MIN: z.coerce.number().int().min(1).max(100_000).default(10),

  // ---- evidence log ----
  /** ended parcels and their evidence are kept this long, then trimmed (after a checkpoint) */
  EVIDENCE_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(180),
  /** how often each evidence chain's head is checkpointed (signed) when it moved */
  EVIDENCE_CHECKPOINT_S: z.coerce.number().int().min(1).max(86_400).default(60),
  /** parcel engine: tries of an event that fails unexpectedly before it goes to the dead-letter stream */
  ENGINE_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(50).default(5),
  /** parcel engine: first back-off between those tries (doubled each time) */
  ENGINE_BACKOFF_MS: ms.default(200),

  // ---- notifications ----
  TIME_ZONE: z.string().min(1).default('Asia/Shanghai'),
  QUIET_HOURS: z
    .string()
    .regex(/^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$|^off$/, 'HH:MM-HH:MM, or off')
    .default('22:00-08:00'),
  SMS_URL: url(['http:', 'https:']).optional(),
  SMS_TOKEN: z.string().min(1).optional(),
  SMS_RATE_PER_S: z.coerce.number().positive().max(1000).default(10),
  PROPERTY_WEBHOOK_URL: url(['http:', 'https:']).optional(),
  PROPERTY_WEBHOOK_SECRET: z.string().min(16, 'at least 16 characters').optional(),
  WEBHOOK_RATE_PER_S: z.coerce.number().positive().max(1000).default(10),
  NOTIFY_ATTEMPTS: z.coerce.number().int().min(1).max(50).default(10),
  NOTIFY_BACKOFF_MS: ms.default(2_000),
  NOTIFY_BACKOFF_MAX_MS: ms.default(600_000),

  // ---- units and the broker: limits against faulty and hostile clients (docs/security.md, "Units and the broker") ----
  /** json-v1: a seq more than this ahead of the watermark is suspect: ignored, counted, staff alerted */
  JSON_V1_SEQ_JUMP_MAX: z.coerce.number().int().min(1).default(10_000),
  /** ...plus this many for every second since the watermark last moved (a unit replaying a long backlog) */
  JSON_V1_SEQ_JUMP_PER_S: z.coerce.number().min(0).max(1000).default(1),
  /** signed commands: how far a unit's clock may lag behind ours (see COMMAND_TTL_S and docs/security.md) */
  COMMAND_CLOCK_SKEW_S: z.coerce.number().int().min(0).max(3600).default(30),
  /** a unit's messages held by the gateway, waiting for their turn, before it stops reading from the broker */
  UNIT_QUEUE_MAX_BYTES: z.coerce.number().int().min(65_536).default(16 * 1024 * 1024),
  /** embedded broker: largest MQTT packet from a unit, and of every CONNECT (before the client is known) */
  MQTT_MAX_PACKET_BYTES: z.coerce.number().int().min(1024).max(268_435_455).default(16_384),
  /** embedded broker: largest MQTT packet from a client logged in as the gateway */
  MQTT_GATEWAY_MAX_PACKET_BYTES: z.coerce.number().int().min(1024).max(268_435_455).default(262_144),
  /** embedded broker: a connection that has not logged in by then is closed */
  MQTT_CONNECT_TIMEOUT_MS: ms.default(5_000),
  /** embedded broker: packets of one client handed to the broker at once (the next ones wait until it is done) */
  MQTT_MAX_INFLIGHT: z.coerce.number().int().min(1).max(1000).default(16),

  // ---- staff and resident sign-in ----
  /** how long a staff login session lasts (absolute, from the login) */
  STAFF_SESSION_HOURS: z.coerce.number().positive().max(24 * 7).default(12),
  /** how long a resident token from an SMS sign-in lasts */
  RESIDENT_SESSION_MINUTES: z.coerce.number().int().min(1).max(24 * 60).default(30),
  /** one-time codes a client address may ask for per 15 minutes (a phone: 3) */
  OTP_PER_ADDRESS: z.coerce.number().int().min(1).max(10_000).default(20),

  // ---- running it: own redis-server, metrics, API times (issue 8) ----
  /** where the redis-server started when REDIS_URL is unset keeps its data (AOF); relative to the working directory */
  REDIS_DATA_DIR: z.string().min(1).default('data/redis'),
  /** the redis-server binary started when REDIS_URL is unset (looked up on the PATH) */
  REDIS_SERVER: z.string().min(1).default('redis-server'),
  /** bearer token GET /metrics asks for; development has a documented default, production none (refused) */
  METRICS_TOKEN: z.string().min(16, 'at least 16 characters').optional(),
  /** serve /metrics on a listener of its own (then not on PORT); the token still applies when set */
  METRICS_PORT: port.optional(),
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  // ---- lost-parcel claims ----
  /** the office acknowledges a claim within this many hours of its opening (around the clock) */
  CLAIM_ACK_HOURS: z.coerce.number().positive().max(24 * 7).default(2),
  /** and resolves it within this many hours of its opening (time waiting for the resident left out) */
  CLAIM_RESOLVE_HOURS: z.coerce.number().positive().max(24 * 90).default(48),
  /** mainland mobiles of the staff on duty, comma-separated: texted at 80 % and at 100 % of each claim's clocks */
  DUTY_PHONES: z
    .string()
    .default('')
    .transform((v, ctx) => {
      const phones: string[] = [];
      for (const raw of v.split(',').map((x) => x.trim()).filter(Boolean)) {
        const n = normalizePhone(raw);
        if (n) phones.push(n);
        else ctx.addIssue({ code: 'custom', message: `${JSON.stringify(raw)} is not a mainland mobile number (11 digits starting with 1)` });
      }
      return [...new Set(phones)];
    }),
  /** how often the claims' clocks are checked (alerts, closing claims past their reopening window) */
  CLAIM_SWEEP_MS: ms.min(100).max(3_600_000).default(30_000),

  // ---- staff console and alerts (src/http/console/, src/alerts/) ----
  /** a unit offline for longer than this raises a staff alert */
  ALERT_OFFLINE_MINUTES: z.coerce.number().positive().max(24 * 60).default(5),
  /** a compartment door open for longer than this raises a staff alert (units that report it themselves may sooner) */
  ALERT_DOOR_OPEN_MINUTES: z.coerce.number().positive().max(24 * 60).default(5),
  /** how often the alert engine checks conditions that come from time passing (offline units, open doors) */
  ALERT_CHECK_MS: ms.default(5_000),

  // ---- scale-out: units from a file, several gateways sharing them (src/scale/, docs/scaling.md) ----
  /** JSON array of unit profiles (src/config/units-file.ts); unset = the three units of devices/units.ts */
  UNITS_FILE: z.string().min(1).optional(),
  /** this process among the gateways sharing the units; unset = hostname-pid-random */
  GATEWAY_ID: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - only, at most 64').optional(),
  /** on = units are shared with other gateways through per-unit leases in Redis; off = this gateway owns every unit */
  UNIT_LEASES: bool.default(false),
  /** a unit's lease lasts this long unless renewed (a dead gateway's units are free after it) */
  LEASE_TTL_MS: ms.min(1000).max(600_000).default(15_000),
  /** how often the owner renews its leases, and how often free units are looked for */
  LEASE_RENEW_MS: ms.min(100).max(300_000).default(5_000),
  /**
   * what this process runs (docs/scaling.md, "Processes on one machine"): all = everything (one process);
   * gateway = units, HTTP API, parcel engine, without the outbox relay and notification workers;
   * workers = the outbox relay and notification workers only (HTTP: /healthz, /readyz, /metrics)
   */
  ROLE: z.enum(['all', 'gateway', 'workers']).default('all'),
});

export type Config = z.infer<typeof ConfigSchema> & { credentialsFile: string | undefined; STAFF_TOKEN: string; GATEWAY_ID: string };

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function parseConfig(env: Record<string, string | undefined>): Config {
  // Empty strings count as unset, so `FOO= npm start` behaves like not setting FOO.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = ConfigSchema.safeParse(cleaned);
  if (!parsed.success) {
    const msg = parsed.error.issues
      .map((i) => `${i.path.join('.') || '(config)'}: ${i.message} (got ${JSON.stringify(cleaned[String(i.path[0])] ?? null)})`)
      .join('; ');
    throw new ConfigError(`invalid configuration: ${msg}`);
  }
  const cfg = parsed.data;
  const production = cfg.NODE_ENV === 'production';
  if (production) {
    // Everything production refuses, reported at once, each naming its setting (see production.ts).
    const problems = [
      ...(!cfg.CREDENTIALS_FILE && !cfg.CREDENTIALS_JSON
        ? ['CREDENTIALS_FILE: required in production (or CREDENTIALS_JSON); the development file must not drive real units']
        : []),
      ...productionProblems(cfg, cleaned.SIMULATORS !== undefined),
    ];
    if (problems.length) throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
    // simulators are for `npm start` on a laptop: off in production (asking for them is refused above)
    cfg.SIMULATORS = false;
  }
  const credentialsFile = cfg.CREDENTIALS_FILE ?? (cfg.CREDENTIALS_JSON ? undefined : DEV_CREDENTIALS_FILE);
  if (cfg.PROPERTY_WEBHOOK_URL && !cfg.PROPERTY_WEBHOOK_SECRET) {
    throw new ConfigError('invalid configuration: PROPERTY_WEBHOOK_SECRET: required with PROPERTY_WEBHOOK_URL (webhooks are signed)');
  }
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: cfg.TIME_ZONE });
  } catch {
    throw new ConfigError(`invalid configuration: TIME_ZONE: unknown time zone (got ${JSON.stringify(cfg.TIME_ZONE)})`);
  }
  if (cfg.CLAIM_ACK_HOURS > cfg.CLAIM_RESOLVE_HOURS) {
    throw new ConfigError(
      `invalid configuration: CLAIM_ACK_HOURS: must not exceed CLAIM_RESOLVE_HOURS (got ${cfg.CLAIM_ACK_HOURS} > ${cfg.CLAIM_RESOLVE_HOURS})`,
    );
  }
  if (!cfg.STAFF_TOKEN) cfg.STAFF_TOKEN = DEV_STAFF_TOKEN;
  if (!cfg.METRICS_TOKEN && cfg.NODE_ENV !== 'production') cfg.METRICS_TOKEN = DEV_METRICS_TOKEN;
  if (cfg.MQTT_SHARE_GROUP && !cfg.MQTT_URL) {
    throw new ConfigError(
      'invalid configuration: MQTT_SHARE_GROUP: shared subscriptions need an external broker (set MQTT_URL, e.g. Mosquitto); the embedded broker has none',
    );
  }
  if (cfg.ROLE !== 'all') roleChecks(cfg, cleaned);
  const GATEWAY_ID = cfg.GATEWAY_ID ?? defaultGatewayId();
  if (cfg.UNIT_LEASES) scaleOutChecks(cfg, cleaned, GATEWAY_ID);
  return { ...cfg, STAFF_TOKEN: cfg.STAFF_TOKEN, credentialsFile, GATEWAY_ID };
}

// ---- scale-out (docs/scaling.md) ----
/** hostname-pid-random: unique per process */
function defaultGatewayId(): string {
  const host = hostname().replace(/[^A-Za-z0-9_.-]/g, '').slice(0, 40) || 'gw';
  return `${host}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/**
 * ROLE=gateway or workers: the gateway's work split over processes on one Redis. Both need that Redis named (a
 * redis-server of each process's own would split the data); simulators run only in ROLE=all (their residents'
 * phones are read in the process that sends the texts): off unless asked for, refused when asked for.
 */
function roleChecks(cfg: z.infer<typeof ConfigSchema>, set: Record<string, string | undefined>): void {
  const problems: string[] = [];
  if (!cfg.REDIS_URL) problems.push(`REDIS_URL: required with ROLE=${cfg.ROLE} (the gateway and workers processes share one Redis)`);
  if (set.SIMULATORS !== undefined && cfg.SIMULATORS) {
    problems.push(`SIMULATORS: must be off with ROLE=${cfg.ROLE} (simulated units run with ROLE=all; or run \`npm run simulate\` beside a ROLE=gateway process)`);
  }
  if (problems.length) throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  cfg.SIMULATORS = false;
}

/** UNIT_LEASES=on: several gateways share one broker and one Redis; each has its own MQTT session. */
function scaleOutChecks(cfg: z.infer<typeof ConfigSchema>, set: Record<string, string | undefined>, gatewayId: string): void {
  const problems: string[] = [];
  // a workers process serves no unit: it only needs the shared Redis (and a consumer name of its own, below)
  if (!cfg.MQTT_URL && cfg.ROLE !== 'workers') problems.push('MQTT_URL: required with UNIT_LEASES=on (the gateways share one broker; the embedded one serves one gateway)');
  if (!cfg.REDIS_URL) problems.push('REDIS_URL: required with UNIT_LEASES=on (the gateways share one Redis)');
  if (cfg.MQTT_SHARE_GROUP) problems.push('MQTT_SHARE_GROUP: not with UNIT_LEASES=on (each unit is served by its lease owner alone)');
  if (cfg.SIMULATORS) problems.push('SIMULATORS: must be off with UNIT_LEASES=on (every gateway would run the same units; run `npm run simulate` once)');
  if (cfg.LEASE_RENEW_MS * 2 > cfg.LEASE_TTL_MS) {
    problems.push(`LEASE_RENEW_MS: at most half of LEASE_TTL_MS (got ${cfg.LEASE_RENEW_MS} with LEASE_TTL_MS ${cfg.LEASE_TTL_MS})`);
  }
  if (problems.length) throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  // each gateway its own persistent MQTT session: the default client id would make two gateways take it in turns
  if (!set.MQTT_CLIENT_ID) cfg.MQTT_CLIENT_ID = `lg-${gatewayId}`.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64);
}
