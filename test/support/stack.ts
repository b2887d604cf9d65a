import { parseConfig, type Config } from '../../src/config/config.js';
import { loadCredentials, type Credentials } from '../../src/config/credentials.js';
import { UNITS } from '../../devices/units.js';
import { startGateway, type RunningGateway } from '../../src/runtime/gateway.js';
import { createLogger } from '../../src/runtime/logger.js';
import { DEV_STAFF_TOKEN } from '../../src/config/config.js';
import { createSimulator, type SimulatedUnit, type Faults, type SimOptions } from '../../simulators/index.js';
import type { UnitProfile } from '../../src/domain/model.js';
import type { EvidenceRecord } from '../../src/store/units.js';
import { unitClientId } from '../../src/broker/acl.js';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { TestRedis } from './redis.js';
import { TestMosquitto } from './mosquitto.js';

export const credentials: Credentials = loadCredentials({ file: new URL('../../config/credentials.dev.json', import.meta.url).pathname });

/** How a unit logs in to a broker with the development credentials: the dialect's client id, its id and password. */
export function unitLogin(unit: Pick<UnitProfile, 'id' | 'dialect'>): { clientId: string; username: string; password: string } {
  return { clientId: unitClientId(unit), username: unit.id, password: credentials.units[unit.id]!.password };
}
export const logger = createLogger((process.env.TEST_LOG_LEVEL as 'debug' | undefined) ?? 'silent');

export type BrokerKind = 'embedded' | 'mosquitto';

/**
 * A whole running system for end-to-end tests: a redis-server and (optionally) a Mosquitto of the test's own, the
 * real gateway (startGateway, as `npm start` runs it, on free ports) and simulators the test drives.
 */
export class Stack {
  redis = new TestRedis();
  mosquitto: TestMosquitto | null = null;
  gw: RunningGateway | null = null;
  sims: SimulatedUnit[] = [];
  /** MQTT clients a test opened with connect(); ended by stop(). */
  clients: MqttClient[] = [];
  config!: Config;
  private n = 0;

  constructor(
    readonly broker: BrokerKind = 'embedded',
    readonly env: Record<string, string> = {},
  ) {}

  async start(): Promise<this> {
    await this.redis.start();
    if (this.broker === 'mosquitto') this.mosquitto = await new TestMosquitto().start({ credentials, units: UNITS });
    await this.startGateway();
    return this;
  }

  async startGateway(extra: Record<string, string> = {}): Promise<RunningGateway> {
    this.config = parseConfig({
      NODE_ENV: 'test',
      PORT: '0',
      MQTT_PORT: this.gw?.broker ? String(this.gw.broker.port) : '0',
      REDIS_URL: this.redis.url,
      REDIS_PREFIX: 'lg:',
      SIMULATORS: 'off',
      LOG_LEVEL: 'silent',
      POLL_INTERVAL_MS: '300',
      HEARTBEAT_TIMEOUT_MS: '2000',
      SNAPSHOT_SETTLE_MS: '300',
      COMMAND_TIMEOUT_MS: '3000',
      // screens show the minute's presence code by default; tests that read screens turn it on themselves
      PRESENCE_CODES: 'off',
      // Tests compress days into seconds and open doors in bulk as the gateway itself: the open guard's limits would
      // cut them off. Its own tests (opens-*.test.ts) set the limits they prove.
      OPEN_RATE_PER_UNIT_PER_MIN: '100000',
      OPEN_RATE_FLEET_PER_MIN: '100000',
      LOCKDOWN_UNEXPLAINED_PER_UNIT_PER_MIN: '100000',
      LOCKDOWN_UNEXPLAINED_FLEET_PER_MIN: '100000',
      ...(this.mosquitto ? { MQTT_URL: this.mosquitto.url, MQTT_CLIENT_ID: `gw-test-${++this.n}` } : {}),
      ...this.env,
      ...extra,
    });
    this.gw = await startGateway(this.config, { logger });
    return this.gw;
  }

  get brokerUrl(): string {
    return this.gw!.mqttUrl;
  }

