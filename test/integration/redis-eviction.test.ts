/**
 * Attack "Redis eviction" of issue 7: with maxmemory-policy allkeys-lru the gateway started and later lost stored
 * parcels to eviction. It now refuses to start unless the policy is noeviction, and says why.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config/config.js';
import { startGateway } from '../../src/runtime/gateway.js';
import { TestRedis } from '../support/redis.js';
import { logger } from '../support/stack.js';

describe('Redis that may evict keys', () => {
  const redis = new TestRedis();
  beforeAll(() => redis.start());
  afterAll(() => redis.destroy());

  const config = () =>
    parseConfig({ NODE_ENV: 'test', PORT: '0', MQTT_PORT: '0', REDIS_URL: redis.url, SIMULATORS: 'off', LOG_LEVEL: 'silent' });

  it.each(['allkeys-lru', 'volatile-lru', 'allkeys-random'])('maxmemory-policy %s: refuses to start, naming REDIS_URL and the policy', async (policy) => {
    const admin = redis.client();
    await admin.config('SET', 'maxmemory-policy', policy);
    admin.disconnect();
    const err = await startGateway(config(), { logger }).then(
      async (gw) => {
        await gw.close();
        return null;
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(new RegExp(`^REDIS_URL: Redis at ${redis.url} has maxmemory-policy ${policy};`));
    expect((err as Error).message).toContain('noeviction');
  });

  it('noeviction: starts', async () => {
    const admin = redis.client();
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    admin.disconnect();
    const gw = await startGateway(config(), { logger });
    await gw.close();
  });
});
