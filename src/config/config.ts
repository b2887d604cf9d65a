import { z } from 'zod';
import { DEV_CREDENTIALS_FILE } from './credentials.js';

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

  REDIS_URL: url(['redis:', 'rediss:']).default('redis://127.0.0.1:6379'),
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
});

export type Config = z.infer<typeof ConfigSchema> & { credentialsFile: string | undefined };

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
  let credentialsFile = cfg.CREDENTIALS_FILE;
  if (!credentialsFile && !cfg.CREDENTIALS_JSON) {
    if (cfg.NODE_ENV === 'production') {
      throw new ConfigError(
        'invalid configuration: CREDENTIALS_FILE: required in production (or CREDENTIALS_JSON); the development file must not drive real units',
      );
    }
    credentialsFile = DEV_CREDENTIALS_FILE;
  }
  if (cfg.NODE_ENV === 'production' && cfg.SIMULATORS && !env.SIMULATORS) {
    // In production simulators must be asked for explicitly; the default is for `npm start` on a laptop.
    cfg.SIMULATORS = false;
  }
  return { ...cfg, credentialsFile };
}
