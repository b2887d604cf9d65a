/**
 * The processes the gateway runs as in `npm run bench` (the "shape"):
 * - one process (default): `npm start` as it is, ROLE=all, the embedded broker inside it;
 * - `--workers-process`: ROLE=gateway (units, HTTP, engine, embedded broker) + ROLE=workers (outbox relay and
 *   notification workers) on the same Redis;
 * - `--gateways N`: N gateway processes with UNIT_LEASES=on sharing the units through leases, on a real Mosquitto
 *   of the bench's own (the embedded broker serves one gateway); each ROLE=all, or ROLE=gateway with
 *   `--workers-process`. The load spreads its HTTP requests round-robin over their ports.
 * - `--broker mosquitto` with one gateway: the same Mosquitto instead of the embedded broker (`MQTT_URL`), to see the
 *   gateway's own CPU without a broker in its process.
 * Every process is `node dist/src/runtime/node.js` with count-redis.mjs preloaded (procs.ts).
 */
import type { Redis } from 'ioredis';
import type { UnitProfile } from '../../src/domain/model.js';
import { loadCredentials } from '../../src/config/credentials.js';
import { leaseKeys } from '../../src/scale/leases.js';
import { TestMosquitto } from '../../test/support/mosquitto.js';
import { freePort } from '../../test/support/ports.js';
import { startGateway, type GatewayProcess } from './procs.js';

export interface ShapeOptions {
  /** gateway processes; 1 = no leases (today's single gateway) */
  gateways: number;
  /** the relay and notification workers in a ROLE=workers process of their own */
  workersProcess: boolean;
  /** one gateway: its embedded broker (default) or a Mosquitto of the bench's own; several gateways: always Mosquitto */
  broker?: 'embedded' | 'mosquitto';
}

export interface NamedProcess {
  name: string;
  pid: number;
  /** a gateway-side process (its CPU counts as the gateway's); false: the external broker */
  gatewaySide: boolean;
}

export interface Shape {
  /** the gateway processes (HTTP API, units) */
  gateways: GatewayProcess[];
  workers: GatewayProcess | null;
  mosquitto: TestMosquitto | null;
  mqttUrl: string;
  /** every process of the shape, for the CPU readings */
  processes: NamedProcess[];
  /** the gateway-side processes with an IPC channel (Redis command counts) */
  counted: GatewayProcess[];
  /** their names, in the same order */
  countedNames: string[];
  logFiles: string[];
  describe: string;
  stop(): Promise<void>;
}

export function shapeName(o: ShapeOptions): string {
  if (o.gateways === 1) return `${o.workersProcess ? 'gateway + workers' : 'one process'}${o.broker === 'mosquitto' ? ' (Mosquitto)' : ''}`;
  return `${o.gateways} gateways (UNIT_LEASES=on, Mosquitto)${o.workersProcess ? ' + workers' : ''}`;
}

/** The lease settings of the shape with several gateways: a joining gateway gets its share within seconds. */
export const LEASE_ENV = { LEASE_TTL_MS: '15000', LEASE_RENEW_MS: '1000' };

export async function startShape(
  o: ShapeOptions & {
    env: Record<string, string>;
    units: readonly UnitProfile[];
    credentialsFile: string;
    logFile: string;
    nodeArgs: string[];
    admin: Redis;
    prefix: string;
  },
): Promise<Shape> {
  const gateways: GatewayProcess[] = [];
  let workers: GatewayProcess | null = null;
  let mosquitto: TestMosquitto | null = null;
  const logFiles: string[] = [];
  const log = (name: string) => {
    const f = o.logFile.replace(/\.gateway\.log$/, `.${name}.log`);
    logFiles.push(f);
    return f;
  };
  const stop = async () => {
    for (const g of gateways) await g.stop().catch(() => {});
    await workers?.stop().catch(() => {});
    await mosquitto?.stop().catch(() => {});
  };
  try {
    const role: Record<string, string> = o.workersProcess ? { ROLE: 'gateway' } : {};
    if (o.gateways === 1 && o.broker !== 'mosquitto') {
      gateways.push(await startGateway({ ...o.env, ...role }, log('gateway'), o.nodeArgs));
    } else if (o.gateways === 1) {
      mosquitto = await new TestMosquitto().start({ credentials: loadCredentials({ file: o.credentialsFile }), units: o.units });
      const env: Record<string, string> = { ...o.env, ...role, MQTT_URL: mosquitto.url };
      delete env.MQTT_PORT;
      gateways.push(await startGateway(env, log('gateway'), o.nodeArgs));
    } else {
      mosquitto = await new TestMosquitto().start({ credentials: loadCredentials({ file: o.credentialsFile }), units: o.units });
      for (let i = 1; i <= o.gateways; i++) {
        const env: Record<string, string> = { ...o.env, ...role, ...LEASE_ENV, UNIT_LEASES: 'on', GATEWAY_ID: `gw-${i}`, MQTT_URL: mosquitto.url, PORT: String(await freePort()) };
        delete env.MQTT_PORT;
        gateways.push(await startGateway(env, log(i === 1 ? 'gateway' : `gw-${i}`), o.nodeArgs));
      }
    }
    if (o.workersProcess) {
      const env: Record<string, string> = { ...o.env, ROLE: 'workers', PORT: String(await freePort()) };
      delete env.MQTT_PORT;
      delete env.UNITS_FILE;
      workers = await startGateway(env, log('workers'), o.nodeArgs);
    }
    const names = gateways.map((_, i) => (o.gateways === 1 ? 'gateway' : `gw-${i + 1}`));
    const processes: NamedProcess[] = [
      ...gateways.map((g, i) => ({ name: names[i]!, pid: g.pid, gatewaySide: true })),
      ...(workers ? [{ name: 'workers', pid: workers.pid, gatewaySide: true }] : []),
      ...(mosquitto?.pid ? [{ name: 'mosquitto', pid: mosquitto.pid, gatewaySide: false }] : []),
    ];
    return {
      gateways,
      workers,
      mosquitto,
      mqttUrl: mosquitto?.url ?? gateways[0]!.mqttUrl,
      processes,
      counted: [...gateways, ...(workers ? [workers] : [])],
      countedNames: [...names, ...(workers ? ['workers'] : [])],
      logFiles,
      describe: shapeName(o),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Several gateways: wait until each holds its share of the units' leases (the first took them all). */
export async function waitLeasesSplit(admin: Redis, prefix: string, units: readonly UnitProfile[], gateways: number, timeoutMs = 120_000): Promise<Map<string, number>> {
  const k = leaseKeys(prefix);
  const share = Math.floor(units.length / gateways);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const held = new Map<string, number>();
    for (const u of units) {
      const owner = (await admin.get(k.lease(u.id)))?.split('|')[0];
      if (owner) held.set(owner, (held.get(owner) ?? 0) + 1);
    }
    const total = [...held.values()].reduce((s, n) => s + n, 0);
    if (total === units.length && held.size === gateways && [...held.values()].every((n) => n >= share)) return held;
    if (Date.now() > deadline) throw new Error(`leases not split over ${gateways} gateways after ${timeoutMs / 1000} s: ${JSON.stringify([...held])}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
