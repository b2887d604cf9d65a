/**
 * The notification outbox relay alone: entries/s, Node CPU per entry and Redis calls per entry. Prints figures;
 * never a test.
 *
 *   npx tsx bench/relay.ts                 # 300 lifecycles' outbox entries (stored, collected, reminders, cancels)
 *   npx tsx bench/relay.ts --parcels 1000
 *   npx tsx bench/relay.ts --cpu-prof /tmp/relay.cpuprofile   # a CPU profile of the drain alone
 *
 * Real lifecycles through ParcelService (as bench/memory.ts runs them) leave their outbox entries in the stream; then
 * one OutboxRelay.drainOnce() turns them into BullMQ jobs (no workers: sending is not measured here). CPU time is the
 * process's own (process.cpuUsage), so it is less sensitive to a loaded machine than a rate is.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { silentLogger } from '../src/log.js';
import { Notifier } from '../src/notify/notifier.js';
import { OutboxRelay } from '../src/notify/outbox.js';
import { closeOnParcels, collectAll, depositRound, standInParcels, storedCodes, unitsReady } from '../test/support/parcel-service.js';
import { TestRedis } from '../test/support/redis.js';
// counts every ioredis command this process sends (BullMQ's included): one socket write each unless pipelined
import { sent } from './inproc/report.js';

const { values: opt } = parseArgs({ options: { parcels: { type: 'string', default: '300' }, 'cpu-prof': { type: 'string' } } });
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
const profiler = opt['cpu-prof'] ? new Session() : null;
if (profiler) {
  profiler.connect();
  await profiler.post('Profiler.enable');
  await profiler.post('Profiler.start');
}
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const handled = await relay.drainOnce();
const ms = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
if (profiler) {
  const { profile } = await profiler.post('Profiler.stop');
  writeFileSync(opt['cpu-prof']!, JSON.stringify(profile));
}
const serverCalls = (await calls()) - c0 - 2;
const per = (x: number) => (x / handled).toFixed(2);
console.log(`outbox: ${entries} entries from ${N} lifecycles (per lifecycle: ${[...kinds].map(([k, v]) => `${k} ${(v / N).toFixed(2)}`).join(', ')})`);
console.log(`relay: ${handled} entries in ${ms.toFixed(0)} ms = ${((handled / ms) * 1000).toFixed(0)} entries/s (${((handled / ms) * 1000 * N / entries).toFixed(0)} lifecycles' worth/s)`);
console.log(`node CPU: ${((cpu.user + cpu.system) / 1000 / handled).toFixed(3)} ms per entry (user ${(cpu.user / 1000 / handled).toFixed(3)}, system ${(cpu.system / 1000 / handled).toFixed(3)}), ${((cpu.user + cpu.system) / 1000 / N).toFixed(2)} ms per lifecycle`);
console.log(`redis: ${per(serverCalls)} server-side calls per entry, ${per(sent.commands - s0.commands)} commands sent per entry (${per(sent.pipelined - s0.pipelined)} of them pipelined)`);
console.log(`jobs: ${JSON.stringify(Object.fromEntries(await Promise.all(notifier.queues().map(async (q) => [q.name, await q.getJobCountByTypes('waiting', 'delayed')]))))} waiting or delayed`);
await notifier.close();
redis.disconnect();
await server.destroy();
process.exit(0);
