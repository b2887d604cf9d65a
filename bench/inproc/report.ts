/**
 * bench/lifecycle.ts's measuring and reporting: the commands this process sends (counted in ioredis), step timings,
 * Redis and process figures before and after the measured window, and the printed report.
 */
import { Redis } from 'ioredis';
import type { Counters } from '../../src/metrics.js';

export type Mode = 'service' | 'engine' | 'stack';

const PREFIX = 'lg:';

/**
 * Every ioredis command this process sends (BullMQ's included), how many of them went in pipelines, and how many
 * pipelines (each pipeline's commands share one write stream): round trips = commands − pipelined + pipelines.
 */
export const sent = { commands: 0, pipelined: 0, pipelines: 0 };
{
  const proto = Redis.prototype as unknown as { sendCommand: (this: Redis, cmd: unknown, stream?: unknown, node?: unknown) => unknown };
  const orig = proto.sendCommand;
  const streams = new WeakSet<object>();
  proto.sendCommand = function (this: Redis, cmd: unknown, stream?: unknown, node?: unknown) {
    sent.commands++;
    if (stream) {
      sent.pipelined++;
      if (typeof stream === 'object' && !streams.has(stream)) {
        streams.add(stream);
        sent.pipelines++;
      }
    }
    return orig.call(this, cmd, stream, node);
  };
}

export type Step =
  | 'deposit'
  | 'door opened (depositing)'
  | 'door closed (stored)'
  | 'code typed (open)'
  | 'door opened (collecting)'
  | 'door closed (collected)';

export class Stats {
  readonly steps = new Map<string, number[]>();
  lifecycles = 0;
  errors = 0;
  firstError: string | null = null;
  readonly lifecycleMs: number[] = [];
  record(step: string, ms: number): void {
    let a = this.steps.get(step);
    if (!a) this.steps.set(step, (a = []));
    a.push(ms);
  }
  fail(err: unknown): void {
    this.errors++;
    this.firstError ??= err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  }
}

