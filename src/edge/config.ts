import { z } from 'zod';

/**
 * The Worker's settings, from its bindings (wrangler.toml [vars]) and secrets (`wrangler secret put`). Validated with
 * zod on the first request; a bad one refuses every request with 500 naming the key (a Worker has no start-up step
 * to refuse at). There is deliberately no MQTT credential, unit signing key, pickup-code key or OTP key here: the
 * edge cannot open a door or check a code itself; it asks the site gateway through Redis.
 */
export const EdgeEnvSchema = z.object({
  /** secret: redis://[user:password@]host:port (rediss:// for TLS) of the Redis the site gateway also uses */
  REDIS_URL: z.string().regex(/^rediss?:\/\/\S+$/, 'must be a redis:// or rediss:// URL'),
  /** the same REDIS_PREFIX as the site gateway */
  REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9:_-]{0,32}$/, 'letters, digits, :, _ or -').default('lg:'),
  /** how long a request waits for the site gateway to take it (then 503 site_unavailable, nothing done) */
  EDGE_SITE_TIMEOUT_MS: z.coerce.number().int().min(100).max(25_000).default(5_000),
  /** once taken: how much longer to wait for its answer (a door open waits for the unit: > COMMAND_TIMEOUT_MS) */
  EDGE_SITE_GRACE_MS: z.coerce.number().int().min(100).max(60_000).default(15_000),
  /** named in 501/503 answers: where the site gateway is (a URL or a name) */
  SITE_GATEWAY: z.string().min(1).max(200).default('the site gateway'),
  /** the site this edge fronts (health only) */
  SITE: z.string().max(64).optional(),
});
export type EdgeEnv = z.infer<typeof EdgeEnvSchema>;

export class EdgeConfigError extends Error {}

export function parseEdgeEnv(env: Record<string, unknown>): EdgeEnv {
  const r = EdgeEnvSchema.safeParse(env);
  if (!r.success) {
    throw new EdgeConfigError(`edge configuration refused: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  return r.data;
}
