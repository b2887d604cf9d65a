import { afterAll, beforeAll } from 'vitest';
import { TestRedis } from './redis.js';

/**
 * A redis-server for a whole test file: started before its first test, destroyed after its last. Call it at the top
 * of the file (its hooks run around every describe); `url` and `client()` work once the file's tests run.
 */
export function redisForFile(): TestRedis {
  const server = new TestRedis();
  beforeAll(async () => {
    await server.start();
  });
  afterAll(() => server.destroy());
  return server;
}