export function pct(a: number[], p: number): number {
  if (!a.length) return NaN;
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

export async function info(r: Redis, section: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const line of (await r.info(section)).split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/** INFO commandstats as calls per command (commands run inside Lua scripts are counted too). */
export async function commandCalls(r: Redis): Promise<Map<string, number>> {
  const m = new Map<string, number>();
  for (const [k, v] of Object.entries(await info(r, 'commandstats'))) {
    const calls = /calls=(\d+)/.exec(v);
    if (calls) m.set(k.replace(/^cmdstat_/, ''), Number(calls[1]));
  }
  return m;
}

export interface Window {
  t: number;
  cpu: NodeJS.CpuUsage;
  elu: ReturnType<typeof performance.eventLoopUtilization>;
  calls: Map<string, number>;
  redisCpu: number;
  redisMem: number;
  sent: { commands: number; pipelined: number; pipelines: number };
  lifecycles: number;
  /** entries waiting in the outbox stream (not yet turned into jobs) */
  outbox: number;
  /** notifications delivered (SMS to the provider, others to the console channel) */
  delivered: number;
  /** outbox entries written by parcel steps */
  outboxWritten: number;
}

let outboxWritten = (): number => NaN;
/** How many outbox entries the run wrote so far (the mode's store counts them; NaN where nobody counts). */
export function countOutboxWith(f: () => number): void {
  outboxWritten = f;
}

export async function snapshot(admin: Redis, stats: Stats, counters: Counters): Promise<Window> {
  const cpu = await info(admin, 'cpu');
  const mem = await info(admin, 'memory');
  return {
    t: performance.now(),
    cpu: process.cpuUsage(),
    elu: performance.eventLoopUtilization(),
    calls: await commandCalls(admin),
    redisCpu: Number(cpu.used_cpu_user) + Number(cpu.used_cpu_sys),
    redisMem: Number(mem.used_memory),
    sent: { ...sent },
    lifecycles: stats.lifecycles,
    outbox: await admin.xlen(`${PREFIX}outbox`),
    delivered: ['sms', 'webhook', 'console'].reduce((n, channel) => n + counters.get('notify_sent_total', { channel }), 0),
    outboxWritten: outboxWritten(),
  };
}

export interface Report {
  mode: Mode;
  settings: Record<string, unknown>;
  seconds: number;
  lifecycles: number;
  lifecyclesPerS: number;
  errors: number;
  firstError: string | null;
  steps: { step: string; n: number; p50: number; p99: number }[];
  lifecycle: { p50: number; p99: number };
  redis: {
    serverCallsPerLifecycle: number;
    clientCommandsPerLifecycle: number;
    pipelinedPerLifecycle: number;
    roundTripsPerLifecycle: number;
    top: { command: string; perLifecycle: number }[];
    cpuPct: number;
    memBytesPerLifecycle: number;
  };
  notify: {
    outboxAtStart: number;
    outboxAtEnd: number;
    outboxEntriesPerLifecycle: number;
    deliveredPerLifecycle: number;
    /** after the load stopped: the relay working off the backlog alone */
    drain?: { entries: number; seconds: number; perS: number; lifecyclesPerS: number };
  };
  node: { cpuPct: number; eventLoopUtilization: number; eventLoopDelayP99Ms: number; rssMB: number; heapUsedMB: number; peakRssMB: number };
  counters: Record<string, number>;
}

export function summarize(mode: Mode, settings: Record<string, unknown>, stats: Stats, a: Window, b: Window, extra: { peakRss: number; eld: number; counters: Counters }): Report {
  const seconds = (b.t - a.t) / 1000;
  const n = b.lifecycles - a.lifecycles;
  const per = (x: number) => (n ? x / n : NaN);
  let serverCalls = 0;
  const top: { command: string; perLifecycle: number }[] = [];
  for (const [cmd, calls] of b.calls) {
    const d = calls - (a.calls.get(cmd) ?? 0);
    // the bench's own INFO calls are not the product's
    if (cmd === 'info' || d <= 0) continue;
    serverCalls += d;
    top.push({ command: cmd, perLifecycle: per(d) });
  }
  top.sort((x, y) => y.perLifecycle - x.perLifecycle);
  const cpuUs = b.cpu.user - a.cpu.user + (b.cpu.system - a.cpu.system);
  const mem = process.memoryUsage();
  const counters: Record<string, number> = {};
  for (const name of ['lg_parcel_step_retries_total', 'lg_allocation_races_total', 'lg_command_repeats_total', 'notify_outbox_malformed_total']) {
    counters[name] = extra.counters.total(name);
  }
  return {
    mode,
    settings,
    seconds,
    lifecycles: n,
    lifecyclesPerS: n / seconds,
    errors: stats.errors,
    firstError: stats.firstError,
    steps: [...stats.steps].map(([step, xs]) => ({ step, n: xs.length, p50: pct(xs, 50), p99: pct(xs, 99) })),
    lifecycle: { p50: pct(stats.lifecycleMs, 50), p99: pct(stats.lifecycleMs, 99) },
    redis: {
      serverCallsPerLifecycle: per(serverCalls),
      clientCommandsPerLifecycle: per(b.sent.commands - a.sent.commands),
      pipelinedPerLifecycle: per(b.sent.pipelined - a.sent.pipelined),
      roundTripsPerLifecycle: per(b.sent.commands - a.sent.commands - (b.sent.pipelined - a.sent.pipelined) + (b.sent.pipelines - a.sent.pipelines)),
      top: top.slice(0, 12),
      cpuPct: ((b.redisCpu - a.redisCpu) / seconds) * 100,
      memBytesPerLifecycle: per(b.redisMem - a.redisMem),
    },
    notify: {
      outboxAtStart: a.outbox,
      outboxAtEnd: b.outbox,
      outboxEntriesPerLifecycle: per(b.outboxWritten - a.outboxWritten),
      deliveredPerLifecycle: per(b.delivered - a.delivered),
    },
    node: {
      cpuPct: (cpuUs / 1000 / (b.t - a.t)) * 100,
      eventLoopUtilization: performance.eventLoopUtilization(b.elu, a.elu).utilization,
      eventLoopDelayP99Ms: extra.eld,
      rssMB: mem.rss / 2 ** 20,
      heapUsedMB: mem.heapUsed / 2 ** 20,
      peakRssMB: extra.peakRss / 2 ** 20,
    },
    counters,
  };
}

export function print(r: Report): void {
  const f = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');
  console.log(`\n=== mode ${r.mode}  ${JSON.stringify(r.settings)}`);
  console.log(`lifecycles: ${r.lifecycles} in ${f(r.seconds)} s = ${f(r.lifecyclesPerS)} lifecycles/s   errors: ${r.errors}${r.firstError ? ` (first: ${r.firstError})` : ''}`);
  console.log(`lifecycle latency p50 ${f(r.lifecycle.p50)} ms  p99 ${f(r.lifecycle.p99)} ms`);
  console.log('step latency (ms)                    n       p50      p99');
  for (const s of r.steps) console.log(`  ${s.step.padEnd(30)} ${String(s.n).padStart(7)} ${f(s.p50, 2).padStart(9)} ${f(s.p99, 2).padStart(8)}`);
  console.log(
    `redis per lifecycle: ${f(r.redis.serverCallsPerLifecycle)} server-side calls (Lua-internal included), ` +
      `${f(r.redis.clientCommandsPerLifecycle)} commands sent by this process (${f(r.redis.pipelinedPerLifecycle)} of them pipelined), ${f(r.redis.roundTripsPerLifecycle)} round trips`,
  );
  console.log(`  top: ${r.redis.top.map((t) => `${t.command} ${f(t.perLifecycle)}`).join(', ')}`);
  console.log(`  redis-server CPU ${f(r.redis.cpuPct)}% of a core, memory +${f(r.redis.memBytesPerLifecycle / 1024, 2)} KiB per lifecycle (kept)`);
  console.log(
    `notifications: outbox backlog ${r.notify.outboxAtStart} -> ${r.notify.outboxAtEnd} entries` +
      (r.settings.notify === 'off'
        ? ' (no relay in this run), '
        : `${r.notify.outboxAtEnd > r.notify.outboxAtStart + 100 ? ' (the relay is NOT keeping up)' : ''}, `) +
      `${f(r.notify.deliveredPerLifecycle, 2)} deliveries per lifecycle in the window` +
      (Number.isFinite(r.notify.outboxEntriesPerLifecycle) ? `, ${f(r.notify.outboxEntriesPerLifecycle, 2)} outbox entries written per lifecycle` : ''),
  );
  if (r.notify.drain) {
    const d = r.notify.drain;
    console.log(
      `  relay alone after the load: ${d.entries} entries in ${f(d.seconds)} s = ${f(d.perS, 0)} entries/s ` +
        `(the notices of ${f(d.lifecyclesPerS, 0)} lifecycles/s)`,
    );
  }
  console.log(
    `node: CPU ${f(r.node.cpuPct)}% of a core, event loop busy ${f(r.node.eventLoopUtilization * 100)}%, loop delay p99 ${f(r.node.eventLoopDelayP99Ms)} ms, ` +
      `RSS ${f(r.node.rssMB)} MB (peak ${f(r.node.peakRssMB)}), heap used ${f(r.node.heapUsedMB)} MB`,
  );
  if (Object.keys(r.counters).length) console.log(`counters: ${JSON.stringify(r.counters)}`);
}

// ------------------------------------------------------------------------------------------------ shared set-up

