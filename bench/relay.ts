/**
 * The notification outbox relay alone: entries/s, Node CPU per entry and Redis calls per entry. Prints figures;
 * never a test.
 *
 *   npx tsx bench/relay.ts                 # 300 lifecycles' outbox entries (stored, collected, reminders, cancels)
 *   npx tsx bench/relay.ts --parcels 1000
 *   npx tsx bench/relay.ts --cpu-prof /tmp/relay.cpuprofile   # a CPU profile of the drain alone
 *   npx tsx bench/relay.ts --send 20        # relay AND notification workers, fed 20 lifecycles' entries a second
 *   npx tsx bench/relay.ts --send 0 --serial   # the same, one transaction's entries at a time, each handled to the end
 *
 * --send RATE: the notification side of a ROLE=workers process (startNotify: relay, BullMQ workers, delivery evidence,
 * the reminders' stillWanted read) with SMS to a local HTTP receiver that answers 200; the lifecycles' entries are
 * fed into the outbox at RATE lifecycles/s (as a busy gateway writes them), and the run ends when every text has
 * arrived and no job is left waiting or active. Reports CPU per lifecycle and Redis commands sent per lifecycle by
 * name, alone or pipelined (a command sent alone is one socket write and one round trip).
 *
 * Real lifecycles through ParcelService (as bench/memory.ts runs them) leave their outbox entries in the stream; then
 * one OutboxRelay.drainOnce() turns them into BullMQ jobs (no workers: sending is not measured here). CPU time is the
 * process's own (process.cpuUsage), so it is less sensitive to a loaded machine than a rate is.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Pipeline, Redis } from 'ioredis';
import { parseConfig } from '../src/config/config.js';
import { systemClock } from '../src/domain/clock.js';
import { startNotify } from '../src/runtime/wiring/notify.js';
import { EvidenceLog } from '../src/evidence/index.js';
import { silentLogger } from '../src/log.js';
import { Counters } from '../src/metrics.js';
import { Notifier } from '../src/notify/notifier.js';
import { OutboxRelay } from '../src/notify/outbox.js';
import { ParcelStore } from '../src/store/parcels.js';
import { closeOnParcels, collectAll, depositRound, standInParcels, storedCodes, unitsReady } from '../test/support/parcel-service.js';
import { TestRedis } from '../test/support/redis.js';
// counts every ioredis command this process sends (BullMQ's included): one socket write each unless pipelined
import { sent } from './inproc/report.js';

const { values: opt } = parseArgs({ options: { parcels: { type: 'string', default: '300' }, 'cpu-prof': { type: 'string' }, send: { type: 'string' }, serial: { type: 'boolean', default: false } } });
const N = Number(opt.parcels);
const PREFIX = 'relay:';

const server = await new TestRedis().start();
const redis = new Redis(server.url);
const codeKey = randomBytes(32);
const { store, couriers, service } = standInParcels(redis, PREFIX, codeKey);
await unitsReady(store);
const { courier } = await couriers.issue({ name: 'Bench', carrier: 'SF' });

// Whole lifecycles, in rounds (the compartments are reused once collected); the outbox keeps every entry.
let phone = 13900000000;
let made = 0;
while (made < N) {
  const round = await depositRound(service, courier, N - made, { tracking: (i) => `R${made + i}`, phone: () => String(phone++) });
  const from = (await redis.xrevrange(`${PREFIX}outbox`, '+', '-', 'COUNT', 1))[0]?.[0] ?? '0';
  await closeOnParcels(service, round);
  await collectAll(service, codeKey, round, await storedCodes(redis, `${PREFIX}outbox`, `(${from}`));
  made += round.length;
}
const entries = await redis.xlen(`${PREFIX}outbox`);
const kinds = new Map<string, number>();
for (const [, f] of await redis.xrange(`${PREFIX}outbox`, '-', '+')) {
  const k = f[1] === 'cancel' ? 'cancel' : `${(JSON.parse(f[3]!) as { kind: string }).kind}`;
  kinds.set(k, (kinds.get(k) ?? 0) + 1);
}

if (opt.send) {
  await sendMode(Number(opt.send));
  process.exit(0);
}

const notifier = new Notifier({
  connection: () => new Redis(server.url, { maxRetriesPerRequest: null }),
  config: { prefix: `${PREFIX}bull`, timeZone: 'Asia/Shanghai', quietHours: null, sms: { url: 'http://127.0.0.1:9/sms', ratePerSecond: 1000 }, propertyWebhook: null, attempts: 3, backoffMs: 1000 },
  logger: silentLogger,
});
const relay = new OutboxRelay({ redis: redis.duplicate(), keyPrefix: PREFIX, notifier, logger: silentLogger, consumer: 'bench' });
const calls = async () => {
  const info = await redis.info('commandstats');
  let n = 0;
  for (const m of info.matchAll(/calls=(\d+)/g)) n += Number(m[1]);
  return n;
};
await Promise.all(notifier.queues().map((q) => q.waitUntilReady()));
const c0 = await calls();
const s0 = { ...sent };
const stopProfile = await startProfile();
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const handled = await relay.drainOnce();
const ms = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
await stopProfile();
const serverCalls = (await calls()) - c0 - 2;
const per = (x: number) => (x / handled).toFixed(2);
console.log(`outbox: ${entries} entries from ${N} lifecycles (per lifecycle: ${[...kinds].map(([k, v]) => `${k} ${(v / N).toFixed(2)}`).join(', ')})`);
console.log(`relay: ${handled} entries in ${ms.toFixed(0)} ms = ${((handled / ms) * 1000).toFixed(0)} entries/s (${((handled / ms) * 1000 * N / entries).toFixed(0)} lifecycles' worth/s)`);
console.log(`node CPU: ${((cpu.user + cpu.system) / 1000 / handled).toFixed(3)} ms per entry (user ${(cpu.user / 1000 / handled).toFixed(3)}, system ${(cpu.system / 1000 / handled).toFixed(3)}), ${((cpu.user + cpu.system) / 1000 / N).toFixed(2)} ms per lifecycle`);
console.log(`redis: ${per(serverCalls)} server-side calls per entry, ${per(sent.commands - s0.commands)} commands sent per entry (${per(sent.pipelined - s0.pipelined)} of them pipelined)`);
console.log(`jobs: ${JSON.stringify(Object.fromEntries(await Promise.all(notifier.queues().map(async (q) => [q.name, await q.getJobCountByTypes('waiting', 'delayed')]))))} waiting or delayed, ${await notifier.later.count()} in the later-store`);
await notifier.close();
redis.disconnect();
await server.destroy();
process.exit(0);

/** --send: relay + workers as ROLE=workers runs them, fed at `rate` lifecycles/s (see the header). */
async function sendMode(rate: number): Promise<void> {
  const source = `${PREFIX}outbox-source`;
  await redis.rename(`${PREFIX}outbox`, source);
  const all = await redis.xrange(source, '-', '+');
  // the SMS receiver in a child process (its HTTP work is not the workers' CPU): counts texts per Idempotency-Key
  const code = `const seen = new Map(); require('http').createServer((q, s) => { q.resume(); q.on('end', () => {
    if (q.method === 'GET') { s.end(JSON.stringify({ texts: seen.size, twice: [...seen.values()].filter((n) => n > 1).length })); return; }
    const k = String(q.headers['idempotency-key']); seen.set(k, (seen.get(k) ?? 0) + 1);
    s.writeHead(200, { 'content-type': 'application/json' }); s.end('{}'); }); })
    .listen(0, '127.0.0.1', function () { console.log(this.address().port); });`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve) => child.stdout.once('data', (b: Buffer) => resolve(Number(b.toString().trim()))));
  const received = async () => (await (await fetch(`http://127.0.0.1:${port}/count`)).json()) as { texts: number; twice: number };
  const expected = all.filter(([, f]) => f[1] === 'notice' && /"sms":/.test(f[3] ?? '') && !/"kind":"reminder"/.test(f[3] ?? '')).length;
  const config = parseConfig({ REDIS_URL: server.url, REDIS_PREFIX: PREFIX, SMS_URL: `http://127.0.0.1:${port}/sms`, SMS_RATE_PER_S: '1000', QUIET_HOURS: 'off', LOG_LEVEL: 'warn' });
  const feeder = redis.duplicate();
  // counted: every command of the notification side (not the feeder's)
  const byName = new Map<string, { alone: number; piped: number }>();
  let pipelines = 0;
  const proto = Redis.prototype as unknown as { sendCommand: (this: Redis, cmd: { name: string }, stream?: unknown, node?: unknown) => unknown };
  const orig = proto.sendCommand;
  proto.sendCommand = function (this: Redis, cmd: { name: string }, stream?: unknown, node?: unknown) {
    if (this !== feeder && this !== redis) {
      const c = byName.get(cmd.name) ?? { alone: 0, piped: 0 };
      if (stream) c.piped++;
      else c.alone++;
      byName.set(cmd.name, c);
    }
    return orig.call(this, cmd, stream, node);
  };
  const pproto = Pipeline.prototype as unknown as { exec: (...a: unknown[]) => unknown };
  const pexec = pproto.exec;
  pproto.exec = function (this: { redis: Redis }, ...a: unknown[]) {
    if (this.redis !== feeder && this.redis !== redis) pipelines++;
    return pexec.apply(this, a);
  };
  const counters = new Counters();
  const cleanups: (() => Promise<unknown>)[] = [];
  const wiredRedis = new Redis(server.url, { enableAutoPipelining: true });
  const evidence = new EvidenceLog(wiredRedis, PREFIX);
  const { notifier } = startNotify({ config, redis: wiredRedis, evidenceLog: evidence, parcelStore: new ParcelStore(wiredRedis, PREFIX, evidence), clock: systemClock, logger: silentLogger, counters, cleanups, run: true });
  await Promise.all(notifier.queues().map((q) => q.waitUntilReady()));
  await new Promise((r) => setTimeout(r, 500));
  byName.clear();
  pipelines = 0;
  const perLifecycle = all.length / N;
  const stopProfile = await startProfile();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  // idle: nothing waiting or active in any queue, the outbox emptied (read from the feeder's connection: not counted)
  const idleKeys = notifier.queues().flatMap((q) => [q.toKey('wait'), q.toKey('active'), q.toKey('prioritized')]);
  const idle = async () => {
    const pipe = feeder.pipeline();
    for (const k of idleKeys) pipe.exists(k);
    pipe.xlen(`${PREFIX}outbox`);
    return ((await pipe.exec()) ?? []).every(([, n]) => n === 0);
  };
  const settle = async (texts: number) => {
    while (!(await idle()) || (await received()).texts < texts) await new Promise((r) => setTimeout(r, 5));
  };
  if (opt.serial) {
    // one transaction's entries at a time (entries of one Lua call share their id's millisecond), each handled to
    // the end before the next: the per-lifecycle counts then do not depend on how entries happen to be batched
    const groups: (typeof all)[] = [];
    for (const e of all) {
      const last = groups.at(-1);
      if (last && last[0]![0].split('-')[0] === e[0].split('-')[0]) last.push(e);
      else groups.push([e]);
    }
    let sms = 0;
    for (const g of groups) {
      const pipe = feeder.pipeline();
      for (const [, f] of g) pipe.xadd(`${PREFIX}outbox`, '*', ...f);
      await pipe.exec();
      sms += g.filter(([, f]) => f[1] === 'notice' && /"sms":/.test(f[3] ?? '') && !/"kind":"reminder"/.test(f[3] ?? '')).length;
      await settle(sms);
    }
  } else {
    let fed = 0;
    while (fed < all.length) {
      const due = Math.min(all.length, Math.floor(((performance.now() - t0) / 1000) * rate * perLifecycle) + 1);
      if (due > fed) {
        const pipe = feeder.pipeline();
        for (const [, f] of all.slice(fed, due)) pipe.xadd(`${PREFIX}outbox`, '*', ...f);
        await pipe.exec();
        fed = due;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  await settle(expected);
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  await stopProfile();
  const { texts, twice } = await received();
  const sum = (k: 'alone' | 'piped') => [...byName.values()].reduce((a, c) => a + c[k], 0);
  console.log(`send: ${N} lifecycles (${all.length} entries) fed ${opt.serial ? 'one transaction at a time' : `at ${rate}/s`}, done in ${(ms / 1000).toFixed(1)} s; ${texts} texts of ${expected} expected, ${twice} twice`);
  console.log(`node CPU: ${((cpu.user + cpu.system) / 1000 / N).toFixed(2)} ms per lifecycle (user ${(cpu.user / 1000 / N).toFixed(2)}, system ${(cpu.system / 1000 / N).toFixed(2)})`);
  console.log(`redis per lifecycle: ${((sum('alone') + sum('piped')) / N).toFixed(1)} commands sent, ${((sum('alone') + pipelines) / N).toFixed(1)} round trips (${(sum('alone') / N).toFixed(1)} alone, ${(pipelines / N).toFixed(1)} pipelines)`);
  for (const [name, c] of [...byName].sort((a, b) => b[1].alone + b[1].piped - a[1].alone - a[1].piped)) {
    console.log(`  ${name.padEnd(16)} alone ${(c.alone / N).toFixed(2).padStart(6)}  pipelined ${(c.piped / N).toFixed(2).padStart(6)}`);
  }
  for (const fn of cleanups.reverse()) await fn();
  feeder.disconnect();
  wiredRedis.disconnect();
  child.kill('SIGTERM');
  redis.disconnect();
  await server.destroy();
}

/** --cpu-prof FILE: profiles from here to the returned function's call, which writes FILE. */
async function startProfile(): Promise<() => Promise<void>> {
  const file = opt['cpu-prof'];
  if (!file) return async () => undefined;
  const profiler = new Session();
  profiler.connect();
  await profiler.post('Profiler.enable');
  await profiler.post('Profiler.start');
  return async () => {
    const { profile } = await profiler.post('Profiler.stop');
    writeFileSync(file, JSON.stringify(profile));
  };
}
