import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NpmStart } from '../support/npm-start.js';
import { freePort } from '../support/ports.js';
import { TestRedis } from '../support/redis.js';

/** `npm start` as a newcomer runs it (npm, prestart build, node dist/…): defaults for everything but ports. */
const start = (env: Record<string, string>) => new NpmStart({ LOG_LEVEL: 'info', ...env });
/** The compiled entry point itself (what npm start execs; vitest's global setup built it): for the refusals. */
const entry = (env: Record<string, string>) => new NpmStart({ LOG_LEVEL: 'info', ...env }, 'exec node dist/src/runtime/node.js');

describe('the default run (gateway + embedded broker + the three simulated units)', () => {
  const redis = new TestRedis();
  beforeAll(() => redis.start());
  afterAll(() => redis.destroy());

  it('shows three online units in GET /v1/units within 10 s and says which URL to open; uses REDIS_URL when set', async () => {
    const port = await freePort();
    const run = start({ PORT: String(port), MQTT_PORT: String(await freePort()), REDIS_URL: redis.url, REDIS_PREFIX: 'dflt:' });
    try {
      const banner = await run.ready();
      expect(banner.msg).toBe(`locker-gateway is running: open http://127.0.0.1:${port}/`);
      expect(banner).toMatchObject({ url: `http://127.0.0.1:${port}/`, redis: `${redis.url}`, simulatedUnits: 3 });
      expect(run.lines.some((l) => l.msg.startsWith('REDIS_URL is not set'))).toBe(false);
      const t0 = Date.now();
      let online: string[] = [];
      while (Date.now() - t0 < 10_000 && online.length < 3) {
        await new Promise((r) => setTimeout(r, 200));
        const res = await fetch(`http://127.0.0.1:${port}/v1/units`).catch(() => null);
        if (res?.ok) online = ((await res.json()) as { units: { id: string; online: boolean }[] }).units.filter((u) => u.online).map((u) => u.id);
      }
      expect(online.sort()).toEqual(['861234567890123', 'LSN-0001', 'a4c138f0e2d1']);
      const client = redis.client();
      expect(await client.exists('dflt:unit:LSN-0001')).toBe(1); // the state went to REDIS_URL
      client.disconnect();
    } finally {
      expect(await run.stop()).toBe(0); // graceful shutdown
    }
  });

  it('a taken MQTT port refuses to start and names the setting to change', async () => {
    const taken: Server = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const mqttPort = (taken.address() as { port: number }).port;
    try {
      const run = entry({ PORT: String(await freePort()), MQTT_PORT: String(mqttPort), REDIS_URL: redis.url, SIMULATORS: 'off' });
      expect(await run.exited).toBe(2);
      expect(run.stderr).toContain(`MQTT_PORT ${mqttPort} on 127.0.0.1 is already in use`);
      expect(run.stderr).toContain('Set MQTT_PORT to a free port, or set MQTT_URL');
    } finally {
      taken.close();
    }
  });

  it('bad configuration and an unreachable Redis refuse to start, naming the key', async () => {
    const bad = entry({ PORT: 'eighty' });
    expect(await bad.exited).toBe(2);
    expect(bad.stderr).toMatch(/refuses to start: invalid configuration: PORT:/);
    const noRedis = entry({ PORT: String(await freePort()), MQTT_PORT: String(await freePort()), REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
    expect(await noRedis.exited).toBe(2);
    expect(noRedis.stderr).toMatch(/REDIS_URL: cannot reach Redis/);
  });
});
