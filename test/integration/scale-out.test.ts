import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UNITS } from '../../devices/units.js';
import { DEV_METRICS_TOKEN, DEV_STAFF_TOKEN } from '../../src/config/config.js';
import { systemClock } from '../../src/domain/clock.js';
import { Evidence, EvidenceLog } from '../../src/evidence/index.js';
import { jobIdFor } from '../../src/notify/notifier.js';
import { leaseKeys } from '../../src/scale/leases.js';
import { createSimulator, type SimulatedUnit } from '../../simulators/index.js';
import type { CommandInfo } from '../../simulators/types.js';
import { GatewayProcess } from '../support/gateway-process.js';
import { TestMosquitto } from '../support/mosquitto.js';
import { freePort } from '../support/ports.js';
import { TestReceiver } from '../support/receiver.js';
import { TestRedis } from '../support/redis.js';
import { credentials, eventually, logger } from '../support/stack.js';

/**
 * Two gateways share the three units (UNIT_LEASES=on): each runs as `npm start` runs it (node dist/src/runtime/node.js),
 * both on one Redis and one real Mosquitto (configured by the project's own generator), the simulated units in this
 * process, a real HTTP SMS receiver. Parcel lifecycles run over both gateways' HTTP (deposits alternate between
 * them, so half the door commands cross to the unit's owner through Redis); mid-load the gateway serving the most
 * units is SIGKILLed. Then:
 * - takeover: the survivor holds every unit's lease within 30 s of the kill;
 * - nothing lost: every parcel is collected and each SMS (code, collected) arrives exactly once;
 * - each event handled once: every evidence chain verifies, and no parcel has the same transition twice;
 * - each command sent once: no unit received a command id twice, and no unit received more door opens than the
 *   gateways logged as sent.
 * The people at the units behave as people do when a gateway dies under them: a courier whose request failed asks
 * the other gateway (the same tracking number: the same parcel), a resident whose door did not open types the code
 * again.
 */
const PREFIX = 'lg:';
const PER_UNIT = 6;
const PHONE_BASE = 13900139000;
const DEBUG = process.env.TEST_LOG_LEVEL === 'debug';
const TAKEOVER_LIMIT_MS = 30_000;

let redis: TestRedis;
let mosquitto: TestMosquitto;
let receiver: TestReceiver;
let r: Redis;
const gateways: Gateway[] = [];
const sims = new Map<string, SimulatedUnit>();
const commandsAt = new Map<string, CommandInfo[]>();

/** a gateway process; its name is its GATEWAY_ID */
class Gateway extends GatewayProcess {
  get id(): string {
    return this.name;
  }
}

beforeAll(async () => {
  redis = await new TestRedis().start();
  mosquitto = await new TestMosquitto().start({ credentials, units: UNITS });
  receiver = await new TestReceiver().start();
  r = redis.client();
  for (const id of ['gw-a', 'gw-b']) {
    gateways.push(
      new Gateway(id, {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        NODE_ENV: 'test',
        UNIT_LEASES: 'on',
        GATEWAY_ID: id,
        MQTT_URL: mosquitto.url,
        REDIS_URL: redis.url,
        REDIS_PREFIX: PREFIX,
        PORT: String(await freePort()),
        SIMULATORS: 'off',
        SMS_URL: `${receiver.url}/sms`,
        SMS_RATE_PER_S: '500',
        QUIET_HOURS: 'off',
        PRESENCE_CODES: 'off',
        LOG_LEVEL: DEBUG ? 'info' : 'warn',
        NOTIFY_BACKOFF_MS: '100',
        POLL_INTERVAL_MS: '1000',
        SNAPSHOT_SETTLE_MS: '300',
        // a door command waiting in a dead owner's queue is still run by the next owner (takeover within ~20 s)
        COMMAND_TIMEOUT_MS: '25000',
        // longer than a routed command may wait (COMMAND_TIMEOUT_MS + 5 s): a door never opens for a lapsed deposit.
        // And longer than a takeover (≤ 30 s) plus the new owner's re-sync, as in production (120 s): a door that
        // opened and closed while nobody served the unit is learnt from the re-sync before its reservation lapses.
        // (At 35 s a CI run under load left one deposit never stored, most likely because its reservation lapsed first.)
        DEPOSIT_OPEN_TIMEOUT_MS: '60000',
        OPEN_RATE_PER_UNIT_PER_MIN: '1000',
        OPEN_RATE_FLEET_PER_MIN: '5000',
      }),
    );
  }
  // The first gateway takes every unit; the second takes its share (one unit handed over each lease round).
  await gateways[0]!.start();
  await gateways[1]!.start();
  for (const unit of UNITS) {
    const c = credentials.units[unit.id]!;
    const sim = createSimulator({ unit, brokerUrl: mosquitto.url, password: c.password, key: c.keyHex ? Buffer.from(c.keyHex, 'hex') : null, logger, autopilot: { enabled: false } });
    const seen: CommandInfo[] = [];
    commandsAt.set(unit.id, seen);
    sim.on('command', (info: CommandInfo) => seen.push(info));
    await sim.start();
    sims.set(unit.id, sim);
  }
  await eventually(async () => (await Promise.all(UNITS.map((u) => r.hget(`${PREFIX}unit:${u.id}`, 'online')))).every((o) => o === '1'), 20_000, 'all units online');
  await eventually(async () => new Set((await owners()).values()).size === 2, 30_000, 'both gateways serve units');
}, 120_000);