  async sim(
    unitId: string,
    opts: {
      faults?: Partial<Faults>;
      heartbeatMs?: number;
      autopilot?: boolean;
      now?: () => number;
      /** further simulator options (seed, chunking, initialSeq, reconnectMs...) */
      extra?: Partial<Omit<SimOptions, 'unit' | 'brokerUrl' | 'password' | 'key' | 'logger'>>;
    } = {},
  ): Promise<SimulatedUnit> {
    const unit = UNITS.find((u) => u.id === unitId) as UnitProfile;
    const c = credentials.units[unitId]!;
    const s = createSimulator({
      ...opts.extra,
      unit,
      brokerUrl: this.brokerUrl,
      password: c.password,
      key: c.keyHex ? Buffer.from(c.keyHex, 'hex') : null,
      logger,
      ...(opts.faults ? { faults: opts.faults } : {}),
      ...(opts.heartbeatMs ? { heartbeatMs: opts.heartbeatMs } : {}),
      ...(opts.now ? { now: opts.now } : {}),
      autopilot: { enabled: opts.autopilot ?? false },
    });
    await s.start();
    this.sims.push(s);
    return s;
  }

  /** GET as staff (the evidence log and other staff-only routes). */
  async staffGet(path: string): Promise<{ status: number; body: any }> {
    return this.get(path, { headers: { authorization: `Bearer ${DEV_STAFF_TOKEN}` } });
  }

  async get(path: string, init?: RequestInit): Promise<{ status: number; body: any }> {
    const res = await fetch(this.gw!.url + path, init);
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: res.status, body };
  }

  /** GET /metrics with the gateway's METRICS_TOKEN (Prometheus text). */
  async metrics(): Promise<string> {
    const token = this.config.METRICS_TOKEN;
    return (await fetch(this.gw!.metricsUrl, token ? { headers: { authorization: `Bearer ${token}` } } : {})).text();
  }

  async post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
    return this.get(path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  }

  async unit(id: string): Promise<any> {
    return (await this.gw!.store.unit(id))!;
  }

  /** The unit's event log, oldest first. */
  async log(id: string, limit = 500): Promise<EvidenceRecord[]> {
    return (await this.gw!.store.events(id, { limit })).reverse();
  }

  /** A plain mqtt.js client on the gateway's broker (ended by stop()). */
  async connect(opts: IClientOptions): Promise<MqttClient> {
    const c = await mqtt.connectAsync(this.brokerUrl, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5_000, clean: true, ...opts });
    c.on('error', () => undefined);
    this.clients.push(c);
    return c;
  }

  /** Connected with the gateway's broker credentials (a spy: may read lockers/#, cab/#, dtu/# and publish commands). */
  connectAsGateway(clientId = `spy-${Math.random().toString(16).slice(2, 10)}`): Promise<MqttClient> {
    return this.connect({ clientId, username: credentials.gateway.username, password: credentials.gateway.password });
  }

  /** Connected as the unit itself: its username, password and the dialect's client id (takes over a running simulator's connection). */
  connectAsUnit(unitId: string): Promise<MqttClient> {
    return this.connect(unitLogin(UNITS.find((u) => u.id === unitId) as UnitProfile));
  }

  async stopGateway(): Promise<void> {
    await this.gw?.close();
  }

  async stop(): Promise<void> {
    for (const c of this.clients.splice(0)) await c.endAsync(true).catch(() => {});
    for (const s of this.sims) await s.stop().catch(() => {});
    await this.gw?.close().catch(() => {});
    await this.mosquitto?.stop();
    await this.redis.destroy();
  }
}

/** Poll until `fn` returns a truthy value (or throw with the last value after `ms`). */
export async function eventually<T>(fn: () => Promise<T> | T, ms = 8000, what = 'condition'): Promise<NonNullable<T>> {
  const end = Date.now() + ms;
  let last: T | undefined;
  let lastErr: unknown;
  while (Date.now() < end) {
    try {
      last = await fn();
      if (last) return last as NonNullable<T>;
    } catch (err) {
      lastErr = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}; last value: ${JSON.stringify(last)}${lastErr ? `; last error: ${String(lastErr)}` : ''}`);
}
