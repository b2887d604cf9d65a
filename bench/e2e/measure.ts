/**
 * Readings taken at the start and the end of the measured window, and what they mean per lifecycle.
 *
 * Redis commands, three ways:
 * - server calls: `INFO commandstats` (every command Redis ran, commands run inside Lua scripts included), minus
 *   the bench's own INFO;
 * - gateway commands: the commands the gateway's ioredis clients sent (BullMQ's included), counted inside the
 *   gateway process by count-redis.mjs;
 * - round trips: of those, a command sent on its own is one round trip (the client waits for its answer before it
 *   depends on it), a pipeline or MULTI batch (ioredis Pipeline, also what auto-pipelining uses) is one round trip
 *   for all its commands: round trips = commands - pipelined commands + pipeline flushes. Blocking reads (the engine's
 *   XREADGROUP, BullMQ's waits) are round trips too. `INFO stats` total_commands_processed is reported beside it
 *   (it counts what commandstats counts).
 */
import type { Redis } from 'ioredis';
import { cpuMs, type GatewayProcess, type RedisCount } from './procs.js';
import type { NamedProcess } from './shape.js';

export async function info(r: Redis, section: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const line of (await r.info(section)).split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

async function commandCalls(r: Redis): Promise<Map<string, number>> {
  const m = new Map<string, number>();
  for (const [k, v] of Object.entries(await info(r, 'commandstats'))) {
    const calls = /calls=(\d+)/.exec(v);
    if (calls) m.set(k.replace(/^cmdstat_/, ''), Number(calls[1]));
  }
  return m;
}

export interface Reading {
  t: number;
  completed: number;
  perUnit: Map<string, number>;
  /** the gateway-side processes' CPU, summed (gateways and workers process) */
  gatewayCpuMs: number;
  /** each process of the shape (the external broker too) */
  processCpuMs: Map<string, number>;
  simsCpuMs: number;
  redisCpuS: number;
  driverCpuUs: number;
  calls: Map<string, number>;
  totalCommandsProcessed: number;
  gateway: RedisCount;
  /** each counted process's own counts, by process name */
  perProcess: Map<string, RedisCount>;
}

/** The Redis counts of several processes, summed. */
function sumCounts(counts: RedisCount[]): RedisCount {
  const out: RedisCount = { commands: 0, pipelined: 0, pipelines: 0, alone: {}, heapUsed: 0 };
  for (const c of counts) {
    out.commands += c.commands;
    out.pipelined += c.pipelined;
    out.pipelines += c.pipelines;
    out.heapUsed += c.heapUsed;
    for (const [k, v] of Object.entries(c.alone)) out.alone[k] = (out.alone[k] ?? 0) + v;
  }
  return out;
}

export async function read(o: { admin: Redis; counted: GatewayProcess[]; countedNames?: string[]; processes: NamedProcess[]; simsPid: number; completed: number; perUnit: Map<string, number> }): Promise<Reading> {
  const [cpu, stats, calls, counts] = await Promise.all([info(o.admin, 'cpu'), info(o.admin, 'stats'), commandCalls(o.admin), Promise.all(o.counted.map((g) => g.redisCount()))]);
  const c = process.cpuUsage();
  const processCpuMs = new Map(o.processes.map((p) => [p.name, cpuMs(p.pid)]));
  return {
    t: performance.now(),
    completed: o.completed,
    perUnit: new Map(o.perUnit),
    gatewayCpuMs: o.processes.filter((p) => p.gatewaySide).reduce((sum, p) => sum + processCpuMs.get(p.name)!, 0),
    processCpuMs,
    simsCpuMs: cpuMs(o.simsPid),
    redisCpuS: Number(cpu.used_cpu_user) + Number(cpu.used_cpu_sys),
    driverCpuUs: c.user + c.system,
    calls,
    totalCommandsProcessed: Number(stats.total_commands_processed),
    gateway: sumCounts(counts),
    perProcess: new Map(counts.map((c, i) => [o.countedNames?.[i] ?? String(i), c])),
  };
}

export interface WindowFigures {
  seconds: number;
  lifecycles: number;
  lifecyclesPerS: number;
  perUnitPerS: Record<string, number>;
  /** summed over the gateway-side processes (gateways and workers process) */
  gatewayCpuMsPerLifecycle: number;
  /** each process of the shape: % of one core and CPU ms per lifecycle (gatewaySide: counted in the gateway's sum) */
  processes: { name: string; cpuPct: number; cpuMsPerLifecycle: number; redisCommandsPerLifecycle?: number; roundTripsPerLifecycle?: number }[];
  /** % of one core */
  cpuPct: { gateway: number; redis: number; sims: number; driver: number };
  redis: {
    serverCallsPerLifecycle: number;
    totalCommandsProcessedPerLifecycle: number;
    gatewayCommandsPerLifecycle: number;
    roundTripsPerLifecycle: number;
    pipelinesPerLifecycle: number;
    top: { command: string; perLifecycle: number }[];
    /** the gateway's round trips of single commands, by command */
    aloneTop: { command: string; perLifecycle: number }[];
  };
  gatewayHeapMBAtEnd: number;
}

export function figures(a: Reading, b: Reading): WindowFigures {
  const seconds = (b.t - a.t) / 1000;
  const n = b.completed - a.completed;
  const per = (x: number) => (n > 0 ? x / n : NaN);
  const pctOf = (ms: number) => (ms / 1000 / seconds) * 100;
  let serverCalls = 0;
  const top: { command: string; perLifecycle: number }[] = [];
  for (const [cmd, calls] of b.calls) {
    const d = calls - (a.calls.get(cmd) ?? 0);
    if (cmd === 'info' || d <= 0) continue; // the bench's own readings
    serverCalls += d;
    top.push({ command: cmd, perLifecycle: per(d) });
  }
  top.sort((x, y) => y.perLifecycle - x.perLifecycle);
  const infoCalls = (b.calls.get('info') ?? 0) - (a.calls.get('info') ?? 0);
  const g = { commands: b.gateway.commands - a.gateway.commands, pipelined: b.gateway.pipelined - a.gateway.pipelined, pipelines: b.gateway.pipelines - a.gateway.pipelines };
  const aloneTop = Object.entries(b.gateway.alone)
    .map(([command, c]) => ({ command, perLifecycle: per(c - (a.gateway.alone[command] ?? 0)) }))
    .filter((x) => x.perLifecycle > 0)
    .sort((x, y) => y.perLifecycle - x.perLifecycle)
    .slice(0, 10);
  const perUnitPerS: Record<string, number> = {};
  for (const [u, c] of b.perUnit) perUnitPerS[u] = (c - (a.perUnit.get(u) ?? 0)) / seconds;
  return {
    seconds,
    lifecycles: n,
    lifecyclesPerS: n / seconds,
    perUnitPerS,
    gatewayCpuMsPerLifecycle: per(b.gatewayCpuMs - a.gatewayCpuMs),
    processes: [...b.processCpuMs].map(([name, ms]) => {
      const cb = b.perProcess.get(name);
      const ca = a.perProcess.get(name);
      const redis = cb && ca ? { redisCommandsPerLifecycle: per(cb.commands - ca.commands), roundTripsPerLifecycle: per(cb.commands - ca.commands - (cb.pipelined - ca.pipelined) + (cb.pipelines - ca.pipelines)) } : {};
      return { name, cpuPct: pctOf(ms - (a.processCpuMs.get(name) ?? 0)), cpuMsPerLifecycle: per(ms - (a.processCpuMs.get(name) ?? 0)), ...redis };
    }),
    cpuPct: {
      gateway: pctOf(b.gatewayCpuMs - a.gatewayCpuMs),
      redis: pctOf((b.redisCpuS - a.redisCpuS) * 1000),
      sims: pctOf(b.simsCpuMs - a.simsCpuMs),
      driver: pctOf((b.driverCpuUs - a.driverCpuUs) / 1000),
    },
    redis: {
      serverCallsPerLifecycle: per(serverCalls),
      totalCommandsProcessedPerLifecycle: per(b.totalCommandsProcessed - a.totalCommandsProcessed - infoCalls),
      gatewayCommandsPerLifecycle: per(g.commands),
      roundTripsPerLifecycle: per(g.commands - g.pipelined + g.pipelines),
      pipelinesPerLifecycle: per(g.pipelines),
      top: top.slice(0, 10),
      aloneTop,
    },
    gatewayHeapMBAtEnd: b.gateway.heapUsed / 2 ** 20,
  };
}
