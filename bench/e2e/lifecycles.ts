/**
 * The gateway run of `npm run bench`: starts redis-server, the SMS receiver, the gateway process and the simulated
 * units' process; runs the lifecycles (warm-up, then the measured window between two readings); measures Redis
 * memory per stored parcel and evidence per lifecycle; checks that nothing was lost; stops it all; then the floor.
 */
import type { UnitProfile } from '../../src/domain/model.js';
import { DEV_METRICS_TOKEN, DEV_STAFF_TOKEN } from '../../src/config/config.js';
import { keyBytes, perKind } from '../memory-keys.js';
import { runFloor, type FloorResult } from './floor.js';
import { Load } from './load.js';
import { figures, read, type WindowFigures } from './measure.js';
import { logWarnings, rssBytes, startRedis, type GatewayProcess } from './procs.js';
import { LEASE_ENV, startShape, waitLeasesSplit, type ShapeOptions } from './shape.js';
import { Progress } from './progress.js';
import type { Result, UnitLatency } from './report.js';
import { Sims } from './sims.js';
import { SmsReceiver } from './sms.js';
import { dist } from './stats.js';
import { benchUnits, writeUnitFiles } from './units.js';
import { freePort } from '../../test/support/ports.js';

const PREFIX = 'lg:';

export interface LifecycleRun {
  units: UnitProfile[];
  gatewayEnv: Record<string, string>;
  /** the processes the gateway ran as (shape.ts) */
  shape: string;
  /** RSS of each process of the shape at the end, MB */
  rssMB: Record<string, number>;
  load: Load;
  /** code-to-open samples of the measured window, by unit */
  c2oWindow: Map<string, number[]>;
  window: WindowFigures;
  latency: Result['latency'];
  gateway: Result['gateway'];
  memory: Result['memory'];
  nothingLost: Result['nothingLost'];
  floor: FloorResult | null;
}

/** The gateway's settings for the bench (besides ports, Redis, files): shown in the report. */
export const BENCH_ENV: Record<string, string> = {
  NODE_ENV: 'development',
  SIMULATORS: 'off',
  LOG_LEVEL: 'warn',
  SMS_RATE_PER_S: '1000',
  QUIET_HOURS: 'off',
  PRESENCE_CODES: 'off',
  // json-v1/compact-v2 replay guard: at most ~memory signed commands per unit per (TTL + skew) window
  COMMAND_TTL_S: '5',
  COMMAND_CLOCK_SKEW_S: '0',
  OPEN_RATE_PER_UNIT_PER_MIN: '100000',
  OPEN_RATE_FLEET_PER_MIN: '100000',
};

export async function gatewayEnv(o: { redisUrl: string; smsUrl?: string; unitsFile: string | null; credentialsFile: string; extra?: Record<string, string> }): Promise<Record<string, string>> {
  return {
    ...BENCH_ENV,
    HOST: '127.0.0.1',
    PORT: String(await freePort()),
    MQTT_PORT: String(await freePort()),
    REDIS_URL: o.redisUrl,
    ...(o.smsUrl ? { SMS_URL: o.smsUrl } : {}),
    CREDENTIALS_FILE: o.credentialsFile,
    ...(o.unitsFile ? { UNITS_FILE: o.unitsFile } : {}),
    ...o.extra,
  };
}

export async function metricsOf(gw: GatewayProcess, names: string[]): Promise<Record<string, number>> {
  const res = await fetch(`${gw.url}/metrics`, { headers: { authorization: `Bearer ${DEV_METRICS_TOKEN}` } });
  const text = await res.text();
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m && names.includes(m[1]!)) out[m[1]!] = (out[m[1]!] ?? 0) + Number(m[3]);
  }
  return out;
}

/**
 * Notification jobs not done yet (`lg_notify_jobs` waiting, delayed or active, every queue). A queue that falls
 * behind hides its work from the window's CPU and Redis figures (it is done later, or never within the run), so the
 * report shows it and the run counts as losing something unless the queues empty after it.
 */
