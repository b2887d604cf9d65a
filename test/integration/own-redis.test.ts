import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_STAFF_TOKEN } from '../../src/config/config.js';
import { runningOwnRedisUrl } from '../../src/runtime/redis-server.js';
import { NpmStart } from '../support/npm-start.js';
import { freePort } from '../support/ports.js';
import { TestRedis } from '../support/redis.js';
import { eventually } from '../support/stack.js';

/**
 * `npm start` with REDIS_URL unset, as on a fresh machine: the gateway starts a redis-server of its own on a free
 * port (another redis-server holding a port, and the machine's own on 6379, are left alone), keeps its data in
 * REDIS_DATA_DIR across restarts, and SIGTERM to the npm process drains, stops that Redis and exits 0.
 */
describe('npm start without REDIS_URL', () => {
  const other = new TestRedis();
  let otherClient: Redis;
  let dir = '';
  beforeAll(async () => {
    await other.start();
    otherClient = other.client();
    await otherClient.set('other:key', 'untouched');
    dir = mkdtempSync(join(tmpdir(), 'lg-own-redis-'));
  });
  afterAll(async () => {
    otherClient?.disconnect();
    await other.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('keeps a deposited parcel across a restart, and SIGTERM drains and exits 0', async () => {
    const env = { PORT: String(await freePort()), MQTT_PORT: String(await freePort()), REDIS_DATA_DIR: dir };
    const first = new NpmStart(env);
    let id = '';
    let courier = '';
    let ownPort = 0;
    try {
      const started = await first.line((l) => l.msg.startsWith('REDIS_URL is not set'));
      expect(started.dataDir).toBe(dir); // the log says where the data lives
      ownPort = Number(new URL(started.redis as string).port);
      // tools (npm run staff, npm run verify) find it without REDIS_URL
      expect(runningOwnRedisUrl(dir)).toBe(started.redis);
      expect([other.port, 6379]).not.toContain(ownPort);
      const { url } = await first.ready();
      expect(first.lines.find((l) => l.msg.startsWith('locker-gateway is running'))).toMatchObject({ redisDataDir: dir, simulatedUnits: 3 });

      const staff = { authorization: `Bearer ${DEV_STAFF_TOKEN}`, 'content-type': 'application/json' };
      const issued = (await (await fetch(`${url}v1/admin/couriers`, { method: 'POST', headers: staff, body: JSON.stringify({ name: '王师傅', carrier: 'SF' }) })).json()) as { token: string };
      courier = `Bearer ${issued.token}`;
      await eventually(async () => ((await (await fetch(`${url}v1/units/LSN-0001`)).json()) as { online: boolean }).online, 20_000, 'LSN-0001 online');
      const dep = await fetch(`${url}v1/deposits`, {
        method: 'POST',
        headers: { authorization: courier, 'content-type': 'application/json' },
        body: JSON.stringify({ unit: 'LSN-0001', size: 'S', trackingNumber: 'SF0000000001', carrier: 'SF', phone: '13800138000' }),
      });
      expect(dep.status).toBe(201);
      id = ((await dep.json()) as { id: string }).id;
      // the simulated courier (autopilot) puts the parcel in and closes the door
      const state = async () => ((await (await fetch(`${url}v1/deposits/${id}`, { headers: { authorization: courier } })).json()) as { state: string }).state;
      await eventually(async () => (await state()) === 'stored', 20_000, 'parcel stored');
    } finally {
      expect(await first.stop()).toBe(0);
    }
    // drained in order: the gateway closed, then its Redis stopped (data kept), then the process exited 0
    const msgs = first.lines.map((l) => l.msg);
    const at = (prefix: string) => msgs.findIndex((m) => m.startsWith(prefix));
    expect(at('locker-gateway is stopping (SIGTERM)')).toBeGreaterThan(-1);
    expect(at('mqtt broker closed')).toBeGreaterThan(at('locker-gateway is stopping (SIGTERM)'));
    expect(at('redis-server stopped; its data stays')).toBeGreaterThan(at('mqtt broker closed'));
    expect(at('locker-gateway stopped')).toBeGreaterThan(at('redis-server stopped; its data stays'));
    expect(runningOwnRedisUrl(dir)).toBeNull();
    const probe = new Redis(ownPort, '127.0.0.1', { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    probe.on('error', () => {});
    await expect(probe.connect()).rejects.toThrow();
    probe.disconnect();
    // the other redis-server was not touched
    expect(await otherClient.get('other:key')).toBe('untouched');
    expect(await otherClient.dbsize()).toBe(1);

    const second = new NpmStart({ ...env, PORT: String(await freePort()) });
    try {
      const { url } = await second.ready();
      const res = await fetch(`${url}v1/deposits/${id}`, { headers: { authorization: courier } });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ id, state: 'stored', unit: 'LSN-0001' });
    } finally {
      expect(await second.stop()).toBe(0);
    }
  }, 90_000);

  it('refuses to start, naming REDIS_URL, when there is no redis-server to start', async () => {
    const run = new NpmStart({ PORT: String(await freePort()), MQTT_PORT: String(await freePort()), REDIS_DATA_DIR: dir, REDIS_SERVER: 'no-such-redis-server' });
    expect(await run.exited).toBe(2);
    expect(run.stderr).toMatch(/refuses to start: REDIS_URL: not set, so the gateway starts a redis-server of its own, but "no-such-redis-server" is not on the PATH/);
  });
});
