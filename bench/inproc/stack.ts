/**
 * bench/lifecycle.ts's `stack` mode: the real gateway (startGateway: embedded aedes broker, drivers, engine, relay,
 * BullMQ workers, HTTP) with the three simulated units on autopilot, deposits over HTTP, codes read from the SMS a
 * local receiver gets and typed at the simulated keypad, in the bench's own process. `npm run bench` (bench/run.ts)
 * measures the same path with the gateway as a process of its own; this mode stays for profiling in one process.
 */
import type { Redis } from 'ioredis';
import { UNITS } from '../../devices/units.js';
import { startSimulators } from '../../simulators/index.js';
import { parseConfig } from '../../src/config/config.js';
import { DEV_CREDENTIALS_FILE, loadCredentials } from '../../src/config/credentials.js';
import { silentLogger } from '../../src/log.js';
import { Counters } from '../../src/metrics.js';
import type { UnitProfile } from '../../src/domain/model.js';
import { startGateway } from '../../src/runtime/gateway.js';
import { TestReceiver } from '../../test/support/receiver.js';
import { countOutboxWith, Stats, type Mode, type Report } from './report.js';
import { startRedis } from './setup.js';

export interface StackOptions {
  concurrency: number;
  autopilotMs: number;
  fsync: string;
  /** lifecycle.ts's warm-up and measured window */
  measure: (mode: Mode, settings: Record<string, unknown>, admin: Redis, stats: Stats, counters: Counters, stop: () => void) => Promise<Report>;
}


export async function runStack(o: StackOptions): Promise<Report> {
  const { concurrency, autopilotMs, fsync: FSYNC, measure } = o;
  countOutboxWith(() => NaN);
  const settings = {
    units: UNITS.length,
    compartments: UNITS.reduce((n, u) => n + u.compartments.length, 0),
    concurrency,
    fsync: FSYNC,
    autopilotMs,
    path: 'HTTP deposit -> aedes -> simulators (autopilot) -> drivers -> engine -> relay -> BullMQ -> SMS over HTTP',
  };
  const { server, admin } = await startRedis(FSYNC);
  const receiver = await new TestReceiver().start();
  const config = parseConfig({
    NODE_ENV: 'test',
    PORT: '0',
    MQTT_PORT: '0',
    REDIS_URL: server.url,
    SIMULATORS: 'off',
    LOG_LEVEL: 'silent',
    SMS_URL: `${receiver.url}/sms`,
    SMS_RATE_PER_S: '1000',
    QUIET_HOURS: 'off',
    PRESENCE_CODES: 'off',
    // a bench opens hundreds of doors a second: the safety limits (src/bus/open-guard.ts) would refuse them
    OPEN_RATE_PER_UNIT_PER_MIN: '100000',
    OPEN_RATE_FLEET_PER_MIN: '100000',
  });
  const gw = await startGateway(config, { logger: silentLogger });
  const credentials = loadCredentials({ file: DEV_CREDENTIALS_FILE });
  const sims = await startSimulators({ brokerUrl: gw.mqttUrl, credentials, units: UNITS, autopilot: { enabled: true, delayMs: autopilotMs } });
  const simOf = new Map(sims.map((s) => [s.unit.id, s]));
  for (const u of UNITS) {
    for (let i = 0; !(await gw.store.isOnline(u.id)); i++) {
      if (i > 200) throw new Error(`${u.id} not online`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  const { token } = await gw.couriers.issue({ name: 'Bench', carrier: 'SF' });

  // SMS as they arrive, by job id (`<parcel>.stored.sms`, `<parcel>.collected.sms`).
  const sms = new Map<string, string>();
  const smsWaiters = new Map<string, (text: string) => void>();
  let scanned = 0;
  const scanner = setInterval(() => {
    for (; scanned < receiver.requests.length; scanned++) {
      const body = receiver.requests[scanned]!.body as { id: string; text: string };
      const w = smsWaiters.get(body.id);
      if (w) {
        smsWaiters.delete(body.id);
        w(body.text);
      } else sms.set(body.id, body.text);
    }
  }, 2);
  const smsFor = (id: string, timeoutMs = 10_000) =>
    new Promise<string>((resolve, reject) => {
      const have = sms.get(id);
      if (have !== undefined) {
        sms.delete(id);
        return resolve(have);
      }
      const t = setTimeout(() => {
        smsWaiters.delete(id);
        reject(new Error(`no SMS ${id} within ${timeoutMs} ms`));
      }, timeoutMs);
      smsWaiters.set(id, (text) => {
        clearTimeout(t);
        resolve(text);
      });
    });

  const stats = new Stats();
  let seq = 0;
  let running = true;
  const lifecycle = async (unit: UnitProfile): Promise<void> => {
    const n = ++seq;
    const t0 = performance.now();
    const res = await fetch(`${gw.url}/v1/deposits`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ unit: unit.id, size: 'S', trackingNumber: `BENCH-${n}`, carrier: 'SF', phone: `139${String(n).padStart(8, '0')}` }),
    });
    const body = (await res.json()) as { id: string; error?: { code: string } };
    if (res.status === 409 && body.error?.code === 'no_compartment') {
      await new Promise((r) => setTimeout(r, 20));
      return;
    }
    if (res.status !== 201) throw new Error(`deposit: ${res.status} ${JSON.stringify(body)}`);
    const t1 = performance.now();
    stats.record('deposit (HTTP, door open)', t1 - t0);
    const text = await smsFor(`${body.id}.stored.sms`);
    const t2 = performance.now();
    stats.record('door cycle -> stored SMS', t2 - t1);
    const code = /(\d{6})，|code: (\d{6})/.exec(text);
    const c = code?.[1] ?? code?.[2];
    if (!c) throw new Error(`no code in ${text}`);
    simOf.get(unit.id)!.typeCode(c);
    await smsFor(`${body.id}.collected.sms`);
    stats.record('code -> door cycle -> collected SMS', performance.now() - t2);
    stats.lifecycleMs.push(performance.now() - t0);
    stats.lifecycles++;
  };
  const workers = Array.from({ length: concurrency }, async (_, w) => {
    while (running) {
      try {
        await lifecycle(UNITS[w % UNITS.length]!);
      } catch (err) {
        stats.fail(err);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  });
  const report = await measure('stack', settings, admin, stats, gw.counters, () => {
    running = false;
  });
  await Promise.all(workers);
  clearInterval(scanner);
  await Promise.all(sims.map((s) => s.stop()));
  await gw.close();
  await receiver.stop();
  admin.disconnect();
  await server.destroy();
  return report;
}