export async function notifyBacklog(gw: GatewayProcess): Promise<number> {
  const res = await fetch(`${gw.url}/metrics`, { headers: { authorization: `Bearer ${DEV_METRICS_TOKEN}` } });
  let n = 0;
  for (const line of (await res.text()).split('\n')) {
    const m = /^lg_notify_jobs\{[^}]*state="(waiting|delayed|active)"[^}]*\} (\S+)$/.exec(line);
    if (m) n += Number(m[2]);
  }
  return n;
}

/** Waits (up to `timeoutMs`) for the notification queues to empty; the backlog left. */
async function notifyDrained(gw: GatewayProcess, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = await notifyBacklog(gw);
    if (left === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * lg_commands_total summed by op (all units, all results), lg_command_throttled_total, and lg_unit_messages_total
 * (every message from the units, heartbeats included) as `messages from the units`.
 */
export async function commandsByOp(gw: GatewayProcess): Promise<Record<string, number>> {
  const res = await fetch(`${gw.url}/metrics`, { headers: { authorization: `Bearer ${DEV_METRICS_TOKEN}` } });
  const out: Record<string, number> = {};
  for (const line of (await res.text()).split('\n')) {
    const m = /^lg_commands_total\{[^}]*op="([^"]+)"[^}]*\} (\S+)$/.exec(line);
    if (m) out[m[1]!] = (out[m[1]!] ?? 0) + Number(m[2]);
    const t = /^lg_command_throttled_total\{[^}]*\} (\S+)$/.exec(line);
    if (t) out['throttled (replay guard)'] = (out['throttled (replay guard)'] ?? 0) + Number(t[1]);
    const u = /^lg_unit_messages_total\{[^}]*\} (\S+)$/.exec(line);
    if (u) out['messages from the units'] = (out['messages from the units'] ?? 0) + Number(u[1]);
  }
  return out;
}

