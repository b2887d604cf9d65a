import { AsyncLocalStorage } from 'node:async_hooks';
import { Redis } from 'ioredis';
import { systemClock } from '../domain/clock.js';
import { parseEdgeEnv, type EdgeEnv } from '../edge/config.js';
import { edgeApiDeps, edgeRuntime } from '../edge/deps.js';
import { edgeKeys } from '../edge/protocol.js';
import { createApp } from '../http/app.js';
import { consoleLogger } from '../edge/logger.js';

/**
 * The Workers entry (wrangler.toml): the same Hono app as the site gateway, createApp(edgeDeps), serving the courier
 * and resident API. It holds no MQTT credential, no unit signing key and no pickup-code key: door requests, code
 * checks and sign-in are queued in Redis for the site gateway (src/edge/), which runs them and answers. The site's
 * own routes (units, staff, admin, console, metrics) answer 501 naming the site gateway.
 */
type Conn = { redis: Redis | null; url: string };
const requestConn = new AsyncLocalStorage<Conn>();

/** This request's Redis connection, opened on first use (a Worker may not share a socket between requests). */
function redis(): Redis {
  const conn = requestConn.getStore();
  if (!conn) throw new Error('no Redis connection outside a request');
  conn.redis ??= new Redis(conn.url, { lazyConnect: false, maxRetriesPerRequest: 1, connectTimeout: 3_000, enableAutoPipelining: false });
  conn.redis.on('error', () => undefined);
  return conn.redis;
}

const logger = consoleLogger('info', { runtime: 'edge' });
let built: { key: string; env: EdgeEnv; app: ReturnType<typeof createApp> } | null = null;

function appFor(bindings: Record<string, unknown>) {
  const env = parseEdgeEnv(bindings);
  const key = JSON.stringify(env);
  if (built?.key === key) return built;
  const clock = systemClock;
  const k = edgeKeys(env.REDIS_PREFIX);
  const app = createApp({
    logger,
    runtime: edgeRuntime(clock),
    health: {
      redis: async () => (await redis().ping()) === 'PONG',
      // at the edge "the units' side" is the site gateway's consumer: its heartbeat in Redis
      mqtt: async () => (await redis().exists(k.alive)) === 1,
    },
    api: edgeApiDeps(redis, {
      prefix: env.REDIS_PREFIX,
      timeoutMs: env.EDGE_SITE_TIMEOUT_MS,
      graceMs: env.EDGE_SITE_GRACE_MS,
      gateway: env.SITE_GATEWAY,
      clock,
    }),
    siteOnly: { gateway: env.SITE_GATEWAY },
  });
  built = { key, env, app };
  return built;
}

export default {
  async fetch(request: Request, bindings: Record<string, unknown>, ctx: unknown): Promise<Response> {
    let b: NonNullable<typeof built>;
    try {
      b = appFor(bindings);
    } catch (err) {
      logger.error('edge configuration refused', { err });
      const body = { error: { code: 'internal', message: (err as Error).message, requestId: '-' } };
      return Response.json(body, { status: 500 });
    }
    const conn: Conn = { redis: null, url: b.env.REDIS_URL };
    try {
      return await requestConn.run(conn, () => b.app.fetch(request, bindings, ctx as never));
    } finally {
      conn.redis?.disconnect();
    }
  },
};
