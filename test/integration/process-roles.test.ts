import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UNITS } from '../../devices/units.js';
import { DEV_METRICS_TOKEN, DEV_STAFF_TOKEN } from '../../src/config/config.js';
import { jobIdFor } from '../../src/notify/notifier.js';
import { createSimulator, type SimulatedUnit } from '../../simulators/index.js';
import { GatewayProcess } from '../support/gateway-process.js';
import { freePort } from '../support/ports.js';
import { TestReceiver } from '../support/receiver.js';
import { TestRedis } from '../support/redis.js';
import { credentials, eventually, logger } from '../support/stack.js';

/**
 * The gateway's work over two processes (ROLE, docs/scaling.md "Processes on one machine"), each run as `npm start`
 * runs it (node dist/src/runtime/node.js) on one redis-server of the test's own: a ROLE=gateway process (units over
 * its embedded broker, the HTTP API, the parcel engine) and a ROLE=workers process (the outbox relay and the
 * notification workers), a real HTTP SMS receiver, the simulated units in this process.
 * - a deposit over HTTP reaches the receiver exactly once, sent by the workers process (the gateway sends nothing);
 * - with the workers process killed (SIGKILL) the gateway goes on storing and handing out parcels, and no text goes;
 * - started again, it delivers that backlog, each text exactly once.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PREFIX = 'lg:';
const DEBUG = process.env.TEST_LOG_LEVEL === 'debug';

let redis: TestRedis;
let receiver: TestReceiver;
let r: Redis;
let gateway: Proc;
let workers: Proc;
const sims = new Map<string, SimulatedUnit>();

class Proc extends GatewayProcess {
  /** notify_sent_total{channel="sms"} of this process: texts it delivered */
  async sent(): Promise<number> {
    const text = await (await fetch(`${this.url}/metrics`, { headers: { authorization: `Bearer ${DEV_METRICS_TOKEN}` } })).text();
    return [...text.matchAll(/^notify_sent_total\{channel="sms"\} (\d+)/gm)].reduce((s, m) => s + Number(m[1]), 0);
  }
}

beforeAll(async () => {
  redis = await new TestRedis().start();
  receiver = await new TestReceiver().start();
  r = redis.client();
  const mqttPort = await freePort();
  const common = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    NODE_ENV: 'test',
    REDIS_URL: redis.url,
    REDIS_PREFIX: PREFIX,
    SMS_URL: `${receiver.url}/sms`,
    SMS_RATE_PER_S: '500',
    QUIET_HOURS: 'off',
    PRESENCE_CODES: 'off',
    NOTIFY_BACKOFF_MS: '100',
    LOG_LEVEL: DEBUG ? 'info' : 'warn',
  };
  gateway = new Proc('gateway', { ...common, ROLE: 'gateway', PORT: String(await freePort()), MQTT_PORT: String(mqttPort), POLL_INTERVAL_MS: '1000' });
  workers = new Proc('workers', { ...common, ROLE: 'workers', PORT: String(await freePort()) });
  await gateway.start();
  await workers.start();
  for (const unit of UNITS) {
    const c = credentials.units[unit.id]!;
    const sim = createSimulator({ unit, brokerUrl: `mqtt://127.0.0.1:${mqttPort}`, password: c.password, key: c.keyHex ? Buffer.from(c.keyHex, 'hex') : null, logger, autopilot: { enabled: false } });
    await sim.start();
    sims.set(unit.id, sim);
  }
  await eventually(async () => (await Promise.all(UNITS.map((u) => r.hget(`${PREFIX}unit:${u.id}`, 'online')))).every((o) => o === '1'), 20_000, 'all units online');
}, 120_000);

afterAll(async () => {
  await workers?.stop();
  await gateway?.stop();
  for (const s of sims.values()) await s.stop().catch(() => {});
  r?.disconnect();
  await receiver?.stop();
  await redis?.destroy();
}, 60_000);