export async function waitOnline(gw: GatewayProcess, n: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const online = (await metricsOf(gw, ['lg_units_online'])).lg_units_online ?? 0;
    if (online >= n) return;
    if (Date.now() > deadline) throw new Error(`only ${online} of ${n} units online after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function runLifecycles(
  o: ShapeOptions & { concurrency: number; seconds: number; warmup: number; units: number; autopilotMs: number; floorSeconds: number; memoryParcels: number; logFile: string; cpuProfDir?: string; heapMb?: number },
): Promise<LifecycleRun> {
  const units = benchUnits(o.units);
  const files = writeUnitFiles(units);
  const progress = new Progress();
  const redis = await startRedis();
  const sms = await new SmsReceiver().start();
  const env = await gatewayEnv({ redisUrl: redis.url, smsUrl: `${sms.url}/sms`, ...files });
  const shape = await startShape({ ...o, env, units, credentialsFile: files.credentialsFile, nodeArgs: [...(o.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', o.cpuProfDir] : []), ...(o.heapMb ? [`--max-old-space-size=${o.heapMb}`] : [])], admin: redis.admin, prefix: PREFIX });
  const gw = shape.gateways[0]!;
  let sims: Sims | null = null;
  try {
    ({ sims } = await Sims.start({ brokerUrl: shape.mqttUrl, units, credentialsFile: files.credentialsFile, autopilotMs: o.autopilotMs }));
    await waitOnline(gw, units.length);
    if (o.gateways > 1) {
      const held = await waitLeasesSplit(redis.admin, PREFIX, units, o.gateways);
      console.error(`leases: ${[...held].map(([g, n]) => `${g} ${n} units`).join(', ')}`);
    }
    const res = await fetch(`${gw.url}/v1/admin/couriers`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${DEV_STAFF_TOKEN}` },
      body: JSON.stringify({ name: 'Bench', carrier: 'SF' }),
    });
    if (res.status !== 201 && res.status !== 200) throw new Error(`courier account: HTTP ${res.status} ${await res.text()}`);
    const courierToken = ((await res.json()) as { token: string }).token;
    const evidenceBefore = await keyBytes(redis.admin, PREFIX);

    const load = new Load({ url: gw.url, urls: shape.gateways.map((g) => g.url), courierToken }, sims, sms, units);
    let peakRss = rssBytes(gw.pid);
    const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, rssBytes(gw.pid))), 500);
    const status = () => `${load.completed} lifecycles, ${load.errors.count} errors, ${load.full} deposits found no compartment`;
    load.start(o.concurrency);
    progress.start('warm-up', o.warmup, status);
    await new Promise((r) => setTimeout(r, o.warmup * 1000));
    const readingOf = () => read({ admin: redis.admin, counted: shape.counted, countedNames: shape.countedNames, processes: shape.processes, simsPid: sims!.pid, completed: load.completed, perUnit: load.perUnit });
    const a = await readingOf();
    load.samples.clear();
    progress.start('measuring', o.seconds, () => `${((load.completed - a.completed) / ((performance.now() - a.t) / 1000)).toFixed(0)} lifecycles/s, ${status()}`);
    await new Promise((r) => setTimeout(r, o.seconds * 1000));
    const b = await readingOf();
    const backlogAtWindowEnd = await notifyBacklog(gw);
    const samples = { c2o: new Map(units.map((u) => [u.id, [...load.samples.of('code-to-open', u.id)]])), deposit: load.samples.of('deposit'), codeSms: load.samples.of('code SMS'), collectedSms: load.samples.of('collected SMS') };
    progress.start('draining', 30, status);
    await load.stop();
    progress.stop();
    clearInterval(rssTimer);
    const window = figures(a, b);
    console.error(`measured: ${window.lifecyclesPerS.toFixed(1)} lifecycles/s, gateway ${window.gatewayCpuMsPerLifecycle.toFixed(2)} ms CPU per lifecycle`);

    // Memory per stored parcel: fill compartments (deposit, door closed, code SMS), read, then collect them all.
    let memory: Result['memory'] = null;
    if (o.memoryParcels > 0) {
      const liveBefore = await keyBytes(redis.admin, PREFIX);
      const held = await Promise.all(
        Array.from({ length: Math.min(o.memoryParcels, Math.floor(units.reduce((n, u) => n + u.compartments.length, 0) * 0.6)) }, async (_, i) => {
          const unit = units[i % units.length]!;
          try {
            const d = await load.deposit(unit);
            return d ? { unit, ...d, code: (await load.storedPart(unit, d.id, d.no)).code } : null;
          } catch (err) {
            load.errors.add(err);
            return null;
          }
        }),
      );
      const stored = held.filter((h) => h !== null);
      const liveAfter = await keyBytes(redis.admin, PREFIX);
      await Promise.all(stored.map((h) => load.collectPart(h.unit, h.id, h.no, h.code).catch((err: unknown) => load.errors.add(err))));
      const evidenceAfter = await keyBytes(redis.admin, PREFIX);
      const live = perKind(liveAfter, liveBefore, stored.length, (k) => k.startsWith('live')).filter(([, v]) => v > 0.5);
      const evidence = perKind(evidenceAfter, evidenceBefore, load.completed, (k) => k.startsWith('evidence'));
      memory = {
        storedParcels: stored.length,
        liveBytesPerStoredParcel: live.reduce((s, [, v]) => s + v, 0),
        live,
        lifecycles: load.completed,
        evidenceBytesPerLifecycle: evidence.reduce((s, [, v]) => s + v, 0),
        evidence,
      };
    }

    const backlogAfter = await notifyDrained(gw, 120_000);
    const gauges = await metricsOf(gw, ['lg_parcels', 'lg_outbox_entries', 'lg_deadletters']);
    const byOp: Record<string, number> = {};
    for (const g of shape.gateways) for (const [op, n] of Object.entries(await commandsByOp(g))) byOp[op] = (byOp[op] ?? 0) + n;
    const commands = Object.fromEntries(Object.entries(byOp).map(([op, n]) => [op, load.completed ? n / load.completed : NaN]));
    const rssMBAtEnd = rssBytes(gw.pid) / 2 ** 20;
    const rssMB = Object.fromEntries(shape.processes.map((p) => [p.name, rssBytes(p.pid) / 2 ** 20]));
    let missing = 0;
    for (const id of load.collected) for (const k of ['stored', 'collected']) if (sms.counts.get(`${id}.${k}.sms`) !== 1) missing++;
    const lost = load.lost().length;
    const dups = sms.duplicates().length;
    const nothingLost: Result['nothingLost'] = {
      ok: lost === 0 && dups === 0 && missing === 0 && load.errors.count === 0 && load.collected.size > 0 && (gauges.lg_parcels ?? 0) === 0 && backlogAfter === 0,
      deposited: load.deposited.size,
      collected: load.collected.size,
      lost,
      smsKeys: sms.counts.size,
      smsDuplicates: dups,
      smsMissing: missing,
      errors: load.errors.count,
      topErrors: load.errors.top(),
      gaugesAfter: gauges,
      notifyBacklog: { atWindowEnd: backlogAtWindowEnd, after: backlogAfter },
    };
    await sims.stop();
    sims = null;
    await shape.stop();
    await redis.stop();
    await sms.stop();
    const merged = new Map<string, { level: string; msg: string; count: number }>();
    for (const file of shape.logFiles) {
      for (const x of logWarnings(file, 20)) {
        const m = merged.get(`${x.level} ${x.msg}`) ?? { ...x, count: 0 };
        m.count += x.count;
        merged.set(`${x.level} ${x.msg}`, m);
      }
    }
    const warnings = [...merged.values()].sort((x, y) => y.count - x.count).slice(0, 5);

    let floor: FloorResult | null = null;
    if (o.floorSeconds > 0) {
      const rate = (u: UnitProfile) => window.perUnitPerS[u.id] ?? 1;
      floor = await runFloor({ units, credentialsFile: files.credentialsFile, autopilotMs: o.autopilotMs, seconds: o.floorSeconds, warmup: 2, rate, progress });
    }
    const latencyOf = (unit: string, dialect: string, ids: string[]): UnitLatency => {
      const g = dist(ids.flatMap((id) => samples.c2o.get(id) ?? []));
      const fl = floor ? dist(ids.flatMap((id) => floor!.samples.of('code-to-open', id))) : null;
      return { unit, dialect, gateway: g, floor: fl, ratio: fl ? { p50: g.p50 / fl.p50, p95: g.p95 / fl.p95, p99: g.p99 / fl.p99 } : null };
    };
    const codeToOpen = units.map((u) => latencyOf(u.id, u.dialect, [u.id]));
    const dialects = [...new Set(units.map((u) => u.dialect))];
    const codeToOpenByDialect = dialects.map((d) => {
      const ids = units.filter((u) => u.dialect === d).map((u) => u.id);
      return latencyOf(`all ${ids.length} ${d} units`, d, ids);
    });
    return {
      units,
      gatewayEnv: { ...BENCH_ENV, ...(o.workersProcess ? { ROLE: 'gateway + workers' } : {}), ...(o.gateways > 1 ? { UNIT_LEASES: 'on', ...LEASE_ENV } : {}) },
      shape: shape.describe,
      rssMB,
      load,
      c2oWindow: samples.c2o,
      window,
      latency: { deposit: dist(samples.deposit), codeSms: dist(samples.codeSms), collectedSms: dist(samples.collectedSms), codeToOpen, codeToOpenByDialect },
      gateway: { rssMBAtEnd, peakRssMB: Math.max(peakRss / 2 ** 20, rssMBAtEnd), commandsPerLifecycle: commands, warnings },
      memory,
      nothingLost,
      floor,
    };
  } finally {
    progress.stop();
    await sims?.stop().catch(() => {});
    await shape.stop().catch(() => {});
    await redis.stop().catch(() => {});
    await sms.stop().catch(() => {});
  }
}
