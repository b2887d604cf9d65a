import { Redis } from 'ioredis';
import { ConfigError } from '../../config/config.js';
import type { Logger } from '../../log.js';

/** Every connection reports its errors to the log (ioredis prints "Unhandled error event" otherwise). */
export function quiet(r: Redis, logger: Logger): Redis {
  let last = 0;
  r.on('error', (err: Error) => {
    // a Redis outage makes every connection fail every retry: one line per connection per 10 s is enough
    if (Date.now() - last > 10_000) logger.error('redis connection error', { err });
    last = Date.now();
  });
  return r;
}

/**
 * A plain connection of the same server and options, for blocking reads and for BullMQ: those wait on one command
 * at a time, so auto-pipelining would only add a tick to each.
 */
export function duplicatePlain(redis: Redis): Redis {
  return redis.duplicate({ enableAutoPipelining: false });
}

/**
 * The gateway's main connection. Auto-pipelining: the commands issued in one tick (many units' steps at once) go to
 * Redis in one write. Each write was a system call of its own, and those calls were the largest item in the
 * gateway's profile (docs/benchmarks.md, "Where it stands").
 */
export async function connectRedis(url: string, logger: Logger): Promise<Redis> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 3, connectTimeout: 5_000, enableAutoPipelining: true });
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