async function api(path: string, init: { method?: string; token?: string; body?: unknown } = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(gateway.url + path, {
    method: init.method ?? 'GET',
    headers: { 'content-type': 'application/json', ...(init.token ? { authorization: `Bearer ${init.token}` } : {}) },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

const parcelState = (id: string) => r.hget(`${PREFIX}parcel:${id}`, 'state');
const smsFor = (parcel: string, kind: 'stored' | 'collected') =>
  receiver.requests.filter((q) => q.path === '/sms' && (q.body as { id?: string } | undefined)?.id === jobIdFor(`${parcel}.${kind}`, 'sms'));
/** the outbox entries not yet relayed that mention `parcel` */
const inOutbox = async (parcel: string) => (await r.xrange(`${PREFIX}outbox`, '-', '+')).filter(([, f]) => f.join(' ').includes(parcel)).length;

/** A courier deposits at `unit` over HTTP; the door opens, the parcel goes in, the door closes: stored. */
async function deposit(token: string, unit: string, n: number): Promise<{ parcel: string; no: number }> {
  const sim = sims.get(unit)!;
  const res = await api('/v1/deposits', { method: 'POST', token, body: { unit, size: 'S', trackingNumber: `SF-ROLES-${n}`, carrier: 'SF', phone: String(13900139100 + n) } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  const parcel = res.body.id as string;
  const no = res.body.compartment as number;
  await eventually(() => sim.snapshot().doors[no]?.open, 20_000, `${unit} #${no} open for ${parcel}`);
  sim.putParcel(no);
  sim.closeDoor(no);
  await eventually(async () => (await parcelState(parcel)) === 'stored', 20_000, `${parcel} stored`);
  return { parcel, no };
}

/** The resident types the code from the text; the door opens, the parcel comes out, the door closes: collected. */
async function collect(unit: string, parcel: string, no: number, code: string): Promise<void> {
  const sim = sims.get(unit)!;
  sim.typeCode(code);
  await eventually(() => sim.snapshot().doors[no]?.open, 20_000, `${unit} #${no} open for the code of ${parcel}`);
  sim.takeParcel(no);
  sim.closeDoor(no);
  await eventually(async () => (await parcelState(parcel)) === 'collected', 20_000, `${parcel} collected`);
}

const codeOf = (parcel: string) => /\d{6}/.exec((smsFor(parcel, 'stored')[0]!.body as { text: string }).text)![0];

describe('ROLE=gateway and ROLE=workers processes', () => {
  it('texts go through the workers process only, stop while it is dead and the backlog goes once it is back', async () => {
    const courier = await api('/v1/admin/couriers', { method: 'POST', token: DEV_STAFF_TOKEN, body: { name: 'Roles Test', carrier: 'SF' } });
    expect(courier.status).toBe(201);
    const token = courier.body.token as string;
    const unit = UNITS.find((u) => u.dialect === 'json-v1')!.id;

    // 1. a deposit over the gateway's HTTP: its code text comes, once, from the workers process
    const a = await deposit(token, unit, 1);
    await eventually(() => smsFor(a.parcel, 'stored').length > 0, 20_000, `code SMS of ${a.parcel}`);
    await eventually(async () => (await inOutbox(a.parcel)) === 0, 10_000, 'outbox relayed');
    await eventually(async () => (await workers.sent()) === 1, 10_000, 'the text counted by the workers process');
    expect(await gateway.sent()).toBe(0);

    // 2. the workers process dies: parcels still go in and out, their texts wait in the outbox
    await workers.kill();
    await collect(unit, a.parcel, a.no, codeOf(a.parcel));
    const b = await deposit(token, unit, 2);
    await eventually(async () => (await inOutbox(a.parcel)) > 0 && (await inOutbox(b.parcel)) > 0, 10_000, 'notices waiting in the outbox');
    // nobody relays them (nothing to wait on for "nothing happens": a short look)
    await new Promise((res) => setTimeout(res, 1_500));
    expect(smsFor(a.parcel, 'collected')).toHaveLength(0);
    expect(smsFor(b.parcel, 'stored')).toHaveLength(0);
    expect(await gateway.sent()).toBe(0);

    // 3. started again: the backlog goes, each text once
    await workers.start();
    await eventually(() => smsFor(a.parcel, 'collected').length > 0 && smsFor(b.parcel, 'stored').length > 0, 30_000, 'the backlog texted');
    await eventually(async () => (await inOutbox(a.parcel)) + (await inOutbox(b.parcel)) === 0, 10_000, 'outbox relayed');
    await collect(unit, b.parcel, b.no, codeOf(b.parcel));
    await eventually(() => smsFor(b.parcel, 'collected').length > 0, 20_000, `collected SMS of ${b.parcel}`);
    await eventually(async () => (await workers.sent()) === 3, 10_000, 'three texts counted by the restarted workers process');
    for (const [p, kind] of [[a.parcel, 'stored'], [a.parcel, 'collected'], [b.parcel, 'stored'], [b.parcel, 'collected']] as const) {
      expect(smsFor(p, kind), `${kind} SMS of ${p}`).toHaveLength(1);
    }
    expect(receiver.requests.filter((q) => q.path === '/sms')).toHaveLength(4);
    expect(await gateway.sent()).toBe(0);
  }, 180_000);

  it('a bad ROLE refuses to start and names the key', async () => {
    const proc = spawn(process.execPath, ['dist/src/runtime/node.js'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', NODE_ENV: 'test', ROLE: 'relay' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    proc.stderr?.on('data', (b: Buffer) => (err += b.toString()));
    const code = await new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));
    expect(code).toBe(2);
    expect(err).toMatch(/ROLE: .*all.*gateway.*workers/);
  });
});
