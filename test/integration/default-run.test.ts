import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/ports.js';
import { TestRedis } from '../support/redis.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** `npm start` as a newcomer runs it: the entry point in a process of its own, defaults for everything but ports. */
function start(env: Record<string, string>) {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/runtime/node.ts'], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return { proc, exited, stderr: () => stderr };
}

describe('the default run (gateway + embedded broker + the three simulated units)', () => {
  const redis = new TestRedis();
  beforeAll(() => redis.start());
  afterAll(() => redis.destroy());

  it('shows three online units in GET /v1/units within 10 s and says which URL to open', async () => {
    const port = await freePort();
    const run = start({ PORT: String(port), MQTT_PORT: String(await freePort()), REDIS_URL: redis.url, REDIS_PREFIX: 'dflt:' });
    try {
      const t0 = Date.now();
      let online: string[] = [];
      while (Date.now() - t0 < 10_000 && online.length < 3) {
        await new Promise((r) => setTimeout(r, 200));
        const res = await fetch(`http://127.0.0.1:${port}/v1/units`).catch(() => null);
        if (res?.ok) online = ((await res.json()) as { units: { id: string; online: boolean }[] }).units.filter((u) => u.online).map((u) => u.id);
      }
      expect(online.sort()).toEqual(['861234567890123', 'LSN-0001', 'a4c138f0e2d1']);
      expect(run.stderr()).toContain(`Open http://127.0.0.1:${port}/`);
    } finally {
      run.proc.kill('SIGTERM');
      expect(await run.exited).toBe(0); // graceful shutdown
    }
  });

  it('a taken MQTT port refuses to start and names the setting to change', async () => {
    const taken: Server = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const mqttPort = (taken.address() as { port: number }).port;
    try {
      const run = start({ PORT: String(await freePort()), MQTT_PORT: String(mqttPort), REDIS_URL: redis.url, SIMULATORS: 'off' });
      expect(await run.exited).toBe(2);
      expect(run.stderr()).toContain(`MQTT_PORT ${mqttPort} on 127.0.0.1 is already in use`);
      expect(run.stderr()).toContain('Set MQTT_PORT to a free port, or set MQTT_URL');
    } finally {
      taken.close();
    }
  });

  it('bad configuration and an unreachable Redis refuse to start, naming the key', async () => {
    const bad = start({ PORT: 'eighty' });
    expect(await bad.exited).toBe(2);
    expect(bad.stderr()).toMatch(/refuses to start: invalid configuration: PORT:/);
    const noRedis = start({ PORT: String(await freePort()), MQTT_PORT: String(await freePort()), REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
    expect(await noRedis.exited).toBe(2);
    expect(noRedis.stderr()).toMatch(/REDIS_URL: cannot reach Redis/);
  });
});
