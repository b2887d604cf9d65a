/**
 * Parcel lifecycle benchmark, toward "1,000 parcel lifecycles/s on one process". Prints figures; never a test.
 *
 *   npx tsx bench/lifecycle.ts                      # all three modes, 8 s measured each (about a minute in all)
 *   npx tsx bench/lifecycle.ts --mode service --seconds 20 --concurrency 128
 *   npx tsx bench/lifecycle.ts --help
 *
 * A lifecycle: deposit (reserve + open) -> door opened -> door closed occupied (stored, code, outbox notices) ->
 * code typed at the keypad (accepted, open) -> door opened -> door closed empty (collected).
 *
 * Modes
 *   service  ParcelService + real Redis in this process. MQTT is out of the loop: the CommandBus is the real one
 *            (command records and command log entries in Redis) over a stand-in driver that answers every command
 *            'done' at once (--bus fake: no CommandBus at all). Door and keypad events are written with
 *            UnitStore.apply (the driver's atomic dedupe + state + log step) and handed to
 *            ParcelService.onUnitEvent directly, concurrently from many workers (no consumer group).
 *   engine   the same, but events only go to the unit logs and the real ParcelEngine (one consumer group reader,
 *            as in the gateway, with its 1 s sweep) hands them to the service: the gateway's own event path.
 *   stack    (bench/inproc/stack.ts) the real gateway (startGateway: embedded aedes broker, drivers, engine, relay, BullMQ workers, HTTP)
 *            with the three simulated units of devices/units.ts on autopilot (a person puts the parcel in / takes
 *            it out --autopilot-ms after the door opens), deposits over HTTP, codes read from the SMS that a local
 *            HTTP receiver gets and typed at the simulated keypad. End to end, at the scale of three units.
 * Notifications in service and engine modes (--notify): `send` (default) runs the outbox relay and the BullMQ workers
 * as the gateway does, the SMS channel posting to a stub provider in a child process (answers 200 at once) at the
 * highest rate the settings allow (SMS_RATE_PER_S max 1000); `jobs` runs the relay only (jobs pile up in the wait
 * lists; reminders wait in the notifier's later-store, and nothing moves them: no pump without workers);
 * `off` leaves the outbox entries in the stream. Redis is a redis-server of the bench's own
 * (test/support/redis.ts) with appendfsync set by --fsync (default everysec; the tests run with always).
 */
import { systemClock } from '../src/domain/clock.js';
import { EvidenceLog } from '../src/evidence/log.js';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { cpus, totalmem } from 'node:os';
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { CommandBus } from '../src/bus/commands.js';
import type { Driver } from '../src/bus/driver.js';
import { parseConfig } from '../src/config/config.js';
import { codeHash, maskCode } from '../src/domain/codes.js';
import type { CommandOp, CommandRecord, UnitEvent, UnitProfile } from '../src/domain/model.js';
import type { Parcel } from '../src/domain/parcel.js';
import { silentLogger } from '../src/log.js';
import { createLogger } from '../src/runtime/logger.js';
import { Counters } from '../src/metrics.js';
import { Notifier, OutboxRelay } from '../src/notify/index.js';
import { Couriers, Residents } from '../src/parcels/accounts.js';
import { ParcelEngine } from '../src/parcels/engine.js';
import { ParcelService } from '../src/parcels/service.js';
import { parcelPolicy } from '../src/runtime/gateway.js';
import { UnitStore, type LoggedEvent } from '../src/store/units.js';