afterAll(async () => {
  for (const g of gateways) await g.stop();
  for (const s of sims.values()) await s.stop().catch(() => {});
  r?.disconnect();
  await receiver?.stop();
  await mosquitto?.stop();
  await redis?.destroy();
}, 60_000);

/** unit -> the gateway id holding its lease */
async function owners(): Promise<Map<string, string>> {
  const k = leaseKeys(PREFIX);
  const out = new Map<string, string>();
  for (const u of UNITS) {
    const token = await r.get(k.lease(u.id));
    if (token) out.set(u.id, token.split('|')[0]!);
  }
  return out;
}

async function api(g: Gateway, path: string, init: { method?: string; token?: string; body?: unknown } = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(g.url + path, {
    method: init.method ?? 'GET',
    headers: { 'content-type': 'application/json', ...(init.token ? { authorization: `Bearer ${init.token}` } : {}) },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** Ask gateway `first`; if it is dead (or dies mid-request), ask the other one: a courier's app retrying. */
async function anyGateway(first: number, path: string, init: { method?: string; token?: string; body?: unknown }) {
  let lastErr: unknown;
  for (let attempt = 0; attempt < 6; attempt++) {
    const g = gateways[(first + attempt) % 2]!;
    if (g.dead) continue;
    try {
      return { ...(await api(g, path, init)), gateway: g.id };
    } catch (err) {
      lastErr = err;
    }
  }
  throw new Error(`no gateway answered ${path}: ${String(lastErr)}`);
}

const parcelState = (id: string) => r.hget(`${PREFIX}parcel:${id}`, 'state');
const smsFor = (parcel: string, kind: 'stored' | 'collected') =>
  receiver.requests.filter((q) => q.path === '/sms' && (q.body as { id?: string } | undefined)?.id === jobIdFor(`${parcel}.${kind}`, 'sms'));

interface Lifecycle {
  n: number;
  unit: string;
  parcel: string;
  compartment: number;
  codeTries: number;
  deposits: number;
  /** the deposit's door command went to another gateway (the unit's owner) through Redis */
  crossed: boolean;
}

const stored: string[] = [];

/** One parcel from courier to resident; a failure says where, with the end of both gateways' logs. */
async function lifecycle(n: number, unit: string, token: string, onStored: () => void): Promise<Lifecycle> {
  try {
    return await lifecycleSteps(n, unit, token, onStored);
  } catch (err) {
    const logs = gateways.map((g) => `--- ${g.id}${g.dead ? ' (killed)' : ''}, last lines ---\n${g.output.slice(-3000)}`).join('\n');
    throw new Error(`lifecycle ${n} at ${unit}: ${(err as Error).message}\n${logs}`);
  }
}

/** One parcel from courier to resident, deposited over gateway `n % 2`'s HTTP. */
async function lifecycleSteps(n: number, unit: string, token: string, onStored: () => void): Promise<Lifecycle> {
  const sim = sims.get(unit)!;
  const phone = String(PHONE_BASE + n);
  const body = { unit, size: 'S', trackingNumber: `SF-SCALE-${n}`, carrier: 'SF', phone };
  // The courier asks for a compartment and waits for its door. If the gateway that sent the open died with it
  // (recorded as sent, never seen by the unit), the reservation lapses after DEPOSIT_OPEN_TIMEOUT_MS and the courier
  // asks again (the same tracking number, a new parcel).
  let parcel = '';
  let no = 0;
  let deposits = 0;
  let crossed = false;
  for (;;) {
    deposits++;
    const owner = (await owners()).get(unit);
    const res = await anyGateway(n % 2, '/v1/deposits', { method: 'POST', token, body });
    crossed ||= owner !== undefined && owner !== res.gateway;
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    parcel = res.body.id as string;
    no = res.body.compartment as number;
    const p = parcel;
    const c = no;
    const outcome = await eventually(
      async () => (sim.snapshot().doors[c]?.open ? 'open' : (await parcelState(p)) === 'cancelled' ? 'cancelled' : null),
      90_000,
      `${unit} #${c} open for deposit of ${p}`,
    );
    if (outcome === 'open') break;
    if (deposits >= 3) throw new Error(`${unit}: no door opened for ${deposits} deposits of SF-SCALE-${n}`);
  }
  sim.putParcel(no);
  sim.closeDoor(no);
  await eventually(async () => (await parcelState(parcel)) === 'stored', 90_000, `${parcel} stored`);
  stored.push(parcel);
  onStored();
  const sms = await eventually(() => smsFor(parcel, 'stored')[0], 90_000, `code SMS of ${parcel}`);
  const code = /\d{6}/.exec((sms.body as { text: string }).text)![0];
  // The resident types the code; if the door has not opened a while later (the gateway serving the unit died
  // and the keypad message went with it), they type it again.
  let codeTries = 0;
  const deadline = Date.now() + 75_000;
  for (;;) {
    codeTries++;
    sim.typeCode(code);
    const opened = await eventually(() => sim.snapshot().doors[no]?.open, 8_000, 'door open').catch(() => false);
    if (opened) break;
    if (Date.now() > deadline) throw new Error(`${parcel}: the door never opened for the code (${codeTries} tries)`);
  }
  sim.takeParcel(no);
  sim.closeDoor(no);
  await eventually(async () => (await parcelState(parcel)) === 'collected', 90_000, `${parcel} collected`);
  return { n, unit, parcel, compartment: no, codeTries, deposits, crossed };
}

describe('two gateways share the units', () => {
  it('SIGKILL of one under load: takeover within 30 s, nothing lost, each event handled and each command sent once', async () => {
    const courier = await api(gateways[0]!, '/v1/admin/couriers', { method: 'POST', token: DEV_STAFF_TOKEN, body: { name: 'Scale Test', carrier: 'SF' } });
    expect(courier.status).toBe(201);
    const token = courier.body.token as string;
    const before = await owners();

    // A pipeline: a third of the parcels start at once, and each parcel stored lets the next one start, so that
    // deposits, code texts and pickups are under way together when the gateway dies.
    const plan: { n: number; unit: string }[] = [];
    for (let i = 0; i < PER_UNIT; i++) for (const u of UNITS) plan.push({ n: plan.length, unit: u.id });
    const total = plan.length;
    const runs: Promise<Lifecycle>[] = [];
    const startNext = () => {
      const next = plan.shift();
      if (next) runs.push(lifecycle(next.n, next.unit, token, startNext));
    };
    for (let i = 0; i < total / 3; i++) startNext();

    // Mid-load: a third of the parcels are stored, the next third on their way in, the first on their way out.
    await eventually(() => stored.length >= total / 3, 60_000, 'a third of the parcels stored');
    const storedAtKill = stored.length;
    const counts = new Map<string, number>();
    for (const g of before.values()) counts.set(g, (counts.get(g) ?? 0) + 1);
    const victim = gateways.find((g) => g.id === [...counts].sort((a, b) => b[1] - a[1])[0]![0])!;
    const survivor = gateways.find((g) => g !== victim)!;
    const killedAt = Date.now();
    await victim.kill();
    await eventually(async () => [...(await owners()).values()].filter((g) => g === survivor.id).length === UNITS.length, TAKEOVER_LIMIT_MS + 5_000, 'takeover');
    const takeoverMs = Date.now() - killedAt;
    expect(takeoverMs).toBeLessThan(TAKEOVER_LIMIT_MS);

    let done: Lifecycle[];
    do done = await Promise.all(runs);
    while (done.length < total);
    console.info(
      `scale-out: ${done.length} lifecycles; ${victim.id} (serving ${counts.get(victim.id)} units) killed with ${storedAtKill} parcels stored; ` +
        `takeover ${takeoverMs} ms; deposits through the other gateway: ${done.filter((d) => d.crossed).length}; codes typed again: ${done.filter((d) => d.codeTries > 1).length}; ` +
        `deposits asked again (open lost with the dead gateway): ${done.filter((d) => d.deposits > 1).length}`,
    );

    // the survivor's metrics tell the same story: units taken over, commands asked of and run for the other gateway
    const metrics = await (await fetch(`${survivor.url}/metrics`, { headers: { authorization: `Bearer ${DEV_METRICS_TOKEN}` } })).text();
    const metric = (re: RegExp) => [...metrics.matchAll(re)].reduce((sum, m) => sum + Number(m[1]), 0);
    expect(metric(/^lg_leases_total\{event="acquired"\} (\d+)/gm)).toBeGreaterThanOrEqual(UNITS.length);
    expect(metric(/^lg_remote_commands_total\{side="(?:asked|ran)",result="[a-z_]+"\} (\d+)/gm)).toBeGreaterThan(0);

    // half the deposits were asked of a gateway that did not serve the unit: their doors opened through its owner
    expect(done.filter((d) => d.crossed).length).toBeGreaterThan(0);

    // nothing lost: every parcel collected, each text once
    let resent = 0;
    for (const d of done) {
      expect(await parcelState(d.parcel)).toBe('collected');
      await eventually(() => smsFor(d.parcel, 'collected').length > 0, 30_000, `collected SMS of ${d.parcel}`);
      for (const kind of ['stored', 'collected'] as const) {
        // One text per notice. A job whose worker died after the provider accepted it and before it was marked sent
        // runs again elsewhere with the same Idempotency-Key (the job id), which the provider collapses into one
        // text: the only repeat allowed (notify-crash.test.ts covers that window).
        const texts = smsFor(d.parcel, kind);
        expect(new Set(texts.map((q) => q.headers['idempotency-key'])), `${kind} SMS of ${d.parcel}`).toEqual(new Set([jobIdFor(`${d.parcel}.${kind}`, 'sms')]));
        if (texts.length > 1) resent++;
      }
    }

    console.info(`scale-out: texts the provider got twice with the same Idempotency-Key (worker killed mid-send): ${resent}`);

    // each event handled once: the chains verify, and no parcel went through the same transition twice
    const evidence = new Evidence(new EvidenceLog(r, PREFIX), { redis: r, prefix: PREFIX, secret: Buffer.from(credentials.gateway.codeKeyHex!, 'hex'), clock: systemClock, logger, retentionDays: 180 });
    for (const report of await evidence.verifier.verifyAll()) expect(report.ok, `${report.chain}: ${JSON.stringify(report.broken)}`).toBe(true);
    const opensLogged = new Map<string, Set<string>>();
    for (const u of UNITS) {
      const transitions = new Map<string, number>();
      const opens = new Set<string>();
      for (const [, f] of await r.xrange(`${PREFIX}evidence:unit:${u.id}`, '-', '+')) {
        const e = JSON.parse(f[f.indexOf('e') + 1]!) as { kind: string; parcel?: string; from?: string; to?: string; op?: string; state?: string; commandId?: string };
        if (e.kind === 'parcel') {
          const key = `${e.parcel} ${e.from}->${e.to}`;
          transitions.set(key, (transitions.get(key) ?? 0) + 1);
        }
        if (e.kind === 'command' && e.op === 'open' && e.state === 'sent') opens.add(e.commandId!);
      }
      opensLogged.set(u.id, opens);
      const twice = [...transitions].filter(([, c]) => c > 1);
      expect(twice, `transitions recorded twice at ${u.id}`).toEqual([]);
      for (const d of done.filter((x) => x.unit === u.id)) {
        expect([...transitions.keys()].filter((k) => k.startsWith(`${d.parcel} `) && k.endsWith('->collected')), `${d.parcel} collected once`).toHaveLength(1);
      }
    }

    // each command sent once: no command id reached a unit twice, and no unit got more opens than were sent
    for (const u of UNITS) {
      const seen = commandsAt.get(u.id)!;
      expect(seen.filter((c) => c.duplicate), `repeated commands at ${u.id}`).toEqual([]);
      if (u.dialect === 'json-v1') {
        const cids = seen.map((c) => (JSON.parse(c.raw) as { cid: string }).cid);
        expect(cids.length, `command ids at ${u.id}`).toBe(new Set(cids).size);
      }
      const opens = seen.filter((c) => c.op === 'open').length;
      const lifecycles = done.filter((d) => d.unit === u.id).length;
      expect(opens, `opens at ${u.id}`).toBeGreaterThanOrEqual(2 * lifecycles);
      expect(opens, `opens at ${u.id} vs opens logged as sent`).toBeLessThanOrEqual(opensLogged.get(u.id)!.size);
    }
  }, 300_000);
});
