import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEntry } from '../support/entry.js';
import { freePort } from '../support/ports.js';
import { TestRedis } from '../support/redis.js';

/**
 * Issue 7, defect 7: shutdown under a process manager. The signal goes to the gateway process itself (node + tsx,
 * not npm: another change makes `npm start` run node directly). SIGTERM and SIGINT drain and exit 0; a second
 * signal exits at once; a signal during start-up drains once the gateway is up.
 */
describe('shutdown on signals (real process)', () => {
  const redis = new TestRedis();
  beforeAll(() => redis.start());
  afterAll(() => redis.destroy());

  const env = async (prefix: string) => ({
    PORT: String(await freePort()),
    MQTT_PORT: String(await freePort()),
    REDIS_URL: redis.url,
    REDIS_PREFIX: prefix,
    LOG_LEVEL: 'info',
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('%s drains (the broker is closed before the process says it stopped) and exits 0', async (signal) => {
    const run = startEntry(await env(`sd-${signal}:`));
    await run.waitFor('locker-gateway is running');
    run.proc.kill(signal);
    expect(await run.exited).toBe(0);
    const err = run.stderr();
    const at = (s: string) => err.indexOf(s);
    expect(at(`locker-gateway is stopping (${signal})`)).toBeGreaterThan(0);
    expect(at('"mqtt broker closed"')).toBeGreaterThan(at(`locker-gateway is stopping (${signal})`));
    expect(at('locker-gateway stopped')).toBeGreaterThan(at('"mqtt broker closed"'));
    expect(err).not.toMatch(/shutdown step failed|unhandled rejection/);
  });

  it('a second signal exits at once when draining hangs (here: Redis stopped answering)', async () => {
    const run = startEntry({ ...(await env('sd-hang:')), SIMULATORS: 'off' });
    await run.waitFor('locker-gateway is running');
    const client = redis.client();
    const pid = Number(/process_id:(\d+)/.exec(await client.info('server'))![1]);
    client.disconnect();
    process.kill(pid, 'SIGSTOP');
    try {
      run.proc.kill('SIGTERM');
      await run.waitFor('locker-gateway is stopping (SIGTERM)');
      run.proc.kill('SIGTERM');
      // without the second signal this drain waits for Redis until the 15 s limit, then exits 1
      expect(await run.exited).toBe(143);
      expect(run.stderr()).toContain('SIGTERM again, exiting without draining');
      expect(run.stderr()).not.toContain('locker-gateway stopped');
    } finally {
      process.kill(pid, 'SIGCONT');
    }
  });

  it('a signal during start-up lets start-up finish, then drains and exits 0', async () => {
    const run = startEntry(await env('sd-early:'));
    // logged in the middle of start-up: the broker is up, the bus, engine, HTTP and simulators are still to come
    await run.waitFor('embedded MQTT broker listening');
    run.proc.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(run.stderr()).toContain('locker-gateway stopped');
  });
});