const { values: opt } = parseArgs({
  options: {
    mode: { type: 'string', default: 'all' },
    seconds: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '2' },
    concurrency: { type: 'string' },
    units: { type: 'string', default: '100' },
    compartments: { type: 'string', default: '40' },
    fsync: { type: 'string', default: 'everysec' },
    notify: { type: 'string', default: 'send' },
    bus: { type: 'string', default: 'real' },
    autopipeline: { type: 'string', default: 'off' },
    'autopilot-ms': { type: 'string', default: '20' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (opt.help) {
  console.log(`npx tsx bench/lifecycle.ts [--mode service|engine|stack|all] [--seconds 8] [--warmup 2]
  [--concurrency N (service/engine 64, stack 24)] [--units 100] [--compartments 40] (synthetic units, service/engine)
  [--fsync always|everysec|no] [--notify send|jobs|off] [--bus real|fake] [--autopipeline off|on] [--autopilot-ms 20] [--json]`);
  process.exit(0);
}
const MODES: Mode[] = opt.mode === 'all' ? ['service', 'engine', 'stack'] : [opt.mode as Mode];
for (const m of MODES) if (!['service', 'engine', 'stack'].includes(m)) throw new Error(`--mode: unknown ${m}`);
const SECONDS = Number(opt.seconds);
const WARMUP = Number(opt.warmup);
const FSYNC = opt.fsync!;
if (!['always', 'everysec', 'no'].includes(FSYNC)) throw new Error('--fsync: always, everysec or no');
const PREFIX = 'lg:';

// ------------------------------------------------------------------------------------------------ measuring

import { countOutboxWith, print, snapshot, Stats, summarize, type Mode, type Report, type Step } from './inproc/report.js';

import { CodeSpyStore, Handled, startRedis, startStubProvider, syntheticUnits } from './inproc/setup.js';
import { runStack } from './inproc/stack.js';

async function runInProcess(mode: 'service' | 'engine'): Promise<Report> {
  const concurrency = Number(opt.concurrency ?? 64);
  const units = syntheticUnits(Number(opt.units), Number(opt.compartments));
  const settings = {
    units: units.length,
    compartments: units.length * Number(opt.compartments),
    concurrency,
    fsync: FSYNC,
    notify: opt.notify,
    autopipeline: opt.autopipeline,
    bus: opt.bus === 'fake' ? 'fake (no CommandBus)' : 'CommandBus over a driver answering done at once (no MQTT)',
  };
  const { server, admin } = await startRedis(FSYNC);
  // As the gateway opens it (--autopipeline on: ioredis batches the commands of one tick into one write).
  const redis = new Redis(server.url, { maxRetriesPerRequest: 3, enableAutoPipelining: opt.autopipeline === 'on' });
  const counters = new Counters();
  // BENCH_LOG=error (or warn, info) shows what the product logs; silent by default.
  const logger = process.env.BENCH_LOG ? createLogger(process.env.BENCH_LOG as 'error') : silentLogger;
  const codeKey = randomBytes(32);
  // one evidence log for both stores, as in the gateway (one cached head per chain)
  const evidenceLog = new EvidenceLog(redis, PREFIX);
  const unitStore = new UnitStore(redis, PREFIX, units, evidenceLog);
  for (const u of units) await unitStore.apply({ unit: u.id, at: Date.now(), source: {}, kind: 'presence', online: true });
  const store = new CodeSpyStore(redis, PREFIX, evidenceLog);
  countOutboxWith(() => store.outboxEntries);
  const couriers = new Couriers(redis, store.k);
  const residents = new Residents(redis, store.k);

  const done = async (): Promise<'done'> => 'done';
  const drivers = new Map<string, Driver>(
    units.map((unit) => [
      unit.id,
      { unit, subscriptions: [], handle: async () => {}, brokerConnected: async () => {}, execute: done, start: () => {}, stop: async () => {} },
    ]),
  );
  const fakeBus = {
    async send(unit: string, op: CommandOp, o: { id?: string } = {}): Promise<CommandRecord> {
      const now = Date.now();
      return { id: o.id ?? `c${now}`, unit, op: op.op, args: op, state: 'done', result: 'done', createdAt: now, finishedAt: now };
    },
  } as unknown as CommandBus;
  const commands =
    opt.bus === 'fake' ? fakeBus : new CommandBus({ redis, prefix: PREFIX, drivers, store: unitStore, logger, counters, timeoutMs: 10_000 });

  const handled = new Handled();
  class BenchService extends ParcelService {
    override async onUnitEvent(logged: LoggedEvent): Promise<void> {
      try {
        await super.onUnitEvent(logged);
      } finally {
        handled.mark(`${logged.event.unit}/${logged.streamId}`);
      }
    }
  }
  const policy = parcelPolicy(parseConfig({ NODE_ENV: 'test' }));
  const service = new BenchService({ parcels: store, unitStore, commands, couriers, residents, codeKey, policy, logger, counters, units });

  const closers: (() => Promise<unknown>)[] = [];
  if (opt.notify !== 'off') {
    const provider = opt.notify === 'send' ? await startStubProvider() : null;
    const notifier = new Notifier({
      connection: () => new Redis(server.url, { maxRetriesPerRequest: null }),
      config: {
        prefix: `${PREFIX}bull`,
        timeZone: 'Asia/Shanghai',
        quietHours: null,
        sms: { url: provider ? `${provider.url}/sms` : 'http://127.0.0.1:9/sms', ratePerSecond: 1000 },
        propertyWebhook: null,
        attempts: 10,
        backoffMs: 2000,
      },
      logger,
      counters,
    });
    if (provider) notifier.startWorkers();
    const relayRedis = redis.duplicate();
    const relay = new OutboxRelay({ redis: relayRedis, keyPrefix: PREFIX, notifier, logger, counters, consumer: 'bench' });
    relay.start();
    closers.push(async () => {
      await relay.stop();
      relayRedis.disconnect();
      await notifier.close();
      provider?.stop();
    });
  }
  if (mode === 'engine') {
    const blocking = redis.duplicate();
    const engine = new ParcelEngine({
      blocking,
      redis,
      prefix: PREFIX,
      units,
      service,
      unitStore,
      logger,
      counters,
      consumer: 'bench',
      sweepMs: 1_000,
      presenceCodes: false,
      clock: systemClock,
    });
    await engine.start();
    closers.unshift(async () => {
      await engine.stop();
      blocking.disconnect();
    });
  }

  const { courier } = await couriers.issue({ name: 'Bench', carrier: 'SF' });
  const stats = new Stats();
  let seq = 0;
  let running = true;

  /** What the driver does (log the event atomically), then what the engine does (hand it to the service). */
  const feed = async (event: UnitEvent): Promise<void> => {
    const res = await unitStore.apply(event);
    if (res.status !== 'ok') throw new Error(`event not logged: ${res.status}`);
    if (mode === 'service') await service.onUnitEvent({ streamId: res.streamId, event });
    else await handled.wait(`${event.unit}/${res.streamId}`);
  };
  const timed = async <T>(step: Step, fn: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    const v = await fn();
    stats.record(step, performance.now() - t);
    return v;
  };

  const lifecycle = async (unit: UnitProfile): Promise<void> => {
    const n = ++seq;
    const t0 = performance.now();
    const phone = `139${String(n % 100_000_000).padStart(8, '0')}`;
    const parcel: Parcel = await timed('deposit', () =>
      service.deposit(courier, { unit: unit.id, size: 'S', trackingNumber: `BENCH-${n}`, carrier: 'SF', phone }),
    );
    const at = () => Date.now();
    const no = parcel.compartment;
    await timed('door opened (depositing)', () => feed({ unit: unit.id, at: at(), source: {}, kind: 'door-opened', compartment: no }));
    await timed('door closed (stored)', () => feed({ unit: unit.id, at: at(), source: {}, kind: 'door-closed', compartment: no, occupied: true }));
    const code = store.codes.get(parcel.id);
    if (!code) throw new Error(`no stored notice (code) for ${parcel.id}: ${(await store.parcel(parcel.id))?.state}`);
    store.codes.delete(parcel.id);
    await timed('code typed (open)', () =>
      feed({ unit: unit.id, at: at(), source: {}, kind: 'code-entered', code: maskCode(code), codeHash: codeHash(codeKey, unit.id, code) }),
    );
    await timed('door opened (collecting)', () => feed({ unit: unit.id, at: at(), source: {}, kind: 'door-opened', compartment: no }));
    await timed('door closed (collected)', () => feed({ unit: unit.id, at: at(), source: {}, kind: 'door-closed', compartment: no, occupied: false }));
    const state = (await store.parcel(parcel.id))?.state;
    if (state !== 'collected') throw new Error(`${parcel.id} ended ${state}, not collected`);
    stats.lifecycleMs.push(performance.now() - t0);
    stats.lifecycles++;
  };

  const workers = Array.from({ length: concurrency }, async (_, w) => {
    for (let i = 0; running; i++) {
      // Spread the workers over the units: a worker's next parcel goes to another unit.
      const unit = units[(w + i * concurrency) % units.length]!;
      try {
        await lifecycle(unit);
      } catch (err) {
        stats.fail(err);
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  });

  const report = await measure(mode, settings, admin, stats, counters, () => {
    running = false;
  });
  await Promise.all(workers);
  if (opt.notify !== 'off') {
    // The load has stopped: how fast does the relay alone work off what it did not keep up with?
    const entriesPerLifecycle = report.notify.outboxEntriesPerLifecycle;
    const t = performance.now();
    const from = await admin.xlen(`${PREFIX}outbox`);
    let left = from;
    while (left > 0 && performance.now() - t < 10_000) {
      await new Promise((r) => setTimeout(r, 100));
      left = await admin.xlen(`${PREFIX}outbox`);
    }
    const s = (performance.now() - t) / 1000;
    if (from > 500) {
      report.notify.drain = { entries: from - left, seconds: s, perS: (from - left) / s, lifecyclesPerS: (from - left) / s / entriesPerLifecycle };
    }
  }
  for (const c of closers) await c();
  redis.disconnect();
  admin.disconnect();
  await server.destroy();
  return report;
}

/** Warm up, then measure SECONDS with snapshots before and after; stop() ends the load. */
async function measure(mode: Mode, settings: Record<string, unknown>, admin: Redis, stats: Stats, counters: Counters, stop: () => void): Promise<Report> {
  await new Promise((r) => setTimeout(r, WARMUP * 1000));
  for (const s of stats.steps.values()) s.length = 0;
  stats.lifecycleMs.length = 0;
  const eld = monitorEventLoopDelay({ resolution: 10 });
  eld.enable();
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 250);
  const a = await snapshot(admin, stats, counters);
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const b = await snapshot(admin, stats, counters);
  clearInterval(sampler);
  eld.disable();
  stop();
  return summarize(mode, settings, stats, a, b, { peakRss, eld: eld.percentile(99) / 1e6, counters });
}

// ------------------------------------------------------------------------------------------------ main

function machine(): Record<string, string> {
  const v = (cmd: string, args: string[]) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8' }).trim();
    } catch {
      return '?';
    }
  };
  return {
    cpus: `${cpus().length} x ${cpus()[0]?.model ?? '?'}`,
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    node: process.version,
    redis: v('redis-server', ['--version']).replace(/^Redis server /, ''),
  };
}

const m = machine();
console.log(`machine: ${m.cpus}, ${m.memory}, node ${m.node}, redis-server ${m.redis}`);
console.log(`each mode: ${WARMUP} s warm-up, ${SECONDS} s measured`);
const reports: Report[] = [];
for (const mode of MODES) {
  const r =
    mode === 'stack'
      ? await runStack({ concurrency: Number(opt.concurrency ?? 24), autopilotMs: Number(opt['autopilot-ms']), fsync: FSYNC, measure })
      : await runInProcess(mode);
  reports.push(r);
  print(r);
}
if (opt.json) console.log(JSON.stringify({ machine: m, reports }, null, 2));
process.exit(0);
